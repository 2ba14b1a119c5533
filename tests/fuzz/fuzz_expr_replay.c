/* fuzz_expr_replay.c: the expression corpus through cn_fuzz_expr_one, as the
 * `fuzz-replay.expr` test (replay.h).
 *   fuzz_expr_replay DIR|FILE ...
 * ok-* must bind and evaluate; bad-* must fail with an error giving a column. */
#include "base/compat.h"

#include "replay.h"

int cn_fuzz_expr_one(const uint8_t *data, size_t len, CnErr *err);

static int one(const uint8_t *data, size_t len, CnErr *err, char *note, size_t note_size) {
    (void)note, (void)note_size;
    return cn_fuzz_expr_one(data, len, err);
}

int main(int argc, char **argv) {
    static const CnFuzzReplay t = {one, "bound and evaluated", "at column", "an error with a column"};
    return cn_fuzz_replay_main(argc, argv, &t);
}
