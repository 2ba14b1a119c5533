/* test_kv_mongo.c: the MongoDB backend against a real wire-protocol server, CongoDB
 * (tests/checkers/mongo_server.mjs), started by each case on a free loopback port:
 * the store down at open, the server dying under a client and coming back, the
 * collection layout the users' guide inspects (checked with raw libmongoc), a layout-1
 * dataset refused then converted by an upload, staging collections cleaned up, and the
 * contract's load, flip and reader/writer cases at a size CongoDB can serve (it scans every
 * document of a collection per query; kv_mongo_e2e.py runs the rest of the contract).
 * Needs node and scripts/checkers.sh; otherwise SKIP (exit 77). */
#include "cn_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "base/arena.h"
#include "online/kv.h"

extern char **environ;

typedef struct Server {
    pid_t pid;
    int port;
    int lifeline;           /* write end of the server's stdin: it exits when this closes */
} Server;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

/* Starts CongoDB on port (0: any) and waits for its "ready <port>" line. */
static void server_start(Server *s, int port) {
    const char *src = getenv("CN_SOURCE_DIR");
    if (!src || !*src) cn_test_skip("CN_SOURCE_DIR not set (run through ctest)");
    char script[1024], port_s[16];
    snprintf(script, sizeof script, "%s/tests/checkers/mongo_server.mjs", src);
    snprintf(port_s, sizeof port_s, "%d", port);
    int fds[2], life[2];
    if (pipe(fds) != 0 || pipe(life) != 0 || fcntl(life[1], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0)
        fail_msg("pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_adddup2(&fa, life[0], 0);
    char *argv[] = {"node", script, port_s, "--lifeline", NULL};
    int rc = posix_spawnp(&s->pid, "node", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    close(life[0]);
    s->lifeline = life[1];
    if (rc != 0) {
        close(fds[0]);
        cn_test_skip("node is not installed");
    }
    char line[256];
    size_t n = 0;
    double end = now_s() + 30;
    while (n < sizeof line - 1 && !memchr(line, '\n', n) && now_s() < end) {
        struct pollfd p = {fds[0], POLLIN, 0};
        if (poll(&p, 1, 200) <= 0) continue;
        ssize_t got = read(fds[0], line + n, sizeof line - 1 - n);
        if (got <= 0) break;
        n += (size_t)got;
    }
    close(fds[0]);
    line[n] = '\0';
    if (strncmp(line, "SKIP:", 5) == 0) {
        waitpid(s->pid, NULL, 0);
        line[strcspn(line, "\n")] = '\0';
        cn_test_skip(line + 6);
    }
    if (sscanf(line, "ready %d", &s->port) != 1) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        fail_msg("mongo_server.mjs did not start: \"%s\"", line);
    }
}

static void server_kill(Server *s) {
    if (s->pid <= 0) return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    close(s->lifeline);
    s->pid = 0;
}

static void uri_of(char *buf, size_t cap, const Server *s, const char *db) {
    /* CongoDB is slow on large collections: generous socket timeout for the tests */
    snprintf(buf, cap, "mongodb://127.0.0.1:%d/%s?socketTimeoutMS=60000", s->port, db);
}

static CnKvSlice S(const char *s) { return (CnKvSlice){(const uint8_t *)s, strlen(s)}; }

static void assert_str_value(CnKvSlice v, const char *want) {
    if (!v.data) fail_msg("missing value, expected \"%s\"", want);
    assert_int_equal(v.len, strlen(want));
    if (v.len) assert_memory_equal(v.data, want, v.len);
}

/* ---- the store down at open, the server dying and coming back ----------------------- */

static void down_at_open_names_uri(void **state) {
    (void)state;
    char uri[256];
    snprintf(uri, sizeof uri, "mongodb://chronon:s3cret@127.0.0.1:%d/feat", free_port());
    CnKvOptions o = {.connect_timeout_ms = 300, .retries = 1, .retry_backoff_ms = 10};
    CnErr err = CN_ERR_INIT;
    CnKv *kv = (CnKv *)&err;
    double t0 = now_s();
    ASSERT_ERR(cn_kv_open(uri, &o, &kv, &err), CN_EREMOTE, &err);
    double took = now_s() - t0;
    assert_null(kv);
    ASSERT_CONTAINS(cn_err_msg(&err), "No suitable servers found");
    ASSERT_CONTAINS(cn_err_msg(&err), "mongodb://chronon:***@127.0.0.1:");
    assert_null(strstr(cn_err_msg(&err), "s3cret"));
    /* two attempts of ~300 ms each, not libmongoc's 30 s default */
    if (took > 5.0) fail_msg("open of a down store took %.1f s", took);
}

typedef struct Restart {
    Server *s;
    int port;
} Restart;

static void *restart_later(void *arg) {
    Restart *r = arg;
    usleep(400 * 1000);
    server_start(r->s, r->port);
    return NULL;
}

static void dies_and_comes_back(void **state) {
    (void)state;
    Server s = {0};
    server_start(&s, 0);
    char uri[256];
    uri_of(uri, sizeof uri, &s, "back");
    CnKvOptions o = {.connect_timeout_ms = 300, .timeout_ms = 2000, .retries = 1, .retry_backoff_ms = 10};
    CnKv *kv;
    CnErr err = CN_ERR_INIT;
    CnArena a;
    cn_arena_init(&a, 0);
    ASSERT_OK(cn_kv_open(uri, &o, &kv, &err), &err);
    ASSERT_OK(cn_kv_dataset_create(kv, "D", &err), &err);
    CnKvSlice k = S("k"), v = S("before"), got;
    ASSERT_OK(cn_kv_multi_put(kv, "D", &k, &v, 1, &err), &err);

    server_kill(&s);
    double t0 = now_s();
    ASSERT_ERR(cn_kv_get(kv, "D", "k", 1, &got, &a, &err), CN_EREMOTE, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "dataset D: multi-get");
    ASSERT_CONTAINS(cn_err_msg(&err), uri);
    assert_null(got.data);
    if (now_s() - t0 > 5.0) fail_msg("a read with the server down took %.1f s", now_s() - t0);
    cn_err_clear(&err);

    /* Same port, fresh (in-memory) server: the open handle reconnects on its own. */
    int port = s.port;
    server_start(&s, port);
    assert_int_equal(s.port, port);
    ASSERT_OK(cn_kv_dataset_create(kv, "D", &err), &err);
    v = S("after");
    ASSERT_OK(cn_kv_multi_put(kv, "D", &k, &v, 1, &err), &err);
    ASSERT_OK(cn_kv_get(kv, "D", "k", 1, &got, &a, &err), &err);
    assert_str_value(got, "after");

    /* An outage shorter than the retries is invisible: the server is down when the call
     * starts and back during the backoff. */
    cn_kv_close(kv);
    CnKvOptions patient = {.connect_timeout_ms = 300, .timeout_ms = 2000, .retries = 6,
                           .retry_backoff_ms = 200};
    ASSERT_OK(cn_kv_open(uri, &patient, &kv, &err), &err);
    server_kill(&s);
    Restart rs = {&s, port};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, restart_later, &rs), 0);
    ASSERT_OK(cn_kv_dataset_create(kv, "E", &err), &err);
    ASSERT_OK(cn_kv_multi_put(kv, "E", &k, &v, 1, &err), &err);
    ASSERT_OK(cn_kv_get(kv, "E", "k", 1, &got, &a, &err), &err);
    assert_str_value(got, "after");
    pthread_join(th, NULL);
    cn_kv_close(kv);
    server_kill(&s);
    cn_arena_fini(&a);
}

