/* kv_vercache.c: see kv_vercache.h. A linked list: a process serves a handful of
 * datasets, and the lookup is a few strcmp next to a network round trip. */
#include "online/kv_vercache.h"

#include <string.h>

#include "base/alloc.h"
#include "base/str.h"

struct CnKvVerEnt {
    char *dataset;          /* OWNED */
    uint64_t ver;
    uint64_t at_ns;         /* confirmation time (cn_kv__vc_confirm); 0: none */
    CnKvVerEnt *next;
};

void cn_kv__vc_init(CnKvVerCache *vc) {
    pthread_mutex_init(&vc->mu, NULL);
    vc->head = NULL;
}

void cn_kv__vc_fini(CnKvVerCache *vc) {
    while (vc->head) {
        CnKvVerEnt *e = vc->head;
        vc->head = e->next;
        cn_free(e->dataset);
        cn_free(e);
    }
    pthread_mutex_destroy(&vc->mu);
}

bool cn_kv__vc_get_at(CnKvVerCache *vc, const char *dataset, uint64_t *ver, uint64_t *at_ns) {
    pthread_mutex_lock(&vc->mu);
    CnKvVerEnt *e = vc->head;
    while (e && strcmp(e->dataset, dataset) != 0) e = e->next;
    if (e) *ver = e->ver, *at_ns = e->at_ns;
    pthread_mutex_unlock(&vc->mu);
    return e != NULL;
}

bool cn_kv__vc_get(CnKvVerCache *vc, const char *dataset, uint64_t *ver) {
    uint64_t at;
    return cn_kv__vc_get_at(vc, dataset, ver, &at);
}

static void vc_put(CnKvVerCache *vc, const char *dataset, uint64_t ver, uint64_t at_ns, bool confirm) {
    pthread_mutex_lock(&vc->mu);
    CnKvVerEnt **pe = &vc->head;
    while (*pe && strcmp((*pe)->dataset, dataset) != 0) pe = &(*pe)->next;
    if (*pe && ver) {
        if (!confirm || (*pe)->ver != ver || (*pe)->at_ns < at_ns) (*pe)->at_ns = at_ns;
        (*pe)->ver = ver;
    } else if (*pe) {
        CnKvVerEnt *e = *pe;
        *pe = e->next;
        cn_free(e->dataset);
        cn_free(e);
    } else if (ver) {
        CnKvVerEnt *e = cn_malloc(sizeof *e);
        if (e && (e->dataset = cn_strdup(dataset))) {
            e->ver = ver;
            e->at_ns = at_ns;
            e->next = vc->head;
            vc->head = e;
        } else {
            cn_free(e);
        }
    }
    pthread_mutex_unlock(&vc->mu);
}

void cn_kv__vc_set(CnKvVerCache *vc, const char *dataset, uint64_t ver) { vc_put(vc, dataset, ver, 0, false); }

void cn_kv__vc_confirm(CnKvVerCache *vc, const char *dataset, uint64_t ver, uint64_t at_ns) {
    vc_put(vc, dataset, ver, at_ns, true);
}
