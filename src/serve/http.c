/* http.c: CnHttpServer over libmicrohttpd (MHD) with an internal epoll thread pool.
 *
 * Memory: each connection owns one ConnState for its life (MHD's connection notifier
 * makes and frees it): the request arena, the body buffer and the response buffer are
 * reset between the requests of a kept-alive connection, not freed, so a request on a
 * warm connection allocates nothing here. The response is sent from the connection's
 * buffer without a copy (MHD_RESPMEM_PERSISTENT): MHD finishes sending it before the
 * next request on the connection starts, and before the connection (and its state) is
 * closed.
 *
 * Request lifecycle: the URI log callback (called once per request, before headers are
 * parsed) readies the connection's state, with a copy of the raw URI (MHD later
 * splits and unescapes that buffer in place, and the raw query is the only source of the
 * query string). The access handler is then called repeatedly: the first call only marks
 * the state (MHD 0.9.75 closes the connection after every reply queued on the first call,
 * which costs keep-alive and about 3/4 of the throughput), the middle calls append body
 * chunks, and the last call (no more data) routes the request and queues the response.
 * The completion callback resets the state.
 *
 * Limits: past MHD's connection limit new connections wait in the listen backlog, which
 * bounds the queue; bodies above max_body are drained, not buffered, and get 413.
 *
 * Accepting: our own thread accepts and hands each connection to MHD (accept_loop).
 * Shutdown: stop accepting, wait for requests in flight (bounded), then stop the daemon. */
#include "base/compat.h"
#include "serve/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"

/* Requests still in flight after this long at shutdown are cut off. */
#define SHUTDOWN_WAIT_MS 5000
/* Idle keep-alive connections are closed after this many seconds. */
#define IDLE_TIMEOUT_S 60
/* MHD's per-connection pool (request line, headers, read and write buffers). MHD zeroes
 * most of it for every request on a kept-alive connection (about 1.5 times its size), so
 * its default of 32 KiB cost about a tenth of the CPU of a small fetch. 8 KiB takes
 * about 7 KiB of request line and headers, as Chronon's service (Vert.x: 8 KiB of
 * headers, 4 KiB of request line). */
#define CONN_POOL_BYTES (8u * 1024u)
/* Per-request arena blocks: small, since most requests need a few hundred bytes. */
#define REQ_ARENA_BLOCK 8192

typedef struct Route {
    char *method;          /* OWNED; NULL matches any method */
    char *prefix;          /* OWNED */
    size_t prefix_len;
    CnHttpHandler handler;
    void *ctx;
} Route;

struct CnHttpServer {
    CnHttpOpts opts;
    char bind[64];
    Route *routes;         /* OWNED; fixed once started */
    size_t n_routes, cap_routes;
    CnHttpObserver observer;
    void *observer_ctx;
    struct MHD_Daemon *daemon;
    int listen_fd;         /* ours: we bind it so a failure can name errno */
    pthread_t acceptor;    /* accepts and hands connections to MHD's workers in turn */
    bool acceptor_started;
    int port;
    atomic_int in_flight;  /* requests between URI callback and completion */
    atomic_int open_conns; /* connections handed to MHD and not yet closed */
    atomic_bool stopping;  /* replies say Connection: close once set */
};

/* Buffers above this are freed when their request ends rather than kept for the
 * connection's next request (a rare big body or reply must not pin memory per idle
 * connection). */
#define KEEP_BUF_BYTES (256u * 1024u)

typedef struct ConnState {
    CnHttpServer *srv;
    CnArena arena;
    char *raw_uri;         /* in arena */
    CnBuf body;
    CnBuf out;             /* the response body, sent from here */
    CnBuf scratch;         /* CnHttpReq.scratch */
    bool active;           /* between the URI callback and completion */
    bool seen;             /* the access handler ran once (headers complete) */
    bool too_big;          /* body exceeded max_body: drained, not kept */
    struct timespec t0;
} ConnState;

