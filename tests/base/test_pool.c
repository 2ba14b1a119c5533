/* test_pool.c: parallel steps run every body once, on distinct threads, and
 * CN_THREADS picks the thread count. */
#include "cn_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>

#include <sys/mman.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/pool.h"

typedef struct Run {
    atomic_uint calls[8];
    pthread_t who[8];
    atomic_uint arrived; /* bodies of cn_pool_start wait for one another: they must overlap */
    uint32_t n;
} Run;

static void body(void *ud, uint32_t t) {
    Run *r = ud;
    atomic_fetch_add(&r->calls[t], 1);
    r->who[t] = pthread_self();
}

static void barrier_body(void *ud, uint32_t t) {
    Run *r = ud;
    body(ud, t);
    atomic_fetch_add(&r->arrived, 1);
    while (atomic_load(&r->arrived) < r->n) sched_yield();
}

static void run_calls_each_body_once(void **state) {
    (void)state;
    for (uint32_t n = 0; n <= 5; n++) {
        Run r = {0};
        cn_pool_run(n, body, &r);
        for (uint32_t t = 0; t < 8; t++) assert_int_equal(atomic_load(&r.calls[t]), t < n ? 1 : 0);
        if (n) assert_true(pthread_equal(r.who[0], pthread_self())); /* t = 0 is the caller */
        for (uint32_t t = 1; t < n; t++) assert_false(pthread_equal(r.who[t], pthread_self()));
    }
}

static void start_runs_beside_the_caller(void **state) {
    (void)state;
    Run r = {0};
    r.n = 4;
    CnPoolJob *j = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_pool_start(3, barrier_body, &r, &j, &err), &err);
    barrier_body(&r, 3); /* returns only once the three threads run at the same time */
    cn_pool_join(j);
    for (uint32_t t = 0; t < 4; t++) assert_int_equal(atomic_load(&r.calls[t]), 1);
    for (uint32_t t = 0; t < 3; t++) assert_false(pthread_equal(r.who[t], pthread_self()));
    cn_pool_join(NULL);
}

static void threads_from_env(void **state) {
    (void)state;
    setenv("CN_THREADS", "3", 1);
    assert_int_equal(cn_pool_threads(), 3);
    setenv("CN_THREADS", "1", 1);
    assert_int_equal(cn_pool_threads(), 1);
    unsetenv("CN_THREADS");
    uint32_t online = cn_pool_threads();
    assert_true(online >= 1);
    static const char *const bad[] = {"0", "-2", "x", "3x", "100000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("CN_THREADS", bad[i], 1); /* warned about once, then the online CPUs */
        assert_int_equal(cn_pool_threads(), online);
    }
    unsetenv("CN_THREADS");
    /* ranks of an MPI job on one machine split its CPUs; CN_THREADS still wins */
    setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1);
    assert_int_equal(cn_pool_threads(), online / 2 < 1 ? 1 : online / 2);
    setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "100000", 1);
    assert_int_equal(cn_pool_threads(), 1);
    setenv("CN_THREADS", "3", 1);
    assert_int_equal(cn_pool_threads(), 3);
    unsetenv("CN_THREADS");
    unsetenv("OMPI_COMM_WORLD_LOCAL_SIZE");
}

/* cn_prefault_run beside a writer: the pages end up resident (where the kernel has
 * MADV_POPULATE_WRITE) and every byte written before or meanwhile is kept. */
static void prefault_keeps_contents(void **state) {
    (void)state;
    const size_t bytes = (size_t)8 << 20, page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    for (size_t i = 0; i < bytes / 4; i++) p[i] = (uint8_t)(i * 7 + 1); /* written before */
    CnPrefault pf = {0};
    cn_prefault_add(&pf, NULL, 0, 10);  /* no memory */
    cn_prefault_add(&pf, p, 100, 100);  /* empty */
    assert_int_equal(pf.n, 0);
    cn_prefault_add(&pf, p, 0, bytes);
    assert_int_equal(pf.n, 1);
    CnPoolJob *j = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_pool_start(1, cn_prefault_run, &pf, &j, &err), &err);
    for (size_t i = bytes / 4; i < bytes; i++) p[i] = (uint8_t)(i * 7 + 1); /* written meanwhile */
    cn_pool_join(j);
    for (size_t i = 0; i < bytes; i++)
        if (p[i] != (uint8_t)(i * 7 + 1)) fail_msg("byte %zu changed", i);
    /* fresh memory: resident after a run alone */
    uint8_t *q = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(q != MAP_FAILED);
    CnPrefault pq = {0};
    cn_prefault_add(&pq, q, 0, bytes);
    cn_prefault_run(&pq, 0);
#ifdef MADV_POPULATE_WRITE
    if (madvise(q, page, MADV_POPULATE_WRITE) == 0) { /* the kernel has it */
        unsigned char *vec = cn_malloc(bytes / page);
        assert_int_equal(mincore(q, bytes, vec), 0);
        for (size_t i = 0; i < bytes / page; i++) assert_true(vec[i] & 1);
        cn_free(vec);
    }
#endif
    for (size_t i = 0; i < bytes; i += page) assert_int_equal(q[i], 0); /* zeroed, as any fresh page */
    munmap(p, bytes);
    munmap(q, bytes);
}

CN_TEST_MAIN(cmocka_unit_test(run_calls_each_body_once), cmocka_unit_test(start_runs_beside_the_caller),
             cmocka_unit_test(threads_from_env), cmocka_unit_test(prefault_keeps_contents))
