/* enc.c: Parquet's integer encodings: the RLE/bit-packed hybrid (levels, dictionary
 * indexes, booleans) and DELTA_BINARY_PACKED. Decoders bound every read by the page end
 * and report CN_ECORRUPT; bit-packed values are read little-endian, LSB first. */
#include "base/compat.h"

#include <string.h>

#include "io/parquet/pq_int.h"

/* Reads w (<= 64) bits at bit offset off of base, where base holds n bytes. */
static inline uint64_t read_bits(const uint8_t *base, size_t n, uint64_t off, int w) {
    if (w == 0) return 0;
    size_t byte = (size_t)(off >> 3);
    int shift = (int)(off & 7);
    uint64_t lo;
    if (byte + 8 <= n) {
        memcpy(&lo, base + byte, 8);
    } else {
        lo = 0;
        for (size_t i = 0; i < 8 && byte + i < n; i++) lo |= (uint64_t)base[byte + i] << (8 * i);
    }
    uint64_t v = lo >> shift;
    if (shift + w > 64) {
        uint64_t hi = byte + 8 < n ? base[byte + 8] : 0;
        v |= hi << (64 - shift);
    }
    return w == 64 ? v : v & ((UINT64_C(1) << w) - 1);
}

void cn_pq__rle_init(CnPqRle *r, const uint8_t *p, size_t len, int bw) {
    memset(r, 0, sizeof *r);
    r->p = p;
    r->end = p + len;
    r->bw = bw;
}

static int rle_next_run(CnPqRle *r, CnErr *err) {
    uint64_t h = 0;
    int shift = 0;
    for (;;) {
        if (r->p >= r->end)
            return cn_err_set(err, CN_ECORRUPT, "RLE/bit-packed data ends before all values were read");
        uint8_t b = *r->p++;
        h |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
        shift += 7;
        if (shift > 35) return cn_err_set(err, CN_ECORRUPT, "RLE run header too long");
    }
    if (h & 1) {
        uint64_t groups = h >> 1;
        uint64_t bytes = groups * (uint64_t)r->bw;
        uint64_t count = groups * 8;
        if (bytes > (uint64_t)(r->end - r->p)) {
            /* some writers cut the padding of the last run: keep the values present */
            bytes = (uint64_t)(r->end - r->p);
            count = bytes * 8 / (uint64_t)r->bw;
            if (count == 0) return cn_err_set(err, CN_ECORRUPT, "bit-packed run past the end of the data");
        }
        r->bp = r->p;
        r->bp_left = (uint32_t)CN_MIN(count, UINT32_MAX);
        r->bp_pos = 0;
        r->p += bytes;
    } else {
        int nb = (r->bw + 7) / 8;
        if (r->end - r->p < nb) return cn_err_set(err, CN_ECORRUPT, "RLE run value past the end of the data");
        uint32_t v = 0;
        for (int i = 0; i < nb; i++) v |= (uint32_t)r->p[i] << (8 * i);
        r->p += nb;
        r->rle_value = v;
        r->rle_left = (uint32_t)CN_MIN(h >> 1, UINT32_MAX);
    }
    return 0;
}

bool cn_pq__rle_one_run(const uint8_t *p, size_t len, int bw, uint32_t n, uint32_t *value) {
    CnPqRle r;
    cn_pq__rle_init(&r, p, len, bw);
    if (rle_next_run(&r, NULL) < 0 || r.rle_left < n) return false;
    *value = r.rle_value;
    return true;
}

#define RLE_GET(name, T)                                                        \
    int name(CnPqRle *r, T *out, uint32_t n, CnErr *err) {                      \
        while (n) {                                                             \
            if (r->rle_left) {                                                  \
                uint32_t k = CN_MIN(r->rle_left, n);                            \
                T v = (T)r->rle_value;                                          \
                for (uint32_t i = 0; i < k; i++) out[i] = v;                    \
                out += k;                                                       \
                n -= k;                                                         \
                r->rle_left -= k;                                               \
            } else if (r->bp_left) {                                            \
                uint32_t k = CN_MIN(r->bp_left, n);                             \
                size_t avail = (size_t)(r->p - r->bp);                          \
                int bw = r->bw;                                                 \
                uint64_t off = (uint64_t)r->bp_pos * (uint64_t)bw;              \
                uint32_t i = 0;                                                 \
                if (bw > 0 && bw <= 32) {                                       \
                    /* unchecked 8-byte loads while they stay inside the run */ \
                    uint64_t mask = (UINT64_C(1) << bw) - 1;                    \
                    for (; i < k && (off >> 3) + 8 <= avail; i++, off += (uint64_t)bw) { \
                        uint64_t wd;                                            \
                        memcpy(&wd, r->bp + (off >> 3), 8);                     \
                        out[i] = (T)((wd >> (off & 7)) & mask);                 \
                    }                                                           \
                }                                                               \
                for (; i < k; i++, off += (uint64_t)bw)                         \
                    out[i] = (T)read_bits(r->bp, avail, off, bw);               \
                out += k;                                                       \
                n -= k;                                                         \
                r->bp_left -= k;                                                \
                r->bp_pos += k;                                                 \
            } else {                                                            \
                int rc = rle_next_run(r, err);                                  \
                if (rc < 0) return rc;                                          \
            }                                                                   \
        }                                                                       \
        return 0;                                                               \
    }

