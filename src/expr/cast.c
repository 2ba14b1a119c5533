/* cast.c: Spark's non-ANSI CAST: text that does not parse becomes null, integers wrap
 * when narrowed, doubles saturate into integers (Java's d2i/d2l, NaN is 0), timestamps
 * and numbers convert through epoch seconds, and numbers print as Java prints them
 * (Double.toString: "1.0", "1.0E20", "1.0E-4"). Everything is UTC. */
#include "expr/expr_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/date.h"

static bool is_num(CnTypeId t) {
    return t == CN_COL_INT32 || t == CN_COL_INT64 || t == CN_COL_FLOAT32 || t == CN_COL_FLOAT64;
}

bool cn_expr__can_cast(CnTypeId from, CnTypeId to) {
    if (from == to || from == CN_EXPR__TNULL) return true;
    if (cn_col_type_is_nested(from) || cn_col_type_is_nested(to)) return false;
    switch (to) {
    case CN_COL_STRING: return true;
    case CN_COL_BINARY: return from == CN_COL_STRING;
    case CN_COL_BOOL: return is_num(from) || from == CN_COL_STRING || from == CN_COL_TIMESTAMP;
    case CN_COL_INT32: case CN_COL_INT64: case CN_COL_FLOAT32: case CN_COL_FLOAT64:
        return is_num(from) || from == CN_COL_STRING || from == CN_COL_BOOL || from == CN_COL_TIMESTAMP;
    case CN_COL_DATE: return from == CN_COL_STRING || from == CN_COL_TIMESTAMP;
    case CN_COL_TIMESTAMP: return from == CN_COL_STRING || from == CN_COL_DATE || is_num(from);
    default: return false;
    }
}

/* ------------------------------------------------------------ text -> value */

static void trim(const char **p, size_t *n) {
    const unsigned char *s = (const unsigned char *)*p;
    size_t len = *n;
    while (len && s[0] <= ' ') { s++; len--; }
    while (len && s[len - 1] <= ' ') len--;
    *p = (const char *)s;
    *n = len;
}

/* UTF8String.toLong: [+-]digits[.digits], the fraction dropped; overflow fails. */
bool cn_expr__str_to_i64(const char *p, size_t n, int64_t *out) {
    trim(&p, &n);
    if (n == 0) return false;
    size_t i = 0;
    bool neg = false;
    if (p[0] == '-' || p[0] == '+') {
        neg = p[0] == '-';
        if (n == 1) return false;
        i = 1;
    }
    /* accumulate negatively so INT64_MIN parses */
    int64_t r = 0;
    for (; i < n; i++) {
        char c = p[i];
        if (c == '.') {
            i++;
            break;
        }
        if (c < '0' || c > '9') return false;
        int d = c - '0';
        if (r < (INT64_MIN + d) / 10) return false;
        r = r * 10 - d;
    }
    for (; i < n; i++)
        if (p[i] < '0' || p[i] > '9') return false;
    if (!neg) {
        if (r == INT64_MIN) return false;
        r = -r;
    }
    *out = r;
    return true;
}

/* Java's Double.parseDouble grammar (decimal only) plus Spark's inf/nan spellings. */
bool cn_expr__str_to_f64(const char *p, size_t n, double *out) {
    trim(&p, &n);
    if (n == 0 || n > 400) return false;
    char buf[408];
    memcpy(buf, p, n);
    buf[n] = '\0';
    const char *s = buf;
    bool neg = false;
    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++;
    }
    if (strcasecmp(s, "inf") == 0 || strcasecmp(s, "infinity") == 0) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (strcasecmp(buf, "nan") == 0) {
        *out = NAN;
        return true;
    }
    size_t i = (size_t)(s - buf), digits = 0;
    while (isdigit((unsigned char)buf[i])) { i++; digits++; }
    if (buf[i] == '.') {
        i++;
        while (isdigit((unsigned char)buf[i])) { i++; digits++; }
    }
    if (!digits) return false;
    if (buf[i] == 'e' || buf[i] == 'E') {
        i++;
        if (buf[i] == '+' || buf[i] == '-') i++;
        if (!isdigit((unsigned char)buf[i])) return false;
        while (isdigit((unsigned char)buf[i])) i++;
    }
    size_t end = i;
    if (buf[i] && strchr("fFdD", buf[i])) i++;
    if (buf[i]) return false;
    buf[end] = '\0';
    *out = strtod(buf, NULL);
    return true;
}

