/* cmd_parquet.c: `chronon parquet schema|cat|stats|convert`, a parquet-tools for our
 * reader and writer. It is how users look into warehouse files, how tests compare our
 * Parquet with other implementations (cat --format json prints values the way the test
 * checkers do), and a CSV -> Parquet converter. Errors are one line naming the file,
 * column and row group; convert never leaves a partial output file (the writer renames
 * a temporary file only on success). */
#include "base/compat.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/date.h"
#include "base/str.h"
#include "cli/cli.h"
#include "col/col.h"
#include "io/csv/csv.h"
#include "io/parquet/pq.h"

#define VERB "parquet"

static const char *const usage_main =
    "usage: chronon parquet <command> [options]\n"
    "\n"
    "Look into Parquet files and make them from CSV.\n"
    "\n"
    "commands:\n"
    "  schema <file>                 columns, types, nullability, field ids, leaves\n"
    "  cat <file> [options]          print rows as JSON lines or CSV\n"
    "  stats <file> [--json]         row groups, column chunks, codecs, encodings,\n"
    "                                sizes, null counts, min/max\n"
    "  convert <in> <out.parquet>    write a Parquet file from CSV (or Parquet)\n"
    "\n"
    "Run 'chronon parquet <command> --help' for its options.\n";

static const char *const usage_schema =
    "usage: chronon parquet schema <file>\n"
    "\n"
    "Prints the file's row count, row groups and writer, then one line per top-level\n"
    "column (name, type, nullable or required, Iceberg field id when present) and one\n"
    "line per Parquet leaf column (dotted path, physical type, max definition and\n"
    "repetition levels).\n";

static const char *const usage_cat =
    "usage: chronon parquet cat <file> [--format json|csv] [--limit N] [--columns a,b]\n"
    "\n"
    "Prints the rows of a Parquet file.\n"
    "  --format json   one JSON object per row (the default). Numbers as stored: date\n"
    "                  as days since 1970-01-01, timestamp as epoch milliseconds; NaN\n"
    "                  and infinities as the strings \"NaN\", \"Infinity\", \"-Infinity\";\n"
    "                  binary as a string of its bytes (bytes >= 0x80 as \\u00XX); lists\n"
    "                  as arrays; maps as objects (a non-string key as its JSON text).\n"
    "  --format csv    a header line, then RFC 4180 rows; null is an empty field, the\n"
    "                  empty string is \"\"; date as YYYY-MM-DD, timestamp as\n"
    "                  YYYY-MM-DD HH:MM:SS.fff (UTC); lists and maps as JSON text.\n"
    "  --limit N       stop after N rows.\n"
    "  --columns a,b   only these top-level columns, in this order.\n";

static const char *const usage_stats =
    "usage: chronon parquet stats <file> [--json]\n"
    "\n"
    "Prints the footer: rows, row groups and, per column chunk, its physical type,\n"
    "codec, encodings, compressed and uncompressed bytes, value count, null count and\n"
    "min/max from the statistics (numbers as stored, strings as text). --json prints\n"
    "the same as one JSON object.\n";

static const char *const usage_convert =
    "usage: chronon parquet convert <in.csv|in.parquet> <out.parquet> [options]\n"
    "\n"
    "Writes a Parquet file from a CSV file (header line, RFC 4180; types inferred from\n"
    "the first 1000 rows: bool, int64, float64 or string; `ts` stays int64 epoch\n"
    "millis, `ds` stays a string; empty field = null) or from another Parquet file.\n"
    "The input is Parquet when its name ends in .parquet or it starts with PAR1.\n"
    "The output appears only when complete; on any error nothing is left at <out>.\n"
    "  --codec zstd|snappy|gzip|none   compression (default zstd)\n"
    "  --row-group-rows N              rows per row group (default 1048576)\n"
    "  --schema name:type,...          CSV column types, overriding inference; types:\n"
    "                                  bool int32 int64 float32 float64 date timestamp\n"
    "                                  string binary\n"
    "  --page-version 1|2              data page format (default 1)\n"
    "  --page-bytes N                  target uncompressed page size (default 1 MiB)\n"
    "  --no-dictionary                 no dictionary encoding\n"
    "  --int-encoding plain|delta      non-dictionary pages of int32/int64/date/\n"
    "                                  timestamp: PLAIN (default) or DELTA_BINARY_PACKED\n"
    "  --bytes-encoding plain|delta-length|delta\n"
    "                                  non-dictionary pages of string/binary: PLAIN\n"
    "                                  (default), DELTA_LENGTH_BYTE_ARRAY or\n"
    "                                  DELTA_BYTE_ARRAY\n"
    "  --no-statistics                 no min/max/null counts\n";

