/* model.c: builds the DAG model from <repo>/production and teams.json.
 * Three passes over the loaded configs: (1) count GroupBys and StagingQueries per team, so
 * task ids stay the guide's (`backfill_task`) when a team has one and become
 * `<short name>.backfill_task` when it has several; (2) create DAGs and run tasks and
 * record which task produces which table (a Join with a labelPart gets a second entry,
 * its label-join DAG); (3) add partition sensors from metaData.dependencies (a label
 * entry: labelPart.metaData.dependencies) and waits on the producers of the tables a
 * config reads.
 * Arena allocations set a sticky out-of-memory flag checked once at the end. */
#include "sched/sched_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/fs.h"
#include "base/json.h"
#include "conf/conf.h"

/* One compiled file and what it became. */
typedef struct Entry {
    CnConf *conf;
    const char *rel;            /* production/<kind>/<team>/<file> */
    const char *team;
    const char *dag_id;         /* NULL: schedules nothing (e.g. Chronon naming, no task) */
    const char *entry_ids[2];   /* run tasks that sensors and waits feed */
    size_t n_entry;
    const char *backfill_id;    /* its backfill task, or NULL */
    bool label;                 /* the label-join DAG of a Join with a labelPart */
} Entry;

typedef struct Producer {
    const char *table;
    const char *dag_id, *task_id;
} Producer;

typedef struct Build {
    CnSchedModel *m;
    CnArena *a;
    bool oom;
    const CnTeams *teams;
    Entry *entries;
    size_t n_entries, cap_entries;
    Producer *producers;
    size_t n_producers, cap_producers;
} Build;

/* Grows *arr (element size sz) in the arena to hold one more; old storage is left to the
 * arena, which is fine for the few hundred configs of a repo. */
static void *grow(Build *b, void **arr, size_t *n, size_t *cap, size_t sz) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        void *p = cn_arena_alloc(b->a, nc * sz);
        if (!p) {
            b->oom = true;
            return NULL;
        }
        if (*n) memcpy(p, *arr, *n * sz);
        *arr = p;
        *cap = nc;
    }
    void *slot = (char *)*arr + (*n)++ * sz;
    memset(slot, 0, sz);
    return slot;
}

static const char *dup(Build *b, const char *s) {
    char *d = cn_arena_strdup(b->a, s ? s : "");
    if (!d) b->oom = true;
    return d;
}

static const char *fmt_ok(Build *b, char *s) {
    if (!s) b->oom = true;
    return s;
}

static const char *sanitized(Build *b, const char *s) {
    char *d = cn_arena_strdup(b->a, s ? s : "");
    if (!d) {
        b->oom = true;
        return NULL;
    }
    cn_str_sanitize(d);
    return d;
}

/* ---- names ---- */

char *cn_sched__normalize(CnArena *a, const CnSchedSettings *s, const char *name) {
    CnBuf kept = CN_BUF_INIT;
    const char *p = name;
    bool first = true;
    while (p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        bool time_part = false;
        for (size_t i = 0; i < s->n_time_parts; i++) {
            size_t tl = strlen(s->time_parts[i]);
            if (n > tl && !strncmp(p, s->time_parts[i], tl) && p[tl] == '=') time_part = true;
        }
        if (!time_part) {
            if (!first) cn_buf_puts(&kept, "__");
            cn_buf_append(&kept, p, n);
            first = false;
        }
        p = slash ? slash + 1 : NULL;
    }
    CnBuf out = CN_BUF_INIT;
    for (size_t i = 0; i < kept.len; i++) {
        char c = kept.data[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (ok) cn_buf_putc(&out, c);
        else cn_buf_puts(&out, "__");
    }
    char *r = NULL;
    if (!kept.oom && !out.oom) r = cn_arena_strdup(a, out.len ? out.data : "");
    cn_buf_fini(&kept);
    cn_buf_fini(&out);
    return r;
}

static const char *team_dag_id(Build *b, CnConfKind kind, const char *team, const char *name) {
    bool guide = b->m->naming == CN_SCHED_NAMING_GUIDE;
    const char *t = sanitized(b, team);
    if (!t) return NULL;
    switch (kind) {
    case CN_CONF_GROUP_BY:
        return fmt_ok(b, cn_arena_printf(b->a, guide ? "chronon_batch_dag_%s" : "chronon_group_by_batch_%s", t));
    case CN_CONF_STAGING_QUERY:
        return fmt_ok(b, cn_arena_printf(b->a, guide ? "chronon_staging_query_%s" : "chronon_staging_query_batch_%s", t));
    case CN_CONF_JOIN: {
        const char *n = guide ? sanitized(b, name) : fmt_ok(b, cn_sched__normalize(b->a, &b->m->settings, name));
        return n ? fmt_ok(b, cn_arena_printf(b->a, "chronon_join_%s", n)) : NULL;
    }
    case CN_CONF_KIND_UNKNOWN: break;
    }
    return NULL;
}

/* The DAG a compiled file feeds, from its path alone (for files that fail to load):
 * production/<kind>/<team>/<rest> is named "<team>.<rest>" by compile. */
static const char *dag_id_from_path(Build *b, const char *rel) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", rel);
    char *segs[5] = {0};
    int ns = 0;
    for (char *tok = strtok(tmp, "/"); tok && ns < 5; tok = strtok(NULL, "/")) segs[ns++] = tok;
    if (ns != 4) return NULL;
    CnConfKind kind = !strcmp(segs[1], "group_bys") ? CN_CONF_GROUP_BY
                      : !strcmp(segs[1], "joins") ? CN_CONF_JOIN
                      : CN_CONF_STAGING_QUERY;
    char *name = cn_arena_printf(b->a, "%s.%s", segs[2], segs[3]);
    if (!name) {
        b->oom = true;
        return NULL;
    }
    return team_dag_id(b, kind, segs[2], name);
}

