/* cmd_run.c: `chronon run`, the job runner behind Chronon's run.py.
 * Parses run.py's flags, resolves the conf under the repo, checks dates, and hands the
 * job to the mode's handler. Spark/jar flags of run.py are accepted and ignored so that
 * existing commands and scripts keep working. */
#include "base/compat.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/fs.h"
#include "cli/cli.h"
#include "cli/run.h"
#include "dist/dist.h"
#include "engine/jsplit.h"

/* backfill dispatches per conf type, one line each. */
static int run_backfill(const CnRunArgs *a, CnErr *err) {
    if (!strcmp(a->conf_type, "group_bys")) return cn_cli_backfill_group_by(a, err);
    if (!strcmp(a->conf_type, "joins")) return cn_cli_backfill_join(a, err);
    if (!strcmp(a->conf_type, "staging_queries")) return cn_run_staging_query_backfill(a, err);
    return cn_err_set(err, CN_EUNSUPPORTED, "mode 'backfill' on %s is not available in this build of chronon-c yet",
                      a->conf_type);
}

/* Join split mode (compute.md section 6 "Split mode", docs/joins.md "Modes"):
 * backfill-left, backfill-final, and backfill with --selected-join-parts a,b
 * [--use-cached-left]. NULL: not split. BORROWED (static; argv holds the names). */
const struct CnEngSplit *cn_run_join_split(const CnRunArgs *a) {
    static CnEngSplit sp;
    memset(&sp, 0, sizeof sp);
    sp.parts = cn_run_extra(a, "--selected-join-parts", NULL);
    for (int i = 0; i < a->n_extra; i++) sp.use_cached_left |= !strcmp(a->extra[i], "--use-cached-left");
    if (!strcmp(a->mode, "backfill-left")) sp.mode = CN_ENG_SPLIT_LEFT;
    else if (!strcmp(a->mode, "backfill-final")) sp.mode = CN_ENG_SPLIT_FINAL;
    else if (sp.parts) sp.mode = CN_ENG_SPLIT_PARTS;
    return sp.mode ? &sp : NULL;
}

/* The modes of Chronon's run.py. Handlers are filled in as the engine grows. */
static const CnRunMode modes[] = {
    {"backfill", "group_bys,joins,staging_queries", "compute historical partitions into the output table", run_backfill},
    {"backfill-left", "joins", "write the left rows and bootstrap columns to <join table>_bootstrap", cn_cli_backfill_join},
    {"backfill-final", "joins", "join _bootstrap with the part tables into the output", cn_cli_backfill_join},
    {"upload", "group_bys", "build the online batch payload of a day", cn_run_upload},
    {"metadata-upload", "group_bys,joins", "store compiled configs in the online metadata dataset", cn_run_metadata_upload},
    {"fetch", "group_bys,joins", "fetch online features for keys and print them as JSON", cn_run_fetch},
    {"streaming", "group_bys", "long-running update of the streaming dataset", NULL},
    {"local-streaming", "group_bys", "streaming, local variant", NULL},
    {"analyze", "group_bys,joins", "schema and validation report", NULL},
    {"metadata-export", "group_bys,joins,staging_queries", "export configs as metadata", NULL},
    {"consistency-metrics-compute", "joins", "compare logged online values to backfill", NULL},
    {"compare", "joins", "compare a join with a query", NULL},
    {"stats-summary", "joins", "daily statistics of a join", NULL},
    {"log-summary", "joins", "daily statistics of logged values", NULL},
    {"log-flattener", "joins", "flatten request logs into the _logged table", NULL},
    {"label-join", "joins", "labels of label day --ds into <join table>_labels, views _labeled(_latest)", cn_cli_label_join},
    {"model-transform-batch", "joins", "apply model transforms in batch", NULL},
    {"info", "group_bys,joins,staging_queries", "render information about a config", NULL},
};

