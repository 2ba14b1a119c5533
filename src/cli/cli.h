/* cli.h: the `chronon <verb>` command table and helpers shared by verbs.
 * Each verb is `int run(int argc, char **argv)` with argv[0] the verb; it returns the
 * process exit code (0 ok, 1 failure, 2 usage error) and prints its own errors as one
 * line "chronon <verb>: <message>" on stderr. */
#ifndef CN_CLI_H
#define CN_CLI_H

#include "base/compat.h"
#include "base/err.h"

typedef struct CnCliCmd {
    const char *name;
    const char *summary;                 /* one line for `chronon --help` */
    int (*run)(int argc, char **argv);
} CnCliCmd;

extern const CnCliCmd cn_cli_commands[];
extern const size_t cn_cli_n_commands;

/* Verbs. */
int cn_cli_compile(int argc, char **argv);
int cn_cli_run(int argc, char **argv);
int cn_cli_conf(int argc, char **argv);
int cn_cli_load(int argc, char **argv);
int cn_cli_gc(int argc, char **argv);
int cn_cli_dags(int argc, char **argv), cn_cli_tasks(int argc, char **argv), cn_cli_airflow(int argc, char **argv);
int cn_cli_scheduler(int argc, char **argv);
int cn_cli_ui(int argc, char **argv);
int cn_cli_serve(int argc, char **argv);
int cn_cli_parquet(int argc, char **argv);
int cn_cli_sql(int argc, char **argv);
int cn_cli_table(int argc, char **argv);
int cn_cli_version(int argc, char **argv);

/* Where a verb's data lives (DESIGN.md "Where things live"). */
typedef struct CnCliWhere {
    char root[4096];        /* the chronon root, canonical */
    char warehouse[4096];   /* URI or absolute path */
    char home[4096];        /* local directory for SQLite/LMDB files: the warehouse if local, else root */
    char catalog[4200];     /* catalog URI */
    char online[4200];      /* online store URI */
} CnCliWhere;

/* Resolves the warehouse, catalog and online store: a flag, else the environment
 * (CHRONON_WAREHOUSE, CHRONON_CATALOG, CHRONON_ONLINE), else the teams.json value given as
 * *_fallback (NULL when the verb has none), else <root>/warehouse,
 * sqlite:<home>/catalog.db and lmdb:<home>/online. repo NULL means the current directory. */
int cn_cli_where(const char *repo, const char *wh_flag, const char *cat_flag, const char *wh_fallback,
                 const char *cat_fallback, CnCliWhere *w, CnErr *err);

/* Prints "chronon <verb>: <err message>" to stderr and returns 1. */
int cn_cli_fail(const char *verb, const CnErr *err);
/* True when argv[i] is -h or --help. */
bool cn_cli_is_help(const char *arg);
/* Whether argv[*i] is the option `flag`, which takes a value: 1 with *v the value
 * (flag=VALUE, or the next argument, *i moved onto it), 0 when it is another argument,
 * -1 when the value is missing (said on stderr: "chronon <verb>: <flag> needs a value";
 * the verb then exits 2). */
int cn_cli_opt(const char *verb, int argc, char **argv, int *i, const char *flag, const char **v);
/* Directory holding api/py (CHRONON_HOME, the binary's source tree, or the build's
 * source dir). BORROWED: static storage, valid for the process. */
const char *cn_cli_home(void);

#endif /* CN_CLI_H */
