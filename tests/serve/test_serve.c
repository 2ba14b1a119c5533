/* test_serve.c: the HTTP server (serve/http.h) and the fetch routes (serve/api.h),
 * driven over real sockets by a small HTTP/1.1 client. Each case starts its own server
 * on a free port (port 0). The fetch routes run against a fake fetcher, so what is
 * checked here is the HTTP contract (shapes, status codes, limits, metrics); the
 * end-to-end fetch against an uploaded store is tests/py/test_serve.py. */
#include "cn_test.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <strings.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/json.h"
#include "base/str.h"
#include "serve/api.h"
#include "serve/http.h"

/* ---- a tiny client ----------------------------------------------------------------- */

typedef struct Resp {
    int status;
    char head[4096];      /* status line and headers, NUL-terminated */
    CnBuf body;
} Resp;

static void resp_fini(Resp *r) { cn_buf_fini(&r->body); }

/* Case-insensitive strstr (header names). */
static const char *find_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0) return p;
    return NULL;
}

static int connect_fd(int fd, int port);

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    return connect_fd(fd, port);
}

/* Connects socket fd to the server on port (10 s receive timeout). */
static int connect_fd(int fd, int port) {
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) fail_msg("connect to port %d failed", port);
    return fd;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return; /* the server may close early (413); the reply tells */
        p += w;
        n -= (size_t)w;
    }
}

/* Reads one response (Content-Length framed). Returns 0, or -1 when the connection
 * closed or timed out before a full response. */
static int read_resp_x(int fd, Resp *r, bool head_only) {
    memset(r, 0, sizeof *r);
    size_t hl = 0;
    char *end = NULL;
    while (!end) {
        if (hl + 1 >= sizeof r->head) return -1;
        ssize_t n = recv(fd, r->head + hl, 1, 0); /* byte by byte: never read past the head */
        if (n <= 0) return -1;
        hl += (size_t)n;
        r->head[hl] = 0;
        end = strstr(r->head, "\r\n\r\n");
    }
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1) return -1;
    const char *cl = find_ci(r->head, "\r\nContent-Length:");
    size_t len = cl && !head_only ? strtoul(cl + 17, NULL, 10) : 0;
    cn_buf_reserve(&r->body, len + 1);
    while (r->body.len < len) {
        char buf[4096];
        ssize_t n = recv(fd, buf, CN_MIN(sizeof buf, len - r->body.len), 0);
        if (n <= 0) return -1;
        cn_buf_append(&r->body, buf, (size_t)n);
    }
    cn_buf_putc(&r->body, 0);
    r->body.len--;
    return 0;
}

static int read_resp(int fd, Resp *r) { return read_resp_x(fd, r, false); }

