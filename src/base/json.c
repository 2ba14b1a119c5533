/* json.c: jansson loading with precise error messages; doubles as short exact text. */
#include "base/json.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "base/str.h"

int cn_json_loadb(const char *name, const char *buf, size_t len, json_t **out, CnErr *err) {
    json_error_t je;
    *out = json_loadb(buf, len, 0, &je);
    if (!*out)
        return cn_err_set(err, CN_ECORRUPT, "%s:%d:%d: malformed JSON: %s", name, je.line,
                          je.column, je.text);
    return 0;
}

int cn_json_load_file(const char *path, json_t **out, CnErr *err) {
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = cn_fs_read_all(path, &buf, &len, err);
    if (rc) return rc;
    rc = cn_json_loadb(path, buf, len, out, err);
    cn_free(buf);
    return rc;
}

const char *cn_json_type_name(const json_t *v) {
    if (!v) return "missing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

/* ---- doubles as text ----------------------------------------------------------- */

/* Powers of ten up to 10^19 (all fit uint64). */
static const uint64_t POW10_U64[] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
                                     100000000ull, 1000000000ull, 10000000000ull, 100000000000ull,
                                     1000000000000ull, 10000000000000ull, 100000000000000ull, 1000000000000000ull,
                                     10000000000000000ull, 100000000000000000ull, 1000000000000000000ull,
                                     10000000000000000000ull};

/* Fixed-point text of t * 10^x (t > 0) with a ".0" for integral values, as the
 * printf-based search writes it in [1e-4, 1e15). */
static size_t real_fixed_text(char *out, bool neg, uint64_t t, int x) {
    char dig[24];
    int nd = 0;
    for (uint64_t u = t; u; u /= 10) dig[nd++] = (char)('0' + u % 10); /* reversed */
    size_t n = 0;
    if (neg) out[n++] = '-';
    if (x >= 0) {
        for (int i = nd - 1; i >= 0; i--) out[n++] = dig[i];
        for (int i = 0; i < x; i++) out[n++] = '0';
        out[n++] = '.';
        out[n++] = '0';
    } else if (-x >= nd) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -x - nd; i++) out[n++] = '0';
        for (int i = nd - 1; i >= 0; i--) out[n++] = dig[i];
    } else {
        for (int i = nd - 1; i >= -x; i--) out[n++] = dig[i];
        out[n++] = '.';
        for (int i = -x - 1; i >= 0; i--) out[n++] = dig[i];
    }
    return n;
}

/* The shortest decimal that reads back as d, for 1e-4 <= |d| < 1e15, in exact integer
 * arithmetic; 0 outside that range. |d| = m * 2^-s exactly. In units of
 * 10^-p * 2^-(s+2), d is 4m * 10^p and the numbers that read back as d lie between
 * (4m - 2) * 10^p and (4m + 2) * 10^p (the lower half-gap is half as wide when m is the
 * smallest mantissa of its binade); both ends belong when m is even (a tie reads back
 * as the even mantissa). With p = 16 - k or 17 - k (k the decimal exponent of d) the
 * products stay below 2^125. Between the ends, the coarsest step 10^j with a multiple
 * in reach gives the fewest digits, and of those multiples the one nearest to d is
 * written. */
static size_t real_shortest_exact(double d, char *out) {
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e15)) return 0;
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    int be = (int)(bits >> 52); /* biased exponent; a is normal here */
    uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    int s = 1075 - be; /* a = m * 2^-s; 3 <= s <= 67 in this range */
    /* a is in [2^(be-1023), 2^(be-1022)); floor((be - 1023) * log10(2)) is k or k - 1
     * (78913 / 2^18 is log10(2) to 6 digits, exact enough for these exponents) */
    int k_est = ((be - 1023) * 78913) >> 18;
    int p = 16 - k_est;
    if (p < 0 || p > 21 || s < 1 || s > 100) return 0;
    unsigned __int128 p10 = (unsigned __int128)POW10_U64[p > 19 ? 19 : p] * POW10_U64[p > 19 ? p - 19 : 0];
    bool narrow = m == (1ull << 52); /* the binade's first mantissa: the gap below is half */
    bool inclusive = (m & 1) == 0;
    unsigned __int128 lo4 = ((unsigned __int128)(4 * m - (narrow ? 1 : 2))) * p10;
    unsigned __int128 hi4 = ((unsigned __int128)(4 * m + 2)) * p10;
    unsigned __int128 v = (unsigned __int128)m * p10; /* d * 10^p * 2^s */
    int S = s + 2;
    unsigned __int128 maskS = ((unsigned __int128)1 << S) - 1;
    unsigned __int128 lo_c128 = (lo4 + maskS) >> S, hi_c128 = hi4 >> S;
    if (!inclusive && (lo4 & maskS) == 0) lo_c128++;
    if (!inclusive && (hi4 & maskS) == 0) hi_c128--;
    if (hi_c128 >> 63 || lo_c128 > hi_c128) return 0;
    /* tlo..thi: the multiples of 10^j in reach, in steps of 10^j (ceil of a ceil and
     * floor of a floor by 10 are those of the whole division) */
    uint64_t tlo = (uint64_t)lo_c128, thi = (uint64_t)hi_c128;
    int j = 0;
    while (j < 18 && thi / 10 >= (tlo + 9) / 10) {
        thi /= 10;
        tlo = (tlo + 9) / 10;
        j++;
    }
    uint64_t step = POW10_U64[j];
    /* d * 10^p = q + r / 2^s; the nearest multiple of the step, ties to even */
    uint64_t q = (uint64_t)(v >> s);
    unsigned __int128 r = v & (((unsigned __int128)1 << s) - 1), half_r = (unsigned __int128)1 << (s - 1);
    uint64_t t = q / step, rem = q % step;
    bool up;
    if (j == 0) up = r > half_r || (r == half_r && (t & 1));
    else if (rem != step / 2) up = rem > step / 2;
    else up = r > 0 || (t & 1);
    if (up) t++;
    if (t < tlo) t = tlo;
    if (t > thi) t = thi;
    return real_fixed_text(out, d < 0, t, j - p);
}

