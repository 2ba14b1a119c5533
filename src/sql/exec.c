/* exec.c: the session and the statement layer. Splits text into statements, answers the
 * Spark catalog commands (SHOW TABLES/NAMESPACES/PARTITIONS/TBLPROPERTIES/COLUMNS,
 * DESCRIBE [EXTENDED], USE, SET) from the catalog, and hands everything else to SQLite
 * after a token-level rewrite:
 *   - `default.` is quoted (DEFAULT is a SQLite keyword, and Spark's default namespace),
 *     and so is the function name `isnull(` (ISNULL is a SQLite operator);
 *   - `spark_catalog.` (Spark's session catalog) is dropped, `DATE '...'` and
 *     `TIMESTAMP '...'` literals become their text, `RLIKE` is REGEXP, `<=>` is IS;
 *   - `CAST(x AS t)` becomes cn_cast(x, 't') so Spark's cast rules apply (SQLite would
 *     give STRING or DATE numeric affinity);
 *   - `CREATE OR REPLACE [TEMP] VIEW` becomes DROP VIEW IF EXISTS + CREATE.
 * Before preparing, every `ns.t` that names a catalog table gets its namespace ATTACHed
 * (an in-memory database) and a cn_ice virtual table; a bare name of the current
 * namespace gets one in main. Errors are turned into one line naming the table,
 * namespace or column (with similar names), or the line and column of a syntax error. */
#include "base/str.h"
#include "sql/sql_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"

/* ------------------------------------------------------------------ lexer */

static bool id_start(unsigned char c) { return isalpha(c) || c == '_' || c >= 0x80; }
static bool id_char(unsigned char c) { return isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

int cn_sql__lex(const char *s, size_t n, CnSqlTok **out, size_t *n_out) {
    size_t cap = 64, k = 0;
    CnSqlTok *v = cn_malloc(cap * sizeof *v);
    if (!v) return CN_ENOMEM;
    size_t i = 0;
    while (i < n) {
        size_t st = i;
        CnSqlTokKind kind;
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) {
            while (i < n && isspace((unsigned char)s[i])) i++;
            kind = CN_SQL__TK_WS;
        } else if (c == '-' && i + 1 < n && s[i + 1] == '-') {
            while (i < n && s[i] != '\n') i++;
            kind = CN_SQL__TK_COMMENT;
        } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
            i += 2;
            while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/')) i++;
            i = i + 1 < n ? i + 2 : n;
            kind = CN_SQL__TK_COMMENT;
        } else if (c == '\'' || c == '"' || c == '`' || c == '[') {
            char close = c == '[' ? ']' : (char)c;
            i++;
            while (i < n) {
                if (s[i] == close) {
                    if (close != ']' && i + 1 < n && s[i + 1] == close) { i += 2; continue; }
                    i++;
                    break;
                }
                i++;
            }
            kind = c == '\'' ? CN_SQL__TK_STRING : CN_SQL__TK_QIDENT;
        } else if (id_start(c)) {
            while (i < n && id_char((unsigned char)s[i])) i++;
            kind = CN_SQL__TK_IDENT;
        } else if (isdigit(c) || (c == '.' && i + 1 < n && isdigit((unsigned char)s[i + 1]))) {
            while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '.' ||
                             ((s[i] == '+' || s[i] == '-') && (s[i - 1] == 'e' || s[i - 1] == 'E'))))
                i++;
            kind = CN_SQL__TK_NUMBER;
        } else if (c == ';') {
            i++;
            kind = CN_SQL__TK_SEMI;
        } else {
            i++;
            kind = CN_SQL__TK_PUNCT;
        }
        if (k == cap) {
            cap *= 2;
            CnSqlTok *nv = cn_realloc(v, cap * sizeof *v);
            if (!nv) { cn_free(v); return CN_ENOMEM; }
            v = nv;
        }
        v[k++] = (CnSqlTok){kind, (uint32_t)st, (uint32_t)(i - st)};
    }
    *out = v;
    *n_out = k;
    return 0;
}

bool cn_sql__tok_is(const char *s, const CnSqlTok *t, const char *word) {
    return t && t->k == CN_SQL__TK_IDENT && strlen(word) == t->len && !strncasecmp(s + t->off, word, t->len);
}

const char *cn_sql__tok_text(const char *s, const CnSqlTok *t, char *buf, size_t len) {
    const char *p = s + t->off;
    size_t n = t->len;
    if (t->k == CN_SQL__TK_QIDENT || t->k == CN_SQL__TK_STRING) {
        char close = p[0] == '[' ? ']' : p[0];
        size_t o = 0;
        for (size_t i = 1; i < n && o + 1 < len; i++) {
            if (p[i] == close) {
                if (close != ']' && i + 1 < n && p[i + 1] == close) { buf[o++] = close; i++; continue; }
                break;
            }
            buf[o++] = p[i];
        }
        buf[o] = 0;
        return buf;
    }
    snprintf(buf, len, "%.*s", (int)n, p);
    return buf;
}

static bool is_name_tok(const CnSqlTok *t) { return t && (t->k == CN_SQL__TK_IDENT || t->k == CN_SQL__TK_QIDENT); }
static bool is_punct(const char *s, const CnSqlTok *t, char c) {
    return t && t->k == CN_SQL__TK_PUNCT && s[t->off] == c;
}

bool cn_sql_is_complete(const char *text) {
    CnSqlTok *t = NULL;
    size_t n = 0;
    if (cn_sql__lex(text, strlen(text), &t, &n)) return false;
    bool semi = false;
    for (size_t i = 0; i < n; i++) {
        if (t[i].k == CN_SQL__TK_SEMI) semi = true;
        else if (t[i].k != CN_SQL__TK_WS && t[i].k != CN_SQL__TK_COMMENT) semi = false;
        /* an unterminated quote or comment is never complete */
        if ((t[i].k == CN_SQL__TK_STRING || t[i].k == CN_SQL__TK_QIDENT) &&
            (t[i].len < 2 || text[t[i].off + t[i].len - 1] != (text[t[i].off] == '[' ? ']' : text[t[i].off])))
            semi = false;
    }
    cn_free(t);
    return semi;
}

bool cn_sql_like_match(const char *pattern, const char *name) {
    /* alternatives split on '|', each a glob with '*' (Spark: regex-ish, '*' = .*) */
    const char *alt = pattern;
    while (alt) {
        const char *bar = strchr(alt, '|');
        size_t plen = bar ? (size_t)(bar - alt) : strlen(alt);
        while (plen && isspace((unsigned char)alt[0])) { alt++; plen--; }
        while (plen && isspace((unsigned char)alt[plen - 1])) plen--;
        /* iterative glob with backtracking on the last '*' */
        const char *p = alt, *pe = alt + plen, *t = name, *star = NULL, *mark = NULL;
        bool ok = true;
        while (*t) {
            if (p < pe && *p == '*') { star = p++; mark = t; continue; }
            if (p < pe && (*p == '.' ? true : tolower((unsigned char)*p) == tolower((unsigned char)*t))) {
                /* '.' alone is Spark's regex any-char; '.*' is handled as '*' below */
                if (*p == '.' && p + 1 < pe && p[1] == '*') { star = p + 1; p += 2; mark = t; continue; }
                p++;
                t++;
                continue;
            }
            if (star) { p = star + 1; t = ++mark; continue; }
            ok = false;
            break;
        }
        while (ok && p < pe && (*p == '*' || (*p == '.' && p + 1 < pe && p[1] == '*'))) p += *p == '*' ? 1 : 2;
        if (ok && p == pe) return true;
        alt = bar ? bar + 1 : NULL;
    }
    return false;
}

/* ---------------------------------------------------------------- session */