/* ---- model helpers ---- */

const char *cn_sched_task_kind_name(CnSchedTaskKind k) {
    return k == CN_SCHED_TASK_RUN ? "run" : k == CN_SCHED_TASK_SENSOR ? "sensor" : "external";
}

const char *cn_sched_dag_kind_name(CnSchedDagKind k) {
    return k == CN_SCHED_DAG_GROUP_BY      ? "group_by"
           : k == CN_SCHED_DAG_JOIN       ? "join"
           : k == CN_SCHED_DAG_LABEL_JOIN ? "label_join"
                                          : "staging_query";
}

const char *cn_sched_naming_name(CnSchedNaming n) {
    return n == CN_SCHED_NAMING_GUIDE ? "guide" : "chronon";
}

const CnSchedDag *cn_sched_dag_find(const CnSchedModel *m, const char *id) {
    for (size_t i = 0; id && i < m->n_dags; i++)
        if (!strcmp(m->dags[i].id, id)) return &m->dags[i];
    return NULL;
}

long cn_sched_task_index(const CnSchedDag *d, const char *id) {
    for (size_t i = 0; id && i < d->n_tasks; i++)
        if (!strcmp(d->tasks[i].id, id)) return (long)i;
    return -1;
}

const CnSchedTask *cn_sched_task_find(const CnSchedDag *d, const char *id) {
    long i = cn_sched_task_index(d, id);
    return i < 0 ? NULL : &d->tasks[i];
}

bool cn_sched_task_has_upstream(const CnSchedDag *d, size_t i, size_t j) {
    const CnSchedTask *t = &d->tasks[i];
    for (size_t k = 0; k < t->n_upstream; k++)
        if (t->upstream[k] == j) return true;
    return false;
}

void cn_sched_list_dag_ids(const CnSchedModel *m, CnBuf *b) {
    for (size_t i = 0; i < m->n_dags; i++) cn_buf_printf(b, "  %s\n", m->dags[i].id);
    if (!m->n_dags) cn_buf_puts(b, "  (none: production/ has no schedulable configs)\n");
}

static CnSchedDag *dag_get(Build *b, const char *id) {
    for (size_t i = 0; i < b->m->n_dags; i++)
        if (!strcmp(b->m->dags[i].id, id)) return &b->m->dags[i];
    return NULL;
}

static const char *team_setting(Build *b, const char *team, const char *key) {
    if (!b->teams) return NULL;
    const CnTeam *t = cn_conf_teams_find(b->teams, team);
    const char *v = t ? cn_conf_map_get(&t->strings, key) : NULL;
    if (!v && b->teams->deflt) v = cn_conf_map_get(&b->teams->deflt->strings, key);
    return v;
}

static void issue(Build *b, const char *rel, const char *dag_id, const char *msg) {
    CnSchedModel *m = b->m;
    CnSchedIssue *is = grow(b, (void **)&m->issues, &m->n_issues, &m->cap_issues, sizeof *is);
    if (!is) return;
    if (!msg) msg = "";
    is->path = dup(b, rel);
    is->dag_id = dag_id;
    /* msg either continues the path (": ...", ":3:5: ...") or is a sentence of its own */
    is->msg = fmt_ok(b, cn_arena_printf(b->a, "%s%s%s", rel, msg[0] == ':' ? "" : ": ", msg));
}

static CnSchedDag *dag_ensure(Build *b, const char *id, CnSchedDagKind kind, const char *team,
                              const char *schedule) {
    CnSchedDag *d = dag_get(b, id);
    if (d) return d;
    CnSchedModel *m = b->m;
    d = grow(b, (void **)&m->dags, &m->n_dags, &m->cap_dags, sizeof *d);
    if (!d) return NULL;
    d->id = id;
    d->kind = kind;
    d->team = team;
    d->schedule = schedule;
    d->concurrency = kind == CN_SCHED_DAG_JOIN || kind == CN_SCHED_DAG_LABEL_JOIN ? m->settings.join_concurrency
                                                                                  : m->settings.group_by_concurrency;
    /* Chronon's task_default_args: team settings, then default's. */
    const char *start = team_setting(b, team, "dag_start_date");
    int64_t days;
    /* teams.json dies with the build: copy what the DAG keeps */
    d->start_date = start && !cn_ds_parse(start, &days) ? dup(b, start) : m->settings.start_date;
    if (start && cn_ds_parse(start, &days)) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "team \"%s\": dag_start_date \"%s\" is not a date YYYY-MM-DD; its DAGs start %s",
                 team, start, d->start_date);
        bool seen = false; /* once per team, not per DAG */
        for (size_t i = 0; i < m->n_issues; i++) seen |= m->issues[i].msg && strstr(m->issues[i].msg, msg);
        if (!seen) issue(b, "teams.json", NULL, msg);
    }
    const char *owner = team_setting(b, team, "team_name");
    d->owner = owner ? dup(b, owner) : team;
    return d;
}

