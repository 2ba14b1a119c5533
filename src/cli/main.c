/* main.c: `chronon <verb> ...` dispatch, global help and version. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv) {
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
    /* one line; a command the word starts (schedule -> scheduler) is suggested */
    const char *near = NULL;
    size_t n = strlen(verb);
    for (size_t i = 0; i < cn_cli_n_commands && !near; i++)
        if (n >= 3 && !strncmp(cn_cli_commands[i].name, verb, n)) near = cn_cli_commands[i].name;
    if (near)
        fprintf(stderr, "chronon: unknown command '%s' (did you mean '%s'? chronon --help lists the commands)\n", verb,
                near);
    else
        fprintf(stderr, "chronon: unknown command '%s' (chronon --help lists the commands)\n", verb);
    return 2;
}
