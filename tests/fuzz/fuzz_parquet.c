/* fuzz_parquet.c: libFuzzer target for the Parquet reader (footer Thrift, schema,
 * page headers, levels, encodings, codecs). Each input is opened from memory and read
 * to the end; every batch must pass cn_col_batch_check (a reader bug otherwise, so it
 * aborts). Bad bytes must end in an error naming the file, never in a crash, an
 * assert or a leak. Built with clang -fsanitize=fuzzer,address when CN_FUZZ=ON; the
 * same function runs in every build through fuzz_parquet_replay.c (replay.h) over the corpus. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"
#include "col/col.h"
#include "io/parquet/pq.h"

int cn_fuzz_parquet_read(const uint8_t *data, size_t len, uint64_t *rows, CnErr *err);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the whole file; returns 0 or the reader's error. *rows counts rows read. */
int cn_fuzz_parquet_read(const uint8_t *data, size_t len, uint64_t *rows, CnErr *err) {
    CnPqReader *r = NULL;
    *rows = 0;
    int rc = cn_pq_reader_open_mem("fuzz.parquet", data, len, &r, err);
    if (rc < 0) goto done;
    for (;;) {
        const CnBatch *b = NULL;
        rc = cn_pq_reader_next(r, 4096, &b, err);
        if (rc < 0 || !b) break;
        CnErr check = CN_ERR_INIT;
        if (cn_col_batch_check(b, &check) < 0) {
            fprintf(stderr, "reader returned an invalid batch: %s\n", cn_err_msg(&check));
            abort();
        }
        *rows += b->n_rows;
    }
done:
    if (rc < 0 && err->msg[0] == 0) {
        fprintf(stderr, "error %d without a message\n", rc);
        abort();
    }
    cn_pq_reader_close(r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    CnErr err = CN_ERR_INIT;
    uint64_t rows;
    cn_fuzz_parquet_read(data, size, &rows, &err);
    return 0;
}