int cn_sql_open(CnIceCatalog *c, CnSql **out, CnErr *err) {
    *out = NULL;
    CnSql *s = cn_calloc(1, sizeof *s);
    if (!s) return cn_err_set(err, CN_ENOMEM, "out of memory");
    s->cat = c;
    const char *vec = getenv("CN_SQL_VECTORIZED");
    s->no_fast = vec && !strcmp(vec, "0");
    snprintf(s->ns, sizeof s->ns, "default");
    cn_arena_init(&s->list_arena, 0);
    int rc = 0;
    if (sqlite3_open_v2(":memory:", &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        rc = cn_err_set(err, CN_EINTERNAL, "cannot start SQLite: %s", s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto done;
    }
    sqlite3_extended_result_codes(s->db, 0);
    /* Spark's LIKE is case-sensitive */
    sqlite3_exec(s->db, "PRAGMA case_sensitive_like = ON", NULL, NULL, NULL);
    if ((rc = cn_sql__vtab_register(s, err)) < 0) goto done;
    rc = cn_sql__funcs_register(s, err);
done:
    if (rc < 0) {
        cn_sql_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void cn_sql_close(CnSql *s) {
    if (!s) return;
    if (s->db) sqlite3_close_v2(s->db);
    cn_sql__funcs_free(s);
    for (size_t i = 0; i < s->n_attached; i++) cn_free(s->attached[i]);
    cn_free(s->attached);
    for (size_t i = 0; i < s->n_main_vtabs; i++) cn_free(s->main_vtabs[i]);
    cn_free(s->main_vtabs);
    cn_arena_fini(&s->list_arena);
    cn_free(s);
}

void cn_sql_set_vectorized(CnSql *s, bool on) { s->no_fast = !on; }

void cn_sql_set_verbose(CnSql *s, bool verbose, FILE *log) {
    s->verbose = verbose;
    s->log = log;
}

const char *cn_sql_namespace(const CnSql *s) { return s->ns; }

typedef struct ListCtx {
    CnSql *s;
    CnSqlName **v;
    size_t *n;
    size_t cap;
} ListCtx;

static int list_cb(void *ud, const char *ns, const char *name) {
    ListCtx *lc = ud;
    CnSql *s = lc->s;
    if (*lc->n == lc->cap) {
        size_t ncap = lc->cap ? lc->cap * 2 : 64;
        CnSqlName *nv = cn_arena_alloc(&s->list_arena, ncap * sizeof *nv);
        if (!nv) return CN_ENOMEM;
        if (*lc->n) memcpy(nv, *lc->v, *lc->n * sizeof *nv);
        *lc->v = nv;
        lc->cap = ncap;
    }
    CnSqlName *e = &(*lc->v)[*lc->n];
    e->ns = cn_arena_strdup(&s->list_arena, ns);
    e->name = cn_arena_strdup(&s->list_arena, name);
    if (!e->ns || !e->name) return CN_ENOMEM;
    (*lc->n)++;
    return 0;
}

int cn_sql__refresh(CnSql *s, CnErr *err) {
    s->gen++;
    cn_arena_reset(&s->list_arena);
    s->tables = s->views = NULL;
    s->n_tables = s->n_views = 0;
    ListCtx lc = {s, &s->tables, &s->n_tables, 0};
    int rc = cn_ice_catalog_list(s->cat, NULL, list_cb, &lc, err);
    ListCtx lv = {s, &s->views, &s->n_views, 0};
    if (rc == 0) rc = cn_ice_view_list(s->cat, NULL, list_cb, &lv, err);
    if (rc == CN_ENOMEM) cn_err_set(err, CN_ENOMEM, "out of memory listing the catalog");
    return rc;
}

/* Canonical namespace name matching `ns` (exact, else case-insensitive), or NULL.
 * "default" always exists. */
static const char *find_ns(CnSql *s, const char *ns) {
    for (size_t i = 0; i < s->n_tables; i++)
        if (!strcmp(s->tables[i].ns, ns)) return s->tables[i].ns;
    for (size_t i = 0; i < s->n_tables; i++)
        if (!strcasecmp(s->tables[i].ns, ns)) return s->tables[i].ns;
    for (size_t i = 0; i < s->n_views; i++)
        if (!strcasecmp(s->views[i].ns, ns)) return s->views[i].ns;
    return strcasecmp(ns, "default") ? NULL : "default";
}

static const CnSqlName *find_table(CnSql *s, const char *ns, const char *name) {
    for (size_t i = 0; i < s->n_tables; i++)
        if (!strcmp(s->tables[i].ns, ns) && !strcmp(s->tables[i].name, name)) return &s->tables[i];
    for (size_t i = 0; i < s->n_tables; i++)
        if (!strcmp(s->tables[i].ns, ns) && !strcasecmp(s->tables[i].name, name)) return &s->tables[i];
    return NULL;
}

/* "a, b, c" of the distinct namespaces. */
static void ns_list(CnSql *s, CnBuf *b) {
    size_t k = 0;
    for (size_t i = 0; i < s->n_tables; i++) {
        if (i && !strcmp(s->tables[i].ns, s->tables[i - 1].ns)) continue;
        cn_buf_printf(b, "%s%s", k++ ? ", " : "", s->tables[i].ns);
    }
    if (!k) cn_buf_puts(b, "none: the catalog has no tables");
}

static int ns_not_found(CnSql *s, const char *ns, CnErr *err) {
    CnBuf b = CN_BUF_INIT;
    ns_list(s, &b);
    int rc = cn_err_set(err, CN_ENOTFOUND, "namespace '%s' not found (namespaces: %s)", ns, b.data ? b.data : "");
    cn_buf_fini(&b);
    return rc;
}

static int drop_main_vtabs(CnSql *s) {
    for (size_t i = 0; i < s->n_main_vtabs; i++) {
        char *q = sqlite3_mprintf("DROP TABLE IF EXISTS main.\"%w\"", s->main_vtabs[i]);
        if (q) sqlite3_exec(s->db, q, NULL, NULL, NULL);
        sqlite3_free(q);
        cn_free(s->main_vtabs[i]);
    }
    s->n_main_vtabs = 0;
    return 0;
}

int cn_sql_use(CnSql *s, const char *ns, CnErr *err) {
    int rc = cn_sql__refresh(s, err);
    if (rc < 0) return rc;
    const char *canon = find_ns(s, ns);
    if (!canon) return ns_not_found(s, ns, err);
    drop_main_vtabs(s);
    snprintf(s->ns, sizeof s->ns, "%s", canon);
    return 0;
}

/* -------------------------------------------------------------- results */

typedef struct Out {
    const CnSqlSink *sink;
    CnErr *err;
} Out;

static int out_begin(Out *o, uint32_t n, const char *const *names) {
    return o->sink && o->sink->begin ? o->sink->begin(o->sink->ud, n, names) : 0;
}
static int out_row(Out *o, uint32_t n, const char *const *vals, const CnSqlKind *kinds) {
    return o->sink && o->sink->row ? o->sink->row(o->sink->ud, n, vals, kinds) : 0;
}
static int out_end(Out *o) { return o->sink && o->sink->end ? o->sink->end(o->sink->ud) : 0; }

/* A row of text cells (NULL = SQL NULL). */
static int out_text_row(Out *o, uint32_t n, const char *const *vals) {
    CnSqlKind kinds[8];
    for (uint32_t i = 0; i < n && i < 8; i++) kinds[i] = vals[i] ? CN_SQL_TEXT : CN_SQL_NULL;
    return out_row(o, n, vals, kinds);
}

/* ------------------------------------------------------------- commands */

/* Significant tokens of one statement. */
typedef struct Stmt {
    const char *text;     /* the whole input */
    CnSqlTok *t;          /* significant tokens only */
    size_t n;
    uint32_t off, end;    /* statement span in text */
} Stmt;

static bool kw(const Stmt *st, size_t i, const char *word) { return i < st->n && cn_sql__tok_is(st->text, &st->t[i], word); }

/* Parses [a.]b[.c] at *i into ns/name (ns defaults to the current namespace). */
static int parse_table_name(CnSql *s, const Stmt *st, size_t *i, char ns[129], char name[129], CnErr *err) {
    char parts[3][129];
    int np = 0;
    while (*i < st->n && np < 3 && is_name_tok(&st->t[*i])) {
        cn_sql__tok_text(st->text, &st->t[*i], parts[np++], 129);
        (*i)++;
        if (*i < st->n && is_punct(st->text, &st->t[*i], '.')) (*i)++;
        else break;
    }
    if (np == 0) return cn_err_set(err, CN_EINVAL, "expected a table name after '%.*s'", (int)(st->t[*i - 1].len), st->text + st->t[*i - 1].off);
    if (np == 1) {
        snprintf(ns, 129, "%s", s->ns);
        snprintf(name, 129, "%s", parts[0]);
    } else {
        snprintf(ns, 129, "%s", parts[np - 2]);
        snprintf(name, 129, "%s", parts[np - 1]);
    }
    return 0;
}

/* Loads a table named in a command; CN_ENOTFOUND from the table layer names similar
 * tables. */
static int load_named(CnSql *s, const char *ns, const char *name, CnIceTable **t, CnErr *err) {
    const char *cns = find_ns(s, ns);
    if (!cns) return ns_not_found(s, ns, err);
    const CnSqlName *tn = find_table(s, cns, name);
    return cn_ice_table_load(s->cat, cns, tn ? tn->name : name, t, err);
}

static void spark_type(const CnType *t, CnBuf *b) {
    switch (t->id) {
    case CN_COL_BOOL: cn_buf_puts(b, "boolean"); return;
    case CN_COL_INT32: cn_buf_puts(b, "int"); return;
    case CN_COL_INT64: cn_buf_puts(b, "bigint"); return;
    case CN_COL_FLOAT32: cn_buf_puts(b, "float"); return;
    case CN_COL_FLOAT64: cn_buf_puts(b, "double"); return;
    case CN_COL_DATE: cn_buf_puts(b, "date"); return;
    case CN_COL_TIMESTAMP: cn_buf_puts(b, "timestamp"); return;
    case CN_COL_STRING: cn_buf_puts(b, "string"); return;
    case CN_COL_BINARY: cn_buf_puts(b, "binary"); return;
    case CN_COL_LIST:
        cn_buf_puts(b, "array<");
        spark_type(t->children[0].type, b);
        cn_buf_putc(b, '>');
        return;
    case CN_COL_MAP:
        cn_buf_puts(b, "map<");
        spark_type(t->children[0].type, b);
        cn_buf_putc(b, ',');
        spark_type(t->children[1].type, b);
        cn_buf_putc(b, '>');
        return;
    default:
        cn_buf_puts(b, "struct<");
        for (uint32_t i = 0; i < t->n_children; i++) {
            cn_buf_printf(b, "%s%s:", i ? "," : "", t->children[i].name);
            spark_type(t->children[i].type, b);
        }
        cn_buf_putc(b, '>');
    }
}

static int cmd_show_tables(CnSql *s, const Stmt *st, size_t i, Out *o) {
    const char *ns = s->ns;
    char nsbuf[129], pat[512] = "";
    if (kw(st, i, "IN") || kw(st, i, "FROM")) {
        i++;
        if (i >= st->n || !is_name_tok(&st->t[i]))
            return cn_err_set(o->err, CN_EINVAL, "SHOW TABLES IN: expected a namespace name");
        ns = cn_sql__tok_text(st->text, &st->t[i++], nsbuf, sizeof nsbuf);
    }
    if (kw(st, i, "LIKE")) i++;
    if (i < st->n && st->t[i].k == CN_SQL__TK_STRING) cn_sql__tok_text(st->text, &st->t[i++], pat, sizeof pat);
    if (i < st->n)
        return cn_err_set(o->err, CN_EINVAL, "SHOW TABLES: unexpected '%.*s' (expected [IN ns] [LIKE 'pattern'])",
                          (int)st->t[i].len, st->text + st->t[i].off);
    const char *cns = find_ns(s, ns);
    if (!cns) return ns_not_found(s, ns, o->err);
    static const char *const names[] = {"namespace", "tableName", "isTemporary"};
    int rc = out_begin(o, 3, names);
    /* tables and views, each list sorted by name: merged */
    size_t a = 0, b = 0;
    while (!rc && (a < s->n_tables || b < s->n_views)) {
        const CnSqlName *t = a < s->n_tables ? &s->tables[a] : NULL, *v = b < s->n_views ? &s->views[b] : NULL;
        const CnSqlName *e = t && (!v || strcmp(t->name, v->name) <= 0) ? t : v;
        if (e == t) a++;
        else b++;
        if (strcmp(e->ns, cns)) continue;
        if (pat[0] && !cn_sql_like_match(pat, e->name)) continue;
        /* the engine's tile caches (<table>__tiles) are internal: queryable, not listed */
        if (cn_str_ends_with(e->name, "__tiles")) continue;
        const char *row[3] = {e->ns, e->name, "false"};
        rc = out_text_row(o, 3, row);
    }
    return rc ? rc : out_end(o);
}

static int cmd_show_namespaces(CnSql *s, const Stmt *st, size_t i, Out *o) {
    char pat[512] = "";
    if (kw(st, i, "LIKE")) i++;
    if (i < st->n && st->t[i].k == CN_SQL__TK_STRING) cn_sql__tok_text(st->text, &st->t[i++], pat, sizeof pat);
    if (i < st->n)
        return cn_err_set(o->err, CN_EINVAL, "SHOW NAMESPACES: unexpected '%.*s' (expected [LIKE 'pattern'])",
                          (int)st->t[i].len, st->text + st->t[i].off);
    static const char *const names[] = {"namespace"};
    int rc = out_begin(o, 1, names);
    /* the listing is sorted by namespace; "default" always exists (Spark's), in order */
    bool default_done = false;
    const char *last = NULL;
    for (size_t k = 0; k <= s->n_tables && !rc; k++) {
        const char *ns = k < s->n_tables ? s->tables[k].ns : NULL;
        if (ns && last && !strcmp(last, ns)) continue;
        if (!default_done && (!ns || strcmp("default", ns) <= 0)) {
            default_done = true;
            if (!pat[0] || cn_sql_like_match(pat, "default")) {
                const char *row[1] = {"default"};
                rc = out_text_row(o, 1, row);
            }
            if (ns && !strcmp(ns, "default")) {
                last = ns;
                continue;
            }
        }
        if (!ns || rc) break;
        last = ns;
        if (pat[0] && !cn_sql_like_match(pat, ns)) continue;
        const char *row[1] = {ns};
        rc = out_text_row(o, 1, row);
    }
    return rc ? rc : out_end(o);
}

static int cmd_describe(CnSql *s, const Stmt *st, size_t i, Out *o) {
    bool extended = false;
    if (kw(st, i, "TABLE")) i++;
    if (kw(st, i, "EXTENDED") || kw(st, i, "FORMATTED")) {
        extended = true;
        i++;
    }
    char ns[129], name[129];
    int rc = parse_table_name(s, st, &i, ns, name, o->err);
    if (rc < 0) return rc;
    if (i < st->n)
        return cn_err_set(o->err, CN_EUNSUPPORTED, "DESCRIBE: unexpected '%.*s' (columns and queries cannot be described)",
                          (int)st->t[i].len, st->text + st->t[i].off);
    CnIceTable *t = NULL;
    if ((rc = load_named(s, ns, name, &t, o->err)) < 0) return rc;
    static const char *const names[] = {"col_name", "data_type", "comment"};
    CnBuf b = CN_BUF_INIT;
    rc = out_begin(o, 3, names);
    const CnSchema *sc = cn_ice_table_schema(t);
    for (uint32_t k = 0; k < sc->n_fields && !rc; k++) {
        cn_buf_reset(&b);
        spark_type(sc->fields[k].type, &b);
        const char *row[3] = {sc->fields[k].name, b.data ? b.data : "", ""};
        rc = out_text_row(o, 3, row);
    }
    const char *part[][3] = {{"", "", ""}, {"# Partitioning", "", ""}, {"Part 0", CN_ICE_DS, ""}};
    for (size_t k = 0; k < 3 && !rc; k++) rc = out_text_row(o, 3, part[k]);
    if (extended && !rc) {
        char snap[32], nsnap[32];
        int64_t cur = cn_ice_table_current_snapshot(t);
        if (cur < 0) snprintf(snap, sizeof snap, "none");
        else snprintf(snap, sizeof snap, "%lld", (long long)cur);
        snprintf(nsnap, sizeof nsnap, "%u", cn_ice_table_n_snapshots(t));
        cn_buf_reset(&b);
        /* properties we know of; the table API has no property iterator */
        static const char *const keys[] = {"chronon_generated", "chronon_table_type", "format-version",
                                           "write.format.default", "owner"};
        cn_buf_putc(&b, '[');
        size_t np = 0;
        for (size_t k = 0; k < CN_ARRAY_LEN(keys); k++) {
            const char *v = cn_ice_table_property(t, keys[k]);
            if (v) cn_buf_printf(&b, "%s%s=%s", np++ ? "," : "", keys[k], v);
        }
        cn_buf_printf(&b, "%scurrent-snapshot-id=%s,format=iceberg/parquet]", np ? "," : "", snap);
        const char *rows[][3] = {
            {"", "", ""},
            {"# Detailed Table Information", "", ""},
            {"Name", cn_ice_table_name(t), ""},
            {"Table Type", "ICEBERG", ""},
            {"Provider", "iceberg", ""},
            {"Location", cn_ice_table_location(t), ""},
            {"Current Snapshot", snap, ""},
            {"Snapshots", nsnap, ""},
            {"Metadata Location", cn_ice_table_metadata_location(t), ""},
            {"Catalog", cn_ice_catalog_uri(s->cat), ""},
            {"Table Properties", b.data ? b.data : "[]", ""},
        };
        for (size_t k = 0; k < CN_ARRAY_LEN(rows) && !rc; k++) rc = out_text_row(o, 3, rows[k]);
    }
    if (!rc) rc = out_end(o);
    cn_buf_fini(&b);
    cn_ice_table_free(t);
    return rc;
}

static int cmd_show_partitions(CnSql *s, const Stmt *st, size_t i, Out *o) {
    char ns[129], name[129];
    int rc = parse_table_name(s, st, &i, ns, name, o->err);
    if (rc < 0) return rc;
    const char *cns = find_ns(s, ns);
    if (!cns) return ns_not_found(s, ns, o->err);
    const CnSqlName *tn = find_table(s, cns, name);
    char **parts = NULL;
    size_t n = 0;
    if ((rc = cn_sql_table_partitions(s->cat, cns, tn ? tn->name : name, &parts, &n, o->err)) < 0) return rc;
    static const char *const names[] = {"partition"};
    rc = out_begin(o, 1, names);
    for (size_t k = 0; k < n && !rc; k++) {
        char cell[32];
        snprintf(cell, sizeof cell, "ds=%s", parts[k]);
        const char *row[1] = {cell};
        rc = out_text_row(o, 1, row);
    }
    cn_free(parts);
    return rc ? rc : out_end(o);
}

static int cmd_show_tblproperties(CnSql *s, const Stmt *st, size_t i, Out *o) {
    char ns[129], name[129];
    int rc = parse_table_name(s, st, &i, ns, name, o->err);
    if (rc < 0) return rc;
    CnIceTable *t = NULL;
    if ((rc = load_named(s, ns, name, &t, o->err)) < 0) return rc;
    static const char *const names[] = {"key", "value"};
    static const char *const keys[] = {"chronon_generated", "chronon_table_type", "format-version",
                                       "write.format.default", "owner"};
    rc = out_begin(o, 2, names);
    for (size_t k = 0; k < CN_ARRAY_LEN(keys) && !rc; k++) {
        const char *v = cn_ice_table_property(t, keys[k]);
        if (!v) continue;
        const char *row[2] = {keys[k], v};
        rc = out_text_row(o, 2, row);
    }
    char snap[32];
    snprintf(snap, sizeof snap, "%lld", (long long)cn_ice_table_current_snapshot(t));
    const char *row1[2] = {"current-snapshot-id", cn_ice_table_current_snapshot(t) < 0 ? "none" : snap};
    const char *row2[2] = {"format", "iceberg/parquet"};
    if (!rc) rc = out_text_row(o, 2, row1);
    if (!rc) rc = out_text_row(o, 2, row2);
    if (!rc) rc = out_end(o);
    cn_ice_table_free(t);
    return rc;
}

static int cmd_show_columns(CnSql *s, const Stmt *st, size_t i, Out *o) {
    if (kw(st, i, "IN") || kw(st, i, "FROM")) i++;
    char ns[129], name[129];
    int rc = parse_table_name(s, st, &i, ns, name, o->err);
    if (rc < 0) return rc;
    CnIceTable *t = NULL;
    if ((rc = load_named(s, ns, name, &t, o->err)) < 0) return rc;
    static const char *const names[] = {"col_name"};
    rc = out_begin(o, 1, names);
    const CnSchema *sc = cn_ice_table_schema(t);
    for (uint32_t k = 0; k < sc->n_fields && !rc; k++) {
        const char *row[1] = {sc->fields[k].name};
        rc = out_text_row(o, 1, row);
    }
    if (!rc) rc = out_end(o);
    cn_ice_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ passthrough */

/* Maps offsets of the rewritten text back to the original. */
typedef struct OffMap {
    uint32_t *nw, *orig;
    size_t n, cap;
} OffMap;

static int offmap_add(OffMap *m, size_t nw, uint32_t orig) {
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        uint32_t *a = cn_realloc(m->nw, ncap * sizeof *a);
        if (!a) return CN_ENOMEM;
        m->nw = a;
        uint32_t *b = cn_realloc(m->orig, ncap * sizeof *b);
        if (!b) return CN_ENOMEM;
        m->orig = b;
        m->cap = ncap;
    }
    m->nw[m->n] = (uint32_t)nw;
    m->orig[m->n++] = orig;
    return 0;
}

static uint32_t offmap_get(const OffMap *m, size_t nw) {
    uint32_t best = 0, delta = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->nw[i] <= nw) {
            best = m->orig[i];
            delta = (uint32_t)(nw - m->nw[i]);
        }
    return best + delta;
}

/* A table reference found in the statement. */
typedef struct Ref {
    char ns[129], name[129]; /* ns "" for a bare name */
} Ref;

typedef struct Rewrite {
    CnBuf sql;
    OffMap map;
    Ref *refs;
    size_t n_refs, cap_refs;
} Rewrite;

static void rewrite_fini(Rewrite *r) {
    cn_buf_fini(&r->sql);
    cn_free(r->map.nw);
    cn_free(r->map.orig);
    cn_free(r->refs);
}

static int add_ref(Rewrite *r, const char *ns, const char *name) {
    if (r->n_refs == r->cap_refs) {
        size_t ncap = r->cap_refs ? r->cap_refs * 2 : 16;
        Ref *nv = cn_realloc(r->refs, ncap * sizeof *nv);
        if (!nv) return CN_ENOMEM;
        r->refs = nv;
        r->cap_refs = ncap;
    }
    snprintf(r->refs[r->n_refs].ns, 129, "%s", ns);
    snprintf(r->refs[r->n_refs].name, 129, "%s", name);
    r->n_refs++;
    return 0;
}

/* Rewrites tokens all[from..to) (all tokens, whitespace included) into r. */
static int rewrite(const char *text, const CnSqlTok *all, size_t from, size_t to, Rewrite *r) {
    /* open CASTs: paren depth at their '(' and whether we are inside the type */
    size_t cast_depth[64];
    size_t n_cast = 0;
    size_t depth = 0;
    bool in_type = false;
    CnBuf type = CN_BUF_INIT;
    int rc = 0;
    /* indexes of significant tokens for look-around */
    size_t prev_sig = SIZE_MAX, prev2_sig = SIZE_MAX;
    for (size_t i = from; i < to && !rc; i++) {
        const CnSqlTok *t = &all[i];
        bool sig = t->k != CN_SQL__TK_WS && t->k != CN_SQL__TK_COMMENT;
        size_t next = i + 1;
        while (next < to && (all[next].k == CN_SQL__TK_WS || all[next].k == CN_SQL__TK_COMMENT)) next++;
        const CnSqlTok *nt = next < to ? &all[next] : NULL;
        if (sig && (rc = offmap_add(&r->map, r->sql.len, t->off))) break;
        if (in_type) {
            if (is_punct(text, t, '(')) depth++;
            if (is_punct(text, t, ')')) {
                depth--;
                if (depth == cast_depth[n_cast - 1] - 1) {
                    in_type = false;
                    n_cast--;
                    /* trim the collected type text */
                    size_t n = type.len;
                    while (n && isspace((unsigned char)type.data[n - 1])) n--;
                    cn_buf_puts(&r->sql, ", '");
                    for (size_t k = 0; k < n; k++) {
                        if (type.data[k] == '\'') cn_buf_putc(&r->sql, '\'');
                        cn_buf_putc(&r->sql, type.data[k]);
                    }
                    cn_buf_puts(&r->sql, "')");
                    cn_buf_reset(&type);
                    goto next_tok;
                }
            }
            if (type.len || sig) cn_buf_append(&type, text + t->off, t->len);
            goto next_tok;
        }
        if (cn_sql__tok_is(text, t, "CAST") && nt && is_punct(text, nt, '(') && n_cast < 64) {
            cn_buf_puts(&r->sql, "cn_cast");
            cast_depth[n_cast++] = depth + 1;
            goto next_tok;
        }
        if (is_punct(text, t, '(')) depth++;
        if (is_punct(text, t, ')') && depth) depth--;
        if (n_cast && cn_sql__tok_is(text, t, "AS") && depth == cast_depth[n_cast - 1]) {
            in_type = true;
            goto next_tok;
        }
        if ((cn_sql__tok_is(text, t, "DATE") || cn_sql__tok_is(text, t, "TIMESTAMP")) && nt &&
            nt->k == CN_SQL__TK_STRING) {
            goto next_tok; /* Spark's typed literal DATE '2020-01-01': the text is the value here */
        }
        if (cn_sql__tok_is(text, t, "RLIKE")) {
            cn_buf_puts(&r->sql, "REGEXP");
            goto next_tok;
        }
        if (is_punct(text, t, '<') && i + 2 < to && is_punct(text, &all[i + 1], '=') &&
            is_punct(text, &all[i + 2], '>')) {
            cn_buf_puts(&r->sql, " IS "); /* null-safe equality */
            i += 2;
            goto next_tok;
        }
        if (cn_sql__tok_is(text, t, "spark_catalog") && nt && is_punct(text, nt, '.')) {
            i = next; /* Spark's session catalog prefix: drop "spark_catalog." */
            continue;
        }
        if (cn_sql__tok_is(text, t, "default") && nt && is_punct(text, nt, '.')) {
            cn_buf_puts(&r->sql, "\"default\"");
        } else if (cn_sql__tok_is(text, t, "isnull") && nt && is_punct(text, nt, '(')) {
            cn_buf_puts(&r->sql, "\"isnull\""); /* a SQLite keyword (x ISNULL); quoted it is a name */
        } else {
            cn_buf_append(&r->sql, text + t->off, t->len);
        }
        /* table references: ns . name (not part of a longer chain), or a bare name */
        if (sig && is_name_tok(t)) {
            bool after_dot = prev_sig != SIZE_MAX && is_punct(text, &all[prev_sig], '.');
            bool before_dot = nt && is_punct(text, nt, '.');
            char a[129], b[129];
            if (after_dot && !before_dot && prev2_sig != SIZE_MAX && is_name_tok(&all[prev2_sig])) {
                rc = add_ref(r, cn_sql__tok_text(text, &all[prev2_sig], a, sizeof a),
                             cn_sql__tok_text(text, t, b, sizeof b));
            } else if (!after_dot && !before_dot) {
                rc = add_ref(r, "", cn_sql__tok_text(text, t, b, sizeof b));
            }
        }
    next_tok:
        if (sig) {
            prev2_sig = prev_sig;
            prev_sig = i;
        }
    }
    cn_buf_fini(&type);
    if (!rc && r->sql.oom) rc = CN_ENOMEM;
    return rc;
}

static bool is_attached(CnSql *s, const char *ns) {
    for (size_t i = 0; i < s->n_attached; i++)
        if (!strcasecmp(s->attached[i], ns)) return true;
    return false;
}

static bool ref_uses_ns(const Rewrite *r, const char *ns) {
    for (size_t i = 0; i < r->n_refs; i++)
        if (!strcasecmp(r->refs[i].ns, ns)) return true;
    return false;
}

static int attach_ns(CnSql *s, const char *ns, const Rewrite *r, CnErr *err) {
    if (is_attached(s, ns)) return 0;
    int limit = sqlite3_limit(s->db, SQLITE_LIMIT_ATTACHED, -1);
    if ((int)s->n_attached >= limit) {
        /* make room: detach a namespace this statement does not use */
        for (size_t i = 0; i < s->n_attached; i++) {
            if (ref_uses_ns(r, s->attached[i])) continue;
            char *q = sqlite3_mprintf("DETACH DATABASE \"%w\"", s->attached[i]);
            int src = q ? sqlite3_exec(s->db, q, NULL, NULL, NULL) : SQLITE_NOMEM;
            sqlite3_free(q);
            if (src != SQLITE_OK) continue;
            cn_free(s->attached[i]);
            memmove(&s->attached[i], &s->attached[i + 1], (s->n_attached - i - 1) * sizeof *s->attached);
            s->n_attached--;
            break;
        }
        if ((int)s->n_attached >= limit)
            return cn_err_set(err, CN_ELIMIT, "a statement may use at most %d namespaces", limit);
    }
    char **nv = cn_realloc(s->attached, (s->n_attached + 1) * sizeof *nv);
    if (!nv) return cn_err_set(err, CN_ENOMEM, "out of memory");
    s->attached = nv;
    char *q = sqlite3_mprintf("ATTACH DATABASE ':memory:' AS \"%w\"", ns);
    int src = q ? sqlite3_exec(s->db, q, NULL, NULL, NULL) : SQLITE_NOMEM;
    sqlite3_free(q);
    if (src != SQLITE_OK)
        return cn_err_set(err, CN_EUNSUPPORTED, "namespace '%s' cannot be used in SQL: %s", ns, sqlite3_errmsg(s->db));
    s->attached[s->n_attached] = cn_strdup(ns);
    if (!s->attached[s->n_attached]) return cn_err_set(err, CN_ENOMEM, "out of memory");
    s->n_attached++;
    return 0;
}

/* True when schema (main/temp/ns) already has an object called name. */
static bool has_object(CnSql *s, const char *schema, const char *name) {
    char *q = sqlite3_mprintf("SELECT 1 FROM \"%w\".sqlite_master WHERE name = %Q COLLATE NOCASE", schema, name);
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (q && sqlite3_prepare_v2(s->db, q, -1, &st, NULL) == SQLITE_OK) found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    sqlite3_free(q);
    return found;
}

static int create_vtab(CnSql *s, const char *schema, const CnSqlName *tn, CnErr *err) {
    if (has_object(s, schema, tn->name)) return 0;
    char *q = sqlite3_mprintf("CREATE VIRTUAL TABLE \"%w\".\"%w\" USING cn_ice(%s, %s)", schema, tn->name, tn->ns,
                              tn->name);
    char *msg = NULL;
    int src = q ? sqlite3_exec(s->db, q, NULL, NULL, &msg) : SQLITE_NOMEM;
    sqlite3_free(q);
    int rc = 0;
    if (src != SQLITE_OK)
        rc = cn_err_set(err, src == SQLITE_NOMEM ? CN_ENOMEM : CN_EIO, "%s", msg ? msg : "out of memory");
    sqlite3_free(msg);
    return rc;
}

static int ensure_refs(CnSql *s, const Rewrite *r, CnErr *err) {
    for (size_t i = 0; i < r->n_refs; i++) {
        const Ref *ref = &r->refs[i];
        int rc = 0;
        if (ref->ns[0]) {
            const char *cns = find_ns(s, ref->ns);
            const CnSqlName *tn = cns ? find_table(s, cns, ref->name) : NULL;
            if (!tn) continue;
            if ((rc = attach_ns(s, cns, r, err)) < 0) return rc;
            rc = create_vtab(s, cns, tn, err);
        } else {
            const CnSqlName *tn = find_table(s, s->ns, ref->name);
            if (!tn || has_object(s, "temp", tn->name)) continue;
            if (has_object(s, "main", tn->name)) continue;
            if ((rc = create_vtab(s, "main", tn, err)) < 0) return rc;
            char **nv = cn_realloc(s->main_vtabs, (s->n_main_vtabs + 1) * sizeof *nv);
            if (!nv) return cn_err_set(err, CN_ENOMEM, "out of memory");
            s->main_vtabs = nv;
            if (!(s->main_vtabs[s->n_main_vtabs] = cn_strdup(tn->name)))
                return cn_err_set(err, CN_ENOMEM, "out of memory");
            s->n_main_vtabs++;
        }
        if (rc < 0) return rc;
    }
    return 0;
}

/* Line and column (1-based) of offset off in text. */
static void line_col(const char *text, uint32_t off, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (uint32_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') { (*line)++; *col = 1; }
        else (*col)++;
    }
}

/* Turns SQLite's message into our error. */
static int sql_error(CnSql *s, const char *text, const Rewrite *r, int offset, CnErr *err) {
    const char *m = sqlite3_errmsg(s->db);
    char where[64] = "";
    if (offset >= 0) {
        int line, col;
        line_col(text, offmap_get(&r->map, (size_t)offset), &line, &col);
        snprintf(where, sizeof where, " at line %d, column %d", line, col);
    }
    if (!strncmp(m, "no such table: ", 15)) {
        char full[300];
        snprintf(full, sizeof full, "%s", m + 15);
        char *dot = strchr(full, '.');
        const char *ns = s->ns, *name = full;
        if (dot) {
            *dot = 0;
            ns = full;
            name = dot + 1;
        }
        const char *cns = find_ns(s, ns);
        if (!cns) return ns_not_found(s, ns, err);
        CnIceTable *t = NULL;
        int rc = cn_ice_table_load(s->cat, cns, name, &t, err);
        cn_ice_table_free(t);
        if (rc == 0) rc = cn_err_set(err, CN_ENOTFOUND, "table %s.%s not found", cns, name);
        return rc;
    }
    if (!strncmp(m, "no such column: ", 16)) {
        CnBuf b = CN_BUF_INIT;
        for (size_t i = 0; i < r->n_refs; i++) {
            const char *cns = r->refs[i].ns[0] ? find_ns(s, r->refs[i].ns) : s->ns;
            const CnSqlName *tn = cns ? find_table(s, cns, r->refs[i].name) : NULL;
            if (!tn) continue;
            CnIceTable *t = NULL;
            CnErr e2 = CN_ERR_INIT;
            if (cn_ice_table_load(s->cat, tn->ns, tn->name, &t, &e2) < 0) continue;
            const CnSchema *sc = cn_ice_table_schema(t);
            cn_buf_printf(&b, "%s%s.%s has ", b.len ? "; " : "", tn->ns, tn->name);
            for (uint32_t k = 0; k < sc->n_fields; k++) cn_buf_printf(&b, "%s%s", k ? ", " : "", sc->fields[k].name);
            cn_ice_table_free(t);
        }
        int rc = cn_err_set(err, CN_ENOTFOUND, "column %s not found%s%s%s%s", m + 16, where, b.len ? " (" : "",
                            b.len ? b.data : "", b.len ? ")" : "");
        cn_buf_fini(&b);
        return rc;
    }
    if (strstr(m, "syntax error") || !strncmp(m, "unrecognized token", 18) || !strcmp(m, "incomplete input"))
        return cn_err_set(err, CN_EINVAL, "SQL syntax error%s: %s", where, m);
    if (!strncmp(m, "no such function: ", 18))
        return cn_err_set(err, CN_ENOTFOUND, "unknown function %s%s (docs/sql.md lists the functions)", m + 18, where);
    return cn_err_set(err, CN_EINVAL, "%s%s", m, where);
}

/* Catalog view named ns.name (ns NULL: the current namespace), or NULL. */
static const CnSqlName *find_view(CnSql *s, const char *ns, const char *name) {
    const char *cns = ns ? find_ns(s, ns) : s->ns;
    for (size_t i = 0; cns && i < s->n_views; i++)
        if (!strcmp(s->views[i].ns, cns) && !strcasecmp(s->views[i].name, name)) return &s->views[i];
    return NULL;
}

/* Words after a table reference that are not its alias. */
static bool is_after_table_kw(const char *s, const CnSqlTok *t) {
    static const char *const kws[] = {"WHERE", "GROUP", "ORDER", "LIMIT", "JOIN", "LEFT", "RIGHT", "INNER",
                                      "CROSS", "FULL", "NATURAL", "ON", "USING", "UNION", "EXCEPT",
                                      "INTERSECT", "HAVING", "WINDOW", "OUTER", "LATERAL", NULL};
    for (int k = 0; kws[k]; k++)
        if (cn_sql__tok_is(s, t, kws[k])) return true;
    return false;
}

/* Expands the catalog views named after FROM or JOIN (`ns.v` or a bare `v` of the
 * current namespace) into `(<view sql>) AS v` (keeping an alias given), repeatedly for
 * views over views (at most 8 levels). *out NULL when the text names no view. */
static int expand_views(CnSql *s, const char *sql, char **out, CnErr *err) {
    *out = NULL;
    if (!s->n_views) return 0;
    char *cur = NULL;
    int rc = 0;
    for (int depth = 0; depth < 9; depth++) {
        const char *text = cur ? cur : sql;
        CnSqlTok *all = NULL;
        size_t n = 0;
        if (cn_sql__lex(text, strlen(text), &all, &n) < 0) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); break; }
        CnBuf b = CN_BUF_INIT;
        uint32_t copied = 0;
        bool any = false;
        size_t prev = SIZE_MAX;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (all[i].k == CN_SQL__TK_WS || all[i].k == CN_SQL__TK_COMMENT) continue;
            bool after = prev != SIZE_MAX && (cn_sql__tok_is(text, &all[prev], "FROM") || cn_sql__tok_is(text, &all[prev], "JOIN"));
            prev = i;
            if (!after || !is_name_tok(&all[i])) continue;
            /* the significant tokens that follow */
            size_t nx[4];
            int k = 0;
            for (size_t j = i + 1; j < n && k < 4; j++)
                if (all[j].k != CN_SQL__TK_WS && all[j].k != CN_SQL__TK_COMMENT) nx[k++] = j;
            char a[129], nm[129];
            const CnSqlName *v = NULL;
            size_t last = i;
            cn_sql__tok_text(text, &all[i], a, sizeof a);
            if (k >= 2 && is_punct(text, &all[nx[0]], '.') && is_name_tok(&all[nx[1]]) &&
                !(k >= 3 && is_punct(text, &all[nx[2]], '.'))) {
                v = find_view(s, a, cn_sql__tok_text(text, &all[nx[1]], nm, sizeof nm));
                last = nx[1];
            } else if (!(k >= 1 && is_punct(text, &all[nx[0]], '.')) && !has_object(s, "temp", a)) {
                v = find_view(s, NULL, a);
                snprintf(nm, sizeof nm, "%s", a);
            }
            if (!v) continue;
            char *vsql = NULL;
            if ((rc = cn_ice_view_get(s->cat, v->ns, v->name, &vsql, NULL, err)) < 0) break;
            size_t vl = strlen(vsql);
            while (vl && (vsql[vl - 1] == ';' || vsql[vl - 1] == ' ' || vsql[vl - 1] == '\n' || vsql[vl - 1] == '\t'))
                vl--;
            /* after the name: an alias (AS x, or a name that is no keyword) keeps it */
            size_t after_last = SIZE_MAX;
            for (size_t j = last + 1; j < n; j++)
                if (all[j].k != CN_SQL__TK_WS && all[j].k != CN_SQL__TK_COMMENT) { after_last = j; break; }
            bool aliased = after_last != SIZE_MAX && is_name_tok(&all[after_last]) && !is_after_table_kw(text, &all[after_last]);
            cn_buf_append(&b, text + copied, all[i].off - copied);
            cn_buf_puts(&b, "(");
            cn_buf_append(&b, vsql, vl);
            cn_buf_puts(&b, "\n)");
            if (!aliased) {
                cn_buf_puts(&b, " AS \"");
                for (const char *p = v->name; *p; p++) cn_buf_putc(&b, *p);
                cn_buf_puts(&b, "\"");
            }
            cn_free(vsql);
            copied = all[last].off + all[last].len;
            i = last;
            any = true;
        }
        cn_free(all);
        if (rc < 0 || !any) {
            cn_buf_fini(&b);
            break;
        }
        if (depth == 8) {
            cn_buf_fini(&b);
            rc = cn_err_set(err, CN_ELIMIT, "views nested more than 8 deep (or a view that refers to itself)");
            break;
        }
        cn_buf_puts(&b, text + copied);
        if (b.oom) { cn_buf_fini(&b); rc = cn_err_set(err, CN_ENOMEM, "out of memory"); break; }
        cn_free(cur);
        cur = cn_buf_take(&b);
    }
    if (rc < 0) {
        cn_free(cur);
        return rc;
    }
    *out = cur;
    return 0;
}