static int usage_error(const char *usage, const char *fmt, ...) CN_PRINTF(2, 3);
static int usage_error(const char *usage, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "chronon parquet: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n%s", usage);
    va_end(ap);
    return 2;
}

static bool parse_u32(const char *s, uint32_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || v > UINT32_MAX || s[0] == '-') return false;
    *out = (uint32_t)v;
    return true;
}

/* ------------------------------------------------------------- values */

enum { FMT_JSON, FMT_CSV };

/* JSON string of text bytes (UTF-8 passes through) or of raw bytes. */
static void put_json_str(CnBuf *o, const char *s, size_t n, bool bytes) {
    cn_buf_putc(o, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool esc = c == '"' || c == '\\' || c < 0x20 || c == 0x7f || (bytes && c >= 0x80);
        if (!esc) continue;
        cn_buf_append(o, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': cn_buf_puts(o, "\\\""); break;
        case '\\': cn_buf_puts(o, "\\\\"); break;
        case '\n': cn_buf_puts(o, "\\n"); break;
        case '\r': cn_buf_puts(o, "\\r"); break;
        case '\t': cn_buf_puts(o, "\\t"); break;
        default: cn_buf_printf(o, "\\u%04x", c); break;
        }
    }
    cn_buf_append(o, s + run, n - run);
    cn_buf_putc(o, '"');
}

