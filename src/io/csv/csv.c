/* csv.c: the CSV reader (contract in csv.h).
 * One pass over a buffered file: a small state machine splits records into fields
 * (each field NUL-terminated in one reusable buffer, so number parsers can run in
 * place); the first sample_rows records are kept in an arena to infer types, then
 * replayed into the first batches before parsing goes on. Nothing is allocated per
 * value: fields reuse the record buffer and values go straight into column vectors. */
#include "base/compat.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/date.h"
#include "base/str.h"
#include "io/csv/csv.h"

#define CSV_READ_CHUNK (256u * 1024u)
#define CSV_DEFAULT_BATCH 65536u
#define CSV_DEFAULT_SAMPLE 1000u
#define CSV_MAX_FIELD_SHOWN 64

/* One record: fields are bytes[start_i .. end[i]) with start_0 = 0 and start_{i+1} =
 * end[i] + 1 (each field is followed by a NUL). */
typedef struct CsvRec {
    const char *bytes;
    const uint32_t *end;
    const bool *quoted;
    uint32_t n;
    uint64_t line;
} CsvRec;

struct CnCsvReader {
    char *path; /* OWNED */
    FILE *f;
    /* read buffer */
    char *buf; /* OWNED */
    size_t len, pos;
    bool eof;
    uint64_t line; /* physical line (1-based) at the read position */
    /* the record being parsed; reused */
    CnBuf field;
    uint32_t *end;
    bool *quoted;
    uint32_t n_fields, cap_fields;
    uint64_t rec_line;
    /* inference sample, replayed before parsing resumes */
    CnArena sample_arena;
    CsvRec *sample;
    uint32_t n_sample, i_sample;
    bool *col_inferred; /* OWNED: type came from inference (for the error hint) */
    uint32_t sample_rows;
    /* output */
    CnSchema *schema;
    CnBatch *batch;
    uint32_t n_cols;
    uint32_t batch_rows;
    uint64_t rows;
};

/* ------------------------------------------------------------- reading */

static int refill(CnCsvReader *r, CnErr *err) {
    if (r->eof) return 0;
    r->len = fread(r->buf, 1, CSV_READ_CHUNK, r->f);
    r->pos = 0;
    if (r->len == 0) {
        if (ferror(r->f)) {
            int e = errno ? errno : EIO;
            return cn_err_set(err, -e, "%s: read error: %s", r->path, strerror(e));
        }
        r->eof = true;
    }
    return 0;
}

/* Next byte, or -1 at end of input; <-1 never (read errors are reported by refill
 * through *rc). */
static inline int next_ch(CnCsvReader *r, int *rc, CnErr *err) {
    if (CN_UNLIKELY(r->pos == r->len)) {
        *rc = refill(r, err);
        if (*rc < 0 || r->len == 0) return -1;
    }
    return (unsigned char)r->buf[r->pos++];
}

static inline int peek_ch(CnCsvReader *r, int *rc, CnErr *err) {
    if (CN_UNLIKELY(r->pos == r->len)) {
        *rc = refill(r, err);
        if (*rc < 0 || r->len == 0) return -1;
    }
    return (unsigned char)r->buf[r->pos];
}

