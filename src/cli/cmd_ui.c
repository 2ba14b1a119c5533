/* cmd_ui.c: `chronon ui`, the web UI without the scheduler daemon, and the glue that
 * mounts the UI (src/serve/ui.h) in `chronon scheduler` and `chronon serve`: where the
 * state DB, logs, tables and online store are, and the fetcher behind the lookup form. */
#include "base/compat.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "cli/sched_cli.h"
#include "cli/ui_cli.h"
#include "serve/ui.h"

struct CnCliUi {
    CnHttpServer *server; /* NULL when the caller owns the server */
    CnUi *ui;
    CnSchedModel *model;  /* owned (cn_cli_ui_mount_repo), else borrowed and NULL here */
};

void cn_cli_ui_free(CnCliUi *u) {
    if (!u) return;
    cn_http_server_free(u->server); /* first: handlers use the UI until the server stops */
    cn_ui_free(u->ui);
    cn_sched_model_free(u->model);
    cn_free(u);
}

int cn_cli_ui_mount(CnHttpServer *s, const CnSchedModel *m, bool with_fetch, bool root_redirect, CnCliUi **out,
                    CnErr *err) {
    *out = NULL;
    CnCliUi *u = cn_calloc(1, sizeof *u);
    CnCliWhere *w = cn_calloc(1, sizeof *w);
    char *db = cn_malloc(8192), *logs = cn_malloc(8192);
    int rc = 0;
    if (!u || !w || !db || !logs) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory starting the web UI");
        goto done;
    }
    cn_cli_sched_paths(m, w, db, 8192, logs, 8192);
    /* upload tasks write where the online_store setting says, else chronon's default; the
     * UI opens it at the first lookup (it may not exist before the first upload) */
    const char *online = m->settings.online_store ? m->settings.online_store : w->online;
    CnUiOpts o = {.model = m, .db_uri = db, .log_dir = logs, .warehouse = w->warehouse, .catalog = w->catalog,
                  .online_uri = with_fetch ? online : NULL};
    rc = cn_ui_mount(s, &o, root_redirect, &u->ui, err);
done:
    cn_free(w);
    cn_free(db);
    cn_free(logs);
    if (rc) {
        cn_cli_ui_free(u);
        return rc;
    }
    *out = u;
    return 0;
}

int cn_cli_ui_start(const char *verb, const CnSchedModel *m, const char *bind, int port, CnCliUi **out,
                    CnErr *err) {
    *out = NULL;
    CnHttpServer *s = NULL;
    CnCliUi *u = NULL;
    CnHttpOpts ho = {.bind = bind, .port = port, .threads = 2};
    int rc = cn_http_server_new(&ho, &s, err);
    if (!rc) rc = cn_cli_ui_mount(s, m, true, true, &u, err);
    if (!rc) rc = cn_http_server_start(s, err);
    if (rc) {
        cn_http_server_free(s);
        cn_cli_ui_free(u);
        return cn_err_ctx(err, rc, "web UI");
    }
    u->server = s;
    printf("%s: web UI at http://%s:%d/ui/\n", verb, bind && strcmp(bind, "0.0.0.0") ? bind : "127.0.0.1",
           cn_http_server_port(s));
    fflush(stdout);
    *out = u;
    return 0;
}

int cn_cli_ui_mount_repo(CnHttpServer *s, const char *repo, const char *warehouse, CnCliUi **out, CnErr *err) {
    *out = NULL;
    CnSchedModel *m = NULL;
    CnErr merr = CN_ERR_INIT;
    CnSchedOptions mo = {CN_SCHED_NAMING_GUIDE, NULL};
    if (cn_sched_model_build(repo ? repo : ".", &mo, &m, &merr) == 0) {
        int rc = cn_cli_ui_mount(s, m, false, false, out, err);
        if (rc) {
            cn_sched_model_free(m);
            return rc;
        }
        (*out)->model = m; /* the UI borrows it; freed with the UI */
        return 0;
    }
    /* no production/ (a serving-only host) or broken settings: tables and lookup only */
    if (merr.code != CN_ENOTFOUND) fprintf(stderr, "chronon serve: web UI without DAG pages: %s\n", cn_err_msg(&merr));
    CnCliWhere *w = cn_calloc(1, sizeof *w);
    CnCliUi *u = cn_calloc(1, sizeof *u);
    int rc = !w || !u ? cn_err_set(err, CN_ENOMEM, "out of memory starting the web UI") : 0;
    if (!rc) rc = cn_cli_where(repo, warehouse, NULL, NULL, NULL, w, err);
    if (!rc) {
        CnUiOpts o = {.warehouse = w->warehouse, .catalog = w->catalog};
        rc = cn_ui_mount(s, &o, false, &u->ui, err);
    }
    cn_free(w);
    if (rc) {
        cn_cli_ui_free(u);
        return rc;
    }
    *out = u;
    return 0;
}