/* One request on a fresh connection. */
static int request(int port, const char *method, const char *path, const char *body, Resp *r) {
    int fd = connect_to(port);
    CnBuf q = CN_BUF_INIT;
    cn_buf_printf(&q, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n", method, path);
    if (body) cn_buf_printf(&q, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
    else cn_buf_puts(&q, "\r\n");
    send_all(fd, q.data, q.len);
    int rc = read_resp_x(fd, r, strcmp(method, "HEAD") == 0);
    cn_buf_fini(&q);
    close(fd);
    return rc;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- handlers ---------------------------------------------------------------------- */

static int h_text(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    resp->content_type = "text/plain";
    cn_buf_printf(&resp->body, "%s %s %s", (const char *)ctx, req->method, req->path);
    return 0;
}

/* Echoes what the server decoded: path, query parameters, body and a body parameter. */
static int h_echo(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    (void)ctx;
    const char *a = cn_http_param(req, "a", 0), *b = cn_http_param(req, "b", 0);
    const char *f = cn_http_param(req, "f", 1), *missing = cn_http_param(req, "zz", 0);
    resp->content_type = "text/plain";
    cn_buf_printf(&resp->body, "path=[%s] query=[%s] a=[%s] b=[%s] f=[%s] missing=%s len=%zu", req->path, req->query,
                  a ? a : "(null)", b ? b : "(null)", f ? f : "(null)", missing ? "no" : "yes", req->body_len);
    return 0;
}

static int h_fail(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    (void)ctx, (void)req;
    cn_buf_puts(&resp->body, "disk \"x\" on fire");
    return -1;
}

static int h_redirect(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    (void)ctx, (void)req;
    resp->status = 303;
    snprintf(resp->location, sizeof resp->location, "/somewhere?x=1");
    return 0;
}

static int h_slow(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    (void)req;
    atomic_int *entered = ctx;
    atomic_fetch_add(entered, 1);
    sleep_ms(300);
    cn_buf_puts(&resp->body, "{\"slow\":true}");
    return 0;
}

static int h_count(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    atomic_int *n = ctx;
    int v = atomic_fetch_add(n, 1);
    /* use the request arena: each request gets its own */
    char *s = cn_arena_printf(req->arena, "{\"n\":%d}", v);
    cn_buf_puts(&resp->body, s);
    return 0;
}

static CnHttpServer *start(const CnHttpOpts *o) {
    CnHttpServer *s = NULL;
    CnErr err = CN_ERR_INIT;
    CnHttpOpts d = {0};
    ASSERT_OK(cn_http_server_new(o ? o : &d, &s, &err), &err);
    return s;
}

static void go(CnHttpServer *s) {
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_server_start(s, &err), &err);
    assert_true(cn_http_server_port(s) > 0);
}

/* ---- http.c ------------------------------------------------------------------------ */

static void routes_methods_and_404_405(void **state) {
    (void)state;
    CnHttpServer *s = start(NULL);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_route(s, "GET", "/health", h_text, "H", &err), &err);
    ASSERT_OK(cn_http_route(s, "POST", "/v1/x/", h_text, "X", &err), &err);
    ASSERT_OK(cn_http_route(s, NULL, "/any", h_text, "A", &err), &err);
    ASSERT_OK(cn_http_route(s, "GET", "/", h_text, "ROOT", &err), &err);
    go(s);
    int port = cn_http_server_port(s);
    Resp r;
    assert_int_equal(request(port, "GET", "/health", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "H GET /health");
    ASSERT_CONTAINS(r.head, "Content-Type: text/plain");
    resp_fini(&r);
    /* segment boundary: /healthz is not /health, so it falls to "/" */
    assert_int_equal(request(port, "GET", "/healthz", NULL, &r), 0);
    assert_string_equal(r.body.data, "ROOT GET /healthz");
    resp_fini(&r);
    assert_int_equal(request(port, "POST", "/v1/x/a/b.v1", "[]", &r), 0);
    assert_string_equal(r.body.data, "X POST /v1/x/a/b.v1");
    resp_fini(&r);
    /* a later route taking the method wins over an earlier one that does not */
    assert_int_equal(request(port, "GET", "/v1/x/a", NULL, &r), 0);
    assert_string_equal(r.body.data, "ROOT GET /v1/x/a");
    resp_fini(&r);
    assert_int_equal(request(port, "DELETE", "/any/thing", NULL, &r), 0);
    assert_string_equal(r.body.data, "A DELETE /any/thing");
    resp_fini(&r);
    /* HEAD on a GET route: headers only */
    assert_int_equal(request(port, "HEAD", "/health", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.head, "Content-Length: 14"); /* "H HEAD /health" */
    resp_fini(&r);
    cn_http_server_free(s);

    /* no catch-all: unknown paths are 404 */
    s = start(NULL);
    ASSERT_OK(cn_http_route(s, "GET", "/health", h_text, "H", &err), &err);
    ASSERT_OK(cn_http_route(s, "POST", "/v1/x/", h_text, "X", &err), &err);
    ASSERT_OK(cn_http_route(s, "PUT", "/v1/x/", h_text, "X", &err), &err);
    go(s);
    /* a path some route takes, but not with this method: 405 naming the allowed ones */
    assert_int_equal(request(cn_http_server_port(s), "GET", "/v1/x/a", NULL, &r), 0);
    assert_int_equal(r.status, 405);
    ASSERT_CONTAINS(r.head, "Allow: POST, PUT");
    ASSERT_CONTAINS(r.body.data, "{\"errors\":[\"method not allowed\"]}");
    resp_fini(&r);
    assert_int_equal(request(cn_http_server_port(s), "GET", "/nope", NULL, &r), 0);
    assert_int_equal(r.status, 404);
    ASSERT_CONTAINS(r.head, "Content-Type: application/json");
    ASSERT_CONTAINS(r.body.data, "no such path");
    resp_fini(&r);
    cn_http_server_free(s);
}

static void keep_alive_serves_many_requests_per_connection(void **state) {
    (void)state;
    atomic_int n = 0;
    CnHttpServer *s = start(NULL);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_route(s, "GET", "/c", h_count, &n, &err), &err);
    go(s);
    int fd = connect_to(cn_http_server_port(s));
    /* MHD closes the connection after each reply if it is queued on the first handler
     * call; 50 replies on one socket prove the server waits for the second call */
    for (int i = 0; i < 50; i++) {
        const char *q = "GET /c HTTP/1.1\r\nHost: t\r\n\r\n";
        send_all(fd, q, strlen(q));
        Resp r;
        if (read_resp(fd, &r) != 0) fail_msg("request %d on the kept-alive connection got no reply", i);
        assert_int_equal(r.status, 200);
        assert_null(find_ci(r.head, "Connection: close"));
        char want[32];
        snprintf(want, sizeof want, "{\"n\":%d}", i);
        assert_string_equal(r.body.data, want);
        resp_fini(&r);
    }
    /* a POST with a body on the same connection, then a GET again */
    const char *q = "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n[]GET /c HTTP/1.1\r\nHost: t\r\n\r\n";
    send_all(fd, q, strlen(q));
    Resp r;
    assert_int_equal(read_resp(fd, &r), 0);
    assert_int_equal(r.status, 405);
    resp_fini(&r);
    assert_int_equal(read_resp(fd, &r), 0);
    assert_string_equal(r.body.data, "{\"n\":50}");
    resp_fini(&r);
    close(fd);
    cn_http_server_free(s);
}

/* Replies n bytes of a repeating pattern, n from the query (?n=...), and says the body
 * length it got: a reply and a body of any size on one connection. */
static int h_sized(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    (void)ctx;
    const char *n_s = cn_http_param(req, "n", 0);
    size_t n = n_s ? (size_t)strtoull(n_s, NULL, 10) : 0;
    resp->content_type = "text/plain";
    cn_buf_printf(&resp->body, "got=%zu;", req->body_len);
    for (size_t i = 0; i < n; i++) cn_buf_putc(&resp->body, (char)('a' + i % 26));
    return 0;
}

/* The connection's request state (arena, body and reply buffers) is reused from one
 * request to the next: replies and bodies that grow, shrink and pass the 256 KiB keep
 * limit on one kept-alive connection each come back whole, with nothing of the last. */
static void connection_state_reused_across_sizes(void **state) {
    (void)state;
    CnHttpServer *s = start(NULL);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_route(s, "POST", "/sized", h_sized, NULL, &err), &err);
    go(s);
    int fd = connect_to(cn_http_server_port(s));
    static const size_t sizes[] = {10, 5000, 3, 400000, 0, 70000, 1, 300000, 17};
    for (size_t i = 0; i < CN_ARRAY_LEN(sizes); i++) {
        size_t reply_n = sizes[i], body_n = sizes[(i + 3) % CN_ARRAY_LEN(sizes)];
        char head[160];
        int hl = snprintf(head, sizeof head, "POST /sized?n=%zu HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
                          reply_n, body_n);
        char *body = cn_malloc(body_n + 1);
        memset(body, 'x', body_n);
        send_all(fd, head, (size_t)hl);
        send_all(fd, body, body_n);
        cn_free(body);
        Resp r;
        if (read_resp(fd, &r) != 0) fail_msg("request %zu on the kept-alive connection got no reply", i);
        assert_int_equal(r.status, 200);
        char want_head[32];
        int wl = snprintf(want_head, sizeof want_head, "got=%zu;", body_n);
        assert_int_equal(r.body.len, (size_t)wl + reply_n);
        assert_memory_equal(r.body.data, want_head, (size_t)wl);
        for (size_t k = 0; k < reply_n; k++)
            if (r.body.data[wl + k] != (char)('a' + k % 26)) fail_msg("reply %zu: byte %zu is wrong", i, k);
        resp_fini(&r);
    }
    close(fd);
    cn_http_server_free(s);
}

static void query_params_body_and_path_decoding(void **state) {
    (void)state;
    CnHttpServer *s = start(NULL);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_route(s, NULL, "/e", h_echo, NULL, &err), &err);
    go(s);
    int port = cn_http_server_port(s);
    Resp r;
    assert_int_equal(request(port, "GET", "/e/quickstart%2Ftraining_set.v2?a=1+2%26x&b=&c", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "path=[/e/quickstart/training_set.v2] query=[a=1+2%26x&b=&c] a=[1 2&x] b=[] "
                                     "f=[(null)] missing=yes len=0");
    resp_fini(&r);
    assert_int_equal(request(port, "POST", "/e?a=%zz", "f=caf%C3%A9&g=1", &r), 0);
    assert_string_equal(r.body.data, "path=[/e] query=[a=%zz] a=[%zz] b=[(null)] f=[caf\xc3\xa9] missing=yes len=15");
    resp_fini(&r);
    cn_http_server_free(s);
}

static void handler_errors_and_redirects(void **state) {
    (void)state;
    CnHttpServer *s = start(NULL);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_route(s, "GET", "/fail", h_fail, NULL, &err), &err);
    ASSERT_OK(cn_http_route(s, "GET", "/go", h_redirect, NULL, &err), &err);
    go(s);
    Resp r;
    assert_int_equal(request(cn_http_server_port(s), "GET", "/fail", NULL, &r), 0);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.body.data, "{\"errors\":[\"disk \\\"x\\\" on fire\"]}\n");
    resp_fini(&r);
    assert_int_equal(request(cn_http_server_port(s), "GET", "/go", NULL, &r), 0);
    assert_int_equal(r.status, 303);
    ASSERT_CONTAINS(r.head, "Location: /somewhere?x=1");
    resp_fini(&r);
    cn_http_server_free(s);
}

