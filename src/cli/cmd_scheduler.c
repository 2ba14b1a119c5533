/* cmd_scheduler.c: `chronon scheduler` (the daemon, or one day with --once) and the verbs
 * that read or change run state: dags state|trigger|backfill|pause|unpause, tasks
 * logs|clear (Airflow's command shapes). Where the state DB, logs, warehouse and catalog
 * live is decided here (resolve()); docs/scheduler.md lists the precedence. */
#include "base/compat.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/fs.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/sched_cli.h"
#include "cli/ui_cli.h"

/* The CLI's stop flag (STYLE: the one mutable static). */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

typedef struct Paths {
    CnCliWhere w;
    const char *root, *warehouse, *catalog; /* views into w */
    char db[2 * PATH_MAX + 160];
    char logs[2 * PATH_MAX + 80];
    char self[PATH_MAX];
} Paths;

/* Warehouse and catalog as `chronon load` finds them (flag-less: environment, else under
 * the repo); the state DB from CHRONON_SCHEDULER_DB, else the state_db setting, else
 * sqlite:<warehouse>/scheduler.db; logs from the log_dir setting, else <warehouse>/logs. */
static void resolve(const CnSchedModel *m, Paths *p) {
    memset(p, 0, sizeof *p);
    CnErr e = CN_ERR_INIT;
    if (cn_cli_where(m->repo, NULL, NULL, NULL, NULL, &p->w, &e) < 0) /* getcwd failed or a path too long */
        snprintf(p->w.home, sizeof p->w.home, "%s", m->repo);
    p->root = p->w.root;
    p->warehouse = p->w.warehouse;
    p->catalog = p->w.catalog;
    const char *home = p->w.home; /* an S3 warehouse keeps files in the repo */
    const char *db = getenv("CHRONON_SCHEDULER_DB");
    if (db && *db) snprintf(p->db, sizeof p->db, "%s", db);
    else if (m->settings.state_db) snprintf(p->db, sizeof p->db, "%s", m->settings.state_db);
    else snprintf(p->db, sizeof p->db, "sqlite:%s/scheduler.db", home);
    const char *ld = m->settings.log_dir;
    if (ld && ld[0] == '/') snprintf(p->logs, sizeof p->logs, "%s", ld);
    else if (ld) snprintf(p->logs, sizeof p->logs, "%s/%s", p->root, ld);
    else snprintf(p->logs, sizeof p->logs, "%s/logs", home);
    ssize_t n = readlink("/proc/self/exe", p->self, sizeof p->self - 1);
    p->self[n > 0 ? n : 0] = 0;
}

void cn_cli_sched_paths(const CnSchedModel *m, CnCliWhere *w, char *db, size_t db_len, char *logs,
                        size_t logs_len) {
    Paths *p = cn_malloc(sizeof *p); /* large: keep it off the worker threads' stacks */
    if (!p) {
        memset(w, 0, sizeof *w);
        snprintf(db, db_len, "sqlite:%s/scheduler.db", m->repo);
        snprintf(logs, logs_len, "%s/logs", m->repo);
        return;
    }
    resolve(m, p);
    *w = p->w;
    snprintf(db, db_len, "%s", p->db);
    snprintf(logs, logs_len, "%s", p->logs);
    cn_free(p);
}

int cn_cli_sched_db_open(const char *verb, const CnSchedModel *m, bool create, CnSchedDb **out) {
    Paths p;
    resolve(m, &p);
    CnErr err = CN_ERR_INIT;
    *out = NULL;
    int rc = cn_sched_db_open(p.db, create, out, &err);
    if (rc == CN_ENOTFOUND && !create) return 0;
    return rc ? cn_cli_fail(verb, &err) : 0;
}

static void today_ds(int64_t add, char out[11]) {
    const char *t = getenv("CHRONON_SCHEDULER_TODAY"); /* a fixed clock for tests and replays */
    int64_t d;
    if (!t || cn_ds_parse(t, &d)) d = cn_ms_to_days((int64_t)time(NULL) * 1000);
    cn_ds_format(d + add, out);
}

static bool valid_ds(const char *verb, const char *flag, const char *v) {
    int64_t d;
    if (v && !cn_ds_parse(v, &d)) return true;
    fprintf(stderr, "chronon %s: %s: '%s' is not a date YYYY-MM-DD\n", verb, flag, v ? v : "");
    return false;
}

