/* ui.c: the web UI's pages (ui.h). Each page is rendered into the response body in one
 * pass: open the state DB or catalog for this request, read, write HTML, close.
 * Escaping rule: every dynamic string goes through html() (text and attribute values);
 * link parameters go through url() first, whose output has nothing HTML-special. The
 * lookup page's script builds the result table with textContent only, never innerHTML.
 * Actions are POSTed forms answered with 303 to the page they came from (post/redirect/
 * get), so reloading a page never repeats an action. docs/ui.md describes the pages. */
#include "base/compat.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/date.h"
#include "base/str.h"
#include "serve/ui.h"
#include "table/table.h"

/* Runs shown in a DAG's grid, most recent last. */
#define UI_GRID_RUNS 14
/* Bytes of a log shown: its tail (a log can be large; the CLI prints it whole). */
#define UI_LOG_TAIL (512 * 1024)

struct CnUi {
    CnArena arena; /* owns the copied option strings */
    CnUiOpts o;
    pthread_mutex_t mu; /* guards own_fetcher while it is opened */
    CnFetcher *own_fetcher; /* opened on o.online_uri at the first lookup */
    char fetch_prefix[256]; /* fetch_base + "/" */
    /* Random per process, in every form: a page of another site can make the browser
     * POST to /ui/action but cannot read our pages, so it cannot know the token. */
    char token[33];
};

/* ---------------------------------------------------------------- escaping */

static void html(CnBuf *b, const char *s) { cn_http_html_escape(b, s); }

/* Percent-encodes everything but RFC 3986's unreserved characters. */
static void url(CnBuf *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            cn_buf_putc(b, (char)c);
        } else {
            cn_buf_putc(b, '%');
            cn_buf_putc(b, hex[c >> 4]);
            cn_buf_putc(b, hex[c & 15]);
        }
    }
}