static void oversized_bodies_get_413_and_server_stays_up(void **state) {
    (void)state;
    atomic_int n = 0;
    CnHttpOpts o = {.max_body = 1024};
    CnHttpServer *s = start(&o);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_route(s, NULL, "/c", h_count, &n, &err), &err);
    go(s);
    int port = cn_http_server_port(s);
    char *big = cn_malloc(4001);
    memset(big, 'x', 4000);
    big[4000] = 0;
    Resp r;
    /* declared too large */
    assert_int_equal(request(port, "POST", "/c", big, &r), 0);
    assert_int_equal(r.status, 413);
    ASSERT_CONTAINS(r.body.data, "larger than the limit of 1024 bytes");
    resp_fini(&r);
    /* chunked, no length: found out while reading */
    int fd = connect_to(port);
    CnBuf q = CN_BUF_INIT;
    cn_buf_puts(&q, "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 4; i++) cn_buf_printf(&q, "%x\r\n%.*s\r\n", 1000, 1000, big);
    cn_buf_puts(&q, "0\r\n\r\n");
    send_all(fd, q.data, q.len);
    assert_int_equal(read_resp(fd, &r), 0);
    assert_int_equal(r.status, 413);
    resp_fini(&r);
    close(fd);
    cn_buf_fini(&q);
    /* exactly at the limit is fine; the handler never saw the refused ones */
    big[1024] = 0;
    assert_int_equal(request(port, "POST", "/c", big, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "{\"n\":0}");
    resp_fini(&r);
    /* garbage that is not HTTP: the server drops it and goes on */
    fd = connect_to(port);
    send_all(fd, "\x01\x02 nonsense\r\n\r\n", 15);
    Resp junk;
    read_resp(fd, &junk); /* 400 or a close, either is fine */
    resp_fini(&junk);
    close(fd);
    assert_int_equal(request(port, "GET", "/c", NULL, &r), 0);
    assert_string_equal(r.body.data, "{\"n\":1}");
    resp_fini(&r);
    cn_free(big);
    cn_http_server_free(s);
}

static void bind_errors_name_address_and_port(void **state) {
    (void)state;
    CnHttpServer *a = start(NULL);
    go(a);
    CnHttpOpts o = {.port = cn_http_server_port(a)};
    CnHttpServer *b = start(&o);
    CnErr err = CN_ERR_INIT;
    ASSERT_ERR(cn_http_server_start(b, &err), CN_EIO, &err);
    char want[64];
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1 port %d", o.port);
    ASSERT_CONTAINS(cn_err_msg(&err), want);
    cn_http_server_free(b);
    cn_http_server_free(a);

    CnHttpOpts bad = {.bind = "not-an-address"};
    CnHttpServer *c = start(&bad);
    cn_err_clear(&err);
    ASSERT_ERR(cn_http_server_start(c, &err), CN_EINVAL, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "bind address \"not-an-address\"");
    cn_http_server_free(c);

    CnHttpOpts port = {.port = 70000};
    CnHttpServer *d = NULL;
    cn_err_clear(&err);
    ASSERT_ERR(cn_http_server_new(&port, &d, &err), CN_EINVAL, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "port 70000 out of range");
    assert_null(d);
}

static void connection_limit_queues_extra_connections(void **state) {
    (void)state;
    atomic_int n = 0;
    CnHttpOpts o = {.max_connections = 3, .threads = 1};
    CnHttpServer *s = start(&o);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_route(s, "GET", "/c", h_count, &n, &err), &err);
    go(s);
    int port = cn_http_server_port(s);
    const char *q = "GET /c HTTP/1.1\r\nHost: t\r\n\r\n";
    int fds[3];
    for (int i = 0; i < 3; i++) { /* three kept-alive connections, each answered once */
        fds[i] = connect_to(port);
        send_all(fds[i], q, strlen(q));
        Resp r;
        assert_int_equal(read_resp(fds[i], &r), 0);
        resp_fini(&r);
    }
    /* the fourth waits in the listen backlog, unanswered while three are open ... */
    int extra = connect_to(port);
    struct timeval tv = {0, 300 * 1000};
    setsockopt(extra, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    send_all(extra, q, strlen(q));
    Resp r;
    assert_int_not_equal(read_resp(extra, &r), 0);
    resp_fini(&r);
    assert_int_equal(atomic_load(&n), 3);
    /* ... and is answered once one of them closes */
    close(fds[0]);
    tv.tv_sec = 10;
    tv.tv_usec = 0;
    setsockopt(extra, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(read_resp(extra, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "{\"n\":3}");
    resp_fini(&r);
    close(extra);
    close(fds[1]);
    close(fds[2]);
    cn_http_server_free(s);
}

/* The worker threads that answered, in order of first answer. */
typedef struct Workers {
    pthread_mutex_t mu;
    pthread_t id[8];
    int n;
} Workers;

static int h_worker(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    (void)req;
    Workers *w = ctx;
    pthread_mutex_lock(&w->mu);
    int i = 0;
    while (i < w->n && !pthread_equal(w->id[i], pthread_self())) i++;
    if (i == w->n && w->n < 8) w->id[w->n++] = pthread_self();
    pthread_mutex_unlock(&w->mu);
    cn_buf_printf(&resp->body, "%d", i);
    return 0;
}

/* Connections are spread over the workers by socket number: eight kept-alive
 * connections to two workers are answered by both, at least three each (a worker keeps
 * its connections, so each connection's second answer comes from the same worker). The
 * client sockets are made first, so that the server's accepted sockets (same process)
 * get consecutive numbers, as they do with clients in other processes. */
static void connections_spread_over_workers(void **state) {
    (void)state;
    Workers w = {.mu = PTHREAD_MUTEX_INITIALIZER};
    CnHttpOpts o = {.threads = 2};
    CnHttpServer *s = start(&o);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_route(s, "GET", "/w", h_worker, &w, &err), &err);
    go(s);
    const char *q = "GET /w HTTP/1.1\r\nHost: t\r\n\r\n";
    int fds[8], first[8], per[2] = {0, 0};
    for (int i = 0; i < 8; i++) assert_true((fds[i] = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    for (int i = 0; i < 8; i++) connect_fd(fds[i], cn_http_server_port(s));
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 8; i++) {
            send_all(fds[i], q, strlen(q));
            Resp r;
            assert_int_equal(read_resp(fds[i], &r), 0);
            assert_int_equal(r.status, 200);
            int k = atoi(r.body.data);
            assert_true(k == 0 || k == 1);
            if (round == 0) {
                first[i] = k;
                per[k]++;
            } else {
                assert_int_equal(k, first[i]);
            }
            resp_fini(&r);
        }
    assert_int_equal(w.n, 2);
    assert_true(per[0] >= 3 && per[1] >= 3);
    for (int i = 0; i < 8; i++) close(fds[i]);
    cn_http_server_free(s);
}

/* Request line and headers: about 7.5 KiB are read, 8 KiB and more get 431, and the
 * server answers the next connection. */
static void headers_past_8k_get_431(void **state) {
    (void)state;
    CnHttpServer *s = start(NULL);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_route(s, "GET", "/h", h_text, "H", &err), &err);
    go(s);
    const int sizes[] = {7000, 9000, 20000, 100};
    const int want[] = {200, 431, 431, 200};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        CnBuf q = CN_BUF_INIT;
        cn_buf_puts(&q, "GET /h HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Pad: ");
        for (int k = 0; k < sizes[i]; k++) cn_buf_putc(&q, 'a');
        cn_buf_puts(&q, "\r\n\r\n");
        int fd = connect_to(cn_http_server_port(s));
        send_all(fd, q.data, q.len);
        Resp r;
        assert_int_equal(read_resp_x(fd, &r, true), 0);
        if (r.status != want[i]) fail_msg("%d bytes of header: status %d, expected %d", sizes[i], r.status, want[i]);
        resp_fini(&r);
        close(fd);
        cn_buf_fini(&q);
    }
    cn_http_server_free(s);
}

static void binds_ipv6_loopback(void **state) {
    (void)state;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    if (probe < 0) cn_test_skip("no IPv6 sockets on this machine");
    close(probe);
    CnHttpOpts o = {.bind = "::1"};
    CnHttpServer *s = start(&o);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_route(s, "GET", "/health", h_text, "H", &err), &err);
    int rc = cn_http_server_start(s, &err);
    if (rc != 0 && strstr(cn_err_msg(&err), "Cannot assign")) {
        cn_http_server_free(s);
        cn_test_skip("IPv6 loopback ::1 is not configured");
    }
    ASSERT_OK(rc, &err);
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {0};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((uint16_t)cn_http_server_port(s));
    a.sin6_addr = in6addr_loopback;
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char *q = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    send_all(fd, q, strlen(q));
    Resp r;
    assert_int_equal(read_resp(fd, &r), 0);
    assert_string_equal(r.body.data, "H GET /health");
    resp_fini(&r);
    close(fd);
    cn_http_server_free(s);
}

