/* test_pool.c: parallel steps run every body once, on distinct threads, and
 * CN_THREADS picks the thread count. */
#include "cn_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>

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

CN_TEST_MAIN(cmocka_unit_test(run_calls_each_body_once), cmocka_unit_test(start_runs_beside_the_caller),
             cmocka_unit_test(threads_from_env))
