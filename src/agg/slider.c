/* slider.c: sliding a window over tiles. Deletable ops keep one running state (merge
 * the new tile, subtract the expired one) plus a per-id count of tiles holding a value,
 * so an id whose tiles all expired is null again rather than a zero IR (N2). The other
 * ops use two stacks: pushes fold into a `back` state; the front holds suffix merges of
 * older tiles, rebuilt from the queued tiles when it runs empty, so each tile is merged
 * O(1) times amortised and a query merges two IRs. A tile may be sparse: IR i of the
 * tile then belongs to id ids[i] of the slider's states (push_ids). */
#include "agg/agg_int.h"

#include "base/alloc.h"

struct CnAggSlider {
    const CnAggSpec *spec;
    bool rev;
    const CnAggState **q;  /* ring of BORROWED tiles, oldest at q_head */
    const uint32_t **qid;  /* their id maps (NULL: identity), same ring positions */
    uint32_t q_head, q_len, q_cap;
    /* deletable ops */
    CnAggState *run;
    uint32_t *cnt;
    uint32_t cnt_cap;
    /* two stacks */
    CnAggState *back;
    CnAggState **sfx;      /* sfx[i]: merge of front tiles i.. (n_front of them) */
    uint32_t n_front, i_front, sfx_cap;
};

