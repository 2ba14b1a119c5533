/* fast.c: the vectorised path for plain aggregates over one table.
 * SQLite's VM pays a virtual-table call per row and a value conversion per cell, which
 * is most of the cost of `SELECT ds, count(*), sum(x) FROM t GROUP BY ds` over millions
 * of rows. A statement of exactly this shape is computed here on the scan's column
 * batches instead:
 *   SELECT item, ... FROM [ns.]table [[AS] alias]
 *     [WHERE dscond AND ...] [GROUP BY col, ...] [ORDER BY col [ASC|DESC], ...] [LIMIT n]
 *   item   := col [[AS] name] | agg([col|*]) [[AS] name]   (every bare col is grouped)
 *   agg    := count | sum | total | avg | min | max        (no DISTINCT)
 *   dscond := ds op 'text' | 'text' op ds | ds BETWEEN 'a' AND 'b' | ds IN ('a', ...)
 * Anything else (joins, expressions, HAVING, views, a name SQLite resolves elsewhere,
 * an ORDER BY that leaves ties, an integer sum that overflows, a file without a ds
 * partition value) returns "not handled" and the statement runs through SQLite.
 * The statement is still prepared by SQLite first: it checks the text, and its column
 * names are the ones printed, so both paths name columns alike.
 * SAME RESULTS AS SQLITE 3.40 (tests/sql compares both paths on the same queries):
 *   - sum/avg/total add in row order as doubles (sum of integers in int64, exact);
 *     sum and avg of no non-null value are NULL, total is 0.0; count counts non-null;
 *   - a float NaN is NULL in SQLite (sqlite3_result_double), so it is here;
 *   - min/max keep the first of equal values; text compares bytewise;
 *   - groups come out sorted by the GROUP BY columns (NULL < integers < text), as
 *     SQLite's sorter leaves them, or by an ORDER BY that covers every group column.
 * ds filters and ds group keys use the file's partition value: a batch never spans
 * files and every row of a file has its partition's ds, so ds is never decoded. */
#include "sql/sql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/hash.h"

#define MAX_ITEMS 64
#define MAX_GROUP 16
#define MAX_CONDS 32
#define MAX_IN 64

typedef enum AgOp { AG_NONE = 0, AG_COUNT, AG_SUM, AG_TOTAL, AG_AVG, AG_MIN, AG_MAX } AgOp;

typedef struct ColRef {
    char q[129], name[129]; /* qualifier ("" none) and column, unquoted */
} ColRef;

typedef struct Item {
    AgOp op;
    bool star;      /* count(*) */
    ColRef ref;     /* the column (op NONE: the grouped column) */
    int col;        /* table column index, -1 for * */
    int i_agg;      /* index among aggregates, or the group position (op NONE) */
} Item;

typedef enum CondOp { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE, C_IN } CondOp;

typedef struct Cond {
    CondOp op;
    char v[MAX_IN][64]; /* literals (C_IN: n_v of them) */
    uint32_t n_v;
} Cond;

typedef struct Plan {
    Item items[MAX_ITEMS];
    uint32_t n_items, n_aggs;
    ColRef from_q, from;  /* table as written: [q.]name */
    char alias[129];
    ColRef group[MAX_GROUP];
    int group_col[MAX_GROUP];
    uint32_t n_group;
    ColRef order[MAX_GROUP];
    int order_pos[MAX_GROUP]; /* resolved: position in group[] */
    int order_item[MAX_GROUP];/* ORDER BY n: item n-1, else -1 */
    bool order_desc[MAX_GROUP];
    uint32_t n_order;
    Cond conds[MAX_CONDS];
    uint32_t n_conds;
    int64_t limit;            /* -1: none */
} Plan;

/* ---------------------------------------------------------------- parsing */

typedef struct P {
    const char *s;
    const CnSqlTok *t;
    size_t n, i;
} P;

static bool at_kw(const P *p, const char *w) { return p->i < p->n && cn_sql__tok_is(p->s, &p->t[p->i], w); }
static bool at_punct(const P *p, char c) {
    return p->i < p->n && p->t[p->i].k == CN_SQL__TK_PUNCT && p->s[p->t[p->i].off] == c;
}
static bool at_name(const P *p) {
    return p->i < p->n && (p->t[p->i].k == CN_SQL__TK_IDENT || p->t[p->i].k == CN_SQL__TK_QIDENT);
}

/* Words that end an item or a clause, so they are never taken as an alias. */
static bool is_clause_kw(const P *p) {
    static const char *const kws[] = {"FROM", "WHERE", "GROUP", "ORDER", "LIMIT", "HAVING", "JOIN", "LEFT", "INNER",
                                      "CROSS", "ON", "USING", "UNION", "EXCEPT", "INTERSECT", "WINDOW", "NATURAL",
                                      "OFFSET", "AS", "AND", "OR", "NOT", "IS", "IN", "BETWEEN", "LIKE", "FILTER",
                                      "OVER", "RIGHT", "FULL", "OUTER", NULL};
    for (int k = 0; kws[k]; k++)
        if (at_kw(p, kws[k])) return true;
    return false;
}

static bool parse_name(P *p, char out[129]) {
    if (!at_name(p) || p->t[p->i].len > 128) return false;
    cn_sql__tok_text(p->s, &p->t[p->i], out, 129);
    p->i++;
    return true;
}

/* [q.]name */
static bool parse_colref(P *p, ColRef *r) {
    r->q[0] = 0;
    if (!parse_name(p, r->name)) return false;
    if (at_punct(p, '.')) {
        p->i++;
        memcpy(r->q, r->name, sizeof r->q);
        if (!parse_name(p, r->name)) return false;
        if (at_punct(p, '.')) return false; /* three parts */
    }
    return true;
}

