/* container.c: the object container file: header (magic, metadata, sync marker) and
 * blocks of records, compressed with the null, deflate (raw zlib) or snappy codec.
 * The writer builds the whole file in memory (manifests are small; the caller stores
 * the bytes through the object store in one put). The reader works on bytes in memory
 * and decodes one record at a time into an arena reset per record. */
#include "base/compat.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <snappy-c.h>
#include <zlib.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "io/avro/avro_int.h"

typedef struct MetaEntry {
    const char *key;
    const uint8_t *val;
    size_t len;
} MetaEntry;

/* ---- codecs ---- */

static bool known_codec(const char *c) {
    return strcmp(c, "null") == 0 || strcmp(c, "deflate") == 0 || strcmp(c, "snappy") == 0;
}

static int compress_block(const char *codec, int level, const CnBuf *in, CnBuf *out, CnErr *err) {
    cn_buf_reset(out);
    if (strcmp(codec, "deflate") == 0) {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return cn_err_set(err, CN_ENOMEM, "deflate: cannot initialise zlib");
        size_t bound = deflateBound(&z, (uLong)in->len);
        if (cn_buf_reserve(out, bound)) {
            deflateEnd(&z);
            return cn_err_set(err, CN_ENOMEM, "deflate: out of memory");
        }
        z.next_in = (Bytef *)(in->len ? in->data : "");
        z.avail_in = (uInt)in->len;
        z.next_out = (Bytef *)out->data;
        z.avail_out = (uInt)bound;
        int zrc = deflate(&z, Z_FINISH);
        out->len = bound - z.avail_out;
        deflateEnd(&z);
        if (zrc != Z_STREAM_END) return cn_err_set(err, CN_EINTERNAL, "deflate failed (%d)", zrc);
        return 0;
    }
    if (strcmp(codec, "snappy") == 0) {
        size_t n = snappy_max_compressed_length(in->len);
        if (cn_buf_reserve(out, n + 4)) return cn_err_set(err, CN_ENOMEM, "snappy: out of memory");
        if (snappy_compress(in->len ? in->data : "", in->len, out->data, &n) != SNAPPY_OK)
            return cn_err_set(err, CN_EINTERNAL, "snappy compression failed");
        /* Avro's snappy blocks end with the CRC-32 of the uncompressed bytes, big-endian */
        uLong crc = crc32(0L, (const Bytef *)(in->len ? in->data : ""), (uInt)in->len);
        uint8_t c[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8),
                        (uint8_t)crc};
        out->len = n;
        return cn_buf_append(out, c, 4);
    }
    return cn_buf_append(out, in->data, in->len);
}