static uint64_t elapsed_ns(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (uint64_t)(t1.tv_sec - t0->tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec - (uint64_t)t0->tv_nsec;
}

static void buf_recycle(CnBuf *b) {
    if (b->cap > KEEP_BUF_BYTES || b->oom) cn_buf_fini(b);
    else cn_buf_reset(b);
}

static void on_connection(void *cls, struct MHD_Connection *con, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    (void)con;
    CnHttpServer *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        ConnState *cs = cn_calloc(1, sizeof *cs);
        if (cs) {
            cs->srv = srv;
            cn_arena_init(&cs->arena, REQ_ARENA_BLOCK);
        }
        *socket_context = cs; /* NULL: the URI callback answers 503 */
        return;
    }
    atomic_fetch_sub(&srv->open_conns, 1);
    ConnState *cs = *socket_context;
    if (!cs) return;
    cn_buf_fini(&cs->body);
    cn_buf_fini(&cs->out);
    cn_buf_fini(&cs->scratch);
    cn_arena_fini(&cs->arena);
    cn_free(cs);
    *socket_context = NULL;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con) {
    CnHttpServer *s = cls;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    ConnState *cs = ci ? ci->socket_context : NULL;
    if (!cs || cs->active) return NULL; /* the access handler answers 503 */
    cs->active = true;
    cs->seen = cs->too_big = false;
    clock_gettime(CLOCK_MONOTONIC, &cs->t0);
    cs->raw_uri = cn_arena_strdup(&cs->arena, uri ? uri : "/");
    atomic_fetch_add(&s->in_flight, 1);
    return cs;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)con, (void)toe;
    CnHttpServer *s = cls;
    ConnState *cs = *con_cls;
    if (!cs) return;
    buf_recycle(&cs->body);
    buf_recycle(&cs->out);
    buf_recycle(&cs->scratch);
    cn_arena_reset(&cs->arena);
    cs->raw_uri = NULL;
    cs->active = false;
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

/* Path matches prefix on a segment boundary: "/health" matches "/health" and
 * "/health/x" but not "/healthz"; a prefix ending in '/' matches anything under it. */
static bool prefix_matches(const Route *r, const char *path) {
    if (strncmp(path, r->prefix, r->prefix_len) != 0) return false;
    if (r->prefix_len > 0 && r->prefix[r->prefix_len - 1] == '/') return true;
    char c = path[r->prefix_len];
    return c == '\0' || c == '/';
}

static bool method_matches(const Route *r, const char *method) {
    if (!r->method) return true;
    if (strcmp(r->method, method) == 0) return true;
    /* HEAD is GET without the body; MHD drops the body itself. */
    return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

/* Errors the server makes have Chronon's service shape: {"errors": ["<message>"]}. */
static void json_error(CnHttpResp *resp, int status, const char *msg) {
    resp->status = status;
    resp->content_type = "application/json";
    cn_buf_reset(&resp->body);
    cn_buf_puts(&resp->body, "{\"errors\":[\"");
    for (const char *p = msg; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            cn_buf_putc(&resp->body, '\\');
            cn_buf_putc(&resp->body, (char)c);
        } else if (c < 0x20) {
            cn_buf_printf(&resp->body, "\\u%04x", c);
        } else {
            cn_buf_putc(&resp->body, (char)c);
        }
    }
    cn_buf_puts(&resp->body, "\"]}\n");
}

/* Routes the request and runs its handler; fills resp and names the matched route
 * (for the observer) in *route_out. */
static void dispatch(CnHttpServer *s, const CnHttpReq *req, CnHttpResp *resp, const char **route_out,
                     CnBuf *allow) {
    const Route *by_path = NULL;
    for (size_t i = 0; i < s->n_routes; i++) {
        const Route *r = &s->routes[i];
        if (!prefix_matches(r, req->path)) continue;
        if (!method_matches(r, req->method)) {
            if (!by_path) by_path = r;
            if (r->method && !strstr(allow->data ? allow->data : "", r->method)) {
                if (allow->len) cn_buf_puts(allow, ", ");
                cn_buf_puts(allow, r->method);
            }
            continue;
        }
        *route_out = r->prefix;
        int rc = r->handler(r->ctx, req, resp);
        if (rc != 0 && resp->status == 0) {
            /* The handler's message, moved out of the body the error replaces. */
            char msg[512];
            snprintf(msg, sizeof msg, "%s", resp->body.len ? resp->body.data : "internal error");
            json_error(resp, 500, msg);
        }
        if (resp->status == 0) resp->status = 200;
        return;
    }
    if (by_path) {
        *route_out = by_path->prefix;
        json_error(resp, 405, "method not allowed");
        return;
    }
    json_error(resp, 404, "no such path");
}

/* Queues resp. The body is sent from resp->body in place (PERSISTENT) when keep is
 * true, the caller keeping the buffer until the request completes; else MHD copies it. */