typedef struct Hammer {
    int port, n;
    int ok;
} Hammer;

static void *hammer(void *p) {
    Hammer *h = p;
    int fd = connect_to(h->port);
    for (int i = 0; i < h->n; i++) {
        const char *q = "GET /c HTTP/1.1\r\nHost: t\r\n\r\n";
        send_all(fd, q, strlen(q));
        Resp r;
        if (read_resp(fd, &r) == 0 && r.status == 200) h->ok++;
        resp_fini(&r);
    }
    close(fd);
    return NULL;
}

static void concurrent_clients_all_answered(void **state) {
    (void)state;
    atomic_int n = 0;
    CnHttpOpts o = {.threads = 2};
    CnHttpServer *s = start(&o);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_route(s, "GET", "/c", h_count, &n, &err), &err);
    go(s);
    enum { T = 8, N = 200 };
    pthread_t th[T];
    Hammer hs[T];
    for (int i = 0; i < T; i++) {
        hs[i] = (Hammer){cn_http_server_port(s), N, 0};
        pthread_create(&th[i], NULL, hammer, &hs[i]);
    }
    int ok = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ok += hs[i].ok;
    }
    assert_int_equal(ok, T * N);
    assert_int_equal(atomic_load(&n), T * N);
    cn_http_server_free(s);
}

typedef struct SlowClient {
    int port;
    Resp r;
    int rc;
} SlowClient;

static void *slow_client(void *p) {
    SlowClient *c = p;
    c->rc = request(c->port, "GET", "/slow", NULL, &c->r);
    return NULL;
}

static void stop_finishes_requests_in_flight(void **state) {
    (void)state;
    atomic_int entered = 0;
    CnHttpServer *s = start(NULL);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_http_route(s, "GET", "/slow", h_slow, &entered, &err), &err);
    go(s);
    int port = cn_http_server_port(s);
    SlowClient c = {.port = port};
    pthread_t th;
    pthread_create(&th, NULL, slow_client, &c);
    while (atomic_load(&entered) == 0) sleep_ms(5);
    cn_http_server_free(s); /* while the handler sleeps */
    pthread_join(th, NULL);
    assert_int_equal(c.rc, 0);
    assert_int_equal(c.r.status, 200);
    assert_string_equal(c.r.body.data, "{\"slow\":true}");
    ASSERT_CONTAINS(c.r.head, "Connection: close");
    resp_fini(&c.r);
    /* and the port is closed */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
}

static void html_escape_covers_markup(void **state) {
    (void)state;
    CnBuf b = CN_BUF_INIT;
    assert_int_equal(cn_http_html_escape(&b, "<a href=\"x\">'&'</a>"), 0);
    assert_string_equal(b.data, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    cn_buf_fini(&b);
}

/* ---- api.c with a fake fetcher ------------------------------------------------------ */

typedef struct Fake {
    atomic_int calls;
    CnFetchKind last_kind;
    char last_name[128];
    int64_t last_ts;
} Fake;

/* Knows GroupBy "team/gb.v1" and Join "team/j.v1". Key {"user_id": "bad"} fails alone;
 * key {"user_id": "down"} fails the whole request as a store error. */
static int fake_fetch(void *ctx, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts, json_t **out,
                      CnErr *err) {
    Fake *f = ctx;
    atomic_fetch_add(&f->calls, 1);
    f->last_kind = kind;
    snprintf(f->last_name, sizeof f->last_name, "%s", name);
    f->last_ts = ts;
    if (strcmp(name, kind == CN_FETCH_JOIN ? "team/j.v1" : "team/gb.v1") != 0)
        return cn_err_set(err, CN_ENOTFOUND, "no metadata for %s; run metadata-upload", name);
    *out = json_array();
    for (size_t i = 0; i < json_array_size(keys); i++) {
        json_t *k = json_array_get(keys, i);
        const char *u = json_string_value(json_object_get(k, "user_id"));
        if (u && strcmp(u, "down") == 0) {
            json_decref(*out);
            *out = NULL;
            return cn_err_set(err, CN_EREMOTE, "redis://127.0.0.1:1: connection refused");
        }
        json_t *o = json_object();
        json_object_set(o, "keys", k);
        if (u && strcmp(u, "many") == 0) {
            /* doubles of every kind, for the text path's rewriting of 17-digit reals */
            json_t *v = json_object();
            uint64_t x = 0x9E3779B97F4A7C15ULL;
            for (int j = 0; j < 400; j++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                double d;
                switch (j % 4) {
                case 0: d = (double)(int64_t)(x % 2000000001) / 1000.0 - 1e6; break;
                case 1: d = (double)(x >> 11) / (double)(1ULL << 53) * 1000.0; break;
                case 2: d = (double)(int64_t)(x % 100000) / 3.0; break;
                default: memcpy(&d, &x, sizeof d);
                }
                char fname[16];
                snprintf(fname, sizeof fname, "f%03d", j);
                json_object_set_new(v, fname, isfinite(d) ? json_real(d) : json_integer((json_int_t)(x >> 1)));
            }
            json_object_set_new(o, "values", v);
        } else if (u && strcmp(u, "bad") == 0) {
            json_object_set_new(o, "error", json_string("Invalid key format: key \"user_id\" is \"bad\""));
        } else {
            json_t *v = json_object();
            json_object_set_new(v, "purchase_price_sum_3d", json_real(250.6));
            json_object_set_new(v, "purchase_price_count_3d", json_integer(3));
            json_object_set_new(v, "avg", json_real(12.0));
            json_object_set_new(v, "missing", json_null());
            json_object_set_new(v, "s", json_string("a\"b\n\x01\\")); /* ends in a backslash: its text closes after an even run of them */
            json_object_set_new(v, "list", json_pack("[ii]", 1, 2));
            json_object_set_new(o, "values", v);
        }
        json_array_append_new(*out, o);
    }
    return 0;
}

/* The fake's answer as the text fetcher gives it (cn_fetcher_fetch_text's contract);
 * a first key {"user_id": "tree"} is declined, as cn_fetcher_fetch_typed declines. */
static int fake_fetch_text(void *ctx, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts,
                           CnBuf *out, CnErr *err) {
    const char *u0 = json_string_value(json_object_get(json_array_get(keys, 0), "user_id"));
    if (u0 && strcmp(u0, "tree") == 0) return 1;
    json_t *ans = NULL;
    int rc = fake_fetch(ctx, kind, name, keys, ts, &ans, err);
    if (rc) return rc;
    char *t = json_dumps(ans, JSON_COMPACT | JSON_SORT_KEYS);
    cn_buf_puts(out, t);
    free(t);
    json_decref(ans);
    return 0;
}

typedef struct ApiFx {
    Fake fake;
    CnSrvApi *api;
    CnHttpServer *s;
    int port;
} ApiFx;

static int api_setup(void **state) {
    ApiFx *fx = cn_calloc(1, sizeof *fx);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_srv_api_new(fake_fetch, &fx->fake, &fx->api, &err), &err);
    fx->s = start(NULL);
    ASSERT_OK(cn_srv_api_mount(fx->api, fx->s, &err), &err);
    go(fx->s);
    fx->port = cn_http_server_port(fx->s);
    *state = fx;
    return 0;
}

static int api_teardown(void **state) {
    ApiFx *fx = *state;
    cn_http_server_free(fx->s);
    cn_srv_api_free(fx->api);
    cn_free(fx);
    return 0;
}