RLE_GET(cn_pq__rle_get_u8, uint8_t)
RLE_GET(cn_pq__rle_get_u32, uint32_t)

int cn_pq__rle_gather_u64(CnPqRle *r, const uint64_t *dict, uint32_t nd, uint64_t *out, uint32_t n, CnErr *err) {
    if (n && !nd) return 1;
    bool bad = false;
    while (n) {
        if (r->rle_left) {
            uint32_t k = CN_MIN(r->rle_left, n);
            if (r->rle_value >= nd) return 1;
            uint64_t v = dict[r->rle_value];
            for (uint32_t i = 0; i < k; i++) out[i] = v;
            out += k;
            n -= k;
            r->rle_left -= k;
        } else if (r->bp_left) {
            uint32_t k = CN_MIN(r->bp_left, n);
            size_t avail = (size_t)(r->p - r->bp);
            int bw = r->bw;
            uint64_t off = (uint64_t)r->bp_pos * (uint64_t)bw;
            uint32_t i = 0;
            if (bw > 0 && bw <= 32) {
                /* an index past the dictionary reads entry 0 and is noted: no branch */
                uint64_t mask = (UINT64_C(1) << bw) - 1;
                for (; i < k && (off >> 3) + 8 <= avail; i++, off += (uint64_t)bw) {
                    uint64_t wd;
                    memcpy(&wd, r->bp + (off >> 3), 8);
                    uint64_t id = (wd >> (off & 7)) & mask;
                    bad |= id >= nd;
                    out[i] = dict[id < nd ? id : 0];
                }
            }
            for (; i < k; i++, off += (uint64_t)bw) {
                uint64_t id = read_bits(r->bp, avail, off, bw);
                bad |= id >= nd;
                out[i] = dict[id < nd ? id : 0];
            }
            out += k;
            n -= k;
            r->bp_left -= k;
            r->bp_pos += k;
        } else {
            int rc = rle_next_run(r, err);
            if (rc < 0) return rc;
        }
    }
    return bad ? 1 : 0;
}

/* ---------------------------------------------------------------- encoder */

static void put_varint(CnBuf *b, uint64_t v) {
    uint8_t tmp[10];
    int n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    cn_buf_append(b, tmp, (size_t)n);
}

/* Packs n values (n a multiple of 8) of width bw, LSB first. */
static void pack_bits_u32(CnBuf *b, const uint32_t *v, uint32_t n, int bw) {
    if (cn_buf_reserve(b, (size_t)n * (size_t)bw / 8 + 8) < 0) return;
    uint8_t *o = (uint8_t *)b->data + b->len;
    uint64_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++) { /* bits < 32 before each value and bw <= 32: no overflow */
        acc |= (uint64_t)v[i] << bits;
        bits += bw;
        if (bits >= 32) { /* four bytes at a time instead of a loop per byte */
            o[k] = (uint8_t)acc;
            o[k + 1] = (uint8_t)(acc >> 8);
            o[k + 2] = (uint8_t)(acc >> 16);
            o[k + 3] = (uint8_t)(acc >> 24);
            k += 4;
            acc >>= 32;
            bits -= 32;
        }
    }
    for (; bits > 0; bits -= 8, acc >>= 8) o[k++] = (uint8_t)acc;
    b->len += k;
    b->data[b->len] = 0;
}

/* Length of the run of values equal to v[i], at most cap. Bytes are compared eight at
 * a time: the levels of a column are mostly long runs. */
static inline uint32_t run_u8(const uint8_t *v, uint32_t n, uint32_t i, uint32_t cap) {
    uint32_t lim = n - i < cap ? n - i : cap, r = 0;
    uint64_t pat = UINT64_C(0x0101010101010101) * v[i];
    for (; r + 8 <= lim; r += 8) {
        uint64_t w;
        memcpy(&w, v + i + r, 8);
        if (w != pat) return r + (uint32_t)(__builtin_ctzll(w ^ pat) >> 3); /* little-endian: first differing byte */
    }
    while (r < lim && v[i + r] == v[i]) r++;
    return r;
}