/* Uncompressed size is capped at CN_AVRO__MAX_BLOCK (a zip bomb ends in an error). */
static int decompress_block(const char *where, const char *codec, const uint8_t *p, size_t n,
                            CnBuf *out, CnErr *err) {
    cn_buf_reset(out);
    if (strcmp(codec, "deflate") == 0) {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, -15) != Z_OK)
            return cn_err_set(err, CN_ENOMEM, "%s: cannot initialise zlib", where);
        z.next_in = (Bytef *)p;
        z.avail_in = (uInt)n;
        int zrc = Z_OK, rc = 0;
        while (zrc != Z_STREAM_END) {
            size_t room = out->cap > out->len + 1 ? out->cap - out->len - 1 : 0;
            if (room < 4096) {
                size_t grow = CN_MAX(out->cap, n * 4 + 4096);
                if (out->len + grow > CN_AVRO__MAX_BLOCK) grow = CN_AVRO__MAX_BLOCK + 1 - out->len;
                if (grow == 0 || cn_buf_reserve(out, grow)) {
                    rc = grow == 0 ? cn_err_set(err, CN_ELIMIT,
                                                "%s: block inflates past %zu MiB", where,
                                                CN_AVRO__MAX_BLOCK >> 20)
                                   : cn_err_set(err, CN_ENOMEM, "%s: out of memory", where);
                    break;
                }
                room = out->cap - out->len - 1;
            }
            z.next_out = (Bytef *)out->data + out->len;
            z.avail_out = (uInt)CN_MIN(room, (size_t)UINT32_MAX);
            zrc = inflate(&z, Z_NO_FLUSH);
            out->len = (size_t)((char *)z.next_out - out->data);
            if (out->len > CN_AVRO__MAX_BLOCK) {
                rc = cn_err_set(err, CN_ELIMIT, "%s: block inflates past %zu MiB", where,
                                CN_AVRO__MAX_BLOCK >> 20);
                break;
            }
            if (zrc == Z_STREAM_END) break;
            if (zrc != Z_OK || (z.avail_in == 0 && z.avail_out != 0)) {
                rc = cn_err_set(err, CN_ECORRUPT, "%s: bad deflate data (%s)", where,
                                z.msg ? z.msg : "truncated");
                break;
            }
        }
        inflateEnd(&z);
        return rc;
    }
    if (strcmp(codec, "snappy") == 0) {
        size_t ulen = 0;
        if (n < 4 || snappy_uncompressed_length((const char *)p, n - 4, &ulen) != SNAPPY_OK)
            return cn_err_set(err, CN_ECORRUPT, "%s: bad snappy block header", where);
        if (ulen > CN_AVRO__MAX_BLOCK)
            return cn_err_set(err, CN_ELIMIT, "%s: snappy block of %zu bytes, limit %zu MiB",
                              where, ulen, CN_AVRO__MAX_BLOCK >> 20);
        if (cn_buf_reserve(out, ulen + 1)) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", where);
        if (snappy_uncompress((const char *)p, n - 4, out->data, &ulen) != SNAPPY_OK)
            return cn_err_set(err, CN_ECORRUPT, "%s: bad snappy data", where);
        out->len = ulen;
        uLong crc = crc32(0L, (const Bytef *)out->data, (uInt)ulen);
        const uint8_t *c = p + n - 4;
        uint32_t want = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
        if ((uint32_t)crc != want)
            return cn_err_set(err, CN_ECORRUPT, "%s: snappy block CRC-32 mismatch", where);
        return 0;
    }
    return cn_buf_append(out, p, n);
}

/* ---- writer ---- */

struct CnAvroWriter {
    const CnAvroSchemaDoc *schema;
    char codec[16];
    int level;
    size_t block_bytes;
    CnArena arena;              /* metadata copies */
    MetaEntry *meta;
    size_t n_meta, cap_meta;
    CnBuf file, block, zbuf;
    size_t block_count;
    uint8_t sync[CN_AVRO__SYNC_LEN];
    bool started;
    int rc;                     /* sticky first error */
    CnErr first;
};

static int sticky(CnAvroWriter *w, int rc, CnErr *err) {
    if (rc < 0 && w->rc == 0) {
        w->rc = rc;
        w->first = *err;
    }
    return rc;
}

int cn_avro_writer_new(const CnAvroSchemaDoc *schema, const CnAvroWriterOptions *opt,
                       CnAvroWriter **out, CnErr *err) {
    *out = NULL;
    CnAvroWriterOptions o = opt ? *opt : (CnAvroWriterOptions){0};
    const char *codec = o.codec ? o.codec : "null";
    if (!known_codec(codec))
        return cn_err_set(err, CN_EUNSUPPORTED,
                          "avro writer: codec \"%s\", expected null, deflate or snappy", codec);
    if (o.level < 0 || o.level > 9)
        return cn_err_set(err, CN_EINVAL, "avro writer: deflate level %d, expected 1..9", o.level);
    CnAvroWriter *w = cn_calloc(1, sizeof *w);
    if (!w) return cn_err_set(err, CN_ENOMEM, "avro writer: out of memory");
    w->schema = schema;
    snprintf(w->codec, sizeof w->codec, "%s", codec);
    w->level = o.level ? o.level : 6;
    w->block_bytes = o.block_bytes ? o.block_bytes : 64 * 1024;
    cn_arena_init(&w->arena, 0);
    /* a random sync marker, so that blocks of different files never look alike */
    if (getentropy(w->sync, sizeof w->sync) != 0) {
        uint64_t x = (uint64_t)(uintptr_t)w ^ (uint64_t)getpid() * 0x9E3779B97F4A7C15ull;
        for (size_t i = 0; i < sizeof w->sync; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            w->sync[i] = (uint8_t)(x >> 56);
        }
    }
    *out = w;
    return 0;
}

