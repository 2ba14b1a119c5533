/* fetch_example.c: fetch features of a GroupBy or Join from C through libchronon.
 *
 *   fetch_example <online uri> <repo or -> <group_by|join> <name> <keys json> [ts_ms]
 *                 [--threads N] [--rounds R] [--double KEY VALUE FEATURE]
 *
 * e.g. fetch_example lmdb:warehouse/online . group_by quickstart/purchases.v1 \
 *        '[{"user_id":"5"}]' 1701993600001
 * prints the JSON answer. --threads N fetches the same keys from N threads at once, R
 * times each (default 200), and checks every answer equals the first. --double also prints one
 * feature of one key through chronon_fetch_double. Build: cc fetch_example.c -lchronon. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chronon.h"

typedef struct Job {
    chronon_client *client;
    chronon_kind kind;
    const char *name, *keys;
    int64_t ts;
    const char *want;
    int rounds;
    int bad;
} Job;

static void *worker(void *arg) {
    Job *j = arg;
    for (int i = 0; i < j->rounds && !j->bad; i++) {
        char *got = NULL;
        if (chronon_fetch_json(j->client, j->kind, j->name, j->keys, j->ts, &got) != 0) {
            fprintf(stderr, "thread fetch failed: %s\n", chronon_last_error());
            j->bad = 1;
        } else if (strcmp(got, j->want) != 0) {
            fprintf(stderr, "thread fetch answered differently:\n%s\n%s\n", got, j->want);
            j->bad = 1;
        }
        chronon_free(got);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s <online uri> <repo or -> <group_by|join> <name> <keys json> [ts_ms] "
                "[--threads N] [--rounds R] [--double KEY VALUE FEATURE]\n", argv[0]);
        return 2;
    }
    const char *repo = strcmp(argv[2], "-") ? argv[2] : NULL;
    chronon_kind kind = strcmp(argv[3], "join") ? CHRONON_GROUPBY : CHRONON_JOIN;
    int64_t ts = CHRONON_NOW;
    int threads = 0, rounds = 200, arg = 6;
    const char **dbl = NULL;
    if (arg < argc && argv[arg][0] != '-') ts = strtoll(argv[arg++], NULL, 10);
    for (; arg < argc; arg++) {
        if (!strcmp(argv[arg], "--threads") && arg + 1 < argc) threads = atoi(argv[++arg]);
        else if (!strcmp(argv[arg], "--rounds") && arg + 1 < argc) rounds = atoi(argv[++arg]);
        else if (!strcmp(argv[arg], "--double") && arg + 3 < argc) dbl = (const char **)&argv[arg + 1], arg += 3;
        else {
            fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], argv[arg]);
            return 2;
        }
    }

    chronon_client *client = NULL;
    if (chronon_client_open(argv[1], repo, &client) != 0) {
        fprintf(stderr, "open %s: %s\n", argv[1], chronon_last_error());
        return 1;
    }
    char *result = NULL;
    int rc = chronon_fetch_json(client, kind, argv[4], argv[5], ts, &result);
    if (rc != 0) {
        fprintf(stderr, "fetch %s: %s (%s)\n", argv[4], chronon_last_error(), chronon_err_name(rc));
        chronon_client_close(client);
        return 1;
    }
    printf("%s\n", result);

    if (dbl) {
        double v = 0;
        int is_null = 0;
        rc = chronon_fetch_double(client, kind, argv[4], dbl[0], dbl[1], dbl[2], ts, &v, &is_null);
        if (rc != 0) fprintf(stderr, "fetch_double %s: %s\n", dbl[2], chronon_last_error());
        else if (is_null) printf("%s = null\n", dbl[2]);
        else printf("%s = %.17g\n", dbl[2], v);
    }

    if (threads > 0 && rc == 0) {
        pthread_t *tids = calloc((size_t)threads, sizeof *tids);
        Job *jobs = calloc((size_t)threads, sizeof *jobs);
        for (int i = 0; tids && jobs && i < threads; i++) {
            jobs[i] = (Job){client, kind, argv[4], argv[5], ts, result, rounds, 0};
            pthread_create(&tids[i], NULL, worker, &jobs[i]);
        }
        for (int i = 0; tids && jobs && i < threads; i++) {
            pthread_join(tids[i], NULL);
            if (jobs[i].bad) rc = 1;
        }
        if (!tids || !jobs) rc = 1;
        if (rc == 0) printf("threads: %d x %d fetches agree\n", threads, rounds);
        free(tids);
        free(jobs);
    }
    chronon_free(result);
    chronon_client_close(client);
    return rc ? 1 : 0;
}
