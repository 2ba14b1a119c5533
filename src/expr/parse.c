/* parse.c: lexer and Pratt parser for the Spark SQL expression subset.
 * Precedence follows Spark's grammar (SqlBase.g4), loosest first: OR, AND, NOT,
 * predicates (IS [NOT] NULL, [NOT] IN/BETWEEN/LIKE, RLIKE), comparisons, |, ^, &,
 * + - ||, * / % DIV, unary - + ~, postfix [i]. Binary operators are left-associative.
 * Positions are 1-based byte columns into the text; every error names one. */
#include "expr/expr_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/str.h"

typedef enum { T_EOF, T_IDENT, T_QIDENT, T_INT, T_DEC, T_STR, T_OP } TokKind;

typedef struct Tok {
    TokKind kind;
    uint32_t pos;        /* 0-based offset */
    uint32_t len;        /* bytes of the token text */
    char op[4];          /* T_OP: the operator */
} Tok;

typedef struct Parser {
    CnExpr *e;
    const char *s;
    size_t n;
    size_t at;           /* lexer offset */
    Tok tok;             /* current token */
    CnErr *err;
    int depth;
} Parser;

#define MAX_DEPTH 200 /* nesting bound: keeps recursion (and fuzzers) off the stack limit */
#define MAX_HEIGHT 1000 /* tree height bound: binding and evaluation recurse per level */

const char *cn_expr__quote(const CnExpr *e, char *buf, size_t len) {
    const char *t = e->text ? e->text : "";
    size_t n = strlen(t);
    if (n > 160) snprintf(buf, len, "\"%.150s...\"", t);
    else snprintf(buf, len, "\"%s\"", t);
    return buf;
}

Node *cn_expr__node(CnExpr *e, NodeKind kind, uint32_t pos, uint32_t n_args) {
    Node *nd = cn_arena_calloc(&e->arena, sizeof *nd);
    if (!nd) return NULL;
    nd->kind = (uint8_t)kind;
    nd->pos = pos;
    nd->n_args = n_args;
    nd->nullable = true;
    if (n_args) {
        nd->args = cn_arena_calloc(&e->arena, n_args * sizeof *nd->args);
        if (!nd->args) return NULL;
    }
    return nd;
}

static CN_COLD int perr(Parser *p, uint32_t pos0, int code, const char *fmt, ...) CN_PRINTF(4, 5);
static int perr(Parser *p, uint32_t pos0, int code, const char *fmt, ...) {
    char q[200], what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cn_err_set(p->err, code, "%s: %s at column %u: %s", cn_expr__quote(p->e, q, sizeof q),
                      code == CN_EUNSUPPORTED ? "unsupported" : "syntax error", pos0 + 1, what);
}

/* Sets nd->height from its arguments; long operator chains (a+b+c+...) build tall
 * trees without deep parser recursion, so the bound is checked here. */
static int height(Parser *p, Node *nd) {
    uint32_t h = 0;
    for (uint32_t i = 0; i < nd->n_args; i++) h = CN_MAX(h, nd->args[i]->height);
    nd->height = h + 1;
    if (nd->height > MAX_HEIGHT)
        return perr(p, nd->pos - 1, CN_ELIMIT, "expression nested deeper than %d levels", MAX_HEIGHT);
    return 0;
}

static CN_COLD int oom(Parser *p) { return cn_err_set(p->err, CN_ENOMEM, "expression: out of memory"); }

/* A short description of the current token for messages. */
static const char *tok_desc(const Parser *p, char *buf, size_t len) {
    const Tok *t = &p->tok;
    if (t->kind == T_EOF) return "end of input";
    snprintf(buf, len, "'%.*s'", (int)CN_MIN(t->len, 40u), p->s + t->pos);
    return buf;
}

/* ---------------------------------------------------------------- lexer */

static bool ident_start(int c) { return isalpha(c) || c == '_' || c >= 0x80; }
static bool ident_char(int c) { return isalnum(c) || c == '_' || c >= 0x80; }