static void fmt_time(int64_t ms, char out[24]) {
    if (ms <= 0) {
        snprintf(out, 24, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 24, "%Y-%m-%d %H:%M:%S", &tm);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- page frame */

static const char k_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}"
    "header{background:#017cee;color:#fff;padding:8px 16px;display:flex;gap:18px;align-items:center}"
    "header a{color:#fff;text-decoration:none;font-weight:600}header .t{font-size:17px;margin-right:12px}"
    "main{padding:12px 16px}h1{font-size:20px;margin:6px 0 12px}h2{font-size:16px;margin:18px 0 8px}"
    "table{border-collapse:collapse;background:#fff;margin-bottom:10px}"
    "th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "a{color:#0555b5}form.i{display:inline;margin:0 2px}button{cursor:pointer}"
    ".st{padding:1px 6px;border-radius:3px;font-size:12px;white-space:nowrap}"
    ".st-success{background:#c8f0c8}.st-failed,.st-upstream_failed{background:#f8c0c0}"
    ".st-running,.st-queued{background:#cde4ff}.st-up_for_retry{background:#ffe3a0}"
    ".st-scheduled{background:#e4e4ff}.st-skipped{background:#eee}.st-none{background:#f6f6f6;color:#888}"
    "td.g{padding:0}td.g a{display:block;padding:3px 6px;text-decoration:none;color:#222}"
    "pre{background:#111;color:#ddd;padding:10px;overflow:auto;max-height:70vh;font-size:12px}"
    ".msg{background:#fff6d0;border:1px solid #e8d080;padding:6px 10px;margin-bottom:10px}"
    ".err{background:#fde0e0;border:1px solid #e0a0a0;padding:6px 10px;margin-bottom:10px;white-space:pre-wrap}"
    "textarea{width:100%;max-width:640px;font-family:monospace}td code{white-space:pre-wrap;word-break:break-all}pre{white-space:pre-wrap;word-break:break-all}.muted{color:#777}";

static void page_begin(const CnUi *ui, CnBuf *b, const char *title, const CnHttpReq *req) {
    cn_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    html(b, title);
    cn_buf_puts(b, " - ");
    html(b, ui->o.title);
    cn_buf_printf(b, "</title><style>%s</style></head><body><header><span class=\"t\">", k_css);
    html(b, ui->o.title);
    cn_buf_puts(b, "</span>");
    if (ui->o.model) cn_buf_puts(b, "<a href=\"/ui/\">DAGs</a>");
    if (ui->o.warehouse) cn_buf_puts(b, "<a href=\"/ui/tables\">Tables</a>");
    cn_buf_puts(b, "<a href=\"/ui/lookup\">Feature lookup</a></header><main>");
    /* the result of an action, carried through its redirect */
    const char *msg = req ? cn_http_param(req, "msg", 0) : NULL;
    const char *emsg = req ? cn_http_param(req, "error", 0) : NULL;
    if (msg && *msg) {
        cn_buf_puts(b, "<div class=\"msg\" id=\"msg\">");
        html(b, msg);
        cn_buf_puts(b, "</div>");
    }
    if (emsg && *emsg) {
        cn_buf_puts(b, "<div class=\"err\" id=\"error\">");
        html(b, emsg);
        cn_buf_puts(b, "</div>");
    }
}

static void page_end(CnBuf *b) { cn_buf_puts(b, "</main></body></html>\n"); }

static void set_html(CnHttpResp *resp, int status) {
    resp->status = status;
    resp->content_type = "text/html; charset=utf-8";
}

/* A whole page saying what went wrong; returns 0 (the response is complete). */
static int error_page(const CnUi *ui, CnHttpResp *resp, int status, const char *what, const char *detail) {
    set_html(resp, status);
    cn_buf_reset(&resp->body);
    page_begin(ui, &resp->body, what, NULL);
    cn_buf_printf(&resp->body, "<h1>%d ", status);
    html(&resp->body, what);
    cn_buf_puts(&resp->body, "</h1><div class=\"err\" id=\"error\">");
    html(&resp->body, detail);
    cn_buf_puts(&resp->body, "</div>");
    page_end(&resp->body);
    return resp->body.oom ? CN_ENOMEM : 0;
}

static void state_badge(CnBuf *b, const char *state) {
    cn_buf_puts(b, "<span class=\"st st-");
    html(b, state);
    cn_buf_puts(b, "\">");
    html(b, state);
    cn_buf_puts(b, "</span>");
}

static void dag_href(CnBuf *b, const char *dag) {
    cn_buf_puts(b, "/ui/dag?id=");
    url(b, dag);
}

/* A POST button to /ui/action; task and ds may be NULL. */
static void action_form(const CnUi *ui, CnBuf *b, const char *op, const char *label, const char *dag,
                        const char *task, const char *ds, const char *back) {
    cn_buf_puts(b, "<form class=\"i\" method=\"post\" action=\"/ui/action\">");
    cn_buf_printf(b, "<input type=\"hidden\" name=\"token\" value=\"%s\">", ui->token);
    cn_buf_printf(b, "<input type=\"hidden\" name=\"op\" value=\"%s\">", op);
    cn_buf_puts(b, "<input type=\"hidden\" name=\"dag\" value=\"");
    html(b, dag);
    cn_buf_puts(b, "\">");
    if (task) {
        cn_buf_puts(b, "<input type=\"hidden\" name=\"task\" value=\"");
        html(b, task);
        cn_buf_puts(b, "\">");
    }
    if (ds && strcmp(op, "trigger")) {
        cn_buf_puts(b, "<input type=\"hidden\" name=\"ds\" value=\"");
        html(b, ds);
        cn_buf_puts(b, "\">");
    }
    if (!strcmp(op, "trigger")) {
        cn_buf_puts(b, "<input name=\"ds\" size=\"10\" placeholder=\"YYYY-MM-DD\" title=\"ds (default today, UTC)\" value=\"");
        html(b, ds);
        cn_buf_puts(b, "\"> ");
    }
    if (!strcmp(op, "clear")) cn_buf_puts(b, "<label><input type=\"checkbox\" name=\"downstream\" value=\"1\">downstream</label> ");
    cn_buf_printf(b, "<input type=\"hidden\" name=\"back\" value=\"%s\">", back);
    cn_buf_printf(b, "<button type=\"submit\" name=\"do\" value=\"%s\">%s</button></form>", op, label);
}

/* ---------------------------------------------------------------- state DB */

/* Opens the state DB for this request. Without create, a SQLite file that does not exist
 * yet gives *db = NULL and 0 (no scheduler has run). */
static int open_db(const CnUi *ui, bool create, CnSchedDb **db, CnErr *err) {
    *db = NULL;
    if (!ui->o.db_uri) return create ? cn_err_set(err, CN_EINVAL, "this server has no scheduler state DB") : 0;
    int rc = cn_sched_db_open(ui->o.db_uri, create, db, err);
    if (rc == CN_ENOTFOUND && !create) {
        cn_err_clear(err);
        *db = NULL;
        return 0;
    }
    return rc;
}

/* ---------------------------------------------------------------- DAG list */

static int page_dags(const CnUi *ui, const CnHttpReq *req, CnHttpResp *resp) {
    const CnSchedModel *m = ui->o.model;
    CnBuf *b = &resp->body;
    CnErr err = CN_ERR_INIT;
    CnSchedDb *db = NULL;
    CnSchedTi *tis = NULL;
    int rc = open_db(ui, false, &db, &err);
    if (rc) return error_page(ui, resp, 500, "state DB", cn_err_msg(&err));
    set_html(resp, 200);
    page_begin(ui, b, "DAGs", req);
    cn_buf_printf(b, "<h1>DAGs</h1><p class=\"muted\">%zu DAG(s) from ", m->n_dags);
    html(b, m->repo);
    cn_buf_puts(b, "/production; state ");
    html(b, db ? cn_sched_db_uri(db) : "(no scheduler has run yet)");
    cn_buf_puts(b, "</p>\n<table id=\"dags\"><tr><th>DAG</th><th>kind</th><th>schedule</th><th>tasks</th>"
                   "<th>paused</th><th>last run</th><th>tasks of the last run</th><th>actions</th></tr>\n");
    for (size_t i = 0; i < m->n_dags && !rc; i++) {
        const CnSchedDag *d = &m->dags[i];
        bool paused = false, has_run = false;
        CnSchedRun last;
        memset(&last, 0, sizeof last);
        if (db) {
            rc = cn_sched_db_is_paused(db, d->id, &paused, &err);
            if (!rc) {
                rc = cn_sched_db_run_last(db, d->id, &last, &err);
                has_run = rc == 0;
                if (rc == CN_ENOTFOUND) rc = 0, cn_err_clear(&err);
            }
        }
        if (rc) break;
        cn_buf_puts(b, "<tr class=\"dag\" data-dag=\"");
        html(b, d->id);
        cn_buf_puts(b, "\"><td><a href=\"");
        dag_href(b, d->id);
        cn_buf_puts(b, "\">");
        html(b, d->id);
        cn_buf_puts(b, "</a>");
        if (d->incomplete) cn_buf_puts(b, " <span class=\"st st-failed\">incomplete</span>");
        cn_buf_printf(b, "</td><td>%s</td><td>", cn_sched_dag_kind_name(d->kind));
        html(b, d->schedule);
        cn_buf_printf(b, "</td><td class=\"n\">%zu</td><td class=\"paused\">%s</td><td>", d->n_tasks,
                      paused ? "yes" : "no");
        if (has_run) {
            cn_buf_puts(b, "<a href=\"");
            dag_href(b, d->id);
            cn_buf_puts(b, "\">");
            html(b, last.ds);
            cn_buf_puts(b, "</a> ");
            state_badge(b, cn_sched_run_state_name(last.state));
        } else {
            cn_buf_puts(b, "-");
        }
        cn_buf_puts(b, "</td><td>");
        if (has_run) {
            size_t n = 0, count[CN_SCHED_TI_SKIPPED + 1] = {0};
            rc = cn_sched_db_ti_list(db, d->id, last.ds, false, &tis, &n, &err);
            for (size_t k = 0; k < n; k++)
                if ((unsigned)tis[k].state <= CN_SCHED_TI_SKIPPED) count[tis[k].state]++;
            for (int s = 0; s <= CN_SCHED_TI_SKIPPED; s++) {
                if (!count[s]) continue;
                char t[64];
                snprintf(t, sizeof t, "%zu %s", count[s], cn_sched_ti_state_name((CnSchedTiState)s));
                cn_buf_puts(b, "<span class=\"st st-");
                cn_buf_puts(b, cn_sched_ti_state_name((CnSchedTiState)s));
                cn_buf_printf(b, "\">%s</span> ", t);
            }
            cn_free(tis);
            tis = NULL;
        }
        cn_buf_puts(b, "</td><td>");
        action_form(ui, b, paused ? "unpause" : "pause", paused ? "Unpause" : "Pause", d->id, NULL, NULL, "list");
        action_form(ui, b, "trigger", "Trigger", d->id, NULL, NULL, "list");
        cn_buf_puts(b, "</td></tr>\n");
    }
    cn_buf_puts(b, "</table>\n");
    if (m->n_issues) {
        cn_buf_puts(b, "<h2>Configs that could not be scheduled</h2><ul id=\"issues\">");
        for (size_t i = 0; i < m->n_issues; i++) {
            cn_buf_puts(b, "<li>");
            html(b, m->issues[i].msg);
            cn_buf_puts(b, "</li>");
        }
        cn_buf_puts(b, "</ul>");
    }
    page_end(b);
    cn_sched_db_close(db);
    if (rc) return error_page(ui, resp, 500, "state DB", cn_err_msg(&err));
    return b->oom ? CN_ENOMEM : 0;
}

/* ---------------------------------------------------------------- DAG grid */

static const CnSchedDag *find_dag(const CnUi *ui, const CnHttpReq *req, const char *param, CnHttpResp *resp,
                                  bool from_body) {
    const char *id = cn_http_param(req, param, from_body);
    const CnSchedDag *d = id && *id ? cn_sched_dag_find(ui->o.model, id) : NULL;
    if (!d) {
        char msg[512];
        snprintf(msg, sizeof msg, "no DAG '%s' in %s/production (the DAG list has every DAG)", id ? id : "",
                 ui->o.model->repo);
        error_page(ui, resp, id && *id ? 404 : 400, "unknown DAG", msg);
    }
    return d;
}

static int page_dag(const CnUi *ui, const CnHttpReq *req, CnHttpResp *resp) {
    const CnSchedDag *d = find_dag(ui, req, "id", resp, false);
    if (!d) return 0;
    CnBuf *b = &resp->body;
    CnErr err = CN_ERR_INIT;
    CnSchedDb *db = NULL;
    CnSchedRun *runs = NULL;
    CnSchedTi *tis = NULL;
    size_t n_runs = 0;
    bool paused = false;
    int rc = open_db(ui, false, &db, &err);
    if (!rc && db) rc = cn_sched_db_run_list(db, d->id, NULL, &runs, &n_runs, &err);
    if (!rc && db) rc = cn_sched_db_is_paused(db, d->id, &paused, &err);
    if (rc) goto done;
    set_html(resp, 200);
    page_begin(ui, b, d->id, req);
    cn_buf_puts(b, "<h1>");
    html(b, d->id);
    cn_buf_printf(b, "</h1><p>%s DAG of team ", cn_sched_dag_kind_name(d->kind));
    html(b, d->team);
    cn_buf_puts(b, ", schedule ");
    html(b, d->schedule);
    cn_buf_printf(b, ", %zu task(s), paused: <b id=\"paused\">%s</b> ", d->n_tasks, paused ? "yes" : "no");
    action_form(ui, b, paused ? "unpause" : "pause", paused ? "Unpause" : "Pause", d->id, NULL, NULL, "dag");
    action_form(ui, b, "trigger", "Trigger", d->id, NULL, NULL, "dag");
    cn_buf_puts(b, "</p>\n");
    size_t first = n_runs > UI_GRID_RUNS ? n_runs - UI_GRID_RUNS : 0;
    if (!n_runs) {
        cn_buf_puts(b, "<p id=\"noruns\">No runs yet: the scheduler creates one per scheduled day, or use Trigger.</p>");
    }
    if (n_runs > UI_GRID_RUNS)
        cn_buf_printf(b, "<p class=\"muted\">The last %d of %zu runs.</p>", UI_GRID_RUNS, n_runs);
    /* rows: tasks in model order; columns: the runs' days, oldest first */
    size_t n_cols = n_runs - first;
    CnSchedTi **cells = n_cols ? cn_calloc(n_cols * (d->n_tasks ? d->n_tasks : 1), sizeof *cells) : NULL;
    CnSchedTi **per_run = n_cols ? cn_calloc(n_cols, sizeof *per_run) : NULL;
    if (n_cols && (!cells || !per_run)) {
        cn_free(cells);
        cn_free(per_run);
        rc = cn_err_set(&err, CN_ENOMEM, "out of memory rendering the grid of %s", d->id);
        goto done;
    }
    for (size_t c = 0; c < n_cols && !rc; c++) {
        size_t n = 0;
        rc = cn_sched_db_ti_list(db, d->id, runs[first + c].ds, false, &per_run[c], &n, &err);
        for (size_t k = 0; k < n; k++) {
            long t = cn_sched_task_index(d, per_run[c][k].task_id);
            if (t >= 0) cells[(size_t)t * n_cols + c] = &per_run[c][k];
        }
    }
    if (!rc && n_cols) {
        cn_buf_puts(b, "<table id=\"grid\"><tr><th>task \\ ds</th>");
        for (size_t c = 0; c < n_cols; c++) {
            const CnSchedRun *r = &runs[first + c];
            cn_buf_puts(b, "<th class=\"run\" data-ds=\"");
            html(b, r->ds);
            cn_buf_puts(b, "\">");
            html(b, r->ds);
            cn_buf_puts(b, "<br>");
            state_badge(b, cn_sched_run_state_name(r->state));
            cn_buf_puts(b, " <span class=\"muted\">");
            html(b, r->run_type);
            cn_buf_puts(b, "</span></th>");
        }
        cn_buf_puts(b, "</tr>\n");
        for (size_t t = 0; t < d->n_tasks; t++) {
            const CnSchedTask *task = &d->tasks[t];
            cn_buf_puts(b, "<tr><th class=\"task\">");
            html(b, task->id);
            cn_buf_printf(b, " <span class=\"muted\">%s</span></th>", cn_sched_task_kind_name(task->kind));
            for (size_t c = 0; c < n_cols; c++) {
                const CnSchedTi *ti = cells[t * n_cols + c];
                const char *st = cn_sched_ti_state_name(ti ? ti->state : CN_SCHED_TI_NONE);
                cn_buf_printf(b, "<td class=\"g st-%s\" data-task=\"", st);
                html(b, task->id);
                cn_buf_puts(b, "\" data-ds=\"");
                html(b, runs[first + c].ds);
                cn_buf_puts(b, "\"><a href=\"/ui/log?dag=");
                url(b, d->id);
                cn_buf_puts(b, "&amp;task=");
                url(b, task->id);
                cn_buf_puts(b, "&amp;ds=");
                url(b, runs[first + c].ds);
                cn_buf_puts(b, "\" title=\"");
                if (ti && *ti->reason) html(b, ti->reason);
                cn_buf_printf(b, "\">%s", st);
                if (ti && ti->try_number > 1) cn_buf_printf(b, " (try %d)", ti->try_number);
                cn_buf_puts(b, "</a></td>");
            }
            cn_buf_puts(b, "</tr>\n");
        }
        cn_buf_puts(b, "</table>\n");
    }
    for (size_t c = 0; c < n_cols; c++) cn_free(per_run[c]);
    cn_free(per_run);
    cn_free(cells);
    if (rc) goto done;
    /* the graph, as `chronon tasks list` prints it: each task with what it waits for */
    cn_buf_puts(b, "<h2>Tasks</h2><table id=\"tasks\"><tr><th>task</th><th>kind</th><th>waits for</th><th>runs</th></tr>");
    CnArena a;
    cn_arena_init(&a, 0);
    for (size_t t = 0; t < d->n_tasks; t++) {
        const CnSchedTask *task = &d->tasks[t];
        cn_buf_puts(b, "<tr><td>");
        html(b, task->id);
        cn_buf_printf(b, "</td><td>%s</td><td>", cn_sched_task_kind_name(task->kind));
        for (size_t u = 0; u < task->n_upstream; u++) {
            if (u) cn_buf_puts(b, ", ");
            html(b, d->tasks[task->upstream[u]].id);
        }
        cn_buf_puts(b, "</td><td><code>");
        if (task->kind == CN_SCHED_TASK_EXTERNAL) {
            cn_buf_puts(b, "task ");
            html(b, task->ext_task);
            cn_buf_puts(b, " of DAG ");
            html(b, task->ext_dag);
        } else {
            html(b, cn_sched_task_command(&a, ui->o.model, task));
        }
        cn_buf_puts(b, "</code></td></tr>");
    }
    cn_arena_fini(&a);
    cn_buf_puts(b, "</table>");
    page_end(b);
done:
    cn_free(runs);
    cn_free(tis);
    cn_sched_db_close(db);
    if (rc) return error_page(ui, resp, 500, "state DB", cn_err_msg(&err));
    return b->oom ? CN_ENOMEM : 0;
}

/* ---------------------------------------------------------------- task log */

/* Appends the escaped tail of the log file at path; false when it cannot be read. */
static bool log_tail(CnBuf *b, const char *path, char *why, size_t why_len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        return false;
    }
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    long from = size > UI_LOG_TAIL ? size - UI_LOG_TAIL : 0;
    if (size < 0 || fseek(f, from, SEEK_SET)) {
        snprintf(why, why_len, "%s: cannot seek: %s", path, strerror(errno));
        fclose(f);
        return false;
    }
    if (from) cn_buf_printf(b, "[... the first %ld bytes are left out; chronon tasks logs prints all ...]\n", from);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk - 1, f)) > 0) {
        chunk[n] = 0;
        /* NUL bytes in a log would end html() early; show them as spaces */
        for (size_t k = 0; k < n; k++)
            if (!chunk[k]) chunk[k] = ' ';
        html(b, chunk);
    }
    fclose(f);
    return true;
}