bool cn_expr__str_to_bool(const char *p, size_t n, bool *out) {
    trim(&p, &n);
    static const char *const t[] = {"t", "true", "y", "yes", "1"}, *const f[] = {"f", "false", "n", "no", "0"};
    for (size_t i = 0; i < 5; i++) {
        if (strlen(t[i]) == n && strncasecmp(p, t[i], n) == 0) { *out = true; return true; }
        if (strlen(f[i]) == n && strncasecmp(p, f[i], n) == 0) { *out = false; return true; }
    }
    return false;
}

static bool digits(const char *p, size_t n, size_t *i, size_t min, size_t max, int64_t *v) {
    size_t k = 0;
    int64_t r = 0;
    while (*i < n && k < max && isdigit((unsigned char)p[*i])) {
        r = r * 10 + (p[*i] - '0');
        (*i)++;
        k++;
    }
    if (k < min) return false;
    *v = r;
    return true;
}

static bool valid_civil(int64_t y, int64_t m, int64_t d, int64_t *days) {
    if (m < 1 || m > 12 || d < 1 || d > 31) return false;
    int64_t dd = cn_date_days_from_civil(y, (unsigned)m, (unsigned)d);
    int64_t y2;
    unsigned m2, d2;
    cn_date_civil_from_days(dd, &y2, &m2, &d2);
    if (y2 != y || (int64_t)m2 != m || (int64_t)d2 != d) return false;
    *days = dd;
    return true;
}

/* Date part of Spark's stringToDate/stringToTimestamp: [+-]yyyy[-m[m][-d[d]]]. */
static bool parse_date_part(const char *p, size_t n, size_t *i, int64_t *days) {
    bool neg = false;
    if (*i < n && (p[*i] == '-' || p[*i] == '+')) {
        neg = p[*i] == '-';
        (*i)++;
    }
    int64_t y, m = 1, d = 1;
    if (!digits(p, n, i, 4, 7, &y)) return false;
    if (neg) y = -y;
    if (*i < n && p[*i] == '-') {
        (*i)++;
        if (!digits(p, n, i, 1, 2, &m)) return false;
        if (*i < n && p[*i] == '-') {
            (*i)++;
            if (!digits(p, n, i, 1, 2, &d)) return false;
        }
    }
    return valid_civil(y, m, d, days);
}

bool cn_expr__str_to_date(const char *p, size_t n, int32_t *out) {
    trim(&p, &n);
    size_t i = 0;
    int64_t days;
    if (!parse_date_part(p, n, &i, &days)) return false;
    if (i < n && p[i] != ' ' && p[i] != 'T') return false; /* anything after ' ' or 'T' is ignored */
    if (days < INT32_MIN || days > INT32_MAX) return false;
    *out = (int32_t)days;
    return true;
}

bool cn_expr__str_to_ts(const char *p, size_t n, int64_t *out) {
    trim(&p, &n);
    size_t i = 0;
    int64_t days, h = 0, mi = 0, s = 0, frac_ms = 0, off_min = 0;
    if (!parse_date_part(p, n, &i, &days)) return false;
    if (i < n && (p[i] == ' ' || p[i] == 'T')) {
        i++;
        if (i < n) {
            if (!digits(p, n, &i, 1, 2, &h) || i >= n || p[i] != ':') return false;
            i++;
            if (!digits(p, n, &i, 1, 2, &mi)) return false;
            if (i < n && p[i] == ':') {
                i++;
                if (!digits(p, n, &i, 1, 2, &s)) return false;
                if (i < n && p[i] == '.') {
                    i++;
                    size_t k = 0;
                    int64_t f = 0;
                    while (i < n && isdigit((unsigned char)p[i]) && k < 9) {
                        if (k < 3) f = f * 10 + (p[i] - '0');
                        i++;
                        k++;
                    }
                    for (size_t z = k; z < 3; z++) f *= 10;
                    frac_ms = f;
                }
            }
            if (h > 23 || mi > 59 || s > 59) return false;
            /* zone */
            if (i < n && p[i] == ' ') i++;
            if (i < n) {
                const char *z = p + i;
                size_t zl = n - i;
                if ((zl == 1 && z[0] == 'Z') || (zl == 3 && (strncasecmp(z, "UTC", 3) == 0 || strncasecmp(z, "GMT", 3) == 0))) {
                    i = n;
                } else {
                    if (zl >= 3 && (strncasecmp(z, "UTC", 3) == 0 || strncasecmp(z, "GMT", 3) == 0)) i += 3;
                    if (i >= n || (p[i] != '+' && p[i] != '-')) return false;
                    int sign = p[i] == '-' ? -1 : 1;
                    i++;
                    int64_t oh, om = 0;
                    if (!digits(p, n, &i, 1, 2, &oh)) return false;
                    if (i < n && p[i] == ':') i++;
                    if (i < n && !digits(p, n, &i, 2, 2, &om)) return false;
                    if (i != n || oh > 18 || om > 59) return false;
                    off_min = sign * (oh * 60 + om);
                }
            }
        }
    }
    if (i != n) return false;
    int64_t ms = days * CN_MS_PER_DAY + ((h * 60 + mi) * 60 + s) * 1000 + frac_ms - off_min * 60000;
    *out = ms;
    return true;
}