static int lex(Parser *p) {
    const char *s = p->s;
    size_t n = p->n, i = p->at;
    for (;;) {
        while (i < n && isspace((unsigned char)s[i])) i++;
        if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
            while (i < n && s[i] != '\n') i++;
            continue;
        }
        if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
            size_t j = i + 2;
            while (j + 1 < n && !(s[j] == '*' && s[j + 1] == '/')) j++;
            if (j + 1 >= n) return perr(p, (uint32_t)i, CN_EINVAL, "unterminated comment");
            i = j + 2;
            continue;
        }
        break;
    }
    Tok *t = &p->tok;
    memset(t, 0, sizeof *t);
    t->pos = (uint32_t)i;
    if (i >= n) {
        t->kind = T_EOF;
        p->at = i;
        return 0;
    }
    unsigned char c = (unsigned char)s[i];
    if (c == '\0') return perr(p, (uint32_t)i, CN_EINVAL, "unexpected NUL byte");
    if (isdigit(c) || (c == '.' && i + 1 < n && isdigit((unsigned char)s[i + 1]))) {
        size_t j = i;
        bool dec = false;
        while (j < n && isdigit((unsigned char)s[j])) j++;
        if (j < n && s[j] == '.') {
            dec = true;
            j++;
            while (j < n && isdigit((unsigned char)s[j])) j++;
        }
        if (j < n && (s[j] == 'e' || s[j] == 'E')) {
            size_t k = j + 1;
            if (k < n && (s[k] == '+' || s[k] == '-')) k++;
            if (k < n && isdigit((unsigned char)s[k])) {
                while (k < n && isdigit((unsigned char)s[k])) k++;
                j = k;
                dec = true;
            }
        }
        /* type suffix (L S Y D F BD) or, like Spark, an identifier starting with digits */
        size_t k = j;
        while (k < n && ident_char((unsigned char)s[k])) k++;
        if (k > j) {
            size_t sl = k - j;
            const char *sf = s + j;
            bool suffix = (sl == 1 && strchr("lLsSyYdDfF", sf[0])) ||
                          (sl == 2 && (sf[0] == 'b' || sf[0] == 'B') && (sf[1] == 'd' || sf[1] == 'D'));
            if (!suffix) {
                if (dec) return perr(p, (uint32_t)j, CN_EINVAL, "invalid number suffix '%.*s'", (int)CN_MIN(sl, 20u), sf);
                t->kind = T_IDENT;
                t->len = (uint32_t)(k - i);
                p->at = k;
                return 0;
            }
        }
        t->kind = dec ? T_DEC : T_INT;
        t->len = (uint32_t)(k - i);
        p->at = k;
        return 0;
    }
    if (ident_start(c)) {
        size_t j = i;
        while (j < n && ident_char((unsigned char)s[j])) j++;
        t->kind = T_IDENT;
        t->len = (uint32_t)(j - i);
        p->at = j;
        return 0;
    }
    if (c == '`') {
        size_t j = i + 1;
        for (;;) {
            if (j >= n) return perr(p, (uint32_t)i, CN_EINVAL, "unterminated `quoted identifier`");
            if (s[j] == '`') {
                if (j + 1 < n && s[j + 1] == '`') { j += 2; continue; }
                break;
            }
            j++;
        }
        t->kind = T_QIDENT;
        t->len = (uint32_t)(j + 1 - i);
        p->at = j + 1;
        return 0;
    }
    if (c == '\'' || c == '"') {
        size_t j = i + 1;
        for (;;) {
            if (j >= n) return perr(p, (uint32_t)i, CN_EINVAL, "unterminated string literal");
            if (s[j] == '\\') { j += 2; continue; }
            if ((unsigned char)s[j] == c) break;
            j++;
        }
        t->kind = T_STR;
        t->len = (uint32_t)(j + 1 - i);
        p->at = j + 1;
        return 0;
    }
    static const char *const ops[] = {"<=>", "==", "!=", "<>", "<=", ">=", "||", "=", "<", ">",
                                      "+",   "-",  "*",  "/",  "%",  "(",  ")",  ",", "[", "]",
                                      "&",   "|",  "^",  "~",  "!",  "."};
    for (size_t k = 0; k < CN_ARRAY_LEN(ops); k++) {
        size_t l = strlen(ops[k]);
        if (i + l <= n && memcmp(s + i, ops[k], l) == 0) {
            t->kind = T_OP;
            memcpy(t->op, ops[k], l);
            t->len = (uint32_t)l;
            p->at = i + l;
            return 0;
        }
    }
    if (c < 0x20 || c == 0x7f) return perr(p, (uint32_t)i, CN_EINVAL, "unexpected control character 0x%02x", c);
    return perr(p, (uint32_t)i, CN_EINVAL, "unexpected character '%c'", c);
}

static bool is_op(const Parser *p, const char *op) {
    return p->tok.kind == T_OP && strcmp(p->tok.op, op) == 0;
}
static bool is_kw(const Parser *p, const char *kw) {
    return p->tok.kind == T_IDENT && p->tok.len == strlen(kw) &&
           strncasecmp(p->s + p->tok.pos, kw, p->tok.len) == 0;
}
/* Is the token after the current one the keyword kw? (for NOT IN / NOT LIKE ...) */
static bool peek_kw(Parser *p, const char *kw) {
    Parser save = *p;
    CnErr e2 = CN_ERR_INIT;
    save.err = &e2;
    if (lex(&save) < 0) return false;
    return is_kw(&save, kw);
}
static int expect_op(Parser *p, const char *op, const char *ctx) {
    if (!is_op(p, op)) {
        char b[64];
        return perr(p, p->tok.pos, CN_EINVAL, "expected '%s' %s, found %s", op, ctx, tok_desc(p, b, sizeof b));
    }
    return lex(p);
}
static int expect_kw(Parser *p, const char *kw, const char *ctx) {
    if (!is_kw(p, kw)) {
        char b[64];
        return perr(p, p->tok.pos, CN_EINVAL, "expected %s %s, found %s", kw, ctx, tok_desc(p, b, sizeof b));
    }
    return lex(p);
}

