/* replay.h: the shared driver that replays a fuzz corpus through a target's entry point
 * without libFuzzer, so every build (gcc, ASan) runs each corpus as a `fuzz-replay` test.
 *
 * Files named ok-* must succeed; bad-* must fail with an error message containing the
 * target's `bad_needle` (the file or column it must name); any other file must only not
 * crash. Arguments are files or directories (replayed in name order). */
#ifndef CN_FUZZ_REPLAY_H
#define CN_FUZZ_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct CnFuzzReplay {
    /* runs one input; < 0 with err set on a refused input. May write a one-line note
     * about a success (e.g. the rows read) into note. */
    int (*one)(const uint8_t *data, size_t len, CnErr *err, char *note, size_t note_size);
    const char *ok_done;    /* "read", "bound and evaluated", ... */
    const char *bad_needle; /* what a bad-* input's error must contain */
    const char *bad_expect; /* how to describe that expectation in a failure */
} CnFuzzReplay;

/* Replays every argument; prints one line per file and a summary. Returns the exit
 * status: 0 when every expectation holds, 1 otherwise, 2 on a usage error. */
int cn_fuzz_replay_main(int argc, char **argv, const CnFuzzReplay *t);

#endif
