/* online.h: a GroupBy's online batch data (compute.md section 8): the upload of day D
 * into the KV dataset <UPPER(sanitize(name))>_BATCH, and the decode + finalize a fetch
 * at time q runs on what it reads back. docs/online-format.md describes the bytes.
 *
 * UPLOAD writes, per key, one record: TEMPORAL GroupBys keep per part the IR of the
 *   rows that stay in every window until B+2d ("collapsed") plus the tail hops
 *   (floor(t,H), IR) of the rows that leave the window during those two days, so that a
 *   fetch at any q in [B, B+2d) equals the offline value at q (D1); SNAPSHOT GroupBys
 *   and GroupBys without aggregations keep the finalized values of day D. All records
 *   and the serving info go in one versioned bulk load: readers see the old day or the
 *   new one, never a mix.
 * THREADS: a CnEngServing is immutable after load apart from its scratch; one thread
 *   per CnEngServing. */
#ifndef CN_ENGINE_ONLINE_H
#define CN_ENGINE_ONLINE_H

#include <jansson.h>

#include "base/compat.h"
#include "base/err.h"
#include "base/str.h"
#include "col/col.h"
#include "conf/conf.h"
#include "engine/engine.h"
#include "online/kv.h"
#include "table/table.h"

typedef struct CnEngUploadStats {
    int64_t keys;          /* records written */
    int64_t batch_end_ms;  /* B = epoch(D+1) */
    uint64_t version;      /* dataset version after the flip */
    bool batch_path;       /* the records came from the upload fold (online.c) */
    bool streamed;         /* ... in key order, written as they came (cn_kv_load_streaming) */
} CnEngUploadStats;

/* Uploads day ds of the GroupBy to kv. conf_json (the compiled conf text) is stored
 * in the serving info. Errors: CN_ENOTFOUND when no source has partition ds (names the
 * tables and the latest partition), engine errors (see engine.h), KV errors. On error
 * the dataset keeps its previous version. */
int cn_eng_upload(CnIceCatalog *cat, CnKv *kv, const CnGroupBy *gb, const char *conf_json,
                  const char *ds, const CnEngOpts *opts, CnEngUploadStats *stats, CnErr *err);

/* The serving info of an uploaded GroupBy, ready to answer fetches. */
typedef struct CnEngServing CnEngServing;

/* Reads the serving info from the GroupBy's batch dataset. CN_ENOTFOUND (names the
 * dataset and says to run upload), CN_ECORRUPT. OWNED: *out. */
int cn_eng_serving_load(CnKv *kv, const char *group_by_name, CnEngServing **out, CnErr *err);
void cn_eng_serving_free(CnEngServing *s); /* NULL-safe */
/* BORROWED until free. */
const CnSchema *cn_eng_serving_key_schema(const CnEngServing *s);
const CnSchema *cn_eng_serving_value_schema(const CnEngServing *s);
const char *cn_eng_serving_dataset(const CnEngServing *s);
const char *cn_eng_serving_end_ds(const CnEngServing *s);
int64_t cn_eng_serving_batch_end(const CnEngServing *s);
/* The first q at which some windowed value may count rows that left its window: B+2d
 * when a TEMPORAL part has a window longer than 2 days (compute.md 8.3, D13), else
 * INT64_MAX. A newer upload moves it. */
int64_t cn_eng_serving_exact_until(const CnEngServing *s);
/* The KV key of row r of keys (schema: the key schema); false when every key is null. */
bool cn_eng_serving_key(const CnEngServing *s, const CnBatch *keys, uint32_t r, CnBuf *out);
/* Sets every value column of obj from one stored record at time q (ms): null for a
 * missing record (p == NULL), for q < B on TEMPORAL data, or where no value exists.
 * CN_ECORRUPT names what is wrong with the record; CN_ENOMEM. */
int cn_eng_serving_values(CnEngServing *s, const uint8_t *p, size_t len, int64_t q, json_t *obj,
                          CnErr *err);

/* The finalized values of one stored TEMPORAL record at q as one row of the value
 * schema (BORROWED: the serving's scratch, valid until its next call): *row = NULL for
 * a missing record (p == NULL) or q < B. CN_EUNSUPPORTED for SNAPSHOT (values)
 * records, which hold JSON texts; CN_ECORRUPT as cn_eng_serving_values. */
int cn_eng_serving_row(CnEngServing *s, const uint8_t *p, size_t len, int64_t q, const CnBatch **row, CnErr *err);

/* One SNAPSHOT (values) record's columns as the JSON texts the upload stored (compact,
 * 17 significant digits: what json_dumps of the decoded value gives, map keys aside):
 * text[c]/text_len[c] point into p. false for a TEMPORAL serving (use
 * cn_eng_serving_row); CN_ECORRUPT as cn_eng_serving_values. */
bool cn_eng_serving_is_values(const CnEngServing *s);
int cn_eng_serving_texts(CnEngServing *s, const uint8_t *p, size_t len, const char **text, uint32_t *text_len,
                         CnErr *err);

/* Entry i of v as JSON (NaN/Inf as null; maps with string keys). NULL when out of memory. */
json_t *cn_eng_vec_json(const CnVec *v, uint32_t i);

#endif /* CN_ENGINE_ONLINE_H */