/* run.py flags that take a value and that we accept but have no use for (Spark, jars). */
static const char *const ignored_valued[] = {
    "--app-name", "--online-jar", "--online-class", "--version", "--spark-version",
    "--spark-submit-path", "--spark-streaming-submit-path", "--online-jar-fetch",
    "--online-args", "--chronon-jar", "--release-tag", "--list-apps", "--render-info",
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: chronon run --mode MODE --conf production/<conf_type>/<team>/<name>\n"
            "                   [--ds YYYY-MM-DD | --start-ds YYYY-MM-DD --end-ds YYYY-MM-DD]\n"
            "                   [--parallelism N] [--repo DIR] [--env dev|production] [mode options]\n"
            "\n"
            "Runs one Chronon job. Also reached through Chronon's run.py, with the same flags:\n"
            "  python3 api/py/ai/chronon/repo/run.py --mode backfill --conf production/group_bys/team/x.v1 --ds 2023-12-01\n"
            "\n"
            "options:\n"
            "  --mode MODE        job to run (default backfill), see below\n"
            "  --conf PATH        compiled config, relative to --repo; required except for fetch\n"
            "  --repo DIR         chronon root (default: $CHRONON_REPO_PATH, else the current directory)\n"
            "  --ds D             end partition (default: today, UTC)\n"
            "  --start-ds D       first partition of a range (with --end-ds)\n"
            "  --end-ds D         last partition of a range; overrides --ds\n"
            "  --parallelism N    split the --start-ds..--end-ds range into N contiguous chunks\n"
            "  --env ENV          environment whose teams.json settings apply (default dev)\n"
            "  --conf-type T      group_bys|joins|staging_queries when there is no --conf (default group_bys)\n"
            "  --sub-help         print this help and exit\n"
            "Join split mode (same output as backfill, in three steps; see docs/joins.md):\n"
            "  --mode backfill-left                       left rows + bootstrap columns -> <join table>_bootstrap\n"
            "  --mode backfill --selected-join-parts P,Q  only those parts (full prefixes) -> <join table>_<P>\n"
            "      [--use-cached-left]                    read the left rows from _bootstrap\n"
            "  --mode backfill-final                      _bootstrap + every part table -> the output's missing days\n"
            "Backfill and label-join options:\n"
            "  --step-days N      days computed and committed per step (label-join: left days, default 30)\n"
            "  --force            recompute the output partitions that exist (Join backfill)\n"
            "  --run-first-hole   only the first run of missing days (backfill)\n"
            "  --max-memory SIZE  memory bound of a backfill (bytes or K, M, G)\n"
            "  --verbose          rows scanned, tiles read; --quiet hides the progress bar\n"
            "  --no-tiles         GroupBy backfill: neither read nor write the daily tile store\n"
            "Environment: CN_THREADS=N threads for the backfill fast paths and the batch upload\n"
            "(default: the online CPUs, shared between the MPI ranks of one machine).\n"
            "Spark and jar flags of Chronon's run.py (--spark-submit-path, --online-jar, --version, ...)\n"
            "are accepted and ignored. Fetch options: --name, -k/--key-json, -f/--key-json-file,\n"
            "--type, --at-millis/--ts (--conf may name the config instead of --name). Also\n"
            "--warehouse, --catalog. Any other option is an error.\n"
            "\n"
            "modes:\n");
    for (size_t i = 0; i < CN_ARRAY_LEN(modes); i++)
        fprintf(f, "  %-28s %s [%s]%s\n", modes[i].mode, modes[i].summary, modes[i].conf_types,
                modes[i].handler ? "" : " (not in this build yet)");
}

static const CnRunMode *find_mode(const char *name) {
    for (size_t i = 0; i < CN_ARRAY_LEN(modes); i++)
        if (!strcmp(modes[i].mode, name)) return &modes[i];
    return NULL;
}

static bool is_ignored_valued(const char *flag) {
    for (size_t i = 0; i < CN_ARRAY_LEN(ignored_valued); i++)
        if (!strcmp(ignored_valued[i], flag)) return true;
    return false;
}

/* Splits "--flag=value"; returns the flag name length. */
static size_t flag_name_len(const char *arg) {
    const char *eq = strchr(arg, '=');
    return eq ? (size_t)(eq - arg) : strlen(arg);
}

/* The modes' own options (read with cn_run_extra or as plain flags by the handlers): any
 * other option is a mistake (a typo such as --start_ds would otherwise be dropped and the
 * job run over other days), refused as Chronon's driver refuses options it does not know.
 * 'v': takes a value (next argument, or --flag=value). */
static const struct {
    const char *flag;
    char kind;
} mode_flags[] = {
    {"--name", 'v'}, {"--key-json", 'v'}, {"-k", 'v'}, {"--key-json-file", 'v'}, {"-f", 'v'},
    {"--type", 'v'}, {"--at-millis", 'v'}, {"--ts", 'v'}, {"--warehouse", 'v'}, {"--catalog", 'v'},
    {"--max-memory", 'v'}, {"--step-days", 'v'}, {"--selected-join-parts", 'v'},
    {"--force", 'b'}, {"--no-tiles", 'b'}, {"--run-first-hole", 'b'}, {"--use-cached-left", 'b'},
    {"--verbose", 'b'}, {"-v", 'b'}, {"--quiet", 'b'}, {"-q", 'b'},
};