/* Words that end an expression or start a clause; never column names unless quoted. */
static bool reserved(const Parser *p) {
    static const char *const kws[] = {"AND", "OR", "NOT", "IS", "IN", "BETWEEN", "LIKE", "RLIKE",
                                      "REGEXP", "WHEN", "THEN", "ELSE", "END", "AS", "DIV", "ESCAPE",
                                      "FROM", "SELECT", "WHERE"};
    for (size_t i = 0; i < CN_ARRAY_LEN(kws); i++)
        if (is_kw(p, kws[i])) return true;
    return false;
}

/* ------------------------------------------------------------- literals */

/* Spark's string literal escapes (unescapeSQLString): \0 \b \n \r \t \Z \\ \' \" \uXXXX,
 * octal \ooo; \% and \_ keep their backslash so LIKE patterns still see it; any other
 * escaped character is itself. */
static int decode_string(Parser *p, const Tok *t, CnBuf *out) {
    const char *s = p->s + t->pos + 1;
    size_t n = t->len - 2;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 >= n) {
            cn_buf_putc(out, c);
            continue;
        }
        char d = s[++i];
        switch (d) {
        case '0':
            if (i + 2 < n && s[i + 1] >= '0' && s[i + 1] <= '7' && s[i + 2] >= '0' && s[i + 2] <= '7' && d <= '3') {
                cn_buf_putc(out, (char)(((d - '0') << 6) | ((s[i + 1] - '0') << 3) | (s[i + 2] - '0')));
                i += 2;
            } else cn_buf_putc(out, '\0');
            break;
        case 'b': cn_buf_putc(out, '\b'); break;
        case 'n': cn_buf_putc(out, '\n'); break;
        case 'r': cn_buf_putc(out, '\r'); break;
        case 't': cn_buf_putc(out, '\t'); break;
        case 'Z': cn_buf_putc(out, '\x1a'); break;
        case '%': cn_buf_puts(out, "\\%"); break;
        case '_': cn_buf_puts(out, "\\_"); break;
        case 'u': {
            unsigned cp = 0;
            size_t k;
            for (k = 1; k <= 4 && i + k < n && isxdigit((unsigned char)s[i + k]); k++)
                cp = cp * 16 + (unsigned)(isdigit((unsigned char)s[i + k]) ? s[i + k] - '0' : (tolower((unsigned char)s[i + k]) - 'a' + 10));
            if (k != 5) return perr(p, (uint32_t)(t->pos + 1 + i), CN_EINVAL, "\\u needs 4 hex digits");
            i += 4;
            char u[4];
            size_t ul;
            if (cp < 0x80) { u[0] = (char)cp; ul = 1; }
            else if (cp < 0x800) { u[0] = (char)(0xc0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 63)); ul = 2; }
            else { u[0] = (char)(0xe0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 63)); u[2] = (char)(0x80 | (cp & 63)); ul = 3; }
            cn_buf_append(out, u, ul);
            break;
        }
        default:
            if (d >= '1' && d <= '3' && i + 2 < n && s[i + 1] >= '0' && s[i + 1] <= '7' && s[i + 2] >= '0' && s[i + 2] <= '7') {
                cn_buf_putc(out, (char)(((d - '0') << 6) | ((s[i + 1] - '0') << 3) | (s[i + 2] - '0')));
                i += 2;
            } else cn_buf_putc(out, d);
        }
    }
    return 0;
}

static Node *lit_node(Parser *p, uint32_t pos, CnTypeId t) {
    Node *nd = cn_expr__node(p->e, N_LIT, pos, 0);
    if (!nd) return NULL;
    nd->lit.type = t;
    nd->t = t;
    nd->nullable = false;
    return nd;
}

/* Numbers: integers are int32 when they fit, else int64 (Spark), beyond that an
 * error (Spark would make a decimal). Decimals and exponents are float64; suffixes
 * L (bigint), S (smallint), Y (tinyint), D (double), F (float), BD (decimal: double). */
