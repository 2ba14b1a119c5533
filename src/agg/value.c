/* value.c: payload bytes of one input value (what FIRST/LAST, K-lists, sets and
 * histograms store), their natural order (D15, D17), the opaque container codec, Java's
 * Double.toString (D26) and a stable index sort with a context. */
#include "agg/agg_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------ ordering */

/* Sort weight of a code point in UTF-16 code unit order: supplementary characters
 * (surrogate pairs D800..DFFF) sort between U+D7FF and U+E000. */
static uint32_t utf16_weight(uint32_t cp) {
    if (cp < 0xD800) return cp;
    if (cp < 0x10000) return cp + 0x200000; /* U+D800..U+FFFF: above every supplementary */
    return cp;
}

static uint32_t decode_cp(const uint8_t *s, uint32_t len, uint32_t i) {
    uint8_t c = s[i];
    if (c < 0x80) return c;
    uint32_t n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    uint32_t cp = c & (0x3F >> n);
    for (uint32_t j = 1; j <= n && i + j < len; j++) cp = (cp << 6) | (s[i + j] & 0x3F);
    return cp;
}

int cn_agg__utf16_cmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen) {
    uint32_t n = alen < blen ? alen : blen;
    uint32_t i = 0;
    while (i < n && a[i] == b[i]) i++;
    if (i == n) return alen < blen ? -1 : alen > blen;
    if (a[i] < 0x80 && b[i] < 0x80) return a[i] < b[i] ? -1 : 1; /* OPT-ONLY */
    /* back up to the start of the code point holding the first difference */
    while (i > 0 && (a[i] & 0xC0) == 0x80) i--;
    uint32_t wa = utf16_weight(decode_cp(a, alen, i));
    uint32_t wb = utf16_weight(decode_cp(b, blen, i));
    if (wa != wb) return wa < wb ? -1 : 1;
    return memcmp(a + i, b + i, 1) < 0 ? -1 : 1; /* malformed UTF-8: bytes decide */
}

static int dbl_cmp(double x, double y) {
    bool nx = x != x, ny = y != y;
    if (nx || ny) return nx == ny ? 0 : nx ? 1 : -1; /* NaN above every number */
    return x < y ? -1 : x > y;
}

int cn_agg__payload_cmp(CnTypeId sc, const uint8_t *a, uint32_t alen, const uint8_t *b,
                        uint32_t blen) {
    switch (sc) {
    case CN_COL_BOOL: return a[0] < b[0] ? -1 : a[0] > b[0];
    case CN_COL_INT32: {
        int32_t x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        return x < y ? -1 : x > y;
    }
    case CN_COL_INT64: {
        int64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        return x < y ? -1 : x > y;
    }
    case CN_COL_FLOAT32: {
        float x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        return dbl_cmp(x, y);
    }
    case CN_COL_FLOAT64: {
        double x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        return dbl_cmp(x, y);
    }
    case CN_COL_STRING: return cn_agg__utf16_cmp(a, alen, b, blen);
    default: return cn_bytes_cmp(a, alen, b, blen);
    }
}

/* --------------------------------------------------------------- codec */

/* Opaque container values: per entry a tag byte (0 null, 1 valid) then, when valid:
 * fixed types raw (native width), string/binary u32 length + bytes, list/map u32 count +
 * entries (map: key then value), struct each field. Little-endian. */
static int codec_put(CnBuf *b, const CnVec *v, uint32_t i) {
    if (!cn_col_vec_is_valid(v, i)) return cn_buf_putc(b, 0);
    int rc = cn_buf_putc(b, 1);
    CnTypeId id = v->type->id;
    size_t w = cn_col_type_width(id);
    if (w) return rc | cn_buf_append(b, (const uint8_t *)v->values + (size_t)i * w, w);
    switch (id) {
    case CN_COL_STRING: case CN_COL_BINARY: {
        uint32_t len;
        const char *p = cn_col_vec_str(v, i, &len);
        rc |= cn_buf_append(b, &len, 4);
        return rc | cn_buf_append(b, p, len);
    }
    case CN_COL_LIST: case CN_COL_MAP: {
        uint32_t lo = v->offsets[i], hi = v->offsets[i + 1], n = hi - lo;
        rc |= cn_buf_append(b, &n, 4);
        for (uint32_t e = lo; e < hi; e++) {
            rc |= codec_put(b, &v->child[0], e);
            if (id == CN_COL_MAP) rc |= codec_put(b, &v->child[1], e);
        }
        return rc;
    }
    case CN_COL_STRUCT:
        for (uint32_t c = 0; c < v->n_child; c++) rc |= codec_put(b, &v->child[c], i);
        return rc;
    default: return rc;
    }
}

