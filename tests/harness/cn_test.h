/* cn_test.h: the unit-test harness over cmocka.
 * A test binary lists its cases with CN_TEST_MAIN(cmocka_unit_test(a), ...). CTest runs
 * each case as its own test (`bin <case>`, see cmake/cn_test.cmake); with no argument
 * the binary runs them all. ASSERT_OK prints the CnErr message on failure.
 * SKIP: a case lacking a prerequisite calls cn_test_skip("reason"): it prints
 * "SKIP: reason" and exits 77, or fails when CN_TEST_STRICT=1 (CI). */
#ifndef CN_TEST_H
#define CN_TEST_H

#include "base/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

/* Removes path and everything below it (a test's scratch directory); quiet when it is
 * already gone. Paths longer than the buffer are left alone, never truncated. */
static inline void cn_test_rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char sub[4096];
            int n = snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            if (n > 0 && (size_t)n < sizeof sub) cn_test_rm_rf(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

#define ASSERT_OK(rc, err)                                                       \
    do {                                                                         \
        int rc_ = (rc);                                                          \
        if (rc_ != 0) fail_msg("rc=%d (%s): %s", rc_, chronon_err_name(rc_), cn_err_msg(err)); \
    } while (0)

#define ASSERT_ERR(rc, code, err)                                                \
    do {                                                                         \
        int rc_ = (rc);                                                          \
        if (rc_ != (code))                                                       \
            fail_msg("expected %s, got rc=%d: %s", chronon_err_name(code), rc_, cn_err_msg(err)); \
    } while (0)

#define ASSERT_CONTAINS(hay, needle)                                             \
    do {                                                                         \
        const char *h_ = (hay), *n_ = (needle);                                  \
        if (!h_ || !strstr(h_, n_)) fail_msg("expected \"%s\" in \"%s\"", n_, h_ ? h_ : "(null)"); \
    } while (0)

/* What the process writes to stderr between cn_test_capture_begin and
 * cn_test_capture_end (log lines a test looks for), into buf (cut at len - 1 bytes,
 * NUL-terminated). */
typedef struct CnTestCapture {
    int saved;
    FILE *tmp;
} CnTestCapture;

static inline void cn_test_capture_begin(CnTestCapture *c) {
    fflush(stderr);
    c->saved = dup(2);
    c->tmp = tmpfile();
    assert_true(c->saved >= 0 && c->tmp);
    dup2(fileno(c->tmp), 2);
}

static inline void cn_test_capture_end(CnTestCapture *c, char *buf, size_t len) {
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    rewind(c->tmp);
    size_t got = fread(buf, 1, len - 1, c->tmp);
    buf[got] = 0;
    fclose(c->tmp);
}

static inline void cn_test_skip(const char *why) {
    const char *strict = getenv("CN_TEST_STRICT");
    if (strict && strcmp(strict, "1") == 0) fail_msg("SKIP not allowed (CN_TEST_STRICT=1): %s", why);
    printf("SKIP: %s\n", why);
    fflush(stdout);
    exit(77);
}

#define CN_TEST_MAIN(...)                                                        \
    int main(int argc, char **argv) {                                            \
        const struct CMUnitTest tests_[] = {__VA_ARGS__};                        \
        if (argc > 1) cmocka_set_test_filter(argv[1]);                           \
        return cmocka_run_group_tests(tests_, NULL, NULL);                       \
    }

#endif /* CN_TEST_H */