static int page_log(const CnUi *ui, const CnHttpReq *req, CnHttpResp *resp) {
    const CnSchedDag *d = find_dag(ui, req, "dag", resp, false);
    if (!d) return 0;
    const char *task = cn_http_param(req, "task", 0);
    const char *ds = cn_http_param(req, "ds", 0);
    const char *try_s = cn_http_param(req, "try", 0);
    char msg[768];
    int64_t day;
    if (!task || !cn_sched_task_find(d, task)) {
        snprintf(msg, sizeof msg, "DAG %s has no task '%s'", d->id, task ? task : "");
        return error_page(ui, resp, 404, "unknown task", msg);
    }
    if (!ds || cn_ds_parse(ds, &day)) {
        snprintf(msg, sizeof msg, "ds: '%s' is not a date YYYY-MM-DD", ds ? ds : "");
        return error_page(ui, resp, 400, "bad ds", msg);
    }
    long try_no = 0;
    if (try_s && *try_s) {
        char *end;
        try_no = strtol(try_s, &end, 10);
        if (*end || try_no < 1 || try_no > 100000) {
            snprintf(msg, sizeof msg, "try: '%s' is not a try number (1, 2, ...)", try_s);
            return error_page(ui, resp, 400, "bad try", msg);
        }
    }
    CnBuf *b = &resp->body;
    CnErr err = CN_ERR_INIT;
    CnSchedDb *db = NULL;
    CnSchedTi ti;
    memset(&ti, 0, sizeof ti);
    int rc = open_db(ui, false, &db, &err);
    if (!rc && db) {
        rc = cn_sched_db_ti_get(db, d->id, task, ds, &ti, &err);
        if (rc == CN_ENOTFOUND) rc = 0, cn_err_clear(&err);
    }
    cn_sched_db_close(db);
    if (rc) return error_page(ui, resp, 500, "state DB", cn_err_msg(&err));
    set_html(resp, 200);
    char title[600];
    snprintf(title, sizeof title, "%s %s %s", d->id, task, ds);
    page_begin(ui, b, title, req);
    cn_buf_puts(b, "<h1><a href=\"");
    dag_href(b, d->id);
    cn_buf_puts(b, "\">");
    html(b, d->id);
    cn_buf_puts(b, "</a> / ");
    html(b, task);
    cn_buf_puts(b, " / ");
    html(b, ds);
    cn_buf_puts(b, "</h1>\n<table id=\"ti\"><tr><th>state</th><td>");
    state_badge(b, cn_sched_ti_state_name(ti.state));
    char t0[24], t1[24];
    fmt_time(ti.start_ms, t0);
    fmt_time(ti.end_ms, t1);
    cn_buf_printf(b, "</td></tr><tr><th>try</th><td>%d</td></tr><tr><th>start (UTC)</th><td>%s</td></tr>"
                     "<tr><th>end (UTC)</th><td>%s</td></tr>", ti.try_number, t0, t1);
    if (ti.pid) {
        cn_buf_printf(b, "<tr><th>process</th><td>pid %lld on ", (long long)ti.pid);
        html(b, ti.host);
        cn_buf_puts(b, "</td></tr>");
    }
    if (*ti.reason) {
        cn_buf_puts(b, "<tr><th>reason</th><td id=\"reason\">");
        html(b, ti.reason);
        cn_buf_puts(b, "</td></tr>");
    }
    cn_buf_puts(b, "</table><p>");
    action_form(ui, b, "clear", "Clear (run again)", d->id, task, ds, "log");
    cn_buf_puts(b, "</p>\n");
    if (!try_no) try_no = ti.try_number;
    if (ti.try_number > 1) {
        cn_buf_puts(b, "<p>tries: ");
        for (int k = 1; k <= ti.try_number; k++) {
            cn_buf_puts(b, " <a href=\"/ui/log?dag=");
            url(b, d->id);
            cn_buf_puts(b, "&amp;task=");
            url(b, task);
            cn_buf_puts(b, "&amp;ds=");
            url(b, ds);
            cn_buf_printf(b, "&amp;try=%d\">%s%d%s</a>", k, k == try_no ? "<b>" : "", k, k == try_no ? "</b>" : "");
        }
        cn_buf_puts(b, "</p>");
    }
    if (!try_no) {
        cn_buf_puts(b, "<p id=\"nolog\">This task instance has not run yet.</p>");
    } else {
        char path[8192], why[8400];
        snprintf(path, sizeof path, "%s/%s/%s/%s/%ld.log", ui->o.log_dir ? ui->o.log_dir : ".", d->id, task, ds,
                 try_no);
        cn_buf_printf(b, "<h2>Log of try %ld</h2><p class=\"muted\">", try_no);
        html(b, path);
        cn_buf_puts(b, "</p><pre id=\"log\">");
        size_t mark = b->len;
        if (!log_tail(b, path, why, sizeof why)) {
            b->len = mark;
            cn_buf_puts(b, "</pre><div class=\"err\" id=\"nolog\">no log: ");
            html(b, why);
            cn_buf_puts(b, "</div>");
        } else {
            cn_buf_puts(b, "</pre>");
        }
    }
    page_end(b);
    return b->oom ? CN_ENOMEM : 0;
}

