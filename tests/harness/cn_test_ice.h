/* cn_test_ice.h: writing a small Iceberg table in a C test (tests linking cn_table).
 * cn_test_ice_open creates <ns>.<name> with nullable primitive columns and opens an
 * append write with an empty batch of its schema; the test appends rows to (*b)->cols,
 * calls cn_test_ice_flush per batch (each a file) and cn_test_ice_close to commit. */
#ifndef CN_TEST_ICE_H
#define CN_TEST_ICE_H

#include "cn_test.h"
#include "col/col.h"
#include "table/table.h"

static inline void cn_test_ice_open(CnIceCatalog *c, const char *ns, const char *name, const char *const *names,
                                    const CnTypeId *types, int n, CnIceWrite **w, CnBatch **b, CnErr *err) {
    CnSchema *s = NULL;
    ASSERT_OK(cn_col_schema_new(&s), err);
    for (int i = 0; i < n; i++)
        ASSERT_OK(cn_col_schema_add(s, names[i], cn_col_type_prim(types[i]), true, CN_COL_NO_ID, err), err);
    ASSERT_OK(cn_ice_table_create(c, ns, name, s, NULL, 0, err), err);
    cn_col_schema_free(s);
    ASSERT_OK(cn_ice_write_begin(c, ns, name, CN_ICE_APPEND, w, err), err);
    ASSERT_OK(cn_col_batch_new(cn_ice_write_schema(*w), b, err), err);
}

static inline void cn_test_ice_flush(CnIceWrite *w, CnBatch *b, CnErr *err) {
    ASSERT_OK(cn_col_batch_sync_rows(b, err), err);
    ASSERT_OK(cn_ice_write_batch(w, b, err), err);
    cn_col_batch_reset(b);
}

static inline void cn_test_ice_close(CnIceWrite *w, CnBatch *b, CnErr *err) {
    ASSERT_OK(cn_ice_write_commit(w, NULL, err), err);
    cn_ice_write_free(w);
    cn_col_batch_free(b);
}

#endif
