/* datefmt.c: Spark 3 datetime patterns (the DateTimeFormatter subset configs use) for
 * date_format, from_unixtime, unix_timestamp, to_date and to_timestamp, always in UTC.
 * Parsing is strict like Spark 3's formatter: the whole text must match, doubled
 * letters need exactly that many digits, letters are case-insensitive. */
#include "expr/expr_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/date.h"

enum { F_LIT, F_YEAR, F_MONTH, F_DAY, F_HOUR, F_HOUR12, F_MIN, F_SEC, F_FRAC, F_AMPM, F_DOW };

static const char *const MONTHS[] = {"January", "February", "March", "April", "May", "June", "July",
                                     "August", "September", "October", "November", "December"};
static const char *const DAYS[] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

static bool add_tok(DateFmt *f, uint8_t kind, uint8_t width, const char **why) {
    if (f->n == CN_EXPR__FMT_MAX) {
        *why = "pattern has too many fields";
        return false;
    }
    f->t[f->n++] = (DateFmtTok){kind, width, 0, 0};
    return true;
}
static bool add_lit(DateFmt *f, char c, const char **why) {
    if (f->n_lit >= sizeof f->lit) {
        *why = "pattern has too much literal text";
        return false;
    }
    if (f->n && f->t[f->n - 1].kind == F_LIT && f->t[f->n - 1].off + f->t[f->n - 1].len == f->n_lit) {
        f->t[f->n - 1].len++;
    } else {
        if (!add_tok(f, F_LIT, 0, why)) return false;
        f->t[f->n - 1].off = (uint16_t)f->n_lit;
        f->t[f->n - 1].len = 1;
    }
    f->lit[f->n_lit++] = c;
    return true;
}

bool cn_expr__datefmt_compile(DateFmt *f, const char *p, size_t n, const char **why) {
    memset(f, 0, sizeof *f);
    for (size_t i = 0; i < n;) {
        char c = p[i];
        if (c == '\'') {
            if (i + 1 < n && p[i + 1] == '\'') {
                if (!add_lit(f, '\'', why)) return false;
                i += 2;
                continue;
            }
            size_t j = i + 1;
            for (; j < n; j++) {
                if (p[j] == '\'') {
                    if (j + 1 < n && p[j + 1] == '\'') {
                        if (!add_lit(f, '\'', why)) return false;
                        j++;
                        continue;
                    }
                    break;
                }
                if (!add_lit(f, p[j], why)) return false;
            }
            if (j >= n) {
                *why = "unterminated quote in the pattern";
                return false;
            }
            i = j + 1;
            continue;
        }
        if (!isalpha((unsigned char)c)) {
            if (!add_lit(f, c, why)) return false;
            i++;
            continue;
        }
        size_t w = 1;
        while (i + w < n && p[i + w] == c) w++;
        uint8_t kind;
        switch (c) {
        case 'y': kind = F_YEAR; break;
        case 'M': case 'L': kind = F_MONTH; if (w > 4) goto bad; break;
        case 'd': kind = F_DAY; if (w > 2) goto bad; break;
        case 'H': kind = F_HOUR; if (w > 2) goto bad; break;
        case 'h': kind = F_HOUR12; if (w > 2) goto bad; break;
        case 'm': kind = F_MIN; if (w > 2) goto bad; break;
        case 's': kind = F_SEC; if (w > 2) goto bad; break;
        case 'S': kind = F_FRAC; if (w > 9) goto bad; break;
        case 'a': kind = F_AMPM; if (w > 1) goto bad; break;
        case 'E': kind = F_DOW; if (w > 4) goto bad; break;
        default: goto bad;
        }
        if (w > 9) goto bad;
        if (!add_tok(f, kind, (uint8_t)w, why)) return false;
        i += w;
        continue;
    bad:
        *why = "unsupported pattern letters (supported: y M d H h m s S a E and 'text')";
        return false;
    }
    return true;
}

static size_t put(char *buf, size_t cap, size_t o, const char *s, size_t n) {
    for (size_t k = 0; k < n && o < cap; k++) buf[o++] = s[k];
    return o;
}
static size_t put_num(char *buf, size_t cap, size_t o, int64_t v, int width) {
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%0*lld", width, (long long)v);
    return put(buf, cap, o, tmp, (size_t)len);
}