/* Index of the task with id in d, adding it when absent. *added says which. */
static long task_ensure(Build *b, CnSchedDag *d, const char *id, CnSchedTaskKind kind, bool *added) {
    *added = false;
    if (!id) { /* a name that could not be allocated */
        b->oom = true;
        return -1;
    }
    long i = cn_sched_task_index(d, id);
    if (i >= 0) return i;
    CnSchedTask *t = grow(b, (void **)&d->tasks, &d->n_tasks, &d->cap_tasks, sizeof *t);
    if (!t) return -1;
    t->id = id;
    t->kind = kind;
    *added = true;
    return (long)(d->n_tasks - 1);
}

static void edge(Build *b, CnSchedDag *d, long up, long down) {
    if (up < 0 || down < 0 || up == down) return;
    if (cn_sched_task_has_upstream(d, (size_t)down, (size_t)up)) return;
    CnSchedTask *t = &d->tasks[down];
    size_t *slot = grow(b, (void **)&t->upstream, &t->n_upstream, &t->cap_upstream, sizeof *slot);
    if (slot) *slot = (size_t)up;
}


/* ---- pass 1: discovery ---- */

static int cmp_str(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

typedef struct Files {
    char **items;
    size_t n, cap;
} Files;

static int walk(const char *root, const char *rel, Files *f, CnErr *err) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", root, rel);
    DIR *dp = opendir(dir);
    if (!dp) return 0; /* a kind folder that does not exist holds no configs */
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.') continue; /* ., .., editor and VCS files */
        char sub[PATH_MAX], full[PATH_MAX];
        int n1 = snprintf(sub, sizeof sub, "%s/%s", rel, de->d_name);
        int n2 = snprintf(full, sizeof full, "%s/%s", root, sub);
        if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof sub || (size_t)n2 >= sizeof full) {
            rc = cn_err_set(err, CN_ELIMIT, "%s/%s: path too long", dir, de->d_name);
            break;
        }
        struct stat st;
        if (stat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if ((rc = walk(root, sub, f, err))) break;
            continue;
        }
        if (!S_ISREG(st.st_mode)) continue;
        if (f->n == f->cap) {
            size_t nc = f->cap ? f->cap * 2 : 32;
            char **p = cn_realloc(f->items, nc * sizeof *p);
            if (!p) {
                rc = cn_err_set(err, CN_ENOMEM, "out of memory listing %s", dir);
                break;
            }
            f->items = p;
            f->cap = nc;
        }
        if (!(f->items[f->n] = cn_strdup(sub))) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory listing %s", dir);
            break;
        }
        f->n++;
    }
    closedir(dp);
    return rc;
}

static void files_free(Files *f) {
    for (size_t i = 0; i < f->n; i++) cn_free(f->items[i]);
    cn_free(f->items);
}

static void load_one(Build *b, const char *rel) {
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", b->m->repo, rel);
    CnErr e = CN_ERR_INIT;
    CnConf *c = NULL;
    int rc = cn_conf_load(full, &c, &e);
    if (rc == CN_ENOMEM || rc == -ENOMEM) {
        b->oom = true; /* our failure, not the file's */
        return;
    }
    if (rc) {
        /* The loader names the full path; say it relative to the repo like the rest. */
        const char *msg = cn_err_msg(&e);
        size_t fl = strlen(full);
        if (!strncmp(msg, full, fl)) msg += fl;
        else msg = fmt_ok(b, cn_arena_printf(b->a, ": %s", msg));
        issue(b, rel, dag_id_from_path(b, rel), msg ? msg : "");
        return;
    }
    CnSchedModel *m = b->m;
    void **slot = grow(b, (void **)&m->confs, &m->n_confs, &m->cap_confs, sizeof *slot);
    if (!slot) {
        cn_conf_free(c);
        return;
    }
    *slot = c;
    const CnMetaData *md = c->meta;
    if (!md->name || !*md->name || !md->team || !*md->team) {
        /* Chronon's DAG builder skips such files too: without both it cannot name a DAG. */
        issue(b, rel, dag_id_from_path(b, rel),
              !md->name || !*md->name ? "metaData.name is not set (recompile the config)"
                                      : "metaData.team is not set (recompile the config)");
        return;
    }
    Entry *en = grow(b, (void **)&b->entries, &b->n_entries, &b->cap_entries, sizeof *en);
    if (!en) return;
    en->conf = c;
    en->rel = dup(b, rel);
    en->team = md->team;
}

/* ---- pass 2: run tasks ---- */

static bool gb_backfill(const Build *b, const CnGroupBy *gb) {
    /* The guide's DAG always backfills; Chronon's helpers only with backfillStartDate. */
    return b->m->naming == CN_SCHED_NAMING_GUIDE || gb->backfill_start_date != NULL;
}

static bool is_online(const CnMetaData *md) { return md->online == 1; }

static bool join_backfill(const Build *b, const CnJoin *j) {
    bool never = j->meta.offline_schedule && !strcmp(j->meta.offline_schedule, "@never");
    return b->m->naming == CN_SCHED_NAMING_GUIDE || !never;
}

static size_t count_team(const Build *b, CnConfKind kind, const char *team) {
    size_t n = 0;
    for (size_t i = 0; i < b->n_entries; i++) {
        const Entry *e = &b->entries[i];
        if (e->conf->kind != kind || strcmp(e->team, team)) continue;
        if (kind == CN_CONF_GROUP_BY && !gb_backfill(b, e->conf->group_by) && !is_online(e->conf->meta))
            continue;
        n++;
    }
    return n;
}

