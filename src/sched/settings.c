/* settings.c: the scheduler settings, our form of the Airflow constants the users' guide
 * edits (CHRONON_PATH, GROUP_BY_BATCH_CONCURRENCY, JOIN_CONCURRENCY, time_parts, the
 * online store). They come from teams.json default.scheduler and <repo>/scheduler.json;
 * unknown keys are errors so that a misspelt setting never silently keeps its default. */
#include "sched/sched_int.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/date.h"
#include "base/json.h"
#include "sched/slurm.h"

static const char *const default_time_parts[] = {"ds", "ts", "hr"};

void cn_sched_settings_defaults(CnSchedSettings *s) {
    memset(s, 0, sizeof *s);
    s->chronon_bin = "chronon";
    /* The values the users' guide sets for one machine; Chronon's own file ships 300/100
     * for a cluster. */
    s->group_by_concurrency = 5;
    s->join_concurrency = 3;
    s->time_parts = (const char **)default_time_parts;
    s->n_time_parts = CN_ARRAY_LEN(default_time_parts);
    s->retries = 1;             /* Chronon's DAG constructors: retries=1, 1 minute apart */
    s->retry_delay_s = 60;
    s->start_date = "2023-02-01";
    s->catchup = false;
    s->sensor_timeout_s = 48 * 3600; /* Chronon's sensors: 48 h, 3 retries */
    s->sensor_poke_s = 60;
    s->sensor_retries = 3;
    s->poll_ms = 5000;
    s->retry_delay_ms = 60000;
    s->retry_exponential = true;
    s->max_retry_delay_ms = 3600 * 1000;
    s->task_timeout_ms = 24 * CN_MS_PER_HOUR;
    s->sensor_poke_ms = 60000;
    s->sensor_timeout_ms = 48 * CN_MS_PER_HOUR;
    s->max_active_runs = 1;
    s->parallelism = 16;
    s->lease_ms = 300 * 1000; /* Airflow's scheduler_zombie_task_threshold */
}

typedef struct Ctx {
    CnArena *a;
    const char *name, *where;
    CnErr *err;
} Ctx;

static int bad(Ctx *c, const char *key, const char *what, json_t *v) {
    char txt[128] = "";
    if (v) {
        size_t n = json_dumpb(v, txt, sizeof txt - 1, JSON_ENCODE_ANY | JSON_COMPACT);
        /* jansson leaves the buffer undefined when the value does not fit */
        if (n == 0 || n >= sizeof txt - 1) snprintf(txt, sizeof txt, "(value too long to show)");
        else txt[n] = 0;
    }
    return cn_err_set(c->err, CN_ECONFIG, "%s: %s%s%s: expected %s, got %s %s", c->name, c->where,
                      *c->where ? "." : "", key, what, cn_json_type_name(v), txt);
}

static int get_int(Ctx *c, const char *key, json_t *v, long min, long max, int *out) {
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        char what[96];
        snprintf(what, sizeof what, "an integer from %ld to %ld", min, max);
        return bad(c, key, what, v);
    }
    *out = (int)json_integer_value(v);
    return 0;
}

/* A duration in seconds (fractions allowed) from min_s to max_s, as milliseconds. */
static int get_secs(Ctx *c, const char *key, json_t *v, double min_s, double max_s, int64_t *ms) {
    if (!json_is_number(v) || json_number_value(v) < min_s || json_number_value(v) > max_s) {
        char what[96];
        snprintf(what, sizeof what, "a number of seconds from %g to %g", min_s, max_s);
        return bad(c, key, what, v);
    }
    *ms = (int64_t)(json_number_value(v) * 1000.0 + 0.5);
    return 0;
}

static int secs_up(int64_t ms) { return (int)((ms + 999) / 1000); }

static int get_str(Ctx *c, const char *key, json_t *v, const char **out) {
    if (!json_is_string(v) || !*json_string_value(v)) return bad(c, key, "a non-empty string", v);
    *out = cn_arena_strdup(c->a, json_string_value(v));
    return *out ? 0 : cn_err_set(c->err, CN_ENOMEM, "out of memory");
}

/* Percent-encodes what RFC 3986 does not allow in a URI's user or password, so that a
 * password with '@' or ':' still parses. In a; NULL in, NULL out. */
static const char *userinfo(CnArena *a, const char *s) {
    if (!s) return NULL;
    char *out = cn_arena_alloc(a, strlen(s) * 3 + 1), *o = out;
    if (!out) return s; /* the caller's printf into the same arena reports the OOM */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            *o++ = (char)*p;
        else o += sprintf(o, "%%%02X", *p);
    }
    *o = 0;
    return out;
}

