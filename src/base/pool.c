/* pool.c: threads for one parallel step (pool.h). Each thread is a plain pthread; a step
 * is short-lived, so starting its threads (tens of microseconds) costs nothing next to
 * the work, and no thread is left idle between steps. */
#include "base/compat.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/pool.h"

#define POOL_MAX 256u

uint32_t cn_pool_threads(void) {
    const char *e = getenv("CN_THREADS");
    if (e && *e) {
        char *end = NULL;
        long v = strtol(e, &end, 10);
        if (end && !*end && v >= 1 && v <= (long)POOL_MAX) return (uint32_t)v;
        static atomic_bool warned;
        if (!atomic_exchange(&warned, true))
            cn_log(CN_LOG_WARN, "CN_THREADS: '%s' is not a thread count (expected 1-%u); using the default", e,
                   POOL_MAX);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    /* Ranks of an MPI job on one machine share its CPUs: each takes its share, so
     * N ranks never start N x CPUs threads (Open MPI, then MPICH's Hydra). */
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!local || !*local) local = getenv("MPI_LOCALNRANKS");
    if (local && *local) {
        long r = strtol(local, NULL, 10);
        if (r > 1) n /= r;
    }
    return n < 1 ? 1u : n > (long)POOL_MAX ? POOL_MAX : (uint32_t)n;
}

typedef struct Slot {
    pthread_t th;
    CnPoolFn fn;
    void *ud;
    uint32_t t;
} Slot;

struct CnPoolJob {
    uint32_t n;
    Slot slot[];
};

static void *slot_main(void *arg) {
    Slot *s = arg;
    s->fn(s->ud, s->t);
    return NULL;
}

/* Starts slots first..n-1 of j; returns how many started (the first ones), *e the
 * error of the first that did not. */
static uint32_t start_slots(CnPoolJob *j, uint32_t first, CnPoolFn fn, void *ud, int *e) {
    uint32_t i = first;
    *e = 0;
    for (; i < j->n; i++) {
        j->slot[i].fn = fn;
        j->slot[i].ud = ud;
        j->slot[i].t = i;
        if ((*e = pthread_create(&j->slot[i].th, NULL, slot_main, &j->slot[i])) != 0) break;
    }
    return i;
}

static CnPoolJob *job_new(uint32_t n) {
    CnPoolJob *j = cn_calloc(1, sizeof *j + (size_t)n * sizeof(Slot));
    if (j) j->n = n;
    return j;
}

void cn_pool_run(uint32_t n, CnPoolFn fn, void *ud) {
    if (n == 0) return;
    CnPoolJob *j = n > 1 ? job_new(n) : NULL;
    int e = 0;
    uint32_t started = j ? start_slots(j, 1, fn, ud, &e) : 1;
    fn(ud, 0);
    for (uint32_t t = 1; t < started; t++) pthread_join(j->slot[t].th, NULL);
    for (uint32_t t = started; t < n; t++) fn(ud, t); /* threads that could not start */
    cn_free(j);
}

int cn_pool_start(uint32_t n, CnPoolFn fn, void *ud, CnPoolJob **out, CnErr *err) {
    *out = NULL;
    CnPoolJob *j = job_new(n);
    if (!j) return cn_err_set(err, CN_ENOMEM, "out of memory (%u threads)", n);
    int e = 0;
    uint32_t started = start_slots(j, 0, fn, ud, &e);
    if (started < n) {
        for (uint32_t t = 0; t < started; t++) pthread_join(j->slot[t].th, NULL);
        cn_free(j);
        return cn_err_set(err, CN_EIO, "cannot start thread %u of %u: %s", started + 1, n, strerror(e));
    }
    *out = j;
    return 0;
}

void cn_pool_join(CnPoolJob *j) {
    if (!j) return;
    for (uint32_t t = 0; t < j->n; t++) pthread_join(j->slot[t].th, NULL);
    cn_free(j);
}