/* ------------------------------------------------------------ value -> text */

int cn_expr__shortest_digits(double x, int max_prec, char *dig, int *exp10) {
    char buf[48];
    for (int prec = 1; prec <= max_prec; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
        bool same = max_prec <= 9 ? (float)strtod(buf, NULL) == (float)x : strtod(buf, NULL) == x;
        if (same || prec == max_prec) {
            /* buf: d[.ddd]e[+-]xx */
            int k = 0;
            const char *s = buf;
            for (; *s && *s != 'e'; s++)
                if (isdigit((unsigned char)*s)) dig[k++] = *s;
            int e = atoi(s + 1);
            while (k > 1 && dig[k - 1] == '0') k--;
            dig[k] = '\0';
            *exp10 = e + 1;
            return k;
        }
    }
    return 0;
}

static size_t java_fmt(double x, int max_prec, char *buf) {
    if (x != x) return (size_t)sprintf(buf, "NaN");
    if (isinf(x)) return (size_t)sprintf(buf, x < 0 ? "-Infinity" : "Infinity");
    if (x == 0) return (size_t)sprintf(buf, signbit(x) ? "-0.0" : "0.0");
    char dig[24];
    int e;
    size_t o = 0;
    if (x < 0) {
        buf[o++] = '-';
        x = -x;
    }
    int k = cn_expr__shortest_digits(x, max_prec, dig, &e);
    if (x >= 1e-3 && x < 1e7) {
        if (e <= 0) {
            buf[o++] = '0';
            buf[o++] = '.';
            for (int z = 0; z < -e; z++) buf[o++] = '0';
            for (int j = 0; j < k; j++) buf[o++] = dig[j];
        } else {
            for (int j = 0; j < e; j++) buf[o++] = j < k ? dig[j] : '0';
            buf[o++] = '.';
            if (k > e)
                for (int j = e; j < k; j++) buf[o++] = dig[j];
            else buf[o++] = '0';
        }
    } else {
        buf[o++] = dig[0];
        buf[o++] = '.';
        if (k > 1)
            for (int j = 1; j < k; j++) buf[o++] = dig[j];
        else buf[o++] = '0';
        o += (size_t)sprintf(buf + o, "E%d", e - 1);
    }
    buf[o] = '\0';
    return o;
}

size_t cn_expr__f64_to_str(double x, char *buf) { return java_fmt(x, 17, buf); }
size_t cn_expr__f32_to_str(float x, char *buf) { return java_fmt((double)x, 9, buf); }

size_t cn_expr__date_to_str(int32_t days, char *buf) {
    int64_t y;
    unsigned m, d;
    cn_date_civil_from_days(days, &y, &m, &d);
    return (size_t)sprintf(buf, "%04lld-%02u-%02u", (long long)y, m, d);
}

