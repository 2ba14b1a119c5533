/* date.h: calendar helpers in UTC. A ds is "YYYY-MM-DD"; a day number counts days
 * since 1970-01-01 (may be negative); timestamps are epoch milliseconds.
 * All functions are pure. */
#ifndef CN_DATE_H
#define CN_DATE_H

#include "base/compat.h"

#define CN_MS_PER_DAY INT64_C(86400000)
#define CN_MS_PER_HOUR INT64_C(3600000)

/* Days since epoch for a civil date (proleptic Gregorian). */
int64_t cn_date_days_from_civil(int64_t y, unsigned m, unsigned d);
void cn_date_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* Parses exactly "YYYY-MM-DD" (a valid calendar date). 0 or CN_EINVAL. */
int cn_ds_parse(const char *s, int64_t *days);
/* The same for the n bytes at s (not NUL-terminated: a string column's value); on success
 * out holds them as a NUL-terminated ds. */
int cn_ds_parse_n(const char *s, size_t n, char out[static 11], int64_t *days);
/* Writes "YYYY-MM-DD" into out (at least 11 bytes). */
void cn_ds_format(int64_t days, char out[static 11]);
/* Floor division of a millisecond timestamp into its UTC day. */
int64_t cn_ms_to_days(int64_t ms);
/* ds string of a millisecond timestamp. */
void cn_ms_to_ds(int64_t ms, char out[static 11]);
/* Adds n days to a ds string; returns CN_EINVAL for a bad ds. */
int cn_ds_add(const char *ds, int64_t n, char out[static 11]);

#endif /* CN_DATE_H */