/* The value of option flag at argv[*i] (see cn_cli_opt), else NULL; *bad set when its
 * value is missing (said on stderr): the verb's unknown-argument branch then only exits 2. */
static const char *flag_value(const char *verb, int argc, char **argv, int *i, const char *flag, bool *bad) {
    const char *v;
    int m = cn_cli_opt(verb, argc, argv, i, flag, &v);
    if (m < 0) *bad = true;
    return m > 0 ? v : NULL;
}

/* ---------------------------------------------------------------- scheduler */

static const char k_sched_usage[] =
    "usage: chronon scheduler [--once [--ds YYYY-MM-DD]] [--dag DAG_ID] [--repo DIR] [--settings FILE]\n"
    "                         [--naming N] [--ui-port N] [--ui-bind ADDR] [--no-ui]\n"
    "\n"
    "Runs the DAGs of `chronon dags list`: a DAG run per scheduled day from the DAG's start\n"
    "date (catchup setting) up to yesterday (UTC), days in order, each task a child process\n"
    "of its command with a timeout, retries with backoff, partition sensors on the catalog,\n"
    "one log per try under <warehouse>/logs/<dag>/<task>/<ds>/<try>.log. State lives in the\n"
    "scheduler DB ($CHRONON_SCHEDULER_DB, else the state_db setting, else\n"
    "sqlite:<warehouse>/scheduler.db; postgresql://... works too).\n"
    "Without --once it polls every poll_interval_seconds until SIGTERM or SIGINT; running\n"
    "tasks are left running and adopted by the next scheduler (docs/scheduler.md).\n"
    "\n"
    "options:\n"
    "  --once             run the DAG runs of one day (--ds, default yesterday) until every\n"
    "                     task is finished or blocked (a sensor not met), then exit\n"
    "  --ds YYYY-MM-DD    the day for --once\n"
    "  --dag DAG_ID       only this DAG\n"
    "  --repo DIR         chronon root (default: $CHRONON_REPO_PATH, else the current directory)\n"
    "  --settings FILE    scheduler settings (default: <repo>/scheduler.json when present)\n"
    "  --naming N         guide (default) or chronon, as for `chronon dags list`\n"
    "  --ui-port N        serve the web UI on port N (default 8085, the daemon only; with\n"
    "                     --once only when given; 0 picks a free port). docs/ui.md\n"
    "  --ui-bind ADDR     the UI's address (default 127.0.0.1; 0.0.0.0 for every interface)\n"
    "  --no-ui            no web UI\n"
    "  -h, --help         show this help\n"
    "\n"
    "When the default port is taken, the daemon says so and runs without the UI; a port\n"
    "given with --ui-port that cannot be used is an error.\n"
    "exit codes: 0 ok (with --once: nothing failed; blocked tasks are listed), 1 a task\n"
    "failed (--once) or the state DB or configs could not be used, 2 usage error\n";

static int print_blocked(CnSchedDb *db, const CnSchedModel *m, const char *only_dag, const char *ds) {
    CnErr err = CN_ERR_INIT;
    CnSchedTi *tis = NULL;
    size_t n = 0;
    if (cn_sched_db_ti_list(db, only_dag, ds, false, &tis, &n, &err)) return cn_cli_fail("scheduler", &err);
    for (size_t i = 0; i < n; i++) {
        if (cn_sched_ti_state_finished(tis[i].state) || !cn_sched_dag_find(m, tis[i].dag_id)) continue;
        printf("blocked: %s %s %s: %s%s%s\n", tis[i].dag_id, tis[i].task_id, tis[i].ds,
               cn_sched_ti_state_name(tis[i].state), *tis[i].reason ? ": " : "", tis[i].reason);
    }
    cn_free(tis);
    return 0;
}

/* Runs the loop with SIGTERM/SIGINT setting the stop flag. */
static int run_loop(CnSched *s, CnErr *err) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    struct sigaction old_term, old_int;
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGINT, &sa, &old_int);
    int rc = cn_sched_loop(s, err);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    return rc;
}