/* The shortest of %.15g, %.16g, %.17g that reads back as the same double. */
static void put_f64(CnBuf *o, double d, int fmt) {
    if (isnan(d) || isinf(d)) {
        const char *s = isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";
        if (fmt == FMT_JSON) cn_buf_printf(o, "\"%s\"", s);
        else cn_buf_puts(o, isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
        return;
    }
    char tmp[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    cn_buf_puts(o, tmp);
}

static void put_f32(CnBuf *o, float f, int fmt) {
    if (isnan(f) || isinf(f)) {
        put_f64(o, f, fmt);
        return;
    }
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.7g", (double)f);
    if (strtof(tmp, NULL) != f) snprintf(tmp, sizeof tmp, "%.9g", (double)f);
    cn_buf_puts(o, tmp);
}

static void put_ts_text(CnBuf *o, int64_t ms) {
    char ds[11];
    int64_t day = cn_ms_to_days(ms), rem = ms - day * CN_MS_PER_DAY;
    cn_ds_format(day, ds);
    cn_buf_printf(o, "%s %02d:%02d:%02d.%03d", ds, (int)(rem / 3600000), (int)(rem / 60000 % 60),
                  (int)(rem / 1000 % 60), (int)(rem % 1000));
}

/* Entry i of v as JSON (json_only: nested values inside CSV are JSON text too). */
static void put_json_value(CnBuf *o, const CnVec *v, uint32_t i);

static void put_map_key(CnBuf *o, const CnVec *k, uint32_t i) {
    if (k->type->id == CN_COL_STRING) {
        put_json_value(o, k, i);
        return;
    }
    CnBuf tmp = CN_BUF_INIT;
    put_json_value(&tmp, k, i);
    put_json_str(o, tmp.data ? tmp.data : "", tmp.len, false);
    if (tmp.oom) o->oom = true;
    cn_buf_fini(&tmp);
}

static void put_json_value(CnBuf *o, const CnVec *v, uint32_t i) {
    if (!cn_col_vec_is_valid(v, i)) {
        cn_buf_puts(o, "null");
        return;
    }
    switch (v->type->id) {
    case CN_COL_BOOL: cn_buf_puts(o, ((const uint8_t *)v->values)[i] ? "true" : "false"); break;
    case CN_COL_INT32:
    case CN_COL_DATE: cn_buf_printf(o, "%" PRId32, ((const int32_t *)v->values)[i]); break;
    case CN_COL_INT64:
    case CN_COL_TIMESTAMP: cn_buf_printf(o, "%" PRId64, ((const int64_t *)v->values)[i]); break;
    case CN_COL_FLOAT32: put_f32(o, ((const float *)v->values)[i], FMT_JSON); break;
    case CN_COL_FLOAT64: put_f64(o, ((const double *)v->values)[i], FMT_JSON); break;
    case CN_COL_STRING:
    case CN_COL_BINARY: {
        uint32_t len;
        const char *s = cn_col_vec_str(v, i, &len);
        put_json_str(o, s, len, v->type->id == CN_COL_BINARY);
        break;
    }
    case CN_COL_LIST: {
        cn_buf_putc(o, '[');
        for (uint32_t j = v->offsets[i]; j < v->offsets[i + 1]; j++) {
            if (j > v->offsets[i]) cn_buf_putc(o, ',');
            put_json_value(o, &v->child[0], j);
        }
        cn_buf_putc(o, ']');
        break;
    }
    case CN_COL_MAP: {
        cn_buf_putc(o, '{');
        for (uint32_t j = v->offsets[i]; j < v->offsets[i + 1]; j++) {
            if (j > v->offsets[i]) cn_buf_putc(o, ',');
            put_map_key(o, &v->child[0], j);
            cn_buf_putc(o, ':');
            put_json_value(o, &v->child[1], j);
        }
        cn_buf_putc(o, '}');
        break;
    }
    case CN_COL_STRUCT: {
        cn_buf_putc(o, '{');
        for (uint32_t c = 0; c < v->n_child; c++) {
            if (c) cn_buf_putc(o, ',');
            const char *name = v->type->children[c].name;
            put_json_str(o, name, strlen(name), false);
            cn_buf_putc(o, ':');
            put_json_value(o, &v->child[c], i);
        }
        cn_buf_putc(o, '}');
        break;
    }
    }
}

static void put_csv_text(CnBuf *o, const char *s, size_t n) {
    bool quote = n == 0 || s[0] == ' ' || s[n - 1] == ' ';
    for (size_t j = 0; j < n && !quote; j++)
        quote = s[j] == ',' || s[j] == '"' || s[j] == '\n' || s[j] == '\r';
    if (!quote) {
        cn_buf_append(o, s, n);
        return;
    }
    cn_buf_putc(o, '"');
    for (size_t j = 0; j < n; j++) {
        if (s[j] == '"') cn_buf_putc(o, '"');
        cn_buf_putc(o, s[j]);
    }
    cn_buf_putc(o, '"');
}

static void put_csv_value(CnBuf *o, const CnVec *v, uint32_t i) {
    if (!cn_col_vec_is_valid(v, i)) return;
    switch (v->type->id) {
    case CN_COL_FLOAT32: put_f32(o, ((const float *)v->values)[i], FMT_CSV); break;
    case CN_COL_FLOAT64: put_f64(o, ((const double *)v->values)[i], FMT_CSV); break;
    case CN_COL_DATE: {
        char ds[11];
        cn_ds_format(((const int32_t *)v->values)[i], ds);
        cn_buf_puts(o, ds);
        break;
    }
    case CN_COL_TIMESTAMP: put_ts_text(o, ((const int64_t *)v->values)[i]); break;
    case CN_COL_STRING:
    case CN_COL_BINARY: {
        uint32_t len;
        const char *s = cn_col_vec_str(v, i, &len);
        put_csv_text(o, s, len);
        break;
    }
    case CN_COL_LIST:
    case CN_COL_MAP:
    case CN_COL_STRUCT: {
        CnBuf tmp = CN_BUF_INIT;
        put_json_value(&tmp, v, i);
        put_csv_text(o, tmp.data ? tmp.data : "", tmp.len);
        if (tmp.oom) o->oom = true;
        cn_buf_fini(&tmp);
        break;
    }
    default: put_json_value(o, v, i); break;
    }
}

/* --------------------------------------------------------------- schema */

static int open_reader(const char *path, CnPqReader **r, CnErr *err) {
    return cn_pq_reader_open(path, r, err);
}

/* Top-level column names in file order, the ones the reader cannot decode included
 * (their leaves have no top-level field). OWNED by arena a. */
static int file_columns(CnPqReader *r, CnArena *a, const char ***names, uint32_t *n, CnErr *err) {
    const CnPqMeta *m = cn_pq_reader_meta(r);
    const CnSchema *s = cn_pq_reader_schema(r);
    const char **out = cn_arena_alloc(a, (m->n_leaves + 1) * sizeof *out);
    if (!out) return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t k = 0;
    for (uint32_t i = 0; i < m->n_leaves; i++) {
        const CnPqLeaf *l = &m->leaves[i];
        const char *name = l->i_field < s->n_fields ? s->fields[l->i_field].name : l->path;
        if (k == 0 || strcmp(out[k - 1], name) != 0) out[k++] = name;
    }
    *names = out;
    *n = k;
    return 0;
}

/* The reader leaves out top-level columns it cannot decode, so that scans can still
 * read the others. A whole-file cat or convert must not drop data silently: asking for
 * every column by name makes the reader name the first unsupported one and say why. */
static int project_all(CnPqReader *r, CnArena *a, CnErr *err) {
    const char **names;
    uint32_t n;
    int rc = file_columns(r, a, &names, &n, err);
    if (rc < 0 || n == cn_pq_reader_schema(r)->n_fields) return rc;
    return cn_pq_reader_project(r, names, n, err);
}

static int cmd_schema(int argc, char **argv) {
    if (argc >= 2 && cn_cli_is_help(argv[1])) return printf("%s", usage_schema), 0;
    if (argc != 2) return usage_error(usage_schema, "%s", "schema takes exactly one file");
    CnErr err = CN_ERR_INIT;
    CnPqReader *r = NULL;
    if (open_reader(argv[1], &r, &err) < 0) return cn_cli_fail(VERB, &err);
    const CnSchema *s = cn_pq_reader_schema(r);
    const CnPqMeta *m = cn_pq_reader_meta(r);
    printf("file: %s\nrows: %" PRId64 "\nrow groups: %u\ncreated by: %s\ncolumns:\n", argv[1], m->n_rows,
           m->n_row_groups, m->created_by ? m->created_by : "(unknown)");
    for (uint32_t i = 0; i < s->n_fields; i++) {
        char tname[256];
        const CnField *f = &s->fields[i];
        printf("  %s: %s %s", f->name, cn_col_type_name(f->type, tname, sizeof tname),
               f->nullable ? "nullable" : "required");
        if (f->field_id != CN_COL_NO_ID) printf(" field_id=%" PRId32, f->field_id);
        printf("\n");
    }
    CnArena a;
    cn_arena_init(&a, 0);
    const char **names;
    uint32_t n_names;
    if (file_columns(r, &a, &names, &n_names, &err) == 0) {
        for (uint32_t i = 0; i < n_names; i++) {
            if (cn_col_schema_find(s, names[i]) >= 0) continue;
            CnErr why = CN_ERR_INIT;
            cn_pq_reader_project(r, &names[i], 1, &why);
            printf("  %s: unsupported (%s)\n", names[i], cn_err_msg(&why));
        }
    }
    cn_arena_fini(&a);
    printf("leaves:\n");
    for (uint32_t i = 0; i < m->n_leaves; i++) {
        const CnPqLeaf *l = &m->leaves[i];
        if (!l->type) {
            printf("  %s: unsupported\n", l->path);
            continue;
        }
        printf("  %s: %s", l->path, cn_pq_physical_name(l->physical));
        if (l->type_length) printf("(%" PRId32 ")", l->type_length);
        printf(" max_def=%d max_rep=%d", l->max_def, l->max_rep);
        if (l->field_id != CN_COL_NO_ID) printf(" field_id=%" PRId32, l->field_id);
        printf("\n");
    }
    cn_pq_reader_close(r);
    return 0;
}

/* ------------------------------------------------------------------ cat */

static int split_list(CnArena *a, const char *list, const char ***names, uint32_t *n) {
    uint32_t cap = 1;
    for (const char *p = list; *p; p++) cap += *p == ',';
    const char **out = cn_arena_alloc(a, cap * sizeof *out);
    char *copy = cn_arena_strdup(a, list);
    if (!out || !copy) return CN_ENOMEM;
    uint32_t k = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) out[k++] = t;
    *names = out;
    *n = k;
    return 0;
}

static int cmd_cat(int argc, char **argv) {
    const char *path = NULL, *columns = NULL;
    int fmt = FMT_JSON;
    uint64_t limit = UINT64_MAX;
    for (int i = 1; i < argc; i++) {
        if (cn_cli_is_help(argv[i])) return printf("%s", usage_cat), 0;
        if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            const char *f = argv[++i];
            if (!strcmp(f, "json")) fmt = FMT_JSON;
            else if (!strcmp(f, "csv")) fmt = FMT_CSV;
            else return usage_error(usage_cat, "--format %s: expected json or csv", f);
        } else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
            uint32_t n;
            if (!parse_u32(argv[++i], &n)) return usage_error(usage_cat, "--limit %s: expected a row count", argv[i]);
            limit = n;
        } else if (!strcmp(argv[i], "--columns") && i + 1 < argc) {
            columns = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error(usage_cat, "unknown or incomplete option %s", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return usage_error(usage_cat, "unexpected argument %s", argv[i]);
        }
    }
    if (!path) return usage_error(usage_cat, "%s", "cat needs a file");
    CnErr err = CN_ERR_INIT;
    CnPqReader *r = NULL;
    CnArena a;
    CnBuf o = CN_BUF_INIT;
    int rc = 0;
    cn_arena_init(&a, 0);
    rc = open_reader(path, &r, &err);
    if (rc < 0) goto done;
    if (columns) {
        const char **names;
        uint32_t n;
        rc = split_list(&a, columns, &names, &n);
        if (rc < 0) {
            cn_err_set(&err, rc, "out of memory");
            goto done;
        }
        rc = cn_pq_reader_project(r, names, n, &err);
    } else {
        rc = project_all(r, &a, &err);
    }
    if (rc < 0) goto done;
    const CnSchema *s = cn_pq_reader_out_schema(r);
    if (fmt == FMT_CSV) {
        for (uint32_t c = 0; c < s->n_fields; c++) {
            if (c) cn_buf_putc(&o, ',');
            put_csv_text(&o, s->fields[c].name, strlen(s->fields[c].name));
        }
        cn_buf_putc(&o, '\n');
    }
    uint64_t printed = 0;
    while (printed < limit) {
        const CnBatch *b = NULL;
        rc = cn_pq_reader_next(r, 0, &b, &err);
        if (rc < 0 || !b) break;
        for (uint32_t i = 0; i < b->n_rows && printed < limit; i++, printed++) {
            if (fmt == FMT_JSON) cn_buf_putc(&o, '{');
            for (uint32_t c = 0; c < b->n_cols; c++) {
                if (c) cn_buf_putc(&o, ',');
                if (fmt == FMT_JSON) {
                    const char *name = s->fields[c].name;
                    put_json_str(&o, name, strlen(name), false);
                    cn_buf_putc(&o, ':');
                    put_json_value(&o, &b->cols[c], i);
                } else {
                    put_csv_value(&o, &b->cols[c], i);
                }
            }
            cn_buf_puts(&o, fmt == FMT_JSON ? "}\n" : "\n");
            if (o.len >= (1u << 16)) {
                fwrite(o.data, 1, o.len, stdout);
                cn_buf_reset(&o);
            }
        }
        if (o.oom) {
            rc = cn_err_set(&err, CN_ENOMEM, "%s: out of memory while printing rows", path);
            break;
        }
    }
    if (o.len) fwrite(o.data, 1, o.len, stdout);
    if (fflush(stdout) != 0 && rc == 0) rc = cn_err_set(&err, CN_EIO, "writing to standard output: %s", strerror(errno));
done:
    cn_buf_fini(&o);
    cn_arena_fini(&a);
    cn_pq_reader_close(r);
    return rc < 0 ? cn_cli_fail(VERB, &err) : 0;
}