/* ---------------------------------------------------------------- actions */

static int redirect(CnHttpResp *resp, const char *back, const char *dag, const char *task, const char *ds,
                    const char *key, const char *msg) {
    CnBuf u = CN_BUF_INIT;
    if (back && !strcmp(back, "list")) {
        cn_buf_puts(&u, "/ui/?");
    } else if (back && !strcmp(back, "log") && task && ds) {
        cn_buf_puts(&u, "/ui/log?dag=");
        url(&u, dag);
        cn_buf_puts(&u, "&task=");
        url(&u, task);
        cn_buf_puts(&u, "&ds=");
        url(&u, ds);
        cn_buf_puts(&u, "&");
    } else {
        dag_href(&u, dag);
        cn_buf_puts(&u, "&");
    }
    cn_buf_printf(&u, "%s=", key);
    url(&u, msg);
    int rc = u.oom ? CN_ENOMEM : 0;
    if (!rc && u.len < sizeof resp->location) {
        resp->status = 303;
        memcpy(resp->location, u.data, u.len + 1);
        resp->content_type = "text/plain; charset=utf-8";
        cn_buf_puts(&resp->body, "see other\n");
    } else if (!rc) {
        /* a message too long for the Location header: send it without the message */
        resp->status = 303;
        snprintf(resp->location, sizeof resp->location, "/ui/");
    }
    cn_buf_fini(&u);
    return rc;
}

