/* date.c: civil-date arithmetic (Howard Hinnant's days_from_civil algorithm,
 * written from its published description). */
#include "base/date.h"

#include "base/err.h"

#include <string.h>

int64_t cn_date_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void cn_date_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned dd = doy - (153 * mp + 2) / 5 + 1;
    unsigned mm = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (mm <= 2);
    *m = mm;
    *d = dd;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

int cn_ds_parse(const char *s, int64_t *days) {
    if (!s) return CN_EINVAL;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-') return CN_EINVAL;
        } else if (!is_digit(s[i])) {
            return CN_EINVAL;
        }
    }
    if (s[10] != 0) return CN_EINVAL;
    int64_t y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    unsigned m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
    unsigned d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
    if (m < 1 || m > 12 || d < 1) return CN_EINVAL;
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned lim = mdays[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) lim = 29;
    if (d > lim) return CN_EINVAL;
    *days = cn_date_days_from_civil(y, m, d);
    return 0;
}

int cn_ds_parse_n(const char *s, size_t n, char out[static 11], int64_t *days) {
    if (!s || n != 10) return CN_EINVAL;
    memcpy(out, s, 10);
    out[10] = 0;
    return cn_ds_parse(out, days);
}

void cn_ds_format(int64_t days, char out[static 11]) {
    int64_t y;
    unsigned m, d;
    cn_date_civil_from_days(days, &y, &m, &d);
    /* digits by hand: years outside 0..9999 are not representable as a ds */
    unsigned yy = (unsigned)(y < 0 ? 0 : y > 9999 ? 9999 : y);
    out[0] = (char)('0' + yy / 1000);
    out[1] = (char)('0' + yy / 100 % 10);
    out[2] = (char)('0' + yy / 10 % 10);
    out[3] = (char)('0' + yy % 10);
    out[4] = '-';
    out[5] = (char)('0' + m / 10);
    out[6] = (char)('0' + m % 10);
    out[7] = '-';
    out[8] = (char)('0' + d / 10);
    out[9] = (char)('0' + d % 10);
    out[10] = 0;
}

int64_t cn_ms_to_days(int64_t ms) {
    int64_t q = ms / CN_MS_PER_DAY;
    if (ms % CN_MS_PER_DAY < 0) q--;
    return q;
}

void cn_ms_to_ds(int64_t ms, char out[static 11]) { cn_ds_format(cn_ms_to_days(ms), out); }

int cn_ds_add(const char *ds, int64_t n, char out[static 11]) {
    int64_t days;
    int rc = cn_ds_parse(ds, &days);
    if (rc) return rc;
    cn_ds_format(days + n, out);
    return 0;
}