/* ---------------------------------------------------------------- stats */

/* A statistics bound (PLAIN bytes of the physical type) as JSON. */
static void put_stat(CnBuf *o, const CnPqLeaf *l, const uint8_t *p, uint32_t len) {
    if (!p) {
        cn_buf_puts(o, "null");
        return;
    }
    union {
        int32_t i32;
        int64_t i64;
        float f32;
        double f64;
    } x;
    int ph = l->physical;
    if (ph == CN_PQ_BOOLEAN && len >= 1) {
        cn_buf_puts(o, p[0] ? "true" : "false");
    } else if ((ph == CN_PQ_INT32 || ph == CN_PQ_FLOAT) && len == 4) {
        memcpy(&x, p, 4);
        if (ph == CN_PQ_INT32) cn_buf_printf(o, "%" PRId32, x.i32);
        else put_f32(o, x.f32, FMT_JSON);
    } else if ((ph == CN_PQ_INT64 || ph == CN_PQ_DOUBLE) && len == 8) {
        memcpy(&x, p, 8);
        if (ph == CN_PQ_INT64) cn_buf_printf(o, "%" PRId64, x.i64);
        else put_f64(o, x.f64, FMT_JSON);
    } else if (ph == CN_PQ_BYTE_ARRAY) {
        put_json_str(o, (const char *)p, len, !l->type || l->type->id != CN_COL_STRING);
    } else {
        /* Anything else (or a bound of the wrong size) as hex text. */
        cn_buf_putc(o, '"');
        for (uint32_t i = 0; i < len; i++) cn_buf_printf(o, "%02x", p[i]);
        cn_buf_putc(o, '"');
    }
}