static int action(const CnUi *ui, const CnHttpReq *req, CnHttpResp *resp) {
    const char *op = cn_http_param(req, "op", 1);
    const char *back = cn_http_param(req, "back", 1);
    const char *token = cn_http_param(req, "token", 1);
    if (!token || strcmp(token, ui->token))
        return error_page(ui, resp, 403, "forbidden",
                          "the form's token does not match this server's: reload the page and try again");
    if (!op || (strcmp(op, "pause") && strcmp(op, "unpause") && strcmp(op, "trigger") && strcmp(op, "clear")))
        return error_page(ui, resp, 400, "unknown action",
                          "op: expected pause, unpause, trigger or clear");
    const CnSchedDag *d = find_dag(ui, req, "dag", resp, true);
    if (!d) return 0;
    const char *task = cn_http_param(req, "task", 1);
    const char *ds = cn_http_param(req, "ds", 1);
    char msg[1400], today[11];
    int64_t day;
    if (!strcmp(op, "trigger") && (!ds || !*ds)) {
        cn_ms_to_ds(now_ms(), today);
        ds = today;
    }
    if ((!strcmp(op, "trigger") || !strcmp(op, "clear")) && (!ds || cn_ds_parse(ds, &day))) {
        snprintf(msg, sizeof msg, "ds: '%s' is not a date YYYY-MM-DD", ds ? ds : "");
        return error_page(ui, resp, 400, "bad ds", msg);
    }
    if (!strcmp(op, "clear") && (!task || !cn_sched_task_find(d, task))) {
        snprintf(msg, sizeof msg, "DAG %s has no task '%s'", d->id, task ? task : "");
        return error_page(ui, resp, 404, "unknown task", msg);
    }
    CnErr err = CN_ERR_INIT;
    CnSchedDb *db = NULL;
    int rc = open_db(ui, true, &db, &err);
    const char *key = "msg";
    if (!rc && (!strcmp(op, "pause") || !strcmp(op, "unpause"))) {
        bool pause = !strcmp(op, "pause");
        rc = cn_sched_db_pause(db, d->id, pause, now_ms(), &err);
        snprintf(msg, sizeof msg, "%s %s", d->id, pause ? "paused" : "unpaused");
    } else if (!rc && !strcmp(op, "trigger")) {
        bool ins = false;
        rc = cn_sched_db_run_insert(db, d->id, ds, "manual", now_ms(), &ins, &err);
        if (ins) snprintf(msg, sizeof msg, "created a manual run of %s for %s; the scheduler runs it", d->id, ds);
        else snprintf(msg, sizeof msg, "%s already has a run for %s (clear its tasks to run them again)", d->id, ds), key = "error";
    } else if (!rc) {
        size_t n = 0;
        const char *down = cn_http_param(req, "downstream", 1);
        rc = cn_sched_clear(db, d, task, ds, down && *down, &n, &err);
        if (!rc) snprintf(msg, sizeof msg, "cleared %zu task instance(s) of %s for %s; the scheduler runs them again", n, d->id, ds);
    }
    cn_sched_db_close(db);
    if (rc) {
        /* a refusal (a running task cannot be cleared, ...) goes back to the page */
        snprintf(msg, sizeof msg, "%s failed: %s", op, cn_err_msg(&err));
        key = "error";
    }
    return redirect(resp, back, d->id, task, ds, key, msg);
}

/* ---------------------------------------------------------------- tables */

typedef struct TableNames {
    char (*names)[260];
    size_t n, cap;
} TableNames;

static int collect_name(void *ud, const char *ns, const char *name) {
    TableNames *t = ud;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        void *p = cn_realloc(t->names, cap * sizeof *t->names);
        if (!p) return CN_ENOMEM;
        t->names = p;
        t->cap = cap;
    }
    snprintf(t->names[t->n++], sizeof t->names[0], "%s.%s", ns, name);
    return 0;
}

static void table_href(CnBuf *b, const char *full) {
    cn_buf_puts(b, "/ui/table?name=");
    url(b, full);
}