static void api_groupby_response_has_chronon_shape(void **state) {
    ApiFx *fx = *state;
    Resp r;
    assert_int_equal(request(fx->port, "POST", "/v1/features/groupby/team%2Fgb.v1",
                             "[{\"user_id\":\"5\"},{\"user_id\":\"bad\"}]", &r), 0);
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.head, "Content-Type: application/json");
    assert_string_equal(r.body.data,
                        "{\"results\":[{\"status\":\"Success\",\"entityKeys\":{\"user_id\":\"5\"},\"features\":{"
                        "\"purchase_price_sum_3d\":250.6,\"purchase_price_count_3d\":3,\"avg\":12.0,\"missing\":null,"
                        "\"s\":\"a\\\"b\\n\\u0001\\\\\",\"list\":[1,2]}},"
                        "{\"status\":\"Failure\",\"entityKeys\":{\"user_id\":\"bad\"},"
                        "\"error\":\"Invalid key format: key \\\"user_id\\\" is \\\"bad\\\"\"}]}\n");
    resp_fini(&r);
    assert_int_equal(fx->fake.last_kind, CN_FETCH_GROUPBY);
    assert_string_equal(fx->fake.last_name, "team/gb.v1");
    assert_true(fx->fake.last_ts == CN_FETCH_NOW);
    /* the body parses as JSON */
    assert_int_equal(request(fx->port, "POST", "/v1/features/join/team/j.v1?ts=1700000000123", "[{\"user_id\":5}]", &r),
                     0);
    assert_int_equal(r.status, 200);
    json_error_t je;
    json_t *v = json_loads(r.body.data, 0, &je);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(v, "results"), 0), "status")),
                        "Success");
    json_decref(v);
    resp_fini(&r);
    assert_int_equal(fx->fake.last_kind, CN_FETCH_JOIN);
    assert_true(fx->fake.last_ts == 1700000000123LL);
    /* an empty array is an empty answer */
    assert_int_equal(request(fx->port, "POST", "/v1/features/join/team/j.v1", "[]", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "{\"results\":[]}\n");
    resp_fini(&r);
}

/* The text path answers what the tree path answers: the same results (keys sorted, as
 * the text fetcher sorts them), doubles in the same shortest form, the same errors. */