/* Appends n bytes to the record buffer; the common case is one memcpy. */
static inline int field_append(CnBuf *b, const char *p, size_t n) {
    if (CN_UNLIKELY(b->len + n + 1 > b->cap)) return cn_buf_append(b, p, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

static int push_field(CnCsvReader *r, bool quoted) {
    if (r->n_fields == r->cap_fields) {
        uint32_t cap = r->cap_fields ? r->cap_fields * 2 : 64;
        uint32_t *e = cn_realloc(r->end, cap * sizeof *e);
        if (!e) return CN_ENOMEM;
        r->end = e;
        bool *q = cn_realloc(r->quoted, cap * sizeof *q);
        if (!q) return CN_ENOMEM;
        r->quoted = q;
        r->cap_fields = cap;
    }
    r->end[r->n_fields] = (uint32_t)r->field.len;
    r->quoted[r->n_fields] = quoted;
    r->n_fields++;
    return field_append(&r->field, "", 1);
}

/* Parses one record into r->field/end/quoted. Returns 1 for a record, 0 at end of
 * input, <0 on error. Blank lines are skipped. */
static int read_record(CnCsvReader *r, CnErr *err) {
    int rc = 0, c;
    cn_buf_reset(&r->field);
    r->n_fields = 0;
    for (;;) { /* skip blank lines */
        c = next_ch(r, &rc, err);
        if (rc < 0) return rc;
        if (c == -1) return 0;
        if (c == '\n') {
            r->line++;
            continue;
        }
        if (c == '\r') {
            if (peek_ch(r, &rc, err) == '\n') r->pos++;
            if (rc < 0) return rc;
            r->line++;
            continue;
        }
        break;
    }
    r->rec_line = r->line;
    for (;;) {
        bool quoted = false;
        if (c == '"') {
            quoted = true;
            uint64_t open_line = r->line;
            for (;;) {
                c = next_ch(r, &rc, err);
                if (rc < 0) return rc;
                if (c == -1)
                    return cn_err_set(err, CN_ECORRUPT,
                                      "%s:%" PRIu64 ":%u: quoted field opened here is never closed",
                                      r->path, open_line, r->n_fields + 1);
                if (c == '"') {
                    c = next_ch(r, &rc, err);
                    if (rc < 0) return rc;
                    if (c == '"') {
                        if (cn_buf_putc(&r->field, '"') < 0) return CN_ENOMEM;
                        continue;
                    }
                    break;
                }
                if (c == '\n') r->line++;
                if (cn_buf_putc(&r->field, (char)c) < 0) return CN_ENOMEM;
            }
            if (c != ',' && c != '\n' && c != '\r' && c != -1)
                return cn_err_set(err, CN_ECORRUPT,
                                  "%s:%" PRIu64 ":%u: unexpected character '%c' after a closing quote "
                                  "(a quote inside a quoted field is written \"\")",
                                  r->path, r->line, r->n_fields + 1, c);
        } else {
            /* Unquoted: copy up to the next separator in one go where the buffer
             * allows (the common case), byte by byte across refills. */
            for (;;) {
                if (c == ',' || c == '\n' || c == '\r' || c == -1) break;
                size_t start = r->pos - 1, p = r->pos;
                while (p < r->len) {
                    char ch = r->buf[p];
                    if (ch == ',' || ch == '\n' || ch == '\r') break;
                    p++;
                }
                if (field_append(&r->field, r->buf + start, p - start) < 0) return CN_ENOMEM;
                r->pos = p;
                c = next_ch(r, &rc, err);
                if (rc < 0) return rc;
            }
        }
        if (push_field(r, quoted) < 0) return CN_ENOMEM;
        if (c == ',') {
            c = next_ch(r, &rc, err);
            if (rc < 0) return rc;
            continue;
        }
        if (c == '\r') {
            if (peek_ch(r, &rc, err) == '\n') r->pos++;
            if (rc < 0) return rc;
        }
        if (c != -1) r->line++;
        return 1;
    }
}

static CsvRec current(const CnCsvReader *r) {
    CsvRec rec = {r->field.data ? r->field.data : "", r->end, r->quoted, r->n_fields, r->rec_line};
    return rec;
}

static inline const char *rec_field(const CsvRec *rec, uint32_t i, uint32_t *len) {
    uint32_t start = i ? rec->end[i - 1] + 1 : 0;
    *len = rec->end[i] - start;
    return rec->bytes + start;
}

/* ------------------------------------------------------------- values */

static bool parse_bool(const char *s, uint32_t len, bool strict, bool *out) {
    if (len == 4 && strncasecmp(s, "true", 4) == 0) return *out = true, true;
    if (len == 5 && strncasecmp(s, "false", 5) == 0) return *out = false, true;
    if (!strict && len == 1 && (s[0] == '1' || s[0] == '0')) return *out = s[0] == '1', true;
    return false;
}

static bool parse_i64(const char *s, uint32_t len, int64_t *out) {
    uint32_t i = 0;
    bool neg = false;
    if (len && (s[0] == '-' || s[0] == '+')) neg = s[i++] == '-';
    if (i == len) return false;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9) return false;
        if (v > (lim - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Exact fast path for plain decimals ([-]digits[.digits], at most 15 digits): the
 * digits form an integer below 2^53 and 10^frac is exact, so one IEEE division gives
 * the correctly rounded result strtod would. Returns false to fall back to strtod. */
static bool parse_f64_fast(const char *s, uint32_t len, double *out) {
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
                                   1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    uint32_t i = 0, digits = 0, frac = 0;
    bool neg = false, dot = false;
    uint64_t m = 0;
    if (s[0] == '-' || s[0] == '+') neg = s[i++] == '-';
    for (; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            m = m * 10 + (uint64_t)(c - '0');
            digits++;
            frac += dot;
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            return false;
        }
    }
    if (digits == 0 || digits > 15) return false;
    double d = (double)m / pow10[frac];
    *out = neg ? -d : d;
    return true;
}

/* s is NUL-terminated at len. Decimal or scientific notation, nan and inf; no hex,
 * no surrounding spaces. */
static bool parse_f64(const char *s, uint32_t len, double *out) {
    if (len && parse_f64_fast(s, len, out)) return true;
    if (len == 0 || s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t') return false;
    for (uint32_t i = 0; i < len; i++)
        if (s[i] == 'x' || s[i] == 'X') return false;
    char *endp;
    errno = 0;
    double d = strtod(s, &endp);
    if (endp != s + len) return false;
    if (errno == ERANGE && isinf(d)) return false;
    *out = d;
    return true;
}

/* Epoch millis, or YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z] in UTC. */
static bool parse_ts(const char *s, uint32_t len, int64_t *out) {
    if (parse_i64(s, len, out)) return true;
    if (len < 10) return false;
    char ds[11];
    memcpy(ds, s, 10);
    ds[10] = 0;
    int64_t days;
    if (cn_ds_parse(ds, &days) < 0) return false;
    int64_t ms = days * CN_MS_PER_DAY;
    uint32_t i = 10;
    if (i < len) {
        if (s[i] != ' ' && s[i] != 'T') return false;
        i++;
        unsigned h, m, sec = 0, frac = 0, fd = 0;
        if (len - i < 5 || s[i + 2] != ':') return false;
        if (sscanf(s + i, "%2u:%2u", &h, &m) != 2) return false;
        i += 5;
        if (i < len && s[i] == ':') {
            if (len - i < 3 || sscanf(s + i + 1, "%2u", &sec) != 1) return false;
            i += 3;
            if (i < len && s[i] == '.') {
                i++;
                while (i < len && s[i] >= '0' && s[i] <= '9') {
                    if (fd < 3) frac = frac * 10 + (unsigned)(s[i] - '0'), fd++;
                    i++;
                }
                if (fd == 0) return false;
                while (fd < 3) frac *= 10, fd++;
            }
        }
        if (i < len && s[i] == 'Z') i++;
        if (i != len || h > 23 || m > 59 || sec > 60) return false;
        ms += (int64_t)h * CN_MS_PER_HOUR + (int64_t)m * 60000 + (int64_t)sec * 1000 + frac;
    }
    *out = ms;
    return true;
}

static const char *article(CnTypeId id) {
    return id == CN_COL_INT32 || id == CN_COL_INT64 ? "an" : "a";
}

static CN_COLD int type_error(CnCsvReader *r, const CsvRec *rec, uint32_t col, const char *s,
                              uint32_t len, CnErr *err) {
    const CnField *fld = &r->schema->fields[col];
    const char *hint;
    switch (fld->type->id) {
    case CN_COL_BOOL: hint = "true or false"; break;
    case CN_COL_INT32: hint = "a whole number in the int32 range"; break;
    case CN_COL_INT64: hint = "a whole number in the int64 range"; break;
    case CN_COL_FLOAT32:
    case CN_COL_FLOAT64: hint = "a decimal number"; break;
    case CN_COL_DATE: hint = "a date YYYY-MM-DD"; break;
    case CN_COL_TIMESTAMP: hint = "epoch milliseconds or YYYY-MM-DD HH:MM:SS[.fff]"; break;
    default: hint = "a value of that type"; break;
    }
    char extra[160] = "";
    if (r->col_inferred[col])
        snprintf(extra, sizeof extra,
                 "; the type was inferred from the first %u records, give the column an explicit type to override",
                 r->sample_rows);
    return cn_err_set(err, CN_ETYPE,
                      "%s:%" PRIu64 ":%u: column \"%s\": value \"%.*s\"%s is not %s %s (expected %s%s)",
                      r->path, rec->line, col + 1, fld->name,
                      (int)CN_MIN(len, CSV_MAX_FIELD_SHOWN), s, len > CSV_MAX_FIELD_SHOWN ? "..." : "",
                      article(fld->type->id), cn_col_type_id_name(fld->type->id), hint, extra);
}

static int append_record(CnCsvReader *r, const CsvRec *rec, CnErr *err) {
    if (rec->n != r->n_cols)
        return cn_err_set(err, CN_ECORRUPT,
                          "%s:%" PRIu64 ": record has %u field%s but the header has %u columns",
                          r->path, rec->line, rec->n, rec->n == 1 ? "" : "s", r->n_cols);
    for (uint32_t c = 0; c < r->n_cols; c++) {
        uint32_t len;
        const char *s = rec_field(rec, c, &len);
        CnVec *v = &r->batch->cols[c];
        CnTypeId id = v->type->id;
        bool text = id == CN_COL_STRING || id == CN_COL_BINARY;
        if (len == 0 && (!rec->quoted[c] || !text)) {
            cn_col_vec_append_null(v);
            continue;
        }
        bool ok = true;
        switch (id) {
        case CN_COL_BOOL: {
            bool b;
            ok = parse_bool(s, len, false, &b);
            if (ok) cn_col_vec_append_bool(v, b);
            break;
        }
        case CN_COL_INT32: {
            int64_t x;
            ok = parse_i64(s, len, &x) && x >= INT32_MIN && x <= INT32_MAX;
            if (ok) cn_col_vec_append_i32(v, (int32_t)x);
            break;
        }
        case CN_COL_INT64: {
            int64_t x;
            ok = parse_i64(s, len, &x);
            if (ok) cn_col_vec_append_i64(v, x);
            break;
        }
        case CN_COL_FLOAT32:
        case CN_COL_FLOAT64: {
            double d;
            ok = parse_f64(s, len, &d);
            if (ok) {
                if (id == CN_COL_FLOAT32) cn_col_vec_append_f32(v, (float)d);
                else cn_col_vec_append_f64(v, d);
            }
            break;
        }
        case CN_COL_DATE: {
            int64_t days;
            ok = len == 10 && cn_ds_parse(s, &days) == 0;
            if (ok) cn_col_vec_append_i32(v, (int32_t)days);
            break;
        }
        case CN_COL_TIMESTAMP: {
            int64_t ms;
            ok = parse_ts(s, len, &ms);
            if (ok) cn_col_vec_append_i64(v, ms);
            break;
        }
        case CN_COL_STRING:
        case CN_COL_BINARY: cn_col_vec_append_str(v, s, len); break;
        default: CN_ASSERT(!"nested CSV column");
        }
        if (!ok) return type_error(r, rec, c, s, len, err);
    }
    r->rows++;
    return 0;
}

/* ------------------------------------------------------------- schema */

int cn_csv_schema_spec_parse(CnArena *a, const char *spec, const char ***names,
                             const CnType ***types, uint32_t *n, CnErr *err) {
    int rc = 0;
    uint32_t cap = 1;
    for (const char *p = spec; *p; p++) cap += *p == ',';
    const char **nm = cn_arena_alloc(a, cap * sizeof *nm);
    const CnType **ty = cn_arena_alloc(a, cap * sizeof *ty);
    char *copy = cn_arena_strdup(a, spec);
    if (!nm || !ty || !copy) return cn_err_set(err, CN_ENOMEM, "schema spec: out of memory");
    uint32_t k = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ') item++;
        char *colon = strrchr(item, ':');
        if (!colon || colon == item)
            return cn_err_set(err, CN_EINVAL,
                              "schema spec \"%s\": entry \"%s\" is not name:type", spec, item);
        *colon = 0;
        char *tname = colon + 1, *e = colon;
        while (e > item && e[-1] == ' ') *--e = 0;
        while (*tname == ' ') tname++;
        for (char *t = tname + strlen(tname); t > tname && t[-1] == ' ';) *--t = 0;
        const CnType *t = NULL;
        CnErr terr = CN_ERR_INIT;
        rc = cn_col_type_parse(a, tname, &t, &terr);
        if (rc < 0 || cn_col_type_is_nested(t->id))
            return cn_err_set(err, CN_EINVAL,
                              "schema spec \"%s\": column \"%s\": type \"%s\" is not one of bool, int32, "
                              "int64, float32, float64, date, timestamp, string, binary",
                              spec, item, tname);
        for (uint32_t j = 0; j < k; j++)
            if (!strcmp(nm[j], item))
                return cn_err_set(err, CN_EINVAL, "schema spec \"%s\": column \"%s\" is given twice", spec, item);
        nm[k] = item;
        ty[k] = t;
        k++;
    }
    if (k == 0) return cn_err_set(err, CN_EINVAL, "schema spec \"%s\" names no column", spec);
    *names = nm;
    *types = ty;
    *n = k;
    return 0;
}

/* The narrowest type of bool < int64 < float64 < string that holds every non-empty
 * sampled value of column c. */
static CnTypeId infer_column(const CnCsvReader *r, uint32_t c, const char *name) {
    if (!strcmp(name, "ds")) return CN_COL_STRING;
    bool any = false, all_bool = true, all_int = true, all_num = true;
    for (uint32_t i = 0; i < r->n_sample; i++) {
        uint32_t len;
        const char *s = rec_field(&r->sample[i], c, &len);
        if (len == 0) continue;
        any = true;
        bool b;
        int64_t x;
        double d;
        if (all_bool && !parse_bool(s, len, true, &b)) all_bool = false;
        if (all_int && !parse_i64(s, len, &x)) all_int = false;
        if (all_num && !all_int && !parse_f64(s, len, &d)) all_num = false;
        if (!all_bool && !all_num) break;
    }
    if (!any) return CN_COL_STRING;
    if (all_bool) return CN_COL_BOOL;
    if (all_int) return CN_COL_INT64; /* `ts` lands here: epoch millis stay int64 */
    if (all_num) return CN_COL_FLOAT64;
    return CN_COL_STRING;
}

static int keep_sample(CnCsvReader *r, CnErr *err) {
    CsvRec *rec = &r->sample[r->n_sample];
    size_t blen = r->field.len ? r->field.len : 1;
    char *bytes = cn_arena_alloc(&r->sample_arena, blen);
    uint32_t *end = cn_arena_alloc(&r->sample_arena, (r->n_fields + 1) * sizeof *end);
    bool *quoted = cn_arena_alloc(&r->sample_arena, r->n_fields + 1);
    if (!bytes || !end || !quoted) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", r->path);
    if (r->field.len) memcpy(bytes, r->field.data, r->field.len);
    memcpy(end, r->end, r->n_fields * sizeof *end);
    memcpy(quoted, r->quoted, r->n_fields);
    *rec = (CsvRec){bytes, end, quoted, r->n_fields, r->rec_line};
    r->n_sample++;
    return 0;
}

int cn_csv_reader_open(const char *path, const CnCsvOptions *opt, CnCsvReader **out,
                       CnErr *err) {
    int rc = 0;
    CnCsvReader *r = cn_calloc(1, sizeof *r);
    *out = NULL;
    if (!r) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", path);
    cn_arena_init(&r->sample_arena, 0);
    r->path = cn_strdup(path);
    r->buf = cn_malloc(CSV_READ_CHUNK);
    r->line = 1;
    r->batch_rows = opt && opt->batch_rows ? opt->batch_rows : CSV_DEFAULT_BATCH;
    r->sample_rows = opt && opt->sample_rows ? opt->sample_rows : CSV_DEFAULT_SAMPLE;
    if (!r->path || !r->buf) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    r->f = fopen(path, "rb");
    if (!r->f) {
        int e = errno;
        rc = cn_err_set(err, e == ENOENT ? CN_ENOTFOUND : -e, "%s: cannot open: %s", path, strerror(e));
        goto done;
    }
    /* Byte order mark. */
    rc = refill(r, err);
    if (rc < 0) goto done;
    if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) r->pos = 3;

    rc = read_record(r, err);
    if (rc < 0) goto done;
    CN_CHECK_DATA(rc == 1, err, rc, "%s: empty file: expected a header line of column names", path);
    rc = cn_col_schema_new(&r->schema);
    if (rc < 0) {
        cn_err_set(err, rc, "%s: out of memory", path);
        goto done;
    }
    r->n_cols = r->n_fields;
    r->col_inferred = cn_calloc(r->n_cols, sizeof *r->col_inferred);
    const char **hdr = cn_arena_alloc(&r->sample_arena, r->n_cols * sizeof *hdr);
    if (!r->col_inferred || !hdr) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    {
        CsvRec h = current(r);
        for (uint32_t c = 0; c < r->n_cols; c++) {
            uint32_t len;
            const char *s = rec_field(&h, c, &len);
            CN_CHECK_DATA(len > 0, err, rc, "%s:%" PRIu64 ":%u: header column %u has no name", path,
                          h.line, c + 1, c + 1);
            hdr[c] = cn_arena_strndup(&r->sample_arena, s, len);
            if (!hdr[c]) {
                rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", path);
                goto done;
            }
        }
    }

    const char **ov_names = NULL;
    const CnType **ov_types = NULL;
    uint32_t n_ov = 0;
    if (opt && opt->schema && *opt->schema) {
        rc = cn_csv_schema_spec_parse(&r->sample_arena, opt->schema, &ov_names, &ov_types, &n_ov, err);
        if (rc < 0) goto done;
        for (uint32_t j = 0; j < n_ov; j++) {
            uint32_t c = 0;
            while (c < r->n_cols && strcmp(hdr[c], ov_names[j]) != 0) c++;
            if (c == r->n_cols) {
                CnBuf cols = CN_BUF_INIT;
                for (uint32_t k = 0; k < r->n_cols; k++) cn_buf_printf(&cols, "%s%s", k ? ", " : "", hdr[k]);
                rc = cn_err_set(err, CN_EINVAL, "%s: schema names column \"%s\", which the header lacks (columns: %s)",
                                path, ov_names[j], cols.data ? cols.data : "");
                cn_buf_fini(&cols);
                goto done;
            }
        }
    }

    /* Sample. */
    r->sample = cn_arena_alloc(&r->sample_arena, r->sample_rows * sizeof *r->sample);
    if (!r->sample) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    while (r->n_sample < r->sample_rows) {
        rc = read_record(r, err);
        if (rc < 0) goto done;
        if (rc == 0) break;
        CN_CHECK_DATA(r->n_fields == r->n_cols, err, rc,
                      "%s:%" PRIu64 ": record has %u field%s but the header has %u columns", path,
                      r->rec_line, r->n_fields, r->n_fields == 1 ? "" : "s", r->n_cols);
        rc = keep_sample(r, err);
        if (rc < 0) goto done;
    }
    rc = 0;

    for (uint32_t c = 0; c < r->n_cols; c++) {
        const CnType *t = NULL;
        for (uint32_t j = 0; j < n_ov; j++)
            if (!strcmp(ov_names[j], hdr[c])) t = ov_types[j];
        if (!t) {
            t = cn_col_type_prim(infer_column(r, c, hdr[c]));
            r->col_inferred[c] = true;
        }
        rc = cn_col_schema_add(r->schema, hdr[c], t, true, CN_COL_NO_ID, err);
        if (rc < 0) {
            cn_err_ctx(err, rc, "%s: header", path);
            goto done;
        }
    }
    rc = cn_col_batch_new(r->schema, &r->batch, err);
    if (rc < 0) goto done;
    *out = r;
done:
    if (rc < 0) cn_csv_reader_close(r);
    return rc;
}

const CnSchema *cn_csv_reader_schema(const CnCsvReader *r) { return r->schema; }

uint64_t cn_csv_reader_rows(const CnCsvReader *r) { return r->rows; }

int cn_csv_reader_next(CnCsvReader *r, CnBatch **out, CnErr *err) {
    int rc = 0;
    *out = NULL;
    cn_col_batch_reset(r->batch);
    uint32_t n = 0;
    while (n < r->batch_rows && r->i_sample < r->n_sample) {
        rc = append_record(r, &r->sample[r->i_sample++], err);
        if (rc < 0) goto done;
        n++;
    }
    if (r->i_sample == r->n_sample && r->n_sample) {
        /* The sample is replayed: its memory can go. */
        cn_arena_reset(&r->sample_arena);
        r->n_sample = r->i_sample = 0;
    }
    while (n < r->batch_rows) {
        rc = read_record(r, err);
        if (rc < 0) goto done;
        if (rc == 0) break;
        CsvRec rec = current(r);
        rc = append_record(r, &rec, err);
        if (rc < 0) goto done;
        n++;
    }
    rc = cn_col_batch_sync_rows(r->batch, err);
    if (rc < 0) goto done;
    if (n) *out = r->batch;
done:
    return rc;
}

void cn_csv_reader_close(CnCsvReader *r) {
    if (!r) return;
    if (r->f) fclose(r->f);
    cn_col_batch_free(r->batch);
    cn_col_schema_free(r->schema);
    cn_arena_fini(&r->sample_arena);
    cn_buf_fini(&r->field);
    cn_free(r->end);
    cn_free(r->quoted);
    cn_free(r->col_inferred);
    cn_free(r->buf);
    cn_free(r->path);
    cn_free(r);
}
