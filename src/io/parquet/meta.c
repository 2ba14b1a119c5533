/* meta.c: Parquet FileMetaData and PageHeader in Thrift compact form.
 * Decoding keeps only the fields pq_int.h's subset uses and skips the rest, so newer
 * writers' additions (size statistics, geospatial stats, ...) pass through unharmed.
 * Field numbers are those of parquet.thrift. */
#include "base/compat.h"

#include <string.h>

#include "base/arena.h"
#include "io/parquet/pq_int.h"

#define FIELDS(in, last, id, t) for (int16_t last = 0, id = 0; ((t) = cn_pq__t_field((in), &last, &id)) != CN_PQ__T_STOP && !(in)->bad;)

static CN_COLD void t_oom(CnPqTIn *in) {
    if (!in->bad) in->why = "out of memory";
    in->bad = true;
    in->oom = true;
}

static const char *dup_bin(CnPqTIn *in, CnArena *a) {
    uint32_t len;
    const uint8_t *p = cn_pq__t_binary(in, &len);
    if (in->bad) return NULL;
    char *s = cn_arena_strndup(a, (const char *)p, len);
    if (!s) t_oom(in);
    return s;
}

/* A union whose members are empty structs (TimeUnit, TypeDefinedOrder...): returns the
 * member id. */
static int empty_union(CnPqTIn *in) {
    int t, which = 0;
    FIELDS(in, last, id, t) {
        which = id;
        cn_pq__t_skip(in, t);
    }
    return which;
}

static void decode_logical(CnPqTIn *in, CnPqSchemaEl *el) {
    int t;
    FIELDS(in, last, id, t) {
        el->logical = id;
        if (t != CN_PQ__T_STRUCT) {
            cn_pq__t_skip(in, t);
            continue;
        }
        if (id == CN_PQ__LT_TIMESTAMP || id == CN_PQ__LT_TIME) {
            int t2;
            FIELDS(in, last2, id2, t2) {
                if (id2 == 2 && t2 == CN_PQ__T_STRUCT) el->time_unit = empty_union(in);
                else cn_pq__t_skip(in, t2);
            }
        } else if (id == CN_PQ__LT_INTEGER) {
            int t2;
            FIELDS(in, last2, id2, t2) {
                if (id2 == 1 && t2 == CN_PQ__T_I8) {
                    if (in->p < in->end) el->int_bits = (int8_t)*in->p++;
                } else if (id2 == 2) {
                    el->int_signed = cn_pq__t_bool(t2);
                } else {
                    cn_pq__t_skip(in, t2);
                }
            }
        } else {
            cn_pq__t_skip(in, t);
        }
    }
}

static void decode_schema_el(CnPqTIn *in, CnArena *a, CnPqSchemaEl *el) {
    *el = (CnPqSchemaEl){NULL, -1, 0, -1, 0, -1, CN_COL_NO_ID, 0, 0, 0, true};
    int t;
    FIELDS(in, last, id, t) {
        switch (id) {
        case 1: el->type = cn_pq__t_i32(in); break;
        case 2: el->type_length = cn_pq__t_i32(in); break;
        case 3: el->repetition = cn_pq__t_i32(in); break;
        case 4: el->name = dup_bin(in, a); break;
        case 5: el->n_children = cn_pq__t_i32(in); break;
        case 6: el->converted = cn_pq__t_i32(in); break;
        case 9: el->field_id = cn_pq__t_i32(in); break;
        case 10:
            if (t == CN_PQ__T_STRUCT) decode_logical(in, el);
            else cn_pq__t_skip(in, t);
            break;
        default: cn_pq__t_skip(in, t); break;
        }
    }
    if (!el->name && !in->bad) {
        in->bad = true;
        in->why = "schema element without a name";
    }
}

typedef struct RawStats {
    const uint8_t *min, *max, *min_v, *max_v;
    uint32_t min_len, max_len, min_v_len, max_v_len;
    bool has_nc;
    int64_t null_count;
} RawStats;

static void decode_stats(CnPqTIn *in, RawStats *s) {
    memset(s, 0, sizeof *s);
    int t;
    FIELDS(in, last, id, t) {
        switch (id) {
        case 1: s->max = cn_pq__t_binary(in, &s->max_len); break;
        case 2: s->min = cn_pq__t_binary(in, &s->min_len); break;
        case 3: s->null_count = cn_pq__t_i64(in); s->has_nc = true; break;
        case 5: s->max_v = cn_pq__t_binary(in, &s->max_v_len); break;
        case 6: s->min_v = cn_pq__t_binary(in, &s->min_v_len); break;
        default: cn_pq__t_skip(in, t); break;
        }
    }
}

