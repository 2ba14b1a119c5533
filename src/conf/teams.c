/* teams.c: teams.json, team name -> settings, with "default" as the single-level
 * fallback Chronon uses (spec/config.md section 6). Known keys are typed; every other
 * string-valued key is kept in CnTeam.strings for callers such as the scheduler. */
#include "conf/conf_int.h"

#include <string.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "base/json.h"

static int parse_team(CnConfPx *px, const char *name, json_t *obj, CnTeam *t) {
    int rc;
    t->name = cn_arena_strdup(px->a, name);
    if (!t->name) return cn_conf__oom(px);
    if ((rc = cn_conf__str(px, obj, "namespace", false, &t->output_namespace))) return rc;
    if ((rc = cn_conf__str_map(px, obj, "table_properties", &t->has_table_properties,
                               &t->table_properties)))
        return rc;
    if ((rc = cn_conf__str(px, obj, "description", false, &t->description))) return rc;
    if ((rc = cn_conf__str(px, obj, "user", false, &t->user))) return rc;
    if ((rc = cn_conf__str_map(px, obj, "common_env", NULL, &t->common_env))) return rc;
    if ((rc = cn_conf__str_map_map(px, obj, "production", &t->production))) return rc;
    if ((rc = cn_conf__str_map_map(px, obj, "dev", &t->dev))) return rc;
    size_t n = json_object_size(obj);
    t->strings.keys = n ? cn_arena_alloc(px->a, n * sizeof *t->strings.keys) : NULL;
    t->strings.vals = n ? cn_arena_alloc(px->a, n * sizeof *t->strings.vals) : NULL;
    if (n && (!t->strings.keys || !t->strings.vals)) return cn_conf__oom(px);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (!json_is_string(v)) continue;
        t->strings.keys[t->strings.n] = cn_arena_strdup(px->a, k);
        t->strings.vals[t->strings.n] = cn_arena_strdup(px->a, json_string_value(v));
        if (!t->strings.keys[t->strings.n] || !t->strings.vals[t->strings.n]) return cn_conf__oom(px);
        t->strings.n++;
    }
    return 0;
}

void cn_conf_teams_free(CnTeams *t) {
    if (!t) return;
    cn_arena_fini(&t->arena);
    cn_free(t);
}

int cn_conf_teams_loadb(const char *name, const char *buf, size_t len, CnTeams **out, CnErr *err) {
    json_t *root = NULL;
    CnTeams *t = NULL;
    *out = NULL;
    int rc = cn_json_loadb(name, buf, len, &root, err);
    if (rc) goto done;
    t = cn_calloc(1, sizeof *t);
    if (!t) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", name);
        goto done;
    }
    cn_arena_init(&t->arena, 0);
    CnConfPx px = {.a = &t->arena, .file = name, .err = err};
    if (!json_is_object(root)) {
        rc = cn_conf__fail(&px, CN_ECONFIG, "expected an object of team name -> settings, got %s",
                           cn_json_type_name(root));
        goto done;
    }
    t->path = cn_arena_strdup(&t->arena, name);
    size_t n = json_object_size(root);
    t->teams = n ? cn_arena_calloc(&t->arena, n * sizeof *t->teams) : NULL;
    if (!t->path || (n && !t->teams)) {
        rc = cn_conf__oom(&px);
        goto done;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        size_t old = cn_conf__push_key(&px, k);
        if (!json_is_object(v))
            rc = cn_conf__fail(&px, CN_ECONFIG, "expected an object of team settings, got %s",
                               cn_json_type_name(v));
        else rc = parse_team(&px, k, v, &t->teams[t->n]);
        cn_conf__pop(&px, old);
        if (rc) goto done;
        if (!strcmp(k, "default")) t->deflt = &t->teams[t->n];
        t->n++;
    }
done:
    if (root) json_decref(root);
    if (rc) cn_conf_teams_free(t);
    else *out = t;
    return rc;
}

int cn_conf_teams_load(const char *path, CnTeams **out, CnErr *err) {
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = cn_fs_read_all(path, &buf, &len, err);
    if (!rc) rc = cn_conf_teams_loadb(path, buf, len, out, err);
    cn_free(buf);
    return rc;
}

const CnTeam *cn_conf_teams_find(const CnTeams *t, const char *team) {
    for (size_t i = 0; team && i < t->n; i++)
        if (!strcmp(t->teams[i].name, team)) return &t->teams[i];
    return NULL;
}

int cn_conf_teams_namespace(const CnTeams *t, const char *team, const char **out, CnErr *err) {
    const CnTeam *tm = cn_conf_teams_find(t, team);
    *out = NULL;
    if (!tm)
        return cn_err_set(err, CN_ENOTFOUND, "%s: team \"%s\" is not listed (add it to teams.json)",
                          t->path, team ? team : "(none)");
    if (tm->output_namespace) *out = tm->output_namespace;
    else if (t->deflt && t->deflt->output_namespace) *out = t->deflt->output_namespace;
    if (!*out)
        return cn_err_set(err, CN_ENOTFOUND,
                          "%s: team \"%s\" has no \"namespace\" and \"default\" has none either",
                          t->path, team);
    return 0;
}

const CnStrMap *cn_conf_teams_table_properties(const CnTeams *t, const char *team) {
    const CnTeam *tm = cn_conf_teams_find(t, team);
    if (tm && tm->has_table_properties) return &tm->table_properties;
    if (t->deflt && t->deflt->has_table_properties) return &t->deflt->table_properties;
    return NULL;
}

static const char *mode_env(const CnStrMapMap *ctx, const char *mode, const char *var) {
    for (size_t i = 0; i < ctx->n; i++)
        if (!strcmp(ctx->keys[i], mode)) return cn_conf_map_get(&ctx->vals[i], var);
    return NULL;
}

const char *cn_conf_teams_env(const CnTeams *t, const char *team, const char *context,
                              const char *mode, const char *var) {
    const CnTeam *tm = cn_conf_teams_find(t, team);
    const char *v = NULL;
    /* run.py treats local-streaming as streaming for lookups. */
    if (mode && !strcmp(mode, "local-streaming")) mode = "streaming";
    if (tm && context && !strcmp(context, "dev")) v = mode_env(&tm->dev, mode, var);
    if (!v && tm && context && !strcmp(context, "production")) v = mode_env(&tm->production, mode, var);
    if (!v && tm) v = mode_env(&tm->production, mode, var);
    if (!v && t->deflt) v = mode_env(&t->deflt->production, mode, var);
    if (!v && t->deflt) v = cn_conf_map_get(&t->deflt->common_env, var);
    return v;
}