/* ---- layout: what the users' guide sees with db.<collection>.find() ------------------- */

static int64_t count_docs(mongoc_client_t *c, const char *db, const char *coll, const bson_t *q) {
    mongoc_collection_t *col = mongoc_client_get_collection(c, db, coll);
    bson_error_t e;
    int64_t n = mongoc_collection_count_documents(col, q, NULL, NULL, NULL, &e);
    if (n < 0) fail_msg("count %s.%s: %s", db, coll, e.message);
    mongoc_collection_destroy(col);
    return n;
}

/* Staging collections (chronon_load.<version>.<collection>) in db. */
static int count_stages(mongoc_client_t *c, const char *db) {
    mongoc_database_t *d = mongoc_client_get_database(c, db);
    bson_error_t e;
    char **names = mongoc_database_get_collection_names_with_opts(d, NULL, &e);
    if (!names) fail_msg("list collections of %s: %s", db, e.message);
    int n = 0;
    for (size_t i = 0; names[i]; i++) n += strncmp(names[i], "chronon_load.", 13) == 0;
    bson_strfreev(names);
    mongoc_database_destroy(d);
    return n;
}

static void collections_follow_guide(void **state) {
    (void)state;
    Server s = {0};
    server_start(&s, 0);
    char uri[256];
    uri_of(uri, sizeof uri, &s, "admin");
    CnKv *kv;
    CnErr err = CN_ERR_INIT;
    CnArena a;
    cn_arena_init(&a, 0);
    ASSERT_OK(cn_kv_open(uri, NULL, &kv, &err), &err);
    const char *ds = cn_kv_dataset_name(&a, "my_team.user_purchase_features.v1", CN_KV_BATCH_SUFFIX);
    assert_string_equal(ds, "MY_TEAM_USER_PURCHASE_FEATURES_V1_BATCH");
    uint64_t v1, v2;
    for (int round = 0; round < 2; round++) {
        CnKvLoad *ld;
        ASSERT_OK(cn_kv_load_begin(kv, ds, &ld, &err), &err);
        for (int i = 0; i < 3 + round; i++) {
            char key[16];
            snprintf(key, sizeof key, "user_%d", i);
            ASSERT_OK(cn_kv_load_add(ld, key, strlen(key), "\x01\x02", 2, &err), &err);
        }
        ASSERT_OK(cn_kv_load_commit(ld, round ? &v2 : &v1, &err), &err);
    }
    ASSERT_OK(cn_kv_dataset_create(kv, CN_KV_METADATA_DATASET, &err), &err);
    CnKvSlice mk = S("group_bys/my_team/user_purchase_features.v1"), mv = S("{}");
    ASSERT_OK(cn_kv_multi_put(kv, CN_KV_METADATA_DATASET, &mk, &mv, 1, &err), &err);
    ASSERT_OK(cn_kv_dataset_create(kv, "A_BATCH@2", &err), &err);
    cn_kv_close(kv);

    mongoc_client_t *c = mongoc_client_new(uri);
    assert_non_null(c);
    bson_t all = BSON_INITIALIZER;
    /* the second load's 4 documents and its version document: the rename replaced the
     * first version's collection */
    assert_int_equal(count_docs(c, "admin", "my_team_user_purchase_features_v1", &all), 5);
    bson_t *q = BCON_NEW("k", BCON_BIN(BSON_SUBTYPE_BINARY, (const uint8_t *)"user_3", 6),
                         "v", BCON_BIN(BSON_SUBTYPE_BINARY, (const uint8_t *)"\x01\x02", 2));
    assert_int_equal(count_docs(c, "admin", "my_team_user_purchase_features_v1", q), 1);
    bson_destroy(q);
    q = BCON_NEW("version", BCON_INT64((int64_t)v2));
    assert_int_equal(count_docs(c, "admin", "my_team_user_purchase_features_v1", q), 1);
    bson_destroy(q);
    q = BCON_NEW("k", "{", "$exists", BCON_BOOL(false), "}");
    assert_int_equal(count_docs(c, "admin", "my_team_user_purchase_features_v1", q), 1); /* only it */
    bson_destroy(q);
    q = BCON_NEW("ver", "{", "$exists", BCON_BOOL(true), "}");
    assert_int_equal(count_docs(c, "admin", "my_team_user_purchase_features_v1", q), 0); /* layout 1's */
    bson_destroy(q);
    q = BCON_NEW("dataset", "MY_TEAM_USER_PURCHASE_FEATURES_V1_BATCH", "coll",
                 "my_team_user_purchase_features_v1", "ver", BCON_INT64((int64_t)v2), "layout", BCON_INT32(2));
    assert_int_equal(count_docs(c, "admin", "chronon_datasets", q), 1);
    bson_destroy(q);
    assert_int_equal(count_docs(c, "admin", "kv.ZIPLINE_METADATA", &all), 2);
    q = BCON_NEW("dataset", "A_BATCH@2", "coll", "kv.A_BATCH.402");
    assert_int_equal(count_docs(c, "admin", "chronon_datasets", q), 1);
    bson_destroy(q);
    assert_int_equal(count_stages(c, "admin"), 0); /* every load's staging collection renamed */
    mongoc_client_destroy(c);
    server_kill(&s);
    cn_arena_fini(&a);
}