int cn_agg__payload_put(CnBuf *b, const CnVec *v, uint32_t i, CnTypeId sc, bool canon_nan) {
    size_t w = cn_col_type_width(sc);
    if (w) {
        const uint8_t *p = (const uint8_t *)v->values + (size_t)i * w;
        if (canon_nan && sc == CN_COL_FLOAT64) {
            double d;
            memcpy(&d, p, 8);
            if (d != d) {
                uint64_t q = UINT64_C(0x7ff8000000000000);
                return cn_buf_append(b, &q, 8);
            }
        } else if (canon_nan && sc == CN_COL_FLOAT32) {
            float f;
            memcpy(&f, p, 4);
            if (f != f) {
                uint32_t q = 0x7fc00000u;
                return cn_buf_append(b, &q, 4);
            }
        }
        return cn_buf_append(b, p, w);
    }
    if (sc == CN_COL_STRING || sc == CN_COL_BINARY) {
        uint32_t len;
        const char *p = cn_col_vec_str(v, i, &len);
        return cn_buf_append(b, p, len);
    }
    /* containers: the entry is valid (nulls never reach a payload); skip the tag */
    size_t at = b->len;
    int rc = codec_put(b, v, i);
    if (rc == 0) {
        memmove(b->data + at, b->data + at + 1, b->len - at - 1);
        b->len--;
    }
    return rc;
}

typedef struct Rd {
    const uint8_t *p, *end;
} Rd;

static int codec_get(CnVec *out, Rd *r, bool tagged, int depth, CnErr *err) {
    int rc = 0;
    CN_CHECK_DATA(depth < 64, err, rc, "agg payload: nesting deeper than 64");
    if (tagged) {
        CN_CHECK_DATA(r->p < r->end, err, rc, "agg payload: truncated value tag");
        uint8_t tag = *r->p++;
        CN_CHECK_DATA(tag <= 1, err, rc, "agg payload: value tag %u, expected 0 or 1", tag);
        if (tag == 0) return cn_col_vec_append_null(out) ? CN_ENOMEM : 0;
    }
    CnTypeId id = out->type->id;
    size_t w = cn_col_type_width(id);
    if (w) {
        CN_CHECK_DATA((size_t)(r->end - r->p) >= w, err, rc, "agg payload: truncated %s",
                      cn_col_type_id_name(id));
        switch (id) {
        case CN_COL_BOOL:
            CN_CHECK_DATA(*r->p <= 1, err, rc, "agg payload: boolean byte %u", *r->p);
            rc = cn_col_vec_append_bool(out, *r->p);
            break;
        case CN_COL_INT32: case CN_COL_DATE: {
            int32_t x;
            memcpy(&x, r->p, 4);
            rc = cn_col_vec_append_i32(out, x);
            break;
        }
        case CN_COL_FLOAT32: {
            float x;
            memcpy(&x, r->p, 4);
            rc = cn_col_vec_append_f32(out, x);
            break;
        }
        case CN_COL_FLOAT64: {
            double x;
            memcpy(&x, r->p, 8);
            rc = cn_col_vec_append_f64(out, x);
            break;
        }
        default: {
            int64_t x;
            memcpy(&x, r->p, 8);
            rc = cn_col_vec_append_i64(out, x);
            break;
        }
        }
        r->p += w;
        return rc ? CN_ENOMEM : 0;
    }
    switch (id) {
    case CN_COL_STRING: case CN_COL_BINARY: {
        uint32_t len;
        CN_CHECK_DATA(r->end - r->p >= 4, err, rc, "agg payload: truncated string length");
        memcpy(&len, r->p, 4);
        r->p += 4;
        CN_CHECK_DATA((size_t)(r->end - r->p) >= len, err, rc,
                      "agg payload: string of %u bytes, %zu left", len, (size_t)(r->end - r->p));
        rc = cn_col_vec_append_str(out, r->p, len) ? CN_ENOMEM : 0;
        r->p += len;
        return rc;
    }
    case CN_COL_LIST: case CN_COL_MAP: {
        uint32_t n;
        CN_CHECK_DATA(r->end - r->p >= 4, err, rc, "agg payload: truncated list length");
        memcpy(&n, r->p, 4);
        r->p += 4;
        CN_CHECK_DATA(n <= (size_t)(r->end - r->p), err, rc, "agg payload: list of %u entries, %zu bytes left",
                      n, (size_t)(r->end - r->p));
        for (uint32_t e = 0; e < n; e++) {
            rc = codec_get(&out->child[0], r, true, depth + 1, err);
            if (rc < 0) goto done;
            if (id == CN_COL_MAP) {
                rc = codec_get(&out->child[1], r, true, depth + 1, err);
                if (rc < 0) goto done;
            }
        }
        return cn_col_vec_close_list(out) ? CN_ENOMEM : 0;
    }
    case CN_COL_STRUCT:
        for (uint32_t c = 0; c < out->n_child; c++) {
            rc = codec_get(&out->child[c], r, true, depth + 1, err);
            if (rc < 0) goto done;
        }
        return cn_col_vec_close_struct(out) ? CN_ENOMEM : 0;
    default:
        CN_CHECK_DATA(0, err, rc, "agg payload: unsupported type %s", cn_col_type_id_name(id));
    }
done:
    return rc;
}

