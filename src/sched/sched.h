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

#include <stdio.h>

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
    /* The daemon (`chronon scheduler`). Durations in milliseconds so that tests run fast;
     * the *_seconds keys take fractions. The *_s fields above stay in step (rounded up)
     * for the Airflow export. */
    int64_t poll_ms;            /* poll_interval_seconds: loop period, default 5 s */
    int64_t retry_delay_ms;     /* retry_delay_minutes or retry_delay_seconds */
    bool retry_exponential;     /* retry_exponential_backoff: delay * 2^(try-1), default true */
    int64_t max_retry_delay_ms; /* max_retry_delay_seconds: cap of the backoff, default 1 h */
    int64_t task_timeout_ms;    /* task_timeout_seconds: kill a run task after, default 24 h; 0 none */
    int64_t sensor_poke_ms;     /* sensor_poke_interval_seconds */
    int64_t sensor_timeout_ms;  /* sensor_timeout_hours or sensor_timeout_seconds */
    int max_active_runs;        /* per DAG, default 1: missed days run one after another */
    int parallelism;            /* run tasks at once over all DAGs, default 16 */
    const char *log_dir;        /* NULL: <warehouse>/logs */
    const char *state_db;       /* NULL: $CHRONON_SCHEDULER_DB, else sqlite:<warehouse>/scheduler.db */
    int64_t lease_ms;           /* scheduler_lease_seconds: a scheduler silent this long (no
                                 * heartbeat in the state DB) is dead; another host takes over
                                 * its tries. Default 300 s */
    const struct CnSchedSlurm *slurm; /* "slurm": backfill tasks go through sbatch (slurm.h); NULL: local */
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
    const char *mode;          /* backfill, upload, metadata-upload, label-join */
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
    CN_SCHED_DAG_LABEL_JOIN = 3, /* a Join's labelPart: chronon_label_join_<name> */
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

/* ================================================================ run state
 * state.c: DAG runs, task instances and paused DAGs in the scheduler DB (SQLite file or
 * PostgreSQL). docs/scheduler.md has the schema and the life of a task instance.
 * THREADS: a CnSchedDb has one owner thread at a time; processes share the database. */

typedef enum CnSchedTiState {
    CN_SCHED_TI_NONE = 0,        /* created with its DAG run, upstream not done */
    CN_SCHED_TI_SCHEDULED,       /* upstream done, waiting for a slot */
    CN_SCHED_TI_QUEUED,          /* claimed by a scheduler, process being started */
    CN_SCHED_TI_RUNNING,         /* a process (or a sensor's pokes) is at work */
    CN_SCHED_TI_SUCCESS,
    CN_SCHED_TI_FAILED,          /* out of tries */
    CN_SCHED_TI_UP_FOR_RETRY,    /* failed a try; next_ms says when the next starts */
    CN_SCHED_TI_UPSTREAM_FAILED, /* an upstream task failed: never runs */
    CN_SCHED_TI_SKIPPED,
} CnSchedTiState;

/* "none", "scheduled", ... "skipped" (Airflow's names). */
const char *cn_sched_ti_state_name(CnSchedTiState s);
/* The state of a name, or -1. */
int cn_sched_ti_state_parse(const char *s);
/* success, failed, upstream_failed, skipped. */
bool cn_sched_ti_state_finished(CnSchedTiState s);

/* One task instance row. Times are epoch ms, 0 when unset. */
typedef struct CnSchedTi {
    char dag_id[256], task_id[256], ds[11];
    CnSchedTiState state;
    int try_number;          /* tries started so far (the running try's number) */
    int64_t pid;             /* process group leader of the running try */
    int64_t pid_start;       /* its start time (clock ticks after boot): tells pid reuse */
    char host[256];          /* host the process runs on */
    char owner[128];         /* scheduler that claimed the try: "<host>:<pid>:<start>" */
    int64_t start_ms, end_ms;
    int64_t next_ms;         /* up_for_retry: next try; running sensor: next poke */
    int64_t first_ms;        /* running sensor: first poke of this try */
    char log_path[1024];     /* log of the latest try */
    char reason[512];        /* why it failed, was killed or waits */
    int try_base;            /* tries before the last clear: the retry budget starts here */
} CnSchedTi;