int cn_cli_scheduler(int argc, char **argv) {
    CnSchedCliCommon c;
    cn_cli_sched_common_init(&c);
    bool once = false, no_ui = false;
    const char *ds = NULL, *only_dag = NULL, *ui_bind = "127.0.0.1";
    int ui_port = -1; /* -1: not given */
    for (int i = 1; i < argc; i++) {
        if (cn_cli_is_help(argv[i])) {
            fputs(k_sched_usage, stdout);
            return 0;
        }
    }
    for (int i = 1; i < argc; i++) {
        int r = cn_cli_sched_common_flag("scheduler", argc, argv, &i, &c);
        const char *v;
        bool bad = false;
        if (r == 2) return 2;
        if (r == 1) continue;
        if (!strcmp(argv[i], "--once")) once = true;
        else if (!strcmp(argv[i], "--no-ui")) no_ui = true;
        else if ((v = flag_value("scheduler", argc, argv, &i, "--ui-port", &bad))) {
            char *end;
            long port = strtol(v, &end, 10);
            if (*end || port < 0 || port > 65535) {
                fprintf(stderr, "chronon scheduler: --ui-port: '%s' is not a port number (0-65535)\n", v);
                return 2;
            }
            ui_port = (int)port;
        } else if ((v = flag_value("scheduler", argc, argv, &i, "--ui-bind", &bad))) {
            ui_bind = v;
        } else if ((v = flag_value("scheduler", argc, argv, &i, "--ds", &bad))) {
            if (!valid_ds("scheduler", "--ds", v)) return 2;
            ds = v;
        } else if ((v = flag_value("scheduler", argc, argv, &i, "--dag", &bad))) {
            only_dag = v;
        } else {
            if (!bad) fprintf(stderr, "chronon scheduler: unknown argument '%s'\n%s", argv[i], k_sched_usage);
            return 2;
        }
    }
    if (no_ui && ui_port >= 0) {
        fprintf(stderr, "chronon scheduler: --no-ui and --ui-port contradict each other\n");
        return 2;
    }
    if (ds && !once) {
        fprintf(stderr, "chronon scheduler: --ds goes with --once (the daemon runs every scheduled day)\n");
        return 2;
    }
    CnSchedModel *m = NULL;
    if (cn_cli_sched_load("scheduler", &c, &m)) return 1;
    cn_cli_sched_report("scheduler", m); /* broken configs: their DAGs are skipped, the rest run */
    if (only_dag && !cn_sched_dag_find(m, only_dag)) {
        int code = cn_cli_sched_unknown_dag("scheduler", m, only_dag);
        cn_sched_model_free(m);
        return code;
    }
    Paths p;
    resolve(m, &p);
    char day[11];
    if (once && !ds) today_ds(-1, day), ds = day;
    char today[11];
    today_ds(0, today);
    CnSchedRunOpts o = {.db_uri = p.db, .warehouse = p.warehouse, .catalog = p.catalog, .log_dir = p.logs,
                        .self_exe = *p.self ? p.self : NULL, .once = once, .only_dag = only_dag,
                        .ds_lo = ds, .ds_hi = ds, .today = today, .stop = &g_stop, .out = stdout};
    CnErr err = CN_ERR_INIT;
    CnSched *s = NULL;
    CnCliUi *ui = NULL;
    int code = 0;
    if (!no_ui && (!once || ui_port >= 0)) {
        /* the dashboard is a convenience: a default port in use must not stop the runs */
        if (cn_cli_ui_start("scheduler", m, ui_bind, ui_port >= 0 ? ui_port : CN_CLI_UI_PORT, &ui, &err)) {
            if (ui_port >= 0) {
                code = cn_cli_fail("scheduler", &err);
                goto done;
            }
            fprintf(stderr, "chronon scheduler: %s; running without the web UI (--ui-port N picks another port)\n",
                    cn_err_msg(&err));
            cn_err_clear(&err);
        }
    }
    if (cn_sched_new(m, &o, &s, &err)) {
        code = cn_cli_fail("scheduler", &err);
        goto done;
    }
    printf("scheduler: state %s, logs %s, %zu DAG(s)%s%s\n", cn_sched_db_uri(cn_sched_db(s)), p.logs, m->n_dags,
           once ? ", once for " : "", once ? ds : "");
    fflush(stdout);
    if (once) {
        for (size_t i = 0; i < m->n_dags && !code; i++) {
            const CnSchedDag *d = &m->dags[i];
            bool paused = false;
            if (d->incomplete || (only_dag && strcmp(d->id, only_dag))) continue;
            if (cn_sched_db_is_paused(cn_sched_db(s), d->id, &paused, &err)) code = cn_cli_fail("scheduler", &err);
            else if (!paused && cn_sched_db_run_insert(cn_sched_db(s), d->id, ds, "scheduled", (int64_t)time(NULL) * 1000, NULL, &err))
                code = cn_cli_fail("scheduler", &err);
        }
    }
    if (!code && run_loop(s, &err)) code = cn_cli_fail("scheduler", &err);
    if (!code && once) {
        CnSchedCounts cnt;
        if (cn_sched_counts(s, ds, &cnt, &err)) code = cn_cli_fail("scheduler", &err);
        else {
            print_blocked(cn_sched_db(s), m, only_dag, ds);
            printf("scheduler: %s: %zu success, %zu failed, %zu upstream_failed, %zu blocked\n", ds, cnt.success,
                   cnt.failed, cnt.upstream_failed, cnt.blocked);
            code = cnt.failed || cnt.upstream_failed ? 1 : 0;
        }
    }
    if (!once && g_stop) printf("scheduler: stopping on a signal; running tasks are left to the next scheduler\n");
done:
    cn_cli_ui_free(ui); /* stops the UI's server before the model it shows goes */
    cn_sched_free(s);
    cn_sched_model_free(m);
    return code;
}

