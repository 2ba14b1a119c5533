/* rowmap.h: a hash from byte strings to the row that added them (0, 1, 2, ...), for
 * joins on encoded keys (join.c snapshot parts, bootstrap.c). Private to the engine.
 * Open addressing over row ids; the bytes of every row are kept in one buffer. */
#ifndef CN_ENG_ROWMAP_H
#define CN_ENG_ROWMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "base/str.h"

typedef struct CnEngRowMap {
    uint32_t *slots; /* row + 1, 0 empty */
    uint32_t cap, n;
    uint64_t *hash;  /* per row */
    uint64_t *off;   /* per row + 1 */
    CnBuf bytes;
    uint32_t n_cap;
} CnEngRowMap;

static inline void cn_eng__rowmap_fini(CnEngRowMap *m) {
    cn_free(m->slots);
    cn_free(m->hash);
    cn_free(m->off);
    cn_buf_fini(&m->bytes);
    memset(m, 0, sizeof *m);
}

/* The row that added p[0..len) (hash h), UINT32_MAX when none. */
static inline uint32_t cn_eng__rowmap_find(const CnEngRowMap *m, const void *p, size_t len, uint64_t h) {
    if (!m->cap) return UINT32_MAX;
    for (uint32_t i = (uint32_t)h & (m->cap - 1); m->slots[i]; i = (i + 1) & (m->cap - 1)) {
        uint32_t c = m->slots[i] - 1;
        if (m->hash[c] == h && m->off[c + 1] - m->off[c] == len && !memcmp(m->bytes.data + m->off[c], p, len)) return c;
    }
    return UINT32_MAX;
}

/* Adds entry m->n (the next row); false when out of memory. */
static inline bool cn_eng__rowmap_add(CnEngRowMap *m, const void *p, size_t len, uint64_t h) {
    if ((uint64_t)(m->n + 1) * 2 > m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 1024;
        uint32_t *s = cn_calloc(cap, sizeof *s);
        if (!s) return false;
        for (uint32_t id = 0; id < m->n; id++) {
            uint32_t i = (uint32_t)m->hash[id] & (cap - 1);
            while (s[i]) i = (i + 1) & (cap - 1);
            s[i] = id + 1;
        }
        cn_free(m->slots);
        m->slots = s;
        m->cap = cap;
    }
    if (m->n == m->n_cap) {
        uint32_t nc = m->n_cap ? m->n_cap * 2 : 1024;
        uint64_t *hh = cn_realloc(m->hash, (size_t)nc * sizeof *hh);
        if (!hh) return false;
        m->hash = hh;
        uint64_t *oo = cn_realloc(m->off, ((size_t)nc + 1) * sizeof *oo);
        if (!oo) return false;
        if (!m->off) oo[0] = 0;
        m->off = oo;
        m->n_cap = nc;
    }
    if (cn_buf_append(&m->bytes, p, len)) return false;
    uint32_t id = m->n++;
    m->hash[id] = h;
    m->off[id + 1] = m->off[id] + len;
    uint32_t i = (uint32_t)h & (m->cap - 1);
    while (m->slots[i]) i = (i + 1) & (m->cap - 1);
    m->slots[i] = id + 1;
    return true;
}

#endif /* CN_ENG_ROWMAP_H */
