/* fuzz_parquet_replay.c: the Parquet corpus through cn_fuzz_parquet_read, as the
 * `fuzz-replay.parquet` test (replay.h).
 *   fuzz_parquet_replay DIR|FILE ...
 * ok-* must read; bad-* must fail naming the file (fuzz.parquet). */
#include "base/compat.h"

#include <stdio.h>

#include "replay.h"

int cn_fuzz_parquet_read(const uint8_t *data, size_t len, uint64_t *rows, CnErr *err);

static int one(const uint8_t *data, size_t len, CnErr *err, char *note, size_t note_size) {
    uint64_t rows = 0;
    int rc = cn_fuzz_parquet_read(data, len, &rows, err);
    if (rc >= 0) snprintf(note, note_size, "%llu rows", (unsigned long long)rows);
    return rc;
}

int main(int argc, char **argv) {
    static const CnFuzzReplay t = {one, "read", "fuzz.parquet", "an error naming the file"};
    return cn_fuzz_replay_main(argc, argv, &t);
}
