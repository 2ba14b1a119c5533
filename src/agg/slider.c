/* slider.c: sliding a window over tiles. Deletable ops keep one running state (merge
 * the new tile, subtract the expired one) plus a per-id count of tiles holding a value,
 * so an id whose tiles all expired is null again rather than a zero IR (N2). The other
 * ops use two stacks: pushes fold into a `back` state; the front holds suffix merges of
 * older tiles, rebuilt from the queued tiles when it runs empty, so each tile is merged
 * O(1) times amortised and a query merges two IRs. */
#include "agg/agg_int.h"

#include "base/alloc.h"

struct CnAggSlider {
    const CnAggSpec *spec;
    bool rev;
    const CnAggState **q;  /* ring of BORROWED tiles, oldest at q_head */
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
    cn_free(s->cnt);
    cn_free(s);
}

uint32_t cn_agg_slider_len(const CnAggSlider *s) { return s->q_len; }

static const CnAggState *q_at(const CnAggSlider *s, uint32_t i) {
    return s->q[(s->q_head + i) % s->q_cap];
}

/* Folds every id of tile into dst (sign +1 merge, -1 subtract). */
static int fold_all(CnAggState *dst, const CnAggState *tile, int sign, CnErr *err) {
    int rc = cn_agg_state_reserve(dst, tile->n_ids, err);
    for (uint32_t id = 0; id < tile->n_ids && rc == 0; id++) {
        if (!cn_agg__present(tile, id)) continue;
        rc = sign > 0 ? cn_agg_state_merge(dst, id, tile, id, err)
                      : cn_agg_state_subtract(dst, id, tile, id, err);
    }
    return rc;
}

int cn_agg_slider_push(CnAggSlider *s, const CnAggState *tile, CnErr *err) {
    if (s->q_len == s->q_cap) {
        uint32_t nc = s->q_cap ? s->q_cap * 2 : 16;
        const CnAggState **nq = cn_malloc((size_t)nc * sizeof *nq);
        if (!nq) return cn_err_set(err, CN_ENOMEM, "agg slider: out of memory");
        for (uint32_t i = 0; i < s->q_len; i++) nq[i] = q_at(s, i);
        cn_free(s->q);
        s->q = nq;
        s->q_cap = nc;
        s->q_head = 0;
    }
    int rc;
    if (s->rev) {
        uint32_t cap = s->cnt_cap;
        if (cap < tile->n_ids) {
            if (cn_agg__grow_u32(&s->cnt, &cap, tile->n_ids))
                return cn_err_set(err, CN_ENOMEM, "agg slider: out of memory");
            memset(s->cnt + s->cnt_cap, 0, (size_t)(cap - s->cnt_cap) * 4);
            s->cnt_cap = cap;
        }
        rc = fold_all(s->run, tile, 1, err);
        for (uint32_t id = 0; id < tile->n_ids && rc == 0; id++)
            if (cn_agg__present(tile, id)) s->cnt[id]++;
    } else {
        rc = fold_all(s->back, tile, 1, err);
    }
    if (rc < 0) return rc;
    s->q[(s->q_head + s->q_len) % s->q_cap] = tile;
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
        if (k + 1 < f) rc = fold_all(x, s->sfx[k + 1], 1, err);
        if (rc == 0) rc = fold_all(x, q_at(s, k), 1, err);
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
    if (s->rev) {
        int rc = fold_all(s->run, old, -1, err);
        if (rc < 0) return rc;
        for (uint32_t id = 0; id < old->n_ids; id++) {
            if (!cn_agg__present(old, id)) continue;
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