static const char **run_argv(Build *b, const char *mode, const char *rel, size_t *argc) {
    const CnSchedSettings *s = &b->m->settings;
    const char *v[] = {s->chronon_bin, "run", "--mode", mode, "--conf", rel, "--ds", "{{ ds }}",
                       "--repo", s->chronon_path};
    const char **argv = cn_arena_alloc(b->a, sizeof v);
    if (!argv) {
        b->oom = true;
        return NULL;
    }
    memcpy(argv, v, sizeof v);
    *argc = CN_ARRAY_LEN(v);
    return argv;
}

static long add_run(Build *b, CnSchedDag *d, Entry *e, const char *id, const char *mode) {
    bool added;
    long i = task_ensure(b, d, id, CN_SCHED_TASK_RUN, &added);
    if (i < 0) return -1;
    if (!added) {
        char msg[512];
        snprintf(msg, sizeof msg, "task id \"%s\" of DAG %s is already taken by another config; %s is not scheduled",
                 id, d->id, e->conf->meta->name);
        issue(b, e->rel, d->id, msg);
        d->incomplete = true;
        return -1;
    }
    CnSchedTask *t = &d->tasks[i];
    t->mode = mode;
    t->conf_path = e->rel;
    t->conf_name = e->conf->meta->name;
    t->argv = run_argv(b, mode, e->rel, &t->argc);
    if (!strcmp(mode, "upload") || !strcmp(mode, "metadata-upload")) t->env_online = b->m->settings.online_store;
    return i;
}

static void produce(Build *b, const char *table, const char *dag_id, const char *task_id) {
    if (!table) return;
    for (size_t i = 0; i < b->n_producers; i++)
        if (!strcmp(b->producers[i].table, table)) return; /* first writer wins */
    Producer *p = grow(b, (void **)&b->producers, &b->n_producers, &b->cap_producers, sizeof *p);
    if (!p) return;
    p->table = table;
    p->dag_id = dag_id;
    p->task_id = task_id;
}

/* Task id in a team DAG: the guide's name alone when the team has one config of the kind,
 * else "<name without team, sanitized>.<task>", like an Airflow TaskGroup's ids. */
static const char *team_task_id(Build *b, const Entry *e, size_t n_in_team, const char *task) {
    if (n_in_team <= 1) return task;
    const char *name = e->conf->meta->name;
    size_t tl = strlen(e->team);
    if (!strncmp(name, e->team, tl) && name[tl] == '.') name += tl + 1;
    const char *s = sanitized(b, name);
    return s ? fmt_ok(b, cn_arena_printf(b->a, "%s.%s", s, task)) : NULL;
}

static const char *chronon_task_id(Build *b, const char *prefix, const char *name) {
    char *n = cn_sched__normalize(b->a, &b->m->settings, name);
    return n ? fmt_ok(b, cn_arena_printf(b->a, "%s__%s", prefix, n)) : fmt_ok(b, NULL);
}

static void plan_group_by(Build *b, Entry *e) {
    if (b->oom) return;
    const CnGroupBy *gb = e->conf->group_by;
    bool guide = b->m->naming == CN_SCHED_NAMING_GUIDE;
    bool backfill = gb_backfill(b, gb), online = is_online(&gb->meta);
    if (!backfill && !online) return; /* nothing Chronon would schedule */
    const char *dag_id = team_dag_id(b, CN_CONF_GROUP_BY, e->team, gb->meta.name);
    CnSchedDag *d = dag_id ? dag_ensure(b, dag_id, CN_SCHED_DAG_GROUP_BY, e->team, "@daily") : NULL;
    if (!d) return;
    e->dag_id = d->id;
    size_t n = count_team(b, CN_CONF_GROUP_BY, e->team);
    long bf = -1, up = -1, md = -1;
    if (guide) {
        bf = add_run(b, d, e, team_task_id(b, e, n, "backfill_task"), "backfill");
        if (online) {
            up = add_run(b, d, e, team_task_id(b, e, n, "upload_task"), "upload");
            md = add_run(b, d, e, team_task_id(b, e, n, "metadata_upload_task"), "metadata-upload");
        }
        /* backfill, then the day's upload, then the metadata that serves it */
        edge(b, d, bf, up);
        edge(b, d, up, md);
        if (bf >= 0) e->entry_ids[e->n_entry++] = d->tasks[bf].id;
    } else {
        /* Chronon's helpers: both tasks hang off the sensors, independent of each other. */
        if (backfill) {
            bf = add_run(b, d, e, chronon_task_id(b, "group_by_batch_backfill", gb->meta.name), "backfill");
            if (bf >= 0) e->entry_ids[e->n_entry++] = d->tasks[bf].id;
        }
        if (online) {
            up = add_run(b, d, e, chronon_task_id(b, "group_by_batch", gb->meta.name), "upload");
            if (up >= 0) e->entry_ids[e->n_entry++] = d->tasks[up].id;
        }
    }
    if (bf >= 0) {
        e->backfill_id = d->tasks[bf].id;
        CnErr ignored = CN_ERR_INIT;
        produce(b, cn_conf_output_table(b->a, &gb->meta, &ignored), d->id, e->backfill_id);
    }
}

/* Whether a Join's schedule (field: where it was written) parses; if not, an issue naming
 * the file, the field and the value, and what fed dag_id is not scheduled. */