size_t cn_expr__datefmt_format(const DateFmt *f, int64_t ms, char *buf, size_t cap) {
    int64_t days = cn_expr__floordiv(ms, CN_MS_PER_DAY);
    int64_t rem = cn_expr__floormod(ms, CN_MS_PER_DAY);
    int64_t y;
    unsigned mo, d;
    cn_date_civil_from_days(days, &y, &mo, &d);
    int hh = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), ss = (int)(rem / 1000 % 60), frac = (int)(rem % 1000);
    size_t o = 0;
    for (uint32_t k = 0; k < f->n; k++) {
        const DateFmtTok *t = &f->t[k];
        switch (t->kind) {
        case F_LIT: o = put(buf, cap, o, f->lit + t->off, t->len); break;
        case F_YEAR:
            if (t->width == 2) o = put_num(buf, cap, o, ((y % 100) + 100) % 100, 2);
            else o = put_num(buf, cap, o, y, t->width);
            break;
        case F_MONTH:
            if (t->width <= 2) o = put_num(buf, cap, o, mo, t->width);
            else o = put(buf, cap, o, MONTHS[mo - 1], t->width == 3 ? 3 : strlen(MONTHS[mo - 1]));
            break;
        case F_DAY: o = put_num(buf, cap, o, d, t->width); break;
        case F_HOUR: o = put_num(buf, cap, o, hh, t->width); break;
        case F_HOUR12: o = put_num(buf, cap, o, hh % 12 == 0 ? 12 : hh % 12, t->width); break;
        case F_MIN: o = put_num(buf, cap, o, mi, t->width); break;
        case F_SEC: o = put_num(buf, cap, o, ss, t->width); break;
        case F_FRAC: {
            char fr[16];
            snprintf(fr, sizeof fr, "%03d000000", frac);
            o = put(buf, cap, o, fr, t->width);
            break;
        }
        case F_AMPM: o = put(buf, cap, o, hh < 12 ? "AM" : "PM", 2); break;
        case F_DOW: {
            /* 1970-01-01 was a Thursday (index 3 from Monday) */
            int dow = (int)(((days % 7) + 7 + 3) % 7);
            o = put(buf, cap, o, DAYS[dow], t->width == 4 ? strlen(DAYS[dow]) : 3);
            break;
        }
        }
    }
    return o;
}

static bool num(const char *p, size_t n, size_t *i, int min, int max, int64_t *v) {
    int k = 0;
    int64_t r = 0;
    while (*i < n && k < max && isdigit((unsigned char)p[*i])) {
        r = r * 10 + (p[*i] - '0');
        (*i)++;
        k++;
    }
    *v = r;
    return k >= min;
}

static bool word(const char *p, size_t n, size_t *i, const char *const *names, int count, bool short3, int *idx) {
    for (int k = 0; k < count; k++) {
        size_t l = short3 ? 3 : strlen(names[k]);
        if (*i + l <= n && strncasecmp(p + *i, names[k], l) == 0) {
            *i += l;
            *idx = k;
            return true;
        }
    }
    return false;
}

bool cn_expr__datefmt_parse(const DateFmt *f, const char *p, size_t n, int64_t *ms) {
    int64_t y = 1970, mo = 1, d = 1, h = 0, mi = 0, s = 0, frac = 0;
    int pm = -1;
    bool h12 = false;
    size_t i = 0;
    for (uint32_t k = 0; k < f->n; k++) {
        const DateFmtTok *t = &f->t[k];
        int w = t->width, idx;
        switch (t->kind) {
        case F_LIT:
            if (i + t->len > n || strncasecmp(p + i, f->lit + t->off, t->len) != 0) return false;
            i += t->len;
            break;
        case F_YEAR:
            if (w == 2) {
                if (!num(p, n, &i, 2, 2, &y)) return false;
                y += 2000; /* Java's reduced two-digit year: 2000-2099 */
            } else if (!num(p, n, &i, w == 1 ? 1 : w, w == 1 ? 4 : w, &y)) {
                return false;
            }
            break;
        case F_MONTH:
            if (w <= 2) {
                if (!num(p, n, &i, w == 1 ? 1 : 2, 2, &mo)) return false;
            } else {
                if (!word(p, n, &i, MONTHS, 12, w == 3, &idx)) return false;
                mo = idx + 1;
            }
            break;
        case F_DAY: if (!num(p, n, &i, w == 1 ? 1 : 2, 2, &d)) return false; break;
        case F_HOUR: if (!num(p, n, &i, w == 1 ? 1 : 2, 2, &h)) return false; break;
        case F_HOUR12:
            if (!num(p, n, &i, w == 1 ? 1 : 2, 2, &h) || h < 1 || h > 12) return false;
            h12 = true;
            break;
        case F_MIN: if (!num(p, n, &i, w == 1 ? 1 : 2, 2, &mi)) return false; break;
        case F_SEC: if (!num(p, n, &i, w == 1 ? 1 : 2, 2, &s)) return false; break;
        case F_FRAC: {
            size_t start = i;
            int64_t v;
            if (!num(p, n, &i, 1, w, &v)) return false;
            int digits_read = (int)(i - start);
            for (int z = digits_read; z < 3; z++) v *= 10;
            for (int z = 3; z < digits_read; z++) v /= 10;
            frac = v;
            break;
        }
        case F_AMPM:
            if (i + 2 <= n && strncasecmp(p + i, "AM", 2) == 0) pm = 0;
            else if (i + 2 <= n && strncasecmp(p + i, "PM", 2) == 0) pm = 1;
            else return false;
            i += 2;
            break;
        case F_DOW:
            if (!word(p, n, &i, DAYS, 7, w != 4, &idx)) return false;
            break;
        }
    }
    if (i != n) return false;
    if (h12) h = (h % 12) + (pm == 1 ? 12 : 0);
    else if (pm == 1 && h < 12) h += 12;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return false;
    int64_t days = cn_date_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t y2;
    unsigned m2, d2;
    cn_date_civil_from_days(days, &y2, &m2, &d2);
    if (y2 != y || m2 != mo || d2 != d) return false; /* e.g. Feb 30 */
    *ms = days * CN_MS_PER_DAY + ((h * 60 + mi) * 60 + s) * 1000 + frac;
    return true;
}
