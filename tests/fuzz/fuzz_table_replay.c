/* fuzz_table_replay.c: the table metadata corpus through cn_fuzz_table_one, as the
 * `fuzz-replay.table` test (replay.h).
 *   fuzz_table_replay DIR|FILE ...
 *   fuzz_table_replay --write-seeds DIR   (writes ok-meta.bin, ok-list.bin, ok-manifest.bin)
 * ok-* must load and scan; bad-* must fail naming the file (under fz.db/t/metadata/). */
#include "base/compat.h"

#include <stdio.h>
#include <string.h>

#include "replay.h"

int cn_fuzz_table_one(const uint8_t *data, size_t len, CnErr *err);
int cn_fuzz_table_seeds(const char *dir, CnErr *err);

static int one(const uint8_t *data, size_t len, CnErr *err, char *note, size_t note_size) {
    (void)note, (void)note_size;
    return cn_fuzz_table_one(data, len, err);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-seeds")) {
        CnErr err = CN_ERR_INIT;
        if (cn_fuzz_table_seeds(argv[2], &err) < 0) {
            fprintf(stderr, "%s\n", cn_err_msg(&err));
            return 1;
        }
        return 0;
    }
    static const CnFuzzReplay t = {one, "loaded and scanned", "fz.db/t/metadata/", "an error naming the file"};
    return cn_fuzz_replay_main(argc, argv, &t);
}