static bool schedule_ok(Build *b, const Entry *e, const char *dag_id, const char *field, const char *sched) {
    CnSchedCron cron;
    char why[256];
    if (cn_sched_cron_parse(sched, &cron, why, sizeof why) == 0) return true;
    char msg[700];
    snprintf(msg, sizeof msg, "%s \"%.100s\" is not a schedule: %s. Expected an Airflow preset (@daily, @weekly, "
             "@monthly, ...), @never, or a 5-field cron string such as \"0 3 * * *\"; %s%s is not scheduled",
             field, sched, why, e->label ? "the label join of " : "", e->conf->meta->name);
    issue(b, e->rel, dag_id, msg);
    return false;
}

static void plan_join(Build *b, Entry *e) {
    if (b->oom) return;
    const CnJoin *j = e->conf->join;
    bool guide = b->m->naming == CN_SCHED_NAMING_GUIDE;
    if (!join_backfill(b, j)) return;
    const char *dag_id = team_dag_id(b, CN_CONF_JOIN, e->team, j->meta.name);
    const char *sched = j->meta.offline_schedule ? j->meta.offline_schedule : "@daily";
    if (!schedule_ok(b, e, dag_id, "metaData.offlineSchedule", sched)) return;
    CnSchedDag *d = dag_id ? dag_ensure(b, dag_id, CN_SCHED_DAG_JOIN, e->team, sched) : NULL;
    if (!d) return;
    e->dag_id = d->id;
    long bf = add_run(b, d, e, guide ? "backfill_task" : chronon_task_id(b, "compute_join", j->meta.name),
                      "backfill");
    if (guide && is_online(&j->meta)) edge(b, d, bf, add_run(b, d, e, "metadata_upload_task", "metadata-upload"));
    if (bf < 0) return;
    e->backfill_id = d->tasks[bf].id;
    e->entry_ids[e->n_entry++] = e->backfill_id;
    CnErr ignored = CN_ERR_INIT;
    produce(b, cn_conf_output_table(b->a, &j->meta, &ignored), d->id, e->backfill_id);
    for (size_t p = 0; p < j->n_parts; p++) {
        cn_err_clear(&ignored);
        produce(b, cn_conf_join_part_table(b->a, j, &j->parts[p], &ignored), d->id, e->backfill_id);
    }
}

/* The label-join DAG of a Join with a labelPart, as Chronon's helpers name it for mode
 * label-join: `chronon_label_join_<N>` with task `compute_labels__<N>` (guide naming:
 * `chronon_label_join_<sanitize(name)>`, `label_join_task`), scheduled by
 * labelPart.metaData.offlineSchedule (default @daily; @never: manual runs), whatever the
 * Join's own schedule. The task labels label day {{ ds }}. */
static void plan_label_join(Build *b, Entry *e) {
    if (b->oom) return;
    const CnJoin *j = e->conf->join;
    const CnLabelPart *lp = j->label_part;
    bool guide = b->m->naming == CN_SCHED_NAMING_GUIDE;
    const char *n = guide ? sanitized(b, j->meta.name) : fmt_ok(b, cn_sched__normalize(b->a, &b->m->settings, j->meta.name));
    const char *dag_id = n ? fmt_ok(b, cn_arena_printf(b->a, "chronon_label_join_%s", n)) : NULL;
    const char *sched = lp->meta.offline_schedule ? lp->meta.offline_schedule : "@daily";
    if (!dag_id || !schedule_ok(b, e, dag_id, "labelPart.metaData.offlineSchedule", sched)) return;
    CnSchedDag *d = dag_ensure(b, dag_id, CN_SCHED_DAG_LABEL_JOIN, e->team, sched);
    if (!d) return;
    e->dag_id = d->id;
    long t = add_run(b, d, e, guide ? "label_join_task" : chronon_task_id(b, "compute_labels", j->meta.name),
                     "label-join");
    if (t < 0) return;
    e->entry_ids[e->n_entry++] = d->tasks[t].id;
    CnErr ignored = CN_ERR_INIT;
    const char *out = cn_conf_output_table(b->a, &j->meta, &ignored);
    produce(b, out ? fmt_ok(b, cn_arena_printf(b->a, "%s_labels", out)) : NULL, d->id, d->tasks[t].id);
}

static void plan_staging_query(Build *b, Entry *e) {
    if (b->oom) return;
    const CnStagingQuery *sq = e->conf->staging_query;
    bool guide = b->m->naming == CN_SCHED_NAMING_GUIDE;
    const char *dag_id = team_dag_id(b, CN_CONF_STAGING_QUERY, e->team, sq->meta.name);
    CnSchedDag *d = dag_id ? dag_ensure(b, dag_id, CN_SCHED_DAG_STAGING_QUERY, e->team, "@daily") : NULL;
    if (!d) return;
    e->dag_id = d->id;
    size_t n = count_team(b, CN_CONF_STAGING_QUERY, e->team);
    long bf = add_run(b, d, e,
                      guide ? team_task_id(b, e, n, "backfill_task")
                            : chronon_task_id(b, "staging_query", sq->meta.name),
                      "backfill");
    if (bf < 0) return;
    e->backfill_id = d->tasks[bf].id;
    e->entry_ids[e->n_entry++] = e->backfill_id;
    CnErr ignored = CN_ERR_INIT;
    produce(b, cn_conf_output_table(b->a, &sq->meta, &ignored), d->id, e->backfill_id);
}

/* ---- pass 3: sensors and waits ---- */

typedef struct Dep {
    const char *name, *spec, *start, *end;
} Dep;

/* metaData.dependencies entries are JSON strings {"name","spec","start","end"}; a
 * StagingQuery's are bare specs, named here as GroupBy dependencies are named
 * (wait_for_<table>_<partition column>), or "wf__<spec>" as Chronon's helpers do. */