static void decode_col_meta(CnPqTIn *in, CnPqChunk *c, int *phys) {
    RawStats rs;
    bool has_stats = false;
    int t;
    FIELDS(in, last, id, t) {
        switch (id) {
        case 1: *phys = cn_pq__t_i32(in); break;
        case 2: {
            int et;
            uint32_t n = cn_pq__t_list(in, &et);
            for (uint32_t i = 0; i < n && !in->bad; i++) {
                int32_t e = cn_pq__t_i32(in);
                if (e >= 0 && e < 32) c->encodings |= 1u << e;
            }
            break;
        }
        case 4: c->codec = cn_pq__t_i32(in); break;
        case 5: c->n_values = cn_pq__t_i64(in); break;
        case 6: c->uncompressed_len = cn_pq__t_i64(in); break;
        case 7: c->compressed_len = cn_pq__t_i64(in); break;
        case 9: c->data_page_offset = cn_pq__t_i64(in); break;
        case 11: c->dict_page_offset = cn_pq__t_i64(in); break;
        case 12:
            if (t == CN_PQ__T_STRUCT) {
                decode_stats(in, &rs);
                has_stats = true;
            } else {
                cn_pq__t_skip(in, t);
            }
            break;
        default: cn_pq__t_skip(in, t); break;
        }
    }
    if (!has_stats) return;
    c->stats.has_null_count = rs.has_nc;
    c->stats.null_count = rs.null_count;
    if (rs.min_v && rs.max_v) {
        c->stats.has_min_max = true;
        c->stats.min = rs.min_v;
        c->stats.min_len = rs.min_v_len;
        c->stats.max = rs.max_v;
        c->stats.max_len = rs.max_v_len;
    } else if (rs.min && rs.max && *phys != CN_PQ_BYTE_ARRAY && *phys != CN_PQ_FIXED_LEN_BYTE_ARRAY &&
               *phys != CN_PQ_INT96) {
        /* legacy fields used signed order for numbers, which is right for them */
        c->stats.has_min_max = true;
        c->stats.min = rs.min;
        c->stats.min_len = rs.min_len;
        c->stats.max = rs.max;
        c->stats.max_len = rs.max_len;
    }
}

static void decode_row_group(CnPqTIn *in, CnArena *a, CnPqRowGroup *rg, uint32_t *n_cols,
                             int **types, bool *external) {
    int t;
    FIELDS(in, last, id, t) {
        switch (id) {
        case 1: {
            int et;
            uint32_t n = cn_pq__t_list(in, &et);
            if (in->bad) break;
            if (et != CN_PQ__T_STRUCT) {
                in->bad = true;
                in->why = "row group columns are not structs";
                break;
            }
            CnPqChunk *cs = cn_arena_calloc(a, (n ? n : 1) * sizeof *cs);
            int *ty = cn_arena_calloc(a, (n ? n : 1) * sizeof *ty);
            if (!cs || !ty) {
                t_oom(in);
                break;
            }
            for (uint32_t i = 0; i < n && !in->bad; i++) {
                cs[i].dict_page_offset = -1;
                ty[i] = -1;
                int t2;
                FIELDS(in, last2, id2, t2) {
                    if (id2 == 1) {
                        *external = true;
                        cn_pq__t_skip(in, t2);
                    } else if (id2 == 3 && t2 == CN_PQ__T_STRUCT) {
                        decode_col_meta(in, &cs[i], &ty[i]);
                    } else {
                        cn_pq__t_skip(in, t2);
                    }
                }
            }
            rg->chunks = cs;
            *n_cols = n;
            *types = ty;
            break;
        }
        case 2: rg->total_byte_size = cn_pq__t_i64(in); break;
        case 3: rg->n_rows = cn_pq__t_i64(in); break;
        case 5: rg->file_offset = cn_pq__t_i64(in); break;
        default: cn_pq__t_skip(in, t); break;
        }
    }
}

