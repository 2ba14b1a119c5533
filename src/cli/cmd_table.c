/* cmd_table.c: `chronon table partitions <ns.table>`: the ds partitions of a table's
 * current (or a given) snapshot with their file, record and byte counts, read from the
 * manifests only. With --has it is the partition sensor `chronon airflow export` emits
 * (docs/scheduler.md, the table-command contract): exit 0 when the partition exists,
 * 1 when it does not, 2 on any error, so that 1 always means "not there yet".
 * `chronon table expire-snapshots <ns.table> --older-than <ts|days> [--retain-last N]`:
 * Iceberg's snapshot expiry (cn_ice_expire_snapshots), then the unreachable files go.
 * The warehouse and catalog come from cn_cli_where (flag > environment > defaults).
 * docs/tables.md is the user documentation. */
#include "base/compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/str.h"
#include "cli/cli.h"
#include "table/table.h"

#define VERB "chronon table"

static void usage(FILE *f) {
    fprintf(f,
            "usage: chronon table partitions <ns.table> [--has DS] [--json] [--snapshot ID]\n"
            "                                [--warehouse URI] [--catalog URI] [--repo DIR]\n"
            "       chronon table expire-snapshots <ns.table> --older-than <TS|DAYS>\n"
            "                                [--retain-last N] [--dry-run] [--warehouse URI]\n"
            "                                [--catalog URI] [--repo DIR]\n"
            "\n"
            "expire-snapshots drops the snapshots committed before --older-than, except the\n"
            "current one and the N most recent (--retain-last, default 1), in one commit, then\n"
            "deletes the manifest lists, manifests and data files only those snapshots reached.\n"
            "Time travel to them stops working. --older-than is a number of days before now\n"
            "(7 or 7d), a UTC time (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[Z]) or epoch milliseconds\n"
            "(13 digits). --dry-run lists the snapshots that would expire and changes nothing.\n"
            "\n"
            "Lists the ds partitions of a table's current snapshot with their data file,\n"
            "record and byte counts, from the Iceberg manifests (no data file is read).\n"
            "\n"
            "  --has DS           print nothing; exit 0 when partition DS exists, 1 when it\n"
            "                     does not (one line on stderr). DS is YYYY-MM-DD or ds=YYYY-MM-DD\n"
            "                     (the partition sensor of chronon airflow export)\n"
            "  --json             one JSON object: table, snapshot_id, partitions\n"
            "  --snapshot ID      list that snapshot instead of the current one\n"
            "  --warehouse URI    local directory or s3://bucket/prefix\n"
            "                     (default $CHRONON_WAREHOUSE, else <root>/warehouse)\n"
            "  --catalog URI      sqlite:PATH or postgresql://... (default $CHRONON_CATALOG,\n"
            "                     else sqlite:<warehouse>/catalog.db)\n"
            "  --repo DIR         the root (default: the current directory)\n"
            "\n"
            "Exit status: 0 ok (or the partition exists), 1 the --has partition is absent,\n"
            "2 usage errors, an unknown table (the message lists similar names) and any other\n"
            "error.\n");
}

/* The date --has names: "YYYY-MM-DD" or "ds=YYYY-MM-DD". Other partition columns
 * (hr=..., dt=...) cannot exist: every table is partitioned by ds alone. */
static int has_value(const char *table, const char *has, char out[11], CnErr *err) {
    const char *v = cn_str_starts_with(has, "ds=") ? has + 3 : has;
    const char *eq = strchr(has, '=');
    if (strchr(v, '/') || (eq && v == has))
        return cn_err_set(err, CN_EINVAL,
                          "--has '%s': table %s is partitioned by ds alone (expected YYYY-MM-DD or ds=YYYY-MM-DD)",
                          has, table);
    int64_t d;
    if (strlen(v) != 10 || cn_ds_parse(v, &d))
        return cn_err_set(err, CN_EINVAL, "--has '%s': not a date (expected YYYY-MM-DD or ds=YYYY-MM-DD)", has);
    memcpy(out, v, 11);
    return 0;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

/* One option of a subcommand: a value (val) or a switch (flag). */
typedef struct Opt {
    const char *name;
    const char **val;
    bool *flag;
} Opt;

/* Parses a subcommand's arguments: the options in opts (ended by a zeroed entry) and one
 * table. Returns 0 to go on, or the exit status (0 after --help, 2 on a usage error). */
static int parse_args(int argc, char **argv, const Opt *opts, const char **table, bool *done) {
    *done = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cn_cli_is_help(a)) {
            usage(stdout);
            return 0;
        }
        const Opt *o = opts;
        while (o->name && strcmp(o->name, a)) o++;
        if (o->name && o->val) {
            if (i + 1 >= argc) {
                fprintf(stderr, VERB ": %s needs a value\n", a);
                return 2;
            }
            *o->val = argv[++i];
        } else if (o->name) {
            *o->flag = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, VERB ": unknown option %s (see chronon table %s --help)\n", a, argv[0]);
            return 2;
        } else if (!*table) {
            *table = a;
        } else {
            fprintf(stderr, VERB ": more than one table given (%s, %s)\n", *table, a);
            return 2;
        }
    }
    *done = false;
    return 0;
}

