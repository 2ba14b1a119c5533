/* main.c: `chronon <verb> ...` dispatch, global help and version. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: chronon <command> [options]\n"
            "\n"
            "chronon-c %s: the Chronon feature platform as one program.\n"
            "\n"
            "commands:\n",
            CHRONON_VERSION_STRING);
    for (size_t i = 0; i < cn_cli_n_commands; i++)
        fprintf(f, "  %-12s %s\n", cn_cli_commands[i].name, cn_cli_commands[i].summary);
    fprintf(f, "\nRun 'chronon <command> --help' for the options of a command.\n");
}

/* libmongoc initialises itself when the binary loads, before main, and gives every
 * process a shared-memory counter file /dev/shm/mongoc-<pid>. A process killed before its
 * exit leaves that file behind; a later process that gets the same pid then prints
 * "Falling back to malloc for counters" on stderr, and the files pile up. The counters
 * only serve MongoDB's diagnostics tools, so chronon turns them off: MONGOC_DISABLE_SHM
 * must be in the environment before the library loads, hence one re-exec of ourselves
 * when it is missing (children inherit it). */
static void disable_mongoc_shm(char **argv) {
    if (getenv("MONGOC_DISABLE_SHM")) return;
    if (setenv("MONGOC_DISABLE_SHM", "1", 1) != 0) return;
    /* this process already made its counter file, and exec keeps the pid: remove it */
    char shm[64];
    snprintf(shm, sizeof shm, "/dev/shm/mongoc-%ld", (long)getpid());
    unlink(shm);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the counters, which work as before */
}

int main(int argc, char **argv) {
    disable_mongoc_shm(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *verb = argv[1];
    if (cn_cli_is_help(verb) || !strcmp(verb, "help")) {
        if (argc >= 3 && strcmp(verb, "help") == 0) {
            for (size_t i = 0; i < cn_cli_n_commands; i++)
                if (!strcmp(cn_cli_commands[i].name, argv[2])) {
                    char *hargv[] = {argv[2], "--help", NULL};
                    return cn_cli_commands[i].run(2, hargv);
                }
        }
        usage(stdout);
        return 0;
    }
    if (!strcmp(verb, "--version") || !strcmp(verb, "-V")) verb = "version";
    for (size_t i = 0; i < cn_cli_n_commands; i++)
        if (!strcmp(cn_cli_commands[i].name, verb)) return cn_cli_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "chronon: unknown command '%s'\n", verb);
    usage(stderr);
    return 2;
}
