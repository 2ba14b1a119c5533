/* arena.c: bump allocator over a list of blocks (see arena.h). */
#include "base/compat.h"

#include "base/arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"

struct CnArenaBlock {
    CnArenaBlock *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

void cn_arena_init(CnArena *a, size_t block_size) {
    a->head = NULL;
    a->block_size = block_size ? block_size : 64 * 1024;
    a->used_total = 0;
}

static void free_chain(CnArenaBlock *b, CnArenaBlock *keep) {
    while (b && b != keep) {
        CnArenaBlock *n = b->next;
        cn_free(b);
        b = n;
    }
}

void cn_arena_fini(CnArena *a) {
    free_chain(a->head, NULL);
    a->head = NULL;
    a->used_total = 0;
}

void cn_arena_reset(CnArena *a) {
#ifdef CN_ARENA_DEBUG
    cn_arena_fini(a);
#else
    if (!a->head) return;
    CnArenaBlock *last = a->head;
    while (last->next) last = last->next;
    /* keep the oldest block only if it is a default-sized one */
    if (last->cap == a->block_size) {
        CnArenaBlock *b = a->head;
        while (b != last) {
            CnArenaBlock *n = b->next;
            cn_free(b);
            b = n;
        }
        last->used = 0;
        a->head = last;
    } else {
        cn_arena_fini(a);
    }
    a->used_total = 0;
#endif
}

void *cn_arena_alloc(CnArena *a, size_t n) {
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) return NULL;
#ifdef CN_ARENA_DEBUG
    CnArenaBlock *d = cn_malloc(sizeof *d + (n ? n : 1));
    if (!d) return NULL;
    d->cap = n;
    d->used = n;
    d->next = a->head;
    a->head = d;
    a->used_total += n;
    return d->data;
#else
    CnArenaBlock *b = a->head;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > a->block_size / 4 ? need : a->block_size;
        CnArenaBlock *nb = cn_malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->cap = cap;
        nb->used = 0;
        if (cap != a->block_size && b) {
            /* a big one-off: put it behind the current block so the current
             * block keeps serving small requests */
            nb->next = b->next;
            b->next = nb;
            nb->used = need;
            a->used_total += need;
            return nb->data;
        }
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used_total += need;
    return p;
#endif
}

void *cn_arena_calloc(CnArena *a, size_t n) {
    void *p = cn_arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

char *cn_arena_strndup(CnArena *a, const char *s, size_t n) {
    char *d = cn_arena_alloc(a, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *cn_arena_strdup(CnArena *a, const char *s) {
    return s ? cn_arena_strndup(a, s, strlen(s)) : NULL;
}

char *cn_arena_printf(CnArena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *d = cn_arena_alloc(a, (size_t)n + 1);
    if (!d) return NULL;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}