static int page_tables(const CnUi *ui, const CnHttpReq *req, CnHttpResp *resp) {
    CnBuf *b = &resp->body;
    CnErr err = CN_ERR_INIT;
    CnIceCatalog *cat = NULL;
    TableNames tn = {NULL, 0, 0};
    int rc = cn_ice_catalog_open(ui->o.warehouse, ui->o.catalog, &cat, &err);
    if (!rc) rc = cn_ice_catalog_list(cat, NULL, collect_name, &tn, &err);
    if (rc) goto done;
    set_html(resp, 200);
    page_begin(ui, b, "Tables", req);
    cn_buf_printf(b, "<h1>Tables</h1><p class=\"muted\">%zu table(s) in ", tn.n);
    html(b, cn_ice_catalog_warehouse(cat));
    cn_buf_puts(b, ", catalog ");
    html(b, cn_ice_catalog_uri(cat));
    cn_buf_puts(b, "</p>\n<table id=\"tables\"><tr><th>table</th><th>partitions</th><th>first ds</th><th>last ds</th>"
                   "<th>records</th><th>snapshots</th><th>last commit (UTC)</th></tr>\n");
    for (size_t i = 0; i < tn.n && !rc; i++) {
        char ns[129], name[129];
        CnIceTable *t = NULL;
        CnIcePartition *parts = NULL;
        uint32_t np = 0;
        rc = cn_ice_name_parse(tn.names[i], ns, name, &err);
        if (!rc) rc = cn_ice_table_load(cat, ns, name, &t, &err);
        if (!rc && cn_ice_table_current_snapshot(t) >= 0)
            rc = cn_ice_table_partition_list(cat, t, 0, NULL, NULL, &parts, &np, &err);
        if (!rc) {
            int64_t records = 0;
            for (uint32_t k = 0; k < np; k++) records += parts[k].records;
            uint32_t ns_n = cn_ice_table_n_snapshots(t);
            CnIceSnapshot last;
            memset(&last, 0, sizeof last);
            if (ns_n) cn_ice_table_snapshot(t, ns_n - 1, &last);
            char when[24];
            fmt_time(last.timestamp_ms, when);
            cn_buf_puts(b, "<tr class=\"table\"><td><a href=\"");
            table_href(b, tn.names[i]);
            cn_buf_puts(b, "\">");
            html(b, tn.names[i]);
            cn_buf_printf(b, "</a></td><td class=\"n\">%u</td><td>%s</td><td>%s</td><td class=\"n\">%lld</td>"
                             "<td class=\"n\">%u</td><td>%s</td></tr>\n",
                          np, np ? parts[0].ds : "-", np ? parts[np - 1].ds : "-", (long long)records, ns_n, when);
        }
        cn_free(parts);
        cn_ice_table_free(t);
    }
    cn_buf_puts(b, "</table>");
    page_end(b);
done:
    cn_free(tn.names);
    cn_ice_catalog_close(cat);
    if (rc) return error_page(ui, resp, 500, "catalog", cn_err_msg(&err));
    return b->oom ? CN_ENOMEM : 0;
}

static int page_table(const CnUi *ui, const CnHttpReq *req, CnHttpResp *resp) {
    const char *full = cn_http_param(req, "name", 0);
    char ns[129], name[129];
    CnErr err = CN_ERR_INIT;
    if (!full || cn_ice_name_parse(full, ns, name, &err))
        return error_page(ui, resp, 400, "bad table name", full ? cn_err_msg(&err) : "name: missing (ns.table)");
    CnBuf *b = &resp->body;
    CnIceCatalog *cat = NULL;
    CnIceTable *t = NULL;
    CnIcePartition *parts = NULL;
    uint32_t np = 0;
    int rc = cn_ice_catalog_open(ui->o.warehouse, ui->o.catalog, &cat, &err);
    if (!rc) rc = cn_ice_table_load(cat, ns, name, &t, &err);
    if (rc == CN_ENOTFOUND) {
        char msg[400];
        snprintf(msg, sizeof msg, "no table %s.%s in the catalog", ns, name);
        cn_ice_catalog_close(cat);
        return error_page(ui, resp, 404, "unknown table", msg);
    }
    int64_t cur = rc ? -1 : cn_ice_table_current_snapshot(t);
    if (!rc && cur >= 0) rc = cn_ice_table_partition_list(cat, t, 0, NULL, NULL, &parts, &np, &err);
    if (rc) goto done;
    set_html(resp, 200);
    page_begin(ui, b, cn_ice_table_name(t), req);
    cn_buf_puts(b, "<h1>");
    html(b, cn_ice_table_name(t));
    cn_buf_puts(b, "</h1><p class=\"muted\">");
    html(b, cn_ice_table_location(t));
    cn_buf_puts(b, "</p><h2>Columns</h2><table id=\"columns\"><tr><th>column</th><th>type</th><th>nullable</th></tr>");
    const CnSchema *sc = cn_ice_table_schema(t);
    for (uint32_t i = 0; sc && i < sc->n_fields; i++) {
        char tb[256];
        cn_buf_puts(b, "<tr><td>");
        html(b, sc->fields[i].name);
        cn_buf_puts(b, "</td><td>");
        html(b, cn_col_type_name(sc->fields[i].type, tb, sizeof tb));
        cn_buf_printf(b, "</td><td>%s</td></tr>", sc->fields[i].nullable ? "yes" : "no");
    }
    cn_buf_printf(b, "</table>\n<h2>Partitions (%u)</h2>", np);
    cn_buf_puts(b, "<table id=\"partitions\"><tr><th>ds</th><th>files</th><th>records</th><th>bytes</th></tr>\n");
    for (uint32_t i = 0; i < np; i++)
        cn_buf_printf(b, "<tr class=\"part\"><td>%s</td><td class=\"n\">%u</td><td class=\"n\">%lld</td>"
                         "<td class=\"n\">%lld</td></tr>\n",
                      parts[i].ds, parts[i].files, (long long)parts[i].records, (long long)parts[i].bytes);
    uint32_t n_snap = cn_ice_table_n_snapshots(t);
    cn_buf_printf(b, "</table>\n<h2>Snapshots (%u)</h2>", n_snap);
    cn_buf_puts(b, "<table id=\"snapshots\"><tr><th>snapshot</th><th>committed (UTC)</th><th>operation</th>"
                   "<th>added files</th><th>deleted files</th><th>added records</th><th>deleted records</th>"
                   "<th>total records</th></tr>\n");
    for (uint32_t i = n_snap; i-- > 0;) { /* newest first */
        CnIceSnapshot s;
        cn_ice_table_snapshot(t, i, &s);
        char when[24];
        fmt_time(s.timestamp_ms, when);
        cn_buf_printf(b, "<tr class=\"snap\"><td>%lld%s</td><td>%s</td><td>", (long long)s.id,
                      s.id == cur ? " <b>(current)</b>" : "", when);
        html(b, s.operation);
        cn_buf_printf(b, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
                         "<td class=\"n\">%lld</td><td class=\"n\">%lld</td></tr>\n",
                      (long long)s.added_files, (long long)s.deleted_files, (long long)s.added_records,
                      (long long)s.deleted_records, (long long)s.total_records);
    }
    cn_buf_puts(b, "</table>");
    page_end(b);
done:
    cn_free(parts);
    cn_ice_table_free(t);
    cn_ice_catalog_close(cat);
    if (rc) return error_page(ui, resp, 500, "catalog", cn_err_msg(&err));
    return b->oom ? CN_ENOMEM : 0;
}

/* ---------------------------------------------------------------- feature lookup */

/* The form's script. It reads the endpoint from the form's data-base attribute and
 * builds the result with textContent, so nothing in a response becomes markup. With
 * ?go=1 it submits once on load (a lookup can be bookmarked). */
