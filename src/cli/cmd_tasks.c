/* cmd_tasks.c: `chronon tasks list <dag> [--tree]` (Airflow's `airflow tasks list`) and
 * `chronon tasks show <dag> <task>`: the tasks of one DAG, their dependency graph and the
 * command each runs. `tasks logs` and `tasks clear` are in cmd_scheduler.c. */
#include "base/compat.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/sched_cli.h"

static const char k_usage[] =
    "usage: chronon tasks list <dag_id> [--tree] [--json] [--repo DIR] [--naming guide|chronon]\n"
    "       chronon tasks show <dag_id> <task_id> [--repo DIR] [--naming guide|chronon]\n"
    "       chronon tasks logs|clear ... (chronon tasks logs --help)\n"
    "\n"
    "list  prints the task ids of a DAG, each after the tasks it waits for; with --tree,\n"
    "      the dependency graph from the tasks that wait for nothing, each task's\n"
    "      downstream tasks indented below it; with --json, every task with its kind,\n"
    "      command, upstream and downstream ids.\n"
    "show  prints one task: kind, command (or the DAG and task it waits for), upstream\n"
    "      and downstream tasks.\n"
    "\n"
    "options:\n"
    "  --repo DIR         chronon root (default: $CHRONON_REPO_PATH, else the current directory)\n"
    "  --naming N         guide (default) or chronon, as for `chronon dags list`\n"
    "  --settings FILE    scheduler settings (default: <repo>/scheduler.json when present)\n"
    "  -h, --help         show this help\n"
    "\n"
    "exit codes: 0 ok, 1 unknown DAG or task, or a config could not be loaded, 2 usage error\n";

/* Task indexes in dependency order (a task after everything it waits for), ties in the
 * model's order. Tasks of a cycle (an incomplete DAG) follow in model order. */
static size_t *topo_order(const CnSchedDag *d) {
    size_t n = d->n_tasks;
    size_t *order = cn_calloc(n ? n : 1, sizeof *order);
    bool *done = cn_calloc(n ? n : 1, sizeof *done);
    if (!order || !done) {
        cn_free(order);
        cn_free(done);
        return NULL;
    }
    for (size_t k = 0; k < n; k++) {
        size_t pick = n;
        for (size_t i = 0; i < n && pick == n; i++) {
            if (done[i]) continue;
            bool ready = true;
            for (size_t u = 0; u < d->tasks[i].n_upstream && ready; u++) ready = done[d->tasks[i].upstream[u]];
            if (ready) pick = i;
        }
        for (size_t i = 0; i < n && pick == n; i++)
            if (!done[i]) pick = i; /* in a cycle: nothing is ready */
        done[pick] = true;
        order[k] = pick;
    }
    cn_free(done);
    return order;
}

static void print_tree(const CnSchedDag *d, size_t i, int depth) {
    printf("%*s%s (%s)\n", depth * 4, "", d->tasks[i].id, cn_sched_task_kind_name(d->tasks[i].kind));
    /* a path longer than the DAG has tasks goes round a cycle (an incomplete DAG) */
    if ((size_t)depth > d->n_tasks) {
        printf("%*s... (cycle)\n", (depth + 1) * 4, "");
        return;
    }
    for (size_t k = 0; k < d->n_tasks; k++)
        if (cn_sched_task_has_upstream(d, k, i)) print_tree(d, k, depth + 1);
}

static json_t *ids_json(const CnSchedDag *d, size_t i, bool up) {
    json_t *a = json_array();
    for (size_t k = 0; a && k < d->n_tasks; k++)
        if (up ? cn_sched_task_has_upstream(d, i, k) : cn_sched_task_has_upstream(d, k, i))
            json_array_append_new(a, json_string(d->tasks[k].id));
    return a;
}

static int list_json(const CnSchedModel *m, const CnSchedDag *d, const size_t *order) {
    CnArena a;
    cn_arena_init(&a, 0);
    json_t *tasks = json_array();
    for (size_t k = 0; tasks && k < d->n_tasks; k++) {
        const CnSchedTask *t = &d->tasks[order[k]];
        json_t *o = json_pack("{s:s, s:s, s:o, s:o}", "task_id", t->id, "kind", cn_sched_task_kind_name(t->kind),
                              "upstream", ids_json(d, order[k], true), "downstream", ids_json(d, order[k], false));
        if (!o) continue;
        const char *cmd = cn_sched_task_command(&a, m, t);
        if (cmd) json_object_set_new(o, "command", json_string(cmd));
        if (t->kind == CN_SCHED_TASK_RUN) {
            json_object_set_new(o, "mode", json_string(t->mode));
            json_object_set_new(o, "conf", json_string(t->conf_path));
            if (t->env_online) json_object_set_new(o, "env", json_pack("{s:s}", "CHRONON_ONLINE", t->env_online));
        } else if (t->kind == CN_SCHED_TASK_SENSOR) {
            json_object_set_new(o, "table", json_string(t->table));
            json_object_set_new(o, "spec", json_string(t->spec));
        } else {
            json_object_set_new(o, "external_dag_id", json_string(t->ext_dag));
            json_object_set_new(o, "external_task_id", json_string(t->ext_task));
        }
        json_array_append_new(tasks, o);
    }
    json_t *root = json_pack("{s:s, s:s, s:o}", "dag_id", d->id, "schedule", d->schedule, "tasks", tasks);
    int rc = root && json_dumpf(root, stdout, JSON_INDENT(2)) == 0 ? 0 : 1;
    if (!rc) printf("\n");
    else fprintf(stderr, "chronon tasks: out of memory writing JSON\n");
    json_decref(root);
    cn_arena_fini(&a);
    return rc;
}

