/* ui.h: the web UI (Airflow's role in the users' guide): server-rendered HTML pages on a
 * CnHttpServer, served by `chronon scheduler` (port 8085), `chronon ui` and `chronon serve`.
 * Pages: DAG list with last runs, a ds x task grid per DAG, task logs, pause / unpause /
 * trigger / clear buttons (form POSTs), the catalog's tables with partitions and
 * snapshots, and a feature lookup form whose JavaScript posts to the fetch API
 * (POST <fetch_base>/groupby|join/<name>, compute.md section 9). Everything is embedded:
 * no external scripts, styles or fonts. Every string from configs, the state DB, logs or
 * the catalog is HTML-escaped (and percent-encoded in links). docs/ui.md lists the pages.
 * Reads go through the state DB (sched.h) and the catalog (table.h), each opened per
 * request, so the UI never holds a lock or a connection between requests and shows what
 * other processes (the scheduler, `chronon dags ...`) wrote.
 * THREADS: handlers run on the server's worker threads at once; the UI shares only the
 *   immutable model and the (thread-safe) fetcher. */
#ifndef CN_SERVE_UI_H
#define CN_SERVE_UI_H

#include "base/err.h"
#include "engine/fetch.h"
#include "sched/sched.h"
#include "serve/http.h"

typedef struct CnUiOpts {
    const CnSchedModel *model; /* BORROWED for the UI's life; NULL: no DAG pages */
    const char *db_uri;        /* scheduler state DB ("sqlite:<path>", "postgresql://...") */
    const char *log_dir;       /* task logs: <log_dir>/<dag>/<task>/<ds>/<try>.log */
    const char *warehouse;     /* tables pages; NULL: none */
    const char *catalog;
    /* The lookup form posts to <fetch_base>/groupby|join/<name>; NULL: "/v1/features".
     * With a fetcher or an online_uri the UI serves that route itself (the scheduler,
     * `chronon ui`); without either the route is the server's (`chronon serve`). */
    const char *fetch_base;
    CnFetcher *fetcher;        /* BORROWED; or NULL and: */
    const char *online_uri;    /* a store the UI opens at the first lookup (again after a
                                * failure: the store may appear with the first upload) */
    const char *title;         /* shown in the header; NULL: "chronon" */
} CnUiOpts;

typedef struct CnUi CnUi;

/* Copies opts (strings too) and adds the UI's routes to s: GET /ui/... pages, POST
 * /ui/action, GET / (root_redirect: a prefix route taking every path no earlier route
 * took; / itself redirects to /ui/), and with a fetcher or online_uri POST <fetch_base>/. Add it before any catch-all route of the server.
 * OWNED: *out, cn_ui_free AFTER cn_http_server_free (handlers use it until then).
 * Errors: CN_ENOMEM, and those of cn_http_route. */
int cn_ui_mount(CnHttpServer *s, const CnUiOpts *opts, bool root_redirect, CnUi **out, CnErr *err);
void cn_ui_free(CnUi *ui); /* NULL-safe */

/* The handler behind every route (what cn_ui_mount registers), for callers that route
 * themselves. Unknown pages get 404, bad parameters 400, with an HTML page saying why. */
int cn_ui_handle(void *ui, const CnHttpReq *req, CnHttpResp *resp);

#endif /* CN_SERVE_UI_H */