size_t cn_json_real_text(double d, char out[CN_JSON_REAL_MAX]) {
    if (!isfinite(d)) {
        memcpy(out, "null", 4);
        return 4;
    }
    if (d == 0) {
        if (signbit(d)) {
            memcpy(out, "-0.0", 4);
            return 4;
        }
        memcpy(out, "0.0", 3);
        return 3;
    }
    size_t n = real_shortest_exact(d, out);
    if (n) return n;
    /* Outside the exact range: the shortest of 15..17 significant digits that reads
     * back (17 always does). */
    char num[CN_JSON_REAL_MAX];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(num, sizeof num - 2, "%.*g", prec, d);
        if (prec == 17 || strtod(num, NULL) == d) break;
    }
    n = strlen(num);
    if (!strpbrk(num, ".eE")) {
        num[n++] = '.';
        num[n++] = '0';
    }
    memcpy(out, num, n);
    return n;
}

double cn_json_real_parse(const char *s, size_t n) {
#if defined(__x86_64__) && LDBL_MANT_DIG == 64
    /* Up to 19 significant digits D and a decimal exponent x with |x| <= 27: D and 10^|x|
     * are exact in the x87 format's 64-bit mantissa, so D * 10^x rounds once to 64 bits
     * and once more to 53. The second rounding can only differ from rounding the exact
     * value once when the first lands exactly halfway between two doubles (low 11 bits
     * 10000000000b); strtod decides those, and anything else outside this shape. */
    static const long double P10L[] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
                                       1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
                                       1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
    const char *p = s, *end = s + n;
    bool neg = p < end && *p == '-';
    if (neg) p++;
    uint64_t dig = 0;
    int nd = 0, x = 0;
    bool any = false, point = false;
    for (; p < end; p++) {
        if (*p >= '0' && *p <= '9') {
            any = true;
            if (dig == 0 && *p == '0') {
                if (point) x--;
                continue;
            }
            if (++nd > 19) goto slow;
            dig = dig * 10 + (uint64_t)(*p - '0');
            if (point) x--;
        } else if (*p == '.' && !point) {
            point = true;
        } else {
            break;
        }
    }
    if (!any) goto slow;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = p < end && *p == '-';
        if (p < end && (*p == '-' || *p == '+')) p++;
        int ex = 0, ed = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++, ed++)
            if (ex < 1000) ex = ex * 10 + (*p - '0');
        if (!ed) goto slow;
        x += eneg ? -ex : ex;
    }
    if (p != end) goto slow;
    if (dig == 0) return neg ? -0.0 : 0.0;
    if (x < -27 || x > 27) goto slow;
    long double v = x < 0 ? (long double)dig / P10L[-x] : (long double)dig * P10L[x];
    uint64_t mant;
    memcpy(&mant, &v, sizeof mant);
    if ((mant & 0x7ff) == 0x400) goto slow;
    return neg ? -(double)v : (double)v;
slow:;
#endif
    char num[64];
    if (n >= sizeof num) {
        char *t = cn_malloc(n + 1);
        if (!t) return NAN;
        memcpy(t, s, n);
        t[n] = 0;
        double d = strtod(t, NULL);
        cn_free(t);
        return d;
    }
    memcpy(num, s, n);
    num[n] = 0;
    return strtod(num, NULL);
}

const char *cn_json_string_end(const char *p, const char *end) {
    /* memchr finds each quote (feature names and stored texts are most of an answer); a
     * quote after an odd run of backslashes is escaped */
    for (p++; p < end;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return NULL;
        const char *b = q;
        while (b > p && b[-1] == '\\') b--;
        if (((q - b) & 1) == 0) return q + 1;
        p = q + 1;
    }
    return NULL;
}

void cn_json_copy_short_reals(CnBuf *b, const char *s, size_t n) {
    const char *end = s + n, *run = s, *p = s;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            const char *q = cn_json_string_end(p, end);
            p = q ? q : end;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            const char *t = p;
            int digits = 0;
            bool real = false;
            while (p < end && ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' || *p == 'e' ||
                               *p == 'E')) {
                if (*p >= '0' && *p <= '9') digits++;
                else if (*p == '.' || *p == 'e' || *p == 'E') real = true;
                p++;
            }
            if (real && digits >= 16) { /* shorter texts are the shortest form already */
                char txt[CN_JSON_REAL_MAX];
                cn_buf_append(b, run, (size_t)(t - run));
                cn_buf_append(b, txt, cn_json_real_text(cn_json_real_parse(t, (size_t)(p - t)), txt));
                run = p;
            }
        } else {
            p++;
        }
    }
    cn_buf_append(b, run, (size_t)(end - run));
}
