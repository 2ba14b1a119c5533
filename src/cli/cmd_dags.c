/* cmd_dags.c: `chronon dags list`, the DAGs the scheduler builds from production/
 * (Airflow's `airflow dags list`) with their paused flag and last run from the state DB,
 * and the helpers the scheduler verbs share (sched_cli.h). The verbs that change run
 * state are in cmd_scheduler.c. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/sched_cli.h"

static const char k_usage[] =
    "usage: chronon dags list [--repo DIR] [--naming guide|chronon] [--settings FILE] [--json]\n"
    "       chronon dags state|trigger|backfill|pause|unpause ... (chronon dags state --help)\n"
    "\n"
    "Lists the DAGs built from the compiled configs under <repo>/production: one batch DAG\n"
    "per team for GroupBys (chronon_batch_dag_<team>), one per Join (chronon_join_<name>),\n"
    "one per team for StagingQueries (chronon_staging_query_<team>); see docs/scheduler.md.\n"
    "Columns: dag id, schedule, number of tasks, paused (yes/no), last run (ds and state,\n"
    "or - when the scheduler has not run it; from the state DB, see chronon scheduler --help).\n"
    "\n"
    "options:\n"
    "  --repo DIR         chronon root (default: $CHRONON_REPO_PATH, else the current directory)\n"
    "  --naming N         guide (default): the users' guide's names; chronon: the names of\n"
    "                     Chronon's own Airflow helpers (chronon_group_by_batch_<team>, ...)\n"
    "  --settings FILE    scheduler settings (default: <repo>/scheduler.json when present)\n"
    "  --json             print {\"dags\": [...], \"errors\": [...]} instead of a table\n"
    "  -h, --help         show this help\n"
    "\n"
    "A compiled file that fails to load is reported with its path; the other DAGs are still\n"
    "listed, the DAG it belonged to is marked incomplete, and the exit code is 1.\n"
    "exit codes: 0 ok, 1 a config or setting could not be loaded, 2 usage error\n";

void cn_cli_sched_common_init(CnSchedCliCommon *c) {
    memset(c, 0, sizeof *c);
    const char *env = getenv("CHRONON_REPO_PATH");
    c->repo = env && *env ? env : ".";
    c->naming = CN_SCHED_NAMING_GUIDE;
}

int cn_cli_sched_common_flag(const char *verb, int argc, char **argv, int *i, CnSchedCliCommon *c) {
    static const char *const flags[] = {"--repo", "--settings", "--naming"};
    for (size_t k = 0; k < CN_ARRAY_LEN(flags); k++) {
        const char *v;
        int m = cn_cli_opt(verb, argc, argv, i, flags[k], &v);
        if (m < 0) return 2;
        if (!m) continue;
        if (k == 0) c->repo = v;
        else if (k == 1) c->settings = v;
        else if (!strcmp(v, "guide")) c->naming = CN_SCHED_NAMING_GUIDE;
        else if (!strcmp(v, "chronon")) c->naming = CN_SCHED_NAMING_CHRONON;
        else {
            fprintf(stderr, "chronon %s: --naming: unknown value '%s' (expected guide or chronon)\n", verb, v);
            return 2;
        }
        return 1;
    }
    return 0;
}

int cn_cli_sched_load(const char *verb, const CnSchedCliCommon *c, CnSchedModel **out) {
    CnErr err = CN_ERR_INIT;
    CnSchedOptions opt = {c->naming, c->settings};
    if (cn_sched_model_build(c->repo, &opt, out, &err)) return cn_cli_fail(verb, &err);
    return 0;
}

int cn_cli_sched_report(const char *verb, const CnSchedModel *m) {
    if (!m->n_issues) return 0;
    for (size_t i = 0; i < m->n_issues; i++) fprintf(stderr, "chronon %s: %s\n", verb, m->issues[i].msg);
    size_t n_incomplete = 0;
    for (size_t i = 0; i < m->n_dags; i++) n_incomplete += m->dags[i].incomplete;
    fprintf(stderr, "chronon %s: %zu problem(s) in %s; the other DAGs were still built: %zu complete",
            verb, m->n_issues, m->repo, m->n_dags - n_incomplete);
    if (n_incomplete) {
        fprintf(stderr, ", %zu incomplete (see the problems above):", n_incomplete);
        for (size_t i = 0; i < m->n_dags; i++)
            if (m->dags[i].incomplete) fprintf(stderr, " %s", m->dags[i].id);
    }
    fprintf(stderr, "\n");
    return 1;
}

int cn_cli_sched_unknown_dag(const char *verb, const CnSchedModel *m, const char *id) {
    CnBuf b = CN_BUF_INIT;
    cn_sched_list_dag_ids(m, &b);
    fprintf(stderr, "chronon %s: no DAG '%s' in %s/production (naming: %s); the DAGs are:\n%s", verb, id,
            m->repo, cn_sched_naming_name(m->naming), b.data ? b.data : "");
    cn_buf_fini(&b);
    return 1;
}

/* Paused flag and last run of each DAG; db may be NULL (no scheduler has run). */
typedef struct RunInfo {
    bool paused;
    bool has_run;
    CnSchedRun last;
} RunInfo;