int cn_avro_writer_meta(CnAvroWriter *w, const char *key, const void *val, size_t len, CnErr *err) {
    if (w->rc) return cn_err_set(err, w->rc, "%s", cn_err_msg(&w->first));
    if (w->started)
        return cn_err_set(err, CN_EINVAL, "avro writer: metadata \"%s\" added after the first record",
                          key);
    if (strcmp(key, "avro.schema") == 0 || strcmp(key, "avro.codec") == 0)
        return cn_err_set(err, CN_EINVAL, "avro writer: metadata \"%s\" is set by the writer", key);
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0)
            return cn_err_set(err, CN_EINVAL, "avro writer: metadata \"%s\" given twice", key);
    if (w->n_meta == w->cap_meta) {
        size_t nc = w->cap_meta ? w->cap_meta * 2 : 8;
        MetaEntry *nm = cn_realloc(w->meta, nc * sizeof *nm);
        if (!nm) return cn_err_set(err, CN_ENOMEM, "avro writer: out of memory");
        w->meta = nm;
        w->cap_meta = nc;
    }
    char *k = cn_arena_strdup(&w->arena, key);
    uint8_t *v = cn_arena_alloc(&w->arena, len ? len : 1);
    if (!k || !v) return cn_err_set(err, CN_ENOMEM, "avro writer: out of memory");
    if (len) memcpy(v, val, len);
    w->meta[w->n_meta++] = (MetaEntry){k, v, len};
    return 0;
}

static void put_bytes(CnBuf *b, const void *p, size_t n) {
    cn_avro__write_long(b, (int64_t)n);
    if (n) cn_buf_append(b, p, n);
}

static void write_header(CnAvroWriter *w) {
    cn_buf_append(&w->file, CN_AVRO__MAGIC, 4);
    cn_avro__write_long(&w->file, (int64_t)w->n_meta + 2);
    const char *text = cn_avro_schema_text(w->schema);
    put_bytes(&w->file, "avro.schema", 11);
    put_bytes(&w->file, text, strlen(text));
    put_bytes(&w->file, "avro.codec", 10);
    put_bytes(&w->file, w->codec, strlen(w->codec));
    for (size_t i = 0; i < w->n_meta; i++) {
        put_bytes(&w->file, w->meta[i].key, strlen(w->meta[i].key));
        put_bytes(&w->file, w->meta[i].val, w->meta[i].len);
    }
    cn_avro__write_long(&w->file, 0);
    cn_buf_append(&w->file, w->sync, sizeof w->sync);
    w->started = true;
}

static int flush_block(CnAvroWriter *w, CnErr *err) {
    if (w->block_count == 0) return 0;
    int rc = compress_block(w->codec, w->level, &w->block, &w->zbuf, err);
    if (rc < 0) return rc;
    cn_avro__write_long(&w->file, (int64_t)w->block_count);
    cn_avro__write_long(&w->file, (int64_t)w->zbuf.len);
    cn_buf_append(&w->file, w->zbuf.data, w->zbuf.len);
    cn_buf_append(&w->file, w->sync, sizeof w->sync);
    cn_buf_reset(&w->block);
    w->block_count = 0;
    if (w->file.oom) return cn_err_set(err, CN_ENOMEM, "avro writer: out of memory");
    return 0;
}

int cn_avro_writer_append(CnAvroWriter *w, const CnAvroValue *v, CnErr *err) {
    if (w->rc) return cn_err_set(err, w->rc, "%s", cn_err_msg(&w->first));
    if (!w->started) write_header(w);
    size_t mark = w->block.len;
    CnAvroPath path = {.depth = 0};
    int rc = cn_avro__encode(&w->block, cn_avro_schema_root(w->schema), v, &path, err);
    if (rc < 0) {
        w->block.len = mark;  /* drop the partial record; the file stays well-formed */
        return sticky(w, rc, err);
    }
    if (w->block.oom) return sticky(w, cn_err_set(err, CN_ENOMEM, "avro writer: out of memory"), err);
    w->block_count++;
    if (w->block.len >= w->block_bytes) return sticky(w, flush_block(w, err), err);
    return 0;
}