static void put_encodings(CnBuf *o, uint32_t mask, bool json) {
    bool first = true;
    if (json) cn_buf_putc(o, '[');
    for (int e = 0; e < 32; e++) {
        if (!(mask & (1u << e))) continue;
        if (!first) cn_buf_putc(o, json ? ',' : ' ');
        first = false;
        if (json) cn_buf_printf(o, "\"%s\"", cn_pq_encoding_name(e));
        else cn_buf_puts(o, cn_pq_encoding_name(e));
    }
    if (json) cn_buf_putc(o, ']');
}

static int cmd_stats(int argc, char **argv) {
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (cn_cli_is_help(argv[i])) return printf("%s", usage_stats), 0;
        if (!strcmp(argv[i], "--json")) json = true;
        else if (argv[i][0] == '-' && argv[i][1]) return usage_error(usage_stats, "unknown option %s", argv[i]);
        else if (!path) path = argv[i];
        else return usage_error(usage_stats, "unexpected argument %s", argv[i]);
    }
    if (!path) return usage_error(usage_stats, "%s", "stats needs a file");
    CnErr err = CN_ERR_INIT;
    CnPqReader *r = NULL;
    if (open_reader(path, &r, &err) < 0) return cn_cli_fail(VERB, &err);
    const CnPqMeta *m = cn_pq_reader_meta(r);
    CnBuf o = CN_BUF_INIT;
    if (json) {
        cn_buf_printf(&o, "{\"file\":");
        put_json_str(&o, path, strlen(path), false);
        cn_buf_printf(&o, ",\"file_bytes\":%" PRIu64 ",\"rows\":%" PRId64 ",\"created_by\":", m->file_len, m->n_rows);
        if (m->created_by) put_json_str(&o, m->created_by, strlen(m->created_by), false);
        else cn_buf_puts(&o, "null");
        cn_buf_puts(&o, ",\"row_groups\":[");
    } else {
        cn_buf_printf(&o, "file: %s\nbytes: %" PRIu64 "\nrows: %" PRId64 "\nrow groups: %u\ncreated by: %s\n", path,
                      m->file_len, m->n_rows, m->n_row_groups, m->created_by ? m->created_by : "(unknown)");
    }
    for (uint32_t g = 0; g < m->n_row_groups; g++) {
        const CnPqRowGroup *rg = &m->row_groups[g];
        if (json) cn_buf_printf(&o, "%s{\"rows\":%" PRId64 ",\"bytes\":%" PRId64 ",\"columns\":[", g ? "," : "", rg->n_rows,
                                rg->total_byte_size);
        else cn_buf_printf(&o, "row group %u: rows %" PRId64 ", bytes %" PRId64 "\n", g, rg->n_rows, rg->total_byte_size);
        for (uint32_t c = 0; c < m->n_leaves; c++) {
            const CnPqLeaf *l = &m->leaves[c];
            const CnPqChunk *ch = &rg->chunks[c];
            const CnPqStats *st = &ch->stats;
            if (json) {
                cn_buf_printf(&o, "%s{\"path\":", c ? "," : "");
                put_json_str(&o, l->path, strlen(l->path), false);
                cn_buf_printf(&o, ",\"physical\":\"%s\",\"codec\":\"%s\",\"encodings\":", cn_pq_physical_name(l->physical),
                              cn_pq_codec_name(ch->codec));
                put_encodings(&o, ch->encodings, true);
                cn_buf_printf(&o, ",\"compressed_bytes\":%" PRId64 ",\"uncompressed_bytes\":%" PRId64 ",\"values\":%" PRId64
                                  ",\"nulls\":",
                              ch->compressed_len, ch->uncompressed_len, ch->n_values);
                if (st->has_null_count) cn_buf_printf(&o, "%" PRId64, st->null_count);
                else cn_buf_puts(&o, "null");
                cn_buf_puts(&o, ",\"min\":");
                put_stat(&o, l, st->has_min_max ? st->min : NULL, st->min_len);
                cn_buf_puts(&o, ",\"max\":");
                put_stat(&o, l, st->has_min_max ? st->max : NULL, st->max_len);
                cn_buf_putc(&o, '}');
            } else {
                cn_buf_printf(&o, "  %s: %s %s [", l->path, cn_pq_physical_name(l->physical), cn_pq_codec_name(ch->codec));
                put_encodings(&o, ch->encodings, false);
                cn_buf_printf(&o, "] bytes %" PRId64 "/%" PRId64 " values %" PRId64 " nulls ", ch->compressed_len,
                              ch->uncompressed_len, ch->n_values);
                if (st->has_null_count) cn_buf_printf(&o, "%" PRId64, st->null_count);
                else cn_buf_puts(&o, "?");
                if (st->has_min_max) {
                    cn_buf_puts(&o, " min ");
                    put_stat(&o, l, st->min, st->min_len);
                    cn_buf_puts(&o, " max ");
                    put_stat(&o, l, st->max, st->max_len);
                }
                cn_buf_putc(&o, '\n');
            }
        }
        if (json) cn_buf_puts(&o, "]}");
    }
    if (json) cn_buf_puts(&o, "]}\n");
    int rc = 0;
    if (o.oom) rc = cn_err_set(&err, CN_ENOMEM, "%s: out of memory", path);
    else fwrite(o.data, 1, o.len, stdout);
    cn_buf_fini(&o);
    cn_pq_reader_close(r);
    return rc < 0 ? cn_cli_fail(VERB, &err) : 0;
}