/* A dataset in layout 1 (written before staging collections) is refused by reads with
 * an error saying to upload again; the upload converts it. A crashed load's staging
 * collection goes with the dataset's next commit, an aborted load's at once. */
static void layout1_refused_then_converted(void **state) {
    (void)state;
    Server s = {0};
    server_start(&s, 0);
    char uri[256];
    uri_of(uri, sizeof uri, &s, "old");
    mongoc_client_t *c = mongoc_client_new(uri);
    assert_non_null(c);
    bson_error_t e;
    /* what a layout-1 upload of version 5 left, and a load of version 3 that crashed */
    mongoc_collection_t *m = mongoc_client_get_collection(c, "old", "chronon_datasets");
    bson_t *d = BCON_NEW("dataset", "OLD_BATCH", "coll", "old", "ver", BCON_INT64(5));
    if (!mongoc_collection_insert_one(m, d, NULL, NULL, &e)) fail_msg("insert: %s", e.message);
    bson_destroy(d);
    d = BCON_NEW("counter", "next_version", "next", BCON_INT64(5));
    if (!mongoc_collection_insert_one(m, d, NULL, NULL, &e)) fail_msg("insert: %s", e.message);
    bson_destroy(d);
    mongoc_collection_destroy(m);
    const char *colls[2] = {"old", "chronon_load.3.old"};
    for (int i = 0; i < 2; i++) {
        mongoc_collection_t *o = mongoc_client_get_collection(c, "old", colls[i]);
        d = BCON_NEW("k", BCON_BIN(BSON_SUBTYPE_BINARY, (const uint8_t *)"u1", 2),
                     "v", BCON_BIN(BSON_SUBTYPE_BINARY, (const uint8_t *)"old", 3), "ver", BCON_INT64(5));
        if (!mongoc_collection_insert_one(o, d, NULL, NULL, &e)) fail_msg("insert: %s", e.message);
        bson_destroy(d);
        mongoc_collection_destroy(o);
    }
    CnKv *kv;
    CnErr err = CN_ERR_INIT;
    CnArena a;
    cn_arena_init(&a, 0);
    ASSERT_OK(cn_kv_open(uri, NULL, &kv, &err), &err);
    CnKvSlice got;
    assert_int_equal(cn_kv_get(kv, "OLD_BATCH", "u1", 2, &got, &a, &err), CN_EUNSUPPORTED);
    assert_non_null(strstr(cn_err_msg(&err), "dataset OLD_BATCH was uploaded by an older chronon-c"));
    assert_non_null(strstr(cn_err_msg(&err), "upload it again"));
    assert_null(got.data);
    cn_err_clear(&err);
    uint64_t ver;
    assert_int_equal(cn_kv_dataset_version(kv, "OLD_BATCH", &ver, &err), CN_EUNSUPPORTED);
    cn_err_clear(&err);
    /* an aborted load leaves nothing; a committed one converts the dataset */
    CnKvLoad *ld;
    ASSERT_OK(cn_kv_load_begin(kv, "OLD_BATCH", &ld, &err), &err);
    ASSERT_OK(cn_kv_load_add(ld, "u1", 2, "aborted", 7, &err), &err);
    cn_kv_load_abort(ld);
    assert_int_equal(count_stages(c, "old"), 1); /* the aborted one went; the crashed one waits */
    assert_int_equal(cn_kv_get(kv, "OLD_BATCH", "u1", 2, &got, &a, &err), CN_EUNSUPPORTED);
    cn_err_clear(&err);
    ASSERT_OK(cn_kv_load_begin(kv, "OLD_BATCH", &ld, &err), &err);
    ASSERT_OK(cn_kv_load_add(ld, "u1", 2, "new", 3, &err), &err);
    ASSERT_OK(cn_kv_load_add(ld, "u2", 2, "two", 3, &err), &err);
    uint64_t v_new;
    ASSERT_OK(cn_kv_load_commit(ld, &v_new, &err), &err);
    assert_true(v_new > 5);
    ASSERT_OK(cn_kv_get(kv, "OLD_BATCH", "u1", 2, &got, &a, &err), &err);
    assert_str_value(got, "new");
    ASSERT_OK(cn_kv_dataset_version(kv, "OLD_BATCH", &ver, &err), &err);
    assert_int_equal(ver, v_new);
    bson_t all = BSON_INITIALIZER;
    assert_int_equal(count_docs(c, "old", "old", &all), 3); /* u1, u2, the version document */
    assert_int_equal(count_stages(c, "old"), 0); /* the crashed one went with the commit */
    cn_kv_close(kv);
    mongoc_client_destroy(c);
    server_kill(&s);
    cn_arena_fini(&a);
}

