/* cmd_serve.c: `chronon serve`, the feature-serving HTTP service (Chronon's service
 * module): the fetch routes, /health and /metrics of src/serve/api.h over one CnFetcher,
 * plus the web UI on the same port. Runs until SIGTERM or SIGINT, then stops accepting,
 * lets requests in flight finish and exits 0. docs/serve.md is the user's page. */
#include "base/compat.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "cli/cli.h"
#include "cli/ui_cli.h"
#include "engine/fetch.h"
#include "serve/api.h"
#include "serve/http.h"

static volatile sig_atomic_t g_serve_stop; /* the CLI's stop flag */

static void on_signal(int sig) {
    (void)sig;
    g_serve_stop = 1;
}

static const char k_usage[] =
    "usage: chronon serve [--port N] [--bind ADDR] [--threads N] [--repo DIR] [--online URI]\n"
    "                     [--warehouse W] [--max-connections N] [--max-body BYTES]\n"
    "\n"
    "Serves online features over HTTP, with the routes and JSON of Chronon's feature service:\n"
    "  POST /v1/features/groupby/<name>   body: a JSON array of key maps, e.g. [{\"user_id\": \"5\"}]\n"
    "  POST /v1/features/join/<name>      (<name> as team/name.v1 or team.name.v1; ?ts=<epoch ms>\n"
    "                                      fetches as of that time instead of now)\n"
    "    200 {\"results\": [{\"status\": \"Success\", \"entityKeys\": {...}, \"features\": {...}}, ...]}\n"
    "        (a key that fails alone: \"status\": \"Failure\" with \"error\")\n"
    "    400 bad JSON or keys, 404 unknown name, 500 online store failure, 503 online store not\n"
    "    connected yet: {\"errors\": [\"...\"]}\n"
    "  GET /health (503 {\"status\": \"not ready\", ...} until the online store is connected),\n"
    "  GET /ping, GET /metrics (Prometheus text)\n"
    "  GET /ui/ the web UI (DAGs, runs, tables, a feature lookup form; docs/ui.md)\n"
    "Configs come from the online store's metadata (`run.py --mode metadata-upload`), else from\n"
    "<repo>/production. Stops on SIGINT or SIGTERM after the requests in flight. docs/serve.md.\n"
    "\n"
    "options:\n"
    "  --port N             port (default 9000; 0 picks a free one); the address is printed on start\n"
    "  --bind ADDR          address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)\n"
    "  --threads N          worker threads (default: one per CPU for an lmdb: store, whose\n"
    "                       fetches only compute; two per CPU for network stores, which wait)\n"
    "  --repo DIR           chronon root (default: the current directory)\n"
    "  --online URI         online store: lmdb:<dir>, redis://, mongodb://, dynamodb:// (default:\n"
    "                       $CHRONON_ONLINE, else lmdb:<warehouse>/online)\n"
    "  --warehouse W        warehouse, for the default online store (default: $CHRONON_WAREHOUSE,\n"
    "                       else <repo>/warehouse)\n"
    "  --max-connections N  open connections at most; more wait until one closes (default 1024)\n"
    "  --max-body BYTES     largest request body; larger get 413 (default 16777216)\n"
    "  -h, --help           show this help\n"
    "\n"
    "A remote online store (redis, mongodb, dynamodb) that cannot be reached at start is retried\n"
    "in the background (250 ms doubling to 8 s, each attempt logged on stderr) while the server\n"
    "listens; it serves as soon as the store answers.\n"
    "\n"
    "exit codes: 0 stopped by a signal, 1 the port or the online store could not be used (a bad\n"
    "URI, a missing lmdb: store), 2 usage error\n";

/* v as an integer in [lo, hi], else -1. */
static long long parse_int(const char *v, long long lo, long long hi) {
    char *end = NULL;
    long long x = v && *v ? strtoll(v, &end, 10) : -1;
    return v && *v && !*end && x >= lo && x <= hi ? x : -1;
}

/* The online store as the routes see it. A remote store that cannot be reached at start
 * does not stop the service: it listens at once, a thread retries the open with a
 * doubling backoff, and until it succeeds the fetch routes and /health answer 503 naming
 * the store and its last error. The fetcher, once set, stays until the server is freed. */
typedef struct ServeStore {
    const char *uri, *root;
    _Atomic(CnFetcher *) fetcher;
    pthread_mutex_t mu; /* guards last, stop; cv wakes the retry thread's wait on stop */
    pthread_cond_t cv;
    char last[CN_ERR_MSG_MAX]; /* the last open error */
    bool stop;
} ServeStore;

/* The backoff of the retry thread: 250 ms doubling up to 8 s. */
enum { RETRY_FIRST_MS = 250, RETRY_MAX_MS = 8000 };