int cn_avro_writer_finish(CnAvroWriter *w, CnBuf *out, CnErr *err) {
    if (w->rc) return cn_err_set(err, w->rc, "%s", cn_err_msg(&w->first));
    if (!w->started) write_header(w);
    int rc = flush_block(w, err);
    if (rc < 0) return sticky(w, rc, err);
    if (w->file.oom || cn_buf_append(out, w->file.data, w->file.len))
        return sticky(w, cn_err_set(err, CN_ENOMEM, "avro writer: out of memory"), err);
    return 0;
}

void cn_avro_writer_free(CnAvroWriter *w) {
    if (!w) return;
    cn_buf_fini(&w->file);
    cn_buf_fini(&w->block);
    cn_buf_fini(&w->zbuf);
    cn_free(w->meta);
    cn_arena_fini(&w->arena);
    cn_free(w);
}

/* ---- reader ---- */

struct CnAvroReader {
    char *name;                 /* OWNED */
    const uint8_t *data;        /* BORROWED, or owned_data */
    size_t len;
    char *owned_data;
    CnAvroSchemaDoc *wschema;
    const CnAvroSchemaDoc *rschema;
    int match;
    MetaEntry *meta;            /* keys and values point into data (keys copied) */
    size_t n_meta;
    CnArena hdr_arena;          /* metadata keys */
    char codec[16];
    uint8_t sync[CN_AVRO__SYNC_LEN];
    size_t pos;                 /* start of the next block */
    const uint8_t *bp, *bend;   /* records left in the current block */
    int64_t block_left, block_no, rec_no;
    CnBuf inflated;
    CnArena rec_arena;
    CnAvroValue value, resolved;
    char where[400];
};

static int parse_header(CnAvroReader *r, CnErr *err) {
    int rc = 0;
    CnAvroDec d = {.p = r->data, .end = r->data + r->len, .arena = &r->hdr_arena};
    char where[400];
    snprintf(where, sizeof where, "%s: header", r->name);
    d.where = where;
    CN_CHECK_DATA(r->len >= 4 && memcmp(r->data, CN_AVRO__MAGIC, 4) == 0, err, rc,
                  "%s: not an Avro object container file (expected magic \"Obj\\x01\" at byte 0)",
                  r->name);
    d.p += 4;
    size_t cap = 0;
    d.path.names[0] = "metadata";
    d.path.depth = 1;
    for (;;) {
        int64_t cnt;
        rc = cn_avro__read_long(&d, &cnt, err);
        if (rc < 0) goto done;
        if (cnt == 0) break;
        if (cnt < 0) {
            int64_t bytes;
            CN_CHECK_DATA(cnt != INT64_MIN, err, rc, "%s: metadata block count out of range", where);
            cnt = -cnt;
            rc = cn_avro__read_long(&d, &bytes, err);
            if (rc < 0) goto done;
        }
        CN_CHECK_DATA((uint64_t)cnt <= (uint64_t)(d.end - d.p) / 2, err, rc,
                      "%s: metadata claims %lld entries, more than the %zu bytes left can hold",
                      where, (long long)cnt, (size_t)(d.end - d.p));
        if (r->n_meta + (size_t)cnt > cap) {
            cap = r->n_meta + (size_t)cnt;
            MetaEntry *nm = cn_realloc(r->meta, cap * sizeof *nm);
            if (!nm) {
                rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", where);
                goto done;
            }
            r->meta = nm;
        }
        for (int64_t i = 0; i < cnt; i++) {
            CnAvroValue k, v;
            static const CnAvroSchema BYTES = {.type = CN_AVRO_BYTES, .name = "bytes"};
            rc = cn_avro__decode(&d, &cn_avro__key_schema, &k, err);
            if (rc == 0) rc = cn_avro__decode(&d, &BYTES, &v, err);
            if (rc < 0) goto done;
            /* values stay in the arena copy (NUL-terminated) */
            r->meta[r->n_meta++] = (MetaEntry){(const char *)k.u.bytes, v.u.bytes, v.n};
        }
    }
    CN_CHECK_DATA((size_t)(d.end - d.p) >= CN_AVRO__SYNC_LEN, err, rc,
                  "%s: file ends before the sync marker", where);
    memcpy(r->sync, d.p, CN_AVRO__SYNC_LEN);
    d.p += CN_AVRO__SYNC_LEN;
    r->pos = (size_t)(d.p - r->data);
    size_t slen = 0, clen = 0;
    const uint8_t *schema = cn_avro_reader_meta(r, "avro.schema", &slen);
    const uint8_t *codec = cn_avro_reader_meta(r, "avro.codec", &clen);
    CN_CHECK_DATA(schema != NULL, err, rc, "%s: metadata has no \"avro.schema\"", where);
    if (!codec) {
        snprintf(r->codec, sizeof r->codec, "null");
    } else {
        snprintf(r->codec, sizeof r->codec, "%.*s", (int)CN_MIN(clen, sizeof r->codec - 1), codec);
        if (clen >= sizeof r->codec || !known_codec(r->codec)) {
            rc = cn_err_set(err, CN_EUNSUPPORTED,
                            "%s: codec \"%.*s\" is not supported (expected null, deflate or snappy)",
                            r->name, (int)CN_MIN(clen, 64), codec);
            goto done;
        }
    }
    char sname[420];
    snprintf(sname, sizeof sname, "%s: avro.schema", r->name);
    rc = cn_avro_schema_parse(sname, (const char *)schema, slen, &r->wschema, err);
    if (rc == CN_EINVAL) {
        /* a bad schema inside a file is bad data, not a bad argument */
        if (err) err->code = CN_ECORRUPT;
        rc = CN_ECORRUPT;
    }
done:
    return rc;
}