/* -------------------------------------------------------------- convert */

/* Parquet when the name ends in .parquet or the file starts with the magic. */
static bool is_parquet_file(const char *path) {
    if (cn_str_ends_with(path, ".parquet")) return true;
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    bool yes = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "PAR1", 4) == 0;
    if (f) fclose(f);
    return yes;
}

static int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *schema = NULL;
    CnPqWriteOpts opts;
    cn_pq_write_opts_init(&opts);
    CnErr err = CN_ERR_INIT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cn_cli_is_help(a)) return printf("%s", usage_convert), 0;
        bool has = i + 1 < argc;
        if (!strcmp(a, "--codec") && has) {
            CnPqCodec codec;
            if (cn_pq_codec_parse(argv[++i], &codec, &err) < 0)
                return usage_error(usage_convert, "--codec %s: expected zstd, snappy, gzip or none", argv[i]);
            opts.codec = codec;
        } else if (!strcmp(a, "--row-group-rows") && has) {
            if (!parse_u32(argv[++i], &opts.row_group_rows) || !opts.row_group_rows)
                return usage_error(usage_convert, "--row-group-rows %s: expected a positive row count", argv[i]);
        } else if (!strcmp(a, "--page-bytes") && has) {
            if (!parse_u32(argv[++i], &opts.page_bytes) || !opts.page_bytes)
                return usage_error(usage_convert, "--page-bytes %s: expected a positive byte count", argv[i]);
        } else if (!strcmp(a, "--page-version") && has) {
            const char *v = argv[++i];
            if (strcmp(v, "1") != 0 && strcmp(v, "2") != 0)
                return usage_error(usage_convert, "--page-version %s: expected 1 or 2", v);
            opts.page_version = v[0] - '0';
        } else if (!strcmp(a, "--int-encoding") && has) {
            const char *v = argv[++i];
            if (!strcmp(v, "plain")) opts.int_encoding = CN_PQ_ENC_PLAIN;
            else if (!strcmp(v, "delta")) opts.int_encoding = CN_PQ_ENC_DELTA_BINARY_PACKED;
            else return usage_error(usage_convert, "--int-encoding %s: expected plain or delta", v);
        } else if (!strcmp(a, "--bytes-encoding") && has) {
            const char *v = argv[++i];
            if (!strcmp(v, "plain")) opts.bytes_encoding = CN_PQ_ENC_PLAIN;
            else if (!strcmp(v, "delta-length")) opts.bytes_encoding = CN_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY;
            else if (!strcmp(v, "delta")) opts.bytes_encoding = CN_PQ_ENC_DELTA_BYTE_ARRAY;
            else return usage_error(usage_convert, "--bytes-encoding %s: expected plain, delta-length or delta", v);
        } else if (!strcmp(a, "--schema") && has) {
            schema = argv[++i];
        } else if (!strcmp(a, "--no-dictionary")) {
            opts.dictionary = false;
        } else if (!strcmp(a, "--no-statistics")) {
            opts.statistics = false;
        } else if (a[0] == '-' && a[1]) {
            return usage_error(usage_convert, "unknown or incomplete option %s", a);
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            return usage_error(usage_convert, "unexpected argument %s", a);
        }
    }
    if (!in || !out) return usage_error(usage_convert, "%s", "convert needs an input and an output file");

    int rc = 0;
    CnArena arena;
    cn_arena_init(&arena, 0);
    CnCsvReader *csv = NULL;
    CnPqReader *pq = NULL;
    CnPqWriter *w = NULL;
    const CnSchema *s;
    bool from_parquet = is_parquet_file(in);
    if (from_parquet) {
        if (schema) return usage_error(usage_convert, "%s", "--schema applies to CSV input only");
        rc = cn_pq_reader_open(in, &pq, &err);
        if (rc == 0) rc = project_all(pq, &arena, &err);
        if (rc < 0) goto done;
        s = cn_pq_reader_out_schema(pq);
    } else {
        CnCsvOptions copt = {.schema = schema};
        rc = cn_csv_reader_open(in, &copt, &csv, &err);
        if (rc < 0) goto done;
        s = cn_csv_reader_schema(csv);
    }
    rc = cn_pq_writer_open(out, s, &opts, &w, &err);
    if (rc < 0) goto done;
    for (;;) {
        if (from_parquet) {
            const CnBatch *b = NULL;
            rc = cn_pq_reader_next(pq, 0, &b, &err);
            if (rc < 0 || !b) break;
            rc = cn_pq_writer_write(w, b, &err);
        } else {
            CnBatch *b = NULL;
            rc = cn_csv_reader_next(csv, &b, &err);
            if (rc < 0 || !b) break;
            rc = cn_pq_writer_write(w, b, &err);
        }
        if (rc < 0) break;
    }
    if (rc < 0) goto done;
    rc = cn_pq_writer_finish(w, &err);
done:
    cn_pq_writer_free(w); /* without a finish, removes the temporary file */
    cn_csv_reader_close(csv);
    cn_pq_reader_close(pq);
    cn_arena_fini(&arena);
    return rc < 0 ? cn_cli_fail(VERB, &err) : 0;
}

int cn_cli_parquet(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "%s", usage_main);
        return 2;
    }
    const char *sub = argv[1];
    if (cn_cli_is_help(sub) || !strcmp(sub, "help")) return printf("%s", usage_main), 0;
    if (!strcmp(sub, "schema")) return cmd_schema(argc - 1, argv + 1);
    if (!strcmp(sub, "cat")) return cmd_cat(argc - 1, argv + 1);
    if (!strcmp(sub, "stats")) return cmd_stats(argc - 1, argv + 1);
    if (!strcmp(sub, "convert")) return cmd_convert(argc - 1, argv + 1);
    fprintf(stderr, "chronon parquet: unknown command '%s'\n%s", sub, usage_main);
    return 2;
}