/* ---- the contract's large cases, scaled to CongoDB ------------------------------------ */

static void key_of(char *buf, size_t i) { snprintf(buf, 32, "key%07zu", i); }

static void loads_sorted_shuffled_many_chunks(void **state) {
    (void)state;
    Server s = {0};
    server_start(&s, 0);
    char uri[256];
    uri_of(uri, sizeof uri, &s, "loads");
    CnKv *kv;
    CnErr err = CN_ERR_INIT;
    CnArena a;
    cn_arena_init(&a, 0);
    const size_t N = 3000;
    const char *dss[3] = {"SORTED", "SHUFFLED", "SHUFFLED_SMALL_CHUNKS"};
    for (int d = 0; d < 3; d++) {
        /* 8 KiB chunks: ~40 chunks whose key ranges overlap, and repeated keys across them */
        CnKvOptions o = {.load_chunk_bytes = d == 2 ? 8 << 10 : 0};
        ASSERT_OK(cn_kv_open(uri, &o, &kv, &err), &err);
        CnKvLoad *ld;
        ASSERT_OK(cn_kv_load_begin(kv, dss[d], &ld, &err), &err);
        for (size_t i = 0; i < N; i++) {
            size_t j = d == 0 ? i : (i * 7919) % N;
            char k[32], v[48];
            key_of(k, j);
            int vl = snprintf(v, sizeof v, "value-%zu", j * 3);
            ASSERT_OK(cn_kv_load_add(ld, k, strlen(k), v, (size_t)vl, &err), &err);
        }
        for (size_t i = 0; d == 2 && i < N; i += 7) { /* repeats, in a later chunk: last wins */
            char k[32], v[48];
            key_of(k, i);
            int vl = snprintf(v, sizeof v, "value-%zu", i * 3);
            ASSERT_OK(cn_kv_load_add(ld, k, strlen(k), "stale", 5, &err), &err);
            ASSERT_OK(cn_kv_load_add(ld, k, strlen(k), v, (size_t)vl, &err), &err);
        }
        ASSERT_OK(cn_kv_load_commit(ld, NULL, &err), &err);
        /* CongoDB compares every document with every $in element: read a spread of 40
         * keys per 400 (all keys are counted below) */
        for (size_t i = 0; i < N; i += 400) {
            char kb[40][32];
            CnKvSlice q[41], out[41];
            for (size_t j = 0; j < 40; j++) {
                key_of(kb[j], (i + j * 10 + (i / 400) % 10) % N);
                q[j] = S(kb[j]);
            }
            q[40] = S("key9999999");
            cn_arena_reset(&a);
            ASSERT_OK(cn_kv_multi_get(kv, dss[d], q, 41, out, &a, &err), &err);
            for (size_t j = 0; j < 40; j++) {
                char want[48];
                snprintf(want, sizeof want, "value-%zu", (i + j * 10 + (i / 400) % 10) % N * 3);
                assert_str_value(out[j], want);
            }
            assert_null(out[40].data);
        }
        cn_kv_close(kv);
    }
    mongoc_client_t *c = mongoc_client_new(uri);
    bson_t all = BSON_INITIALIZER;
    /* exactly one document per key, repeats included, each with its value, and the
     * version document */
    for (int d = 0; d < 3; d++) {
        char coll[64];
        snprintf(coll, sizeof coll, "kv.%s", dss[d]);
        assert_int_equal(count_docs(c, "loads", coll, &all), (int64_t)N + 1);
    }
    mongoc_collection_t *col = mongoc_client_get_collection(c, "loads", "kv.SHUFFLED_SMALL_CHUNKS");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &all, NULL, NULL);
    const bson_t *doc;
    size_t n_ok = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        const uint8_t *k = NULL, *v = NULL;
        uint32_t kl = 0, vl = 0;
        bson_subtype_t st;
        if (bson_iter_init_find(&it, doc, "k")) bson_iter_binary(&it, &st, &kl, &k);
        if (bson_iter_init_find(&it, doc, "v")) bson_iter_binary(&it, &st, &vl, &v);
        size_t idx = 0;
        char want[48];
        if (!k && bson_iter_init_find(&it, doc, "version")) n_ok += 100000; /* counted apart */
        else if (k && kl == 10 && sscanf((const char *)k + 3, "%7zu", &idx) == 1) {
            int wl = snprintf(want, sizeof want, "value-%zu", idx * 3);
            if (v && vl == (uint32_t)wl && memcmp(v, want, vl) == 0) n_ok++;
        }
    }
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(col);
    assert_int_equal(n_ok, N + 100000);
    mongoc_client_destroy(c);
    server_kill(&s);
    cn_arena_fini(&a);
}