static inline uint32_t run_u32(const uint32_t *v, uint32_t n, uint32_t i, uint32_t cap) {
    uint32_t lim = n - i < cap ? n - i : cap, r = 1;
    while (r < lim && v[i + r] == v[i]) r++;
    return r;
}

/* Eight values of bw bits (bw <= 8) packed into bw bytes, little-endian (inlined per bw:
 * constant shifts). */
static inline void pack8_u8(uint8_t *o, const uint8_t *v, int bw) {
    uint64_t acc = 0;
    for (int k = 0; k < 8; k++) acc |= (uint64_t)v[k] << (k * bw);
    for (int k = 0; k < bw; k++) o[k] = (uint8_t)(acc >> (8 * k));
}

/* Bit-packs cnt values of v as groups x 8 (zeros after cnt). Bytes, bw <= 8: each group
 * of eight is bw whole bytes. */
static void pack_groups_u8(CnBuf *b, const uint8_t *v, uint32_t cnt, uint32_t groups, int bw) {
    if (cn_buf_reserve(b, (size_t)groups * (size_t)bw + 9) < 0) return;
    uint8_t *o = (uint8_t *)b->data + b->len;
    uint32_t full = cnt / 8;
    switch (bw) { /* the usual level widths get loops of their own */
    case 1: for (uint32_t g = 0; g < full; g++) pack8_u8(o + g, v + 8 * g, 1); break;
    case 2: for (uint32_t g = 0; g < full; g++) pack8_u8(o + 2 * g, v + 8 * g, 2); break;
    default: for (uint32_t g = 0; g < full; g++) pack8_u8(o + (size_t)bw * g, v + 8 * g, bw); break;
    }
    if (full < groups) { /* the last group, padded with zeros */
        uint8_t last[8] = {0};
        memcpy(last, v + 8 * full, cnt - 8 * full);
        pack8_u8(o + (size_t)bw * full, last, bw);
    }
    b->len += (size_t)groups * (size_t)bw;
    b->data[b->len] = 0;
}

static void pack_groups_u32(CnBuf *b, const uint32_t *v, uint32_t cnt, uint32_t groups, int bw) {
    if (cnt == groups * 8) { /* whole groups: packed in place, no copy */
        pack_bits_u32(b, v, cnt, bw);
        return;
    }
    uint32_t grp[8 * 64];
    for (uint32_t k = 0; k < groups * 8; k++) grp[k] = k < cnt ? v[k] : 0;
    pack_bits_u32(b, grp, groups * 8, bw);
}

/* RLE/bit-packed hybrid: a run of 8 or more equal values is an RLE run, anything else
 * goes into bit-packed groups of 8 until a long run starts at a group edge (63 groups
 * at most per header). */
#define RLE_ENCODE(name, T, RUN, PACK)                                          \
    void name(CnBuf *b, const T *v, uint32_t n, int bw) {                       \
        uint32_t i = 0;                                                         \
        int nb = (bw + 7) / 8;                                                  \
        while (i < n) {                                                         \
            uint32_t run = RUN(v, n, i, UINT32_MAX);                            \
            if (run >= 8) {                                                     \
                put_varint(b, (uint64_t)run << 1);                              \
                uint32_t x = (uint32_t)v[i];                                    \
                for (int k = 0; k < nb; k++) cn_buf_putc(b, (char)(x >> (8 * k))); \
                i += run;                                                       \
                continue;                                                       \
            }                                                                   \
            uint32_t start = i, groups = 0;                                     \
            while (i < n && groups < 63) {                                      \
                i = i + 8 < n ? i + 8 : n;                                      \
                groups++;                                                       \
                if (i < n && RUN(v, n, i, 8) >= 8) break;                       \
            }                                                                   \
            put_varint(b, ((uint64_t)groups << 1) | 1);                         \
            PACK(b, v + start, i - start, groups, bw);                          \
        }                                                                       \
    }

RLE_ENCODE(cn_pq__rle_encode_u8, uint8_t, run_u8, pack_groups_u8)
RLE_ENCODE(cn_pq__rle_encode_u32, uint32_t, run_u32, pack_groups_u32)

/* ------------------------------------------------------ DELTA_BINARY_PACKED */

typedef struct VarIn {
    const uint8_t *p, *end;
    bool bad;
} VarIn;