/* Optional [AS] alias after an item or the table. */
static bool parse_alias(P *p, char out[129]) {
    out[0] = 0;
    if (at_kw(p, "AS")) {
        p->i++;
        return parse_name(p, out);
    }
    if (at_name(p) && !is_clause_kw(p)) return parse_name(p, out);
    return true;
}

static bool parse_item(P *p, Item *it) {
    memset(it, 0, sizeof *it);
    it->col = -1;
    static const struct { const char *w; AgOp op; } ags[] = {{"count", AG_COUNT}, {"sum", AG_SUM},
                                                            {"total", AG_TOTAL}, {"avg", AG_AVG},
                                                            {"min", AG_MIN},     {"max", AG_MAX}};
    for (size_t k = 0; k < sizeof ags / sizeof ags[0]; k++) {
        if (!at_kw(p, ags[k].w) || p->i + 1 >= p->n || p->t[p->i + 1].k != CN_SQL__TK_PUNCT ||
            p->s[p->t[p->i + 1].off] != '(')
            continue;
        p->i += 2;
        it->op = ags[k].op;
        if (at_punct(p, '*') && it->op == AG_COUNT) {
            p->i++;
            it->star = true;
        } else if (!parse_colref(p, &it->ref)) {
            return false;
        }
        if (!at_punct(p, ')')) return false;
        p->i++;
        return true;
    }
    return parse_colref(p, &it->ref);
}

static bool parse_string(P *p, char out[64]) {
    if (p->i >= p->n || p->t[p->i].k != CN_SQL__TK_STRING || p->t[p->i].len > 60) return false;
    cn_sql__tok_text(p->s, &p->t[p->i], out, 64);
    p->i++;
    return true;
}

/* One condition on ds; the column is checked later (it must resolve to ds). */
static bool parse_cond(P *p, Cond *c, ColRef *col) {
    memset(c, 0, sizeof *c);
    bool lit_first = p->i < p->n && p->t[p->i].k == CN_SQL__TK_STRING;
    if (lit_first && !parse_string(p, c->v[0])) return false;
    if (!lit_first && !parse_colref(p, col)) return false;
    if (!lit_first && at_kw(p, "BETWEEN")) {
        p->i++;
        /* ds BETWEEN a AND b is ds >= a AND ds <= b: two conditions, built by the caller */
        if (!parse_string(p, c->v[0]) || !at_kw(p, "AND")) return false;
        p->i++;
        if (!parse_string(p, c->v[1])) return false;
        c->op = C_GE;
        c->n_v = 2; /* marker: BETWEEN */
        return true;
    }
    if (!lit_first && at_kw(p, "IN")) {
        p->i++;
        if (!at_punct(p, '(')) return false;
        p->i++;
        c->op = C_IN;
        for (;;) {
            if (c->n_v == MAX_IN || !parse_string(p, c->v[c->n_v])) return false;
            c->n_v++;
            if (at_punct(p, ')')) break;
            if (!at_punct(p, ',')) return false;
            p->i++;
        }
        p->i++;
        return true;
    }
    /* comparison operator: = == != <> < <= > >= (single-character tokens) */
    char a = at_punct(p, '=') ? '=' : at_punct(p, '<') ? '<' : at_punct(p, '>') ? '>' : at_punct(p, '!') ? '!' : 0;
    if (!a) return false;
    p->i++;
    char b = 0;
    if (at_punct(p, '=') || (a == '<' && at_punct(p, '>'))) {
        b = p->s[p->t[p->i].off];
        p->i++;
    }
    if (a == '!' && b != '=') return false;
    if (a == '=') c->op = C_EQ;
    else if (a == '!' || (a == '<' && b == '>')) c->op = C_NE;
    else if (a == '<') c->op = b ? C_LE : C_LT;
    else c->op = b ? C_GE : C_GT;
    if (lit_first) {
        if (!parse_colref(p, col)) return false;
        /* 'x' < ds is ds > 'x' */
        static const CondOp flip[] = {[C_EQ] = C_EQ, [C_NE] = C_NE, [C_LT] = C_GT,
                                      [C_LE] = C_GE, [C_GT] = C_LT, [C_GE] = C_LE};
        c->op = flip[c->op];
    } else if (!parse_string(p, c->v[0])) {
        return false;
    }
    c->n_v = 1;
    return true;
}

