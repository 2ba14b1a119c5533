/* cmd_airflow.c: `chronon airflow export --out DIR`: one Airflow DAG file per DAG of the
 * model, for users who already run Airflow. Each file is written whole (temp + rename).
 * A DAG whose configs did not all load is not written, so Airflow keeps the previous
 * complete version instead of one that silently lost tasks. */
#include "base/compat.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/sched_cli.h"

static const char k_usage[] =
    "usage: chronon airflow export --out DIR [--repo DIR] [--naming guide|chronon] [--settings FILE]\n"
    "\n"
    "Writes one Airflow DAG file, DIR/<dag_id>.py, per DAG of `chronon dags list`: the same\n"
    "DAG ids, schedules, concurrency and retries, a BashOperator per task running the same\n"
    "`chronon run --mode ... --conf production/... --ds {{ ds }} --repo <chronon_path>`,\n"
    "a BashSensor per partition dependency running `chronon table partitions <table> --has\n"
    "<ds>`, and an ExternalTaskSensor where a DAG waits for another DAG's task.\n"
    "Files written by an earlier export for DAGs that no longer exist are removed; other\n"
    "files in DIR are left alone. Copy DIR into Airflow's dags folder (or point it there).\n"
    "\n"
    "options:\n"
    "  --out DIR          output directory (created when missing)\n"
    "  --repo DIR         chronon root (default: $CHRONON_REPO_PATH, else the current directory)\n"
    "  --naming N         guide (default): chronon_batch_dag_<team> with backfill_task, ...;\n"
    "                     chronon: the names of Chronon's own Airflow helpers\n"
    "  --settings FILE    scheduler settings (default: <repo>/scheduler.json when present)\n"
    "  -h, --help         show this help\n"
    "\n"
    "A compiled file that fails to load is reported with its path; its DAG is not written,\n"
    "the other DAGs are, and the exit code is 1.\n"
    "exit codes: 0 ok, 1 a config or setting could not be loaded or a file not written,\n"
    "2 usage error\n";

/* The first line every exported file starts with, up to the DAG id. */
static const char k_marker[] = ": written by `chronon airflow export`";

static bool in_model(const CnSchedModel *m, const char *file) {
    for (size_t i = 0; i < m->n_dags; i++) {
        size_t n = strlen(m->dags[i].id);
        if (!strncmp(file, m->dags[i].id, n) && !strcmp(file + n, ".py")) return true;
    }
    /* a DAG whose only configs failed to load keeps its last good file */
    for (size_t i = 0; i < m->n_issues; i++) {
        const char *id = m->issues[i].dag_id;
        size_t n = id ? strlen(id) : 0;
        if (id && !strncmp(file, id, n) && !strcmp(file + n, ".py")) return true;
    }
    return false;
}

/* Removes DIR/<x>.py files that an earlier export wrote for DAGs that are gone. A file is
 * ours only when its first line is "# <x>: written by `chronon airflow export`...". */
static void remove_stale(const CnSchedModel *m, const char *dir) {
    DIR *dp = opendir(dir);
    if (!dp) return;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 4 || strcmp(de->d_name + n - 3, ".py") || in_model(m, de->d_name)) continue;
        char path[PATH_MAX], line[512];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path) continue;
        FILE *f = fopen(path, "r");
        if (!f) continue;
        bool ours = fgets(line, sizeof line, f) != NULL;
        fclose(f);
        char want[512];
        snprintf(want, sizeof want, "# %.*s%s", (int)(n - 3), de->d_name, k_marker);
        if (!ours || strncmp(line, want, strlen(want))) continue;
        if (unlink(path) == 0) printf("removed %s (its DAG no longer exists)\n", path);
    }
    closedir(dp);
}

int cn_cli_airflow(int argc, char **argv) {
    CnSchedCliCommon c;
    cn_cli_sched_common_init(&c);
    const char *out = NULL;
    for (int i = 1; i < argc; i++)
        if (cn_cli_is_help(argv[i])) {
            fputs(k_usage, stdout);
            return 0;
        }
    if (argc < 2 || strcmp(argv[1], "export")) {
        if (argc >= 2) fprintf(stderr, "chronon airflow: unknown subcommand '%s' (expected: export)\n", argv[1]);
        fputs(k_usage, stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        int r = cn_cli_sched_common_flag("airflow", argc, argv, &i, &c);
        if (r == 2) return 2;
        if (r == 1) continue;
        if ((r = cn_cli_opt("airflow", argc, argv, &i, "--out", &out)) < 0) return 2;
        if (!r) {
            fprintf(stderr, "chronon airflow: unknown argument '%s'\n%s", argv[i], k_usage);
            return 2;
        }
    }
    if (!out || !*out) {
        fprintf(stderr, "chronon airflow: --out DIR is required\n%s", k_usage);
        return 2;
    }
    CnSchedModel *m = NULL;
    if (cn_cli_sched_load("airflow", &c, &m)) return 1;
    CnErr err = CN_ERR_INIT;
    int code = 0;
    size_t written = 0;
    if (cn_fs_mkdirs(out, &err)) {
        code = cn_cli_fail("airflow", &err);
        goto done;
    }
    for (size_t i = 0; i < m->n_dags; i++) {
        const CnSchedDag *d = &m->dags[i];
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s.py", out, d->id) >= sizeof path) {
            fprintf(stderr, "chronon airflow: %s/%s.py: path too long\n", out, d->id);
            code = 1;
            continue;
        }
        if (d->incomplete) {
            fprintf(stderr, "chronon airflow: not writing %s: some of its configs could not be loaded (see below)\n",
                    path);
            code = 1;
            continue;
        }
        CnBuf b = CN_BUF_INIT;
        cn_err_clear(&err);
        if (cn_sched_airflow_render(m, d, &b, &err) || cn_fs_write_atomic(path, b.data, b.len, &err)) {
            code = cn_cli_fail("airflow", &err);
        } else {
            printf("wrote %s (%zu tasks)\n", path, d->n_tasks);
            written++;
        }
        cn_buf_fini(&b);
    }
    remove_stale(m, out);
    printf("%zu of %zu DAG(s) written to %s (naming: %s)\n", written, m->n_dags, out,
           cn_sched_naming_name(m->naming));
done:
    fflush(stdout);
    if (cn_cli_sched_report("airflow", m)) code = 1;
    cn_sched_model_free(m);
    return code;
}