/* Every extra argument is a known mode option or the value of one. */
static int check_extras(const CnRunArgs *a, CnErr *err) {
    for (int i = 0; i < a->n_extra; i++) {
        const char *arg = a->extra[i];
        size_t n = flag_name_len(arg);
        char kind = 0;
        for (size_t k = 0; k < CN_ARRAY_LEN(mode_flags) && !kind; k++)
            if (strlen(mode_flags[k].flag) == n && !strncmp(arg, mode_flags[k].flag, n)) kind = mode_flags[k].kind;
        if (!kind) {
            if (arg[0] == '-')
                return cn_err_set(err, CN_EINVAL, "unknown option '%.*s' (chronon run --help lists the options)",
                                  (int)n, arg);
            return cn_err_set(err, CN_EINVAL, "unexpected argument '%s' (options are --flag value; chronon run --help)",
                              arg);
        }
        if (kind == 'b' && arg[n] == '=')
            return cn_err_set(err, CN_EINVAL, "%.*s takes no value (got '%s')", (int)n, arg, arg + n + 1);
        if (kind == 'v' && arg[n] != '=') {
            if (i + 1 >= a->n_extra) return cn_err_set(err, CN_EINVAL, "%s needs a value", arg);
            i++;
        }
    }
    return 0;
}

static int parse_ds(const char *flag, const char *v, char out[11], CnErr *err) {
    int64_t d;
    if (cn_ds_parse(v, &d))
        return cn_err_set(err, CN_EINVAL, "%s: invalid date '%s' (expected YYYY-MM-DD)", flag, v);
    cn_ds_format(d, out);
    return 0;
}

/* --step-days N (1..100000) into *days; 0 when the flag is absent. */
static int parse_step_days(const CnRunArgs *a, int *days, CnErr *err) {
    *days = 0;
    const char *v = cn_run_extra(a, "--step-days", NULL);
    if (!v) return 0;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 1 || n > 100000)
        return cn_err_set(err, CN_EINVAL, "--step-days: invalid value '%s' (expected a positive number of days)", v);
    *days = (int)n;
    return 0;
}

/* "512M", "2G", "1048576": bytes, with K, M or G (powers of 1024), an optional B. */
static int parse_size(const char *s, uint64_t *out) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || v > 1e18) return -1;
    double mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024.0, end++;
    else if (*end == 'm' || *end == 'M') mul = 1024.0 * 1024, end++;
    else if (*end == 'g' || *end == 'G') mul = 1024.0 * 1024 * 1024, end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end) return -1;
    *out = (uint64_t)(v * mul);
    return 0;
}

/* --max-memory SIZE into *bytes; 0 when the flag is absent. */
static int parse_max_memory(const CnRunArgs *a, uint64_t *bytes, CnErr *err) {
    *bytes = 0;
    const char *v = cn_run_extra(a, "--max-memory", NULL);
    if (v && parse_size(v, bytes))
        return cn_err_set(err, CN_EINVAL, "--max-memory: invalid size '%s' (expected bytes or a number with K, M or G)", v);
    return 0;
}