static enum MHD_Result send_resp(CnHttpServer *s, struct MHD_Connection *con, const CnHttpResp *resp,
                                 const char *allow, bool keep, bool close_conn) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        resp->body.len, resp->body.len ? resp->body.data : (void *)"",
        keep || !resp->body.len ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "application/json");
    if (resp->location[0]) MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
    if (allow && allow[0]) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (close_conn || atomic_load(&s->stopping)) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    CnHttpServer *s = cls;
    ConnState *st = *con_cls;
    if (!st) {
        /* No connection state (out of memory when the connection opened): answer
         * without it, and close, so that the client's next connection may get one. */
        CnHttpResp resp = {0};
        json_error(&resp, 503, "out of memory");
        enum MHD_Result ret = resp.body.oom ? MHD_NO : send_resp(s, con, &resp, NULL, false, true);
        cn_buf_fini(&resp.body);
        return ret;
    }
    if (!st->seen) {
        st->seen = true;
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || end == cl || n > s->opts.max_body) st->too_big = true;
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!st->too_big && st->body.len + *upload_data_size > s->opts.max_body) {
            st->too_big = true;
            cn_buf_fini(&st->body);
        }
        if (!st->too_big) cn_buf_append(&st->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    /* The reply is written into the connection's buffer and sent from there. */
    CnHttpResp resp = {.body = st->out};
    cn_buf_reset(&resp.body);
    CnBuf allow = CN_BUF_INIT;
    const char *route = "";
    if (st->too_big) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body larger than the limit of %zu bytes", s->opts.max_body);
        json_error(&resp, 413, msg);
    } else if (st->body.oom || !st->raw_uri) {
        json_error(&resp, 503, "out of memory while reading the request");
    } else {
        const char *q = strchr(st->raw_uri, '?');
        CnHttpReq req = {
            .method = method,
            .path = url,
            .query = q ? q + 1 : "",
            .body = st->body.len ? (const uint8_t *)st->body.data : NULL,
            .body_len = st->body.len,
            .arena = &st->arena,
            .scratch = &st->scratch,
        };
        dispatch(s, &req, &resp, &route, &allow);
    }
    if (resp.body.oom) {
        /* A buffer that failed to grow keeps failing: answer from a fresh one. */
        cn_buf_fini(&resp.body);
        json_error(&resp, 503, "out of memory while building the response");
    }
    if (s->observer) s->observer(s->observer_ctx, route, method, resp.status, elapsed_ns(&st->t0));
    st->out = resp.body; /* kept until the request completes, then reused */
    enum MHD_Result ret = resp.body.oom ? MHD_NO : send_resp(s, con, &resp, allow.data, true, false);
    cn_buf_fini(&allow);
    return ret;
}

int cn_http_server_new(const CnHttpOpts *opts, CnHttpServer **out, CnErr *err) {
    *out = NULL;
    CnHttpServer *s = cn_calloc(1, sizeof *s);
    if (!s) return cn_err_set(err, CN_ENOMEM, "http server: out of memory");
    if (opts) s->opts = *opts;
    const char *bind = s->opts.bind ? s->opts.bind : "127.0.0.1";
    if (strlen(bind) >= sizeof s->bind) {
        cn_free(s);
        return cn_err_set(err, CN_EINVAL, "http server: bind address \"%s\" is too long", bind);
    }
    strcpy(s->bind, bind);
    s->opts.bind = s->bind;
    if (s->opts.port < 0 || s->opts.port > 65535) {
        int p = s->opts.port;
        cn_free(s);
        return cn_err_set(err, CN_EINVAL, "http server: port %d out of range (expected 0..65535)", p);
    }
    if (s->opts.threads <= 0) s->opts.threads = 4;
    if (s->opts.threads > 256) s->opts.threads = 256;
    if (s->opts.max_connections <= 0) s->opts.max_connections = 1024;
    if (s->opts.max_body == 0) s->opts.max_body = 16u << 20;
    s->listen_fd = -1;
    s->port = s->opts.port;
    *out = s;
    return 0;
}

