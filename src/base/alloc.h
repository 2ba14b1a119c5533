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

/* Allocations performed so far (for leak and allocation-count tests). */
uint64_t cn_alloc_count(void);
/* Re-read CN_TEST_FAIL_ALLOC_AFTER (tests call this after setenv). */
void cn_alloc_reset_fault(void);

#endif /* CN_ALLOC_H */
