/* extpart.c: offline-capable external parts as join parts (see extpart.h). */
#include "engine/extpart.h"

#include <string.h>

#include "base/alloc.h"

/* Whether name is one of gb's key columns. */
static bool is_key(const CnGroupBy *gb, const char *name) {
    for (size_t k = 0; k < gb->key_columns.n; k++)
        if (!strcmp(gb->key_columns.items[k], name)) return true;
    return false;
}

int cn_eng__extpart_expand(const CnJoin *j, CnArena *a, const CnJoin **out, CnErr *err) {
    const char *jn = j->meta.name ? j->meta.name : "?";
    size_t n_off = 0;
    for (size_t i = 0; i < j->n_externals; i++) n_off += j->externals[i].source.offline_group_by != NULL;
    *out = j;
    if (!n_off) return 0;
    CnJoin *x = cn_arena_alloc(a, sizeof *x);
    CnJoinPart *parts = cn_arena_alloc(a, (j->n_parts + n_off) * sizeof *parts);
    CnExternalPart *ext = cn_arena_alloc(a, (j->n_externals - n_off + 1) * sizeof *ext);
    if (!x || !parts || !ext) return cn_err_set(err, CN_ENOMEM, "out of memory");
    *x = *j;
    if (j->n_parts) memcpy(parts, j->parts, j->n_parts * sizeof *parts);
    size_t n_parts = j->n_parts, n_ext = 0;
    for (size_t i = 0; i < j->n_externals; i++) {
        const CnExternalPart *ep = &j->externals[i];
        const CnGroupBy *og = ep->source.offline_group_by;
        if (!og) {
            ext[n_ext++] = *ep;
            continue;
        }
        const char *src = ep->source.meta.name;
        if (!src || !*src)
            return cn_err_set(err, CN_ECONFIG,
                              "join %s: onlineExternalParts[%zu].source.metadata.name is missing (its offlineGroupBy's "
                              "columns are named ext_[<prefix>_]<source name>_<column>)",
                              jn, i);
        if (!og->key_columns.n)
            return cn_err_set(err, CN_ECONFIG, "join %s: onlineExternalParts[%zu] (%s): offlineGroupBy.keyColumns is empty",
                              jn, i, src);
        for (size_t m = 0; m < ep->key_mapping.n; m++)
            if (!is_key(og, ep->key_mapping.vals[m]))
                return cn_err_set(err, CN_ECONFIG,
                                  "join %s: onlineExternalParts[%zu] (%s): keyMapping %s -> %s names no key column of "
                                  "its offlineGroupBy %s",
                                  jn, i, src, ep->key_mapping.keys[m], ep->key_mapping.vals[m],
                                  og->meta.name ? og->meta.name : "?");
        /* The part's full prefix is [<prefix>_]<sanitize(GroupBy name)>: naming the copy after
         * the source and prefixing "ext" gives Chronon's ext_[<prefix>_]<sanitize(source)>. */
        CnGroupBy *g = cn_arena_alloc(a, sizeof *g);
        const char *px = ep->prefix ? cn_arena_printf(a, "ext_%s", ep->prefix) : "ext";
        if (!g || !px) return cn_err_set(err, CN_ENOMEM, "out of memory");
        *g = *og;
        g->meta.name = src;
        parts[n_parts++] = (CnJoinPart){.group_by = g, .key_mapping = ep->key_mapping, .prefix = px};
    }
    x->parts = parts;
    x->n_parts = n_parts;
    x->externals = ext;
    x->n_externals = n_ext;
    *out = x;
    return 0;
}