int cn_avro_reader_open(const char *name, const void *data, size_t len, CnAvroReader **out,
                        CnErr *err) {
    *out = NULL;
    CnAvroReader *r = cn_calloc(1, sizeof *r);
    if (!r) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", name);
    cn_arena_init(&r->hdr_arena, 0);
    cn_arena_init(&r->rec_arena, 0);
    r->name = cn_strdup(name);
    r->data = data;
    r->len = len;
    int rc = r->name ? parse_header(r, err) : cn_err_set(err, CN_ENOMEM, "%s: out of memory", name);
    if (rc < 0) {
        cn_avro_reader_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int cn_avro_reader_open_file(const char *path, CnAvroReader **out, CnErr *err) {
    char *data = NULL;
    size_t len = 0;
    int rc = cn_fs_read_all(path, &data, &len, err);
    if (rc < 0) return rc;
    rc = cn_avro_reader_open(path, data, len, out, err);
    if (rc < 0) {
        cn_free(data);
        return rc;
    }
    (*out)->owned_data = data;
    return 0;
}

int cn_avro_reader_set_schema(CnAvroReader *r, const CnAvroSchemaDoc *rs, int match, CnErr *err) {
    if (match != CN_AVRO_MATCH_NAME && match != CN_AVRO_MATCH_FIELD_ID)
        return cn_err_set(err, CN_EINVAL, "%s: unknown field matching mode %d", r->name, match);
    r->rschema = rs;
    r->match = match;
    return 0;
}

const CnAvroSchemaDoc *cn_avro_reader_writer_schema(const CnAvroReader *r) { return r->wschema; }
const char *cn_avro_reader_codec(const CnAvroReader *r) { return r->codec; }

const uint8_t *cn_avro_reader_meta(const CnAvroReader *r, const char *key, size_t *len) {
    for (size_t i = 0; i < r->n_meta; i++)
        if (strcmp(r->meta[i].key, key) == 0) {
            if (len) *len = r->meta[i].len;
            return r->meta[i].val;
        }
    return NULL;
}

/* Moves to the next block that has records. 1 = ready, 0 = end of file. */
static int next_block(CnAvroReader *r, CnErr *err) {
    int rc = 0;
    while (r->block_left == 0) {
        CN_CHECK_DATA(r->bp == r->bend, err, rc,
                      "%s: block %lld: %zu bytes left over after its records", r->name,
                      (long long)r->block_no, (size_t)(r->bend - r->bp));
        if (r->pos == r->len) return 0;
        r->block_no++;
        char where[400];
        snprintf(where, sizeof where, "%s: block %lld (at byte %zu)", r->name,
                 (long long)r->block_no, r->pos);
        CnAvroDec d = {.p = r->data + r->pos, .end = r->data + r->len, .arena = &r->rec_arena,
                       .where = where};
        int64_t count, size;
        d.path.names[0] = "block header";
        d.path.depth = 1;
        rc = cn_avro__read_long(&d, &count, err);
        if (rc == 0) rc = cn_avro__read_long(&d, &size, err);
        if (rc < 0) goto done;
        size_t left = (size_t)(d.end - d.p);
        CN_CHECK_DATA(count >= 0, err, rc, "%s: negative record count %lld", where, (long long)count);
        CN_CHECK_DATA(size >= 0 && (uint64_t)size <= left && left - (size_t)size >= CN_AVRO__SYNC_LEN,
                      err, rc, "%s: block of %lld bytes and its sync marker run past the end of "
                      "the file (%zu bytes left; truncated?)", where, (long long)size, left);
        CN_CHECK_DATA(memcmp(d.p + size, r->sync, CN_AVRO__SYNC_LEN) == 0, err, rc,
                      "%s: sync marker after the block does not match the header's", where);
        rc = decompress_block(where, r->codec, d.p, (size_t)size, &r->inflated, err);
        if (rc < 0) goto done;
        r->bp = (const uint8_t *)(r->inflated.data ? r->inflated.data : "");
        r->bend = r->bp + r->inflated.len;
        CN_CHECK_DATA((uint64_t)count <= r->inflated.len || count <= (1 << 20), err, rc,
                      "%s: %lld records claimed in %zu bytes", where, (long long)count,
                      r->inflated.len);
        r->block_left = count;
        r->rec_no = 0;
        r->pos = (size_t)(d.p - r->data) + (size_t)size + CN_AVRO__SYNC_LEN;
    }
    return 1;
done:
    return rc;
}

int cn_avro_reader_next(CnAvroReader *r, const CnAvroValue **out, CnErr *err) {
    *out = NULL;
    int rc = next_block(r, err);
    if (rc <= 0) return rc;
    cn_arena_reset(&r->rec_arena);
    r->rec_no++;
    snprintf(r->where, sizeof r->where, "%s: block %lld, record %lld", r->name,
             (long long)r->block_no, (long long)r->rec_no);
    CnAvroDec d = {.p = r->bp, .end = r->bend, .arena = &r->rec_arena, .where = r->where};
    rc = cn_avro__decode(&d, cn_avro_schema_root(r->wschema), &r->value, err);
    if (rc < 0) return rc;
    r->bp = d.p;
    r->block_left--;
    if (r->block_left == 0 && r->bp != r->bend)
        return cn_err_set(err, CN_ECORRUPT, "%s: block %lld: %zu bytes left over after its records",
                          r->name, (long long)r->block_no, (size_t)(r->bend - r->bp));
    if (r->rschema) {
        CnAvroPath path = {.depth = 0};
        rc = cn_avro__resolve(&r->rec_arena, &r->value, cn_avro_schema_root(r->rschema), r->match,
                              &r->resolved, &path, err);
        if (rc < 0) return cn_err_ctx(err, rc, "%s", r->where);
        *out = &r->resolved;
    } else {
        *out = &r->value;
    }
    return 1;
}

void cn_avro_reader_free(CnAvroReader *r) {
    if (!r) return;
    cn_avro_schema_free(r->wschema);
    cn_free(r->meta);
    cn_buf_fini(&r->inflated);
    cn_arena_fini(&r->hdr_arena);
    cn_arena_fini(&r->rec_arena);
    cn_free(r->owned_data);
    cn_free(r->name);
    cn_free(r);
}