int cn_run_parse(int argc, char **argv, CnRunArgs *a, CnErr *err) {
    memset(a, 0, sizeof *a);
    a->mode = "backfill";
    a->env = "dev";
    const char *ds = NULL, *end_ds = NULL, *start_ds = NULL, *par = NULL, *conf_type = NULL;
    a->extra = cn_calloc((size_t)argc + 1, sizeof *a->extra);
    if (!a->extra) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        size_t n = flag_name_len(arg);
        const char *inline_val = arg[n] == '=' ? arg + n + 1 : NULL;
        static const char *const known[] = {"--conf", "--env", "--mode", "--ds", "--start-ds",
                                            "--end-ds", "--parallelism", "--repo", "--conf-type"};
        const char **slot = NULL;
        const char *name = NULL;
        for (size_t k = 0; k < CN_ARRAY_LEN(known); k++)
            if (strlen(known[k]) == n && !strncmp(arg, known[k], n)) name = known[k];
        if (name) {
            if (!strcmp(name, "--conf")) slot = &a->conf;
            else if (!strcmp(name, "--env")) slot = &a->env;
            else if (!strcmp(name, "--mode")) slot = &a->mode;
            else if (!strcmp(name, "--ds")) slot = &ds;
            else if (!strcmp(name, "--start-ds")) slot = &start_ds;
            else if (!strcmp(name, "--end-ds")) slot = &end_ds;
            else if (!strcmp(name, "--parallelism")) slot = &par;
            else if (!strcmp(name, "--repo")) slot = &a->repo;
            else slot = &conf_type;
            if (inline_val) {
                *slot = inline_val;
            } else if (i + 1 < argc) {
                *slot = argv[++i];
            } else {
                return cn_err_set(err, CN_EINVAL, "%s needs a value", name);
            }
            continue;
        }
        char flag[64];
        snprintf(flag, sizeof flag, "%.*s", (int)(n < 63 ? n : 63), arg);
        if (is_ignored_valued(flag)) {
            if (!inline_val) i++;
            continue;
        }
        a->extra[a->n_extra++] = argv[i];
    }

    if (!find_mode(a->mode)) return cn_err_set(err, CN_EINVAL, "--mode: unknown mode '%s'", a->mode);
    if (check_extras(a, err)) return err->code;
    if (!a->repo) {
        const char *env = getenv("CHRONON_REPO_PATH");
        a->repo = env && *env ? env : ".";
    }
    if (ds && parse_ds("--ds", ds, a->ds, err)) return err->code;
    if (end_ds) {
        if (parse_ds("--end-ds", end_ds, a->ds, err)) return err->code;
        a->has_end = true;
    }
    if (!ds && !end_ds) {
        time_t now = time(NULL);
        cn_ms_to_ds((int64_t)now * 1000, a->ds);
    }
    if (start_ds) {
        if (parse_ds("--start-ds", start_ds, a->start_ds, err)) return err->code;
        a->has_start = true;
        if (strcmp(a->start_ds, a->ds) > 0)
            return cn_err_set(err, CN_EINVAL, "--start-ds %s is after the end partition %s",
                              a->start_ds, a->ds);
    }
    if (par) {
        char *end = NULL;
        long p = strtol(par, &end, 10);
        if (!*par || *end || p < 1 || p > 100000)
            return cn_err_set(err, CN_EINVAL, "--parallelism: invalid value '%s' (expected a positive integer)", par);
        /* as Chronon's run.py: only a split (N > 1) needs the range */
        if (p > 1 && (!a->has_start || !a->has_end))
            return cn_err_set(err, CN_EINVAL, "--parallelism %ld needs --start-ds and --end-ds", p);
        int64_t s = 0, e = 0;
        if (p > 1) cn_ds_parse(a->start_ds, &s), cn_ds_parse(a->ds, &e);
        if (p > 1 && p > e - s + 1)
            return cn_err_set(err, CN_EINVAL,
                              "--parallelism %ld is larger than the %lld days from %s to %s", p,
                              (long long)(e - s + 1), a->start_ds, a->ds);
        a->parallelism = (int)p;
    }
    /* the modes' own values, checked before anything is read: a usage error (exit 2) */
    if (parse_step_days(a, &a->step_days, err) || parse_max_memory(a, &a->max_memory, err)) return err->code;

    if (a->conf) {
        size_t cl = strlen(a->conf);
        if (cl > 3 && !strcmp(a->conf + cl - 3, ".py"))
            return cn_err_set(err, CN_EINVAL,
                              "--conf %s: a Python config; run takes its compiled file (compile.py --conf %s, "
                              "then --conf production/<group_bys|joins|staging_queries>/<team>/<name>)",
                              a->conf, a->conf);
        char where[PATH_MAX];
        if (a->conf[0] == '/') snprintf(where, sizeof where, "%s", a->conf);
        else snprintf(where, sizeof where, "%s/%s", a->repo, a->conf);
        bool dir = cn_fs_is_dir(where);
        if (dir && strcmp(a->mode, "metadata-upload"))
            return cn_err_set(err, CN_EINVAL,
                              "--conf %s: %s is a directory; expected one compiled config file "
                              "production/<group_bys|joins|staging_queries>/<team>/<name> (only metadata-upload "
                              "takes a folder)",
                              a->conf, where);
        /* production/<conf_type>/<team>/<name>: the 3rd- and 2nd-last segments */
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", a->conf);
        char *segs[64];
        int ns = 0;
        for (char *tok = strtok(tmp, "/"); tok && ns < 64; tok = strtok(NULL, "/")) segs[ns++] = tok;
        if (dir) {
            /* metadata-upload of a folder (Chronon's uploader walks it): its kind folder, else
             * any (the walk takes GroupBys and Joins, whatever the folder) */
            int k = ns - 1;
            while (k >= 0 && strcmp(segs[k], "group_bys") && strcmp(segs[k], "joins") &&
                   strcmp(segs[k], "staging_queries"))
                k--;
            a->conf_type = cn_strdup(k >= 0 ? segs[k] : "group_bys");
            a->team = cn_strdup(k >= 0 && k + 1 < ns ? segs[k + 1] : "");
            for (size_t wl = strlen(where); wl > 1 && where[wl - 1] == '/';) where[--wl] = 0;
            a->conf_path = cn_strdup(where);
            if (!a->conf_type || !a->team || !a->conf_path) return cn_err_set(err, CN_ENOMEM, "out of memory");
            return 0;
        }
        if (ns < 3)
            return cn_err_set(err, CN_EINVAL,
                              "--conf %s: expected a path like production/<group_bys|joins|staging_queries>/<team>/<name>",
                              a->conf);
        a->conf_type = cn_strdup(segs[ns - 3]);
        a->team = cn_strdup(segs[ns - 2]);
        a->conf_path = cn_strdup(where);
        if (!a->conf_type || !a->team || !a->conf_path) return cn_err_set(err, CN_ENOMEM, "out of memory");
        if (!cn_fs_exists(where))
            return cn_err_set(err, CN_ENOTFOUND, "--conf %s: no such file %s (compile the config first, or check --repo)",
                              a->conf, where);
    } else {
        a->conf_type = conf_type ? conf_type : "group_bys";
    }
    if (strcmp(a->conf_type, "group_bys") && strcmp(a->conf_type, "joins") &&
        strcmp(a->conf_type, "staging_queries"))
        return cn_err_set(err, CN_EINVAL,
                          "conf type '%s' (from %s) is not one of group_bys, joins, staging_queries",
                          a->conf_type, a->conf ? "--conf" : "--conf-type");
    return 0;
}

