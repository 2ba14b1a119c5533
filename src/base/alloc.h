/* alloc.h: the one allocator. All heap memory in src/ goes through these
 * functions (a lint test rejects raw malloc/calloc/realloc/free elsewhere), so tests
 * can count allocations and inject failures.
 * Fault injection: CN_TEST_FAIL_ALLOC_AFTER=n makes the (n+1)-th allocation fail.
 * THREADS: safe from any thread (counters are atomic). */
#ifndef CN_ALLOC_H
#define CN_ALLOC_H

#include "base/compat.h"

/* Each returns NULL on failure (never aborts); cn_free(NULL) is a no-op. */
void *cn_malloc(size_t n);
void *cn_calloc(size_t count, size_t size);
void *cn_realloc(void *p, size_t n);
void cn_free(void *p);
/* OWNED: free with cn_free. NULL in, NULL out. */
char *cn_strdup(const char *s);
char *cn_strndup(const char *s, size_t n);

/* Frees memory that libc or a library allocated with malloc on our behalf (getline's
 * buffer, jansson's json_dumps text), which must not go through cn_free's accounting. */
void cn_free_libc(void *p);

/* Asks for transparent huge pages on the whole 2 MiB pages of [p, p + bytes) (where the
 * kernel gives them on request): a big array then faults in 2 MiB at a time instead of
 * 4 KiB, and passes reading or writing it at random miss the TLB less. Only advice:
 * failure changes nothing. */
void cn_alloc_huge(void *p, size_t bytes);

/* Regions of memory to fault in on another thread while their owner writes them from
 * the front (cn_pool_start(1, cn_prefault_run, &pf, ...)): the first touch of a fresh
 * page costs the kernel zeroing it, which then happens on a core that would idle.
 * MADV_POPULATE_WRITE maps pages without changing their contents, so the owner may
 * write them meanwhile; an older kernel refuses it, harmlessly (nothing is done). */
#define CN_PREFAULT_MAX 64u
typedef struct CnPrefault {
    void *p[CN_PREFAULT_MAX];
    size_t from[CN_PREFAULT_MAX], to[CN_PREFAULT_MAX]; /* bytes [from, to) of p */
    uint32_t n;
} CnPrefault;

/* Adds bytes [from, to) of p (nothing when full, p NULL or the range empty). */
void cn_prefault_add(CnPrefault *pf, void *p, size_t from, size_t to);
/* Faults in every region of pf (a CnPoolFn: ud is the CnPrefault, t unused), a few MiB
 * per call: a call holds the address space's lock, and another thread mapping memory
 * meanwhile waits for it. */
void cn_prefault_run(void *pf, uint32_t t);

/* Allocations performed so far (for leak and allocation-count tests). */
uint64_t cn_alloc_count(void);
/* Re-read CN_TEST_FAIL_ALLOC_AFTER (tests call this after setenv). */
void cn_alloc_reset_fault(void);

#endif /* CN_ALLOC_H */
