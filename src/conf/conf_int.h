/* conf_int.h: private to src/conf. The JSON walker keeps the current JSON path
 * ("joinParts[0].groupBy.aggregations[2].operation") so every error can name it.
 *
 * Accepted JSON subset (Thrift simple JSON, spec/config.md section 2):
 *   struct   object keyed by field name; unknown keys are errors; null = absent
 *   bool     true/false or 1/0
 *   enum     integer in the enum's range
 *   i32      integer in int32 range
 *   double   integer or real
 *   string   string
 *   list/map array / object (map values are strings unless stated) */
#ifndef CN_CONF_INT_H
#define CN_CONF_INT_H

#include <jansson.h>

#include "conf/conf.h"

#define CN_CONF__PATH_MAX 512

typedef struct CnConfPx {
    CnArena *a;
    const char *file;       /* for messages */
    CnErr *err;
    char path[CN_CONF__PATH_MAX];
    size_t path_len;
} CnConfPx;

/* Path stack: push returns the old length for pop. */
size_t cn_conf__push_key(CnConfPx *px, const char *key);
size_t cn_conf__push_idx(CnConfPx *px, size_t i);
void cn_conf__pop(CnConfPx *px, size_t old_len);
/* Sets "<file>: <path>: <msg>" (or "<file>: <msg>" at the root); returns code. */
int cn_conf__fail(CnConfPx *px, int code, const char *fmt, ...) CN_PRINTF(3, 4);
/* Fails on keys of obj not in allowed (NULL-terminated). */
int cn_conf__check_keys(CnConfPx *px, json_t *obj, const char *what, const char *const *allowed);
/* Field readers: absent or null leaves *out untouched and returns 0 unless required. */
int cn_conf__str(CnConfPx *px, json_t *obj, const char *key, bool required, const char **out);
int cn_conf__bool(CnConfPx *px, json_t *obj, const char *key, int *out);
int cn_conf__i32(CnConfPx *px, json_t *obj, const char *key, bool required, bool *has,
                 int32_t *out);
int cn_conf__double(CnConfPx *px, json_t *obj, const char *key, bool *has, double *out);
int cn_conf__enum(CnConfPx *px, json_t *obj, const char *key, const char *enum_name, int n_values,
                  bool required, bool *has, int *out);
int cn_conf__str_list(CnConfPx *px, json_t *obj, const char *key, bool required, bool *has,
                      CnStrList *out);
int cn_conf__str_map(CnConfPx *px, json_t *obj, const char *key, bool *has, CnStrMap *out);
int cn_conf__str_map_map(CnConfPx *px, json_t *obj, const char *key, CnStrMapMap *out);
/* Value of key when it is an object/array; NULL when absent; error when another type. */
int cn_conf__obj(CnConfPx *px, json_t *obj, const char *key, bool required, json_t **out);
int cn_conf__arr(CnConfPx *px, json_t *obj, const char *key, bool required, json_t **out);
int cn_conf__oom(CnConfPx *px);

/* Struct parsers (parse.c). obj is the struct's JSON object; path is already pushed. */
int cn_conf__parse_metadata(CnConfPx *px, json_t *obj, CnMetaData *md);
int cn_conf__parse_groupby(CnConfPx *px, json_t *obj, CnGroupBy *gb);
int cn_conf__parse_join(CnConfPx *px, json_t *obj, CnJoin *j);
int cn_conf__parse_staging_query(CnConfPx *px, json_t *obj, CnStagingQuery *sq);

/* Semantic rules (validate.c); px->path is the object's path ("" at the root). */
int cn_conf__validate_groupby(CnConfPx *px, const CnGroupBy *gb);
int cn_conf__validate_join(CnConfPx *px, const CnJoin *j);
int cn_conf__validate_staging_query(CnConfPx *px, const CnStagingQuery *sq);

/* names.c */
/* GroupBy value columns before derivations (aggregation parts or selected columns). */
int cn_conf__groupby_base_values(CnArena *a, const CnGroupBy *gb, CnColumnList *out, CnErr *err);
/* Join columns; derive=false gives left + part + external columns + ds, no derivations. */
int cn_conf__join_columns(CnArena *a, const CnJoin *j, bool derive, CnColumnList *out, CnErr *err);

#endif /* CN_CONF_INT_H */
