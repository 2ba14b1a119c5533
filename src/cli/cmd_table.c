/* cmd_table.c: `chronon table partitions <ns.table>`: the ds partitions of a table's
 * current (or a given) snapshot with their file, record and byte counts, read from the
 * manifests only. With --has it is the partition sensor `chronon airflow export` emits
 * (docs/scheduler.md, the table-command contract): exit 0 when the partition exists,
 * 1 when it does not, 2 on any error, so that 1 always means "not there yet".
 * The warehouse and catalog come from cn_cli_where (flag > environment > defaults).
 * docs/tables.md is the user documentation. */
#include "base/compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int cmd_partitions(int argc, char **argv) {
    const char *table = NULL, *has = NULL, *snap_arg = NULL, *wh = NULL, *cat = NULL, *repo = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cn_cli_is_help(a)) {
            usage(stdout);
            return 0;
        }
        const char **slot = !strcmp(a, "--has")         ? &has
                            : !strcmp(a, "--snapshot")  ? &snap_arg
                            : !strcmp(a, "--warehouse") ? &wh
                            : !strcmp(a, "--catalog")   ? &cat
                            : !strcmp(a, "--repo")      ? &repo
                                                        : NULL;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, VERB ": %s needs a value\n", a);
                return 2;
            }
            *slot = argv[++i];
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, VERB ": unknown option %s (see chronon table partitions --help)\n", a);
            return 2;
        } else if (!table) {
            table = a;
        } else {
            fprintf(stderr, VERB ": more than one table given (%s, %s)\n", table, a);
            return 2;
        }
    }
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

int cn_cli_table(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, VERB ": missing subcommand (expected: partitions; see chronon table --help)\n");
        return 2;
    }
    if (cn_cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "partitions")) return cmd_partitions(argc - 1, argv + 1);
    fprintf(stderr, VERB ": unknown subcommand '%s' (expected: partitions)\n", argv[1]);
    return 2;
}