/* A reader multi-gets while versions 1..N_VER are loaded; version k holds keys
 * 0..size(k)-1 valued "v<k>:<key>", so one read shows whether it saw one whole version. */
enum { N_VER = 5, FLIP_BASE = 400, FLIP_STEP = 150 };
static size_t flip_size(int k) { return FLIP_BASE + (size_t)k * FLIP_STEP; }

typedef struct Reader {
    CnKv *kv;
    volatile int done;
    long n_reads;
    int versions_seen;
    char failure[512];
} Reader;

static void *flip_reader(void *arg) {
    Reader *r = arg;
    CnArena a;
    cn_arena_init(&a, 0);
    uint32_t x = 99;
    int last = 0;
    while (!r->failure[0] && (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE) || r->n_reads < 20)) {
        char kb[4][32];
        CnKvSlice q[4], out[4];
        size_t idx[4] = {0, 0, 0, 0};
        for (int i = 1; i < 4; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            /* key 3 sits at the edge of the last version seen: present in it, missing in
             * smaller ones, so a torn read shows */
            idx[i] = i == 3 ? flip_size(last ? last : 1) - 1 + (x & 1) : x % (flip_size(N_VER) + 50);
        }
        for (int i = 0; i < 4; i++) {
            key_of(kb[i], idx[i]);
            q[i] = S(kb[i]);
        }
        cn_arena_reset(&a);
        CnErr err = CN_ERR_INIT;
        if (cn_kv_multi_get(r->kv, "FLIP", q, 4, out, &a, &err) != 0) {
            snprintf(r->failure, sizeof r->failure, "%s", cn_err_msg(&err));
            break;
        }
        r->n_reads++;
        if (!out[0].data) {
            snprintf(r->failure, sizeof r->failure, "key 0 missing");
            break;
        }
        int ver = 0;
        sscanf((const char *)out[0].data, "v%d:", &ver);
        if (ver != last) r->versions_seen++;
        last = ver;
        for (int i = 1; i < 4; i++) {
            bool should = idx[i] < flip_size(ver);
            char want[48];
            snprintf(want, sizeof want, "v%d:%s", ver, kb[i]);
            if (should != (out[i].data != NULL) ||
                (should && (out[i].len != strlen(want) || memcmp(out[i].data, want, out[i].len)))) {
                snprintf(r->failure, sizeof r->failure, "read mixed versions: key 0 in v%d, key %s %s",
                         ver, kb[i], out[i].data ? "has another value" : "missing");
                break;
            }
        }
    }
    cn_arena_fini(&a);
    return NULL;
}