static int number(Parser *p, bool negative, uint32_t pos, Node **out) {
    const Tok *t = &p->tok;
    char buf[128];
    size_t len = t->len;
    const char *s = p->s + t->pos;
    size_t sl = 0;
    while (sl < len && isalpha((unsigned char)s[len - 1 - sl])) sl++;
    if (sl && (s[len - sl] == 'e' || s[len - sl] == 'E')) sl = 0; /* cannot happen: exponent has digits */
    size_t nl = len - sl;
    if (nl + 2 > sizeof buf) return perr(p, t->pos, CN_EINVAL, "number literal too long");
    buf[0] = '-';
    memcpy(buf + 1, s, nl);
    buf[nl + 1] = '\0';
    const char *num = negative ? buf : buf + 1;
    char suf = sl ? (char)toupper((unsigned char)s[nl]) : 0;
    if (sl == 2) suf = 'B';
    Node *nd = NULL;
    if (t->kind == T_DEC || suf == 'D' || suf == 'F' || suf == 'B') {
        if (t->kind == T_DEC && (suf == 'L' || suf == 'S' || suf == 'Y'))
            return perr(p, t->pos, CN_EINVAL, "integer suffix on a decimal number '%.*s'", (int)CN_MIN(len, 40u), s);
        double d = strtod(num, NULL);
        if (suf == 'F') {
            if (!(nd = lit_node(p, pos, CN_COL_FLOAT32))) return oom(p);
            nd->lit.v.f32 = (float)d;
        } else {
            if (!(nd = lit_node(p, pos, CN_COL_FLOAT64))) return oom(p);
            nd->lit.v.f64 = d;
        }
    } else {
        errno = 0;
        long long v = strtoll(num, NULL, 10);
        if (errno == ERANGE)
            return perr(p, t->pos, CN_EUNSUPPORTED, "integer literal %s does not fit in a bigint (decimal literals are not supported)", num);
        if (suf == 'S' || suf == 'Y') {
            long long lim = suf == 'S' ? 32767 : 127;
            if (v > lim || v < -lim - 1)
                return perr(p, t->pos, CN_EINVAL, "%s literal %s out of range", suf == 'S' ? "smallint" : "tinyint", num);
        }
        bool is32 = suf != 'L' && v >= INT32_MIN && v <= INT32_MAX;
        if (!(nd = lit_node(p, pos, is32 ? CN_COL_INT32 : CN_COL_INT64))) return oom(p);
        if (is32) nd->lit.v.i32 = (int32_t)v;
        else nd->lit.v.i64 = (int64_t)v;
    }
    *out = nd;
    return lex(p);
}

/* ------------------------------------------------------------- grammar */

enum { P_OR = 1, P_AND, P_NOT, P_PRED, P_CMP, P_BOR, P_BXOR, P_BAND, P_ADD, P_MUL, P_UNARY };

static int parse_expr(Parser *p, int min_prec, Node **out);

static int ident_text(Parser *p, const Tok *t, const char **out) {
    char *s;
    if (t->kind == T_QIDENT) {
        s = cn_arena_alloc(&p->e->arena, t->len);
        if (!s) return oom(p);
        size_t k = 0;
        for (size_t i = t->pos + 1; i + 1 < (size_t)t->pos + t->len; i++) {
            s[k++] = p->s[i];
            if (p->s[i] == '`') i++;
        }
        s[k] = '\0';
        if (k == 0) return perr(p, t->pos, CN_EINVAL, "empty quoted identifier");
    } else {
        s = cn_arena_strndup(&p->e->arena, p->s + t->pos, t->len);
        if (!s) return oom(p);
    }
    *out = s;
    return 0;
}

/* Comma-separated arguments up to ')' (the '(' is consumed). */
static int parse_args(Parser *p, Node *call, const char *what) {
    Node *tmp[256];
    uint32_t n = 0;
    int rc;
    if (is_op(p, ")")) return lex(p);
    for (;;) {
        if (n == CN_ARRAY_LEN(tmp)) return perr(p, p->tok.pos, CN_ELIMIT, "too many arguments to %s", what);
        if ((rc = parse_expr(p, 0, &tmp[n])) < 0) return rc;
        n++;
        if (is_op(p, ",")) {
            if ((rc = lex(p)) < 0) return rc;
            continue;
        }
        char b[64];
        if (!is_op(p, ")"))
            return perr(p, p->tok.pos, CN_EINVAL, "expected ',' or ')' in the arguments of %s, found %s", what, tok_desc(p, b, sizeof b));
        break;
    }
    call->args = cn_arena_alloc(&p->e->arena, n * sizeof *call->args);
    if (!call->args) return oom(p);
    memcpy(call->args, tmp, n * sizeof *tmp);
    call->n_args = n;
    int rc2 = height(p, call);
    if (rc2 < 0) return rc2;
    return lex(p);
}

/* CAST(x AS type): the type keeps its written name; bind maps it. */
static int parse_cast(Parser *p, uint32_t pos, Node **out) {
    int rc;
    Node *x;
    if ((rc = expect_op(p, "(", "after CAST")) < 0) return rc;
    if ((rc = parse_expr(p, 0, &x)) < 0) return rc;
    if ((rc = expect_kw(p, "AS", "in CAST(x AS type)")) < 0) return rc;
    if (p->tok.kind != T_IDENT) {
        char b[64];
        return perr(p, p->tok.pos, CN_EINVAL, "expected a type name in CAST, found %s", tok_desc(p, b, sizeof b));
    }
    uint32_t tpos = p->tok.pos;
    size_t start = p->tok.pos;
    if ((rc = lex(p)) < 0) return rc;
    /* varchar(10), decimal(10, 2): keep the whole spelling */
    size_t end = p->tok.pos;
    if (is_op(p, "(")) {
        while (!is_op(p, ")") && p->tok.kind != T_EOF)
            if ((rc = lex(p)) < 0) return rc;
        if ((rc = expect_op(p, ")", "after the type's parameters")) < 0) return rc;
        end = p->tok.pos;
    } else if (is_op(p, "<")) {
        return perr(p, tpos, CN_EUNSUPPORTED, "CAST to a nested type");
    }
    while (end > start && isspace((unsigned char)p->s[end - 1])) end--;
    Node *nd = cn_expr__node(p->e, N_CAST, pos, 1);
    if (!nd) return oom(p);
    nd->args[0] = x;
    if (!(nd->name = cn_arena_strndup(&p->e->arena, p->s + start, end - start))) return oom(p);
    nd->aux = (int)tpos; /* bind reports type errors here; it replaces aux afterwards */
    if ((rc = height(p, nd)) < 0) return rc;
    if ((rc = expect_op(p, ")", "to close CAST")) < 0) return rc;
    *out = nd;
    return 0;
}

