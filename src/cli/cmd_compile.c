/* cmd_compile.c: `chronon compile ...` runs Chronon's compile.py from our DSL with the
 * same flags, so `chronon compile --conf group_bys/team/x.py` and
 * `python3 api/py/ai/chronon/repo/compile.py --conf ...` are the same command. */
#include "base/compat.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "cli/cli.h"

int cn_cli_compile(int argc, char **argv) {
    const char *home = cn_cli_home();
    char script[PATH_MAX + 64];
    snprintf(script, sizeof script, "%s/api/py/ai/chronon/repo/compile.py", home);
    const char *py = getenv("CHRONON_PYTHON");
    if (!py || !*py) py = "python3";
    char **args = cn_calloc((size_t)argc + 3, sizeof *args);
    if (!args) {
        fprintf(stderr, "chronon compile: out of memory\n");
        return 1;
    }
    args[0] = (char *)py;
    args[1] = script;
    for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
    execvp(py, args);
    fprintf(stderr, "chronon compile: cannot run %s %s: %s (set CHRONON_PYTHON to a Python 3 interpreter)\n",
            py, script, strerror(errno));
    cn_free(args);
    return 1;
}