int cn_sql__prepare(CnSql *s, const char *sql_in, sqlite3_stmt **out, CnErr *err) {
    *out = NULL;
    CnSqlTok *all = NULL;
    size_t n = 0;
    Rewrite r;
    memset(&r, 0, sizeof r);
    char *expanded = NULL;
    const char *sql = sql_in;
    int rc = cn_sql__refresh(s, err);
    if (rc < 0) goto done;
    if ((rc = expand_views(s, sql_in, &expanded, err)) < 0) goto done;
    if (expanded) sql = expanded;
    rc = cn_sql__lex(sql, strlen(sql), &all, &n);
    if (rc < 0) { cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    if ((rc = rewrite(sql, all, 0, n, &r)) < 0) { cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    if ((rc = ensure_refs(s, &r, err)) < 0) goto done;
    if (!r.sql.data) goto done;
    if (sqlite3_prepare_v2(s->db, r.sql.data, (int)r.sql.len, out, NULL) != SQLITE_OK) {
        rc = sql_error(s, sql, &r, sqlite3_error_offset(s->db), err);
        *out = NULL;
    }
done:
    rewrite_fini(&r);
    cn_free(all);
    cn_free(expanded);
    return rc;
}

/* Runs one passthrough statement (text holds just it) and streams its rows. */
static int run_sql(CnSql *s, const char *text, Out *o) {
    sqlite3_stmt *st = NULL;
    Rewrite r;
    memset(&r, 0, sizeof r);
    const char **vals = NULL;
    CnSqlKind *kinds = NULL;
    char(*num)[48] = NULL;
    int rc = cn_sql__prepare(s, text, &st, o->err);
    if (rc < 0 || !st) goto done;
    int nc = sqlite3_column_count(st);
    if (nc > 0) {
        vals = cn_calloc((size_t)nc, sizeof *vals);
        kinds = cn_calloc((size_t)nc, sizeof *kinds);
        num = cn_calloc((size_t)nc, sizeof *num);
        const char **names = cn_calloc((size_t)nc, sizeof *names);
        if (!vals || !kinds || !names || !num) {
            cn_free(names);
            rc = cn_err_set(o->err, CN_ENOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < nc; i++) names[i] = sqlite3_column_name(st, i);
        rc = out_begin(o, (uint32_t)nc, names);
        cn_free(names);
        if (rc) goto done;
    }
    CnErr serr = CN_ERR_INIT;
    s->stmt_err = &serr;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < nc; i++) {
            kinds[i] = CN_SQL_NULL;
            vals[i] = NULL;
        }
        for (int i = 0; i < nc && !rc; i++) {
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL: vals[i] = NULL; kinds[i] = CN_SQL_NULL; break;
            case SQLITE_INTEGER:
                kinds[i] = CN_SQL_INT;
                vals[i] = (const char *)sqlite3_column_text(st, i);
                break;
            case SQLITE_FLOAT:
                kinds[i] = CN_SQL_REAL;
                vals[i] = cn_sql__double_text(s, sqlite3_column_double(st, i), num[i], sizeof num[i]);
                break;
            case SQLITE_BLOB: {
                kinds[i] = CN_SQL_BLOB;
                const unsigned char *p = sqlite3_column_blob(st, i);
                int nb = sqlite3_column_bytes(st, i);
                char *hex = sqlite3_malloc(nb * 2 + 1);
                if (!hex) { rc = cn_err_set(o->err, CN_ENOMEM, "out of memory"); vals[i] = NULL; break; }
                for (int k = 0; k < nb; k++) snprintf(hex + 2 * k, 3, "%02x", p[k]);
                hex[nb * 2] = 0;
                vals[i] = hex; /* freed after the row */
                break;
            }
            default:
                kinds[i] = CN_SQL_TEXT;
                vals[i] = (const char *)sqlite3_column_text(st, i);
            }
        }
        if (!rc) rc = out_row(o, (uint32_t)nc, vals, kinds);
        for (int i = 0; i < nc; i++)
            if (kinds[i] == CN_SQL_BLOB) sqlite3_free((void *)vals[i]);
        if (rc) break;
    }
    s->stmt_err = NULL;
    if (!rc && step != SQLITE_DONE) {
        if (serr.code) rc = cn_err_set(o->err, serr.code, "%s", cn_err_msg(&serr));
        else rc = sql_error(s, text, &r, -1, o->err);
    }
    if (!rc && nc > 0) rc = out_end(o);
done:
    sqlite3_finalize(st);
    rewrite_fini(&r);
    cn_free(vals);
    cn_free(kinds);
    cn_free(num);
    return rc;
}