static bool store_ready(void *ctx, char *why, size_t cap) {
    ServeStore *st = ctx;
    if (atomic_load_explicit(&st->fetcher, memory_order_acquire)) return true;
    pthread_mutex_lock(&st->mu);
    snprintf(why, cap, "online store %s is not connected yet (retrying): %s", st->uri, st->last);
    pthread_mutex_unlock(&st->mu);
    return false;
}

/* A remote store that failed to open with a transport or server error may come up
 * later; anything else (a bad URI, a missing LMDB store, credentials refused by the
 * URI's parser) will not. */
static bool worth_retrying(const char *uri, int rc) {
    return (rc == CN_EIO || rc == CN_EREMOTE) && strncmp(uri, "lmdb:", 5) != 0 && strncmp(uri, "mem:", 4) != 0;
}

static void *store_retry(void *arg) {
    ServeStore *st = arg;
    uint32_t delay = RETRY_FIRST_MS;
    for (unsigned attempt = 2;; attempt++) {
        pthread_mutex_lock(&st->mu);
        cn_log(CN_LOG_WARN, "serve: online store %s not reachable; attempt %u in %u ms: %s", st->uri, attempt,
               delay, st->last);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += delay / 1000;
        until.tv_nsec += (long)(delay % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        while (!st->stop && pthread_cond_timedwait(&st->cv, &st->mu, &until) != ETIMEDOUT) {}
        bool stop = st->stop;
        pthread_mutex_unlock(&st->mu);
        if (stop) return NULL;
        CnErr err = CN_ERR_INIT;
        CnFetcher *f = NULL;
        int rc = cn_fetcher_open(st->uri, st->root, &f, &err);
        if (rc == 0) {
            atomic_store_explicit(&st->fetcher, f, memory_order_release);
            cn_log(CN_LOG_WARN, "serve: online store %s connected on attempt %u; serving", st->uri, attempt);
            return NULL;
        }
        pthread_mutex_lock(&st->mu);
        snprintf(st->last, sizeof st->last, "%s", cn_err_msg(&err));
        pthread_mutex_unlock(&st->mu);
        cn_err_clear(&err);
        delay = delay >= RETRY_MAX_MS / 2 ? RETRY_MAX_MS : delay * 2;
    }
}

static CnFetcher *store_fetcher(void *ctx) {
    return atomic_load_explicit(&((ServeStore *)ctx)->fetcher, memory_order_acquire);
}

/* The routes ask store_ready first, so the fetcher is set here. */
static int fetch_fn(void *ctx, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts_ms, json_t **out,
                    CnErr *err) {
    return cn_fetcher_fetch_json(store_fetcher(ctx), kind, name, keys, ts_ms, out, err);
}

static int fetch_service_fn(void *ctx, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts_ms,
                            CnBuf *out, CnErr *err) {
    /* declined: the json_t fetch */
    return cn_fetcher_fetch_service(store_fetcher(ctx), kind, name, keys, ts_ms, out, err);
}

int cn_cli_serve(int argc, char **argv) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu <= 0) ncpu = 2;
    CnHttpOpts ho = {.bind = "127.0.0.1", .port = 9000}; /* threads: after the store is known */
    const char *repo = NULL, *online = NULL, *warehouse = NULL;
    for (int i = 1; i < argc; i++)
        if (cn_cli_is_help(argv[i])) {
            fputs(k_usage, stdout);
            return 0;
        }
    static const char *const opts[] = {"--port", "--threads", "--max-connections", "--max-body",
                                       "--bind", "--repo", "--online", "--warehouse"};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *o = NULL;
        long long x;
        for (size_t k = 0; !o && k < sizeof opts / sizeof *opts; k++) {
            int m = cn_cli_opt("serve", argc, argv, &i, opts[k], &v);
            if (m < 0) return 2;
            if (m) o = opts[k];
        }
        if (!o) {
            fprintf(stderr, "chronon serve: unknown argument '%s'\n%s", argv[i], k_usage);
            return 2;
        }
        if (!strcmp(o, "--port")) {
            if ((x = parse_int(v, 0, 65535)) < 0) {
                fprintf(stderr, "chronon serve: --port: '%s' is not a port number (0-65535)\n", v);
                return 2;
            }
            ho.port = (int)x;
        } else if (!strcmp(o, "--threads")) {
            if ((x = parse_int(v, 1, 256)) < 0) {
                fprintf(stderr, "chronon serve: --threads: '%s' is not a thread count (1-256)\n", v);
                return 2;
            }
            ho.threads = (int)x;
        } else if (!strcmp(o, "--max-connections")) {
            if ((x = parse_int(v, 1, 1000000)) < 0) {
                fprintf(stderr, "chronon serve: --max-connections: '%s' is not a count (1-1000000)\n", v);
                return 2;
            }
            ho.max_connections = (int)x;
        } else if (!strcmp(o, "--max-body")) {
            if ((x = parse_int(v, 1, (long long)1 << 40)) < 0) {
                fprintf(stderr, "chronon serve: --max-body: '%s' is not a byte count (at least 1)\n", v);
                return 2;
            }
            ho.max_body = (size_t)x;
        } else if (!strcmp(o, "--bind")) {
            ho.bind = v;
        } else if (!strcmp(o, "--repo")) {
            repo = v;
        } else if (!strcmp(o, "--online")) {
            online = v;
        } else {
            warehouse = v;
        }
    }

    CnErr err = CN_ERR_INIT;
    CnCliWhere *w = NULL;
    ServeStore st = {0};
    pthread_t retry_thread;
    bool retrying = false;
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    CnFetcher *fetcher = NULL;
    CnSrvApi *api = NULL;
    CnHttpServer *s = NULL;
    CnCliUi *ui = NULL;
    int code = 0, rc = 0;
    w = cn_calloc(1, sizeof *w); /* 21 KiB of paths: off the stack */
    if (!w) {
        rc = cn_err_set(&err, CN_ENOMEM, "out of memory");
        goto done;
    }
    rc = cn_cli_where(repo, warehouse, NULL, NULL, NULL, w, &err);
    if (rc) goto done;
    if (!online) online = w->online;
    /* An LMDB fetch never waits (the store is memory-mapped), so more threads than CPUs
     * would only take turns on them (context switches, and a p99 of several time slices);
     * a network store's fetch waits on its server, and another thread can run meanwhile. */
    if (ho.threads == 0) ho.threads = (int)(strncmp(online, "lmdb:", 5) == 0 ? ncpu : 2 * ncpu);
    st.uri = online;
    st.root = w->root;
    rc = cn_fetcher_open(online, w->root, &fetcher, &err); /* its errors name the store */
    if (rc && worth_retrying(online, rc)) {
        snprintf(st.last, sizeof st.last, "%s", cn_err_msg(&err));
        cn_err_clear(&err);
        retrying = true; /* the thread starts with the server, below */
        rc = 0;
    }
    if (rc) goto done;
    atomic_store_explicit(&st.fetcher, fetcher, memory_order_release);
    rc = cn_srv_api_new(fetch_fn, &st, &api, &err);
    /* the fetcher's typed path writes the common answer as the response body, without a
     * JSON tree; the rest goes through the json_t fetch (its text would only be parsed
     * again) */
    if (rc == 0) cn_srv_api_set_service_fetch(api, fetch_service_fn);
    if (rc == 0) cn_srv_api_set_ready(api, store_ready);
    if (rc == 0) rc = cn_http_server_new(&ho, &s, &err);
    if (rc == 0) rc = cn_srv_api_mount(api, s, &err);
    /* Web UI: its routes (/ui/..., and / redirecting there) mount here, after the fetch
     * routes, which its feature lookup form posts to. */
    if (rc == 0) rc = cn_cli_ui_mount_repo(s, w->root, warehouse, &ui, &err);
    if (rc) goto done;

    /* Block the stop signals before the server's threads start, so they inherit the
     * mask and only this thread takes them (in sigsuspend below). */
    sigset_t stop_set, old_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-reply is not our death */
    pthread_sigmask(SIG_BLOCK, &stop_set, &old_set);
    rc = cn_http_server_start(s, &err);
    if (rc == 0 && retrying && pthread_create(&retry_thread, NULL, store_retry, &st) != 0) {
        rc = cn_err_set(&err, CN_EINTERNAL, "cannot start the thread that retries online store %s", online);
        retrying = false;
    }
    if (rc == 0) {
        const char *host = strcmp(ho.bind, "0.0.0.0") == 0 ? "127.0.0.1" : ho.bind;
        printf("serve: listening on http://%s:%d (online store %s%s, %d threads)\n", host, cn_http_server_port(s),
               online, retrying ? ", not connected yet: retrying" : "", ho.threads);
        fflush(stdout);
        sigset_t wait_set = old_set;
        sigdelset(&wait_set, SIGTERM);
        sigdelset(&wait_set, SIGINT);
        while (!g_serve_stop) sigsuspend(&wait_set);
        printf("serve: stopping on a signal\n");
        fflush(stdout);
    }
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
done:
    if (retrying) { /* it may be inside an open: that ends within the store's timeouts */
        pthread_mutex_lock(&st.mu);
        st.stop = true;
        pthread_cond_signal(&st.cv);
        pthread_mutex_unlock(&st.mu);
        pthread_join(retry_thread, NULL);
    }
    cn_http_server_free(s); /* first: handlers use the api and the fetcher until it stops */
    cn_srv_api_free(api);
    cn_cli_ui_free(ui);
    fetcher = atomic_load_explicit(&st.fetcher, memory_order_acquire);
    if (fetcher) cn_fetcher_close(fetcher);
    pthread_cond_destroy(&st.cv);
    pthread_mutex_destroy(&st.mu);
    cn_free(w);
    if (rc) code = cn_cli_fail("serve", &err);
    return code;
}