static int parse_dep(Build *b, const Entry *e, size_t i, const char *raw, Dep *d, char *why, size_t why_len) {
    memset(d, 0, sizeof *d);
    if (e->conf->kind == CN_CONF_STAGING_QUERY || raw[0] != '{') {
        const char *slash = strchr(raw, '/');
        const char *eq = slash ? strchr(slash, '=') : NULL;
        if (!slash || !eq) {
            snprintf(why, why_len, "metaData.dependencies[%zu]: \"%s\" is not a partition spec (expected <table>/<column>=<value>)", i, raw);
            return -1;
        }
        d->spec = raw;
        /* Chronon's helpers name these "wf__<spec>" (normalized later) */
        if (b->m->naming == CN_SCHED_NAMING_CHRONON) d->name = fmt_ok(b, cn_arena_printf(b->a, "wf__%s", raw));
        else d->name = fmt_ok(b, cn_arena_printf(b->a, "wait_for_%.*s_%.*s", (int)(slash - raw), raw,
                                                 (int)(eq - slash - 1), slash + 1));
        return 0;
    }
    json_error_t je;
    json_t *o = json_loads(raw, 0, &je);
    int rc = 0;
    if (!json_is_object(o) || !json_is_string(json_object_get(o, "name")) ||
        !json_is_string(json_object_get(o, "spec"))) {
        snprintf(why, why_len, "metaData.dependencies[%zu]: expected a JSON object with string \"name\" and \"spec\", got %s",
                 i, raw);
        rc = -1;
    } else {
        d->name = dup(b, json_string_value(json_object_get(o, "name")));
        d->spec = dup(b, json_string_value(json_object_get(o, "spec")));
        json_t *s = json_object_get(o, "start"), *en = json_object_get(o, "end");
        if (json_is_string(s)) d->start = dup(b, json_string_value(s));
        if (json_is_string(en)) d->end = dup(b, json_string_value(en));
        if (!strchr(d->spec, '/')) {
            snprintf(why, why_len, "metaData.dependencies[%zu]: spec \"%s\" has no partition (expected <table>/<column>=<value>)",
                     i, d->spec);
            rc = -1;
        }
    }
    if (o) json_decref(o);
    return rc;
}

static void add_sensor(Build *b, Entry *e, CnSchedDag *d, const Dep *dep) {
    if (!dep->name || !dep->spec) return; /* out of memory, flagged */
    const char *id = b->m->naming == CN_SCHED_NAMING_GUIDE ? sanitized(b, dep->name)
                                                           : fmt_ok(b, cn_sched__normalize(b->a, &b->m->settings, dep->name));
    if (!id) return;
    bool added;
    long s = task_ensure(b, d, id, CN_SCHED_TASK_SENSOR, &added);
    if (s < 0) return;
    CnSchedTask *t = &d->tasks[s];
    if (added) {
        const char *slash = strchr(dep->spec, '/');
        t->dep_name = dep->name;
        t->spec = dep->spec;
        t->table = fmt_ok(b, cn_arena_strndup(b->a, dep->spec, (size_t)(slash - dep->spec)));
        t->partition = slash + 1;
        t->end = dep->end;
    } else if (t->kind != CN_SCHED_TASK_SENSOR) {
        return; /* a run task of that id: not a sensor to share */
    }
    for (size_t k = 0; k < e->n_entry; k++) edge(b, d, s, cn_sched_task_index(d, e->entry_ids[k]));
}

/* Makes e's entry tasks wait for task_id of dag_id: an edge in the same DAG, else an
 * ExternalTaskSensor-style task. */
static void add_wait(Build *b, Entry *e, CnSchedDag *d, const char *dag_id, const char *task_id) {
    long up;
    if (!strcmp(dag_id, d->id)) {
        up = cn_sched_task_index(d, task_id);
        for (size_t k = 0; k < e->n_entry; k++)
            if (!strcmp(e->entry_ids[k], task_id)) return; /* reads its own output */
    } else {
        const char *t = sanitized(b, task_id);
        const char *id = t ? fmt_ok(b, cn_arena_printf(b->a, "wait_for_%s__%s", dag_id, t)) : NULL;
        if (!id) return;
        bool added;
        up = task_ensure(b, d, id, CN_SCHED_TASK_EXTERNAL, &added);
        if (up < 0) return;
        if (added) {
            d->tasks[up].ext_dag = dag_id;
            d->tasks[up].ext_task = task_id;
        }
    }
    for (size_t k = 0; k < e->n_entry; k++) edge(b, d, up, cn_sched_task_index(d, e->entry_ids[k]));
}

static void wait_for_table(Build *b, Entry *e, CnSchedDag *d, const char *table) {
    if (!table) return;
    for (size_t i = 0; i < b->n_producers; i++)
        if (!strcmp(b->producers[i].table, table))
            add_wait(b, e, d, b->producers[i].dag_id, b->producers[i].task_id);
}

static void wait_for_sources(Build *b, Entry *e, CnSchedDag *d, const CnSource *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        wait_for_table(b, e, d, cn_conf_source_table(b->a, &src[i]));
        if (src[i].mutation_table) wait_for_table(b, e, d, src[i].mutation_table);
    }
}

/* A label dependency that still holds compile's "{{ join_backfill_table }}" (a config
 * not filled by compile) names the Join's output table. */
