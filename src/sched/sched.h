/* sched.h: the scheduler's DAG model. Reads every compiled config under
 * <repo>/production/ (GroupBys, Joins, StagingQueries) and teams.json, and builds the DAGs
 * Chronon's Airflow integration would run: one batch DAG per team for GroupBys, one DAG per
 * Join, one staging-query DAG per team. Each task is a `chronon run` command for one `ds`,
 * a partition sensor (from metaData.dependencies), or a wait on a task of another DAG
 * (a Join on its parts' backfills, a reader on the producer of a table it reads).
 * Naming follows the users' guide by default; CN_SCHED_NAMING_CHRONON gives the names of
 * Chronon's own Airflow helpers (spec/config.md section 8). docs/scheduler.md has the rules,
 * the multi-GroupBy task-id scheme and the settings.
 * OWNERSHIP: a CnSchedModel owns everything reachable from it (one arena plus the loaded
 *   confs); cn_sched_model_free() drops it whole.
 * ERRORS: a compiled file that does not load is recorded as a CnSchedIssue naming the file,
 *   and the DAG it belonged to is marked incomplete; every other DAG is still built.
 * THREADS: a built model is immutable; share it freely. */
#ifndef CN_SCHED_H
#define CN_SCHED_H

#include "base/arena.h"
#include "base/compat.h"
#include "base/err.h"
#include "base/str.h"

typedef enum CnSchedNaming {
    CN_SCHED_NAMING_GUIDE = 0,   /* chronon_batch_dag_<team>, backfill_task, ... */
    CN_SCHED_NAMING_CHRONON = 1, /* chronon_group_by_batch_<team>, group_by_batch__<N>, ... */
} CnSchedNaming;

/* The Airflow constants of the users' guide, read from teams.json default.scheduler and
 * then <repo>/scheduler.json (later wins). Defaults in docs/scheduler.md. */
typedef struct CnSchedSettings {
    const char *chronon_path;      /* CHRONON_PATH: repo path the commands use (--repo) */
    const char *chronon_bin;       /* the program tasks run, default "chronon" */
    int group_by_concurrency;      /* GROUP_BY_BATCH_CONCURRENCY (also staging DAGs) */
    int join_concurrency;          /* JOIN_CONCURRENCY */
    const char **time_parts;       /* time_parts: partition columns dropped from task names */
    size_t n_time_parts;
    const char *online_store;      /* ONLINE_STORE_CONFIG as a URI; NULL: chronon's default */
    int retries;                   /* per run task */
    int retry_delay_s;
    const char *start_date;        /* DAG start date YYYY-MM-DD (team dag_start_date wins) */
    bool catchup;
    int sensor_timeout_s;
    int sensor_poke_s;
    int sensor_retries;
} CnSchedSettings;

typedef enum CnSchedTaskKind {
    CN_SCHED_TASK_RUN = 0,   /* `chronon run --mode <mode> --conf <conf> --ds {{ ds }}` */
    CN_SCHED_TASK_SENSOR,    /* waits for partition <table>/<partition> */
    CN_SCHED_TASK_EXTERNAL,  /* waits for task ext_task of DAG ext_dag, same logical date */
} CnSchedTaskKind;

typedef struct CnSchedTask {
    const char *id;
    CnSchedTaskKind kind;
    /* RUN */
    const char *mode;          /* backfill, upload, metadata-upload */
    const char *conf_path;     /* production/<kind>/<team>/<file>, relative to the repo */
    const char *conf_name;     /* metaData.name */
    const char **argv;         /* argv[0] is settings.chronon_bin; "{{ ds }}" is a template */
    size_t argc;
    const char *env_online;    /* CHRONON_ONLINE for upload tasks, or NULL */
    /* SENSOR */
    const char *dep_name;      /* dependency name as written */
    const char *spec;          /* "<table>/<col>=<value>[/...]" as written */
    const char *table;
    const char *partition;     /* spec after the table: "ds={{ ds }}" */
    const char *end;           /* dependency "end", or NULL */
    /* EXTERNAL */
    const char *ext_dag, *ext_task;
    /* Upstream tasks, as indexes into the DAG's tasks, in the order they were added. */
    size_t *upstream;
    size_t n_upstream, cap_upstream;
} CnSchedTask;

typedef enum CnSchedDagKind {
    CN_SCHED_DAG_GROUP_BY = 0,
    CN_SCHED_DAG_JOIN = 1,
    CN_SCHED_DAG_STAGING_QUERY = 2,
} CnSchedDagKind;