/* ---------------------------------------------------------------- chronon ui */

static volatile sig_atomic_t g_ui_stop; /* the CLI's stop flag */

static void on_signal(int sig) {
    (void)sig;
    g_ui_stop = 1;
}

static const char k_usage[] =
    "usage: chronon ui [--port N] [--bind ADDR] [--repo DIR] [--settings FILE] [--naming N]\n"
    "\n"
    "Serves the web UI alone (without running DAGs): the DAGs of `chronon dags list` with\n"
    "their last runs, a ds x task grid per DAG, task logs, pause/unpause/trigger/clear\n"
    "buttons (they change the scheduler DB as `chronon dags`/`tasks` do), the warehouse's\n"
    "tables with partitions and snapshots, and a feature lookup form over the online store.\n"
    "`chronon scheduler` serves the same UI while it runs. Stops on SIGINT or SIGTERM.\n"
    "docs/ui.md describes the pages.\n"
    "\n"
    "options:\n"
    "  --port N           port (default 8085; 0 picks a free one, printed on start)\n"
    "  --bind ADDR        address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)\n"
    "  --repo DIR         chronon root (default: $CHRONON_REPO_PATH, else the current directory)\n"
    "  --settings FILE    scheduler settings (default: <repo>/scheduler.json when present)\n"
    "  --naming N         guide (default) or chronon, as for `chronon dags list`\n"
    "  -h, --help         show this help\n"
    "\n"
    "exit codes: 0 stopped by a signal, 1 the configs, the online store or the port could\n"
    "not be used, 2 usage error\n";

/* A port number 0..65535, or -1. */
static int parse_port(const char *v) {
    char *end;
    long p = v && *v ? strtol(v, &end, 10) : -1;
    return v && *v && !*end && p >= 0 && p <= 65535 ? (int)p : -1;
}

int cn_cli_ui(int argc, char **argv) {
    CnSchedCliCommon c;
    cn_cli_sched_common_init(&c);
    int port = CN_CLI_UI_PORT;
    const char *bind = "127.0.0.1";
    for (int i = 1; i < argc; i++)
        if (cn_cli_is_help(argv[i])) {
            fputs(k_usage, stdout);
            return 0;
        }
    for (int i = 1; i < argc; i++) {
        int r = cn_cli_sched_common_flag("ui", argc, argv, &i, &c);
        const char *v;
        if (r == 2) return 2;
        if (r == 1) continue;
        int port_opt = cn_cli_opt("ui", argc, argv, &i, "--port", &v);
        int bind_opt = port_opt ? 0 : cn_cli_opt("ui", argc, argv, &i, "--bind", &v);
        if (port_opt < 0 || bind_opt < 0) return 2;
        if (port_opt) {
            if ((port = parse_port(v)) < 0) {
                fprintf(stderr, "chronon ui: --port: '%s' is not a port number (0-65535)\n", v);
                return 2;
            }
        } else if (bind_opt) {
            bind = v;
        } else {
            fprintf(stderr, "chronon ui: unknown argument '%s'\n%s", argv[i], k_usage);
            return 2;
        }
    }
    CnSchedModel *m = NULL;
    if (cn_cli_sched_load("ui", &c, &m)) return 1;
    cn_cli_sched_report("ui", m); /* broken configs show on the DAG list too */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    CnErr err = CN_ERR_INIT;
    CnCliUi *u = NULL;
    int code = 0;
    if (cn_cli_ui_start("ui", m, bind, port, &u, &err)) {
        code = cn_cli_fail("ui", &err);
    } else {
        while (!g_ui_stop) sleep(1); /* a signal cuts the sleep short */
        printf("ui: stopping on a signal\n");
    }
    cn_cli_ui_free(u);
    cn_sched_model_free(m);
    return code;
}
