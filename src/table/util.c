/* util.c: small helpers of the table module: ids, time, URIs, the crash hook. */
#include "base/compat.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "table/ice_int.h"

int64_t cn_ice__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Test hook CN_TEST_TABLE_SEED=<n>: ids and UUIDs come from a generator seeded with n,
 * and UUID times are fixed, so a process writes the same file names and snapshot ids
 * every run (the fuzz harness's table; its corpus must stay valid). Inert unless set. */
static bool seeded_bytes(uint8_t *b, size_t n) {
    static int state_set = -1;
    static uint64_t x;
    if (state_set < 0) {
        const char *e = getenv("CN_TEST_TABLE_SEED");
        state_set = e && *e;
        x = state_set ? strtoull(e, NULL, 10) * 0x9E3779B97F4A7C15ULL + 1 : 0;
    }
    if (!state_set) return false;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        b[i] = (uint8_t)(x >> 56);
    }
    return true;
}

static void random_bytes(void *p, size_t n) {
    uint8_t *b = p;
    size_t got = 0;
    if (seeded_bytes(b, n)) return;
    while (got < n) {
        ssize_t r = getrandom(b + got, n - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got < n) { /* no entropy source: fall back on time and pid, still unique enough */
        uint64_t x = (uint64_t)cn_ice__now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)p;
        for (size_t i = got; i < n; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            b[i] = (uint8_t)(x >> 56);
        }
    }
}

void cn_ice__uuid7(char out[37]) {
    uint8_t b[16];
    random_bytes(b, sizeof b);
    uint64_t ms = getenv("CN_TEST_TABLE_SEED") ? 1700000000000ULL : (uint64_t)cn_ice__now_ms();
    for (int i = 0; i < 6; i++) b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (b[6] & 0x0f));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int64_t cn_ice__uuid7_ms(const char *name) {
    /* find "xxxxxxxx-xxxx-7xxx-" anywhere in the name */
    size_t n = strlen(name);
    for (size_t i = 0; i + 36 <= n; i++) {
        const char *u = name + i;
        bool ok = u[8] == '-' && u[13] == '-' && u[14] == '7' && u[18] == '-' && u[23] == '-';
        for (int k = 0; ok && k < 36; k++)
            if (k != 8 && k != 13 && k != 18 && k != 23 && hexval(u[k]) < 0) ok = false;
        if (!ok) continue;
        uint64_t ms = 0;
        for (int k = 0; k < 13; k++)
            if (k != 8) ms = (ms << 4) | (uint64_t)hexval(u[k]);
        return (int64_t)ms;
    }
    return -1;
}

int64_t cn_ice__random_id(void) {
    uint64_t x;
    random_bytes(&x, sizeof x);
    x &= INT64_MAX;
    return x ? (int64_t)x : 1;
}

int cn_ice__key(CnIceCatalog *c, const char *uri, const char **key, CnErr *err) {
    return cn_obj_key_of(c->store, uri, key, err);
}

int cn_ice__get(CnIceCatalog *c, const char *uri, CnBuf *out, CnErr *err) {
    const char *key = NULL;
    int rc = cn_ice__key(c, uri, &key, err);
    if (rc < 0) return rc;
    return cn_obj_get(c->store, key, out, err);
}

const char *cn_ice__local_path(const char *uri) {
    return cn_str_starts_with(uri, "file://") ? uri + 7 : NULL;
}

void cn_ice__abort_point(const char *step) {
    const char *at = getenv("CN_TEST_TABLE_ABORT_AT");
    if (at && !strcmp(at, step)) {
        fprintf(stderr, "chronon: CN_TEST_TABLE_ABORT_AT=%s: killing the writer\n", step);
        fflush(stderr);
        raise(SIGKILL);
    }
}

int cn_ice__table_key(const char *ns, const char *name, CnBuf *out) {
    cn_buf_reset(out);
    return cn_buf_printf(out, "%s.db/%s", ns, name);
}

int cn_ice__edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 99;
    int prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = CN_MIN(sub, CN_MIN(del, ins));
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}
