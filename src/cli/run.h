/* run.h: `chronon run` (and Chronon's run.py, which hands its flags to it): parsed
 * arguments and the table of modes. A mode handler gets the parsed arguments and
 * returns 0 or a negative code with err set; the CLI prints err and exits 1.
 * Flags follow Chronon's run.py (spec/config.md section 7): unknown flags are kept in
 * order in `extra` for the mode (e.g. --name, -k for fetch). */
#ifndef CN_CLI_RUN_H
#define CN_CLI_RUN_H

#include "base/compat.h"
#include "base/err.h"

typedef struct CnRunArgs {
    const char *mode;       /* backfill (default), upload, fetch, metadata-upload, ... */
    const char *conf;       /* as given: production/<conf_type>/<team>/<file> */
    const char *conf_path;  /* resolved against repo (NULL without --conf) */
    const char *conf_type;  /* group_bys | joins | staging_queries */
    const char *team;       /* second-last path segment of --conf */
    const char *repo;       /* chronon root: --repo, CHRONON_REPO_PATH, or "." */
    const char *env;        /* --env, default "dev" */
    char ds[11];            /* end partition: --end-ds, else --ds, else today (UTC) */
    char start_ds[11];      /* --start-ds, or "" */
    bool has_start, has_end;
    int parallelism;        /* --parallelism N (0 = not given) */
    int step_days;          /* --step-days N (0 = not given) */
    uint64_t max_memory;    /* --max-memory SIZE in bytes (0 = not given) */
    int n_extra;            /* flags not known to run, passed to the mode */
    char **extra;
} CnRunArgs;

typedef int (*CnRunHandler)(const CnRunArgs *a, CnErr *err);

typedef struct CnRunMode {
    const char *mode;
    const char *conf_types;   /* comma-separated conf types the mode takes */
    const char *summary;
    CnRunHandler handler;     /* NULL: not in this build yet */
} CnRunMode;

/* Parses argv (argv[0] is "run"). 0, or CN_EINVAL with err naming the flag and value. */
int cn_run_parse(int argc, char **argv, CnRunArgs *out, CnErr *err);
/* Value of an extra flag (`--name X`, `--name=X`, or a short alias), or NULL.
 * BORROWED from argv. */
const char *cn_run_extra(const CnRunArgs *a, const char *flag, const char *alias);
/* Whether the bare flag (`--force`) is among the extra flags. */
bool cn_run_has_flag(const CnRunArgs *a, const char *flag);

/* Mode handlers per conf type (backfill: cmd_backfill_gb.c for group_bys). */
int cn_cli_backfill_group_by(const CnRunArgs *a, CnErr *err);
int cn_cli_backfill_join(const CnRunArgs *a, CnErr *err); /* cmd_backfill_join.c */
int cn_cli_label_join(const CnRunArgs *a, CnErr *err);    /* cmd_label_join.c */
const struct CnEngSplit *cn_run_join_split(const CnRunArgs *a); /* cmd_run.c: join split mode or NULL */
int cn_run_staging_query_backfill(const CnRunArgs *a, CnErr *err); /* cmd_sql.c */
/* Online modes (cmd_online.c). */
int cn_run_upload(const CnRunArgs *a, CnErr *err), cn_run_metadata_upload(const CnRunArgs *a, CnErr *err), cn_run_fetch(const CnRunArgs *a, CnErr *err);

#endif /* CN_CLI_RUN_H */