static int parse_case(Parser *p, uint32_t pos, Node **out) {
    Node *tmp[514];
    uint32_t n = 0;
    int rc;
    bool operand = false, has_else = false;
    if (!is_kw(p, "WHEN")) {
        if ((rc = parse_expr(p, 0, &tmp[n++])) < 0) return rc;
        operand = true;
    }
    if (!is_kw(p, "WHEN")) {
        char b[64];
        return perr(p, p->tok.pos, CN_EINVAL, "expected WHEN in CASE, found %s", tok_desc(p, b, sizeof b));
    }
    while (is_kw(p, "WHEN")) {
        if (n + 2 > CN_ARRAY_LEN(tmp) - 1) return perr(p, p->tok.pos, CN_ELIMIT, "too many WHEN branches");
        if ((rc = lex(p)) < 0) return rc;
        if ((rc = parse_expr(p, 0, &tmp[n++])) < 0) return rc;
        if ((rc = expect_kw(p, "THEN", "after WHEN condition")) < 0) return rc;
        if ((rc = parse_expr(p, 0, &tmp[n++])) < 0) return rc;
    }
    if (is_kw(p, "ELSE")) {
        if ((rc = lex(p)) < 0) return rc;
        if ((rc = parse_expr(p, 0, &tmp[n++])) < 0) return rc;
        has_else = true;
    }
    if ((rc = expect_kw(p, "END", "to close CASE")) < 0) return rc;
    Node *nd = cn_expr__node(p->e, N_CASE, pos, n);
    if (!nd) return oom(p);
    memcpy(nd->args, tmp, n * sizeof *tmp);
    nd->case_operand = operand;
    nd->case_else = has_else;
    if ((rc = height(p, nd)) < 0) return rc;
    *out = nd;
    return 0;
}

