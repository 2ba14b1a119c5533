/* kv_tool.c: a small driver of the KV interface for the remote-store end-to-end tests
 * (tests/online/kv_remote_e2e.py), which start and stop servers around it.
 *   kv_tool URI open                      open, print "ok" or the error (exit 1)
 *   kv_tool URI load DATASET N            bulk load keys k0..k<N-1> = "v<i>"; prints the version
 *                                         (CN_KV_TOOL_WAIT=<path>: "ready", and the commit waits for <path>)
 *   kv_tool URI get DATASET KEY           prints the value, "(missing)", or the error
 *   kv_tool URI put DATASET KEY VALUE     one multi_put of one pair into the current version
 *   kv_tool URI drop DATASET              drops the dataset, prints "dropped"
 *   kv_tool URI crash DATASET N           begins a load, adds keys c0..c<N-1>, and exits 3
 *                                         without commit or abort (a crashed upload)
 *   kv_tool URI watch DATASET N SECONDS   multi-gets 3 keys of a loaded dataset every 20 ms
 *                                         and prints one line per change of state:
 *                                         "ok <i>" or "err <i> <message>"; exits 0 unless a
 *                                         value was wrong (exit 2)
 * Options come from the environment: CN_KV_TIMEOUT_MS, CN_KV_RETRIES. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/arena.h"
#include "online/kv.h"

static uint32_t env_u32(const char *name, uint32_t dflt) {
    const char *v = getenv(name);
    return v && *v ? (uint32_t)strtoul(v, NULL, 10) : dflt;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int watch(CnKv *kv, const char *ds, long n, double seconds) {
    CnArena a;
    cn_arena_init(&a, 0);
    double end = now_s() + seconds;
    int last = -1, bad = 0;
    long i = 0;
    while (now_s() < end && !bad) {
        char kb[3][32], want[3][32];
        CnKvSlice q[3], out[3];
        for (int j = 0; j < 3; j++) {
            long k = (i * 7 + j * 13) % n;
            snprintf(kb[j], sizeof kb[j], "k%ld", k);
            snprintf(want[j], sizeof want[j], "v%ld", k);
            q[j] = (CnKvSlice){(const uint8_t *)kb[j], strlen(kb[j])};
        }
        CnErr err = CN_ERR_INIT;
        cn_arena_reset(&a);
        int rc = cn_kv_multi_get(kv, ds, q, 3, out, &a, &err);
        int state = rc == 0;
        if (rc == 0)
            for (int j = 0; j < 3; j++)
                if (!out[j].data || out[j].len != strlen(want[j]) ||
                    memcmp(out[j].data, want[j], out[j].len) != 0) {
                    printf("wrong %ld key %s\n", i, kb[j]);
                    bad = 1;
                }
        if (state != last) {
            if (rc == 0) printf("ok %ld\n", i);
            else printf("err %ld %s\n", i, cn_err_msg(&err));
            fflush(stdout);
            last = state;
        }
        i++;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    printf("done %ld\n", i);
    cn_arena_fini(&a);
    return bad ? 2 : 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: kv_tool URI open|load|get|watch ...\n");
        return 64;
    }
    CnKvOptions o = {.timeout_ms = env_u32("CN_KV_TIMEOUT_MS", 0),
                     .retries = env_u32("CN_KV_RETRIES", 0)};
    CnErr err = CN_ERR_INIT;
    CnKv *kv = NULL;
    if (cn_kv_open(argv[1], &o, &kv, &err) < 0) {
        printf("error: %s\n", cn_err_msg(&err));
        return 1;
    }
    int rc = 0;
    const char *cmd = argv[2];
    if (strcmp(cmd, "open") == 0) {
        printf("ok %s\n", cn_kv_backend(kv));
    } else if (strcmp(cmd, "load") == 0 && argc == 5) {
        long n = strtol(argv[4], NULL, 10);
        CnKvLoad *ld;
        uint64_t v = 0;
        rc = cn_kv_load_begin(kv, argv[3], &ld, &err);
        for (long i = 0; rc == 0 && i < n; i++) {
            char k[32], val[32];
            int kl = snprintf(k, sizeof k, "k%ld", i), vl = snprintf(val, sizeof val, "v%ld", i);
            rc = cn_kv_load_add(ld, k, (size_t)kl, val, (size_t)vl, &err);
        }
        /* CN_KV_TOOL_WAIT=<path>: say "ready", then commit once that file exists (a test
         * interleaves loads of several processes with it) */
        const char *wait = getenv("CN_KV_TOOL_WAIT");
        if (rc == 0 && wait) {
            printf("ready\n");
            fflush(stdout);
            struct stat st;
            for (int t = 0; t < 6000 && stat(wait, &st) != 0; t++) {
                struct timespec ts = {0, 10 * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        if (rc == 0) rc = cn_kv_load_commit(ld, &v, &err);
        else cn_kv_load_abort(ld);
        if (rc == 0) printf("loaded %ld version %llu\n", n, (unsigned long long)v);
    } else if (strcmp(cmd, "get") == 0 && argc == 5) {
        CnArena a;
        cn_arena_init(&a, 0);
        CnKvSlice v;
        rc = cn_kv_get(kv, argv[3], argv[4], strlen(argv[4]), &v, &a, &err);
        if (rc == 0 && v.data) printf("value %.*s\n", (int)v.len, (const char *)v.data);
        else if (rc == 0) printf("(missing)\n");
        cn_arena_fini(&a);
    } else if (strcmp(cmd, "put") == 0 && argc == 6) {
        CnKvSlice k = {(const uint8_t *)argv[4], strlen(argv[4])};
        CnKvSlice v = {(const uint8_t *)argv[5], strlen(argv[5])};
        rc = cn_kv_multi_put(kv, argv[3], &k, &v, 1, &err);
        if (rc == 0) printf("put\n");
    } else if (strcmp(cmd, "drop") == 0 && argc == 4) {
        rc = cn_kv_dataset_drop(kv, argv[3], &err);
        if (rc == 0) printf("dropped\n");
    } else if (strcmp(cmd, "crash") == 0 && argc == 5) {
        long n = strtol(argv[4], NULL, 10);
        CnKvLoad *ld;
        rc = cn_kv_load_begin(kv, argv[3], &ld, &err);
        for (long i = 0; rc == 0 && i < n; i++) {
            char k[32];
            int kl = snprintf(k, sizeof k, "c%ld", i);
            rc = cn_kv_load_add(ld, k, (size_t)kl, k, (size_t)kl, &err);
        }
        if (rc == 0) {
            printf("crashing\n");
            fflush(stdout);
            _exit(3);
        }
    } else if (strcmp(cmd, "watch") == 0 && argc == 6) {
        rc = watch(kv, argv[3], strtol(argv[4], NULL, 10), strtod(argv[5], NULL));
        cn_kv_close(kv);
        return rc;
    } else {
        fprintf(stderr, "kv_tool: unknown command or arguments: %s\n", cmd);
        rc = 64;
    }
    if (rc < 0) printf("error: %s\n", cn_err_msg(&err));
    cn_kv_close(kv);
    return rc == 0 ? 0 : 1;
}