int cn_http_route(CnHttpServer *s, const char *method, const char *prefix, CnHttpHandler h, void *ctx,
                  CnErr *err) {
    if (s->daemon) return cn_err_set(err, CN_EINVAL, "http route %s: server already started", prefix);
    if (!prefix || prefix[0] != '/')
        return cn_err_set(err, CN_EINVAL, "http route \"%s\": prefix must start with '/'",
                          prefix ? prefix : "(null)");
    if (s->n_routes == s->cap_routes) {
        size_t cap = s->cap_routes ? s->cap_routes * 2 : 8;
        Route *r = cn_realloc(s->routes, cap * sizeof *r);
        if (!r) return cn_err_set(err, CN_ENOMEM, "http route %s: out of memory", prefix);
        s->routes = r;
        s->cap_routes = cap;
    }
    Route *r = &s->routes[s->n_routes];
    memset(r, 0, sizeof *r);
    r->prefix = cn_strdup(prefix);
    r->method = method ? cn_strdup(method) : NULL;
    if (!r->prefix || (method && !r->method)) {
        cn_free(r->prefix);
        cn_free(r->method);
        return cn_err_set(err, CN_ENOMEM, "http route %s: out of memory", prefix);
    }
    r->prefix_len = strlen(prefix);
    r->handler = h;
    r->ctx = ctx;
    s->n_routes++;
    return 0;
}

void cn_http_set_observer(CnHttpServer *s, CnHttpObserver fn, void *ctx) {
    s->observer = fn;
    s->observer_ctx = ctx;
}

/* Binds and listens ourselves (rather than letting MHD) so that a failure names the
 * address, port and errno. */
static int open_listener(CnHttpServer *s, CnErr *err) {
    struct sockaddr_storage ss;
    socklen_t ss_len;
    memset(&ss, 0, sizeof ss);
    int family;
    if (strchr(s->bind, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        family = a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)s->opts.port);
        if (inet_pton(AF_INET6, s->bind, &a->sin6_addr) != 1)
            return cn_err_set(err, CN_EINVAL, "http server: bind address \"%s\" is not an IPv6 address", s->bind);
        ss_len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        family = a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)s->opts.port);
        const char *b = strcmp(s->bind, "localhost") == 0 ? "127.0.0.1" : s->bind;
        if (inet_pton(AF_INET, b, &a->sin_addr) != 1)
            return cn_err_set(err, CN_EINVAL,
                              "http server: bind address \"%s\" is not an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)",
                              s->bind);
        ss_len = sizeof *a;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return cn_err_set(err, CN_EIO, "http server: socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, ss_len) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return cn_err_set(err, CN_EIO, "http server: cannot listen on %s port %d: %s", s->bind, s->opts.port,
                          strerror(e));
    }
    struct sockaddr_storage got;
    socklen_t got_len = sizeof got;
    if (getsockname(fd, (struct sockaddr *)&got, &got_len) == 0)
        s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                           : ((struct sockaddr_in *)&got)->sin_port);
    s->listen_fd = fd;
    return 0;
}

/* How long the acceptor waits in poll before it looks at the stopping flag, and between
 * looks while the server is at its connection limit. */
#define ACCEPT_POLL_MS 100
#define ACCEPT_FULL_WAIT_MS 2

/* The acceptor thread. MHD's workers each accepting from the shared listen socket left
 * connections uneven (wrk's 50 landed 46 and 5 on two workers), so one worker served
 * most requests on one core while the other idled. MHD_add_connection instead spreads
 * them over the workers by socket number. At the connection limit it stops accepting,
 * so further connections wait in the listen backlog, as before. */
static void *accept_loop(void *arg) {
    CnHttpServer *s = arg;
    while (!atomic_load(&s->stopping)) {
        /* counted when handed over (MHD starts it later, on a worker) and uncounted when
         * MHD closes it */
        if (atomic_load(&s->open_conns) >= s->opts.max_connections) {
            struct timespec ts = {0, ACCEPT_FULL_WAIT_MS * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd pfd = {.fd = s->listen_fd, .events = POLLIN};
        if (poll(&pfd, 1, ACCEPT_POLL_MS) <= 0) continue;
        struct sockaddr_storage addr;
        socklen_t alen = sizeof addr;
        int fd = accept(s->listen_fd, (struct sockaddr *)&addr, &alen);
        if (fd >= 0 && (fcntl(fd, F_SETFL, O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)) {
            close(fd);
            continue;
        }
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                struct timespec ts = {0, ACCEPT_POLL_MS * 1000000L}; /* out of descriptors: wait */
                nanosleep(&ts, NULL);
            }
            continue;
        }
        /* MHD closes the socket itself when it cannot take it */
        atomic_fetch_add(&s->open_conns, 1);
        if (MHD_add_connection(s->daemon, fd, (const struct sockaddr *)&addr, alen) != MHD_YES)
            atomic_fetch_sub(&s->open_conns, 1);
    }
    return NULL;
}

int cn_http_server_start(CnHttpServer *s, CnErr *err) {
    if (s->daemon) return 0;
    int rc = open_listener(s, err);
    if (rc < 0) return rc;
    /* TURBO: read, write and accept first and poll only on EAGAIN (the sockets are
     * non-blocking), and skip shutdown() before close. */
    /* The acceptor enforces max_connections. MHD's own limit is split over its workers
     * and counts a closed connection until its worker cleans it up, after our count has
     * dropped; at our limit it would close the connection the acceptor just handed over.
     * So MHD gets room for every connection on any one worker, twice over. */
    size_t mhd_limit = (size_t)s->opts.max_connections * (size_t)s->opts.threads * 2;
    if (mhd_limit > (size_t)1 << 24) mhd_limit = (size_t)1 << 24;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_TURBO | MHD_USE_NO_LISTEN_SOCKET;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->opts.threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)mhd_limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_POOL_BYTES, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_END);
    if (!s->daemon) {
        close(s->listen_fd);
        s->listen_fd = -1;
        return cn_err_set(err, CN_EIO, "http server: could not start on %s port %d (%d threads)", s->bind,
                          s->port, s->opts.threads);
    }
    if (pthread_create(&s->acceptor, NULL, accept_loop, s) != 0) {
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
        close(s->listen_fd);
        s->listen_fd = -1;
        return cn_err_set(err, CN_EIO, "http server: could not start the accepting thread on %s port %d", s->bind,
                          s->port);
    }
    s->acceptor_started = true;
    return 0;
}

