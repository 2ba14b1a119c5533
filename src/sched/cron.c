/* cron.c: the schedules a DAG may have (a Join's metaData.offlineSchedule), evaluated per
 * ds as Airflow does. Airflow's runs are per data interval; its logical date (our ds) is
 * the interval's start, so a DAG has a run for day D when its schedule fires at some
 * time of D (UTC). Several firings in one day (e.g. "0 *\/6 * * *") give one run, since
 * a run here is one ds.
 *
 * Accepted: Airflow's presets @once @hourly @daily @weekly @monthly @quarterly @yearly
 * @annually, "@never" (Chronon's "no schedule": manual runs only), and 5-field cron
 * strings "minute hour day-of-month month day-of-week" as croniter reads them: each field a
 * comma list of `*`, `N`, `N-M`, with an optional `/step` (`N/step` runs from N to the
 * field's maximum); month names JAN..DEC and day names SUN..SAT in any case; day-of-week
 * 0..7 with 0 and 7 both Sunday. When both day fields are restricted (neither starts with
 * `*`), a day matches if EITHER does (Vixie cron and croniter's rule). */
#include "base/compat.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/date.h"
#include "sched/sched.h"

typedef struct Field {
    const char *name;
    int lo, hi;
    const char *const *names; /* names of lo.. (NULL: numbers only) */
} Field;

static const char *const MONTHS[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const DAYS[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const Field FIELDS[5] = {
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, MONTHS},
    {"day-of-week", 0, 7, DAYS},
};

/* A number or a name of field f at *p; advances *p. -1 when neither. */
static int value(const Field *f, const char **p) {
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000) v = v * 10 + (*s++ - '0');
        *p = s;
        return (int)v;
    }
    for (int i = 0; f->names && f->names[i]; i++)
        if (!strncasecmp(s, f->names[i], 3) && !isalpha((unsigned char)s[3])) {
            *p = s + 3;
            return f->lo == 0 ? i : i + 1;
        }
    return -1;
}

/* Parses one field's text [s, e) into the bit set *bits. */
static int field(const Field *f, const char *s, const char *e, uint64_t *bits, bool *star, char *why,
                 size_t cap) {
    *bits = 0;
    *star = *s == '*';
    char txt[64];
    snprintf(txt, sizeof txt, "%.*s", (int)CN_MIN((size_t)(e - s), sizeof txt - 1), s);
    while (s < e) {
        const char *c = memchr(s, ',', (size_t)(e - s));
        if (!c) c = e;
        const char *p = s;
        int a, b, step = 1;
        if (*p == '*') {
            a = f->lo, b = f->hi, p++;
        } else {
            if ((a = value(f, &p)) < 0) goto bad;
            b = a;
            if (*p == '-') {
                p++;
                if ((b = value(f, &p)) < 0) goto bad;
            }
        }
        if (*p == '/') {
            p++;
            if (!isdigit((unsigned char)*p)) goto bad;
            step = 0;
            while (isdigit((unsigned char)*p) && step < 1000) step = step * 10 + (*p++ - '0');
            if (step == 0) goto bad;
            if (s[0] != '*' && b == a && memchr(s, '-', (size_t)(c - s)) == NULL) b = f->hi;
        }
        if (p != c) goto bad;
        if (a < f->lo || b > f->hi || a > b) {
            snprintf(why, cap, "%s field \"%s\": %d-%d is outside %d-%d", f->name, txt, a, b, f->lo, f->hi);
            return -1;
        }
        for (int v = a; v <= b; v += step) *bits |= (uint64_t)1 << v;
        s = c < e ? c + 1 : e;
        if (c < e && s == e) goto bad; /* trailing comma */
    }
    return 0;
bad:
    snprintf(why, cap, "%s field \"%s\" is not a number, range, list or step (%d-%d%s)", f->name, txt, f->lo,
             f->hi, f->names == MONTHS ? " or JAN-DEC" : f->names == DAYS ? " or SUN-SAT" : "");
    return -1;
}

int cn_sched_cron_parse(const char *expr, CnSchedCron *out, char *why, size_t cap) {
    static const struct {
        const char *name, *cron;
    } PRESETS[] = {
        {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},     {"@midnight", "0 0 * * *"},
        {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"},   {"@quarterly", "0 0 1 */3 *"},
        {"@yearly", "0 0 1 1 *"},   {"@annually", "0 0 1 1 *"},
    };
    memset(out, 0, sizeof *out);
    if (!expr || !*expr) {
        snprintf(why, cap, "the schedule is empty");
        return -1;
    }
    if (!strcmp(expr, "@never")) {
        out->kind = CN_SCHED_CRON_NEVER;
        return 0;
    }
    if (!strcmp(expr, "@once")) {
        out->kind = CN_SCHED_CRON_ONCE;
        return 0;
    }
    const char *text = expr;
    if (expr[0] == '@') {
        text = NULL;
        for (size_t i = 0; i < CN_ARRAY_LEN(PRESETS); i++)
            if (!strcmp(expr, PRESETS[i].name)) text = PRESETS[i].cron;
        if (!text) {
            snprintf(why, cap, "unknown preset (Airflow's are @once, @hourly, @daily, @weekly, @monthly, "
                               "@quarterly, @yearly; Chronon's @never)");
            return -1;
        }
    }
    const char *p = text;
    uint64_t bits[5];
    bool star[5];
    int n = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t') e++;
        if (n == 5) {
            snprintf(why, cap, "more than 5 fields (a cron string is \"minute hour day-of-month month "
                               "day-of-week\")");
            return -1;
        }
        if (field(&FIELDS[n], p, e, &bits[n], &star[n], why, cap) < 0) return -1;
        n++;
        p = e;
    }
    if (n != 5) {
        snprintf(why, cap, "%d field%s where a cron string has 5 (\"minute hour day-of-month month "
                           "day-of-week\")", n, n == 1 ? "" : "s");
        return -1;
    }
    out->kind = CN_SCHED_CRON_FIELDS;
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->mdays = (uint32_t)bits[2];
    out->months = (uint16_t)bits[3];
    out->wdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday too */
    out->mday_star = star[2];
    out->wday_star = star[4];
    return 0;
}

bool cn_sched_cron_day(const CnSchedCron *c, int64_t day, int64_t start_day) {
    switch (c->kind) {
    case CN_SCHED_CRON_NEVER: return false;
    case CN_SCHED_CRON_ONCE: return day == start_day;
    case CN_SCHED_CRON_FIELDS: break;
    }
    int64_t y;
    unsigned mo, dd;
    cn_date_civil_from_days(day, &y, &mo, &dd);
    int wd = (int)(((day + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday; 0 = Sunday */
    if (!(c->months >> mo & 1)) return false;
    bool md = c->mdays >> dd & 1, w = c->wdays >> wd & 1;
    /* a day with no firing time cannot happen: every field has at least one value */
    if (c->mday_star || c->wday_star) return md && w;
    return md || w;
}
