/* alloc.c: allocation wrappers with counting and fault injection (see alloc.h). */
#include "base/compat.h"

#include "base/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static atomic_uint_fast64_t n_allocs;
static atomic_int_fast64_t fail_after = -2; /* -2: not read yet, -1: never fail */

static int64_t fault_budget(void) {
    int64_t v = atomic_load(&fail_after);
    if (v == -2) {
        const char *s = getenv("CN_TEST_FAIL_ALLOC_AFTER");
        v = (s && *s) ? strtoll(s, NULL, 10) : -1;
        atomic_store(&fail_after, v);
    }
    return v;
}

void cn_alloc_reset_fault(void) { atomic_store(&fail_after, -2); }

static int should_fail(void) {
    int64_t budget = fault_budget();
    uint64_t n = atomic_fetch_add(&n_allocs, 1);
    return budget >= 0 && n >= (uint64_t)budget;
}

uint64_t cn_alloc_count(void) { return atomic_load(&n_allocs); }

void *cn_malloc(size_t n) {
    if (should_fail()) return NULL;
    return malloc(n ? n : 1);
}

void *cn_calloc(size_t count, size_t size) {
    if (should_fail()) return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *cn_realloc(void *p, size_t n) {
    if (should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void cn_free(void *p) { free(p); }

void cn_free_libc(void *p) { free(p); }

char *cn_strndup(const char *s, size_t n) {
    if (!s) return NULL;
    char *d = cn_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *cn_strdup(const char *s) { return s ? cn_strndup(s, strlen(s)) : NULL; }

void cn_alloc_huge(void *p, size_t bytes) {
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1), hi = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (p && hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p, (void)bytes;
#endif
}

void cn_prefault_add(CnPrefault *pf, void *p, size_t from, size_t to) {
    if (!p || from >= to || pf->n == CN_PREFAULT_MAX) return;
    pf->p[pf->n] = p;
    pf->from[pf->n] = from;
    pf->to[pf->n++] = to;
}

#define PREFAULT_STEP ((uintptr_t)2 << 20)

void cn_prefault_run(void *ud, uint32_t t) {
    const CnPrefault *pf = ud;
    (void)t;
#ifdef MADV_POPULATE_WRITE
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (uint32_t i = 0; i < pf->n; i++) {
        uintptr_t a = (uintptr_t)pf->p[i] + pf->from[i], e = (uintptr_t)pf->p[i] + pf->to[i];
        a = (a + page - 1) & ~(page - 1);
        e &= ~(page - 1);
        for (; a < e; a += PREFAULT_STEP)
            if (madvise((void *)a, e - a < PREFAULT_STEP ? e - a : PREFAULT_STEP, MADV_POPULATE_WRITE)) return;
    }
#else
    (void)pf;
#endif
}