static int parse_primary(Parser *p, Node **out) {
    Tok t = p->tok;
    uint32_t pos = t.pos + 1;
    int rc;
    char b[64];
    switch (t.kind) {
    case T_EOF: return perr(p, t.pos, CN_EINVAL, "expected an expression, found end of input");
    case T_INT: case T_DEC: return number(p, false, pos, out);
    case T_STR: {
        /* adjacent literals concatenate, as in Spark: 'a' 'b' is 'ab' */
        CnBuf sb = CN_BUF_INIT;
        while (p->tok.kind == T_STR) {
            Tok st = p->tok;
            if ((rc = decode_string(p, &st, &sb)) < 0 || (rc = lex(p)) < 0) {
                cn_buf_fini(&sb);
                return rc;
            }
        }
        Node *nd = lit_node(p, pos, CN_COL_STRING);
        char *s = nd && !sb.oom ? cn_arena_alloc(&p->e->arena, sb.len + 1) : NULL;
        if (s) {
            if (sb.len) memcpy(s, sb.data, sb.len);
            s[sb.len] = '\0';
        }
        size_t len = sb.len;
        cn_buf_fini(&sb);
        if (!s) return oom(p);
        nd->lit.v.s.p = s;
        nd->lit.v.s.len = (uint32_t)len;
        *out = nd;
        return 0;
    }
    case T_OP:
        if (is_op(p, "(")) {
            if ((rc = lex(p)) < 0 || (rc = parse_expr(p, 0, out)) < 0) return rc;
            return expect_op(p, ")", "to close '('");
        }
        return perr(p, t.pos, CN_EINVAL, "expected an expression, found %s", tok_desc(p, b, sizeof b));
    case T_QIDENT: case T_IDENT: break;
    }
    if (t.kind == T_IDENT) {
        if (is_kw(p, "NULL") || is_kw(p, "TRUE") || is_kw(p, "FALSE")) {
            bool isnull = is_kw(p, "NULL");
            Node *nd = lit_node(p, pos, isnull ? CN_EXPR__TNULL : CN_COL_BOOL);
            if (!nd) return oom(p);
            nd->lit.is_null = isnull;
            nd->nullable = isnull;
            nd->lit.v.b = is_kw(p, "TRUE");
            *out = nd;
            return lex(p);
        }
        if (is_kw(p, "CASE")) {
            if ((rc = lex(p)) < 0) return rc;
            return parse_case(p, pos, out);
        }
        if (is_kw(p, "INTERVAL")) return perr(p, t.pos, CN_EUNSUPPORTED, "INTERVAL literals");
        if ((is_kw(p, "DATE") || is_kw(p, "TIMESTAMP"))) {
            /* typed literal DATE '2020-01-01' is CAST('...' AS DATE) */
            Parser save = *p;
            CnErr e2 = CN_ERR_INIT;
            save.err = &e2;
            if (lex(&save) == 0 && save.tok.kind == T_STR) {
                bool is_date = is_kw(p, "DATE");
                if ((rc = lex(p)) < 0) return rc;
                Node *s;
                if ((rc = parse_primary(p, &s)) < 0) return rc;
                Node *nd = cn_expr__node(p->e, N_CAST, pos, 1);
                if (!nd) return oom(p);
                nd->args[0] = s;
                nd->name = is_date ? "date" : "timestamp";
                nd->aux = (int)t.pos;
                *out = nd;
                return 0;
            }
        }
        if (reserved(p)) return perr(p, t.pos, CN_EINVAL, "expected an expression, found keyword %s", tok_desc(p, b, sizeof b));
    }
    const char *name;
    if ((rc = ident_text(p, &t, &name)) < 0) return rc;
    if ((rc = lex(p)) < 0) return rc;
    if (t.kind == T_IDENT && is_op(p, "(")) {
        if (strcasecmp(name, "cast") == 0) return parse_cast(p, pos, out);
        if ((rc = lex(p)) < 0) return rc;
        Node *nd = cn_expr__node(p->e, N_CALL, pos, 0);
        if (!nd) return oom(p);
        nd->name = name;
        if (is_op(p, "*")) return perr(p, p->tok.pos, CN_EUNSUPPORTED, "%s(*): aggregate functions belong in aggregations, not in expressions", name);
        if (is_kw(p, "DISTINCT")) return perr(p, p->tok.pos, CN_EUNSUPPORTED, "DISTINCT in a function call");
        if ((rc = parse_args(p, nd, name)) < 0) return rc;
        *out = nd;
        return 0;
    }
    /* a.b.c: a qualified name; bind accepts it only when it names a column verbatim */
    while (is_op(p, ".")) {
        if ((rc = lex(p)) < 0) return rc;
        if (p->tok.kind != T_IDENT && p->tok.kind != T_QIDENT)
            return perr(p, p->tok.pos, CN_EINVAL, "expected a name after '.', found %s", tok_desc(p, b, sizeof b));
        const char *part;
        Tok pt = p->tok;
        if ((rc = ident_text(p, &pt, &part)) < 0) return rc;
        if (!(name = cn_arena_printf(&p->e->arena, "%s.%s", name, part))) return oom(p);
        if ((rc = lex(p)) < 0) return rc;
    }
    Node *nd = cn_expr__node(p->e, N_IDENT, pos, 0);
    if (!nd) return oom(p);
    nd->name = name;
    *out = nd;
    return 0;
}

static int parse_prefix(Parser *p, Node **out) {
    int rc;
    uint32_t pos = p->tok.pos + 1;
    if (++p->depth > MAX_DEPTH) return perr(p, p->tok.pos, CN_ELIMIT, "expression nested deeper than %d levels", MAX_DEPTH);
    if (is_kw(p, "NOT") || is_op(p, "!")) {
        Node *x;
        if ((rc = lex(p)) < 0 || (rc = parse_expr(p, P_NOT, &x)) < 0) return rc;
        Node *nd = cn_expr__node(p->e, N_NOT, pos, 1);
        if (!nd) return oom(p);
        nd->args[0] = x;
        if ((rc = height(p, nd)) < 0) return rc;
        *out = nd;
    } else if (is_op(p, "-") || is_op(p, "+") || is_op(p, "~")) {
        char op = p->tok.op[0];
        if ((rc = lex(p)) < 0) return rc;
        if (op == '-' && (p->tok.kind == T_INT || p->tok.kind == T_DEC) && p->tok.pos == pos) {
            /* -2147483648 is an int literal in Spark, not -(2147483648L) */
            if ((rc = number(p, true, pos, out)) < 0) return rc;
        } else {
            Node *x;
            if ((rc = parse_expr(p, P_UNARY, &x)) < 0) return rc;
            if (op == '+') {
                *out = x;
            } else {
                Node *nd = cn_expr__node(p->e, N_UNARY, pos, 1);
                if (!nd) return oom(p);
                nd->op = op == '-' ? OP_NEG : OP_BITNOT;
                nd->args[0] = x;
                if ((rc = height(p, nd)) < 0) return rc;
                *out = nd;
            }
        }
    } else {
        if ((rc = parse_primary(p, out)) < 0) return rc;
    }
    /* postfix subscript x[i] */
    while (is_op(p, "[")) {
        uint32_t ipos = p->tok.pos + 1;
        Node *i;
        if ((rc = lex(p)) < 0 || (rc = parse_expr(p, 0, &i)) < 0) return rc;
        if ((rc = expect_op(p, "]", "to close '['")) < 0) return rc;
        Node *nd = cn_expr__node(p->e, N_INDEX, ipos, 2);
        if (!nd) return oom(p);
        nd->args[0] = *out;
        nd->args[1] = i;
        if ((rc = height(p, nd)) < 0) return rc;
        *out = nd;
    }
    p->depth--;
    return 0;
}

