/* sched_cli.h: what the scheduler verbs (dags, tasks, airflow) share: the common flags,
 * loading the DAG model and reporting configs that failed to load. */
#ifndef CN_CLI_SCHED_CLI_H
#define CN_CLI_SCHED_CLI_H

#include "base/compat.h"
#include "sched/sched.h"

/* Flags every scheduler verb takes. */
typedef struct CnSchedCliCommon {
    const char *repo;       /* --repo, else $CHRONON_REPO_PATH, else "." */
    const char *settings;   /* --settings FILE, else <repo>/scheduler.json when present */
    CnSchedNaming naming;   /* --naming guide|chronon */
} CnSchedCliCommon;

/* Consumes argv[*i] (and its value) when it is one of the common flags: returns 1 when
 * consumed, 0 when not a common flag, 2 after printing a usage error. */
int cn_cli_sched_common_flag(const char *verb, int argc, char **argv, int *i, CnSchedCliCommon *c);
/* Fills the defaults. */
void cn_cli_sched_common_init(CnSchedCliCommon *c);
/* Builds the model; on failure prints "chronon <verb>: <message>" and returns 1. */
int cn_cli_sched_load(const char *verb, const CnSchedCliCommon *c, CnSchedModel **out);
/* Prints every issue and a closing line to stderr; returns 1 when there were issues
 * (the verb's exit code), else 0. */
int cn_cli_sched_report(const char *verb, const CnSchedModel *m);
/* Prints "chronon <verb>: no DAG '<id>' ...; DAGs are: ..." to stderr; returns 1. */
int cn_cli_sched_unknown_dag(const char *verb, const CnSchedModel *m, const char *id);

/* Opens the state DB of the model's repo (cmd_scheduler.c has the precedence). Without
 * create, a SQLite file that does not exist gives *out = NULL and 0. Else prints the
 * error and returns 1. */
int cn_cli_sched_db_open(const char *verb, const CnSchedModel *m, bool create, CnSchedDb **out);
/* `chronon dags state|trigger|backfill|pause|unpause ...` (argv[1] is the subcommand). */
int cn_cli_dags_state_verbs(int argc, char **argv);
/* `chronon tasks logs|clear ...`. */
int cn_cli_tasks_state_verbs(int argc, char **argv);

#endif /* CN_CLI_SCHED_CLI_H */