static const char *label_dep(Build *b, const Entry *e, const char *raw) {
    static const char ph[] = "{{ join_backfill_table }}";
    CnErr ignored = CN_ERR_INIT;
    const char *out = strstr(raw, ph) ? cn_conf_output_table(b->a, &e->conf->join->meta, &ignored) : NULL;
    if (!out) return raw;
    CnBuf r = CN_BUF_INIT;
    for (const char *p = raw, *hit; p; p = hit ? hit + sizeof ph - 1 : NULL) {
        hit = strstr(p, ph);
        cn_buf_append(&r, p, hit ? (size_t)(hit - p) : strlen(p));
        if (hit) cn_buf_puts(&r, out);
    }
    const char *res = r.oom ? NULL : fmt_ok(b, cn_arena_strdup(b->a, r.len ? r.data : ""));
    cn_buf_fini(&r);
    return res ? res : raw;
}

/* For each part: its GroupBy's own backfill, when the GroupBy is scheduled on its own,
 * and the producers of its sources. */
static void wait_for_parts(Build *b, Entry *e, CnSchedDag *d, const CnJoinPart *parts, size_t n) {
    for (size_t p = 0; p < n; p++) {
        const CnGroupBy *gb = parts[p].group_by;
        for (size_t k = 0; k < b->n_entries && gb; k++) {
            const Entry *o = &b->entries[k];
            if (o->conf->kind == CN_CONF_GROUP_BY && o->backfill_id && gb->meta.name &&
                !strcmp(o->conf->meta->name, gb->meta.name))
                add_wait(b, e, d, o->dag_id, o->backfill_id);
        }
        if (gb) wait_for_sources(b, e, d, gb->sources, gb->n_sources);
    }
}

/* The waits of a label-join DAG: the Join's backfill (its output table, which the
 * _labeled views read), the producers of the left table and of the label GroupBys'
 * sources, and those GroupBys' own backfills. */
static void link_label(Build *b, Entry *e, CnSchedDag *d) {
    const CnJoin *j = e->conf->join;
    CnErr ignored = CN_ERR_INIT;
    wait_for_table(b, e, d, cn_conf_output_table(b->a, &j->meta, &ignored));
    wait_for_sources(b, e, d, &j->left, 1);
    wait_for_parts(b, e, d, j->label_part->labels, j->label_part->n_labels);
}

static void link_entry(Build *b, Entry *e) {
    if (b->oom || !e->dag_id || !e->n_entry) return;
    CnSchedDag *d = dag_get(b, e->dag_id);
    const CnMetaData *md = e->label ? &e->conf->join->label_part->meta : e->conf->meta;
    for (size_t i = 0; i < md->dependencies.n; i++) {
        Dep dep;
        char why[600];
        const char *raw = e->label ? label_dep(b, e, md->dependencies.items[i]) : md->dependencies.items[i];
        if (parse_dep(b, e, i, raw, &dep, why, sizeof why)) {
            issue(b, e->rel, d->id, why);
            d->incomplete = true;
            continue;
        }
        if (b->oom) return;
        add_sensor(b, e, d, &dep);
        /* A sensor on a table we produce also waits for the producing task. */
        const char *slash = dep.spec ? strchr(dep.spec, '/') : NULL;
        if (slash) wait_for_table(b, e, d, fmt_ok(b, cn_arena_strndup(b->a, dep.spec, (size_t)(slash - dep.spec))));
    }
    if (e->label) {
        link_label(b, e, d);
        return;
    }
    switch (e->conf->kind) {
    case CN_CONF_GROUP_BY:
        wait_for_sources(b, e, d, e->conf->group_by->sources, e->conf->group_by->n_sources);
        break;
    case CN_CONF_JOIN: {
        const CnJoin *j = e->conf->join;
        wait_for_sources(b, e, d, &j->left, 1);
        wait_for_parts(b, e, d, j->parts, j->n_parts);
        for (size_t k = 0; k < j->n_bootstraps; k++) wait_for_table(b, e, d, j->bootstraps[k].table);
        break;
    }
    case CN_CONF_STAGING_QUERY:
    case CN_CONF_KIND_UNKNOWN:
        break;
    }
}

/* A same-DAG edge loop (configs reading each other's output) would never run. */
static bool has_cycle(const CnSchedDag *d, size_t i, unsigned char *state) {
    if (state[i] == 1) return true;
    if (state[i] == 2) return false;
    state[i] = 1;
    for (size_t k = 0; k < d->tasks[i].n_upstream; k++)
        if (has_cycle(d, d->tasks[i].upstream[k], state)) return true;
    state[i] = 2;
    return false;
}

static int cmp_dag(const void *x, const void *y) {
    return strcmp(((const CnSchedDag *)x)->id, ((const CnSchedDag *)y)->id);
}

/* ---- settings sources ---- */

static int settings_from_teams(Build *b, const char *path, CnErr *err) {
    json_t *root = NULL;
    int rc = cn_json_load_file(path, &root, err);
    if (rc) return rc;
    json_t *sec = json_object_get(json_object_get(root, "default"), "scheduler");
    if (sec) {
        size_t n = json_dumpb(sec, NULL, 0, JSON_ENCODE_ANY);
        char *txt = n ? cn_malloc(n) : NULL;
        if (!txt) rc = cn_err_set(err, CN_ENOMEM, "out of memory reading %s", path);
        else if (json_dumpb(sec, txt, n, JSON_ENCODE_ANY) != n)
            rc = cn_err_set(err, CN_EINTERNAL, "%s: could not re-encode default.scheduler", path);
        else rc = cn_sched_settings_apply(b->a, &b->m->settings, path, "default.scheduler", txt, n, err);
        cn_free(txt);
    }
    json_decref(root);
    return rc;
}