typedef struct BinOp {
    const char *tok;  /* operator or keyword */
    bool kw;
    uint8_t prec;
    uint8_t kind, op;
} BinOp;

static const BinOp BINOPS[] = {
    {"OR", true, P_OR, N_OR, 0},         {"AND", true, P_AND, N_AND, 0},
    {"=", false, P_CMP, N_CMP, OP_EQ},   {"==", false, P_CMP, N_CMP, OP_EQ},
    {"!=", false, P_CMP, N_CMP, OP_NE},  {"<>", false, P_CMP, N_CMP, OP_NE},
    {"<", false, P_CMP, N_CMP, OP_LT},   {"<=", false, P_CMP, N_CMP, OP_LE},
    {">", false, P_CMP, N_CMP, OP_GT},   {">=", false, P_CMP, N_CMP, OP_GE},
    {"<=>", false, P_CMP, N_CMP, OP_NSEQ}, {"|", false, P_BOR, N_BIN, OP_BOR},
    {"^", false, P_BXOR, N_BIN, OP_BXOR}, {"&", false, P_BAND, N_BIN, OP_BAND},
    {"+", false, P_ADD, N_BIN, OP_ADD},  {"-", false, P_ADD, N_BIN, OP_SUB},
    {"||", false, P_ADD, N_BIN, OP_CONCAT}, {"*", false, P_MUL, N_BIN, OP_MUL},
    {"/", false, P_MUL, N_BIN, OP_DIV},  {"%", false, P_MUL, N_BIN, OP_MOD},
    {"DIV", true, P_MUL, N_BIN, OP_IDIV},
};

static const BinOp *find_binop(const Parser *p) {
    for (size_t i = 0; i < CN_ARRAY_LEN(BINOPS); i++) {
        const BinOp *b = &BINOPS[i];
        if (b->kw ? is_kw(p, b->tok) : is_op(p, b->tok)) return b;
    }
    return NULL;
}

/* Predicates after a value: IS [NOT] NULL, [NOT] IN (...), [NOT] BETWEEN a AND b,
 * [NOT] LIKE pat [ESCAPE 'c'], [NOT] RLIKE/REGEXP pat. *done false when none applies. */