typedef struct CnSchedDag {
    const char *id;
    CnSchedDagKind kind;
    const char *team;
    const char *schedule;      /* "@daily", "@weekly", ... or "@never" (manual runs only) */
    int concurrency;
    const char *start_date;
    const char *owner;
    bool incomplete;           /* a config of this DAG failed to load (see issues) */
    CnSchedTask *tasks;
    size_t n_tasks, cap_tasks;
} CnSchedDag;

/* A compiled file (or teams.json setting) that could not be used. */
typedef struct CnSchedIssue {
    const char *path;          /* relative to the repo */
    const char *dag_id;        /* the DAG it would have fed, or NULL when unknown */
    const char *msg;           /* whole message, starting with path: "<path>: ..." */
} CnSchedIssue;

typedef struct CnSchedModel {
    CnArena arena;             /* owns everything below except confs */
    const char *repo;
    CnSchedNaming naming;
    CnSchedSettings settings;
    CnSchedDag *dags;          /* sorted by id */
    size_t n_dags, cap_dags;
    CnSchedIssue *issues;      /* in file order */
    size_t n_issues, cap_issues;
    void **confs;              /* CnConf *, kept alive: tasks borrow their strings */
    size_t n_confs, cap_confs;
} CnSchedModel;

typedef struct CnSchedOptions {
    CnSchedNaming naming;
    /* Settings file; NULL: <repo>/scheduler.json when it exists. */
    const char *settings_path;
} CnSchedOptions;

/* Builds the model of repo. Broken compiled files become issues, not errors.
 * OWNED: *out, free with cn_sched_model_free().
 * Errors: CN_ENOTFOUND (no <repo>/production directory), CN_ECONFIG / CN_ECORRUPT
 * (teams.json or the settings file is invalid: names file, key and value),
 * CN_ENOMEM. On error *out is NULL. */
int cn_sched_model_build(const char *repo, const CnSchedOptions *opt, CnSchedModel **out,
                         CnErr *err);
void cn_sched_model_free(CnSchedModel *m); /* NULL-safe */

/* Settings defaults (docs/scheduler.md). chronon_path stays NULL: the build fills in the
 * repo. */
void cn_sched_settings_defaults(CnSchedSettings *s);
/* Applies the keys of `json` (text of a JSON object: the scheduler settings) found in file
 * `name` at JSON path `where` ("" for a whole file, "default.scheduler" in teams.json) on
 * top of s. Strings are copied into a. Errors: CN_ECORRUPT (malformed JSON), CN_ECONFIG
 * naming file, key and value (unknown key, wrong type, out-of-range number, bad date). */
int cn_sched_settings_apply(CnArena *a, CnSchedSettings *s, const char *name, const char *where,
                            const char *json, size_t len, CnErr *err);

/* NULL when absent. BORROWED from the model. */
const CnSchedDag *cn_sched_dag_find(const CnSchedModel *m, const char *id);
const CnSchedTask *cn_sched_task_find(const CnSchedDag *d, const char *id);
/* Index of a task in d, or -1. */
long cn_sched_task_index(const CnSchedDag *d, const char *id);
/* True when task i of d lists task j as upstream. */
bool cn_sched_task_has_upstream(const CnSchedDag *d, size_t i, size_t j);

/* Appends to b one line per known DAG id ("  <id>\n"), for "unknown DAG" messages. */
void cn_sched_list_dag_ids(const CnSchedModel *m, CnBuf *b);

/* The shell command of a RUN or SENSOR task (EXTERNAL: NULL), with `{{ ... }}` templates
 * left for Airflow's Jinja. Arguments that need it are single-quoted. In a. */
char *cn_sched_task_command(CnArena *a, const CnSchedModel *m, const CnSchedTask *t);

/* "run", "sensor", "external". */
const char *cn_sched_task_kind_name(CnSchedTaskKind k);
const char *cn_sched_dag_kind_name(CnSchedDagKind k);
const char *cn_sched_naming_name(CnSchedNaming n);

/* Renders d as one Airflow DAG file (Python): airflow.DAG, BashOperator for runs,
 * BashSensor for partition sensors, ExternalTaskSensor for cross-DAG waits, and the
 * edges. Appends to out. Errors: CN_ENOMEM. */
int cn_sched_airflow_render(const CnSchedModel *m, const CnSchedDag *d, CnBuf *out, CnErr *err);

#endif /* CN_SCHED_H */
