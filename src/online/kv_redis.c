/* kv_redis.c: the Redis backend, `redis://[user[:password]@]host[:port][/db][?prefix=P]`
 * over hiredis 0.14 (RESP2, no TLS: `rediss://` stays "not built").
 *
 * Layout (P is the optional key prefix from the URI, default empty):
 *   P<dataset>@current    the dataset's current version (decimal): the pointer
 *   P<dataset>@<version>  HASH of that version's pairs (field = key, value = value)
 *   P@datasets            SET of dataset names (dataset_list)
 *   P@next_version        INCR counter handing out versions, unique in the store
 *   P<dataset>@versions   SET of the versions loads began (members are decimal), so the
 *                         clean-up after a flip finds what crashed loads left
 * One hash per version, rather than one string key per pair under a
 * "<dataset>@<version>:" prefix: dropping a version is one UNLINK (freed by the server
 * in the background) instead of a SCAN of the whole keyspace per load commit, which
 * made each commit cost O(all keys in the database) (measured: the contract's random
 * workload, ~300 loads, took 464 s that way and takes seconds this way). A hash
 * also spends less memory per pair than a top-level key. The price: one version lives
 * on one server, which the scripts below require anyway.
 *
 * A multi-get runs no script (a script per read cost +45-68% over a plain MGET): it
 * remembers the version it last saw current and sends, in one pipeline, HMGET of that
 * version's hash and GET of the pointer; the pointer being unchanged proves the values
 * are that version's (see redis_multi_get). After a flip, a reader pays one more round
 * trip, once. Writes are atomic through Lua scripts (EVALSHA; EVAL again after
 * NOSCRIPT, e.g. when the server restarted). A put or delete resolves the pointer and
 * writes in one script (atomic per call, like the embedded backends). A load writes
 * its version's hash with pipelined HSETs (nobody reads it yet), then one script
 * checks for a newer committed load (CN_ECONFLICT), sets the pointer and UNLINKs the
 * previous version; versions left by crashed or concurrent loads are found in
 * P<dataset>@versions (SADDed by load_begin before the first HSET) and UNLINKed. (A SCAN
 * MATCH for them walked the whole keyspace at every commit: 1.2 s of a 1.5 s load of
 * 200k keys in bench_stores, with 200k unrelated keys in the database.)
 * Scripts build key names at run time, so this needs a standalone Redis (or one
 * shard), not Redis Cluster.
 *
 * Connections: a small locked pool; a call takes an idle connection or opens one
 * (connect_timeout_ms, then AUTH and SELECT), and gives it back when healthy. Every
 * call here is idempotent (HSET, HMGET, the scripts; a retried INCR only skips a
 * version number), so a transport failure drops the pool (the server may have
 * restarted) and the call is retried `retries` times after retry_backoff_ms, doubling.
 * Error replies are not retried, except LOADING/BUSY/TRYAGAIN. */
#include "base/compat.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/str.h"
#include "online/kv_int.h"
#include "online/kv_vercache.h"

enum { SC_PUT, SC_DEL, SC_CREATE, SC_DROP, SC_FLIP, SC_N };

/* ARGV[1] is P<dataset> for PUT/DEL; P and <dataset> apart for the others. */
static const char *const SCRIPTS[SC_N] = {
    [SC_PUT] =
        "local v = redis.call('GET', ARGV[1] .. '@current')\n"
        "if not v then return -1 end\n"
        "local h = ARGV[1] .. '@' .. v\n"
        "for i = 2, #ARGV, 2 do redis.call('HSET', h, ARGV[i], ARGV[i + 1]) end\n"
        "return 0\n",
    [SC_DEL] =
        "local v = redis.call('GET', ARGV[1] .. '@current')\n"
        "if not v then return -1 end\n"
        "local h = ARGV[1] .. '@' .. v\n"
        "for i = 2, #ARGV do redis.call('HDEL', h, ARGV[i]) end\n"
        "return 0\n",
    [SC_CREATE] =
        "local ptr = ARGV[1] .. ARGV[2] .. '@current'\n"
        "if redis.call('EXISTS', ptr) == 1 then return 0 end\n"
        "local v = redis.call('INCR', ARGV[1] .. '@next_version')\n"
        "redis.call('SET', ptr, v)\n"
        "redis.call('SADD', ARGV[1] .. '@datasets', ARGV[2])\n"
        "return v\n",
    [SC_DROP] =
        "local ptr = ARGV[1] .. ARGV[2] .. '@current'\n"
        "local v = redis.call('GET', ptr)\n"
        "if not v then return 0 end\n"
        "redis.call('UNLINK', ptr, ARGV[1] .. ARGV[2] .. '@' .. v)\n"
        "redis.call('SREM', ARGV[1] .. '@datasets', ARGV[2])\n"
        "return 1\n",
    [SC_FLIP] =
        "local ptr = ARGV[1] .. ARGV[2] .. '@current'\n"
        "local cur = redis.call('GET', ptr)\n"
        "if cur and tonumber(cur) > tonumber(ARGV[3]) then return cur end\n"
        "redis.call('SET', ptr, ARGV[3])\n"
        "redis.call('SADD', ARGV[1] .. '@datasets', ARGV[2])\n"
        "if cur and cur ~= ARGV[3] then\n"
        "  redis.call('UNLINK', ARGV[1] .. ARGV[2] .. '@' .. cur)\n"
        "  redis.call('SREM', ARGV[1] .. ARGV[2] .. '@versions', cur)\n"
        "end\n"
        "return 0\n",
};

enum { POOL_IDLE_MAX = 16, LOAD_FLUSH_PAIRS = 4096, HSET_PAIRS = 256 };
#define LOAD_FLUSH_BYTES ((size_t)4 << 20)

typedef struct RConn {
    redisContext *c;
    struct RConn *next;
} RConn;

