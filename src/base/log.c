/* log.c: see log.h. The level is process-wide configuration set once at start-up. */
#include "base/compat.h"

#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = -1;

void cn_log_set_level(int level) { atomic_store(&log_level, level); }

int cn_log_level(void) {
    int l = atomic_load(&log_level);
    if (l >= 0) return l;
    const char *s = getenv("CHRONON_LOG");
    l = CN_LOG_WARN;
    if (s) {
        if (!strcmp(s, "error")) l = CN_LOG_ERROR;
        else if (!strcmp(s, "info")) l = CN_LOG_INFO;
        else if (!strcmp(s, "debug")) l = CN_LOG_DEBUG;
    }
    atomic_store(&log_level, l);
    return l;
}

void cn_log__write(int level, const char *fmt, ...) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    char line[2048];
    int n = snprintf(line, sizeof line, "chronon: level=%s ", names[level & 3]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w;
}

double cn_clock_s(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