static void flip_atomic_under_reads(void **state) {
    (void)state;
    Server s = {0};
    server_start(&s, 0);
    char uri[256];
    uri_of(uri, sizeof uri, &s, "flip");
    CnKv *kv;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_kv_open(uri, NULL, &kv, &err), &err);
    Reader r[2];
    pthread_t th[2];
    for (int k = 1; k <= N_VER; k++) {
        CnKvLoad *ld;
        ASSERT_OK(cn_kv_load_begin(kv, "FLIP", &ld, &err), &err);
        for (size_t i = 0; i < flip_size(k); i++) {
            char kb[32], v[64];
            key_of(kb, i);
            int vl = snprintf(v, sizeof v, "v%d:%s", k, kb);
            ASSERT_OK(cn_kv_load_add(ld, kb, strlen(kb), v, (size_t)vl, &err), &err);
        }
        ASSERT_OK(cn_kv_load_commit(ld, NULL, &err), &err);
        if (k == 1)
            for (int i = 0; i < 2; i++) {
                r[i] = (Reader){.kv = kv};
                assert_int_equal(pthread_create(&th[i], NULL, flip_reader, &r[i]), 0);
            }
    }
    for (int i = 0; i < 2; i++) {
        __atomic_store_n(&r[i].done, 1, __ATOMIC_RELEASE);
        pthread_join(th[i], NULL);
        if (r[i].failure[0]) fail_msg("reader %d: %s", i, r[i].failure);
    }
    fprintf(stderr, "readers: %ld + %ld reads, %d + %d version changes seen\n", r[0].n_reads,
            r[1].n_reads, r[0].versions_seen, r[1].versions_seen);
    assert_true(r[0].versions_seen + r[1].versions_seen >= 2); /* reads overlapped the flips */
    cn_kv_close(kv);
    server_kill(&s);
}

