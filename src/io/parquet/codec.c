/* codec.c: page compression. Sizes come from page headers, which we do not trust: a
 * codec must produce exactly the announced number of bytes or the page is corrupt. */
#include "base/compat.h"

#include <string.h>

#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "io/parquet/pq_int.h"

int cn_pq__decompress(int codec, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
                      CnErr *err) {
    switch (codec) {
    case CN_PQ_CODEC_UNCOMPRESSED:
        if (in_len != out_len)
            return cn_err_set(err, CN_ECORRUPT, "uncompressed page is %zu bytes, header says %zu", in_len, out_len);
        if (out_len) memcpy(out, in, out_len);
        return 0;
    case CN_PQ_CODEC_SNAPPY: {
        size_t n = 0;
        if (snappy_uncompressed_length((const char *)in, in_len, &n) != SNAPPY_OK || n != out_len)
            return cn_err_set(err, CN_ECORRUPT, "snappy page does not decode to the %zu bytes announced", out_len);
        n = out_len;
        if (snappy_uncompress((const char *)in, in_len, (char *)out, &n) != SNAPPY_OK || n != out_len)
            return cn_err_set(err, CN_ECORRUPT, "snappy page is corrupt");
        return 0;
    }
    case CN_PQ_CODEC_ZSTD: {
        /* frames may be concatenated; ZSTD_decompress handles that */
        size_t n = ZSTD_decompress(out, out_len, in, in_len);
        if (ZSTD_isError(n))
            return cn_err_set(err, CN_ECORRUPT, "zstd page is corrupt: %s", ZSTD_getErrorName(n));
        if (n != out_len)
            return cn_err_set(err, CN_ECORRUPT, "zstd page decodes to %zu bytes, header says %zu", n, out_len);
        return 0;
    }
    case CN_PQ_CODEC_GZIP: {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, 15 + 32) != Z_OK) return cn_err_set(err, CN_ENOMEM, "gzip: cannot start inflate");
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)in_len;
        z.next_out = out;
        z.avail_out = (uInt)out_len;
        int zr;
        for (;;) {
            zr = inflate(&z, Z_FINISH);
            /* concatenated gzip members: restart on the rest */
            if (zr == Z_STREAM_END && z.avail_in > 0 && z.avail_out > 0) {
                if (inflateReset(&z) != Z_OK) break;
                continue;
            }
            break;
        }
        size_t n = out_len - z.avail_out;
        inflateEnd(&z);
        if (zr != Z_STREAM_END || n != out_len)
            return cn_err_set(err, CN_ECORRUPT, "gzip page is corrupt or decodes to %zu bytes, header says %zu", n,
                              out_len);
        return 0;
    }
    default: break;
    }
    return cn_err_set(err, CN_EUNSUPPORTED, "compression codec %s is not supported (supported: UNCOMPRESSED, SNAPPY, GZIP, ZSTD)",
                      cn_pq_codec_name(codec));
}

int cn_pq__compress(int codec, int level, const uint8_t *in, size_t in_len, CnBuf *b, CnErr *err) {
    switch (codec) {
    case CN_PQ_CODEC_UNCOMPRESSED:
        if (cn_buf_append(b, in, in_len) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
        return 0;
    case CN_PQ_CODEC_SNAPPY: {
        size_t cap = snappy_max_compressed_length(in_len);
        if (cn_buf_reserve(b, cap + 1) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
        size_t n = cap;
        if (snappy_compress((const char *)in, in_len, b->data + b->len, &n) != SNAPPY_OK)
            return cn_err_set(err, CN_EINTERNAL, "snappy compression failed");
        b->len += n;
        return 0;
    }
    case CN_PQ_CODEC_ZSTD: {
        size_t cap = ZSTD_compressBound(in_len);
        if (cn_buf_reserve(b, cap + 1) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
        size_t n = ZSTD_compress(b->data + b->len, cap, in, in_len, level ? level : 1);
        if (ZSTD_isError(n)) return cn_err_set(err, CN_EINTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(n));
        b->len += n;
        return 0;
    }
    case CN_PQ_CODEC_GZIP: {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (deflateInit2(&z, level ? level : 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return cn_err_set(err, CN_ENOMEM, "gzip: cannot start deflate");
        size_t cap = deflateBound(&z, (uLong)in_len) + 32;
        if (cn_buf_reserve(b, cap + 1) < 0) {
            deflateEnd(&z);
            return cn_err_set(err, CN_ENOMEM, "out of memory");
        }
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)in_len;
        z.next_out = (Bytef *)b->data + b->len;
        z.avail_out = (uInt)cap;
        int zr = deflate(&z, Z_FINISH);
        size_t n = cap - z.avail_out;
        deflateEnd(&z);
        if (zr != Z_STREAM_END) return cn_err_set(err, CN_EINTERNAL, "gzip compression failed");
        b->len += n;
        return 0;
    }
    default: break;
    }
    return cn_err_set(err, CN_EINVAL, "cannot write codec %s (supported: UNCOMPRESSED, SNAPPY, GZIP, ZSTD)",
                      cn_pq_codec_name(codec));
}