typedef enum CnSchedRunState {
    CN_SCHED_RUN_QUEUED = 0, CN_SCHED_RUN_RUNNING, CN_SCHED_RUN_SUCCESS, CN_SCHED_RUN_FAILED,
} CnSchedRunState;
const char *cn_sched_run_state_name(CnSchedRunState s);

typedef struct CnSchedRun {
    char dag_id[256], ds[11];
    CnSchedRunState state;
    char run_type[16];       /* scheduled, manual, backfill */
    int64_t created_ms, start_ms, end_ms;
} CnSchedRun;

typedef struct CnSchedDb CnSchedDb;

/* Opens "sqlite:<path>" or "postgresql://...", creating the tables (create: also the
 * SQLite file and its directory). OWNED: *out, cn_sched_db_close. Errors: CN_EINVAL
 * (bad URI), CN_ENOTFOUND (!create and no SQLite file), CN_EIO (cannot open or connect:
 * names the URI without its password), CN_EUNSUPPORTED (another schema version). */
int cn_sched_db_open(const char *uri, bool create, CnSchedDb **out, CnErr *err);
void cn_sched_db_close(CnSchedDb *db); /* NULL-safe */
/* BORROWED until close: the URI without its password. */
const char *cn_sched_db_uri(const CnSchedDb *db);

/* Adds the row in state none unless it exists. */
int cn_sched_db_ti_ensure(CnSchedDb *db, const char *dag, const char *task, const char *ds, CnErr *err);
/* CN_ENOTFOUND (err untouched) when there is no such row. */
int cn_sched_db_ti_get(CnSchedDb *db, const char *dag, const char *task, const char *ds, CnSchedTi *out,
                       CnErr *err);
/* Rows of dag and ds (NULL: any), or (active_only) every queued or running row.
 * OWNED: *out, cn_free; *out is NULL when *n is 0. */
int cn_sched_db_ti_list(CnSchedDb *db, const char *dag, const char *ds, bool active_only, CnSchedTi **out,
                        size_t *n, CnErr *err);
/* Compare-and-swap: writes neu's fields over the row of old's key if the row still has
 * old's state, try_number and owner. *won says whether it did. */
int cn_sched_db_ti_cas(CnSchedDb *db, const CnSchedTi *old, const CnSchedTi *neu, bool *won, CnErr *err);

/* Adds a run in state queued unless one exists for (dag, ds); *inserted (may be NULL)
 * says which. */
int cn_sched_db_run_insert(CnSchedDb *db, const char *dag, const char *ds, const char *run_type, int64_t now_ms,
                           bool *inserted, CnErr *err);
/* Runs of dag and ds (NULL: any), by ds then dag. OWNED: *out, cn_free. */
int cn_sched_db_run_list(CnSchedDb *db, const char *dag, const char *ds, CnSchedRun **out, size_t *n, CnErr *err);
/* The run with the latest ds; CN_ENOTFOUND when the DAG has none. */
int cn_sched_db_run_last(CnSchedDb *db, const char *dag, CnSchedRun *out, CnErr *err);
/* Writes state, start_ms and end_ms of the run. */
int cn_sched_db_run_set(CnSchedDb *db, const CnSchedRun *run, CnErr *err);
int cn_sched_db_pause(CnSchedDb *db, const char *dag, bool paused, int64_t now_ms, CnErr *err);
/* Records that scheduler owner (on host) is alive at now_ms (table schedulers). */
int cn_sched_db_heartbeat(CnSchedDb *db, const char *owner, const char *host, int64_t now_ms, CnErr *err);
/* The last heartbeat of owner; CN_ENOTFOUND (err untouched) when it never sent one. */
int cn_sched_db_heartbeat_get(CnSchedDb *db, const char *owner, int64_t *beat_ms, CnErr *err);
int cn_sched_db_is_paused(CnSchedDb *db, const char *dag, bool *paused, CnErr *err);

/* ================================================================ the daemon
 * runner.c: runs DAG runs: sensors poke the catalog in-process, run tasks are child
 * processes (own process group, one log file per try, a timeout), retries back off.
 * See docs/scheduler.md ("Run lifecycle"). */

typedef struct CnSched CnSched;