static void api_text_fetch_answers_as_the_tree_fetch(void **state) {
    ApiFx *fx = *state; /* the tree path */
    Fake fake = {0};
    CnErr err = CN_ERR_INIT;
    CnSrvApi *api = NULL;
    ASSERT_OK(cn_srv_api_new(fake_fetch, &fake, &api, &err), &err);
    cn_srv_api_set_text_fetch(api, fake_fetch_text);
    CnHttpServer *s = start(NULL);
    ASSERT_OK(cn_srv_api_mount(api, s, &err), &err);
    go(s);
    int port = cn_http_server_port(s);
    Resp r;
    assert_int_equal(request(port, "POST", "/v1/features/groupby/team/gb.v1",
                             "[{\"user_id\":\"5\"},{\"user_id\":\"bad\"}]", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data,
                        "{\"results\":[{\"status\":\"Success\",\"entityKeys\":{\"user_id\":\"5\"},\"features\":{"
                        "\"avg\":12.0,\"list\":[1,2],\"missing\":null,\"purchase_price_count_3d\":3,"
                        "\"purchase_price_sum_3d\":250.6,\"s\":\"a\\\"b\\n\\u0001\\\\\"}},"
                        "{\"status\":\"Failure\",\"entityKeys\":{\"user_id\":\"bad\"},"
                        "\"error\":\"Invalid key format: key \\\"user_id\\\" is \\\"bad\\\"\"}]}\n");
    resp_fini(&r);
    /* a declined request is answered by the tree fetch: its key order, not the sorted one */
    assert_int_equal(request(port, "POST", "/v1/features/groupby/team/gb.v1", "[{\"user_id\":\"tree\"}]", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data,
                        "{\"results\":[{\"status\":\"Success\",\"entityKeys\":{\"user_id\":\"tree\"},\"features\":{"
                        "\"purchase_price_sum_3d\":250.6,\"purchase_price_count_3d\":3,\"avg\":12.0,\"missing\":null,"
                        "\"s\":\"a\\\"b\\n\\u0001\\\\\",\"list\":[1,2]}}]}\n");
    resp_fini(&r);
    static const char *const bodies[] = {
        "[{\"user_id\":\"many\"}]", "[]", "[{\"user_id\":\"5\"},{\"user_id\":\"many\"},{\"user_id\":\"bad\"}]",
        "[{\"user_id\":\"down\"}]", "[{\"user_id\":\"5\",\"x\":\"\\u00e9\"}]",
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(bodies); i++) {
        Resp t, j;
        assert_int_equal(request(port, "POST", "/v1/features/join/team/j.v1", bodies[i], &t), 0);
        assert_int_equal(request(fx->port, "POST", "/v1/features/join/team/j.v1", bodies[i], &j), 0);
        assert_int_equal(t.status, j.status);
        json_error_t je;
        json_t *tv = json_loads(t.body.data, 0, &je), *jv = json_loads(j.body.data, 0, &je);
        assert_non_null(tv);
        assert_non_null(jv);
        if (!json_equal(tv, jv)) fail_msg("body %s: text path %s, tree path %s", bodies[i], t.body.data, j.body.data);
        /* the same texts in another order: as long (no 17-digit doubles left) */
        assert_int_equal(t.body.len, j.body.len);
        json_decref(tv);
        json_decref(jv);
        resp_fini(&t);
        resp_fini(&j);
    }
    cn_http_server_free(s);
    cn_srv_api_free(api);
}

static void api_bad_requests_say_what_is_wrong(void **state) {
    ApiFx *fx = *state;
    static const struct {
        const char *path, *body;
        int status;
        const char *msg;
    } cases[] = {
        {"/v1/features/groupby/team/gb.v1", "[{\"user_id\": 1", 400, "invalid JSON at line 1"},
        {"/v1/features/groupby/team/gb.v1", "{\"user_id\": 1}", 400, "expected a JSON array of key maps"},
        {"/v1/features/groupby/team/gb.v1", "[{\"user_id\": 1}, 7]", 400, "element 1 is integer"},
        {"/v1/features/groupby/team/gb.v1", "", 400, "request body is empty"},
        {"/v1/features/groupby/team/gb.v1?ts=yesterday", "[]", 400, "ts: invalid value 'yesterday'"},
        {"/v1/features/groupby/", "[]", 400, "missing the groupby name"},
        {"/v1/features/groupby/team/..%2F..%2Fetc%2Fpasswd", "[]", 400, "is not a valid name"},
        {"/v1/features/join/%2Fetc%2Fpasswd", "[]", 400, "join name '/etc/passwd' is not a valid name"},
        {"/v1/features/join/a%0Ab", "[]", 400, "is not a valid name"},
        {"/v1/features/groupby/team/nope.v1", "[{\"user_id\": 1}]", 404, "no metadata for team/nope.v1"},
        {"/v1/features/join/team/gb.v1", "[{\"user_id\": 1}]", 404, "join team/gb.v1"},
        {"/v1/features/join/team/j.v1", "[{\"user_id\": \"down\"}]", 500, "connection refused"},
    };
    int calls0 = atomic_load(&fx->fake.calls);
    int fetches = 0;
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        Resp r;
        assert_int_equal(request(fx->port, "POST", cases[i].path, cases[i].body, &r), 0);
        if (r.status != cases[i].status || !strstr(r.body.data, cases[i].msg))
            fail_msg("case %zu %s: got %d %s, want %d with \"%s\"", i, cases[i].path, r.status, r.body.data,
                     cases[i].status, cases[i].msg);
        ASSERT_CONTAINS(r.body.data, "{\"errors\":[\"");
        if (cases[i].status != 400) fetches++;
        resp_fini(&r);
    }
    /* 400s are decided before any fetch */
    assert_int_equal(atomic_load(&fx->fake.calls) - calls0, fetches);
    /* and the server is still up */
    Resp r;
    assert_int_equal(request(fx->port, "GET", "/health", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.body.data, "\"status\":\"ok\"");
    resp_fini(&r);
    assert_int_equal(request(fx->port, "GET", "/v1/features/join/team/j.v1", NULL, &r), 0);
    assert_int_equal(r.status, 405);
    resp_fini(&r);
}

/* Every allocation of the server failing from the k-th on, for each k: a request gets a
 * whole 200, a 5xx or a closed connection, never a torn 200, and the next request with
 * memory back is answered in full. */
static void api_survives_allocation_failures(void **state) {
    ApiFx *fx = *state;
    const char *body = "[{\"user_id\":\"5\"}]";
    Resp want;
    assert_int_equal(request(fx->port, "POST", "/v1/features/groupby/team/gb.v1", body, &want), 0);
    assert_int_equal(want.status, 200);
    char q[256];
    snprintf(q, sizeof q,
             "POST /v1/features/groupby/team/gb.v1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    int n_failed = 0, n_ok = 0;
    for (int k = 0; k < 40; k++) {
        int fd = connect_to(fx->port);
        /* from here on the client allocates nothing, so every failure is the server's */
        char v[32];
        snprintf(v, sizeof v, "%llu", (unsigned long long)(cn_alloc_count() + (uint64_t)k));
        setenv("CN_TEST_FAIL_ALLOC_AFTER", v, 1);
        cn_alloc_reset_fault();
        send_all(fd, q, strlen(q));
        static char got[16384];
        size_t len = 0;
        ssize_t n;
        while (len < sizeof got - 1 && (n = recv(fd, got + len, sizeof got - 1 - len, 0)) > 0) len += (size_t)n;
        got[len] = 0;
        unsetenv("CN_TEST_FAIL_ALLOC_AFTER");
        cn_alloc_reset_fault();
        close(fd);
        int status = 0;
        sscanf(got, "HTTP/1.1 %d", &status);
        const char *b = strstr(got, "\r\n\r\n");
        if (status == 200) {
            assert_non_null(b);
            assert_string_equal(b + 4, want.body.data); /* whole, never torn */
            n_ok++;
        } else {
            if (len) assert_true(status == 500 || status == 503);
            n_failed++;
        }
        Resp ok;
        assert_int_equal(request(fx->port, "POST", "/v1/features/groupby/team/gb.v1", body, &ok), 0);
        assert_string_equal(ok.body.data, want.body.data);
        resp_fini(&ok);
    }
    /* the injection reached the server, and past its last allocation requests succeed */
    assert_true(n_failed > 0);
    assert_true(n_ok > 0);
    resp_fini(&want);
}

/* The value of the metric line starting with prefix (-1 when absent). */
static double metric(const char *text, const char *prefix) {
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
    return -1;
}

static void api_metrics_count_requests_keys_and_kv_errors(void **state) {
    ApiFx *fx = *state;
    Resp r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(request(fx->port, "POST", "/v1/features/groupby/team/gb.v1",
                                 "[{\"user_id\":\"1\"},{\"user_id\":\"bad\"}]", &r), 0);
        resp_fini(&r);
    }
    assert_int_equal(request(fx->port, "POST", "/v1/features/groupby/team/gb.v1", "nope", &r), 0);
    resp_fini(&r);
    assert_int_equal(request(fx->port, "POST", "/v1/features/join/team/j.v1", "[{\"user_id\":\"down\"}]", &r), 0);
    resp_fini(&r);
    assert_int_equal(request(fx->port, "GET", "/nowhere", NULL, &r), 0);
    resp_fini(&r);
    assert_int_equal(request(fx->port, "GET", "/ping", NULL, &r), 0);
    assert_string_equal(r.body.data, "\"Pong!\"");
    resp_fini(&r);
    assert_int_equal(request(fx->port, "GET", "/metrics", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.head, "Content-Type: text/plain; version=0.0.4");
    const char *m = r.body.data;
    assert_true(metric(m, "chronon_http_requests_total{route=\"/v1/features/groupby/\",method=\"POST\",status=\"200\"}") == 3);
    assert_true(metric(m, "chronon_http_requests_total{route=\"/v1/features/groupby/\",method=\"POST\",status=\"400\"}") == 1);
    assert_true(metric(m, "chronon_http_requests_total{route=\"/v1/features/join/\",method=\"POST\",status=\"500\"}") == 1);
    assert_true(metric(m, "chronon_http_requests_total{route=\"none\",method=\"GET\",status=\"404\"}") == 1);
    assert_true(metric(m, "chronon_http_requests_total{route=\"/ping\",method=\"GET\",status=\"200\"}") == 1);
    assert_true(metric(m, "chronon_fetch_keys_total{kind=\"groupby\",status=\"Success\"}") == 3);
    assert_true(metric(m, "chronon_fetch_keys_total{kind=\"groupby\",status=\"Failure\"}") == 3);
    assert_true(metric(m, "chronon_fetch_requests_total{kind=\"groupby\",result=\"bad_request\"}") == 1);
    assert_true(metric(m, "chronon_fetch_requests_total{kind=\"join\",result=\"error\"}") == 1);
    assert_true(metric(m, "chronon_kv_errors_total") == 1);
    /* histogram: cumulative buckets end at the count */
    assert_true(metric(m, "chronon_http_request_duration_seconds_bucket{route=\"/v1/features/groupby/\",le=\"+Inf\"}") == 4);
    assert_true(metric(m, "chronon_http_request_duration_seconds_count{route=\"/v1/features/groupby/\"}") == 4);
    assert_true(metric(m, "chronon_http_request_duration_seconds_sum{route=\"/v1/features/groupby/\"}") > 0);
    ASSERT_CONTAINS(m, "# TYPE chronon_http_request_duration_seconds histogram");
    resp_fini(&r);
    /* the /metrics request itself shows up on the next scrape */
    assert_int_equal(request(fx->port, "GET", "/metrics", NULL, &r), 0);
    assert_true(metric(r.body.data, "chronon_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}") == 1);
    resp_fini(&r);
}

static void json_writer_numbers_and_strings(void **state) {
    (void)state;
    json_t *v = json_pack("{s:f,s:f,s:f,s:I,s:s,s:b,s:n}", "a", 0.1, "b", 1e21, "c", -3.0, "e",
                          (json_int_t)-9007199254740993LL, "f", "\xc3\xa9\t/", "g", 1, "h");
    CnBuf b = CN_BUF_INIT;
    cn_srv_json_write(&b, v);
    assert_string_equal(b.data, "{\"a\":0.1,\"b\":1e+21,\"c\":-3.0,\"e\":-9007199254740993,\"f\":\"\xc3\xa9\\t/\","
                                "\"g\":true,\"h\":null}");
    /* round trip through jansson */
    json_error_t je;
    json_t *back = json_loads(b.data, 0, &je);
    assert_non_null(back);
    assert_true(json_real_value(json_object_get(back, "a")) == 0.1);
    json_decref(back);
    json_decref(v);
    cn_buf_fini(&b);
}

/* The reference: shortest of %.15g..%.17g that reads back (what `run --mode fetch` prints). */
static void ref_real(char *out, size_t n, double d) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, d);
        if (strtod(out, NULL) == d) break;
    }
    if (!strpbrk(out, ".eE")) strcat(out, ".0");
}

