/* log.h: leveled logging to stderr as "chronon: level=... msg" lines.
 * The level comes from CHRONON_LOG (error|warn|info|debug; default warn) or
 * cn_log_set_level(). The level is checked before anything is formatted.
 * THREADS: safe; each line is one write. */
#ifndef CN_LOG_H
#define CN_LOG_H

#include "base/compat.h"

#include <time.h>

enum { CN_LOG_ERROR = 0, CN_LOG_WARN = 1, CN_LOG_INFO = 2, CN_LOG_DEBUG = 3 };

void cn_log_set_level(int level);
int cn_log_level(void);
void cn_log__write(int level, const char *fmt, ...) CN_PRINTF(2, 3);
#define cn_log(level, ...)                                                    \
    do {                                                                      \
        if ((level) <= cn_log_level()) cn_log__write((level), __VA_ARGS__);   \
    } while (0)

/* Seconds on a POSIX clock: CLOCK_MONOTONIC for the wall time of a phase,
 * CLOCK_THREAD_CPUTIME_ID for the calling thread's CPU (debug lines give both, which
 * tells a phase that waits or is descheduled from one that works). */
double cn_clock_s(clockid_t id);

#endif /* CN_LOG_H */