/* ---------------------------------------------------------------- dags ... */

static const char k_dags_usage[] =
    "usage: chronon dags state <dag_id> <ds> [--json]\n"
    "       chronon dags trigger <dag_id> [--ds YYYY-MM-DD]\n"
    "       chronon dags backfill <dag_id> --start-ds YYYY-MM-DD --end-ds YYYY-MM-DD\n"
    "       chronon dags pause <dag_id>\n"
    "       chronon dags unpause <dag_id>\n"
    "       (each also takes --repo DIR, --settings FILE, --naming guide|chronon)\n"
    "\n"
    "state     prints the run's state (queued, running, success, failed) on the first line,\n"
    "          then one line per task: task id, state, try, start, end, reason\n"
    "trigger   adds a manual run for --ds (default today, UTC) that the scheduler picks up\n"
    "backfill  adds runs for every day from --start-ds to --end-ds and runs them now, in\n"
    "          order, in the foreground (also when the DAG is paused); exit 1 if a task failed\n"
    "pause     the scheduler creates and advances no runs of the DAG until unpause\n"
    "\n"
    "The state DB is $CHRONON_SCHEDULER_DB, else the state_db setting, else\n"
    "sqlite:<warehouse>/scheduler.db (docs/scheduler.md).\n"
    "exit codes: 0 ok, 1 unknown DAG, no such run, a failed backfill or a state DB error,\n"
    "2 usage error\n";