int cn_http_server_port(const CnHttpServer *s) { return s->port; }

void cn_http_server_free(CnHttpServer *s) {
    if (!s) return;
    if (s->daemon) {
        atomic_store(&s->stopping, true);
        /* No new connections: the acceptor sees the flag within ACCEPT_POLL_MS, then the
         * listen socket closes (later connects are refused). */
        if (s->acceptor_started) pthread_join(s->acceptor, NULL);
        s->acceptor_started = false;
        if (s->listen_fd >= 0) close(s->listen_fd);
        s->listen_fd = -1;
        /* Let requests already read finish and be sent. */
        for (int waited = 0; atomic_load(&s->in_flight) > 0 && waited < SHUTDOWN_WAIT_MS; waited += 5) {
            struct timespec ts = {0, 5 * 1000000L};
            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(s->daemon);
    }
    if (s->listen_fd >= 0) close(s->listen_fd);
    for (size_t i = 0; i < s->n_routes; i++) {
        cn_free(s->routes[i].method);
        cn_free(s->routes[i].prefix);
    }
    cn_free(s->routes);
    cn_free(s);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Form-decodes [p, p+n) into the arena ('+' is a space, %XX a byte; a malformed %
 * escape is kept as is). */
static char *form_decode(CnArena *a, const char *p, size_t n) {
    char *out = cn_arena_alloc(a, n + 1);
    if (!out) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '+') {
            out[j++] = ' ';
        } else if (p[i] == '%' && i + 2 < n && hexval((unsigned char)p[i + 1]) >= 0 &&
                   hexval((unsigned char)p[i + 2]) >= 0) {
            out[j++] = (char)(hexval((unsigned char)p[i + 1]) * 16 + hexval((unsigned char)p[i + 2]));
            i += 2;
        } else {
            out[j++] = p[i];
        }
    }
    out[j] = '\0';
    return out;
}

static const char *find_param(CnArena *a, const char *s, size_t len, const char *name) {
    const char *end = s + len;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(pe - s));
        const char *ke = eq ? eq : pe;
        char *key = form_decode(a, s, (size_t)(ke - s));
        if (key && strcmp(key, name) == 0) return eq ? form_decode(a, eq + 1, (size_t)(pe - eq - 1)) : "";
        s = amp ? amp + 1 : end;
    }
    return NULL;
}

const char *cn_http_param(const CnHttpReq *req, const char *name, int from_body) {
    if (from_body) {
        if (!req->body) return NULL;
        return find_param(req->arena, (const char *)req->body, req->body_len, name);
    }
    return find_param(req->arena, req->query ? req->query : "", strlen(req->query ? req->query : ""), name);
}

int cn_http_html_escape(CnBuf *b, const char *s) {
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '&': cn_buf_puts(b, "&amp;"); break;
        case '<': cn_buf_puts(b, "&lt;"); break;
        case '>': cn_buf_puts(b, "&gt;"); break;
        case '"': cn_buf_puts(b, "&quot;"); break;
        case '\'': cn_buf_puts(b, "&#39;"); break;
        default: cn_buf_putc(b, *p);
        }
    }
    return b->oom ? CN_ENOMEM : 0;
}
