/* fuzz_table_replay.c: replays the table metadata corpus through cn_fuzz_table_one without
 * libFuzzer, so every build (gcc, ASan) runs it as the `fuzz-replay.table` test.
 *   fuzz_table_replay DIR|FILE ...
 *   fuzz_table_replay --write-seeds DIR   (writes ok-meta.bin, ok-list.bin, ok-manifest.bin)
 * Files named ok-* must load and scan; bad-* must fail with an error naming the file
 * (under fz.db/t/metadata/); any other file must only not crash. Exit 0 when every expectation holds. */
#include "base/compat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"

int cn_fuzz_table_one(const uint8_t *data, size_t len, CnErr *err);
int cn_fuzz_table_seeds(const char *dir, CnErr *err);

static int failures, files;

static void replay_file(const char *path) {
    char *data = NULL;
    size_t len = 0;
    CnErr err = CN_ERR_INIT;
    if (cn_fs_read_all(path, &data, &len, &err) < 0) {
        printf("FAIL %s: %s\n", path, cn_err_msg(&err));
        failures++;
        return;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    cn_err_clear(&err);
    int rc = cn_fuzz_table_one((const uint8_t *)data, len, &err);
    files++;
    if (strncmp(base, "ok-", 3) == 0 && rc < 0) {
        printf("FAIL %s: expected to load and scan, got: %s\n", base, cn_err_msg(&err));
        failures++;
    } else if (strncmp(base, "bad-", 4) == 0 && (rc >= 0 || !strstr(cn_err_msg(&err), "fz.db/t/metadata/"))) {
        printf("FAIL %s: expected an error naming the file, got rc=%d (%s)\n", base, rc, rc < 0 ? cn_err_msg(&err) : "no error");
        failures++;
    } else {
        printf("ok   %s: %s\n", base, rc < 0 ? cn_err_msg(&err) : "loaded and scanned");
    }
    cn_free(data);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE ...\n", argv[0]);
        return 2;
    }
    if (!strcmp(argv[1], "--write-seeds") && argc == 3) {
        CnErr err = CN_ERR_INIT;
        if (cn_fuzz_table_seeds(argv[2], &err) < 0) {
            fprintf(stderr, "%s\n", cn_err_msg(&err));
            return 1;
        }
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            printf("FAIL %s: not found\n", argv[i]);
            failures++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            replay_file(argv[i]);
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, alphasort);
        for (int k = 0; k < n; k++) {
            if (names[k]->d_name[0] != '.') {
                char p[4096];
                snprintf(p, sizeof p, "%s/%s", argv[i], names[k]->d_name);
                replay_file(p);
            }
            free(names[k]);
        }
        if (n > 0) free(names);
    }
    printf("%d passed, %d failed\n", files - failures, failures);
    return failures ? 1 : 0;
}
