/* thrift.c: the Thrift compact protocol, just what Parquet's footer and page headers use.
 * The decoder never trusts a length: every read is bounded by the cursor's end and a
 * failure only sets a sticky flag, so struct decoders test once per struct. */
#include "base/compat.h"

#include <string.h>

#include "io/parquet/pq_int.h"

static CN_COLD void t_bad(CnPqTIn *in, const char *why) {
    if (!in->bad) in->why = why;
    in->bad = true;
    in->p = in->end;
}

uint64_t cn_pq__t_varint(CnPqTIn *in) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (in->p >= in->end) {
            t_bad(in, "truncated varint");
            return 0;
        }
        uint8_t b = *in->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    t_bad(in, "varint longer than 10 bytes");
    return 0;
}

int64_t cn_pq__t_i64(CnPqTIn *in) {
    uint64_t u = cn_pq__t_varint(in);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

int32_t cn_pq__t_i32(CnPqTIn *in) {
    int64_t v = cn_pq__t_i64(in);
    if (v < INT32_MIN || v > INT32_MAX) {
        t_bad(in, "i32 out of range");
        return 0;
    }
    return (int32_t)v;
}

const uint8_t *cn_pq__t_binary(CnPqTIn *in, uint32_t *len) {
    uint64_t n = cn_pq__t_varint(in);
    if (n > (uint64_t)(in->end - in->p)) {
        t_bad(in, "binary length past the end");
        *len = 0;
        return NULL;
    }
    const uint8_t *p = in->p;
    in->p += n;
    *len = (uint32_t)n;
    return p;
}

int cn_pq__t_field(CnPqTIn *in, int16_t *last, int16_t *id) {
    if (in->p >= in->end) {
        t_bad(in, "truncated struct");
        return CN_PQ__T_STOP;
    }
    uint8_t b = *in->p++;
    int type = b & 0x0f;
    if (type == CN_PQ__T_STOP) return CN_PQ__T_STOP;
    int delta = b >> 4;
    if (delta) {
        *id = (int16_t)(*last + delta);
    } else {
        int64_t v = cn_pq__t_i64(in);
        if (v < INT16_MIN || v > INT16_MAX) t_bad(in, "field id out of range");
        *id = (int16_t)v;
    }
    *last = *id;
    if (type > CN_PQ__T_STRUCT) {
        t_bad(in, "unknown field type");
        return CN_PQ__T_STOP;
    }
    return type;
}

uint32_t cn_pq__t_list(CnPqTIn *in, int *elem_type) {
    if (in->p >= in->end) {
        t_bad(in, "truncated list");
        *elem_type = 0;
        return 0;
    }
    uint8_t b = *in->p++;
    *elem_type = b & 0x0f;
    uint64_t n = b >> 4;
    if (n == 15) n = cn_pq__t_varint(in);
    /* every element takes at least one byte except booleans packed in the header type,
     * which also take one byte in lists: this bounds n by the bytes left */
    if (n > (uint64_t)(in->end - in->p)) {
        t_bad(in, "list count past the end");
        return 0;
    }
    return (uint32_t)n;
}

void cn_pq__t_skip(CnPqTIn *in, int type) {
    if (in->bad) return;
    if (++in->depth > 32) {
        t_bad(in, "nesting deeper than 32");
        return;
    }
    switch (type) {
    case CN_PQ__T_TRUE: case CN_PQ__T_FALSE: break;
    case CN_PQ__T_I8:
        if (in->p >= in->end) t_bad(in, "truncated byte");
        else in->p++;
        break;
    case CN_PQ__T_I16: case CN_PQ__T_I32: case CN_PQ__T_I64: (void)cn_pq__t_varint(in); break;
    case CN_PQ__T_DOUBLE:
        if (in->end - in->p < 8) t_bad(in, "truncated double");
        else in->p += 8;
        break;
    case CN_PQ__T_BINARY: {
        uint32_t len;
        (void)cn_pq__t_binary(in, &len);
        break;
    }
    case CN_PQ__T_LIST: case CN_PQ__T_SET: {
        int et;
        uint32_t n = cn_pq__t_list(in, &et);
        for (uint32_t i = 0; i < n && !in->bad; i++) {
            if (et == CN_PQ__T_TRUE || et == CN_PQ__T_FALSE) cn_pq__t_skip(in, CN_PQ__T_I8);
            else cn_pq__t_skip(in, et);
        }
        break;
    }
    case CN_PQ__T_MAP: {
        uint64_t n = cn_pq__t_varint(in);
        if (n == 0) break;
        if (in->p >= in->end || n > (uint64_t)(in->end - in->p)) {
            t_bad(in, "map count past the end");
            break;
        }
        uint8_t kv = *in->p++;
        for (uint64_t i = 0; i < n && !in->bad; i++) {
            cn_pq__t_skip(in, kv >> 4);
            cn_pq__t_skip(in, kv & 0x0f);
        }
        break;
    }
    case CN_PQ__T_STRUCT: {
        int16_t last = 0, id;
        for (;;) {
            int t = cn_pq__t_field(in, &last, &id);
            if (t == CN_PQ__T_STOP || in->bad) break;
            cn_pq__t_skip(in, t);
        }
        break;
    }
    default: t_bad(in, "unknown type"); break;
    }
    in->depth--;
}

/* ---------------------------------------------------------------- encoder */

void cn_pq__t_put_varint(CnPqTOut *o, uint64_t v) {
    uint8_t tmp[10];
    int n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    cn_buf_append(o->b, tmp, (size_t)n);
}

static void put_zigzag(CnPqTOut *o, int64_t v) {
    cn_pq__t_put_varint(o, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void cn_pq__t_struct_begin(CnPqTOut *o) {
    CN_ASSERT(o->depth + 1 < (int)CN_ARRAY_LEN(o->last));
    o->last[++o->depth] = 0;
}

void cn_pq__t_struct_end(CnPqTOut *o) {
    cn_buf_putc(o->b, 0);
    o->depth--;
}

void cn_pq__t_field_hdr(CnPqTOut *o, int type, int16_t id) {
    int16_t delta = (int16_t)(id - o->last[o->depth]);
    if (delta > 0 && delta <= 15) {
        cn_buf_putc(o->b, (char)((delta << 4) | type));
    } else {
        cn_buf_putc(o->b, (char)type);
        put_zigzag(o, id);
    }
    o->last[o->depth] = id;
}

void cn_pq__t_put_i32(CnPqTOut *o, int16_t id, int32_t v) {
    cn_pq__t_field_hdr(o, CN_PQ__T_I32, id);
    put_zigzag(o, v);
}

void cn_pq__t_put_i64(CnPqTOut *o, int16_t id, int64_t v) {
    cn_pq__t_field_hdr(o, CN_PQ__T_I64, id);
    put_zigzag(o, v);
}

void cn_pq__t_put_bool(CnPqTOut *o, int16_t id, bool v) {
    cn_pq__t_field_hdr(o, v ? CN_PQ__T_TRUE : CN_PQ__T_FALSE, id);
}

void cn_pq__t_put_binary(CnPqTOut *o, int16_t id, const void *p, size_t len) {
    cn_pq__t_field_hdr(o, CN_PQ__T_BINARY, id);
    cn_pq__t_put_elem_binary(o, p, len);
}

void cn_pq__t_put_list_hdr(CnPqTOut *o, int16_t id, int elem_type, uint32_t n) {
    cn_pq__t_field_hdr(o, CN_PQ__T_LIST, id);
    if (n < 15) {
        cn_buf_putc(o->b, (char)((n << 4) | (uint32_t)elem_type));
    } else {
        cn_buf_putc(o->b, (char)(0xf0 | elem_type));
        cn_pq__t_put_varint(o, n);
    }
}

void cn_pq__t_put_elem_i32(CnPqTOut *o, int32_t v) { put_zigzag(o, v); }

void cn_pq__t_put_elem_binary(CnPqTOut *o, const void *p, size_t len) {
    cn_pq__t_put_varint(o, len);
    if (len) cn_buf_append(o->b, p, len);
}