static void json_writer_doubles_read_back_exactly(void **state) {
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    int same_text = 0;
    for (int i = 0; i < 40000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: fixed seed, same values every run */
        double d;
        switch (i % 4) {
        case 0: d = (double)(int64_t)(x % 2000000001) / 1000.0 - 1e6; break; /* money-like */
        case 1: d = (double)(x >> 11) / (double)(1ULL << 53) * 1000.0; break; /* 16-17 digits */
        case 2: d = (double)(int64_t)(x % 100000) / 3.0; break;
        default: {
            memcpy(&d, &x, sizeof d); /* any bit pattern */
            if (!isfinite(d)) continue;
        }
        }
        json_t *v = json_real(d);
        CnBuf b = CN_BUF_INIT;
        cn_srv_json_write(&b, v);
        json_decref(v);
        if (strtod(b.data, NULL) != d) fail_msg("%.17g written as %s, which reads back as %.17g", d, b.data,
                                                strtod(b.data, NULL));
        char ref[64];
        ref_real(ref, sizeof ref, d);
        /* as short as the reference, and the same text whenever the reference has no
         * exponent and at most 15 digits (then the shortest form is unique) */
        if (strlen(b.data) > strlen(ref) && !strpbrk(ref, "eE"))
            fail_msg("%.17g written as %s, longer than %s", d, b.data, ref);
        if (!strpbrk(ref, "eE") && strcmp(ref, b.data) != 0) {
            char r15[64];
            snprintf(r15, sizeof r15, "%.15g", d);
            if (strtod(r15, NULL) == d) fail_msg("%.17g written as %s, expected %s", d, b.data, ref);
        } else {
            same_text++;
        }
        cn_buf_fini(&b);
    }
    assert_true(same_text > 20000);
}

/* The first and last doubles of binades (where the gap below is half the gap above),
 * neighbours of short decimals and of halfway points: the text reads back as the same
 * double and is never longer than the printf search's. */
static void json_real_text_edges(void **state) {
    (void)state;
    int n_checked = 0;
    for (int e = -14; e <= 50; e++) {
        double base = ldexp(1.0, e);
        double cand[] = {base, nextafter(base, 0), nextafter(base, INFINITY), base * 1.5, 0.1 * base, 0.3 * base};
        for (size_t c = 0; c < sizeof cand / sizeof *cand; c++) {
            for (int sign = 0; sign < 2; sign++) {
                double d = sign ? -cand[c] : cand[c];
                char t[CN_JSON_REAL_MAX + 1], ref[64];
                size_t n = cn_json_real_text(d, t);
                t[n] = 0;
                ref_real(ref, sizeof ref, d);
                if (strtod(t, NULL) != d) fail_msg("%a written as %s, which reads back as %a", d, t, strtod(t, NULL));
                if (n > strlen(ref)) fail_msg("%a written as %s, longer than %s", d, t, ref);
                n_checked++;
            }
        }
    }
    /* short decimals and their neighbours */
    for (long long i = 1; i < 200000; i += 7) {
        double d = (double)i / 1000.0;
        double cand[] = {d, nextafter(d, 0), nextafter(d, INFINITY)};
        for (size_t c = 0; c < 3; c++) {
            char t[CN_JSON_REAL_MAX + 1], ref[64];
            size_t n = cn_json_real_text(cand[c], t);
            t[n] = 0;
            ref_real(ref, sizeof ref, cand[c]);
            if (strtod(t, NULL) != cand[c] || n > strlen(ref))
                fail_msg("%a written as %s (the printf search writes %s)", cand[c], t, ref);
            if (c == 0) assert_true(strcmp(t, ref) == 0); /* i / 1000 prints as the short decimal */
            n_checked++;
        }
    }
    char t[CN_JSON_REAL_MAX + 1];
    t[cn_json_real_text(NAN, t)] = 0;
    assert_string_equal(t, "null");
    t[cn_json_real_text(-0.0, t)] = 0;
    assert_string_equal(t, "-0.0");
    t[cn_json_real_text(1e15, t)] = 0;
    assert_string_equal(t, "1e+15");
    t[cn_json_real_text(123456789012345.0, t)] = 0;
    assert_string_equal(t, "123456789012345.0");
    t[cn_json_real_text(0.0001, t)] = 0;
    assert_string_equal(t, "0.0001");
    assert_true(n_checked > 80000);
}

/* The number parser rounds as strtod does: texts of 1 to 19 digits from random
 * doubles, halfway points between neighbouring doubles (written with 17..25 digits, so
 * the exact-double-rounding check and strtod's own path both run), exponents,
 * leading zeros and signs. */
static void json_real_parse_equals_strtod(void **state) {
    (void)state;
    uint64_t x = 0x2545F4914F6CDD1DULL;
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (i % 3) d = ldexp((double)(x >> 11), (int)(x % 80) - 100); /* the usual range */
        if (!isfinite(d)) continue;
        char txt[96];
        int n;
        switch (i % 4) {
        case 0: n = snprintf(txt, sizeof txt, "%.17g", d); break;
        case 1: n = snprintf(txt, sizeof txt, "%.*g", 1 + (int)(x % 19), d); break;
        case 2: { /* halfway between d and the next double up, exactly or nearly */
            long double h = ((long double)d + (long double)nextafter(d, INFINITY)) / 2;
            n = snprintf(txt, sizeof txt, "%.*Lg", 17 + (int)(x % 9), h);
            break;
        }
        default: n = snprintf(txt, sizeof txt, "%.*e", (int)(x % 18), d); break;
        }
        double got = cn_json_real_parse(txt, (size_t)n), want = strtod(txt, NULL);
        if (memcmp(&got, &want, sizeof got) != 0) fail_msg("%s parsed as %a, strtod gives %a", txt, got, want);
    }
    static const char *const fixed[] = {"0.0", "-0.0", "0.000123", "250.59999999999999", "1e21", "1E-5", "-1.5e+3",
                                        "00012.5", "9007199254740993", "18446744073709551615", "0.1"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        double got = cn_json_real_parse(fixed[i], strlen(fixed[i])), want = strtod(fixed[i], NULL);
        if (memcmp(&got, &want, sizeof got) != 0) fail_msg("%s parsed as %a, strtod gives %a", fixed[i], got, want);
    }
}

/* Strings of every length around the 8-byte word steps, with a byte that needs an
 * escape (or a harmless one) at every position: the written JSON reads back as the
 * same bytes, and plain strings are copied as they are. */
static void json_writer_escapes_at_every_position(void **state) {
    (void)state;
    static const char specials[] = {'"', '\\', '\n', 0x01, 0x1f, 0x7f, ' ', '/', (char)0xc3};
    char str[40];
    for (size_t n = 1; n < sizeof str; n++) {
        for (size_t at = 0; at < n; at++) {
            for (size_t k = 0; k < sizeof specials; k++) {
                for (size_t i = 0; i < n; i++) str[i] = (char)('a' + (i % 26));
                str[at] = specials[k];
                if (specials[k] == (char)0xc3) { /* a whole UTF-8 sequence, é */
                    if (at + 1 >= n) continue;
                    str[at + 1] = (char)0xa9;
                }
                json_t *v = json_stringn(str, n);
                assert_non_null(v);
                CnBuf b = CN_BUF_INIT;
                cn_srv_json_write(&b, v);
                json_error_t je;
                json_t *back = json_loads(b.data, JSON_DECODE_ANY, &je);
                if (!back || json_string_length(back) != n || memcmp(json_string_value(back), str, n) != 0)
                    fail_msg("string of %zu bytes with 0x%02x at %zu written as %s", n, (unsigned char)specials[k], at,
                             b.data);
                if ((unsigned char)specials[k] >= 0x20 && specials[k] != '"' && specials[k] != '\\')
                    assert_int_equal(b.len, n + 2); /* nothing escaped */
                json_decref(back);
                json_decref(v);
                cn_buf_fini(&b);
            }
        }
    }
}

