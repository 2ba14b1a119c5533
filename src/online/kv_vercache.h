/* kv_vercache.h: the version a remote backend's multi-get last saw current, per dataset
 * (private to src/online; used by kv_redis.c and kv_dynamodb.c).
 * A remote multi-get sends its reads for the remembered version together with a read
 * of the dataset's pointer, in one round trip, and accepts the values only when the
 * pointer still names that version (each backend's file says why that proves one
 * consistent version). The cache only saves the pointer read that would otherwise
 * come first; a wrong entry costs a retry, never a wrong answer.
 * THREADS: every function locks; any thread may call them. */
#ifndef CN_KV_VERCACHE_H
#define CN_KV_VERCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct CnKvVerEnt CnKvVerEnt;

typedef struct CnKvVerCache {
    pthread_mutex_t mu;     /* guards head */
    CnKvVerEnt *head;       /* OWNED: a short list (one entry per dataset read) */
} CnKvVerCache;

void cn_kv__vc_init(CnKvVerCache *vc);
void cn_kv__vc_fini(CnKvVerCache *vc);
/* true with *ver when dataset has an entry. */
bool cn_kv__vc_get(CnKvVerCache *vc, const char *dataset, uint64_t *ver);
/* Remembers ver for dataset; ver 0 forgets it. Out of memory leaves no entry (the next
 * read asks the server first). Clears the entry's confirmation time. */
void cn_kv__vc_set(CnKvVerCache *vc, const char *dataset, uint64_t ver);
/* As cn_kv__vc_get, with *at_ns: the CLOCK_MONOTONIC time (ns) at or before which a
 * pointer read that found ver current was sent (0: never confirmed). kv_dynamodb.c
 * trusts ver without reading the pointer for a short lease after it. */
bool cn_kv__vc_get_at(CnKvVerCache *vc, const char *dataset, uint64_t *ver, uint64_t *at_ns);
/* Remembers ver as confirmed current by a pointer read sent at at_ns. The same ver keeps
 * the later of its two times (readers on other threads confirm concurrently). */
void cn_kv__vc_confirm(CnKvVerCache *vc, const char *dataset, uint64_t ver, uint64_t at_ns);

#endif /* CN_KV_VERCACHE_H */