/* CREATE OR REPLACE [TEMP|TEMPORARY] VIEW name ...: SQLite has no OR REPLACE for views. */
static int run_create_or_replace_view(CnSql *s, const Stmt *st, Out *o) {
    size_t i = 3;
    if (kw(st, i, "TEMP") || kw(st, i, "TEMPORARY")) i++;
    if (kw(st, i, "GLOBAL")) i++;
    if (!kw(st, i, "VIEW"))
        return cn_err_set(o->err, CN_EUNSUPPORTED, "CREATE OR REPLACE: only views can be replaced");
    size_t name_from = i + 1, name_to = name_from;
    while (name_to < st->n && !kw(st, name_to, "AS") && !is_punct(st->text, &st->t[name_to], '(')) name_to++;
    if (name_to == name_from) return cn_err_set(o->err, CN_EINVAL, "CREATE OR REPLACE VIEW: expected a view name");
    uint32_t a = st->t[name_from].off, b = st->t[name_to - 1].off + st->t[name_to - 1].len;
    CnBuf q = CN_BUF_INIT;
    cn_buf_printf(&q, "DROP VIEW IF EXISTS %.*s", (int)(b - a), st->text + a);
    int rc = q.oom ? cn_err_set(o->err, CN_ENOMEM, "out of memory") : run_sql(s, q.data, o);
    cn_buf_reset(&q);
    /* CREATE + everything after OR REPLACE */
    uint32_t rest = st->t[3].off;
    cn_buf_printf(&q, "CREATE %.*s", (int)(st->end - rest), st->text + rest);
    if (!rc) rc = q.oom ? cn_err_set(o->err, CN_ENOMEM, "out of memory") : run_sql(s, q.data, o);
    cn_buf_fini(&q);
    return rc;
}

