/* fetch_int.h: what fetch.c shares with the Join fetch and the CLI's fetch mode (not
 * part of fetch.h's stable interface). */
#ifndef CN_ENGINE_FETCH_INT_H
#define CN_ENGINE_FETCH_INT_H

#include <stdarg.h>

#include "base/arena.h"
#include "col/col.h"
#include "conf/conf.h"
#include "engine/fetch.h"
#include "online/kv.h"

/* BORROWED until close. */
CnKv *cn_fetcher__kv(CnFetcher *f);
/* A finite real as the typed path writes it (jansson's text of it), appended. */
void cn_fetcher__real_text(double d, CnBuf *out);
/* How many cn_fetcher_fetch_text calls the typed path answered (tests). */
uint64_t cn_fetcher__typed_answers(CnFetcher *f);
/* Formats and passes a note to the fetcher's note function (nothing when none is set). */
void cn_fetcher__note(CnFetcher *f, const char *fmt, ...) CN_PRINTF(2, 3);
int64_t cn_fetcher__now_ms(void);
/* "<folder>/<team>/<rest>" from "team.rest" or "team/rest", in ar. */
char *cn_fetcher__metadata_key(CnArena *ar, const char *folder, const char *name);
/* v as compact JSON with sorted keys, cut to cap bytes; returns buf. */
const char *cn_fetcher__json_text(const json_t *v, char *buf, size_t cap);
/* The conf of a request name (metadata store, else the repo). BORROWED until close. */
int cn_fetcher__conf(CnFetcher *f, CnFetchKind kind, const char *name, CnArena *ar, const CnConf **conf,
                     CnErr *err);
/* Fetches n key maps of gb at q, GroupBy derivations applied. For each i exactly one
 * of: vals[i] (OWNED JSON object of the value columns; all null when there is no data)
 * or errs[i] (a message in ar: missing or malformed key). nodata (optional OUT):
 * nodata[i] when the key has no record or a null key (Chronon's Success(null); no
 * derivations then). vschema (optional OUT, OWNED): the stored value columns' schema.
 * Whole-call errors (no upload, store errors) return non-zero with vals all NULL. */
int cn_fetcher__groupby(CnFetcher *f, const CnGroupBy *gb, json_t *const *reqs, size_t n, int64_t q, json_t **vals,
                        const char **errs, bool *nodata, CnSchema **vschema, CnArena *ar, CnErr *err);
/* The same for a Join (compute.md 8): left keys mapped to each part, part values
 * prefixed, derivations applied; a failing part gives "<prefix>_<gb>_exception". */
int cn_fetcher__join(CnFetcher *f, const CnJoin *j, json_t *const *reqs, size_t n, int64_t q, json_t **vals,
                     const char **errs, CnArena *ar, CnErr *err);

#endif /* CN_ENGINE_FETCH_INT_H */