static int run_info(CnSchedDb *db, const CnSchedModel *m, RunInfo *info) {
    CnErr err = CN_ERR_INIT;
    for (size_t i = 0; db && i < m->n_dags; i++) {
        int rc = cn_sched_db_is_paused(db, m->dags[i].id, &info[i].paused, &err);
        if (!rc) rc = cn_sched_db_run_last(db, m->dags[i].id, &info[i].last, &err);
        info[i].has_run = rc == 0;
        if (rc && rc != CN_ENOTFOUND) return cn_cli_fail("dags", &err);
    }
    return 0;
}

static int list_json(const CnSchedModel *m, const RunInfo *info) {
    json_t *root = json_object(), *dags = json_array(), *errs = json_array();
    int rc = 1;
    if (!root || !dags || !errs) goto done;
    for (size_t i = 0; i < m->n_dags; i++) {
        const CnSchedDag *d = &m->dags[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:b, s:b}", "dag_id", d->id, "kind",
                              cn_sched_dag_kind_name(d->kind), "team", d->team, "schedule", d->schedule,
                              "tasks", (json_int_t)d->n_tasks, "concurrency", d->concurrency, "paused",
                              info[i].paused, "incomplete", d->incomplete);
        if (!o || json_array_append_new(dags, o)) goto done;
        json_object_set_new(o, "last_run",
                            info[i].has_run ? json_pack("{s:s, s:s, s:s}", "ds", info[i].last.ds, "state",
                                                        cn_sched_run_state_name(info[i].last.state), "run_type",
                                                        info[i].last.run_type)
                                            : json_null());
    }
    for (size_t i = 0; i < m->n_issues; i++) {
        const CnSchedIssue *is = &m->issues[i];
        json_t *o = json_pack("{s:s, s:s?, s:s}", "path", is->path, "dag_id", is->dag_id, "message", is->msg);
        if (!o || json_array_append_new(errs, o)) goto done;
    }
    json_object_set(root, "dags", dags);
    json_object_set(root, "errors", errs);
    json_object_set_new(root, "naming", json_string(cn_sched_naming_name(m->naming)));
    if (json_dumpf(root, stdout, JSON_INDENT(2)) == 0) {
        printf("\n");
        rc = 0;
    }
done:
    if (rc) fprintf(stderr, "chronon dags: out of memory writing JSON\n");
    json_decref(root);
    json_decref(dags);
    json_decref(errs);
    return rc;
}

static void list_text(const CnSchedModel *m, const RunInfo *info) {
    size_t w = strlen("dag_id");
    for (size_t i = 0; i < m->n_dags; i++) w = CN_MAX(w, strlen(m->dags[i].id));
    printf("%-*s  %-9s  %5s  %-6s  %s\n", (int)w, "dag_id", "schedule", "tasks", "paused", "last_run");
    for (size_t i = 0; i < m->n_dags; i++) {
        const CnSchedDag *d = &m->dags[i];
        char last[48] = "-";
        if (info[i].has_run)
            snprintf(last, sizeof last, "%s %s", info[i].last.ds, cn_sched_run_state_name(info[i].last.state));
        printf("%-*s  %-9s  %5zu  %-6s  %s%s\n", (int)w, d->id, d->schedule, d->n_tasks, info[i].paused ? "yes" : "no",
               last, d->incomplete ? "  (incomplete: see errors)" : "");
    }
}

int cn_cli_dags(int argc, char **argv) {
    CnSchedCliCommon c;
    cn_cli_sched_common_init(&c);
    bool json = false;
    if (argc < 2) {
        fputs(k_usage, stderr);
        return 2;
    }
    static const char *const state_verbs[] = {"state", "trigger", "backfill", "pause", "unpause"};
    for (size_t k = 0; k < CN_ARRAY_LEN(state_verbs); k++)
        if (!strcmp(argv[1], state_verbs[k])) return cn_cli_dags_state_verbs(argc, argv);
    for (int i = 1; i < argc; i++)
        if (cn_cli_is_help(argv[i])) {
            fputs(k_usage, stdout);
            return 0;
        }
    if (strcmp(argv[1], "list")) {
        fprintf(stderr, "chronon dags: unknown subcommand '%s' (expected: list, state, trigger, backfill, pause, unpause)\n", argv[1]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        int r = cn_cli_sched_common_flag("dags", argc, argv, &i, &c);
        if (r == 2) return 2;
        if (r == 1) continue;
        if (!strcmp(argv[i], "--json")) json = true;
        else {
            fprintf(stderr, "chronon dags: unknown argument '%s'\n%s", argv[i], k_usage);
            return 2;
        }
    }
    CnSchedModel *m = NULL;
    if (cn_cli_sched_load("dags", &c, &m)) return 1;
    CnSchedDb *db = NULL;
    RunInfo *info = cn_calloc(m->n_dags ? m->n_dags : 1, sizeof *info);
    int code = info ? cn_cli_sched_db_open("dags", m, false, &db) : 1;
    if (!code) code = run_info(db, m, info);
    if (!code) code = json ? list_json(m, info) : (list_text(m, info), 0);
    cn_sched_db_close(db);
    cn_free(info);
    fflush(stdout);
    if (cn_cli_sched_report("dags", m)) code = 1;
    cn_sched_model_free(m);
    return code;
}