int cn_pq__footer_decode(const uint8_t *p, size_t len, CnArena *a, CnPqFooter *f, CnErr *err) {
    memset(f, 0, sizeof *f);
    CnPqTIn in = {p, p + len, false, NULL, 0, false};
    bool external = false;
    bool have_cols = false;
    int t;
    FIELDS(&in, last, id, t) {
        switch (id) {
        case 1: f->version = cn_pq__t_i32(&in); break;
        case 2: {
            int et;
            uint32_t n = cn_pq__t_list(&in, &et);
            if (in.bad) break;
            f->schema = cn_arena_calloc(a, (n ? n : 1) * sizeof *f->schema);
            if (!f->schema) return cn_err_set(err, CN_ENOMEM, "out of memory");
            for (uint32_t i = 0; i < n && !in.bad; i++) decode_schema_el(&in, a, &f->schema[i]);
            f->n_schema = n;
            break;
        }
        case 3: f->n_rows = cn_pq__t_i64(&in); break;
        case 4: {
            int et;
            uint32_t n = cn_pq__t_list(&in, &et);
            if (in.bad) break;
            f->row_groups = cn_arena_calloc(a, (n ? n : 1) * sizeof *f->row_groups);
            int **types = cn_arena_calloc(a, (n ? n : 1) * sizeof *types);
            if (!f->row_groups || !types) return cn_err_set(err, CN_ENOMEM, "out of memory");
            for (uint32_t i = 0; i < n && !in.bad; i++) {
                uint32_t nc = 0;
                decode_row_group(&in, a, &f->row_groups[i], &nc, &types[i], &external);
                if (in.bad) break;
                if (have_cols && nc != f->n_cols)
                    return cn_err_set(err, CN_ECORRUPT, "row group %u has %u columns, row group 0 has %u",
                                      i, nc, f->n_cols);
                f->n_cols = nc;
                have_cols = true;
            }
            f->n_row_groups = n;
            if (!in.bad && n) {
                f->chunk_types = cn_arena_alloc(a, (size_t)n * (f->n_cols ? f->n_cols : 1) * sizeof(int));
                if (!f->chunk_types) return cn_err_set(err, CN_ENOMEM, "out of memory");
                for (uint32_t i = 0; i < n; i++)
                    for (uint32_t c = 0; c < f->n_cols; c++) f->chunk_types[(size_t)i * f->n_cols + c] = types[i][c];
            }
            break;
        }
        case 5: {
            int et;
            uint32_t n = cn_pq__t_list(&in, &et);
            if (in.bad) break;
            f->kv = cn_arena_calloc(a, (n ? n : 1) * sizeof *f->kv);
            if (!f->kv) return cn_err_set(err, CN_ENOMEM, "out of memory");
            for (uint32_t i = 0; i < n && !in.bad; i++) {
                int t2;
                FIELDS(&in, last2, id2, t2) {
                    if (id2 == 1) f->kv[i].key = dup_bin(&in, a);
                    else if (id2 == 2) f->kv[i].value = dup_bin(&in, a);
                    else cn_pq__t_skip(&in, t2);
                }
                if (!f->kv[i].key) f->kv[i].key = "";
            }
            f->n_kv = n;
            break;
        }
        case 6: f->created_by = dup_bin(&in, a); break;
        default: cn_pq__t_skip(&in, t); break;
        }
    }
    if (in.oom) return cn_err_set(err, CN_ENOMEM, "out of memory decoding the footer");
    if (in.bad)
        return cn_err_set(err, CN_ECORRUPT, "corrupt footer (FileMetaData): %s at byte %zu of %zu",
                          in.why ? in.why : "malformed", (size_t)(in.p - p), len);
    if (f->n_schema == 0) return cn_err_set(err, CN_ECORRUPT, "corrupt footer: empty schema");
    if (external)
        return cn_err_set(err, CN_EUNSUPPORTED, "column chunks stored in other files (file_path) are not supported");
    return 0;
}

/* ------------------------------------------------------------- page header */