static int parse_predicate(Parser *p, Node *left, Node **out, bool *done) {
    int rc;
    uint32_t pos = p->tok.pos + 1;
    char b[64];
    *done = false;
    if (is_kw(p, "IS")) {
        if ((rc = lex(p)) < 0) return rc;
        bool neg = false;
        if (is_kw(p, "NOT")) {
            neg = true;
            if ((rc = lex(p)) < 0) return rc;
        }
        if (is_kw(p, "TRUE") || is_kw(p, "FALSE") || is_kw(p, "DISTINCT") || is_kw(p, "UNKNOWN"))
            return perr(p, p->tok.pos, CN_EUNSUPPORTED, "IS %s (use = or <=>)", tok_desc(p, b, sizeof b));
        if ((rc = expect_kw(p, "NULL", "after IS [NOT]")) < 0) return rc;
        Node *nd = cn_expr__node(p->e, N_ISNULL, pos, 1);
        if (!nd) return oom(p);
        nd->args[0] = left;
        nd->negated = neg;
        if ((rc = height(p, nd)) < 0) return rc;
        *out = nd;
        *done = true;
        return 0;
    }
    bool neg = false;
    if (is_kw(p, "NOT")) {
        if (!(peek_kw(p, "IN") || peek_kw(p, "BETWEEN") || peek_kw(p, "LIKE") || peek_kw(p, "RLIKE") ||
              peek_kw(p, "REGEXP")))
            return 0;
        neg = true;
        if ((rc = lex(p)) < 0) return rc;
    }
    if (is_kw(p, "IN")) {
        if ((rc = lex(p)) < 0) return rc;
        if ((rc = expect_op(p, "(", "after IN")) < 0) return rc;
        if (is_kw(p, "SELECT")) return perr(p, p->tok.pos, CN_EUNSUPPORTED, "IN (subquery)");
        Node *call = cn_expr__node(p->e, N_IN, pos, 0);
        if (!call) return oom(p);
        if (is_op(p, ")")) return perr(p, p->tok.pos, CN_EINVAL, "IN () needs at least one value");
        if ((rc = parse_args(p, call, "IN")) < 0) return rc;
        Node **args = cn_arena_alloc(&p->e->arena, (call->n_args + 1) * sizeof *args);
        if (!args) return oom(p);
        args[0] = left;
        memcpy(args + 1, call->args, call->n_args * sizeof *args);
        call->args = args;
        call->n_args++;
        call->negated = neg;
        if ((rc = height(p, call)) < 0) return rc;
        *out = call;
    } else if (is_kw(p, "BETWEEN")) {
        Node *lo, *hi;
        if ((rc = lex(p)) < 0 || (rc = parse_expr(p, P_PRED + 1, &lo)) < 0) return rc;
        if ((rc = expect_kw(p, "AND", "in BETWEEN ... AND ...")) < 0) return rc;
        if ((rc = parse_expr(p, P_PRED + 1, &hi)) < 0) return rc;
        Node *nd = cn_expr__node(p->e, N_BETWEEN, pos, 3);
        if (!nd) return oom(p);
        nd->args[0] = left;
        nd->args[1] = lo;
        nd->args[2] = hi;
        nd->negated = neg;
        if ((rc = height(p, nd)) < 0) return rc;
        *out = nd;
    } else if (is_kw(p, "LIKE") || is_kw(p, "RLIKE") || is_kw(p, "REGEXP")) {
        bool like = is_kw(p, "LIKE");
        Node *pat;
        if ((rc = lex(p)) < 0) return rc;
        if (is_kw(p, "ANY") || is_kw(p, "ALL") || is_kw(p, "SOME"))
            return perr(p, p->tok.pos, CN_EUNSUPPORTED, "LIKE %s", tok_desc(p, b, sizeof b));
        if ((rc = parse_expr(p, P_PRED + 1, &pat)) < 0) return rc;
        Node *nd = cn_expr__node(p->e, like ? N_LIKE : N_RLIKE, pos, 2);
        if (!nd) return oom(p);
        nd->args[0] = left;
        nd->args[1] = pat;
        nd->negated = neg;
        nd->aux = '\\';
        if (like && is_kw(p, "ESCAPE")) {
            if ((rc = lex(p)) < 0) return rc;
            if (p->tok.kind != T_STR)
                return perr(p, p->tok.pos, CN_EINVAL, "expected a one-character string after ESCAPE, found %s", tok_desc(p, b, sizeof b));
            CnBuf eb = CN_BUF_INIT;
            Tok et = p->tok;
            rc = decode_string(p, &et, &eb);
            size_t elen = eb.len;
            char ec = elen ? eb.data[0] : 0;
            cn_buf_fini(&eb);
            if (rc < 0) return rc;
            if (elen != 1) return perr(p, et.pos, CN_EINVAL, "ESCAPE must be exactly one character");
            nd->aux = (unsigned char)ec;
            if ((rc = lex(p)) < 0) return rc;
        }
        if ((rc = height(p, nd)) < 0) return rc;
        *out = nd;
    } else {
        return 0;
    }
    *done = true;
    return 0;
}

static int parse_expr(Parser *p, int min_prec, Node **out) {
    Node *left;
    int rc;
    if ((rc = parse_prefix(p, &left)) < 0) return rc;
    for (;;) {
        if (min_prec <= P_PRED) {
            bool done;
            Node *pr;
            if ((rc = parse_predicate(p, left, &pr, &done)) < 0) return rc;
            if (done) {
                left = pr;
                continue;
            }
        }
        const BinOp *b = find_binop(p);
        if (!b || b->prec < min_prec) break;
        Tok optok = p->tok;
        if ((rc = lex(p)) < 0) return rc;
        Node *right;
        if (p->tok.kind == T_EOF) {
            return perr(p, p->tok.pos, CN_EINVAL, "expected an expression after '%.*s', found end of input",
                        (int)optok.len, p->s + optok.pos);
        }
        if (++p->depth > MAX_DEPTH) return perr(p, optok.pos, CN_ELIMIT, "expression nested deeper than %d levels", MAX_DEPTH);
        if ((rc = parse_expr(p, b->prec + 1, &right)) < 0) return rc;
        p->depth--;
        Node *nd = cn_expr__node(p->e, (NodeKind)b->kind, optok.pos + 1, 2);
        if (!nd) return oom(p);
        nd->op = b->op;
        nd->args[0] = left;
        nd->args[1] = right;
        if ((rc = height(p, nd)) < 0) return rc;
        left = nd;
    }
    *out = left;
    return 0;
}

int cn_expr__parse(CnExpr *e, CnErr *err) {
    Parser p = {.e = e, .s = e->text, .n = strlen(e->text), .err = err};
    int rc = lex(&p);
    if (rc < 0) return rc;
    if (p.tok.kind == T_EOF) return perr(&p, 0, CN_EINVAL, "empty expression");
    if ((rc = parse_expr(&p, 0, &e->root)) < 0) return rc;
    if (p.tok.kind != T_EOF) {
        char b[64];
        const char *hint = is_kw(&p, "AS") ? " (aliases belong in the selects key, not the expression)" : "";
        return perr(&p, p.tok.pos, CN_EINVAL, "unexpected %s after a complete expression%s", tok_desc(&p, b, sizeof b), hint);
    }
    return 0;
}