size_t cn_expr__ts_to_str(int64_t ms, char *buf) {
    int64_t days = cn_expr__floordiv(ms, CN_MS_PER_DAY);
    int64_t rem = cn_expr__floormod(ms, CN_MS_PER_DAY);
    size_t o = cn_expr__date_to_str((int32_t)days, buf);
    int64_t sec = rem / 1000, frac = rem % 1000;
    o += (size_t)sprintf(buf + o, " %02d:%02d:%02d", (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
    if (frac) {
        o += (size_t)sprintf(buf + o, ".%03d", (int)frac);
        while (buf[o - 1] == '0') o--; /* Spark drops trailing zeros of the fraction */
        buf[o] = '\0';
    }
    return o;
}

/* ------------------------------------------------------------ numbers */

/* Java's (int)/(long) of a double: saturating, NaN is 0. */
static int64_t d2l(double d) {
    if (d != d) return 0;
    if (d >= 9223372036854775807.0) return INT64_MAX;
    if (d <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)d;
}
static int32_t d2i(double d) {
    if (d != d) return 0;
    if (d >= 2147483647.0) return INT32_MAX;
    if (d <= -2147483648.0) return INT32_MIN;
    return (int32_t)d;
}
static int32_t narrow_wrap(int64_t v, int bits) {
    if (bits == 8) return (int8_t)(uint8_t)v;
    if (bits == 16) return (int16_t)(uint16_t)v;
    return (int32_t)(uint32_t)(uint64_t)v;
}
static int64_t sat_mul(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
    return r;
}

/* Reads entry i of a numeric/bool/timestamp value as a double or int64. */
static double num_f64(const Val *v, uint32_t i) {
    switch (v->t) {
    case CN_COL_BOOL: return VAL_AT(v, uint8_t, i);
    case CN_COL_INT32: return VAL_AT(v, int32_t, i);
    case CN_COL_INT64: return (double)VAL_AT(v, int64_t, i);
    case CN_COL_FLOAT32: return VAL_AT(v, float, i);
    case CN_COL_FLOAT64: return VAL_AT(v, double, i);
    case CN_COL_TIMESTAMP: return (double)VAL_AT(v, int64_t, i) / 1000.0; /* seconds */
    default: return 0;
    }
}
static bool is_float(CnTypeId t) { return t == CN_COL_FLOAT32 || t == CN_COL_FLOAT64; }
static int64_t num_i64(const Val *v, uint32_t i) {
    switch (v->t) {
    case CN_COL_BOOL: return VAL_AT(v, uint8_t, i);
    case CN_COL_INT32: return VAL_AT(v, int32_t, i);
    case CN_COL_INT64: return VAL_AT(v, int64_t, i);
    case CN_COL_TIMESTAMP: return cn_expr__floordiv(VAL_AT(v, int64_t, i), 1000);
    default: return d2l(num_f64(v, i));
    }
}

int cn_expr__cast_val(EvalCtx *c, const Val *in, CnTypeId to, int narrow, Val *out) {
    int rc;
    CnTypeId from = in->t;
    if ((rc = cn_expr__val_new(c, out, to, false)) < 0) return rc;
    uint32_t m = in->is_const ? 1 : c->n;
    out->is_const = in->is_const;
    out->cnull = in->cnull;
    out->valid = in->valid;
    if (in->is_const && in->cnull) return 0;
    /* failures clear bits of a private bitmap, made on the first failure */
    uint64_t *bm = NULL;
#define FAIL(i)                                                                   \
    do {                                                                          \
        if (in->is_const) {                                                       \
            out->cnull = true;                                                    \
        } else {                                                                  \
            if (!bm) {                                                            \
                bm = cn_arena_alloc(c->a, (bm_words(c->n) + 1) * 8);              \
                if (!bm) return cn_err_set(c->err, CN_ENOMEM, "cast: out of memory"); \
                if (in->valid) memcpy(bm, in->valid, bm_words(c->n) * 8);         \
                else memset(bm, 0xff, (bm_words(c->n) + 1) * 8);                  \
                out->valid = bm;                                                  \
            }                                                                     \
            bm_clear(bm, (i));                                                    \
        }                                                                         \
    } while (0)

    if (from == CN_COL_STRING || from == CN_COL_BINARY) {
        if (to == CN_COL_STRING || to == CN_COL_BINARY) {
            out->data = in->data;
            return 0;
        }
        for (uint32_t i = 0; i < m; i++) {
            if (val_is_null(in, i)) continue;
            CnExprStr s = VAL_AT(in, CnExprStr, i);
            bool ok = true;
            switch (to) {
            case CN_COL_BOOL: {
                bool b = false;
                ok = cn_expr__str_to_bool(s.p, s.len, &b);
                ((uint8_t *)out->data)[i] = b;
                break;
            }
            case CN_COL_INT32: {
                int64_t v = 0;
                ok = cn_expr__str_to_i64(s.p, s.len, &v);
                int64_t lo = narrow == 8 ? INT8_MIN : narrow == 16 ? INT16_MIN : INT32_MIN;
                int64_t hi = narrow == 8 ? INT8_MAX : narrow == 16 ? INT16_MAX : INT32_MAX;
                ok = ok && v >= lo && v <= hi;
                ((int32_t *)out->data)[i] = ok ? (int32_t)v : 0;
                break;
            }
            case CN_COL_INT64: {
                int64_t v = 0;
                ok = cn_expr__str_to_i64(s.p, s.len, &v);
                ((int64_t *)out->data)[i] = v;
                break;
            }
            case CN_COL_FLOAT32: case CN_COL_FLOAT64: {
                double d = 0;
                ok = cn_expr__str_to_f64(s.p, s.len, &d);
                if (to == CN_COL_FLOAT32) ((float *)out->data)[i] = (float)d;
                else ((double *)out->data)[i] = d;
                break;
            }
            case CN_COL_DATE: {
                int32_t d = 0;
                ok = cn_expr__str_to_date(s.p, s.len, &d);
                ((int32_t *)out->data)[i] = d;
                break;
            }
            case CN_COL_TIMESTAMP: {
                int64_t ms = 0;
                ok = cn_expr__str_to_ts(s.p, s.len, &ms);
                ((int64_t *)out->data)[i] = ms;
                break;
            }
            default: ok = false;
            }
            if (!ok) FAIL(i);
        }
        return 0;
    }
    if (to == CN_COL_STRING) {
        StrBuild sb;
        cn_expr__sb_init(&sb, c->a);
        CnExprStr *r = out->data;
        char buf[64];
        for (uint32_t i = 0; i < m; i++) {
            if (val_is_null(in, i)) {
                r[i] = (CnExprStr){"", 0};
                continue;
            }
            size_t len = 0;
            switch (from) {
            case CN_COL_BOOL: len = (size_t)sprintf(buf, "%s", VAL_AT(in, uint8_t, i) ? "true" : "false"); break;
            case CN_COL_INT32: len = (size_t)sprintf(buf, "%d", VAL_AT(in, int32_t, i)); break;
            case CN_COL_INT64: len = (size_t)sprintf(buf, "%lld", (long long)VAL_AT(in, int64_t, i)); break;
            case CN_COL_FLOAT32: len = cn_expr__f32_to_str(VAL_AT(in, float, i), buf); break;
            case CN_COL_FLOAT64: len = cn_expr__f64_to_str(VAL_AT(in, double, i), buf); break;
            case CN_COL_DATE: len = cn_expr__date_to_str(VAL_AT(in, int32_t, i), buf); break;
            case CN_COL_TIMESTAMP: len = cn_expr__ts_to_str(VAL_AT(in, int64_t, i), buf); break;
            default: break;
            }
            cn_expr__sb_put(&sb, buf, len);
            r[i] = cn_expr__sb_end(&sb);
        }
        if (sb.oom) return cn_err_set(c->err, CN_ENOMEM, "cast: out of memory");
        return 0;
    }
    for (uint32_t i = 0; i < m; i++) {
        switch (to) {
        case CN_COL_BOOL:
            ((uint8_t *)out->data)[i] = is_float(from) ? num_f64(in, i) != 0 : num_i64(in, i) != 0;
            if (from == CN_COL_TIMESTAMP) ((uint8_t *)out->data)[i] = VAL_AT(in, int64_t, i) != 0;
            break;
        case CN_COL_INT32: {
            int32_t v;
            if (is_float(from)) v = narrow ? narrow_wrap(d2i(num_f64(in, i)), narrow) : d2i(num_f64(in, i));
            else v = narrow_wrap(num_i64(in, i), narrow ? narrow : 32);
            ((int32_t *)out->data)[i] = v;
            break;
        }
        case CN_COL_INT64: ((int64_t *)out->data)[i] = num_i64(in, i); break;
        case CN_COL_FLOAT32:
            ((float *)out->data)[i] = from == CN_COL_INT64 ? (float)VAL_AT(in, int64_t, i) : (float)num_f64(in, i);
            break;
        case CN_COL_FLOAT64:
            ((double *)out->data)[i] = from == CN_COL_INT64 ? (double)VAL_AT(in, int64_t, i) : num_f64(in, i);
            break;
        case CN_COL_DATE: /* from timestamp */
            ((int32_t *)out->data)[i] = (int32_t)cn_expr__floordiv(VAL_AT(in, int64_t, i), CN_MS_PER_DAY);
            break;
        case CN_COL_TIMESTAMP:
            if (from == CN_COL_DATE) {
                ((int64_t *)out->data)[i] = (int64_t)VAL_AT(in, int32_t, i) * CN_MS_PER_DAY;
            } else if (is_float(from)) {
                double d = num_f64(in, i);
                if (!isfinite(d)) {
                    ((int64_t *)out->data)[i] = 0;
                    if (!val_is_null(in, i)) FAIL(i);
                } else {
                    ((int64_t *)out->data)[i] = d2l(d * 1000.0);
                }
            } else {
                ((int64_t *)out->data)[i] = sat_mul(num_i64(in, i), 1000); /* epoch seconds */
            }
            break;
        default: return cn_err_set(c->err, CN_EINTERNAL, "cast: %d to %d", (int)from, (int)to);
        }
    }
#undef FAIL
    return 0;
}