typedef struct RStore {
    pthread_mutex_t mu;     /* guards idle, n_idle */
    CnKvVerCache vers;      /* versions multi-gets saw current */
    RConn *idle;
    unsigned n_idle;
    char *host;             /* OWNED */
    int port, db;
    char *user, *pass;      /* OWNED, percent-decoded; NULL when absent */
    char *prefix;           /* OWNED, percent-decoded; "" by default */
    size_t prefix_len;
    char sha[SC_N][41];
} RStore;

/* One command of a pipeline. */
typedef struct RCmd {
    int argc;
    const char **argv;
    const size_t *len;
} RCmd;

/* ---- URI ----------------------------------------------------------------------------- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* OWNED copy of s[0..n) with %XX decoded; NULL on a bad escape or out of memory. */
static char *pct_decode(const char *s, size_t n) {
    char *out = cn_malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
            if (lo < 0) {
                cn_free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = 0;
    return out;
}

static int bad_uri(CnKv *kv, const char *why, CnErr *err) {
    return cn_err_set(err, CN_ECONFIG, "online store URI \"%s\": %s; expected "
                      "redis://[user[:password]@]host[:port][/db][?prefix=P]", kv->uri, why);
}

/* target: "//[user[:password]@]host[:port][/db][?prefix=P]" */
static int parse_uri(CnKv *kv, RStore *s, const char *target, CnErr *err) {
    if (strncmp(target, "//", 2) != 0) return bad_uri(kv, "no \"//\" after the scheme", err);
    const char *a = target + 2;
    const char *a_end = a + strcspn(a, "/?#");
    const char *at = NULL;
    for (const char *p = a; p < a_end; p++)
        if (*p == '@') at = p;
    if (at) {
        const char *colon = memchr(a, ':', (size_t)(at - a));
        const char *u_end = colon ? colon : at;
        if (u_end > a && !(s->user = pct_decode(a, (size_t)(u_end - a))))
            return bad_uri(kv, "bad %-escape in the user name", err);
        if (colon && !(s->pass = pct_decode(colon + 1, (size_t)(at - colon - 1))))
            return bad_uri(kv, "bad %-escape in the password", err);
        a = at + 1;
    }
    const char *h_end = a_end;
    const char *colon = NULL;
    if (*a == '[') { /* [::1]:6379 */
        const char *rb = memchr(a, ']', (size_t)(a_end - a));
        if (!rb) return bad_uri(kv, "unclosed '[' in the host", err);
        s->host = cn_strndup(a + 1, (size_t)(rb - a - 1));
        colon = rb + 1 < a_end && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(a, ':', (size_t)(a_end - a));
        if (colon) h_end = colon;
        s->host = cn_strndup(a, (size_t)(h_end - a));
    }
    if (!s->host) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", kv->uri);
    if (!s->host[0]) return bad_uri(kv, "no host", err);
    s->port = 6379;
    if (colon) {
        char *e;
        long p = strtol(colon + 1, &e, 10);
        if (e != a_end || p <= 0 || p > 65535) return bad_uri(kv, "port is not 1..65535", err);
        s->port = (int)p;
    }
    const char *rest = a_end;
    if (*rest == '/') {
        rest++;
        size_t dl = strcspn(rest, "?#");
        if (dl) {
            char *e;
            long d = strtol(rest, &e, 10);
            if (e != rest + dl || d < 0 || d > 1000000) return bad_uri(kv, "database is not a number", err);
            s->db = (int)d;
        }
        rest += dl;
    }
    if (*rest == '?') {
        rest++;
        while (*rest && *rest != '#') {
            size_t pl = strcspn(rest, "&#");
            if (pl > 7 && strncmp(rest, "prefix=", 7) == 0) {
                cn_free(s->prefix);
                if (!(s->prefix = pct_decode(rest + 7, pl - 7)))
                    return bad_uri(kv, "bad %-escape in prefix", err);
            } else if (pl) {
                return bad_uri(kv, "unknown query parameter (only prefix= is known)", err);
            }
            rest += pl;
            if (*rest == '&') rest++;
        }
    }
    if (!s->prefix && !(s->prefix = cn_strdup("")))
        return cn_err_set(err, CN_ENOMEM, "%s: out of memory", kv->uri);
    s->prefix_len = strlen(s->prefix);
    return 0;
}

/* ---- connections and calls ------------------------------------------------------------ */

static struct timeval ms_tv(uint32_t ms) {
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

static void sleep_ms(uint64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* A transport failure is worth retrying; a refused AUTH or SELECT is not. */
enum { RS_OK = 0, RS_TRANSIENT = 1, RS_FATAL = 2 };

static int conn_open(CnKv *kv, RStore *s, redisContext **out, char *why, size_t cap) {
    redisContext *c = redisConnectWithTimeout(s->host, s->port, ms_tv(kv->opts.connect_timeout_ms));
    if (!c) {
        snprintf(why, cap, "out of memory connecting");
        return RS_FATAL;
    }
    if (c->err) {
        snprintf(why, cap, "cannot connect to %s:%d: %s", s->host, s->port, c->errstr);
        redisFree(c);
        return RS_TRANSIENT;
    }
    redisSetTimeout(c, ms_tv(kv->opts.timeout_ms));
    redisEnableKeepAlive(c);
    int st = RS_OK;
    if (s->pass) {
        const char *av[3] = {"AUTH", s->user ? s->user : s->pass, s->pass};
        size_t al[3] = {4, strlen(av[1]), strlen(s->pass)};
        redisReply *r = redisCommandArgv(c, s->user ? 3 : 2, av, al);
        if (!r) {
            snprintf(why, cap, "AUTH: %s", c->errstr);
            st = RS_TRANSIENT;
        } else if (r->type == REDIS_REPLY_ERROR) {
            snprintf(why, cap, "authentication refused: %s (check the user and password in the URI)",
                     r->str);
            st = RS_FATAL;
        }
        if (r) freeReplyObject(r);
    }
    if (st == RS_OK && s->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", s->db);
        const char *av[2] = {"SELECT", db};
        size_t al[2] = {6, strlen(db)};
        redisReply *r = redisCommandArgv(c, 2, av, al);
        if (!r) {
            snprintf(why, cap, "SELECT: %s", c->errstr);
            st = RS_TRANSIENT;
        } else if (r->type == REDIS_REPLY_ERROR) {
            snprintf(why, cap, "SELECT %d refused: %s", s->db, r->str);
            st = RS_FATAL;
        }
        if (r) freeReplyObject(r);
    }
    if (st != RS_OK) {
        redisFree(c);
        return st;
    }
    *out = c;
    return RS_OK;
}

static void pool_drain(RStore *s) {
    pthread_mutex_lock(&s->mu);
    RConn *list = s->idle;
    s->idle = NULL;
    s->n_idle = 0;
    pthread_mutex_unlock(&s->mu);
    while (list) {
        RConn *n = list->next;
        redisFree(list->c);
        cn_free(list);
        list = n;
    }
}

static int conn_get(CnKv *kv, RStore *s, redisContext **c, char *why, size_t cap) {
    pthread_mutex_lock(&s->mu);
    RConn *rc = s->idle;
    if (rc) {
        s->idle = rc->next;
        s->n_idle--;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        *c = rc->c;
        cn_free(rc);
        return RS_OK;
    }
    return conn_open(kv, s, c, why, cap);
}

static void conn_put(RStore *s, redisContext *c) {
    RConn *rc = NULL;
    if (!c->err && (rc = cn_malloc(sizeof *rc))) {
        pthread_mutex_lock(&s->mu);
        if (s->n_idle < POOL_IDLE_MAX) {
            rc->c = c;
            rc->next = s->idle;
            s->idle = rc;
            s->n_idle++;
            rc = NULL;
            c = NULL;
        }
        pthread_mutex_unlock(&s->mu);
    }
    cn_free(rc);
    if (c) redisFree(c);
}

static bool busy_reply(const redisReply *r) {
    return r->type == REDIS_REPLY_ERROR &&
           (strncmp(r->str, "LOADING", 7) == 0 || strncmp(r->str, "BUSY", 4) == 0 ||
            strncmp(r->str, "TRYAGAIN", 8) == 0);
}

/* Sends n pipelined commands and reads their replies into rep[0..n), retrying
 * transport failures. The caller frees the replies (free_replies). what/dataset name
 * the call in messages. */
static int rd_run(CnKv *kv, const char *dataset, const char *what, const RCmd *cmds, size_t n,
                  redisReply **rep, CnErr *err) {
    RStore *s = kv->impl;
    char why[512] = "";
    uint32_t attempts = kv->opts.retries + 1;
    for (uint32_t attempt = 0;; attempt++) {
        redisContext *c = NULL;
        int st = conn_get(kv, s, &c, why, sizeof why);
        size_t got = 0;
        if (st == RS_OK) {
            for (size_t i = 0; i < n; i++)
                if (redisAppendCommandArgv(c, cmds[i].argc, cmds[i].argv, cmds[i].len) != REDIS_OK) {
                    snprintf(why, sizeof why, "%s", c->errstr[0] ? c->errstr : "out of memory");
                    st = RS_FATAL;
                    break;
                }
            while (st == RS_OK && got < n) {
                if (redisGetReply(c, (void **)&rep[got]) != REDIS_OK) {
                    snprintf(why, sizeof why, "%s", c->errstr[0] ? c->errstr : "connection lost");
                    st = RS_TRANSIENT;
                    break;
                }
                got++;
            }
            if (st == RS_OK) {
                bool busy = false;
                for (size_t i = 0; i < n; i++) busy |= busy_reply(rep[i]);
                conn_put(s, c);
                if (!busy) return 0;
                snprintf(why, sizeof why, "server busy");
                st = RS_TRANSIENT;
            } else {
                redisFree(c);
                pool_drain(s); /* the others are likely as dead as this one */
            }
            for (size_t i = 0; i < got; i++) {
                freeReplyObject(rep[i]);
                rep[i] = NULL;
            }
        }
        if (st == RS_FATAL || attempt + 1 >= attempts)
            return cn_err_set(err, st == RS_FATAL ? CN_EREMOTE : CN_EIO,
                              "%s: %s%s%s%s failed after %u attempt%s: %s", kv->uri,
                              dataset ? "dataset " : "", dataset ? dataset : "",
                              dataset ? ": " : "", what, attempt + 1, attempt ? "s" : "", why);
        sleep_ms((uint64_t)kv->opts.retry_backoff_ms << (attempt < 16 ? attempt : 16));
    }
}

static void free_replies(redisReply **rep, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (rep[i]) freeReplyObject(rep[i]);
}

/* One command, one reply (OWNED by the caller) that is not an error reply. */
static int rd_call(CnKv *kv, const char *dataset, const char *what, int argc, const char **argv,
                   const size_t *len, redisReply **out, CnErr *err) {
    RCmd cmd = {argc, argv, len};
    *out = NULL;
    int rc = rd_run(kv, dataset, what, &cmd, 1, out, err);
    if (rc < 0) return rc;
    if ((*out)->type == REDIS_REPLY_ERROR) {
        rc = cn_err_set(err, CN_EREMOTE, "%s: %s%s%s%s: server replied: %s", kv->uri,
                        dataset ? "dataset " : "", dataset ? dataset : "", dataset ? ": " : "",
                        what, (*out)->str);
        freeReplyObject(*out);
        *out = NULL;
    }
    return rc;
}

/* Runs script sc with argv[3..argc) already filled (argv[0..2] are set here): EVALSHA,
 * and EVAL with the source when the server does not know the script (restarted or
 * SCRIPT FLUSH). */
static int rd_script(CnKv *kv, int sc, const char *dataset, const char *what, int argc,
                     const char **argv, size_t *len, redisReply **out, CnErr *err) {
    RStore *s = kv->impl;
    argv[0] = "EVALSHA", len[0] = 7;
    argv[1] = s->sha[sc], len[1] = 40;
    argv[2] = "0", len[2] = 1;
    RCmd cmd = {argc, argv, len};
    *out = NULL;
    int rc = rd_run(kv, dataset, what, &cmd, 1, out, err);
    if (rc == 0 && (*out)->type == REDIS_REPLY_ERROR && strncmp((*out)->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(*out);
        *out = NULL;
        argv[0] = "EVAL", len[0] = 4;
        argv[1] = SCRIPTS[sc], len[1] = strlen(SCRIPTS[sc]);
        rc = rd_run(kv, dataset, what, &cmd, 1, out, err);
    }
    if (rc == 0 && (*out)->type == REDIS_REPLY_ERROR) {
        rc = cn_err_set(err, CN_EREMOTE, "%s: %s%s%s%s: server replied: %s", kv->uri,
                        dataset ? "dataset " : "", dataset ? dataset : "", dataset ? ": " : "",
                        what, (*out)->str);
        freeReplyObject(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- open / close --------------------------------------------------------------------- */

static void rstore_free(RStore *s) {
    if (!s) return;
    pool_drain(s);
    cn_kv__vc_fini(&s->vers);
    pthread_mutex_destroy(&s->mu);
    cn_free(s->host);
    cn_free(s->user);
    cn_free(s->pass);
    cn_free(s->prefix);
    cn_free(s);
}

static void redis_close(CnKv *kv) {
    rstore_free(kv->impl);
    kv->impl = NULL;
}

static int redis_open(CnKv *kv, const char *target, CnErr *err) {
    RStore *s = cn_calloc(1, sizeof *s);
    if (!s) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", kv->uri);
    pthread_mutex_init(&s->mu, NULL);
    cn_kv__vc_init(&s->vers);
    kv->impl = s;
    int rc = parse_uri(kv, s, target, err);
    for (int i = 0; rc == 0 && i < SC_N; i++) {
        unsigned char d[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)SCRIPTS[i], strlen(SCRIPTS[i]), d);
        for (int j = 0; j < SHA_DIGEST_LENGTH; j++) snprintf(s->sha[i] + 2 * j, 3, "%02x", d[j]);
    }
    /* A server that went away turns the next write on its socket into SIGPIPE, which
     * would end the process; hiredis 0.14 writes with write(2), so ignore the signal
     * unless the program installed its own handler. */
    struct sigaction sa;
    if (rc == 0 && sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    if (rc == 0) { /* fail now, clearly, when the server is unreachable or refuses us */
        const char *av[1] = {"PING"};
        size_t al[1] = {4};
        redisReply *r = NULL;
        rc = rd_call(kv, NULL, "connect (PING)", 1, av, al, &r, err);
        if (r) freeReplyObject(r);
    }
    if (rc < 0) {
        rstore_free(s);
        kv->impl = NULL;
    }
    return rc;
}

/* ---- datasets ------------------------------------------------------------------------- */

/* P<dataset> in buf (OWNED by the caller via cn_buf_fini). */
static int ds_prefix(CnKv *kv, const char *dataset, CnBuf *b, CnErr *err) {
    RStore *s = kv->impl;
    cn_buf_append(b, s->prefix, s->prefix_len);
    cn_buf_puts(b, dataset);
    return b->oom ? cn_kv__oom(kv, dataset, err) : 0;
}

static int parse_version(const char *p, size_t n, uint64_t *v) {
    if (!n || n > 20) return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        x = x * 10 + (uint64_t)(p[i] - '0');
    }
    *v = x;
    return 0;
}

static int redis_dataset_create(CnKv *kv, const char *dataset, CnErr *err) {
    RStore *s = kv->impl;
    const char *av[5] = {0, 0, 0, s->prefix, dataset};
    size_t al[5] = {0, 0, 0, s->prefix_len, strlen(dataset)};
    redisReply *r;
    int rc = rd_script(kv, SC_CREATE, dataset, "create", 5, av, al, &r, err);
    if (r) freeReplyObject(r);
    return rc;
}

/* Removes the versions of dataset in [from, below) (all: 0, UINT64_MAX) that loads registered in the set
 * P<dataset>@versions (their hashes and their members): loads that crashed, lost to a
 * newer one, or were flipped away. Reading the set costs O(versions); a SCAN MATCH
 * walks the whole keyspace, so it made every commit cost O(keys in the database),
 * whatever else that database holds. */
static int gc_versions(CnKv *kv, const char *dataset, uint64_t from, uint64_t below,
                       CnErr *err) {
    CnBuf pre = CN_BUF_INIT, set = CN_BUF_INIT;
    int rc = ds_prefix(kv, dataset, &pre, err);
    if (rc < 0) goto done;
    cn_buf_putc(&pre, '@');
    cn_buf_append(&set, pre.data, pre.len);
    cn_buf_puts(&set, "versions");
    if (pre.oom || set.oom) {
        rc = cn_kv__oom(kv, dataset, err);
        goto done;
    }
    const char *av[2] = {"SMEMBERS", set.data};
    size_t al[2] = {8, set.len};
    redisReply *r;
    rc = rd_call(kv, dataset, "SMEMBERS of load versions", 2, av, al, &r, err);
    if (rc < 0) goto done;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        rc = cn_err_set(err, CN_EREMOTE, "%s: dataset %s: unexpected SMEMBERS reply", kv->uri, dataset);
        goto done;
    }
    /* one UNLINK of the hashes, one SREM of the members, 256 at a time */
    for (size_t lo = 0; rc == 0 && lo < r->elements; lo += 256) {
        size_t hi = CN_MIN(lo + 256, r->elements), nk = 0;
        const char *kav[258], *sav[258];
        size_t kal[258], sal[258];
        char *names = cn_malloc((hi - lo) * (pre.len + 24));
        if (!names) {
            rc = cn_kv__oom(kv, dataset, err);
            break;
        }
        for (size_t i = lo; i < hi; i++) {
            const redisReply *m = r->element[i];
            uint64_t ver;
            if (m->type != REDIS_REPLY_STRING || parse_version(m->str, (size_t)m->len, &ver) < 0 ||
                ver < from || ver >= below)
                continue;
            char *k = names + nk * (pre.len + 24);
            memcpy(k, pre.data, pre.len);
            int kl = snprintf(k + pre.len, 24, "%llu", (unsigned long long)ver);
            kav[2 + nk] = k, kal[2 + nk] = pre.len + (size_t)kl;
            sav[2 + nk] = m->str, sal[2 + nk] = (size_t)m->len;
            nk++;
        }
        if (nk) {
            kav[1] = "UNLINK", kal[1] = 6;
            sav[0] = "SREM", sal[0] = 4, sav[1] = set.data, sal[1] = set.len;
            redisReply *u = NULL;
            rc = rd_call(kv, dataset, "UNLINK of old versions", (int)nk + 1, kav + 1, kal + 1, &u, err);
            if (u) freeReplyObject(u);
            u = NULL;
            if (rc == 0) rc = rd_call(kv, dataset, "SREM of old versions", (int)nk + 2, sav, sal, &u, err);
            if (u) freeReplyObject(u);
        }
        cn_free(names);
    }
    freeReplyObject(r);
done:
    cn_buf_fini(&pre);
    cn_buf_fini(&set);
    return rc;
}

static int redis_dataset_drop(CnKv *kv, const char *dataset, CnErr *err) {
    RStore *s = kv->impl;
    const char *av[5] = {0, 0, 0, s->prefix, dataset};
    size_t al[5] = {0, 0, 0, s->prefix_len, strlen(dataset)};
    redisReply *r;
    int rc = rd_script(kv, SC_DROP, dataset, "drop", 5, av, al, &r, err);
    if (rc < 0) return rc;
    bool existed = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    if (!existed) return cn_kv__no_dataset(kv, dataset, err);
    return gc_versions(kv, dataset, 0, UINT64_MAX, err);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int redis_dataset_list(CnKv *kv, CnArena *arena, char ***names, size_t *n, CnErr *err) {
    RStore *s = kv->impl;
    CnBuf key = CN_BUF_INIT;
    cn_buf_append(&key, s->prefix, s->prefix_len);
    cn_buf_puts(&key, "@datasets");
    if (key.oom) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", kv->uri);
    const char *av[2] = {"SMEMBERS", key.data};
    size_t al[2] = {8, key.len};
    redisReply *r;
    int rc = rd_call(kv, NULL, "list datasets (SMEMBERS)", 2, av, al, &r, err);
    cn_buf_fini(&key);
    if (rc < 0) return rc;
    char **out = cn_arena_alloc(arena, (r->elements + 1) * sizeof *out);
    size_t count = 0;
    for (size_t i = 0; out && i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) continue;
        if (!(out[count++] = cn_arena_strndup(arena, r->element[i]->str, (size_t)r->element[i]->len)))
            out = NULL;
    }
    freeReplyObject(r);
    if (!out) return cn_err_set(err, CN_ENOMEM, "%s: out of memory listing datasets", kv->uri);
    qsort(out, count, sizeof *out, cmp_names);
    *names = out;
    *n = count;
    return 0;
}

static int redis_dataset_version(CnKv *kv, const char *dataset, uint64_t *version, CnErr *err) {
    CnBuf key = CN_BUF_INIT;
    int rc = ds_prefix(kv, dataset, &key, err);
    cn_buf_puts(&key, "@current");
    if (rc == 0 && key.oom) rc = cn_kv__oom(kv, dataset, err);
    redisReply *r = NULL;
    if (rc == 0) {
        const char *av[2] = {"GET", key.data};
        size_t al[2] = {3, key.len};
        rc = rd_call(kv, dataset, "GET of the version pointer", 2, av, al, &r, err);
    }
    if (rc == 0 && r->type == REDIS_REPLY_NIL) rc = cn_kv__no_dataset(kv, dataset, err);
    else if (rc == 0 && (r->type != REDIS_REPLY_STRING ||
                         parse_version(r->str, (size_t)r->len, version) < 0))
        rc = cn_err_set(err, CN_ECORRUPT, "%s: dataset %s: pointer %s does not hold a version "
                        "number", kv->uri, dataset, key.data);
    if (r) freeReplyObject(r);
    cn_buf_fini(&key);
    return rc;
}

/* ---- reads ------------------------------------------------------------------------------ */

/* The pointer's reply: 0 with *ver, CN_ENOTFOUND for no dataset (nil), CN_ECORRUPT. */
static int ptr_reply(CnKv *kv, const char *dataset, const redisReply *r, uint64_t *ver, CnErr *err) {
    if (r->type == REDIS_REPLY_NIL) return cn_kv__no_dataset(kv, dataset, err);
    if (r->type != REDIS_REPLY_STRING || parse_version(r->str, (size_t)r->len, ver) < 0)
        return cn_err_set(err, CN_ECORRUPT, "%s: dataset %s: the version pointer %s%s@current "
                          "does not hold a version number", kv->uri, dataset,
                          ((RStore *)kv->impl)->prefix, dataset);
    return 0;
}

/* A multi-get without a script: with the version v last seen current (cached), one
 * pipeline sends HMGET P<dataset>@v (512 keys per command) and then GET of the pointer.
 * The server runs them in that order; versions only grow (the INCR counter hands them
 * out, a flip never goes back), so a pointer equal to v after the HMGETs means v was
 * current from before this call until after the reads: the values are exactly
 * version v's, read while it was current (no staleness, no mix). Otherwise the
 * pointer moved: remember the new version and read again (one more round trip per
 * flip and reader). No cached version: one GET of the pointer first. */
static int redis_multi_get(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                           CnKvSlice *values, CnArena *arena, CnErr *err) {
    enum { HMGET_KEYS = 512 };
    RStore *s = kv->impl;
    size_t n_hm = (n + HMGET_KEYS - 1) / HMGET_KEYS;
    CnBuf ptr = CN_BUF_INIT, hash = CN_BUF_INIT;
    int rc = ds_prefix(kv, dataset, &ptr, err);
    cn_buf_puts(&ptr, "@current");
    const char **av = cn_malloc((n + 2 * n_hm + 2) * sizeof *av);
    size_t *al = cn_malloc((n + 2 * n_hm + 2) * sizeof *al);
    RCmd *cmds = cn_malloc((n_hm + 1) * sizeof *cmds);
    redisReply **rep = cn_calloc(n_hm + 1, sizeof *rep);
    if (rc == 0 && (ptr.oom || !av || !al || !cmds || !rep)) rc = cn_kv__oom(kv, dataset, err);
    uint64_t ver = 0;
    bool have = rc == 0 && cn_kv__vc_get(&s->vers, dataset, &ver);
    for (int round = 0; rc == 0; round++) {
        if (!have) {
            const char *pav[2] = {"GET", ptr.data};
            size_t pal[2] = {3, ptr.len};
            redisReply *r = NULL;
            rc = rd_call(kv, dataset, "GET of the version pointer", 2, pav, pal, &r, err);
            if (rc == 0) rc = ptr_reply(kv, dataset, r, &ver, err);
            if (r) freeReplyObject(r);
            if (rc < 0) break;
            cn_kv__vc_set(&s->vers, dataset, ver);
        }
        cn_buf_reset(&hash);
        rc = ds_prefix(kv, dataset, &hash, err);
        cn_buf_printf(&hash, "@%llu", (unsigned long long)ver);
        if (rc == 0 && hash.oom) rc = cn_kv__oom(kv, dataset, err);
        if (rc < 0) break;
        size_t o = 0;
        for (size_t c = 0; c < n_hm; c++) {
            size_t first = c * HMGET_KEYS, end = CN_MIN(first + HMGET_KEYS, n);
            cmds[c] = (RCmd){(int)(2 + end - first), &av[o], &al[o]};
            av[o] = "HMGET", al[o++] = 5;
            av[o] = hash.data, al[o++] = hash.len;
            for (size_t i = first; i < end; i++)
                av[o] = (const char *)keys[i].data, al[o++] = keys[i].len;
        }
        cmds[n_hm] = (RCmd){2, &av[o], &al[o]};
        av[o] = "GET", al[o++] = 3;
        av[o] = ptr.data, al[o] = ptr.len;
        rc = rd_run(kv, dataset, "multi-get (pipelined HMGET)", cmds, n_hm + 1, rep, err);
        if (rc < 0) break;
        uint64_t now = 0;
        rc = ptr_reply(kv, dataset, rep[n_hm], &now, err);
        for (size_t c = 0; rc == 0 && c < n_hm; c++)
            if (rep[c]->type != REDIS_REPLY_ARRAY ||
                rep[c]->elements != CN_MIN((size_t)HMGET_KEYS, n - c * HMGET_KEYS))
                rc = cn_err_set(err, CN_EREMOTE, "%s: dataset %s: multi-get of %zu keys: "
                                "unexpected reply to HMGET%s%s", kv->uri, dataset, n,
                                rep[c]->type == REDIS_REPLY_ERROR ? ": " : "",
                                rep[c]->type == REDIS_REPLY_ERROR ? rep[c]->str : "");
        if (rc == 0 && now == ver) {
            for (size_t i = 0; rc == 0 && i < n; i++) {
                const redisReply *e = rep[i / HMGET_KEYS]->element[i % HMGET_KEYS];
                values[i] = (CnKvSlice){NULL, 0};
                if (e->type != REDIS_REPLY_STRING) continue;
                values[i].data = cn_kv__copy_value(arena, e->str, (size_t)e->len);
                values[i].len = (size_t)e->len;
                if (!values[i].data) rc = cn_kv__oom(kv, dataset, err);
            }
            break;
        }
        if (rc < 0) {
            if (rc == CN_ENOTFOUND) cn_kv__vc_set(&s->vers, dataset, 0);
            break;
        }
        /* flipped since the cached version: read the new one */
        cn_kv__vc_set(&s->vers, dataset, now);
        ver = now;
        have = true;
        free_replies(rep, n_hm + 1);
        memset(rep, 0, (n_hm + 1) * sizeof *rep);
        if (round >= 16)
            rc = cn_err_set(err, CN_ECONFLICT, "%s: dataset %s: the version kept changing during "
                            "a multi-get (%d flips)", kv->uri, dataset, round + 1);
    }
    if (rep) free_replies(rep, n_hm + 1);
    cn_free(rep);
    cn_free(cmds);
    cn_free(av);
    cn_free(al);
    cn_buf_fini(&ptr);
    cn_buf_fini(&hash);
    return rc;
}

/* ---- writes ------------------------------------------------------------------------------ */

static int put_or_delete(CnKv *kv, int sc, const char *dataset, const CnKvSlice *keys,
                         const CnKvSlice *values, size_t n, CnErr *err) {
    CnBuf pre = CN_BUF_INIT;
    size_t per = values ? 2 : 1;
    int rc = ds_prefix(kv, dataset, &pre, err);
    const char **av = cn_malloc((n * per + 4) * sizeof *av);
    size_t *al = cn_malloc((n * per + 4) * sizeof *al);
    redisReply *r = NULL;
    if (rc == 0 && (!av || !al)) rc = cn_kv__oom(kv, dataset, err);
    if (rc < 0) goto done;
    av[3] = pre.data, al[3] = pre.len;
    for (size_t i = 0; i < n; i++) {
        av[4 + i * per] = (const char *)keys[i].data, al[4 + i * per] = keys[i].len;
        if (values) {
            av[5 + i * per] = values[i].data ? (const char *)values[i].data : "";
            al[5 + i * per] = values[i].len;
        }
    }
    rc = rd_script(kv, sc, dataset, values ? "put" : "delete", (int)(n * per + 4), av, al, &r, err);
    if (rc == 0 && r->type == REDIS_REPLY_INTEGER && r->integer < 0) rc = cn_kv__no_dataset(kv, dataset, err);
done:
    if (r) freeReplyObject(r);
    cn_free(av);
    cn_free(al);
    cn_buf_fini(&pre);
    return rc;
}

static int redis_multi_put(CnKv *kv, const char *dataset, const CnKvSlice *keys,
                           const CnKvSlice *values, size_t n, CnErr *err) {
    return put_or_delete(kv, SC_PUT, dataset, keys, values, n, err);
}

static int redis_multi_delete(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                              CnErr *err) {
    return put_or_delete(kv, SC_DEL, dataset, keys, NULL, n, err);
}

/* ---- bulk loads ------------------------------------------------------------------------- */

typedef struct RPair {
    size_t ko, kl, vo, vl;  /* offsets into RLoad.data */
} RPair;

typedef struct RLoad {
    CnBuf data;             /* keys and values waiting to be sent */
    RPair *pairs;           /* OWNED */
    size_t n, cap;
    char *hash;             /* OWNED: P<dataset>@<version> */
    size_t hash_len;
} RLoad;

/* Sends the buffered pairs as pipelined HSETs of HSET_PAIRS pairs each (in order, so a
 * repeated key's last value wins). */
static int load_flush(CnKvLoad *ld, CnErr *err) {
    RLoad *l = ld->impl;
    if (!l->n) return 0;
    size_t n_cmds = (l->n + HSET_PAIRS - 1) / HSET_PAIRS;
    RCmd *cmds = cn_malloc(n_cmds * sizeof *cmds);
    const char **av = cn_malloc((l->n * 2 + n_cmds * 2) * sizeof *av);
    size_t *al = cn_malloc((l->n * 2 + n_cmds * 2) * sizeof *al);
    redisReply **rep = cn_calloc(n_cmds, sizeof *rep);
    int rc = 0;
    if (!cmds || !av || !al || !rep) {
        rc = cn_kv__oom(ld->kv, ld->dataset, err);
        goto done;
    }
    size_t o = 0;
    for (size_t c = 0; c < n_cmds; c++) {
        size_t first = c * HSET_PAIRS, end = CN_MIN(first + HSET_PAIRS, l->n);
        cmds[c] = (RCmd){(int)(2 + 2 * (end - first)), &av[o], &al[o]};
        av[o] = "HSET", al[o++] = 4;
        av[o] = l->hash, al[o++] = l->hash_len;
        for (size_t i = first; i < end; i++) {
            const RPair *p = &l->pairs[i];
            av[o] = l->data.data + p->ko, al[o++] = p->kl;
            av[o] = l->data.data + p->vo, al[o++] = p->vl;
        }
    }
    rc = rd_run(ld->kv, ld->dataset, "load (pipelined HSET)", cmds, n_cmds, rep, err);
    for (size_t c = 0; rc == 0 && c < n_cmds; c++)
        if (rep[c]->type == REDIS_REPLY_ERROR)
            rc = cn_err_set(err, CN_EREMOTE, "%s: dataset %s: load of version %llu: server "
                            "replied: %s", ld->kv->uri, ld->dataset,
                            (unsigned long long)ld->version, rep[c]->str);
    free_replies(rep, n_cmds);
    l->n = 0;
    cn_buf_reset(&l->data);
done:
    cn_free(cmds);
    cn_free(av);
    cn_free(al);
    cn_free(rep);
    return rc;
}

static void rload_free(CnKvLoad *ld);

/* SADD or SREM of the load's version in P<dataset>@versions (the hash name is
 * P<dataset>@<version>: the set's name and the member come from it). */
static int version_set(CnKvLoad *ld, const char *cmd, const char *what, CnErr *err) {
    RLoad *l = ld->impl;
    const char *at = l->hash + l->hash_len;
    while (at > l->hash && at[-1] != '@') at--;
    CnBuf set = CN_BUF_INIT;
    cn_buf_append(&set, l->hash, (size_t)(at - l->hash));
    cn_buf_puts(&set, "versions");
    if (set.oom) return cn_kv__oom(ld->kv, ld->dataset, err);
    const char *av[3] = {cmd, set.data, at};
    size_t al[3] = {4, set.len, (size_t)(l->hash + l->hash_len - at)};
    redisReply *r = NULL;
    int rc = rd_call(ld->kv, ld->dataset, what, 3, av, al, &r, err);
    if (r) freeReplyObject(r);
    cn_buf_fini(&set);
    return rc;
}

static int redis_load_begin(CnKvLoad *ld, CnErr *err) {
    CnKv *kv = ld->kv;
    RStore *s = kv->impl;
    CnBuf key = CN_BUF_INIT;
    cn_buf_append(&key, s->prefix, s->prefix_len);
    cn_buf_puts(&key, "@next_version");
    if (key.oom) return cn_kv__oom(kv, ld->dataset, err);
    const char *av[2] = {"INCR", key.data};
    size_t al[2] = {4, key.len};
    redisReply *r;
    int rc = rd_call(kv, ld->dataset, "load: INCR of the version counter", 2, av, al, &r, err);
    cn_buf_fini(&key);
    if (rc < 0) return rc;
    ld->version = r->type == REDIS_REPLY_INTEGER ? (uint64_t)r->integer : 0;
    freeReplyObject(r);
    RLoad *l = cn_calloc(1, sizeof *l);
    CnBuf h = CN_BUF_INIT;
    rc = ds_prefix(kv, ld->dataset, &h, err);
    cn_buf_printf(&h, "@%llu", (unsigned long long)ld->version);
    if (rc == 0 && (!l || h.oom)) rc = cn_kv__oom(kv, ld->dataset, err);
    if (rc < 0) {
        cn_buf_fini(&h);
        cn_free(l);
        return rc;
    }
    l->hash_len = h.len;
    l->hash = cn_buf_take(&h);
    ld->impl = l;
    /* registered before anything is written, so a crash leaves nothing gc_versions misses */
    rc = version_set(ld, "SADD", "load: SADD of the version", err);
    if (rc < 0) rload_free(ld);
    return rc;
}

static int redis_load_add(CnKvLoad *ld, const void *key, size_t key_len, const void *value,
                          size_t value_len, CnErr *err) {
    RLoad *l = ld->impl;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        RPair *p = cn_realloc(l->pairs, cap * sizeof *p);
        if (!p) return cn_kv__oom(ld->kv, ld->dataset, err);
        l->pairs = p;
        l->cap = cap;
    }
    RPair *p = &l->pairs[l->n];
    p->ko = l->data.len;
    p->kl = key_len;
    cn_buf_append(&l->data, key, key_len);
    p->vo = l->data.len;
    p->vl = value_len;
    if (value_len) cn_buf_append(&l->data, value, value_len);
    if (l->data.oom) return cn_kv__oom(ld->kv, ld->dataset, err);
    l->n++;
    if (l->n >= LOAD_FLUSH_PAIRS || l->data.len >= LOAD_FLUSH_BYTES) return load_flush(ld, err);
    return 0;
}

static void rload_free(CnKvLoad *ld) {
    RLoad *l = ld->impl;
    if (!l) return;
    cn_buf_fini(&l->data);
    cn_free(l->pairs);
    cn_free(l->hash);
    cn_free(l);
    ld->impl = NULL;
}

static void redis_load_abort(CnKvLoad *ld) {
    RLoad *l = ld->impl;
    if (l) {
        /* best effort: a version left behind is collected by the next committed load */
        const char *av[2] = {"UNLINK", l->hash};
        size_t al[2] = {6, l->hash_len};
        redisReply *r = NULL;
        CnErr e = CN_ERR_INIT;
        if (rd_call(ld->kv, ld->dataset, "abort (UNLINK)", 2, av, al, &r, &e) < 0 ||
            version_set(ld, "SREM", "abort (SREM of the version)", &e) < 0)
            cn_log(CN_LOG_WARN, "%s", cn_err_msg(&e));
        if (r) freeReplyObject(r);
        cn_err_clear(&e);
    }
    rload_free(ld);
}

static int redis_load_commit(CnKvLoad *ld, CnErr *err) {
    CnKv *kv = ld->kv;
    RStore *s = kv->impl;
    int rc = load_flush(ld, err);
    redisReply *r = NULL;
    if (rc == 0) {
        char ver[24];
        snprintf(ver, sizeof ver, "%llu", (unsigned long long)ld->version);
        const char *av[6] = {0, 0, 0, s->prefix, ld->dataset, ver};
        size_t al[6] = {0, 0, 0, s->prefix_len, strlen(ld->dataset), strlen(ver)};
        rc = rd_script(kv, SC_FLIP, ld->dataset, "commit (flip)", 6, av, al, &r, err);
    }
    if (rc == 0 && r->type == REDIS_REPLY_STRING) {
        rc = cn_err_set(err, CN_ECONFLICT, "%s: dataset %s: a newer load (version %s) was "
                        "committed while version %llu was loading", kv->uri, ld->dataset, r->str,
                        (unsigned long long)ld->version);
    }
    if (r) freeReplyObject(r);
    if (rc < 0) {
        redis_load_abort(ld);
        return rc;
    }
    rload_free(ld);
    /* The flip is done (and the previous version unlinked with it); versions of crashed
     * or overtaken loads are swept here. Failing to sweep does not undo the flip. */
    CnErr gc = CN_ERR_INIT;
    if (gc_versions(kv, ld->dataset, 0, ld->version, &gc) < 0)
        cn_log(CN_LOG_WARN, "%s (old versions stay until the next load)", cn_err_msg(&gc));
    cn_err_clear(&gc);
    return 0;
}

const CnKvOps cn_kv__redis_ops = {
    .name = "redis",
    .caps = CN_KV_CAP_PERSISTENT,
    .max_key_len = 65536,
    .open = redis_open,
    .close = redis_close,
    .dataset_create = redis_dataset_create,
    .dataset_drop = redis_dataset_drop,
    .dataset_list = redis_dataset_list,
    .dataset_version = redis_dataset_version,
    .multi_get = redis_multi_get,
    .multi_put = redis_multi_put,
    .multi_delete = redis_multi_delete,
    .load_begin = redis_load_begin,
    .load_add = redis_load_add,
    .load_commit = redis_load_commit,
    .load_abort = redis_load_abort,
};