/* Readers multi-get a cold key, a hot key rewritten by the writer, and a missing key
 * while the writer puts the hot keys round after round. */
typedef struct HotReader {
    CnKv *kv;
    int id;
    char failure[512];
} HotReader;

static void *hot_reader(void *arg) {
    HotReader *r = arg;
    CnArena a;
    cn_arena_init(&a, 0);
    for (int i = 0; i < 150 && !r->failure[0]; i++) {
        size_t cold = (size_t)(i * 37 + r->id) % 300;
        char kb[3][32];
        key_of(kb[0], cold);
        snprintf(kb[1], sizeof kb[1], "hot%d", (i + r->id) % 8);
        snprintf(kb[2], sizeof kb[2], "absent%d", i);
        CnKvSlice q[3] = {S(kb[0]), S(kb[1]), S(kb[2])}, out[3];
        CnErr err = CN_ERR_INIT;
        cn_arena_reset(&a);
        if (cn_kv_multi_get(r->kv, "HOT", q, 3, out, &a, &err) != 0) {
            snprintf(r->failure, sizeof r->failure, "%s", cn_err_msg(&err));
            break;
        }
        char want[48];
        snprintf(want, sizeof want, "cold-%zu", cold);
        if (!out[0].data || out[0].len != strlen(want) || memcmp(out[0].data, want, out[0].len))
            snprintf(r->failure, sizeof r->failure, "cold key %zu: wrong value", cold);
        else if (!out[1].data || out[1].len < strlen(kb[1]) || memcmp(out[1].data, kb[1], strlen(kb[1])))
            snprintf(r->failure, sizeof r->failure, "hot key %s: value of another key", kb[1]);
        else if (out[2].data)
            snprintf(r->failure, sizeof r->failure, "key %s should be missing", kb[2]);
    }
    cn_arena_fini(&a);
    return NULL;
}

