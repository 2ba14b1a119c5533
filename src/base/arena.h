/* arena.h: bump allocator for memory that dies together (Postgres-style lifetimes:
 * process, job/request, batch, scratch). Nothing in an arena is freed on its own;
 * cn_arena_reset() drops everything but keeps the first block, cn_arena_fini() frees all.
 * With CN_ARENA_DEBUG every allocation is a separate heap block so ASan sees overruns.
 * THREADS: one thread at a time. */
#ifndef CN_ARENA_H
#define CN_ARENA_H

#include "base/compat.h"

typedef struct CnArenaBlock CnArenaBlock;

typedef struct CnArena {
    CnArenaBlock *head;     /* current block (newest first) */
    size_t block_size;      /* default size of new blocks */
    size_t used_total;      /* bytes handed out since the last reset */
} CnArena;

/* block_size 0 picks 64 KiB. Never fails: memory is taken on first use. */
void cn_arena_init(CnArena *a, size_t block_size);
void cn_arena_fini(CnArena *a);
void cn_arena_reset(CnArena *a);
/* 16-byte aligned; NULL when out of memory. BORROWED: valid until reset/fini. */
void *cn_arena_alloc(CnArena *a, size_t n);
void *cn_arena_calloc(CnArena *a, size_t n);
char *cn_arena_strdup(CnArena *a, const char *s);
char *cn_arena_strndup(CnArena *a, const char *s, size_t n);
char *cn_arena_printf(CnArena *a, const char *fmt, ...) CN_PRINTF(2, 3);

#endif /* CN_ARENA_H */