static const char k_lookup_js[] =
    "(function(){\n"
    "var f=document.getElementById('lookup'),out=document.getElementById('result');\n"
    "function el(t,x,c){var e=document.createElement(t);if(x!==undefined)e.textContent=x;if(c)e.className=c;return e;}\n"
    "function show(v){return typeof v==='string'?v:JSON.stringify(v);}\n"
    "function render(status,j){out.replaceChildren();\n"
    " if(j.errors){out.appendChild(el('div',j.errors.join('\\n'),'err'));out.dataset.state='error';return;}\n"
    " (j.results||[]).forEach(function(r,i){\n"
    "  out.appendChild(el('h2','key '+JSON.stringify(r.entityKeys||{})+': '+r.status));\n"
    "  if(r.status!=='Success'){out.appendChild(el('div',r.error||'failed','err'));return;}\n"
    "  var t=el('table');t.className='features';t.appendChild(el('tr'));\n"
    "  t.firstChild.appendChild(el('th','feature'));t.firstChild.appendChild(el('th','value'));\n"
    "  Object.keys(r.features||{}).sort().forEach(function(k){var tr=el('tr');tr.dataset.feature=k;\n"
    "   tr.appendChild(el('td',k,'fname'));tr.appendChild(el('td',show(r.features[k]),'fval'));t.appendChild(tr);});\n"
    "  if(!r.features)t.appendChild(el('tr')).appendChild(el('td','(no values: null)'));\n"
    "  out.appendChild(t);});\n"
    " out.dataset.state='done';}\n"
    "function run(){var keys=f.elements.keys.value.trim(),name=f.elements.name.value.trim();\n"
    " if(keys.charAt(0)==='{')keys='['+keys+']';\n"
    " out.replaceChildren(el('p','fetching...'));out.dataset.state='busy';\n"
    " fetch(f.dataset.base+'/'+f.elements.kind.value+'/'+encodeURIComponent(name),{method:'POST',\n"
    "  headers:{'Content-Type':'application/json'},body:keys})\n"
    " .then(function(r){return r.text().then(function(t){var j;try{j=JSON.parse(t);}\n"
    "  catch(e){j={errors:['HTTP '+r.status+': '+t]};}render(r.status,j);});})\n"
    " .catch(function(e){render(0,{errors:['request failed: '+e]});});}\n"
    "f.addEventListener('submit',function(e){e.preventDefault();run();});\n"
    "if(new URLSearchParams(location.search).get('go')==='1')run();\n"
    "})();\n";

static int page_lookup(const CnUi *ui, const CnHttpReq *req, CnHttpResp *resp) {
    CnBuf *b = &resp->body;
    const char *kind = cn_http_param(req, "kind", 0);
    const char *name = cn_http_param(req, "name", 0);
    const char *keys = cn_http_param(req, "keys", 0);
    bool join = kind && !strcmp(kind, "join");
    set_html(resp, 200);
    page_begin(ui, b, "Feature lookup", req);
    cn_buf_puts(b, "<h1>Feature lookup</h1><p class=\"muted\">Posts the keys to the fetch API: POST ");
    html(b, ui->o.fetch_base);
    cn_buf_puts(b, "/groupby|join/&lt;name&gt; (uploaded GroupBys and Joins; the names need a metadata-upload).</p>\n");
    cn_buf_puts(b, "<form id=\"lookup\" data-base=\"");
    html(b, ui->o.fetch_base);
    cn_buf_printf(b, "\"><p><select name=\"kind\"><option value=\"groupby\"%s>GroupBy</option>"
                     "<option value=\"join\"%s>Join</option></select> ",
                  join ? "" : " selected", join ? " selected" : "");
    cn_buf_puts(b, "<input name=\"name\" list=\"names\" size=\"48\" placeholder=\"team/name.v1\" value=\"");
    html(b, name);
    cn_buf_puts(b, "\"></p><datalist id=\"names\">");
    /* names the scheduler's DAGs upload: a hint, the fetch API decides */
    const CnSchedModel *m = ui->o.model;
    for (size_t i = 0; m && i < m->n_dags; i++)
        for (size_t k = 0; k < m->dags[i].n_tasks; k++) {
            const CnSchedTask *t = &m->dags[i].tasks[k];
            if (t->kind != CN_SCHED_TASK_RUN || !t->conf_name || strcmp(t->mode, "metadata-upload")) continue;
            cn_buf_puts(b, "<option value=\"");
            html(b, t->conf_name);
            cn_buf_puts(b, "\">");
        }
    cn_buf_puts(b, "</datalist><p>keys (a JSON object, or an array of them):<br><textarea name=\"keys\" rows=\"4\" "
                   "placeholder='[{\"user_id\": \"5\"}]'>");
    html(b, keys);
    cn_buf_puts(b, "</textarea></p><p><button type=\"submit\">Fetch</button></p></form>\n"
                   "<div id=\"result\"></div>\n<script>");
    cn_buf_puts(b, k_lookup_js);
    cn_buf_puts(b, "</script>");
    page_end(b);
    return b->oom ? CN_ENOMEM : 0;
}

/* The fetcher given, or the one opened on online_uri (now, if not yet). */
static CnFetcher *get_fetcher(CnUi *ui, CnErr *err) {
    if (ui->o.fetcher) return ui->o.fetcher;
    pthread_mutex_lock(&ui->mu);
    if (!ui->own_fetcher && cn_fetcher_open(ui->o.online_uri, ui->o.model ? ui->o.model->repo : NULL,
                                            &ui->own_fetcher, err))
        cn_err_ctx(err, err->code, "online store %s", ui->o.online_uri);
    CnFetcher *f = ui->own_fetcher;
    pthread_mutex_unlock(&ui->mu);
    return f;
}

/* POST <fetch_base>/groupby|join/<name> through the fetcher, answered as Chronon's fetch
 * service does (compute.md section 9). */
static int api_fetch(CnUi *ui, const CnHttpReq *req, CnHttpResp *resp) {
    const char *rest = req->path + strlen(ui->fetch_prefix);
    CnFetchKind kind;
    const char *name;
    json_t *keys = NULL, *got = NULL, *doc = NULL;
    CnErr err = CN_ERR_INIT;
    char msg[1400];
    int status = 200;
    if (!strncmp(rest, "groupby/", 8)) kind = CN_FETCH_GROUPBY, name = rest + 8;
    else if (!strncmp(rest, "join/", 5)) kind = CN_FETCH_JOIN, name = rest + 5;
    else {
        snprintf(msg, sizeof msg, "%s: expected %sgroupby/<name> or %sjoin/<name>", req->path, ui->fetch_prefix,
                 ui->fetch_prefix);
        status = 404;
        goto fail;
    }
    json_error_t je;
    keys = req->body ? json_loadb((const char *)req->body, req->body_len, 0, &je) : NULL;
    if (!keys || !json_is_array(keys)) {
        snprintf(msg, sizeof msg, "request body: expected a JSON array of key objects, e.g. [{\"user_id\": \"5\"}]%s%s",
                 keys ? "" : ": ", keys ? "" : (req->body ? je.text : "no body"));
        status = 400;
        goto fail;
    }
    CnFetcher *f = get_fetcher(ui, &err);
    int rc = f ? cn_fetcher_fetch_json(f, kind, name, keys, CN_FETCH_NOW, &got, &err) : err.code;
    if (rc && !f) {
        snprintf(msg, sizeof msg, "%s", cn_err_msg(&err));
        status = 503; /* the store may not exist until the first upload */
        goto fail;
    }
    if (rc) {
        snprintf(msg, sizeof msg, "%s", cn_err_msg(&err));
        status = rc == CN_EINVAL ? 400 : rc == CN_ENOTFOUND ? 404 : 500; /* as chronon serve answers */
        goto fail;
    }
    json_t *results = json_array();
    doc = json_pack("{s:o}", "results", results);
    for (size_t i = 0; doc && i < json_array_size(got); i++) {
        json_t *g = json_array_get(got, i), *e = json_object_get(g, "error");
        json_t *r = json_object();
        json_object_set_new(r, "status", json_string(e ? "Failure" : "Success"));
        json_object_set(r, "entityKeys", json_object_get(g, "keys"));
        if (e) json_object_set(r, "error", e);
        else if (json_is_object(json_object_get(g, "values"))) json_object_set(r, "features", json_object_get(g, "values"));
        json_array_append_new(results, r);
    }
    goto send;
fail:
    doc = json_pack("{s:[s]}", "errors", msg);
send:;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    int out = 0;
    if (text) {
        resp->status = status;
        resp->content_type = "application/json";
        cn_buf_puts(&resp->body, text);
        cn_free_libc(text); /* jansson's allocation */
    } else {
        out = CN_ENOMEM;
    }
    json_decref(doc);
    json_decref(got);
    json_decref(keys);
    return out;
}