/* ---- the body parser ------------------------------------------------------------- */

/* What jansson's loader makes of body, as compact text in key order; NULL when it refuses. */
static char *jansson_text(const char *body, size_t len) {
    json_error_t je;
    json_t *v = json_loadb(body, len, 0, &je);
    char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    return t;
}

/* The hand parser either declines or makes exactly what jansson makes; a body jansson
 * refuses is always declined (so its error message is jansson's). */
static bool keys_parse_agrees(const char *body, size_t len) {
    json_t *mine = NULL;
    int rc = cn_srv_keys_parse(body, len, &mine);
    char *want = jansson_text(body, len);
    if (rc != 0) {
        assert_null(mine);
        free(want);
        return false;
    }
    assert_non_null(mine);
    char *got = json_dumps(mine, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!want || strcmp(got, want) != 0)
        fail_msg("body '%.*s': hand parser made %s, jansson %s", (int)len, body, got, want ? want : "an error");
    free(got);
    free(want);
    json_decref(mine);
    return true;
}

static void keys_parser_takes_the_common_shape(void **state) {
    (void)state;
    static const char *const taken[] = {
        "[{\"user_id\":\"5\"}]", " [ { \"user_id\" : \"5\" } ] \n", "[]", "[{}]", "[{\"user_id\":5}]",
        "[{\"a\":\"x\",\"b\":-12,\"c\":\"\"},{\"a\":\"y\"}]", "[{\"a\":\"1\",\"a\":\"2\"}]", "[{\"a\":-0}]",
        "\t[{\"user_id\":\"123456789012345678\"}]\r\n", "[{\"n\":123456789012345678}]",
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(taken); i++)
        if (!keys_parse_agrees(taken[i], strlen(taken[i]))) fail_msg("declined the common body %s", taken[i]);
    /* valid JSON outside the common shape, and invalid bodies: declined */
    static const char *const declined[] = {
        "[{\"a\":\"\\u0041\"}]", "[{\"a\":\"\xc3\xa9\"}]", "[{\"a\":1.5}]", "[{\"a\":1e3}]", "[{\"a\":null}]",
        "[{\"a\":true}]", "[{\"a\":[1]}]", "[{\"a\":1234567890123456789}]", "{\"a\":\"1\"}", "[1]", "[{\"a\":05}]",
        "[{\"a\":\"1\"}", "[{\"a\":\"1\"},]", "[{\"a\":\"1\",}]", "[{\"a\" \"1\"}]", "[{\"a\":\"1\"}] x", "",
        "[{\"a\":\"1\x01\"}]", "[{\"a\":-}]", "[{a:1}]",
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(declined); i++)
        if (keys_parse_agrees(declined[i], strlen(declined[i]))) fail_msg("took the body %s", declined[i]);
}

static uint64_t xorshift(uint64_t *x) {
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

/* Random bodies from JSON-ish pieces, and byte mutations of valid ones: the parser
 * agrees with jansson on every one (fixed seed: the same bodies every run). */
static void keys_parser_fuzzed_against_jansson(void **state) {
    (void)state;
    static const char *const pieces[] = {
        "[", "]", "{", "}", ",", ":", " ", "\n", "\"user_id\"", "\"5\"", "\"\"", "123", "-7", "0", "-0", "05",
        "1.5", "2e3", "\"a\\\"b\"", "\"\xc3\xa9\"", "null", "true", "\"\x01\"", "\"x", "-", "99999999999999999999",
        "[{\"k\":\"v\"}]", "{\"k\":1}", "\"k\":\"v\"", ",{", "}]",
    };
    uint64_t x = 0x2545F4914F6CDD1DULL;
    char body[512];
    int taken = 0, n = 0;
    for (int i = 0; i < 30000; i++) {
        size_t len = 0;
        if (i % 2 == 0) {
            size_t k = 1 + xorshift(&x) % 14;
            for (size_t j = 0; j < k; j++) {
                const char *p = pieces[xorshift(&x) % CN_ARRAY_LEN(pieces)];
                size_t pl = strlen(p);
                if (len + pl >= sizeof body) break;
                memcpy(body + len, p, pl);
                len += pl;
            }
        } else {
            /* a valid body of 1-3 key maps, then 0-2 byte edits */
            unsigned user = (unsigned)(xorshift(&x) % 1000);
            int num = (int)(xorshift(&x) % 2001) - 1000;
            len = (size_t)snprintf(body, sizeof body, "[{\"user_id\":\"%u\",\"n\":%d}", user, num);
            for (int m = (int)(xorshift(&x) % 3); m > 0; m--)
                len += (size_t)snprintf(body + len, sizeof body - len, ",{\"k%d\":\"v\"}", m);
            body[len++] = ']';
            for (int e = (int)(xorshift(&x) % 3); e > 0 && len > 0; e--) {
                size_t at = xorshift(&x) % len;
                switch (xorshift(&x) % 3) {
                case 0: memmove(body + at, body + at + 1, len - at - 1), len--; break; /* delete */
                case 1: body[at] = (char)(xorshift(&x) % 256); break;                      /* replace */
                default:                                                              /* insert */
                    if (len + 1 < sizeof body) {
                        memmove(body + at + 1, body + at, len - at);
                        body[at] = "[]{},:\" 0-\\"[xorshift(&x) % 11];
                        len++;
                    }
                }
            }
        }
        taken += keys_parse_agrees(body, len);
        n++;
    }
    /* the fast path is really taken, and not for everything */
    assert_true(taken > n / 10);
    assert_true(taken < n);
}

CN_TEST_MAIN(cmocka_unit_test(routes_methods_and_404_405),
             cmocka_unit_test(keep_alive_serves_many_requests_per_connection),
             cmocka_unit_test(connection_state_reused_across_sizes),
             cmocka_unit_test(query_params_body_and_path_decoding),
             cmocka_unit_test(handler_errors_and_redirects),
             cmocka_unit_test(oversized_bodies_get_413_and_server_stays_up),
             cmocka_unit_test(bind_errors_name_address_and_port),
             cmocka_unit_test(concurrent_clients_all_answered),
             cmocka_unit_test(connection_limit_queues_extra_connections),
             cmocka_unit_test(connections_spread_over_workers),
             cmocka_unit_test(headers_past_8k_get_431),
             cmocka_unit_test(binds_ipv6_loopback),
             cmocka_unit_test(stop_finishes_requests_in_flight),
             cmocka_unit_test(html_escape_covers_markup),
             cmocka_unit_test_setup_teardown(api_groupby_response_has_chronon_shape, api_setup, api_teardown),
             cmocka_unit_test_setup_teardown(api_bad_requests_say_what_is_wrong, api_setup, api_teardown),
             cmocka_unit_test_setup_teardown(api_text_fetch_answers_as_the_tree_fetch, api_setup, api_teardown),
             cmocka_unit_test_setup_teardown(api_metrics_count_requests_keys_and_kv_errors, api_setup, api_teardown),
             cmocka_unit_test_setup_teardown(api_survives_allocation_failures, api_setup, api_teardown),
             cmocka_unit_test(json_writer_numbers_and_strings),
             cmocka_unit_test(json_writer_doubles_read_back_exactly),
             cmocka_unit_test(json_real_text_edges),
             cmocka_unit_test(json_real_parse_equals_strtod),
             cmocka_unit_test(json_writer_escapes_at_every_position),
             cmocka_unit_test(keys_parser_takes_the_common_shape),
             cmocka_unit_test(keys_parser_fuzzed_against_jansson))