/* ONLINE_STORE_CONFIG of the guide is a dict (host, port, database, username, password);
 * we take it as that object or as the URI it stands for. */
static int get_online(Ctx *c, const char *key, json_t *v, const char **out) {
    if (json_is_string(v)) return get_str(c, key, v, out);
    if (!json_is_object(v)) return bad(c, key, "a URI string or an object {scheme, host, port, database, username, password}", v);
    static const char *const allowed[] = {"scheme", "host", "port", "database", "username", "password"};
    const char *k;
    json_t *f;
    json_object_foreach(v, k, f) {
        bool ok = false;
        for (size_t i = 0; i < CN_ARRAY_LEN(allowed); i++) ok |= !strcmp(k, allowed[i]);
        if (!ok) {
            char full[160];
            snprintf(full, sizeof full, "%s.%s", key, k);
            return bad(c, full, "one of scheme, host, port, database, username, password", f);
        }
        if (strcmp(k, "port") && !json_is_string(f)) {
            char full[160];
            snprintf(full, sizeof full, "%s.%s", key, k);
            return bad(c, full, "a string", f);
        }
    }
    json_t *host = json_object_get(v, "host"), *port = json_object_get(v, "port");
    if (!json_is_string(host)) return bad(c, "online_store.host", "a string (the store's host)", host);
    if (port && !json_is_integer(port) && !json_is_string(port))
        return bad(c, "online_store.port", "an integer or a string", port);
    const char *scheme = json_string_value(json_object_get(v, "scheme"));
    const char *user = userinfo(c->a, json_string_value(json_object_get(v, "username")));
    const char *pass = userinfo(c->a, json_string_value(json_object_get(v, "password")));
    const char *db = json_string_value(json_object_get(v, "database"));
    char portbuf[32] = "";
    if (json_is_integer(port)) snprintf(portbuf, sizeof portbuf, ":%lld", (long long)json_integer_value(port));
    else if (port) snprintf(portbuf, sizeof portbuf, ":%s", json_string_value(port));
    *out = cn_arena_printf(c->a, "%s://%s%s%s%s%s%s%s", scheme ? scheme : "mongodb", user ? user : "",
                           user && pass ? ":" : "", user && pass ? pass : "", user ? "@" : "",
                           json_string_value(host), portbuf, db ? "/" : "");
    if (*out && db) *out = cn_arena_printf(c->a, "%s%s", *out, db);
    return *out ? 0 : cn_err_set(c->err, CN_ENOMEM, "out of memory");
}