typedef struct CnSchedRunOpts {
    const char *db_uri;       /* state DB */
    const char *warehouse;    /* local warehouse directory or URI (sensors, default log dir) */
    const char *catalog;      /* catalog URI (sensors) */
    const char *log_dir;      /* where logs go */
    const char *self_exe;     /* program for chronon_bin "chronon" (this binary) */
    bool once;                /* stop when nothing can progress (sensors not met = blocked) */
    const char *only_dag;     /* NULL: every DAG */
    const char *ds_lo, *ds_hi;/* NULL: every run; else only runs of these days */
    bool ignore_paused;       /* run only_dag even when paused (dags backfill) */
    const char *today;        /* ds of "today" for the daemon's runs; NULL: the UTC clock */
    const volatile int *stop; /* the caller's signal flag; non-zero: stop */
    FILE *out;                /* progress lines; may be NULL */
} CnSchedRunOpts;

/* Opens the state DB and builds the runner on the model (BORROWED for its life).
 * OWNED: *out, cn_sched_free. */
int cn_sched_new(const CnSchedModel *m, const CnSchedRunOpts *o, CnSched **out, CnErr *err);
void cn_sched_free(CnSched *s); /* NULL-safe; leaves running children running */
/* BORROWED until cn_sched_free. */
CnSchedDb *cn_sched_db(CnSched *s);
/* The scheduled runs of every unpaused DAG up to today (catch-up), as settings say. */
int cn_sched_create_runs(CnSched *s, int64_t today_days, CnErr *err);
/* Adds a run of dag for ds (run_type "manual" or "backfill"); CN_EEXISTS when there is
 * one. */
int cn_sched_trigger(CnSched *s, const char *dag, const char *ds, const char *run_type, CnErr *err);
/* One pass: reap and adopt processes, enforce timeouts, settle states, poke sensors,
 * start what is ready. *busy (OUT) says whether anything still runs or waits on a
 * clock (retry delay, poke interval in daemon mode); false means finished or blocked. */
int cn_sched_tick(CnSched *s, bool *busy, CnErr *err);
/* Loops tick + sleep(poll) until *stop or (once) nothing is busy. */
int cn_sched_loop(CnSched *s, CnErr *err);
/* Counts over the runs of ds (NULL: all) of the DAGs this runner covers. */
typedef struct CnSchedCounts {
    size_t success, failed, upstream_failed, blocked, other;
} CnSchedCounts;
int cn_sched_counts(CnSched *s, const char *ds, CnSchedCounts *c, CnErr *err);
/* Resets a task instance (and with downstream, every task after it in the DAG) of ds to
 * none and sets its run back to running. */
int cn_sched_clear(CnSchedDb *db, const CnSchedDag *d, const char *task, const char *ds, bool downstream,
                   size_t *n_cleared, CnErr *err);

/* ================================================================ schedules
 * cron.c: a DAG's schedule (Airflow presets, "@never", 5-field cron strings) and whether
 * it has a run for a given ds, as Airflow's logical dates would give. docs/scheduler.md. */
typedef enum CnSchedCronKind {
    CN_SCHED_CRON_NEVER = 0,  /* "@never": manual runs only */
    CN_SCHED_CRON_ONCE,       /* "@once": the start date only */
    CN_SCHED_CRON_FIELDS,     /* presets and cron strings */
} CnSchedCronKind;

typedef struct CnSchedCron {
    CnSchedCronKind kind;
    uint64_t minutes;         /* bit i: minute i */
    uint32_t hours, mdays;    /* bit i: hour i, day-of-month i */
    uint16_t months;          /* bit i: month i (1..12) */
    uint8_t wdays;            /* bit i: weekday i, 0 = Sunday */
    bool mday_star, wday_star;/* the day field started with '*' (day-of-month/week OR rule) */
} CnSchedCron;

/* Parses a schedule. On error returns -1 and writes into why (cap bytes) which part is
 * wrong and what was expected; the caller names the file and field. */
int cn_sched_cron_parse(const char *expr, CnSchedCron *out, char *why, size_t cap);
/* True when the schedule has a run whose ds is day (days since 1970-01-01): it fires at
 * some time of that UTC day. start_day is the DAG's start (for @once). */
bool cn_sched_cron_day(const CnSchedCron *c, int64_t day, int64_t start_day);

#endif /* CN_SCHED_H */
