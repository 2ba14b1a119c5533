/* csv.h: streaming CSV reader into columnar batches.
 * Input is RFC 4180: a header line of column names, comma-separated fields, fields in
 * double quotes may hold commas, newlines and "" (one quote); CRLF or LF line ends; a
 * UTF-8 byte order mark is skipped. An empty unquoted field is null; a quoted empty
 * field ("") is the empty string for string/binary columns and null otherwise.
 * Types: inferred per column over the first sample_rows records as the narrowest of
 *   bool (true/false, any case) < int64 < float64 < string, ignoring empty fields; a
 *   column with no value in the sample is a string. Two names are fixed by Chronon's
 *   conventions: `ts` (epoch milliseconds) stays int64 when its values are integers,
 *   and `ds` (the partition date) is always a string. An explicit schema overrides
 *   the type of the columns it names; it may use any primitive cn_col type (date takes
 *   YYYY-MM-DD; timestamp takes epoch millis or YYYY-MM-DD[ HH:MM:SS[.fff]] in UTC).
 * ERRORS name file:line:column, the column's name, the value and the expected type,
 *   e.g. `data.csv:17:3: column "amount": value "abc" is not a float64`.
 * Memory: one batch of at most batch_rows rows and the sample are held at a time.
 * THREADS: a reader has one owner thread at a time. */
#ifndef CN_CSV_H
#define CN_CSV_H

#include "base/compat.h"
#include "base/err.h"
#include "col/col.h"

typedef struct CnCsvOptions {
    const char *schema;   /* "name:type,name:type" overrides, or NULL */
    uint32_t batch_rows;  /* rows per batch; 0 means 65536 */
    uint32_t sample_rows; /* records used for type inference; 0 means 1000 */
} CnCsvOptions;

typedef struct CnCsvReader CnCsvReader;

/* Opens path, reads the header and the sample, and fixes the schema.
 * CN_ENOTFOUND/-errno for an unreadable file, CN_ECORRUPT for malformed CSV (unclosed
 * quote, wrong field count, no header), CN_EINVAL for a bad schema spec or one naming
 * a column the header lacks. Values are converted (and CN_ETYPE reported) by
 * cn_csv_reader_next. OWNED: *out, close with cn_csv_reader_close. */
int cn_csv_reader_open(const char *path, const CnCsvOptions *opt, CnCsvReader **out,
                       CnErr *err);
/* BORROWED: valid until cn_csv_reader_close. */
const CnSchema *cn_csv_reader_schema(const CnCsvReader *r);
/* Reads the next batch. *out is NULL at the end of input. BORROWED: the batch is valid
 * until the next call or close. CN_ETYPE for a value that does not fit its column's
 * type, CN_ECORRUPT for malformed CSV, -errno for read errors. */
int cn_csv_reader_next(CnCsvReader *r, CnBatch **out, CnErr *err);
/* Data records returned so far. */
uint64_t cn_csv_reader_rows(const CnCsvReader *r);
void cn_csv_reader_close(CnCsvReader *r); /* NULL-safe */

/* Parses "name:type,name:type" into parallel arrays in arena a (types are cn_col
 * primitive singletons; nested types are rejected). CN_EINVAL names the bad entry. */
int cn_csv_schema_spec_parse(CnArena *a, const char *spec, const char ***names,
                             const CnType ***types, uint32_t *n, CnErr *err);

#endif /* CN_CSV_H */