int cn_agg_slider_new(const CnAggSpec *spec, CnAggSlider **out, CnErr *err) {
    CnAggSlider *s = cn_calloc(1, sizeof *s);
    *out = NULL;
    if (!s) return cn_err_set(err, CN_ENOMEM, "agg slider: out of memory");
    s->spec = spec;
    s->rev = spec->deletable;
    int rc = cn_agg_state_new(spec, s->rev ? &s->run : &s->back, err);
    if (rc < 0) {
        cn_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void cn_agg_slider_free(CnAggSlider *s) {
    if (!s) return;
    cn_agg_state_free(s->run);
    cn_agg_state_free(s->back);
    for (uint32_t i = 0; i < s->sfx_cap; i++) cn_agg_state_free(s->sfx[i]);
    cn_free(s->sfx);
    cn_free(s->q);
    cn_free(s->qid);
    cn_free(s->cnt);
    cn_free(s);
}

uint32_t cn_agg_slider_len(const CnAggSlider *s) { return s->q_len; }

size_t cn_agg_slider_mem(const CnAggSlider *s) {
    size_t m = (size_t)s->q_cap * (sizeof *s->q + sizeof *s->qid) + (size_t)s->cnt_cap * sizeof *s->cnt;
    if (s->run) m += cn_agg_state_mem(s->run);
    if (s->back) m += cn_agg_state_mem(s->back);
    for (uint32_t i = 0; i < s->sfx_cap; i++)
        if (s->sfx[i]) m += cn_agg_state_mem(s->sfx[i]);
    return m;
}

static const CnAggState *q_at(const CnAggSlider *s, uint32_t i) {
    return s->q[(s->q_head + i) % s->q_cap];
}
static const uint32_t *qid_at(const CnAggSlider *s, uint32_t i) {
    return s->qid[(s->q_head + i) % s->q_cap];
}

/* Ids a tile addresses: one past its largest (mapped) id. */
static uint32_t id_span(const CnAggState *tile, const uint32_t *ids) {
    if (!ids) return tile->n_ids;
    uint32_t m = 0;
    for (uint32_t i = 0; i < tile->n_ids; i++)
        if (ids[i] + 1 > m) m = ids[i] + 1;
    return m;
}

/* Folds every IR of tile into dst (sign +1 merge, -1 subtract); IR i goes to id ids[i]
 * (ids NULL: to id i). */
static int fold_all(CnAggState *dst, const CnAggState *tile, const uint32_t *ids, int sign, CnErr *err) {
    int rc = cn_agg_state_reserve(dst, id_span(tile, ids), err);
    for (uint32_t i = 0; i < tile->n_ids && rc == 0; i++) {
        if (!cn_agg__present(tile, i)) continue;
        uint32_t id = ids ? ids[i] : i;
        rc = sign > 0 ? cn_agg_state_merge(dst, id, tile, i, err)
                      : cn_agg_state_subtract(dst, id, tile, i, err);
    }
    return rc;
}

int cn_agg_slider_push(CnAggSlider *s, const CnAggState *tile, CnErr *err) {
    return cn_agg_slider_push_ids(s, tile, NULL, err);
}

int cn_agg_slider_push_ids(CnAggSlider *s, const CnAggState *tile, const uint32_t *ids, CnErr *err) {
    if (s->q_len == s->q_cap) {
        uint32_t nc = s->q_cap ? s->q_cap * 2 : 16;
        const CnAggState **nq = cn_malloc((size_t)nc * sizeof *nq);
        const uint32_t **nid = cn_malloc((size_t)nc * sizeof *nid);
        if (!nq || !nid) {
            cn_free(nq);
            cn_free(nid);
            return cn_err_set(err, CN_ENOMEM, "agg slider: out of memory");
        }
        for (uint32_t i = 0; i < s->q_len; i++) nq[i] = q_at(s, i), nid[i] = qid_at(s, i);
        cn_free(s->q);
        cn_free(s->qid);
        s->q = nq;
        s->qid = nid;
        s->q_cap = nc;
        s->q_head = 0;
    }
    int rc;
    if (s->rev) {
        uint32_t cap = s->cnt_cap, span = id_span(tile, ids);
        if (cap < span) {
            if (cn_agg__grow_u32(&s->cnt, &cap, span))
                return cn_err_set(err, CN_ENOMEM, "agg slider: out of memory");
            memset(s->cnt + s->cnt_cap, 0, (size_t)(cap - s->cnt_cap) * 4);
            s->cnt_cap = cap;
        }
        rc = fold_all(s->run, tile, ids, 1, err);
        for (uint32_t i = 0; i < tile->n_ids && rc == 0; i++)
            if (cn_agg__present(tile, i)) s->cnt[ids ? ids[i] : i]++;
    } else {
        rc = fold_all(s->back, tile, ids, 1, err);
    }
    if (rc < 0) return rc;
    s->q[(s->q_head + s->q_len) % s->q_cap] = tile;
    s->qid[(s->q_head + s->q_len) % s->q_cap] = ids;
    s->q_len++;
    return 0;
}

/* Moves every queued tile that is not in the front into a new front of suffix merges. */
static int flip(CnAggSlider *s, CnErr *err) {
    uint32_t f = s->q_len; /* front is empty: all queued tiles are in back */
    if (f > s->sfx_cap) {
        CnAggState **n = cn_realloc(s->sfx, (size_t)f * sizeof *n);
        if (!n) return cn_err_set(err, CN_ENOMEM, "agg slider: out of memory");
        for (uint32_t i = s->sfx_cap; i < f; i++) n[i] = NULL;
        s->sfx = n;
        s->sfx_cap = f;
    }
    for (uint32_t k = f; k-- > 0;) {
        if (!s->sfx[k]) {
            int rc = cn_agg_state_new(s->spec, &s->sfx[k], err);
            if (rc < 0) return rc;
        }
        CnAggState *x = s->sfx[k];
        cn_agg_state_reset(x);
        int rc = 0;
        if (k + 1 < f) rc = fold_all(x, s->sfx[k + 1], NULL, 1, err);
        if (rc == 0) rc = fold_all(x, q_at(s, k), qid_at(s, k), 1, err);
        if (rc < 0) return rc;
    }
    cn_agg_state_reset(s->back);
    s->n_front = f;
    s->i_front = 0;
    return 0;
}

int cn_agg_slider_pop(CnAggSlider *s, CnErr *err) {
    if (s->q_len == 0) return cn_err_set(err, CN_EINVAL, "agg slider: pop from an empty window");
    const CnAggState *old = q_at(s, 0);
    const uint32_t *ids = qid_at(s, 0);
    if (s->rev) {
        int rc = fold_all(s->run, old, ids, -1, err);
        if (rc < 0) return rc;
        for (uint32_t i = 0; i < old->n_ids; i++) {
            if (!cn_agg__present(old, i)) continue;
            uint32_t id = ids ? ids[i] : i;
            if (--s->cnt[id] == 0) cn_agg_state_clear(s->run, id);
        }
    } else {
        if (s->i_front == s->n_front) {
            int rc = flip(s, err);
            if (rc < 0) return rc;
        }
        s->i_front++;
    }
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
    return 0;
}

int cn_agg_slider_query(CnAggSlider *s, uint32_t id, CnAggState *dst, uint32_t dst_id,
                        CnErr *err) {
    if (s->rev) {
        if (id >= s->cnt_cap || s->cnt[id] == 0) return 0;
        return cn_agg_state_merge(dst, dst_id, s->run, id, err);
    }
    int rc = 0;
    if (s->i_front < s->n_front)
        rc = cn_agg_state_merge(dst, dst_id, s->sfx[s->i_front], id, err);
    if (rc == 0) rc = cn_agg_state_merge(dst, dst_id, s->back, id, err);
    return rc;
}