static int run_stmt(CnSql *s, const Stmt *st, Out *o) {
    int rc = 0;
    /* catalog commands read the listing; SQL refreshes it in cn_sql__prepare */
    if ((kw(st, 0, "SHOW") || kw(st, 0, "DESCRIBE") || kw(st, 0, "DESC")) && (rc = cn_sql__refresh(s, o->err)) < 0)
        return rc;
    if (kw(st, 0, "SHOW")) {
        if (kw(st, 1, "TABLES")) return cmd_show_tables(s, st, 2, o);
        if (kw(st, 1, "NAMESPACES") || kw(st, 1, "DATABASES") || kw(st, 1, "SCHEMAS"))
            return cmd_show_namespaces(s, st, 2, o);
        if (kw(st, 1, "PARTITIONS")) return cmd_show_partitions(s, st, 2, o);
        if (kw(st, 1, "TBLPROPERTIES")) return cmd_show_tblproperties(s, st, 2, o);
        if (kw(st, 1, "COLUMNS")) return cmd_show_columns(s, st, 2, o);
        return cn_err_set(o->err, CN_EUNSUPPORTED,
                          "SHOW %.*s is not supported (SHOW TABLES, NAMESPACES, DATABASES, PARTITIONS, TBLPROPERTIES, COLUMNS are)",
                          st->n > 1 ? (int)st->t[1].len : 0, st->n > 1 ? st->text + st->t[1].off : "");
    }
    if (kw(st, 0, "DESCRIBE") || kw(st, 0, "DESC")) return cmd_describe(s, st, 1, o);
    if (kw(st, 0, "USE")) {
        size_t i = 1;
        if (kw(st, i, "NAMESPACE") || kw(st, i, "DATABASE") || kw(st, i, "SCHEMA")) i++;
        if (i + 1 != st->n || !is_name_tok(&st->t[i])) return cn_err_set(o->err, CN_EINVAL, "USE: expected one namespace name");
        char ns[129];
        return cn_sql_use(s, cn_sql__tok_text(st->text, &st->t[i], ns, sizeof ns), o->err);
    }
    if (kw(st, 0, "DROP") && kw(st, 1, "TABLE")) {
        /* SQLite would drop the session's virtual table over it and report success while
         * the warehouse table stays: refuse, as INSERT and DELETE are refused */
        size_t i = kw(st, 2, "IF") && kw(st, 3, "EXISTS") ? 4 : 2;
        char ns[129], name[129];
        if ((rc = cn_sql__refresh(s, o->err)) < 0) return rc;
        const char *cns = parse_table_name(s, st, &i, ns, name, o->err) == 0 ? find_ns(s, ns) : NULL;
        cn_err_clear(o->err);
        const CnSqlName *tn = cns ? find_table(s, cns, name) : NULL;
        if (tn)
            return cn_err_set(o->err, CN_EUNSUPPORTED,
                              "DROP TABLE %s.%s: warehouse tables are read-only in chronon sql (the table is unchanged)",
                              tn->ns, tn->name);
    }
    if (kw(st, 0, "SET") || kw(st, 0, "RESET")) return 0; /* Spark session settings: nothing to set */
    if ((kw(st, 0, "ADD") && (kw(st, 1, "JAR") || kw(st, 1, "FILE"))) ||
        (kw(st, 0, "CREATE") && (kw(st, 1, "FUNCTION") || kw(st, 2, "FUNCTION") || kw(st, 3, "FUNCTION"))))
        return cn_err_set(o->err, CN_EUNSUPPORTED, "%.*s: JVM jars and UDFs cannot run here (docs/sql.md lists the built-in functions)",
                          (int)(st->end - st->off > 60 ? 60 : st->end - st->off), st->text + st->off);
    if (kw(st, 0, "CREATE") && kw(st, 1, "OR") && kw(st, 2, "REPLACE")) return run_create_or_replace_view(s, st, o);
    char *one = cn_strndup(st->text + st->off, st->end - st->off);
    if (!one) return cn_err_set(o->err, CN_ENOMEM, "out of memory");
    CnErr e2 = CN_ERR_INIT;
    Out o2 = {o->sink, &e2};
    bool fast = false;
    rc = cn_sql__fast_run(s, one, o->sink, &fast, &e2);
    if (!fast) rc = run_sql(s, one, &o2);
    if (rc < 0) {
        /* positions are relative to the statement: shift to the whole text */
        const char *m = cn_err_msg(&e2);
        const char *at = strstr(m, " at line ");
        int line, col;
        if (at && sscanf(at, " at line %d, column %d", &line, &col) == 2) {
            int l0, c0;
            line_col(st->text, st->off, &l0, &c0);
            int nl = l0 + line - 1, nc = line == 1 ? c0 + col - 1 : col;
            const char *after = strstr(at, "column ");
            while (after && *after && *after != ',' && !(*after >= '0' && *after <= '9')) after++;
            while (after && *after >= '0' && *after <= '9') after++;
            cn_err_set(o->err, rc, "%.*s at line %d, column %d%s", (int)(at - m), m, nl, nc, after ? after : "");
        } else {
            cn_err_set(o->err, rc, "%s", m);
        }
    }
    cn_free(one);
    return rc;
}

int cn_sql_exec(CnSql *s, const char *text, const CnSqlSink *sink, CnErr *err) {
    CnSqlTok *all = NULL, *sig = NULL;
    size_t n = 0;
    int rc = cn_sql__lex(text, strlen(text), &all, &n);
    if (rc < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    sig = cn_malloc((n + 1) * sizeof *sig);
    if (!sig) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    Out o = {sink, err};
    size_t i = 0;
    while (i < n && !rc) {
        Stmt st = {text, sig, 0, 0, 0};
        size_t j = i;
        for (; j < n && all[j].k != CN_SQL__TK_SEMI; j++)
            if (all[j].k != CN_SQL__TK_WS && all[j].k != CN_SQL__TK_COMMENT) sig[st.n++] = all[j];
        if (st.n) {
            st.off = sig[0].off;
            st.end = sig[st.n - 1].off + sig[st.n - 1].len;
            rc = run_stmt(s, &st, &o);
        }
        i = j + 1;
    }
done:
    cn_free(all);
    cn_free(sig);
    return rc;
}