static uint64_t vi_varint(VarIn *in) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (in->p >= in->end) break;
        uint8_t b = *in->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    in->bad = true;
    return 0;
}

static int64_t vi_zigzag(VarIn *in) {
    uint64_t u = vi_varint(in);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

typedef struct DeltaHdr {
    uint64_t block, n_mini, total;
    int64_t first;
} DeltaHdr;

static int delta_hdr(VarIn *in, DeltaHdr *h, CnErr *err) {
    h->block = vi_varint(in);
    h->n_mini = vi_varint(in);
    h->total = vi_varint(in);
    h->first = vi_zigzag(in);
    if (in->bad) return cn_err_set(err, CN_ECORRUPT, "DELTA_BINARY_PACKED header truncated");
    if (h->block == 0 || h->block % 128 || h->n_mini == 0 || h->block % h->n_mini ||
        (h->block / h->n_mini) % 32 || h->block > (1u << 20))
        return cn_err_set(err, CN_ECORRUPT,
                          "DELTA_BINARY_PACKED header: block size %llu with %llu miniblocks is invalid",
                          (unsigned long long)h->block, (unsigned long long)h->n_mini);
    if (h->total > UINT32_MAX)
        return cn_err_set(err, CN_ECORRUPT, "DELTA_BINARY_PACKED header: %llu values",
                          (unsigned long long)h->total);
    return 0;
}

/* Adds the k deltas (min_delta + w-bit value) of the miniblock at p (bytes long, avail
 * readable bytes from p on) to prev, storing each running value in out; returns the last.
 * Widths up to 56 bits read each value with one unaligned 8-byte load while the load
 * stays within avail (the miniblocks after this one may be read but are masked off);
 * the rest go through read_bits. */
static uint64_t unpack_deltas(const uint8_t *p, size_t avail, size_t bytes, int w, uint32_t k, uint64_t prev,
                              uint64_t min_delta, int64_t *out) {
    uint32_t j = 0;
    uint64_t off = 0;
    if (w == 0) {
        for (; j < k; j++) out[j] = (int64_t)(prev += min_delta);
        return prev;
    }
    if (w <= 56) {
        uint64_t mask = (UINT64_C(1) << w) - 1;
        /* all k when 8 bytes past the miniblock are readable (no division per miniblock) */
        uint32_t fast = avail >= bytes + 8 ? k
                        : avail >= 8     ? (uint32_t)CN_MIN((uint64_t)k, ((uint64_t)(avail - 8) * 8) / (uint64_t)w + 1)
                                         : 0;
        for (; j < fast; j++, off += (uint64_t)w) {
            uint64_t x;
            memcpy(&x, p + (off >> 3), 8);
            prev += min_delta + ((x >> (off & 7)) & mask);
            out[j] = (int64_t)prev;
        }
    }
    for (; j < k; j++, off += (uint64_t)w) {
        prev += min_delta + read_bits(p, bytes, off, w);
        out[j] = (int64_t)prev;
    }
    return prev;
}

int cn_pq__delta_count(const uint8_t *p, size_t len, uint32_t *n, CnErr *err) {
    VarIn in = {p, p + len, false};
    DeltaHdr h;
    int rc = delta_hdr(&in, &h, err);
    if (rc < 0) return rc;
    *n = (uint32_t)h.total;
    return 0;
}

int cn_pq__delta_decode(const uint8_t *p, size_t len, int64_t *out, uint32_t max_n,
                        uint32_t *n_out, size_t *used, CnErr *err) {
    VarIn in = {p, p + len, false};
    DeltaHdr h;
    int rc = delta_hdr(&in, &h, err);
    if (rc < 0) return rc;
    if (h.total > max_n)
        return cn_err_set(err, CN_ECORRUPT, "DELTA_BINARY_PACKED holds %llu values, expected at most %u",
                          (unsigned long long)h.total, max_n);
    uint32_t total = (uint32_t)h.total, i = 0;
    uint64_t per_mini = h.block / h.n_mini;
    uint64_t prev = (uint64_t)h.first;
    if (total) out[i++] = h.first;
    while (i < total) {
        uint64_t min_delta = (uint64_t)vi_zigzag(&in);
        if (in.bad || (uint64_t)(in.end - in.p) < h.n_mini)
            return cn_err_set(err, CN_ECORRUPT, "DELTA_BINARY_PACKED block header truncated at value %u of %u",
                              i, total);
        const uint8_t *widths = in.p;
        in.p += h.n_mini;
        for (uint64_t m = 0; m < h.n_mini && i < total; m++) {
            int w = widths[m];
            if (w > 64) return cn_err_set(err, CN_ECORRUPT, "DELTA_BINARY_PACKED bit width %d", w);
            size_t bytes = (size_t)(per_mini * (uint64_t)w / 8);
            if ((size_t)(in.end - in.p) < bytes)
                return cn_err_set(err, CN_ECORRUPT, "DELTA_BINARY_PACKED miniblock truncated at value %u of %u",
                                  i, total);
            uint32_t k = (uint32_t)CN_MIN(per_mini, (uint64_t)(total - i));
            prev = unpack_deltas(in.p, (size_t)(in.end - in.p), bytes, w, k, prev, min_delta, out + i);
            i += k;
            in.p += bytes;
        }
    }
    *n_out = total;
    *used = (size_t)(in.p - p);
    return 0;
}

void cn_pq__delta_encode(CnBuf *b, const int64_t *v, uint32_t n) {
    enum { BLOCK = 128, MINI = 4, PER = BLOCK / MINI };
    put_varint(b, BLOCK);
    put_varint(b, MINI);
    put_varint(b, n);
    int64_t first = n ? v[0] : 0;
    put_varint(b, ((uint64_t)first << 1) ^ (uint64_t)(first >> 63));
    uint64_t d[BLOCK];
    for (uint32_t i = 1; i < n;) {
        uint32_t k = CN_MIN((uint32_t)BLOCK, n - i);
        uint64_t mn = UINT64_MAX;
        int64_t mn_s = INT64_MAX;
        for (uint32_t j = 0; j < k; j++) {
            int64_t dd = (int64_t)((uint64_t)v[i + j] - (uint64_t)v[i + j - 1]);
            d[j] = (uint64_t)dd;
            if (dd < mn_s) mn_s = dd;
        }
        mn = (uint64_t)mn_s;
        put_varint(b, ((uint64_t)mn_s << 1) ^ (uint64_t)(mn_s >> 63));
        uint8_t widths[MINI] = {0};
        for (uint32_t m = 0; m < MINI; m++) {
            uint64_t mx = 0;
            for (uint32_t j = m * PER; j < k && j < (m + 1) * PER; j++) mx |= d[j] - mn;
            widths[m] = (uint8_t)(m * PER < k ? cn_pq__bit_width(mx) : 0);
        }
        cn_buf_append(b, widths, MINI);
        for (uint32_t m = 0; m < MINI && m * PER < k; m++) {
            int w = widths[m];
            if (w < 64) {
                /* values gathered in a register, stored eight bytes at a time (a store
                 * per value into overlapping bytes would wait on the one before) */
                size_t bytes = (size_t)PER * (size_t)w / 8;
                if (cn_buf_reserve(b, bytes + 8) < 0) {
                    b->oom = true;
                    return;
                }
                uint8_t *o = (uint8_t *)b->data + b->len;
                uint64_t acc = 0;
                int bits = 0;
                for (uint32_t j = m * PER; j < (m + 1) * PER; j++) {
                    uint64_t x = j < k ? d[j] - mn : 0;
                    acc |= x << bits; /* bits < 64 */
                    bits += w;
                    if (bits >= 64) {
                        memcpy(o, &acc, 8); /* little-endian hosts only, as below */
                        o += 8;
                        bits -= 64;
                        acc = x >> (w - bits); /* the high bits that did not fit (w < 64) */
                    }
                }
                memcpy(o, &acc, 8); /* the last (bits + 7) / 8 bytes; the rest is slack */
                b->len += bytes;
                b->data[b->len] = 0; /* CnBuf stays NUL-terminated */
                continue;
            }
            uint64_t acc = 0;
            int bits = 0;
            for (uint32_t j = m * PER; j < (m + 1) * PER; j++) {
                uint64_t x = j < k ? d[j] - mn : 0;
                for (int left = w; left > 0;) {
                    int take = CN_MIN(left, 64 - bits);
                    uint64_t part = take == 64 ? x : (x & ((UINT64_C(1) << take) - 1));
                    acc |= bits == 64 ? 0 : part << bits;
                    bits += take;
                    x = take == 64 ? 0 : x >> take;
                    left -= take;
                    if (bits == 64) {
                        cn_buf_append(b, &acc, 8); /* little-endian hosts only (x86-64, arm64) */
                        acc = 0;
                        bits = 0;
                    }
                }
            }
            while (bits > 0) {
                cn_buf_putc(b, (char)acc);
                acc >>= 8;
                bits -= 8;
            }
        }
        i += k;
    }
}