static void fmt_time(int64_t ms, char out[24]) {
    if (!ms) {
        snprintf(out, 24, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int dags_state(CnSchedDb *db, const CnSchedDag *d, const char *ds, bool json) {
    CnErr err = CN_ERR_INIT;
    CnSchedRun *runs = NULL;
    CnSchedTi *tis = NULL;
    size_t nr = 0, nt = 0;
    int code = 0;
    if (cn_sched_db_run_list(db, d->id, ds, &runs, &nr, &err) || cn_sched_db_ti_list(db, d->id, ds, false, &tis, &nt, &err)) {
        code = cn_cli_fail("dags", &err);
        goto done;
    }
    if (!nr) {
        fprintf(stderr, "chronon dags: DAG %s has no run for %s (chronon dags trigger %s --ds %s)\n", d->id, ds, d->id, ds);
        code = 1;
        goto done;
    }
    if (json) {
        printf("{\"dag_id\": \"%s\", \"ds\": \"%s\", \"state\": \"%s\", \"run_type\": \"%s\", \"tasks\": [", d->id, ds,
               cn_sched_run_state_name(runs[0].state), runs[0].run_type);
        for (size_t i = 0; i < nt; i++) {
            CnBuf r = CN_BUF_INIT;
            for (const char *c = tis[i].reason; *c; c++) {
                if (*c == '"' || *c == '\\') cn_buf_putc(&r, '\\');
                if ((unsigned char)*c >= 0x20) cn_buf_putc(&r, *c);
            }
            printf("%s\n  {\"task_id\": \"%s\", \"state\": \"%s\", \"try_number\": %d, \"pid\": %lld, "
                   "\"start_ms\": %lld, \"end_ms\": %lld, \"log\": \"%s\", \"reason\": \"%s\"}",
                   i ? "," : "", tis[i].task_id, cn_sched_ti_state_name(tis[i].state), tis[i].try_number,
                   (long long)tis[i].pid, (long long)tis[i].start_ms, (long long)tis[i].end_ms, tis[i].log_path,
                   r.data ? r.data : "");
            cn_buf_fini(&r);
        }
        printf("\n]}\n");
        goto done;
    }
    printf("%s\n", cn_sched_run_state_name(runs[0].state));
    for (size_t i = 0; i < nt; i++) {
        char a[24], b[24];
        fmt_time(tis[i].start_ms, a);
        fmt_time(tis[i].end_ms, b);
        printf("%-40s %-16s try %d  %s  %s%s%s\n", tis[i].task_id, cn_sched_ti_state_name(tis[i].state),
               tis[i].try_number, a, b, *tis[i].reason ? "  " : "", tis[i].reason);
    }
done:
    cn_free(runs);
    cn_free(tis);
    return code;
}

static int dags_backfill(const CnSchedModel *m, const CnSchedDag *d, const char *lo, const char *hi) {
    Paths p;
    resolve(m, &p);
    CnSchedRunOpts o = {.db_uri = p.db, .warehouse = p.warehouse, .catalog = p.catalog, .log_dir = p.logs,
                        .self_exe = *p.self ? p.self : NULL, .once = true, .only_dag = d->id, .ds_lo = lo,
                        .ds_hi = hi, .ignore_paused = true, .stop = &g_stop, .out = stdout};
    CnErr err = CN_ERR_INIT;
    CnSched *s = NULL;
    int code = 0;
    int64_t a, b;
    cn_ds_parse(lo, &a);
    cn_ds_parse(hi, &b);
    if (cn_sched_new(m, &o, &s, &err)) return cn_cli_fail("dags", &err);
    for (int64_t day = a; day <= b && !code; day++) {
        char ds[11];
        cn_ds_format(day, ds);
        bool ins = false;
        if (cn_sched_db_run_insert(cn_sched_db(s), d->id, ds, "backfill", (int64_t)time(NULL) * 1000, &ins, &err))
            code = cn_cli_fail("dags", &err);
        else if (!ins) printf("backfill: %s %s: a run exists already; kept as it is (chronon tasks clear to re-run)\n", d->id, ds);
    }
    if (!code && run_loop(s, &err)) code = cn_cli_fail("dags", &err);
    CnSchedCounts cnt;
    if (!code && cn_sched_counts(s, NULL, &cnt, &err)) code = cn_cli_fail("dags", &err);
    else if (!code) {
        print_blocked(cn_sched_db(s), m, d->id, NULL);
        printf("backfill: %s %s..%s: %zu success, %zu failed, %zu upstream_failed, %zu blocked\n", d->id, lo, hi,
               cnt.success, cnt.failed, cnt.upstream_failed, cnt.blocked);
        code = cnt.failed || cnt.upstream_failed ? 1 : 0;
    }
    cn_sched_free(s);
    return code;
}

int cn_cli_dags_state_verbs(int argc, char **argv) {
    const char *sub = argv[1];
    CnSchedCliCommon c;
    cn_cli_sched_common_init(&c);
    const char *pos[2] = {NULL, NULL}, *ds = NULL, *lo = NULL, *hi = NULL;
    int n_pos = 0;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (cn_cli_is_help(argv[i])) {
            fputs(k_dags_usage, stdout);
            return 0;
        }
    }
    int want = !strcmp(sub, "state") ? 2 : 1;
    for (int i = 2; i < argc; i++) {
        int r = cn_cli_sched_common_flag("dags", argc, argv, &i, &c);
        const char *v;
        bool bad = false;
        if (r == 2) return 2;
        if (r == 1) continue;
        if (!strcmp(sub, "state") && !strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(sub, "trigger") && (v = flag_value("dags", argc, argv, &i, "--ds", &bad))) ds = v;
        else if (!strcmp(sub, "backfill") && (v = flag_value("dags", argc, argv, &i, "--start-ds", &bad))) lo = v;
        else if (!strcmp(sub, "backfill") && (v = flag_value("dags", argc, argv, &i, "--end-ds", &bad))) hi = v;
        else if (argv[i][0] != '-' && n_pos < want) pos[n_pos++] = argv[i];
        else {
            if (!bad) fprintf(stderr, "chronon dags %s: unknown argument '%s'\n%s", sub, argv[i], k_dags_usage);
            return 2;
        }
    }
    if (n_pos < want) {
        fprintf(stderr, "chronon dags %s: needs %s\n%s", sub, want == 2 ? "a DAG id and a ds" : "a DAG id", k_dags_usage);
        return 2;
    }
    if ((want == 2 && !valid_ds("dags", "ds", pos[1])) || (ds && !valid_ds("dags", "--ds", ds))) return 2;
    if (!strcmp(sub, "backfill")) {
        if (!lo || !hi) {
            fprintf(stderr, "chronon dags backfill: needs --start-ds and --end-ds\n");
            return 2;
        }
        if (!valid_ds("dags", "--start-ds", lo) || !valid_ds("dags", "--end-ds", hi)) return 2;
        if (strcmp(lo, hi) > 0) {
            fprintf(stderr, "chronon dags backfill: --start-ds %s is after --end-ds %s\n", lo, hi);
            return 2;
        }
    }
    CnSchedModel *m = NULL;
    if (cn_cli_sched_load("dags", &c, &m)) return 1;
    const CnSchedDag *d = cn_sched_dag_find(m, pos[0]);
    int code = 0;
    CnSchedDb *db = NULL;
    CnErr err = CN_ERR_INIT;
    if (!d) {
        code = cn_cli_sched_unknown_dag("dags", m, pos[0]);
        goto done;
    }
    if (!strcmp(sub, "backfill")) {
        if (d->incomplete) {
            cn_cli_sched_report("dags", m);
            fprintf(stderr, "chronon dags backfill: DAG %s is incomplete (see above); fix its configs first\n", d->id);
            code = 1;
        } else {
            code = dags_backfill(m, d, lo, hi);
        }
        goto done;
    }
    bool create = strcmp(sub, "state") != 0;
    if ((code = cn_cli_sched_db_open("dags", m, create, &db))) goto done;
    if (!db) {
        fprintf(stderr, "chronon dags: DAG %s has no run for %s (no scheduler has run yet)\n", d->id, pos[1]);
        code = 1;
        goto done;
    }
    if (!strcmp(sub, "state")) {
        code = dags_state(db, d, pos[1], json);
    } else if (!strcmp(sub, "trigger")) {
        char day[11];
        if (!ds) today_ds(0, day), ds = day;
        bool ins = false;
        if (cn_sched_db_run_insert(db, d->id, ds, "manual", (int64_t)time(NULL) * 1000, &ins, &err))
            code = cn_cli_fail("dags", &err);
        else if (!ins) {
            fprintf(stderr, "chronon dags trigger: DAG %s already has a run for %s (re-run its tasks with chronon tasks clear %s <task> %s)\n",
                    d->id, ds, d->id, ds);
            code = 1;
        } else printf("Created run of %s for %s (manual); the scheduler runs it\n", d->id, ds);
    } else {
        bool pause = !strcmp(sub, "pause");
        if (cn_sched_db_pause(db, d->id, pause, (int64_t)time(NULL) * 1000, &err)) code = cn_cli_fail("dags", &err);
        else printf("Dag: %s, paused: %s\n", d->id, pause ? "True" : "False");
    }
done:
    cn_sched_db_close(db);
    cn_sched_model_free(m);
    return code;
}

/* ---------------------------------------------------------------- tasks ... */

static const char k_tasks_usage[] =
    "usage: chronon tasks logs <dag_id> <task_id> <ds> [--try N]\n"
    "       chronon tasks clear <dag_id> <task_id> <ds> [--downstream]\n"
    "       (each also takes --repo DIR, --settings FILE, --naming guide|chronon)\n"
    "\n"
    "logs   prints the log of a try (default: the latest), <log_dir>/<dag>/<task>/<ds>/<try>.log;\n"
    "       when a try has no log (the log directory was not writable), says why\n"
    "clear  sets the task instance (with --downstream, also every task after it) back to\n"
    "       none with a fresh retry budget, and its DAG run back to running; the scheduler\n"
    "       runs it again. A running task cannot be cleared.\n"
    "\n"
    "exit codes: 0 ok, 1 unknown DAG, task, instance or try, or a state DB error, 2 usage error\n";

static int tasks_logs(const CnSchedModel *m, CnSchedDb *db, const CnSchedDag *d, const char *task, const char *ds,
                      int try_no) {
    Paths p;
    resolve(m, &p);
    CnSchedTi ti;
    memset(&ti, 0, sizeof ti);
    CnErr err = CN_ERR_INIT;
    int rc = db ? cn_sched_db_ti_get(db, d->id, task, ds, &ti, &err) : CN_ENOTFOUND;
    if (rc && rc != CN_ENOTFOUND) return cn_cli_fail("tasks", &err);
    if (!try_no) try_no = ti.try_number;
    if (!try_no) {
        fprintf(stderr, "chronon tasks logs: task %s of DAG %s has not run for %s%s%s\n", task, d->id, ds,
                *ti.reason ? ": " : "", ti.reason);
        return 1;
    }
    char path[3 * PATH_MAX + 1200];
    snprintf(path, sizeof path, "%s/%s/%s/%s/%d.log", p.logs, d->id, task, ds, try_no);
    char *txt = NULL;
    size_t len = 0;
    if (cn_fs_read_all(path, &txt, &len, &err)) {
        fprintf(stderr, "chronon tasks logs: no log for try %d of %s %s %s (%s)%s%s\n", try_no, d->id, task, ds,
                cn_err_msg(&err), try_no == ti.try_number && *ti.reason ? "; the try failed: " : "",
                try_no == ti.try_number ? ti.reason : "");
        return 1;
    }
    fwrite(txt, 1, len, stdout);
    cn_free(txt);
    return 0;
}

int cn_cli_tasks_state_verbs(int argc, char **argv) {
    const char *sub = argv[1];
    CnSchedCliCommon c;
    cn_cli_sched_common_init(&c);
    const char *pos[3] = {NULL, NULL, NULL};
    int n_pos = 0, try_no = 0;
    bool downstream = false;
    for (int i = 2; i < argc; i++)
        if (cn_cli_is_help(argv[i])) {
            fputs(k_tasks_usage, stdout);
            return 0;
        }
    for (int i = 2; i < argc; i++) {
        int r = cn_cli_sched_common_flag("tasks", argc, argv, &i, &c);
        const char *v;
        bool bad = false;
        if (r == 2) return 2;
        if (r == 1) continue;
        if (!strcmp(sub, "clear") && !strcmp(argv[i], "--downstream")) downstream = true;
        else if (!strcmp(sub, "logs") && (v = flag_value("tasks", argc, argv, &i, "--try", &bad))) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 100000) {
                fprintf(stderr, "chronon tasks logs: --try: '%s' is not a try number (1, 2, ...)\n", v);
                return 2;
            }
            try_no = (int)n;
        } else if (argv[i][0] != '-' && n_pos < 3) pos[n_pos++] = argv[i];
        else {
            if (!bad) fprintf(stderr, "chronon tasks %s: unknown argument '%s'\n%s", sub, argv[i], k_tasks_usage);
            return 2;
        }
    }
    if (n_pos < 3) {
        fprintf(stderr, "chronon tasks %s: needs a DAG id, a task id and a ds\n%s", sub, k_tasks_usage);
        return 2;
    }
    if (!valid_ds("tasks", "ds", pos[2])) return 2;
    CnSchedModel *m = NULL;
    if (cn_cli_sched_load("tasks", &c, &m)) return 1;
    const CnSchedDag *d = cn_sched_dag_find(m, pos[0]);
    CnSchedDb *db = NULL;
    int code = 0;
    CnErr err = CN_ERR_INIT;
    if (!d) {
        code = cn_cli_sched_unknown_dag("tasks", m, pos[0]);
        goto done;
    }
    if (!cn_sched_task_find(d, pos[1])) {
        fprintf(stderr, "chronon tasks: DAG %s has no task '%s'; its tasks are:\n", d->id, pos[1]);
        for (size_t k = 0; k < d->n_tasks; k++) fprintf(stderr, "  %s\n", d->tasks[k].id);
        code = 1;
        goto done;
    }
    if ((code = cn_cli_sched_db_open("tasks", m, false, &db))) goto done;
    if (!strcmp(sub, "logs")) {
        code = tasks_logs(m, db, d, pos[1], pos[2], try_no);
    } else {
        size_t n = 0;
        if (!db) {
            fprintf(stderr, "chronon tasks clear: task %s of DAG %s has no instance for %s (no scheduler has run yet)\n",
                    pos[1], d->id, pos[2]);
            code = 1;
        } else if (cn_sched_clear(db, d, pos[1], pos[2], downstream, &n, &err)) {
            code = cn_cli_fail("tasks", &err);
        } else {
            printf("cleared %zu task instance(s) of %s for %s\n", n, d->id, pos[2]);
        }
    }
done:
    cn_sched_db_close(db);
    cn_sched_model_free(m);
    return code;
}