int cn_sched_settings_apply(CnArena *a, CnSchedSettings *s, const char *name, const char *where,
                            const char *json, size_t len, CnErr *err) {
    json_t *root = NULL;
    Ctx c = {a, name, where ? where : "", err};
    int rc = cn_json_loadb(name, json, len, &root, err);
    if (rc) goto done;
    if (!json_is_object(root)) {
        rc = cn_err_set(err, CN_ECONFIG, "%s: %s: expected an object of scheduler settings, got %s",
                        name, *c.where ? c.where : "(top level)", cn_json_type_name(root));
        goto done;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        int tmp = 0;
        if (!strcmp(k, "chronon_path")) rc = get_str(&c, k, v, &s->chronon_path);
        else if (!strcmp(k, "chronon_bin")) rc = get_str(&c, k, v, &s->chronon_bin);
        else if (!strcmp(k, "group_by_batch_concurrency"))
            rc = get_int(&c, k, v, 1, 100000, &s->group_by_concurrency);
        else if (!strcmp(k, "join_concurrency")) rc = get_int(&c, k, v, 1, 100000, &s->join_concurrency);
        else if (!strcmp(k, "retries")) rc = get_int(&c, k, v, 0, 100, &s->retries);
        else if (!strcmp(k, "retry_delay_minutes")) {
            rc = get_int(&c, k, v, 0, 7 * 24 * 60, &tmp);
            s->retry_delay_s = tmp * 60;
            s->retry_delay_ms = (int64_t)tmp * 60000;
        } else if (!strcmp(k, "retry_delay_seconds")) {
            rc = get_secs(&c, k, v, 0, 7 * 86400, &s->retry_delay_ms);
            s->retry_delay_s = secs_up(s->retry_delay_ms);
        } else if (!strcmp(k, "sensor_timeout_hours")) {
            rc = get_int(&c, k, v, 1, 24 * 365, &tmp);
            s->sensor_timeout_s = tmp * 3600;
            s->sensor_timeout_ms = (int64_t)tmp * CN_MS_PER_HOUR;
        } else if (!strcmp(k, "sensor_timeout_seconds")) {
            rc = get_secs(&c, k, v, 0.001, 365 * 86400.0, &s->sensor_timeout_ms);
            s->sensor_timeout_s = secs_up(s->sensor_timeout_ms);
        } else if (!strcmp(k, "sensor_poke_interval_seconds")) {
            rc = get_secs(&c, k, v, 0.001, 24 * 3600, &s->sensor_poke_ms);
            s->sensor_poke_s = secs_up(s->sensor_poke_ms);
        } else if (!strcmp(k, "poll_interval_seconds"))
            rc = get_secs(&c, k, v, 0.001, 3600, &s->poll_ms);
        else if (!strcmp(k, "max_retry_delay_seconds"))
            rc = get_secs(&c, k, v, 0, 7 * 86400, &s->max_retry_delay_ms);
        else if (!strcmp(k, "task_timeout_seconds"))
            rc = get_secs(&c, k, v, 0, 30 * 86400, &s->task_timeout_ms);
        else if (!strcmp(k, "scheduler_lease_seconds"))
            rc = get_secs(&c, k, v, 0.1, 7 * 86400, &s->lease_ms);
        else if (!strcmp(k, "retry_exponential_backoff")) {
            if (!json_is_boolean(v)) rc = bad(&c, k, "true or false", v);
            else s->retry_exponential = json_is_true(v);
        } else if (!strcmp(k, "max_active_runs")) rc = get_int(&c, k, v, 1, 10000, &s->max_active_runs);
        else if (!strcmp(k, "parallelism")) rc = get_int(&c, k, v, 1, 100000, &s->parallelism);
        else if (!strcmp(k, "log_dir")) rc = get_str(&c, k, v, &s->log_dir);
        else if (!strcmp(k, "state_db")) rc = get_str(&c, k, v, &s->state_db);
        else if (!strcmp(k, "sensor_retries")) rc = get_int(&c, k, v, 0, 100, &s->sensor_retries);
        else if (!strcmp(k, "catchup")) {
            if (!json_is_boolean(v)) rc = bad(&c, k, "true or false", v);
            else s->catchup = json_is_true(v);
        } else if (!strcmp(k, "start_date")) {
            int64_t d;
            if (!json_is_string(v) || cn_ds_parse(json_string_value(v), &d))
                rc = bad(&c, k, "a date YYYY-MM-DD", v);
            else rc = get_str(&c, k, v, &s->start_date);
        } else if (!strcmp(k, "online_store")) rc = get_online(&c, k, v, &s->online_store);
        else if (!strcmp(k, "slurm")) rc = cn_sched_slurm_parse(a, name, v, &s->slurm, err);
        else if (!strcmp(k, "time_parts")) {
            size_t n = json_is_array(v) ? json_array_size(v) : 0;
            const char **parts = n ? cn_arena_alloc(a, n * sizeof *parts) : NULL;
            if (!json_is_array(v)) rc = bad(&c, k, "a list of partition column names", v);
            else if (n && !parts) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            for (size_t i = 0; !rc && i < n; i++) {
                json_t *e = json_array_get(v, i);
                char key[64];
                snprintf(key, sizeof key, "time_parts[%zu]", i);
                rc = get_str(&c, key, e, &parts[i]);
            }
            if (!rc) {
                s->time_parts = parts;
                s->n_time_parts = n;
            }
        } else {
            rc = cn_err_set(err, CN_ECONFIG,
                            "%s: %s%sunknown scheduler setting \"%s\" (expected one of chronon_path, "
                            "chronon_bin, group_by_batch_concurrency, join_concurrency, time_parts, "
                            "online_store, retries, retry_delay_minutes, start_date, catchup, "
                            "sensor_timeout_hours, sensor_timeout_seconds, sensor_poke_interval_seconds, "
                            "sensor_retries, poll_interval_seconds, retry_delay_seconds, "
                            "retry_exponential_backoff, max_retry_delay_seconds, task_timeout_seconds, "
                            "max_active_runs, parallelism, log_dir, state_db, scheduler_lease_seconds, slurm)",
                            name, c.where, *c.where ? ": " : "", k);
        }
        if (rc) goto done;
    }
done:
    if (root) json_decref(root);
    return rc;
}