static int cmd_partitions(int argc, char **argv) {
    const char *table = NULL, *has = NULL, *snap_arg = NULL, *wh = NULL, *cat = NULL, *repo = NULL;
    bool json = false, done;
    const Opt opts[] = {{"--has", &has, NULL},      {"--snapshot", &snap_arg, NULL}, {"--warehouse", &wh, NULL},
                        {"--catalog", &cat, NULL},  {"--repo", &repo, NULL},         {"--json", NULL, &json},
                        {NULL, NULL, NULL}};
    int rc = parse_args(argc, argv, opts, &table, &done);
    if (done) return rc;
    if (!table) {
        fprintf(stderr, VERB ": partitions needs a table (usage: chronon table partitions <ns.table>)\n");
        return 2;
    }
    int64_t snap = 0;
    if (snap_arg) {
        char *end = NULL;
        long long v = strtoll(snap_arg, &end, 10);
        if (!*snap_arg || *end || v <= 0) {
            fprintf(stderr, VERB ": --snapshot '%s': expected a positive snapshot id\n", snap_arg);
            return 2;
        }
        snap = v;
    }
    CnErr err = CN_ERR_INIT;
    char want[11] = "", ns[129], name[129];
    CnCliWhere w;
    CnIceCatalog *c = NULL;
    CnIceTable *t = NULL;
    CnIcePartition *ps = NULL;
    uint32_t n = 0;
    int code = 2;
    if ((has && has_value(table, has, want, &err) < 0) || cn_ice_name_parse(table, ns, name, &err) < 0 ||
        cn_cli_where(repo, wh, cat, NULL, NULL, &w, &err) < 0 || cn_ice_catalog_open(w.warehouse, w.catalog, &c, &err) < 0 ||
        cn_ice_table_load(c, ns, name, &t, &err) < 0 ||
        cn_ice_table_partition_list(c, t, snap, NULL, NULL, &ps, &n, &err) < 0) {
        fprintf(stderr, VERB ": %s\n", cn_err_msg(&err));
        goto done;
    }
    code = 0;
    if (has) {
        bool found = false;
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(ps[i].ds, want);
        if (!found) {
            fprintf(stderr, VERB ": %s has no partition ds=%s (%s%s)\n", cn_ice_table_name(t), want,
                    n ? "latest: " : "the table has no partitions", n ? ps[n - 1].ds : "");
            code = 1;
        }
        goto done;
    }
    if (json) {
        printf("{\"table\":");
        json_str(stdout, cn_ice_table_name(t));
        int64_t sid = snap ? snap : cn_ice_table_current_snapshot(t);
        if (sid >= 0) printf(",\"snapshot_id\":%" PRId64, sid);
        else printf(",\"snapshot_id\":null");
        printf(",\"partitions\":[");
        for (uint32_t i = 0; i < n; i++) {
            printf("%s{\"ds\":", i ? "," : "");
            json_str(stdout, ps[i].ds);
            printf(",\"files\":%" PRIu32 ",\"records\":%" PRId64 ",\"bytes\":%" PRId64 "}", ps[i].files,
                   ps[i].records, ps[i].bytes);
        }
        printf("]}\n");
    } else {
        printf("%-10s  %6s  %12s  %14s\n", "ds", "files", "records", "bytes");
        for (uint32_t i = 0; i < n; i++)
            printf("%-10s  %6" PRIu32 "  %12" PRId64 "  %14" PRId64 "\n", ps[i].ds, ps[i].files, ps[i].records,
                   ps[i].bytes);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, VERB ": cannot write the listing to stdout\n");
        code = 2;
    }
done:
    cn_free(ps);
    cn_ice_table_free(t);
    cn_ice_catalog_close(c);
    return code;
}

/* --older-than: days ("7", "7d"), a UTC date or time, or epoch ms -> epoch ms. */
static int older_than(const char *v, int64_t *out) {
    char *end = NULL;
    size_t n = strlen(v);
    if (n >= 1 && n <= 6 && v[0] >= '0' && v[0] <= '9') {
        long long d = strtoll(v, &end, 10);
        if ((*end == 0 || (end[0] == 'd' && end[1] == 0)) && d >= 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            *out = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - (int64_t)d * 86400000;
            return 0;
        }
        return -1;
    }
    if (n == 13 && strspn(v, "0123456789") == 13) {
        *out = strtoll(v, NULL, 10);
        return 0;
    }
    int64_t days;
    char ds[11];
    if (n < 10) return -1;
    memcpy(ds, v, 10);
    ds[10] = 0;
    if (cn_ds_parse(ds, &days) < 0) return -1;
    int hh = 0, mi = 0, ss = 0;
    if (n > 10) {
        int used = 0;
        if ((v[10] != 'T' && v[10] != ' ') || sscanf(v + 11, "%2d:%2d:%2d%n", &hh, &mi, &ss, &used) != 3) return -1;
        const char *rest = v + 11 + used;
        if (!(*rest == 0 || (rest[0] == 'Z' && rest[1] == 0)) || hh > 23 || mi > 59 || ss > 60) return -1;
    }
    *out = days * 86400000 + (int64_t)hh * 3600000 + mi * 60000 + ss * 1000;
    return 0;
}