/* ---------------------------------------------------------------- routing */

int cn_ui_handle(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    const CnUi *ui = ctx;
    const char *p = req->path;
    bool get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    if ((ui->o.fetcher || ui->o.online_uri) && cn_str_starts_with(p, ui->fetch_prefix)) {
        if (strcmp(req->method, "POST")) return error_page(ui, resp, 405, "method not allowed", "the fetch API takes POST");
        return api_fetch((CnUi *)ui, req, resp); /* the lazily opened fetcher is the one mutable part */
    }
    if (!strcmp(p, "/") || !strcmp(p, "/ui")) {
        resp->status = 303;
        snprintf(resp->location, sizeof resp->location, "%s", ui->o.model ? "/ui/" : "/ui/lookup");
        return 0;
    }
    if (!strcmp(p, "/ui/action")) {
        if (strcmp(req->method, "POST")) return error_page(ui, resp, 405, "method not allowed", "/ui/action takes a POSTed form");
        if (!ui->o.model) return error_page(ui, resp, 404, "not found", "this server has no scheduler");
        return action(ui, req, resp);
    }
    typedef int (*Page)(const CnUi *, const CnHttpReq *, CnHttpResp *);
    static const struct {
        const char *path;
        Page page;
        int needs; /* 1: the model, 2: the warehouse */
    } pages[] = {
        {"/ui/", page_dags, 1},       {"/ui/dag", page_dag, 1},         {"/ui/log", page_log, 1},
        {"/ui/tables", page_tables, 2}, {"/ui/table", page_table, 2}, {"/ui/lookup", page_lookup, 0},
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(pages); i++) {
        if (strcmp(p, pages[i].path)) continue;
        if ((pages[i].needs == 1 && !ui->o.model) || (pages[i].needs == 2 && !ui->o.warehouse))
            return error_page(ui, resp, 404, "not found", "this page is not served here (no scheduler or warehouse)");
        if (!get) return error_page(ui, resp, 405, "method not allowed", "pages take GET");
        return pages[i].page(ui, req, resp);
    }
    char msg[600];
    snprintf(msg, sizeof msg, "no page %s (the UI starts at /ui/)", p);
    return error_page(ui, resp, 404, "not found", msg);
}

static const char *dup_opt(CnArena *a, const char *s, bool *oom) {
    if (!s) return NULL;
    char *c = cn_arena_strdup(a, s);
    if (!c) *oom = true;
    return c;
}

int cn_ui_mount(CnHttpServer *s, const CnUiOpts *opts, bool root_redirect, CnUi **out, CnErr *err) {
    *out = NULL;
    CnUi *ui = cn_calloc(1, sizeof *ui);
    if (!ui) return cn_err_set(err, CN_ENOMEM, "out of memory mounting the web UI");
    cn_arena_init(&ui->arena, 0);
    bool oom = false;
    ui->o = *opts;
    ui->o.db_uri = dup_opt(&ui->arena, opts->db_uri, &oom);
    ui->o.log_dir = dup_opt(&ui->arena, opts->log_dir, &oom);
    ui->o.warehouse = dup_opt(&ui->arena, opts->warehouse, &oom);
    ui->o.catalog = dup_opt(&ui->arena, opts->catalog, &oom);
    ui->o.online_uri = dup_opt(&ui->arena, opts->online_uri, &oom);
    pthread_mutex_init(&ui->mu, NULL);
    ui->o.fetch_base = dup_opt(&ui->arena, opts->fetch_base ? opts->fetch_base : "/v1/features", &oom);
    ui->o.title = dup_opt(&ui->arena, opts->title ? opts->title : "chronon", &oom);
    int rc = 0;
    if (oom) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory mounting the web UI");
        goto done;
    }
    size_t bl = strlen(ui->o.fetch_base);
    if (bl == 0 || bl + 2 > sizeof ui->fetch_prefix || ui->o.fetch_base[0] != '/') {
        rc = cn_err_set(err, CN_EINVAL, "fetch_base '%s': expected a path starting with '/' (e.g. /v1/features)",
                        ui->o.fetch_base);
        goto done;
    }
    snprintf(ui->fetch_prefix, sizeof ui->fetch_prefix, "%s%s", ui->o.fetch_base,
             ui->o.fetch_base[bl - 1] == '/' ? "" : "/");
    if (ui->o.fetch_base[bl - 1] == '/') ((char *)ui->o.fetch_base)[bl - 1] = 0;
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        rc = cn_err_set(err, CN_EIO, "web UI: no random bytes for the form token: %s", strerror(errno));
        goto done;
    }
    for (size_t i = 0; i < sizeof rnd; i++) snprintf(ui->token + 2 * i, 3, "%02x", rnd[i]);
    rc = cn_http_route(s, NULL, "/ui", cn_ui_handle, ui, err);
    if (!rc && (ui->o.fetcher || ui->o.online_uri)) rc = cn_http_route(s, "POST", ui->fetch_prefix, cn_ui_handle, ui, err);
    if (!rc && root_redirect) rc = cn_http_route(s, "GET", "/", cn_ui_handle, ui, err);
done:
    if (rc) {
        cn_ui_free(ui);
        return rc;
    }
    *out = ui;
    return 0;
}

void cn_ui_free(CnUi *ui) {
    if (!ui) return;
    if (ui->own_fetcher) cn_fetcher_close(ui->own_fetcher);
    pthread_mutex_destroy(&ui->mu);
    cn_arena_fini(&ui->arena);
    cn_free(ui);
}