static void readers_with_one_writer(void **state) {
    (void)state;
    Server s = {0};
    server_start(&s, 0);
    char uri[256];
    uri_of(uri, sizeof uri, &s, "hot");
    CnKv *kv;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_kv_open(uri, NULL, &kv, &err), &err);
    CnKvLoad *ld;
    ASSERT_OK(cn_kv_load_begin(kv, "HOT", &ld, &err), &err);
    for (size_t i = 0; i < 300; i++) {
        char kb[32], v[32];
        key_of(kb, i);
        int vl = snprintf(v, sizeof v, "cold-%zu", i);
        ASSERT_OK(cn_kv_load_add(ld, kb, strlen(kb), v, (size_t)vl, &err), &err);
    }
    for (int h = 0; h < 8; h++) {
        char kb[32];
        snprintf(kb, sizeof kb, "hot%d", h);
        ASSERT_OK(cn_kv_load_add(ld, kb, strlen(kb), kb, strlen(kb), &err), &err);
    }
    ASSERT_OK(cn_kv_load_commit(ld, NULL, &err), &err);
    HotReader r[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (HotReader){kv, i, {0}};
        assert_int_equal(pthread_create(&th[i], NULL, hot_reader, &r[i]), 0);
    }
    for (int round = 0; round < 40; round++) {
        char kb[8][32], vb[8][48];
        CnKvSlice k[8], v[8];
        for (int h = 0; h < 8; h++) {
            snprintf(kb[h], 32, "hot%d", h);
            snprintf(vb[h], 48, "hot%d#%d", h, round);
            k[h] = S(kb[h]);
            v[h] = S(vb[h]);
        }
        ASSERT_OK(cn_kv_multi_put(kv, "HOT", k, v, 8, &err), &err);
    }
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        if (r[i].failure[0]) fail_msg("reader %d: %s", i, r[i].failure);
    CnArena a;
    cn_arena_init(&a, 0);
    CnKvSlice got;
    ASSERT_OK(cn_kv_get(kv, "HOT", "hot3", 4, &got, &a, &err), &err);
    assert_str_value(got, "hot3#39");
    cn_arena_fini(&a);
    cn_kv_close(kv);
    server_kill(&s);
}

CN_TEST_MAIN(cmocka_unit_test(down_at_open_names_uri),
             cmocka_unit_test(dies_and_comes_back),
             cmocka_unit_test(collections_follow_guide),
             cmocka_unit_test(layout1_refused_then_converted),
             cmocka_unit_test(loads_sorted_shuffled_many_chunks),
             cmocka_unit_test(flip_atomic_under_reads),
             cmocka_unit_test(readers_with_one_writer))
