/* util.c: helpers shared by the verbs. */
#include "base/compat.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "cli/cli.h"

int cn_cli_fail(const char *verb, const CnErr *err) {
    fprintf(stderr, "chronon %s: %s\n", verb, cn_err_msg(err));
    return 1;
}

bool cn_cli_is_help(const char *arg) {
    return arg && (!strcmp(arg, "-h") || !strcmp(arg, "--help"));
}

int cn_cli_opt(const char *verb, int argc, char **argv, int *i, const char *flag, const char **v) {
    size_t n = strlen(flag);
    *v = NULL;
    if (strncmp(argv[*i], flag, n) != 0 || (argv[*i][n] && argv[*i][n] != '=')) return 0;
    if (argv[*i][n] == '=') *v = argv[*i] + n + 1;
    else if (*i + 1 < argc) *v = argv[++*i];
    if (*v && **v) return 1;
    fprintf(stderr, "chronon %s: %s needs a value\n", verb, flag);
    return -1;
}

static bool has_api(const char *dir) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/api/py/ai/chronon/repo/compile.py", dir);
    return cn_fs_exists(p);
}

const char *cn_cli_home(void) {
    static char home[PATH_MAX];
    if (home[0]) return home;
    const char *env = getenv("CHRONON_HOME");
    if (env && *env) {
        snprintf(home, sizeof home, "%s", env);
        return home;
    }
    /* <home>/build/chronon or <home>/bin/chronon */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        for (int up = 0; up < 2; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = 0;
            if (has_api(exe)) {
                snprintf(home, sizeof home, "%s", exe);
                return home;
            }
        }
    }
    snprintf(home, sizeof home, "%s", CN_SOURCE_DIR);
    return home;
}

int cn_cli_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("chronon-c %s\n", chronon_version());
    return 0;
}