static bool parse_plan(P *p, Plan *pl, ColRef *cond_cols) {
    memset(pl, 0, sizeof *pl);
    pl->limit = -1;
    if (!at_kw(p, "SELECT")) return false;
    p->i++;
    for (;;) {
        if (pl->n_items == MAX_ITEMS) return false;
        Item *it = &pl->items[pl->n_items++];
        char alias[129];
        if (!parse_item(p, it) || !parse_alias(p, alias)) return false;
        if (!at_punct(p, ',')) break;
        p->i++;
    }
    if (!at_kw(p, "FROM")) return false;
    p->i++;
    if (!parse_colref(p, &pl->from) || !parse_alias(p, pl->alias)) return false;
    if (at_kw(p, "WHERE")) {
        p->i++;
        for (;;) {
            if (pl->n_conds + 2 > MAX_CONDS) return false;
            Cond *c = &pl->conds[pl->n_conds];
            ColRef *cc = &cond_cols[pl->n_conds];
            if (!parse_cond(p, c, cc)) return false;
            pl->n_conds++;
            if (c->op == C_GE && c->n_v == 2) { /* BETWEEN: split into >= and <= */
                Cond *d = &pl->conds[pl->n_conds];
                memset(d, 0, sizeof *d);
                d->op = C_LE;
                memcpy(d->v[0], c->v[1], sizeof d->v[0]);
                d->n_v = 1;
                c->n_v = 1;
                cond_cols[pl->n_conds] = *cc;
                pl->n_conds++;
            }
            if (!at_kw(p, "AND")) break;
            p->i++;
        }
    }
    if (at_kw(p, "GROUP")) {
        p->i++;
        if (!at_kw(p, "BY")) return false;
        p->i++;
        for (;;) {
            if (pl->n_group == MAX_GROUP || !parse_colref(p, &pl->group[pl->n_group])) return false;
            pl->n_group++;
            if (!at_punct(p, ',')) break;
            p->i++;
        }
    }
    if (at_kw(p, "ORDER")) {
        p->i++;
        if (!at_kw(p, "BY")) return false;
        p->i++;
        for (;;) {
            if (pl->n_order == MAX_GROUP) return false;
            uint32_t k = pl->n_order++;
            pl->order_item[k] = -1;
            if (p->i < p->n && p->t[p->i].k == CN_SQL__TK_NUMBER) {
                char num[32];
                cn_sql__tok_text(p->s, &p->t[p->i], num, sizeof num);
                char *end;
                long v = strtol(num, &end, 10);
                if (*end || v < 1 || v > (long)pl->n_items) return false;
                pl->order_item[k] = (int)v - 1;
                p->i++;
            } else if (!parse_colref(p, &pl->order[k])) {
                return false;
            }
            if (at_kw(p, "ASC")) p->i++;
            else if (at_kw(p, "DESC")) {
                pl->order_desc[k] = true;
                p->i++;
            }
            if (at_kw(p, "NULLS") || at_kw(p, "COLLATE")) return false;
            if (!at_punct(p, ',')) break;
            p->i++;
        }
    }
    if (at_kw(p, "LIMIT")) {
        p->i++;
        if (p->i >= p->n || p->t[p->i].k != CN_SQL__TK_NUMBER) return false;
        char num[32];
        cn_sql__tok_text(p->s, &p->t[p->i], num, sizeof num);
        char *end;
        long long v = strtoll(num, &end, 10);
        if (*end || v < 0) return false;
        pl->limit = v;
        p->i++;
    }
    return p->i == p->n;
}

/* ------------------------------------------------------------- resolving */

/* Index of the column ref in the schema, -1 when it is not a plain column of the table
 * (unknown name, or a qualifier that is neither the alias nor the table). */
static int resolve(const Plan *pl, const CnSchema *sc, const ColRef *r) {
    if (r->q[0]) {
        bool ok = pl->alias[0] ? !strcasecmp(r->q, pl->alias) : !strcasecmp(r->q, pl->from.name);
        if (!ok) return -1;
    }
    for (uint32_t i = 0; i < sc->n_fields; i++)
        if (!strcasecmp(sc->fields[i].name, r->name)) return (int)i;
    return -1;
}

static bool is_int_type(CnTypeId t) { return t == CN_COL_BOOL || t == CN_COL_INT32 || t == CN_COL_INT64; }
static bool is_real_type(CnTypeId t) { return t == CN_COL_FLOAT32 || t == CN_COL_FLOAT64; }

/* The catalog table behind the name SQLite resolves, when it is one of our virtual
 * tables: schema temp, then main, for a bare name (an attached namespace is not
 * searched: those fall back); the named schema otherwise. */