int cn_agg__payload_append(CnVec *out, CnTypeId sc, const uint8_t *p, uint32_t len,
                           CnErr *err) {
    (void)sc;
    int rc = 0;
    if (out->type->id == CN_COL_STRING || out->type->id == CN_COL_BINARY)
        return cn_col_vec_append_str(out, p, len) ? cn_err_set(err, CN_ENOMEM, "agg: out of memory") : 0;
    size_t w = cn_col_type_width(out->type->id);
    CN_CHECK_DATA(!w || len == w, err, rc, "agg payload: %u bytes for a %s", len,
                  cn_col_type_id_name(out->type->id));
    Rd r = {p, p + len};
    rc = codec_get(out, &r, false, 0, err);
    if (rc < 0) return rc;
    CN_CHECK_DATA(r.p == r.end, err, rc, "agg payload: %zu trailing bytes",
                  (size_t)(r.end - r.p));
done:
    return rc;
}

/* ------------------------------------------------------ Java doubles */

int cn_agg__java_double(double x, char *buf, size_t len) {
    if (x != x) return snprintf(buf, len, "NaN");
    if (isinf(x)) return snprintf(buf, len, x > 0 ? "Infinity" : "-Infinity");
    if (x == 0) return snprintf(buf, len, signbit(x) ? "-0.0" : "0.0");
    char e[40];
    /* shortest %e that reads back exactly */
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, fabs(x));
        if (strtod(e, NULL) == fabs(x)) break;
    }
    char digits[24];
    int nd = 0;
    const char *p = e;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int point = exp10 + 1; /* decimal point position from the left of digits */
    double ax = fabs(x);
    char o[64];
    size_t k = 0;
    if (x < 0) o[k++] = '-';
    if (ax >= 1e-3 && ax < 1e7) {
        if (point <= 0) {
            o[k++] = '0';
            o[k++] = '.';
            for (int z = 0; z < -point; z++) o[k++] = '0';
            for (int d = 0; d < nd; d++) o[k++] = digits[d];
        } else if (point >= nd) {
            for (int d = 0; d < nd; d++) o[k++] = digits[d];
            for (int z = 0; z < point - nd; z++) o[k++] = '0';
            o[k++] = '.';
            o[k++] = '0';
        } else {
            for (int d = 0; d < nd; d++) {
                if (d == point) o[k++] = '.';
                o[k++] = digits[d];
            }
        }
        o[k] = 0;
        return snprintf(buf, len, "%s", o);
    }
    o[k] = 0;
    return snprintf(buf, len, "%s%c.%sE%d", o, digits[0], nd > 1 ? digits + 1 : "0", point - 1);
}

/* ---------------------------------------------------------------- sort */

void cn_agg__sort(uint32_t *idx, uint32_t n, uint32_t *tmp, CnAggCmp cmp, const void *ctx) {
    /* insertion sort on runs of 16, then bottom-up merges */
    const uint32_t run = 16;
    for (uint32_t lo = 0; lo < n; lo += run) {
        uint32_t hi = lo + run < n ? lo + run : n;
        for (uint32_t i = lo + 1; i < hi; i++) {
            uint32_t v = idx[i], j = i;
            while (j > lo && cmp(ctx, idx[j - 1], v) > 0) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = v;
        }
    }
    uint32_t *src = idx, *dst = tmp;
    for (uint32_t w = run; w < n; w *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * w) {
            uint32_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            uint32_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = cmp(ctx, src[j], src[i]) < 0 ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx) memcpy(idx, src, (size_t)n * sizeof *idx);
}