static int show(const CnSchedModel *m, const CnSchedDag *d, const char *task_id) {
    long i = cn_sched_task_index(d, task_id);
    if (i < 0) {
        fprintf(stderr, "chronon tasks: DAG %s has no task '%s'; its tasks are:\n", d->id, task_id);
        for (size_t k = 0; k < d->n_tasks; k++) fprintf(stderr, "  %s\n", d->tasks[k].id);
        return 1;
    }
    const CnSchedTask *t = &d->tasks[i];
    CnArena a;
    cn_arena_init(&a, 0);
    printf("dag: %s\ntask: %s\nkind: %s\n", d->id, t->id, cn_sched_task_kind_name(t->kind));
    if (t->kind == CN_SCHED_TASK_EXTERNAL) {
        printf("waits for: task %s of DAG %s (same logical date)\n", t->ext_task, t->ext_dag);
    } else {
        const char *cmd = cn_sched_task_command(&a, m, t);
        if (t->kind == CN_SCHED_TASK_RUN) printf("conf: %s (%s)\nmode: %s\n", t->conf_path, t->conf_name, t->mode);
        else printf("partition: %s\n", t->spec);
        if (t->env_online) printf("env: CHRONON_ONLINE=%s\n", t->env_online);
        printf("command: %s\n", cmd ? cmd : "(out of memory)");
    }
    printf("upstream:");
    for (size_t k = 0; k < t->n_upstream; k++) printf(" %s", d->tasks[t->upstream[k]].id);
    printf("%s\ndownstream:", t->n_upstream ? "" : " -");
    bool any = false;
    for (size_t k = 0; k < d->n_tasks; k++)
        if (cn_sched_task_has_upstream(d, k, (size_t)i)) {
            printf(" %s", d->tasks[k].id);
            any = true;
        }
    printf("%s\n", any ? "" : " -");
    cn_arena_fini(&a);
    return 0;
}

int cn_cli_tasks(int argc, char **argv) {
    CnSchedCliCommon c;
    cn_cli_sched_common_init(&c);
    bool tree = false, json = false;
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0;
    if (argc >= 2 && (!strcmp(argv[1], "logs") || !strcmp(argv[1], "clear"))) return cn_cli_tasks_state_verbs(argc, argv);
    for (int i = 1; i < argc; i++)
        if (cn_cli_is_help(argv[i])) {
            fputs(k_usage, stdout);
            return 0;
        }
    if (argc < 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "show"))) {
        if (argc >= 2) fprintf(stderr, "chronon tasks: unknown subcommand '%s' (expected: list, show, logs, clear)\n", argv[1]);
        fputs(k_usage, stderr);
        return 2;
    }
    bool is_show = !strcmp(argv[1], "show");
    for (int i = 2; i < argc; i++) {
        int r = cn_cli_sched_common_flag("tasks", argc, argv, &i, &c);
        if (r == 2) return 2;
        if (r == 1) continue;
        if (!is_show && !strcmp(argv[i], "--tree")) tree = true;
        else if (!is_show && !strcmp(argv[i], "--json")) json = true;
        else if (argv[i][0] != '-' && n_pos < (is_show ? 2 : 1)) pos[n_pos++] = argv[i];
        else {
            fprintf(stderr, "chronon tasks: unknown argument '%s'\n%s", argv[i], k_usage);
            return 2;
        }
    }
    if (n_pos < (is_show ? 2 : 1)) {
        fprintf(stderr, "chronon tasks: %s needs %s\n%s", argv[1], is_show ? "a DAG id and a task id" : "a DAG id",
                k_usage);
        return 2;
    }
    CnSchedModel *m = NULL;
    if (cn_cli_sched_load("tasks", &c, &m)) return 1;
    int code = 0;
    const CnSchedDag *d = cn_sched_dag_find(m, pos[0]);
    size_t *order = NULL;
    if (!d) {
        code = cn_cli_sched_unknown_dag("tasks", m, pos[0]);
    } else if (is_show) {
        code = show(m, d, pos[1]);
    } else if (!(order = topo_order(d))) {
        fprintf(stderr, "chronon tasks: out of memory\n");
        code = 1;
    } else if (json) {
        code = list_json(m, d, order);
    } else if (tree) {
        for (size_t k = 0; k < d->n_tasks; k++)
            if (!d->tasks[order[k]].n_upstream) print_tree(d, order[k], 0);
    } else {
        for (size_t k = 0; k < d->n_tasks; k++) printf("%s\n", d->tasks[order[k]].id);
    }
    fflush(stdout);
    if (d && d->incomplete) {
        /* Only this DAG's problems matter here. */
        for (size_t k = 0; k < m->n_issues; k++)
            if (m->issues[k].dag_id && !strcmp(m->issues[k].dag_id, d->id))
                fprintf(stderr, "chronon tasks: %s\n", m->issues[k].msg);
        fprintf(stderr, "chronon tasks: DAG %s is incomplete: the configs above could not be scheduled\n", d->id);
        code = 1;
    }
    cn_free(order);
    cn_sched_model_free(m);
    return code;
}