/* ---- build ---- */

int cn_sched_model_build(const char *repo, const CnSchedOptions *opt, CnSchedModel **out, CnErr *err) {
    CnSchedOptions dflt = {CN_SCHED_NAMING_GUIDE, NULL};
    if (!opt) opt = &dflt;
    *out = NULL;
    Files files = {0};
    CnTeams *teams = NULL;
    int rc = 0;
    CnSchedModel *m = cn_calloc(1, sizeof *m);
    if (!m) return cn_err_set(err, CN_ENOMEM, "out of memory");
    cn_arena_init(&m->arena, 0);
    Build b = {.m = m, .a = &m->arena};
    m->naming = opt->naming;
    m->repo = dup(&b, repo);
    cn_sched_settings_defaults(&m->settings);

    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/production", repo);
    if (!cn_fs_is_dir(path)) {
        rc = cn_err_set(err, CN_ENOTFOUND,
                        "%s: no production/ directory (compile configs first: chronon compile --conf group_bys/<team>/<file>.py)",
                        repo);
        goto done;
    }
    snprintf(path, sizeof path, "%s/teams.json", repo);
    if (cn_fs_exists(path)) {
        if ((rc = cn_conf_teams_load(path, &teams, err))) goto done;
        if ((rc = settings_from_teams(&b, path, err))) goto done;
        b.teams = teams;
    }
    const char *sp = opt->settings_path;
    snprintf(path, sizeof path, "%s/scheduler.json", repo);
    if (!sp && cn_fs_exists(path)) sp = path;
    if (sp) {
        char *txt = NULL;
        size_t len = 0;
        if ((rc = cn_fs_read_all(sp, &txt, &len, err))) goto done;
        rc = cn_sched_settings_apply(b.a, &m->settings, sp, "", txt, len, err);
        cn_free(txt);
        if (rc) goto done;
    }
    if (!m->settings.chronon_path) {
        char real[PATH_MAX];
        m->settings.chronon_path = dup(&b, realpath(repo, real) ? real : repo);
    }

    static const char *const kinds[] = {"production/group_bys", "production/staging_queries", "production/joins"};
    for (size_t k = 0; k < CN_ARRAY_LEN(kinds); k++) {
        size_t first = files.n;
        if ((rc = walk(repo, kinds[k], &files, err))) goto done;
        if (files.n > first) /* a repo without this kind: items may still be NULL */
            qsort(files.items + first, files.n - first, sizeof *files.items, cmp_str);
    }
    for (size_t i = 0; i < files.n && !b.oom; i++) load_one(&b, files.items[i]);

    /* Producers first (staging queries and GroupBys before the joins that read them is
     * not needed: every run task exists before any link is made). */
    for (size_t i = 0; i < b.n_entries; i++) {
        Entry *e = &b.entries[i];
        if (e->conf->kind == CN_CONF_GROUP_BY) plan_group_by(&b, e);
        else if (e->conf->kind == CN_CONF_JOIN) plan_join(&b, e);
        else plan_staging_query(&b, e);
    }
    /* each Join with a labelPart: a second entry for its label-join DAG (grow may move
     * the entries: indexes, not pointers) */
    for (size_t i = 0, n0 = b.n_entries; i < n0 && !b.oom; i++) {
        if (b.entries[i].conf->kind != CN_CONF_JOIN || !b.entries[i].conf->join->label_part) continue;
        Entry *l = grow(&b, (void **)&b.entries, &b.n_entries, &b.cap_entries, sizeof *l);
        if (!l) break;
        const Entry *src = &b.entries[i];
        l->conf = src->conf, l->rel = src->rel, l->team = src->team, l->label = true;
        plan_label_join(&b, l);
    }
    for (size_t i = 0; i < b.n_entries; i++) link_entry(&b, &b.entries[i]);

    for (size_t i = 0; i < m->n_issues; i++) {
        CnSchedDag *d = m->issues[i].dag_id ? dag_get(&b, m->issues[i].dag_id) : NULL;
        if (d) d->incomplete = true;
    }
    for (size_t i = 0; i < m->n_dags && !b.oom; i++) {
        CnSchedDag *d = &m->dags[i];
        unsigned char *state = cn_arena_calloc(b.a, d->n_tasks ? d->n_tasks : 1);
        if (!state) {
            b.oom = true;
            break;
        }
        for (size_t t = 0; t < d->n_tasks; t++)
            if (has_cycle(d, t, state)) {
                char msg[512];
                snprintf(msg, sizeof msg,
                         "DAG %s: task %s waits for itself through other tasks (configs of team %s read each other's output tables)",
                         d->id, d->tasks[t].id, d->team);
                issue(&b, d->tasks[t].conf_path ? d->tasks[t].conf_path : "production", d->id, msg);
                d->incomplete = true;
                break;
            }
    }
    if (m->n_dags) qsort(m->dags, m->n_dags, sizeof *m->dags, cmp_dag);
    if (b.oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory building the DAG model of %s", repo);
done:
    files_free(&files);
    cn_conf_teams_free(teams);
    if (rc) cn_sched_model_free(m);
    else *out = m;
    return rc;
}

void cn_sched_model_free(CnSchedModel *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_confs; i++) cn_conf_free(m->confs[i]);
    cn_arena_fini(&m->arena);
    cn_free(m);
}