const char *cn_run_extra(const CnRunArgs *a, const char *flag, const char *alias) {
    for (int i = 0; i < a->n_extra; i++) {
        const char *arg = a->extra[i];
        for (int k = 0; k < 2; k++) {
            const char *f = k ? alias : flag;
            if (!f) continue;
            size_t n = strlen(f);
            if (strncmp(arg, f, n)) continue;
            if (arg[n] == '=') return arg + n + 1;
            if (arg[n] == 0 && i + 1 < a->n_extra) return a->extra[i + 1];
        }
    }
    return NULL;
}

bool cn_run_has_flag(const CnRunArgs *a, const char *flag) {
    for (int i = 0; i < a->n_extra; i++)
        if (!strcmp(a->extra[i], flag)) return true;
    return false;
}

static void free_args(CnRunArgs *a) {
    cn_free(a->extra);
    if (a->conf) {
        cn_free((char *)a->conf_type);
        cn_free((char *)a->team);
        cn_free((char *)a->conf_path);
    }
}

int cn_cli_run(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (cn_cli_is_help(argv[i]) || !strcmp(argv[i], "--sub-help")) {
            usage(stdout);
            return 0;
        }
    CnErr err = CN_ERR_INIT;
    CnRunArgs a;
    int rc = cn_run_parse(argc, argv, &a, &err);
    if (rc) {
        free_args(&a);
        fprintf(stderr, "chronon run: %s\n", cn_err_msg(&err));
        return rc == CN_EINVAL ? 2 : 1;
    }
    const CnRunMode *m = find_mode(a.mode);
    int code = 0;
    if (!strstr(m->conf_types, a.conf_type)) {
        fprintf(stderr, "chronon run: mode '%s' does not apply to %s (it takes %s)\n", a.mode,
                a.conf_type, m->conf_types);
        code = 2;
    } else if (!a.conf && strcmp(a.mode, "fetch") != 0) {
        fprintf(stderr, "chronon run: --conf is required for mode '%s'\n", a.mode);
        code = 2;
    } else if (cn_dist_launched() &&
               (strcmp(a.mode, "backfill") || (strcmp(a.conf_type, "group_bys") && strcmp(a.conf_type, "joins")))) {
        /* distributed hook: N ranks must not each run a whole job */
        fprintf(stderr, "chronon run: only GroupBy and Join backfills run as several MPI ranks; run mode '%s' on %s without mpirun\n",
                a.mode, a.conf_type);
        code = 2;
    } else if (!m->handler) {
        fprintf(stderr, "chronon run: mode '%s' is not available in this build of chronon-c yet\n", a.mode);
        code = 1;
    } else if ((rc = m->handler(&a, &err)) != 0) {
        fprintf(stderr, "chronon run: %s\n", cn_err_msg(&err));
        code = 1;
    }
    free_args(&a);
    return code;
}