static int print_removed(void *ud, const char *uri, uint64_t size) {
    (void)ud;
    (void)size;
    printf("removed %s\n", uri);
    return 0;
}

static int cmd_expire(int argc, char **argv) {
    const char *table = NULL, *older = NULL, *retain = NULL, *wh = NULL, *cat = NULL, *repo = NULL;
    bool dry = false, done;
    const Opt opts[] = {{"--older-than", &older, NULL}, {"--retain-last", &retain, NULL}, {"--warehouse", &wh, NULL},
                        {"--catalog", &cat, NULL},      {"--repo", &repo, NULL},          {"--dry-run", NULL, &dry},
                        {NULL, NULL, NULL}};
    int rc = parse_args(argc, argv, opts, &table, &done);
    if (done) return rc;
    if (!table || !older) {
        fprintf(stderr, VERB ": expire-snapshots needs a table and --older-than (usage: chronon table "
                        "expire-snapshots <ns.table> --older-than <TS|DAYS> [--retain-last N])\n");
        return 2;
    }
    int64_t cutoff = 0;
    if (older_than(older, &cutoff) < 0) {
        fprintf(stderr,
                VERB ": --older-than '%s': expected days (7 or 7d), a UTC time (YYYY-MM-DD or "
                     "YYYY-MM-DDTHH:MM:SS[Z]) or 13-digit epoch milliseconds\n",
                older);
        return 2;
    }
    long long keep = 1;
    if (retain) {
        char *end = NULL;
        keep = strtoll(retain, &end, 10);
        if (!*retain || *end || keep < 1 || keep > 1000000) {
            fprintf(stderr, VERB ": --retain-last '%s': expected a whole number from 1\n", retain);
            return 2;
        }
    }
    CnErr err = CN_ERR_INIT;
    char ns[129], name[129];
    CnCliWhere w;
    CnIceCatalog *c = NULL;
    CnIceTable *t = NULL;
    int code = 2;
    if (cn_ice_name_parse(table, ns, name, &err) < 0 || cn_cli_where(repo, wh, cat, NULL, NULL, &w, &err) < 0 ||
        cn_ice_catalog_open(w.warehouse, w.catalog, &c, &err) < 0 || cn_ice_table_load(c, ns, name, &t, &err) < 0) {
        fprintf(stderr, VERB ": %s\n", cn_err_msg(&err));
        goto done;
    }
    if (dry) {
        /* the same choice the expiry makes, without committing */
        uint32_t n = cn_ice_table_n_snapshots(t), listed = 0;
        int64_t cur = cn_ice_table_current_snapshot(t);
        for (uint32_t i = 0; i < n; i++) {
            CnIceSnapshot sn;
            cn_ice_table_snapshot(t, i, &sn);
            uint32_t newer = 0;
            for (uint32_t k = 0; k < n; k++) {
                CnIceSnapshot o;
                cn_ice_table_snapshot(t, k, &o);
                newer += o.timestamp_ms > sn.timestamp_ms || (o.timestamp_ms == sn.timestamp_ms && k > i);
            }
            if (sn.id != cur && sn.timestamp_ms < cutoff && newer >= (uint32_t)keep) {
                printf("would expire snapshot %lld (%s, %lld ms)\n", (long long)sn.id, sn.operation,
                       (long long)sn.timestamp_ms);
                listed++;
            }
        }
        printf("%s: %u of %u snapshots would expire\n", cn_ice_table_name(t), listed, n);
        code = 0;
        goto done;
    }
    CnIceExpireStats st;
    if (cn_ice_expire_snapshots(c, ns, name, cutoff, (uint32_t)keep, print_removed, NULL, &st, &err) < 0) {
        fprintf(stderr, VERB ": %s\n", cn_err_msg(&err));
        goto done;
    }
    printf("%s: expired %u snapshots (%u kept); removed %llu manifest lists, %llu manifests, %llu data files\n",
           cn_ice_table_name(t), st.snapshots, st.snapshots_kept, (unsigned long long)st.manifest_lists,
           (unsigned long long)st.manifests, (unsigned long long)st.data_files);
    code = fflush(stdout) == 0 ? 0 : 2;
done:
    cn_ice_table_free(t);
    cn_ice_catalog_close(c);
    return code;
}

int cn_cli_table(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, VERB ": missing subcommand (expected: partitions, expire-snapshots; see chronon table --help)\n");
        return 2;
    }
    if (cn_cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "partitions")) return cmd_partitions(argc - 1, argv + 1);
    if (!strcmp(argv[1], "expire-snapshots")) return cmd_expire(argc - 1, argv + 1);
    fprintf(stderr, VERB ": unknown subcommand '%s' (expected: partitions, expire-snapshots)\n", argv[1]);
    return 2;
}