static bool vtab_target(CnSql *s, const Plan *pl, char ns[129], char name[129]) {
    const char *schemas[2];
    int n_schemas = 0;
    if (pl->from.q[0]) {
        schemas[n_schemas++] = pl->from.q;
    } else {
        schemas[n_schemas++] = "temp";
        schemas[n_schemas++] = "main";
    }
    for (int k = 0; k < n_schemas; k++) {
        char *q = sqlite3_mprintf("SELECT sql FROM \"%w\".sqlite_master WHERE name = %Q COLLATE NOCASE", schemas[k],
                                  pl->from.name);
        sqlite3_stmt *st = NULL;
        bool found = false, ok = false;
        if (q && sqlite3_prepare_v2(s->db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
            found = true;
            const char *sql = (const char *)sqlite3_column_text(st, 0);
            const char *u = sql ? strstr(sql, " USING cn_ice(") : NULL;
            /* arguments as create_vtab writes them: (ns, name), both plain names */
            ok = u && sscanf(u, " USING cn_ice(%128[A-Za-z0-9_-], %128[A-Za-z0-9_-])", ns, name) == 2;
        }
        sqlite3_finalize(st);
        sqlite3_free(q);
        if (found) return ok;
    }
    return false;
}

/* ------------------------------------------------------------ aggregation */

typedef struct AgSt {
    int64_t cnt, isum, mi;
    double rsum, md;
    const char *ms;
    uint32_t ml;
    bool ovf, has;
} AgSt;

/* Groups: serialised keys (per column: tag 0 null, 1 int64, 2 text with a 4-byte
 * length) in one buffer, found through an open-addressing table. */
typedef struct Groups {
    CnBuf keys;
    uint32_t *key_off, *key_len;
    uint32_t n, cap;          /* groups, and capacity of the arrays */
    uint32_t *slots;          /* hash slots: group + 1, 0 empty */
    uint32_t n_slots;
    AgSt *st;                 /* n_aggs per group */
    uint32_t n_aggs;
} Groups;

static void groups_fini(Groups *g) {
    cn_buf_fini(&g->keys);
    cn_free(g->key_off);
    cn_free(g->key_len);
    cn_free(g->slots);
    cn_free(g->st);
}

static int groups_rehash(Groups *g) {
    uint32_t ns = g->n_slots ? g->n_slots * 2 : 64;
    uint32_t *sl = cn_calloc(ns, sizeof *sl);
    if (!sl) return CN_ENOMEM;
    for (uint32_t k = 0; k < g->n; k++) {
        uint32_t h = (uint32_t)cn_hash_bytes(g->keys.data + g->key_off[k], g->key_len[k], 0) & (ns - 1);
        while (sl[h]) h = (h + 1) & (ns - 1);
        sl[h] = k + 1;
    }
    cn_free(g->slots);
    g->slots = sl;
    g->n_slots = ns;
    return 0;
}

/* Group of key[0..len), created when new. */
static int group_of(Groups *g, const char *key, uint32_t len, uint32_t *out) {
    if (g->n * 2 >= g->n_slots && groups_rehash(g) < 0) return CN_ENOMEM;
    uint32_t h = (uint32_t)cn_hash_bytes(key, len, 0) & (g->n_slots - 1);
    for (; g->slots[h]; h = (h + 1) & (g->n_slots - 1)) {
        uint32_t k = g->slots[h] - 1;
        if (g->key_len[k] == len && !memcmp(g->keys.data + g->key_off[k], key, len)) {
            *out = k;
            return 0;
        }
    }
    if (g->n == g->cap) {
        uint32_t nc = g->cap ? g->cap * 2 : 64;
        uint32_t *o = cn_realloc(g->key_off, nc * sizeof *o);
        if (!o) return CN_ENOMEM;
        g->key_off = o;
        uint32_t *l = cn_realloc(g->key_len, nc * sizeof *l);
        if (!l) return CN_ENOMEM;
        g->key_len = l;
        AgSt *st = cn_realloc(g->st, (size_t)nc * (g->n_aggs ? g->n_aggs : 1) * sizeof *st);
        if (!st) return CN_ENOMEM;
        g->st = st;
        g->cap = nc;
    }
    if (g->keys.len > UINT32_MAX - len) return CN_ELIMIT;
    g->key_off[g->n] = (uint32_t)g->keys.len;
    g->key_len[g->n] = len;
    cn_buf_append(&g->keys, key, len);
    if (g->keys.oom) return CN_ENOMEM;
    memset(&g->st[(size_t)g->n * g->n_aggs], 0, g->n_aggs * sizeof *g->st);
    g->slots[h] = g->n + 1;
    *out = g->n++;
    return 0;
}

/* Appends the key part of entry r of v (types of is_int_type, or string). */
static void key_put(CnBuf *b, const CnVec *v, uint32_t r) {
    if (!cn_col_vec_is_valid(v, r)) {
        cn_buf_putc(b, 0);
        return;
    }
    int64_t x;
    switch (v->type->id) {
    case CN_COL_BOOL: x = ((const uint8_t *)v->values)[r]; break;
    case CN_COL_INT32: x = ((const int32_t *)v->values)[r]; break;
    case CN_COL_INT64: x = ((const int64_t *)v->values)[r]; break;
    default: {
        uint32_t n;
        const char *p = cn_col_vec_str(v, r, &n);
        cn_buf_putc(b, 2);
        cn_buf_append(b, &n, 4);
        cn_buf_append(b, p, n);
        return;
    }
    }
    cn_buf_putc(b, 1);
    cn_buf_append(b, &x, 8);
}

static void key_put_text(CnBuf *b, const char *p, uint32_t n) {
    cn_buf_putc(b, 2);
    cn_buf_append(b, &n, 4);
    cn_buf_append(b, p, n);
}

/* Part `part` of a serialised key: tag, and the int or the text. */
static int key_part(const char *k, uint32_t part, int64_t *i, const char **p, uint32_t *n) {
    for (;;) {
        int tag = k[0];
        uint32_t len = 0;
        if (tag == 2) memcpy(&len, k + 1, 4);
        if (part == 0) {
            if (tag == 1) memcpy(i, k + 1, 8);
            if (tag == 2) {
                *p = k + 5;
                *n = len;
            }
            return tag;
        }
        k += tag == 0 ? 1 : tag == 1 ? 9 : 5 + len;
        part--;
    }
}

/* SQLite's order of two values of one column: NULL < integers < text (bytewise). */
static int part_cmp(const char *a, const char *b, uint32_t part) {
    int64_t ia = 0, ib = 0;
    const char *pa = NULL, *pb = NULL;
    uint32_t na = 0, nb = 0;
    int ta = key_part(a, part, &ia, &pa, &na), tb = key_part(b, part, &ib, &pb, &nb);
    if (ta != tb) return ta < tb ? -1 : 1;
    if (ta == 1) return ia < ib ? -1 : ia > ib;
    if (ta == 2) return cn_bytes_cmp(pa, na, pb, nb);
    return 0;
}

typedef struct SortCtx {
    const Groups *g;
    const int *pos;
    const bool *desc;
    uint32_t n;
} SortCtx;

static SortCtx *g_sort; /* qsort has no user pointer; sorting is not reentrant here */

static int group_cmp(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    const SortCtx *c = g_sort;
    for (uint32_t k = 0; k < c->n; k++) {
        int r = part_cmp(c->g->keys.data + c->g->key_off[a], c->g->keys.data + c->g->key_off[b], (uint32_t)c->pos[k]);
        if (r) return c->desc[k] ? -r : r;
    }
    return 0;
}

/* Folds rows [0, n) of column v into the states of groups gid (stride n_aggs). */
static void fold(AgOp op, const CnVec *v, uint32_t n, const uint32_t *gid, AgSt *st, uint32_t n_aggs, CnArena *a,
                 bool *overflow) {
    CnTypeId t = v->type->id;
    for (uint32_t r = 0; r < n; r++) {
        AgSt *s = &st[(size_t)gid[r] * n_aggs];
        if (!cn_col_vec_is_valid(v, r)) continue;
        if (is_real_type(t)) {
            double x = t == CN_COL_FLOAT64 ? ((const double *)v->values)[r] : ((const float *)v->values)[r];
            if (isnan(x)) continue; /* NULL in SQLite */
            s->cnt++;
            if (op == AG_MIN || op == AG_MAX) {
                if (!s->has || (op == AG_MIN ? x < s->md : x > s->md)) s->md = x;
                s->has = true;
            } else {
                s->rsum += x;
            }
        } else if (is_int_type(t)) {
            int64_t x = t == CN_COL_INT64   ? ((const int64_t *)v->values)[r]
                        : t == CN_COL_INT32 ? ((const int32_t *)v->values)[r]
                                            : ((const uint8_t *)v->values)[r];
            s->cnt++;
            if (op == AG_MIN || op == AG_MAX) {
                if (!s->has || (op == AG_MIN ? x < s->mi : x > s->mi)) s->mi = x;
                s->has = true;
            } else if (op != AG_COUNT) {
                s->rsum += (double)x;
                if (!s->ovf && __builtin_add_overflow(s->isum, x, &s->isum)) s->ovf = *overflow = true;
            }
        } else {
            s->cnt++;
            if (op == AG_MIN || op == AG_MAX) {
                uint32_t len;
                const char *p = cn_col_vec_str(v, r, &len);
                int c = 1;
                if (s->has) {
                    c = memcmp(p, s->ms, len < s->ml ? len : s->ml);
                    if (!c) c = len < s->ml ? -1 : len > s->ml;
                    if (op == AG_MAX) c = -c;
                    c = c < 0; /* replace on strictly better */
                }
                if (c) {
                    char *cp = cn_arena_alloc(a, len ? len : 1);
                    if (!cp) {
                        *overflow = true; /* out of memory: let SQLite do it */
                        return;
                    }
                    memcpy(cp, p, len);
                    s->ms = cp;
                    s->ml = len;
                    s->has = true;
                }
            }
        }
    }
}

static bool cond_true(const Cond *c, const char *ds) {
    if (c->op == C_IN) {
        for (uint32_t k = 0; k < c->n_v; k++)
            if (!strcmp(ds, c->v[k])) return true;
        return false;
    }
    int r = strcmp(ds, c->v[0]);
    switch (c->op) {
    case C_EQ: return r == 0;
    case C_NE: return r != 0;
    case C_LT: return r < 0;
    case C_LE: return r <= 0;
    case C_GT: return r > 0;
    default: return r >= 0;
    }
}

/* ------------------------------------------------------------------- run */

typedef struct Run {
    CnSql *s;
    Plan pl;
    ColRef cond_cols[MAX_CONDS];
    CnIceTable *t;
    CnIceScan *scan;
    Groups g;
    CnBuf key;
    uint32_t *gid;
    uint32_t gid_cap;
    CnArena arena;
    int scan_col[MAX_ITEMS];  /* item -> projected column, -1 */
    int gscan_col[MAX_GROUP]; /* group column -> projected column, -1: the file's ds */
} Run;

/* Folds every batch of the scan. *fallback when the statement must go to SQLite. */
static int run_scan(Run *x, const int *agg_item, bool *fallback, CnErr *err) {
    Plan *pl = &x->pl;
    bool overflow = false;
    for (;;) {
        const CnBatch *b = NULL;
        int rc = cn_ice_scan_next(x->scan, &b, err);
        if (rc < 0) return rc;
        if (!b) break;
        const char *ds = cn_ice_scan_batch_ds(x->scan);
        bool need_ds = pl->n_conds > 0;
        for (uint32_t k = 0; k < pl->n_group; k++) need_ds |= x->gscan_col[k] < 0;
        if (need_ds && !ds) {
            *fallback = true;
            return 0;
        }
        bool keep = true;
        for (uint32_t k = 0; k < pl->n_conds && keep; k++) keep = cond_true(&pl->conds[k], ds);
        if (!keep || b->n_rows == 0) continue;
        uint32_t n = b->n_rows;
        if (n > x->gid_cap) {
            uint32_t *ng = cn_realloc(x->gid, (size_t)n * sizeof *ng);
            if (!ng) return cn_err_set(err, CN_ENOMEM, "out of memory");
            x->gid = ng;
            x->gid_cap = n;
        }
        bool per_row = false;
        for (uint32_t k = 0; k < pl->n_group; k++) per_row |= x->gscan_col[k] >= 0;
        if (!per_row) { /* one group for the whole batch */
            cn_buf_reset(&x->key);
            for (uint32_t k = 0; k < pl->n_group; k++) key_put_text(&x->key, ds, 10);
            uint32_t g0;
            if (x->key.oom || (rc = group_of(&x->g, x->key.data ? x->key.data : "", (uint32_t)x->key.len, &g0)) < 0)
                return cn_err_set(err, CN_ENOMEM, "out of memory");
            for (uint32_t r = 0; r < n; r++) x->gid[r] = g0;
        } else {
            for (uint32_t r = 0; r < n; r++) {
                cn_buf_reset(&x->key);
                for (uint32_t k = 0; k < pl->n_group; k++) {
                    if (x->gscan_col[k] < 0) key_put_text(&x->key, ds, 10);
                    else key_put(&x->key, &b->cols[x->gscan_col[k]], r);
                }
                if (x->key.oom || (rc = group_of(&x->g, x->key.data, (uint32_t)x->key.len, &x->gid[r])) < 0)
                    return rc == CN_ELIMIT ? (*fallback = true, 0) : cn_err_set(err, CN_ENOMEM, "out of memory");
            }
        }
        for (uint32_t a = 0; a < x->g.n_aggs; a++) {
            const Item *it = &pl->items[agg_item[a]];
            AgSt *st = &x->g.st[a];
            if (it->star) {
                for (uint32_t r = 0; r < n; r++) st[(size_t)x->gid[r] * x->g.n_aggs].cnt++;
                continue;
            }
            fold(it->op, &b->cols[x->scan_col[agg_item[a]]], n, x->gid, st, x->g.n_aggs, &x->arena, &overflow);
            if (overflow) {
                *fallback = true; /* SQLite reports the integer overflow its own way */
                return 0;
            }
        }
    }
    return 0;
}

/* Cell text of item k of group gi into buf. */
static const char *cell(Run *x, uint32_t k, uint32_t gi, const int *agg_of_item, char *buf, size_t len,
                        CnSqlKind *kind) {
    const Item *it = &x->pl.items[k];
    const CnSchema *sc = cn_ice_table_schema(x->t);
    if (it->op == AG_NONE) {
        int64_t i = 0;
        const char *p = NULL;
        uint32_t n = 0;
        int tag = key_part(x->g.keys.data + x->g.key_off[gi], (uint32_t)it->i_agg, &i, &p, &n);
        if (tag == 0) {
            *kind = CN_SQL_NULL;
            return NULL;
        }
        if (tag == 1) {
            *kind = CN_SQL_INT;
            snprintf(buf, len, "%lld", (long long)i);
            return buf;
        }
        *kind = CN_SQL_TEXT;
        return cn_arena_strndup(&x->arena, p, n);
    }
    const AgSt *s = &x->g.st[(size_t)gi * x->g.n_aggs + (size_t)agg_of_item[k]];
    CnTypeId t = it->col >= 0 ? sc->fields[it->col].type->id : CN_COL_INT64;
    double r = 0;
    switch (it->op) {
    case AG_COUNT:
        *kind = CN_SQL_INT;
        snprintf(buf, len, "%lld", (long long)s->cnt);
        return buf;
    case AG_SUM:
        if (!s->cnt) break;
        if (is_int_type(t)) {
            *kind = CN_SQL_INT;
            snprintf(buf, len, "%lld", (long long)s->isum);
            return buf;
        }
        r = s->rsum;
        goto real;
    case AG_TOTAL: r = s->rsum; goto real;
    case AG_AVG:
        if (!s->cnt) break;
        r = s->rsum / (double)s->cnt;
        goto real;
    default: /* min, max */
        if (!s->has) break;
        if (is_int_type(t)) {
            *kind = CN_SQL_INT;
            snprintf(buf, len, "%lld", (long long)s->mi);
            return buf;
        }
        if (is_real_type(t)) {
            r = s->md;
            goto real;
        }
        *kind = CN_SQL_TEXT;
        return cn_arena_strndup(&x->arena, s->ms, s->ml);
    }
    *kind = CN_SQL_NULL;
    return NULL;
real:
    *kind = CN_SQL_REAL;
    return cn_sql__double_text(x->s, r, buf, len);
}

/* Checks the plan against the table and SQLite's statement; false: not handled. */
static bool check_plan(Run *x, int *agg_item, int *agg_of_item) {
    Plan *pl = &x->pl;
    const CnSchema *sc = cn_ice_table_schema(x->t);
    int i_ds = cn_col_schema_find(sc, CN_ICE_DS);
    if (i_ds < 0 || sc->fields[i_ds].type->id != CN_COL_STRING) return false;
    /* an alias that names a column could change how GROUP BY/ORDER BY resolve */
    for (uint32_t k = 0; k < pl->n_group; k++) {
        int c = resolve(pl, sc, &pl->group[k]);
        if (c < 0) return false;
        CnTypeId t = sc->fields[c].type->id;
        if (!is_int_type(t) && t != CN_COL_STRING) return false;
        pl->group_col[k] = c;
        for (uint32_t j = 0; j < k; j++)
            if (pl->group_col[j] == c) return false; /* repeated: keep the key layout simple */
    }
    for (uint32_t k = 0; k < pl->n_conds; k++)
        if (resolve(pl, sc, &x->cond_cols[k]) != i_ds) return false;
    uint32_t n_aggs = 0;
    for (uint32_t k = 0; k < pl->n_items; k++) {
        Item *it = &pl->items[k];
        if (!it->star && (it->col = resolve(pl, sc, &it->ref)) < 0) return false;
        if (it->op == AG_NONE) {
            int pos = -1;
            for (uint32_t j = 0; j < pl->n_group; j++)
                if (pl->group_col[j] == it->col) pos = (int)j;
            if (pos < 0) return false; /* a bare column outside GROUP BY */
            it->i_agg = pos;
            agg_of_item[k] = -1;
            continue;
        }
        CnTypeId t = it->star ? CN_COL_INT64 : sc->fields[it->col].type->id;
        if ((it->op == AG_SUM || it->op == AG_TOTAL || it->op == AG_AVG) && !is_int_type(t) && !is_real_type(t))
            return false;
        if ((it->op == AG_MIN || it->op == AG_MAX) && !is_int_type(t) && !is_real_type(t) && t != CN_COL_STRING)
            return false;
        agg_item[n_aggs] = (int)k;
        agg_of_item[k] = (int)n_aggs++;
    }
    if (n_aggs == 0 && pl->n_group == 0) return false; /* a plain projection */
    x->g.n_aggs = n_aggs;
    /* ORDER BY: group columns (by name or position) covering all of them */
    bool covered[MAX_GROUP] = {false};
    for (uint32_t k = 0; k < pl->n_order; k++) {
        int c;
        if (pl->order_item[k] >= 0) {
            const Item *it = &pl->items[pl->order_item[k]];
            if (it->op != AG_NONE) return false;
            c = it->col;
        } else if ((c = resolve(pl, sc, &pl->order[k])) < 0) {
            return false;
        }
        int pos = -1;
        for (uint32_t j = 0; j < pl->n_group; j++)
            if (pl->group_col[j] == c) pos = (int)j;
        if (pos < 0) return false;
        pl->order_pos[k] = pos;
        covered[pos] = true;
    }
    if (pl->n_order)
        for (uint32_t j = 0; j < pl->n_group; j++)
            if (!covered[j]) return false;
    return true;
}

/* Aliases that equal a name used in GROUP BY or ORDER BY: SQLite resolves those to
 * the item, which this path does not model. */
static bool aliases_clash(const P *p0, const Plan *pl) {
    P p = *p0;
    p.i = 1;
    for (uint32_t k = 0; k < pl->n_items; k++) {
        Item tmp;
        char alias[129];
        if (!parse_item(&p, &tmp) || !parse_alias(&p, alias)) return true;
        if (alias[0]) {
            for (uint32_t j = 0; j < pl->n_group; j++)
                if (!strcasecmp(alias, pl->group[j].name)) return true;
            for (uint32_t j = 0; j < pl->n_order; j++)
                if (pl->order_item[j] < 0 && !strcasecmp(alias, pl->order[j].name)) return true;
        }
        if (at_punct(&p, ',')) p.i++;
    }
    return false;
}

int cn_sql__fast_run(CnSql *s, const char *text, const CnSqlSink *sink, bool *handled, CnErr *err) {
    *handled = false;
    if (s->no_fast) return 0;
    CnSqlTok *all = NULL, *sig = NULL;
    size_t n_all = 0, n_sig = 0;
    Run *x = NULL;
    sqlite3_stmt *st = NULL;
    const char **names = NULL;
    const char **vals = NULL;
    CnSqlKind *kinds = NULL;
    char(*bufs)[128] = NULL;
    uint32_t *order = NULL;
    int rc = 0;
    if (cn_sql__lex(text, strlen(text), &all, &n_all) < 0) return 0;
    sig = cn_malloc((n_all + 1) * sizeof *sig);
    if (!sig) goto done;
    for (size_t i = 0; i < n_all; i++)
        if (all[i].k != CN_SQL__TK_WS && all[i].k != CN_SQL__TK_COMMENT && all[i].k != CN_SQL__TK_SEMI)
            sig[n_sig++] = all[i];
    if (!n_sig || !cn_sql__tok_is(text, &sig[0], "SELECT")) goto done;
    x = cn_calloc(1, sizeof *x);
    if (!x) goto done;
    x->s = s;
    cn_arena_init(&x->arena, 0);
    P p = {text, sig, n_sig, 0};
    if (!parse_plan(&p, &x->pl, x->cond_cols) || aliases_clash(&p, &x->pl)) goto done;
    /* SQLite checks the statement and names the columns; it also creates the table */
    CnErr perr = CN_ERR_INIT;
    if (cn_sql__prepare(s, text, &st, &perr) < 0 || !st) goto done;
    if (sqlite3_column_count(st) != (int)x->pl.n_items) goto done;
    char ns[129], name[129];
    if (!vtab_target(s, &x->pl, ns, name)) goto done;
    if ((rc = cn_ice_table_load(s->cat, ns, name, &x->t, err)) < 0) goto handled;
    int agg_item[MAX_ITEMS], agg_of_item[MAX_ITEMS];
    if (!check_plan(x, agg_item, agg_of_item)) goto done;
    Plan *pl = &x->pl;
    const CnSchema *sc = cn_ice_table_schema(x->t);

    /* projection: aggregated columns and non-ds group columns; ds comes from the file */
    const char *cols[MAX_ITEMS + MAX_GROUP + 1];
    uint32_t n_cols = 0;
    int proj_of[MAX_ITEMS + MAX_GROUP]; /* table column -> projected, by linear search */
    int proj_col[MAX_ITEMS + MAX_GROUP];
    uint32_t n_proj = 0;
#define PROJECT(c, out)                                                                                               \
    do {                                                                                                              \
        int found_ = -1;                                                                                              \
        for (uint32_t q_ = 0; q_ < n_proj; q_++)                                                                      \
            if (proj_col[q_] == (c)) found_ = proj_of[q_];                                                            \
        if (found_ < 0) {                                                                                             \
            found_ = (int)n_cols;                                                                                     \
            cols[n_cols++] = sc->fields[(c)].name;                                                                    \
            proj_col[n_proj] = (c);                                                                                   \
            proj_of[n_proj++] = found_;                                                                               \
        }                                                                                                             \
        (out) = found_;                                                                                               \
    } while (0)
    for (uint32_t k = 0; k < pl->n_items; k++) {
        x->scan_col[k] = -1;
        if (pl->items[k].op != AG_NONE && !pl->items[k].star) PROJECT(pl->items[k].col, x->scan_col[k]);
    }
    for (uint32_t k = 0; k < pl->n_group; k++) {
        x->gscan_col[k] = -1;
        if (strcmp(sc->fields[pl->group_col[k]].name, CN_ICE_DS) != 0) PROJECT(pl->group_col[k], x->gscan_col[k]);
    }
#undef PROJECT
    if (n_cols == 0) cols[n_cols++] = CN_ICE_DS; /* count(*) alone: something to count */

    /* ds range for pruning: valid ds literals of =, <, <=, >, >=, IN (like the vtab) */
    char lo[11] = "", hi[11] = "";
    for (uint32_t k = 0; k < pl->n_conds; k++) {
        const Cond *c = &pl->conds[k];
        int64_t d;
        if (c->op == C_IN) {
            char mn[11] = "", mx[11] = "";
            bool all_ok = true;
            for (uint32_t v = 0; v < c->n_v && all_ok; v++) {
                all_ok = strlen(c->v[v]) == 10 && !cn_ds_parse(c->v[v], &d);
                if (all_ok && (!mn[0] || strcmp(c->v[v], mn) < 0)) memcpy(mn, c->v[v], 11);
                if (all_ok && (!mx[0] || strcmp(c->v[v], mx) > 0)) memcpy(mx, c->v[v], 11);
            }
            if (!all_ok) continue;
            if (!lo[0] || strcmp(mn, lo) > 0) memcpy(lo, mn, 11);
            if (!hi[0] || strcmp(mx, hi) < 0) memcpy(hi, mx, 11);
            continue;
        }
        if (c->op == C_NE || strlen(c->v[0]) != 10 || cn_ds_parse(c->v[0], &d)) continue;
        if ((c->op == C_EQ || c->op == C_GT || c->op == C_GE) && (!lo[0] || strcmp(c->v[0], lo) > 0))
            memcpy(lo, c->v[0], 11);
        if ((c->op == C_EQ || c->op == C_LT || c->op == C_LE) && (!hi[0] || strcmp(c->v[0], hi) < 0))
            memcpy(hi, c->v[0], 11);
    }
    bool empty = lo[0] && hi[0] && strcmp(lo, hi) > 0;
    CnIceScanOpts o = {0};
    o.ds_lo = lo[0] ? lo : NULL;
    o.ds_hi = hi[0] ? hi : NULL;
    o.columns = cols;
    o.n_columns = n_cols;
    uint32_t g0;
    if (pl->n_group == 0 && group_of(&x->g, "", 0, &g0) < 0) { /* the one group, rows or not */
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto handled;
    }
    if (!empty) {
        if ((rc = cn_ice_scan_open(s->cat, x->t, &o, &x->scan, err)) < 0) goto handled;
        if (s->verbose) {
            FILE *log = s->log ? s->log : stderr;
            /* the unpruned file count, for the comparison (as the virtual table prints) */
            CnIceScanOpts unpruned = {0};
            const char *dscol = CN_ICE_DS;
            unpruned.columns = &dscol;
            unpruned.n_columns = 1;
            CnIceScan *full = NULL;
            CnErr e2 = CN_ERR_INIT;
            uint32_t total = cn_ice_scan_open(s->cat, x->t, &unpruned, &full, &e2) == 0 ? cn_ice_scan_n_files(full) : 0;
            cn_ice_scan_close(full);
            fprintf(log, "scan %s.%s: ds [%s, %s]: %u of %u files, %lld rows; columns:", ns, name, lo[0] ? lo : "-inf",
                    hi[0] ? hi : "+inf", cn_ice_scan_n_files(x->scan), total, (long long)cn_ice_scan_n_records(x->scan));
            for (uint32_t i = 0; i < n_cols; i++) fprintf(log, " %s", cols[i]);
            fprintf(log, "; vectorised aggregate\n");
        }
        bool fallback = false;
        if ((rc = run_scan(x, agg_item, &fallback, err)) < 0) goto handled;
        if (fallback) goto done;
    } else if (s->verbose) {
        fprintf(s->log ? s->log : stderr, "scan %s.%s: empty ds range: 0 files; vectorised aggregate\n", ns, name);
    }

    /* output: groups in order, then LIMIT */
    *handled = true;
    uint32_t ng = x->g.n;
    order = cn_malloc(((size_t)ng + 1) * sizeof *order);
    uint32_t ni = pl->n_items;
    names = cn_calloc(ni, sizeof *names);
    vals = cn_calloc(ni, sizeof *vals);
    kinds = cn_calloc(ni, sizeof *kinds);
    bufs = cn_calloc(ni, sizeof *bufs);
    if (!order || !names || !vals || !kinds || !bufs) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t k = 0; k < ng; k++) order[k] = k;
    int pos[MAX_GROUP];
    bool desc[MAX_GROUP] = {false};
    uint32_t n_keys = 0;
    if (pl->n_order) {
        for (uint32_t k = 0; k < pl->n_order; k++) {
            pos[n_keys] = pl->order_pos[k];
            desc[n_keys++] = pl->order_desc[k];
        }
    } else {
        for (uint32_t k = 0; k < pl->n_group; k++) pos[n_keys++] = (int)k;
    }
    SortCtx sctx = {&x->g, pos, desc, n_keys};
    g_sort = &sctx;
    if (n_keys && ng > 1) qsort(order, ng, sizeof *order, group_cmp);
    g_sort = NULL;
    for (uint32_t k = 0; k < ni; k++) names[k] = sqlite3_column_name(st, (int)k);
    if (sink && sink->begin && (rc = sink->begin(sink->ud, ni, names)) != 0) goto done;
    uint64_t n_out = pl->limit >= 0 && (uint64_t)pl->limit < ng ? (uint64_t)pl->limit : ng;
    for (uint64_t r = 0; r < n_out; r++) {
        for (uint32_t k = 0; k < ni; k++) vals[k] = cell(x, k, order[r], agg_of_item, bufs[k], sizeof bufs[k], &kinds[k]);
        if (sink && sink->row && (rc = sink->row(sink->ud, ni, vals, kinds)) != 0) goto done;
    }
    if (sink && sink->end) rc = sink->end(sink->ud);
    goto done;
handled:
    *handled = true;
done:
    if (*handled == false) rc = 0;
    sqlite3_finalize(st);
    if (x) {
        cn_ice_scan_close(x->scan);
        cn_ice_table_free(x->t);
        groups_fini(&x->g);
        cn_buf_fini(&x->key);
        cn_free(x->gid);
        cn_arena_fini(&x->arena);
        cn_free(x);
    }
    cn_free(names);
    cn_free(vals);
    cn_free(kinds);
    cn_free(bufs);
    cn_free(order);
    cn_free(all);
    cn_free(sig);
    return rc;
}
