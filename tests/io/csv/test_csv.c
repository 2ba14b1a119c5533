/* test_csv.c: the CSV reader: RFC 4180 quoting, type inference and its fixed names,
 * explicit schemas, streaming in batches, and errors that name file:line:column. */
#include "cn_test.h"

#include <math.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/str.h"
#include "io/csv/csv.h"

/* Writes text to a fresh temporary file; returns its path in buf. */
static const char *write_tmp(char *buf, size_t len, const char *text) {
    const char *dir = getenv("TMPDIR");
    snprintf(buf, len, "%s/cn_csv_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(buf);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return buf;
}

typedef struct Read {
    CnCsvReader *r;
    CnErr err;
    char path[256];
} Read;

static int open_text(Read *t, const char *text, const CnCsvOptions *opt) {
    cn_err_clear(&t->err);
    write_tmp(t->path, sizeof t->path, text);
    return cn_csv_reader_open(t->path, opt, &t->r, &t->err);
}

static void done(Read *t) {
    cn_csv_reader_close(t->r);
    t->r = NULL;
    unlink(t->path);
}

static CnTypeId col_type(const Read *t, const char *name) {
    const CnSchema *s = cn_csv_reader_schema(t->r);
    int i = cn_col_schema_find(s, name);
    assert_true(i >= 0);
    return s->fields[i].type->id;
}

static void str_eq(const CnVec *v, uint32_t i, const char *want) {
    assert_true(cn_col_vec_is_valid(v, i));
    uint32_t len;
    const char *s = cn_col_vec_str(v, i, &len);
    if (len != strlen(want) || memcmp(s, want, len) != 0)
        fail_msg("row %u: expected \"%s\", got \"%.*s\"", i, want, (int)len, s);
}

static void infers_types_and_keeps_ts_ds(void **state) {
    (void)state;
    Read t = {0};
    const char *csv = "ds,ts,user_id,price,flag,name,empty\n"
                      "20231130,1701374234059,26,177,true,a,\n"
                      "20231201,1701351870602,98,1.5,FALSE,b,\n"
                      "20231202,,,,,,\n";
    ASSERT_OK(open_text(&t, csv, NULL), &t.err);
    assert_int_equal(col_type(&t, "ds"), CN_COL_STRING);   /* digits, still a string */
    assert_int_equal(col_type(&t, "ts"), CN_COL_INT64);    /* epoch millis stay int64 */
    assert_int_equal(col_type(&t, "user_id"), CN_COL_INT64);
    assert_int_equal(col_type(&t, "price"), CN_COL_FLOAT64);
    assert_int_equal(col_type(&t, "flag"), CN_COL_BOOL);
    assert_int_equal(col_type(&t, "name"), CN_COL_STRING);
    assert_int_equal(col_type(&t, "empty"), CN_COL_STRING); /* no value to infer from */
    CnBatch *b = NULL;
    ASSERT_OK(cn_csv_reader_next(t.r, &b, &t.err), &t.err);
    assert_non_null(b);
    assert_int_equal(b->n_rows, 3);
    str_eq(&b->cols[0], 1, "20231201");
    assert_int_equal(((int64_t *)b->cols[1].values)[1], INT64_C(1701351870602));
    assert_false(cn_col_vec_is_valid(&b->cols[1], 2)); /* empty field is null */
    assert_int_equal(b->cols[1].n_null, 1);
    assert_true(((double *)b->cols[3].values)[1] == 1.5);
    assert_true(((double *)b->cols[3].values)[0] == 177.0);
    assert_int_equal(((uint8_t *)b->cols[4].values)[0], 1);
    assert_int_equal(((uint8_t *)b->cols[4].values)[1], 0);
    assert_int_equal(b->cols[6].n_null, 3);
    ASSERT_OK(cn_csv_reader_next(t.r, &b, &t.err), &t.err);
    assert_null(b);
    assert_int_equal(cn_csv_reader_rows(t.r), 3);
    done(&t);
}

static void rfc4180_quoting_crlf_and_bom(void **state) {
    (void)state;
    Read t = {0};
    const char *csv = "\xEF\xBB\xBF" "id,text,n\r\n"
                      "1,\"a, b\",7\r\n"
                      "2,\"line1\nline2\",8\r\n"
                      "3,\"say \"\"hi\"\"\",9\r\n"
                      "4,\"\",\r\n"
                      "5,plain,10";                     /* no final newline */
    ASSERT_OK(open_text(&t, csv, NULL), &t.err);
    assert_string_equal(cn_csv_reader_schema(t.r)->fields[0].name, "id"); /* BOM skipped */
    assert_int_equal(col_type(&t, "n"), CN_COL_INT64);
    CnBatch *b = NULL;
    ASSERT_OK(cn_csv_reader_next(t.r, &b, &t.err), &t.err);
    assert_int_equal(b->n_rows, 5);
    str_eq(&b->cols[1], 0, "a, b");
    str_eq(&b->cols[1], 1, "line1\nline2");
    str_eq(&b->cols[1], 2, "say \"hi\"");
    str_eq(&b->cols[1], 3, "");                   /* quoted empty: empty string, not null */
    assert_false(cn_col_vec_is_valid(&b->cols[2], 3));
    str_eq(&b->cols[1], 4, "plain");
    assert_int_equal(((int64_t *)b->cols[2].values)[4], 10);
    done(&t);
}

static void explicit_schema_overrides(void **state) {
    (void)state;
    Read t = {0};
    const char *csv = "user_id,price,day,at,ok\n"
                      "007,3,2023-11-30,2023-11-30 01:02:03.5,1\n"
                      "8,4.25,2023-12-01,1701388800000,false\n";
    CnCsvOptions opt = {.schema = "user_id:string, price:float32,day:date,at:timestamp,ok:bool"};
    ASSERT_OK(open_text(&t, csv, &opt), &t.err);
    assert_int_equal(col_type(&t, "user_id"), CN_COL_STRING);
    assert_int_equal(col_type(&t, "price"), CN_COL_FLOAT32);
    assert_int_equal(col_type(&t, "day"), CN_COL_DATE);
    assert_int_equal(col_type(&t, "at"), CN_COL_TIMESTAMP);
    CnBatch *b = NULL;
    ASSERT_OK(cn_csv_reader_next(t.r, &b, &t.err), &t.err);
    str_eq(&b->cols[0], 0, "007");                /* leading zeros kept as text */
    assert_true(((float *)b->cols[1].values)[1] == 4.25f);
    assert_int_equal(((int32_t *)b->cols[2].values)[0], 19691); /* days since epoch */
    assert_int_equal(((int64_t *)b->cols[3].values)[0], INT64_C(1701306123500));
    assert_int_equal(((int64_t *)b->cols[3].values)[1], INT64_C(1701388800000));
    assert_int_equal(((uint8_t *)b->cols[4].values)[0], 1);
    done(&t);

    /* A partial schema: only the named column is overridden. */
    CnCsvOptions part = {.schema = "ts:float64"};
    ASSERT_OK(open_text(&t, "ts,k\n1,2\n", &part), &t.err);
    assert_int_equal(col_type(&t, "ts"), CN_COL_FLOAT64);
    assert_int_equal(col_type(&t, "k"), CN_COL_INT64);
    done(&t);
}

static void streams_in_batches(void **state) {
    (void)state;
    Read t = {0};
    CnBuf text = CN_BUF_INIT;
    cn_buf_puts(&text, "k,v\n");
    for (int i = 0; i < 1000; i++) cn_buf_printf(&text, "%d,%d.5\n", i, i);
    CnCsvOptions opt = {.batch_rows = 64, .sample_rows = 10};
    ASSERT_OK(open_text(&t, text.data, &opt), &t.err);
    cn_buf_fini(&text);
    int64_t next = 0, batches = 0;
    double sum = 0;
    for (;;) {
        CnBatch *b = NULL;
        ASSERT_OK(cn_csv_reader_next(t.r, &b, &t.err), &t.err);
        if (!b) break;
        batches++;
        assert_true(b->n_rows <= 64);
        for (uint32_t i = 0; i < b->n_rows; i++) {
            assert_int_equal(((int64_t *)b->cols[0].values)[i], next);
            next++;
            sum += ((double *)b->cols[1].values)[i];
        }
    }
    assert_int_equal(next, 1000);
    assert_int_equal(batches, 16); /* ceil(1000 / 64): the sample is replayed first */
    assert_true(sum == 999.0 * 1000.0 / 2.0 + 500.0);
    done(&t);
}

static void value_outside_inferred_type_names_line_column(void **state) {
    (void)state;
    Read t = {0};
    CnCsvOptions opt = {.sample_rows = 2};
    ASSERT_OK(open_text(&t, "id,amount\n1,2.5\n2,3\n3,abc\n", &opt), &t.err);
    CnBatch *b = NULL;
    ASSERT_ERR(cn_csv_reader_next(t.r, &b, &t.err), CN_ETYPE, &t.err);
    char want[320];
    snprintf(want, sizeof want, "%s:4:2: column \"amount\": value \"abc\" is not a float64", t.path);
    ASSERT_CONTAINS(cn_err_msg(&t.err), want);
    ASSERT_CONTAINS(cn_err_msg(&t.err), "inferred from the first 2 records");
    done(&t);

    /* An explicit type that a sampled value does not fit fails on read too. */
    CnCsvOptions sch = {.schema = "n:int32"};
    ASSERT_OK(open_text(&t, "n\n5\n3000000000\n", &sch), &t.err);
    ASSERT_ERR(cn_csv_reader_next(t.r, &b, &t.err), CN_ETYPE, &t.err);
    ASSERT_CONTAINS(cn_err_msg(&t.err), ":3:1: column \"n\": value \"3000000000\" is not an int32");
    done(&t);
}

static void malformed_csv_errors(void **state) {
    (void)state;
    Read t = {0};
    CnBatch *b = NULL;
    ASSERT_ERR(open_text(&t, "a,b\n1,\"open\n2,3\n", NULL), CN_ECORRUPT, &t.err);
    ASSERT_CONTAINS(cn_err_msg(&t.err), ":2:2: quoted field opened here is never closed");
    done(&t);

    ASSERT_ERR(open_text(&t, "a,b\n1,2\n3\n", NULL), CN_ECORRUPT, &t.err);
    ASSERT_CONTAINS(cn_err_msg(&t.err), ":3: record has 1 field but the header has 2 columns");
    done(&t);

    /* Past the sample, the same check runs while streaming. */
    CnCsvOptions opt = {.sample_rows = 1};
    ASSERT_OK(open_text(&t, "a,b\n1,2\n3,4,5\n", &opt), &t.err);
    ASSERT_ERR(cn_csv_reader_next(t.r, &b, &t.err), CN_ECORRUPT, &t.err);
    ASSERT_CONTAINS(cn_err_msg(&t.err), ":3: record has 3 fields but the header has 2 columns");
    done(&t);

    ASSERT_ERR(open_text(&t, "a,b\n\"x\"y,2\n", NULL), CN_ECORRUPT, &t.err);
    ASSERT_CONTAINS(cn_err_msg(&t.err), "unexpected character 'y' after a closing quote");
    done(&t);

    ASSERT_ERR(open_text(&t, "", NULL), CN_ECORRUPT, &t.err);
    ASSERT_CONTAINS(cn_err_msg(&t.err), "empty file: expected a header line");
    done(&t);

    ASSERT_ERR(open_text(&t, "a,,c\n1,2,3\n", NULL), CN_ECORRUPT, &t.err);
    ASSERT_CONTAINS(cn_err_msg(&t.err), ":1:2: header column 2 has no name");
    done(&t);

    CnErr err = CN_ERR_INIT;
    CnCsvReader *r = NULL;
    ASSERT_ERR(cn_csv_reader_open("no/such/file.csv", NULL, &r, &err), CN_ENOTFOUND, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "no/such/file.csv: cannot open");
    assert_null(r);
}

static void bad_schema_specs(void **state) {
    (void)state;
    Read t = {0};
    CnCsvOptions unknown = {.schema = "price:float64,nope:int64"};
    ASSERT_ERR(open_text(&t, "id,price\n1,2\n", &unknown), CN_EINVAL, &t.err);
    ASSERT_CONTAINS(cn_err_msg(&t.err), "schema names column \"nope\", which the header lacks (columns: id, price)");
    done(&t);

    CnCsvOptions badtype = {.schema = "price:money"};
    ASSERT_ERR(open_text(&t, "id,price\n1,2\n", &badtype), CN_EINVAL, &t.err);
    ASSERT_CONTAINS(cn_err_msg(&t.err), "column \"price\": type \"money\" is not one of");
    done(&t);

    CnCsvOptions notype = {.schema = "price"};
    ASSERT_ERR(open_text(&t, "id,price\n1,2\n", &notype), CN_EINVAL, &t.err);
    ASSERT_CONTAINS(cn_err_msg(&t.err), "entry \"price\" is not name:type");
    done(&t);

    CnCsvOptions twice = {.schema = "id:int64,id:string"};
    ASSERT_ERR(open_text(&t, "id,price\n1,2\n", &twice), CN_EINVAL, &t.err);
    ASSERT_CONTAINS(cn_err_msg(&t.err), "column \"id\" is given twice");
    done(&t);
}

static void int64_limits_and_float_forms(void **state) {
    (void)state;
    Read t = {0};
    ASSERT_OK(open_text(&t, "i,f,big\n9223372036854775807,1e3,9223372036854775808\n"
                            "-9223372036854775808,-0.5E-2,1\n", NULL), &t.err);
    assert_int_equal(col_type(&t, "i"), CN_COL_INT64);
    assert_int_equal(col_type(&t, "f"), CN_COL_FLOAT64);
    assert_int_equal(col_type(&t, "big"), CN_COL_FLOAT64); /* past int64: a float */
    CnBatch *b = NULL;
    ASSERT_OK(cn_csv_reader_next(t.r, &b, &t.err), &t.err);
    assert_true(((int64_t *)b->cols[0].values)[0] == INT64_MAX);
    assert_true(((int64_t *)b->cols[0].values)[1] == INT64_MIN);
    assert_true(((double *)b->cols[1].values)[0] == 1000.0);
    assert_true(((double *)b->cols[1].values)[1] == -0.005);
    done(&t);

    /* Every decimal reads back exactly as strtod reads it (the reader has a fast path
     * for short decimals). */
    static const char *const decimals[] = {"0.1", "123456789.012345", "-0.000000000000001", "5.", ".5",
                                           "999999999999999", "9007199254740993.5", "1e-300", "-0",
                                           "0.30000000000000004", "2.2250738585072014e-308", "+7.25"};
    CnBuf text = CN_BUF_INIT;
    cn_buf_puts(&text, "x\n");
    for (size_t i = 0; i < CN_ARRAY_LEN(decimals); i++) cn_buf_printf(&text, "%s\n", decimals[i]);
    ASSERT_OK(open_text(&t, text.data, NULL), &t.err);
    cn_buf_fini(&text);
    assert_int_equal(col_type(&t, "x"), CN_COL_FLOAT64);
    ASSERT_OK(cn_csv_reader_next(t.r, &b, &t.err), &t.err);
    for (size_t i = 0; i < CN_ARRAY_LEN(decimals); i++) {
        double got = ((double *)b->cols[0].values)[i], want = strtod(decimals[i], NULL);
        if (memcmp(&got, &want, sizeof got) != 0) fail_msg("%s: read %.17g, strtod %.17g", decimals[i], got, want);
    }
    done(&t);

    /* Hex and padded numbers are text, not numbers. */
    ASSERT_OK(open_text(&t, "h,p\n0x10, 5\n", NULL), &t.err);
    assert_int_equal(col_type(&t, "h"), CN_COL_STRING);
    assert_int_equal(col_type(&t, "p"), CN_COL_STRING);
    done(&t);
}

CN_TEST_MAIN(cmocka_unit_test(infers_types_and_keeps_ts_ds),
             cmocka_unit_test(rfc4180_quoting_crlf_and_bom),
             cmocka_unit_test(explicit_schema_overrides),
             cmocka_unit_test(streams_in_batches),
             cmocka_unit_test(value_outside_inferred_type_names_line_column),
             cmocka_unit_test(malformed_csv_errors),
             cmocka_unit_test(bad_schema_specs),
             cmocka_unit_test(int64_limits_and_float_forms))