int cn_pq__page_hdr_decode(const uint8_t *p, size_t len, CnPqPageHdr *h, size_t *hdr_len,
                           CnErr *err) {
    memset(h, 0, sizeof *h);
    h->type = -1;
    h->is_compressed = true;
    h->uncompressed_len = h->compressed_len = -1;
    CnPqTIn in = {p, p + len, false, NULL, 0, false};
    int t;
    FIELDS(&in, last, id, t) {
        switch (id) {
        case 1: h->type = cn_pq__t_i32(&in); break;
        case 2: h->uncompressed_len = cn_pq__t_i32(&in); break;
        case 3: h->compressed_len = cn_pq__t_i32(&in); break;
        case 5:
        case 7:
        case 8: {
            if (t != CN_PQ__T_STRUCT) {
                cn_pq__t_skip(&in, t);
                break;
            }
            if (id == 5) h->has_data = true;
            if (id == 7) h->has_dict = true;
            if (id == 8) h->has_v2 = true;
            int t2;
            FIELDS(&in, last2, id2, t2) {
                if (id2 == 1) h->n_values = cn_pq__t_i32(&in);
                else if (id == 5 && id2 == 2) h->encoding = cn_pq__t_i32(&in);
                else if (id == 5 && id2 == 3) h->def_encoding = cn_pq__t_i32(&in);
                else if (id == 5 && id2 == 4) h->rep_encoding = cn_pq__t_i32(&in);
                else if (id == 7 && id2 == 2) h->encoding = cn_pq__t_i32(&in);
                else if (id == 8 && id2 == 2) h->n_nulls = cn_pq__t_i32(&in);
                else if (id == 8 && id2 == 3) h->n_rows = cn_pq__t_i32(&in);
                else if (id == 8 && id2 == 4) h->encoding = cn_pq__t_i32(&in);
                else if (id == 8 && id2 == 5) h->def_len = cn_pq__t_i32(&in);
                else if (id == 8 && id2 == 6) h->rep_len = cn_pq__t_i32(&in);
                else if (id == 8 && id2 == 7) h->is_compressed = cn_pq__t_bool(t2);
                else cn_pq__t_skip(&in, t2);
            }
            break;
        }
        default: cn_pq__t_skip(&in, t); break;
        }
    }
    if (in.bad)
        return cn_err_set(err, CN_ECORRUPT, "corrupt page header: %s", in.why ? in.why : "malformed");
    if (h->type < 0 || h->compressed_len < 0 || h->uncompressed_len < 0)
        return cn_err_set(err, CN_ECORRUPT, "corrupt page header: missing type or sizes");
    if ((h->type == CN_PQ__PAGE_DATA && !h->has_data) || (h->type == CN_PQ__PAGE_DICT && !h->has_dict) ||
        (h->type == CN_PQ__PAGE_DATA_V2 && !h->has_v2))
        return cn_err_set(err, CN_ECORRUPT, "corrupt page header: page type %d without its header", h->type);
    if (h->n_values < 0 || h->n_nulls < 0 || h->def_len < 0 || h->rep_len < 0 || h->n_rows < 0)
        return cn_err_set(err, CN_ECORRUPT, "corrupt page header: negative count or length");
    *hdr_len = (size_t)(in.p - p);
    return 0;
}

void cn_pq__page_hdr_encode(CnBuf *b, const CnPqPageHdr *h) {
    CnPqTOut o = {b, {0}, 0};
    cn_pq__t_struct_begin(&o);
    cn_pq__t_put_i32(&o, 1, h->type);
    cn_pq__t_put_i32(&o, 2, h->uncompressed_len);
    cn_pq__t_put_i32(&o, 3, h->compressed_len);
    if (h->type == CN_PQ__PAGE_DATA) {
        cn_pq__t_field_hdr(&o, CN_PQ__T_STRUCT, 5);
        cn_pq__t_struct_begin(&o);
        cn_pq__t_put_i32(&o, 1, h->n_values);
        cn_pq__t_put_i32(&o, 2, h->encoding);
        cn_pq__t_put_i32(&o, 3, CN_PQ_ENC_RLE);
        cn_pq__t_put_i32(&o, 4, CN_PQ_ENC_RLE);
        cn_pq__t_struct_end(&o);
    } else if (h->type == CN_PQ__PAGE_DICT) {
        cn_pq__t_field_hdr(&o, CN_PQ__T_STRUCT, 7);
        cn_pq__t_struct_begin(&o);
        cn_pq__t_put_i32(&o, 1, h->n_values);
        cn_pq__t_put_i32(&o, 2, h->encoding);
        cn_pq__t_struct_end(&o);
    } else {
        cn_pq__t_field_hdr(&o, CN_PQ__T_STRUCT, 8);
        cn_pq__t_struct_begin(&o);
        cn_pq__t_put_i32(&o, 1, h->n_values);
        cn_pq__t_put_i32(&o, 2, h->n_nulls);
        cn_pq__t_put_i32(&o, 3, h->n_rows);
        cn_pq__t_put_i32(&o, 4, h->encoding);
        cn_pq__t_put_i32(&o, 5, h->def_len);
        cn_pq__t_put_i32(&o, 6, h->rep_len);
        cn_pq__t_put_bool(&o, 7, h->is_compressed);
        cn_pq__t_struct_end(&o);
    }
    cn_pq__t_struct_end(&o);
}
