/* replay.c: see replay.h. */
#include "base/compat.h"

#include "replay.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/fs.h"

typedef struct Tally {
    int files, failures;
} Tally;

static void replay_file(const CnFuzzReplay *t, const char *path, Tally *n) {
    char *data = NULL;
    size_t len = 0;
    CnErr err = CN_ERR_INIT;
    if (cn_fs_read_all(path, &data, &len, &err) < 0) {
        printf("FAIL %s: %s\n", path, cn_err_msg(&err));
        n->failures++;
        return;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char note[256] = "";
    cn_err_clear(&err);
    int rc = t->one((const uint8_t *)data, len, &err, note, sizeof note);
    n->files++;
    if (strncmp(base, "ok-", 3) == 0 && rc < 0) {
        printf("FAIL %s: expected to succeed, got: %s\n", base, cn_err_msg(&err));
        n->failures++;
    } else if (strncmp(base, "bad-", 4) == 0 && (rc >= 0 || !strstr(cn_err_msg(&err), t->bad_needle))) {
        printf("FAIL %s: expected %s, got rc=%d (%s)\n", base, t->bad_expect, rc, rc < 0 ? cn_err_msg(&err) : "no error");
        n->failures++;
    } else {
        printf("ok   %s: %s\n", base, rc < 0 ? cn_err_msg(&err) : t->ok_done);
        if (rc >= 0 && note[0]) printf("     %s\n", note);
    }
    cn_free(data);
}

int cn_fuzz_replay_main(int argc, char **argv, const CnFuzzReplay *t) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE ...\n", argv[0]);
        return 2;
    }
    Tally n = {0, 0};
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            printf("FAIL %s: not found\n", argv[i]);
            n.failures++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            replay_file(t, argv[i], &n);
            continue;
        }
        struct dirent **names;
        int k_n = scandir(argv[i], &names, NULL, alphasort);
        for (int k = 0; k < k_n; k++) {
            if (names[k]->d_name[0] != '.') {
                char p[4096];
                if ((size_t)snprintf(p, sizeof p, "%s/%s", argv[i], names[k]->d_name) < sizeof p) {
                    replay_file(t, p, &n);
                } else {
                    printf("FAIL %s/%s: path too long\n", argv[i], names[k]->d_name);
                    n.failures++;
                }
            }
            free(names[k]);
        }
        if (k_n > 0) free(names);
    }
    printf("%d passed, %d failed\n", n.files - n.failures, n.failures);
    return n.failures ? 1 : 0;
}
