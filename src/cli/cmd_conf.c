/* cmd_conf.c: `chronon conf show <compiled file> [--json]` prints what a compiled config
 * means once loaded: kind, names, tables, keys, sources, accuracy and every output column
 * with its type rule. The JSON form carries the same facts for scripts and tests. */
#include "base/compat.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/arena.h"
#include "cli/cli.h"
#include "conf/conf.h"

static const char k_usage[] =
    "usage: chronon conf show <compiled file> [--json]\n"
    "\n"
    "Loads a compiled GroupBy, Join or StagingQuery (production/<kind>/<team>/<name>),\n"
    "validates it and prints its kind, name, team, output table, keys, sources (table,\n"
    "selects, wheres, time column, partition range), accuracy and every output column\n"
    "in order with its type rule.\n"
    "\n"
    "options:\n"
    "  --json      print one JSON object instead of text\n"
    "  -h, --help  show this help\n"
    "\n"
    "exit codes: 0 ok, 1 the file cannot be loaded or is invalid, 2 usage error\n";

static const char *tri(int v) {
    return v == 1 ? "yes" : v == 0 ? "no" : "unset";
}

/* ---- text ---- */

static void print_query(const CnQuery *q, const char *indent) {
    printf("%sselects:", indent);
    if (!q->has_selects) printf(" (all columns)");
    for (size_t i = 0; i < q->selects.n; i++)
        printf("%s %s = %s", i ? "," : "", q->selects.keys[i], q->selects.vals[i]);
    printf("\n%swheres:", indent);
    if (!q->wheres.n) printf(" -");
    for (size_t i = 0; i < q->wheres.n; i++) printf("%s %s", i ? " AND" : "", q->wheres.items[i]);
    printf("\n%stime column: %s\n", indent, q->time_column ? q->time_column : "-");
    printf("%spartitions: %s .. %s\n", indent, q->start_partition ? q->start_partition : "open",
           q->end_partition ? q->end_partition : "open");
    if (q->mutation_time_column) printf("%smutation time column: %s\n", indent, q->mutation_time_column);
    if (q->reversal_column) printf("%sreversal column: %s\n", indent, q->reversal_column);
    if (q->partition_column) printf("%spartition column: %s\n", indent, q->partition_column);
    if (q->setups.n) printf("%ssetups: %zu\n", indent, q->setups.n);
}

static void print_source(CnArena *a, const CnSource *s, const char *head) {
    printf("%s%s %s", head, cn_conf_source_kind_name(s->kind),
           s->kind == CN_CONF_SRC_JOIN ? s->join->meta.name : s->table);
    if (s->kind == CN_CONF_SRC_JOIN) {
        const char *t = cn_conf_source_table(a, s);
        if (t) printf(" (table %s)", t);
    }
    if (s->topic) printf(" topic %s", s->topic);
    if (s->mutation_table) printf(" mutations %s", s->mutation_table);
    if (s->is_cumulative == 1) printf(" cumulative");
    printf("\n");
    print_query(&s->query, "      ");
}

static int print_columns(CnArena *a, const CnColumnList *cols) {
    printf("columns (%zu):\n", cols->n);
    if (cols->left_all_columns) printf("  (all columns of the left table, except ds)\n");
    if (cols->values_unknown) printf("  (value columns unknown: a no-aggregation source has no selects)\n");
    int width = 8; /* the name column fits the longest name, so roles and types line up */
    for (size_t i = 0; i < cols->n; i++) {
        int n = (int)strlen(cols->cols[i].name);
        if (n > width) width = n;
    }
    for (size_t i = 0; i < cols->n; i++) {
        const char *rule = cn_conf_type_rule_str(a, &cols->cols[i].type);
        const CnColumn *c = &cols->cols[i];
        printf("  %-*s %-9s %s", width, c->name, cn_conf_col_role_name(c->role), rule ? rule : "?");
        /* A part's rule names the GroupBy's input column, so say which part. */
        if (c->i_part >= 0)
            printf("  (%s %d)", c->type.kind == CN_CONF_TYPE_DECLARED ? "external" : "part", c->i_part);
        printf("\n");
    }
    return 0;
}

static void print_common(const CnConf *c) {
    const CnMetaData *md = c->meta;
    printf("kind: %s\n", cn_conf_kind_name(c->kind));
    printf("name: %s\n", md->name);
    printf("file: %s\n", c->path);
    printf("team: %s\n", md->team ? md->team : "-");
    printf("online: %s\n", tri(md->online));
    printf("production: %s\n", tri(md->production));
}

static void print_table(CnArena *a, const char *label, const CnMetaData *md, const char *suffix) {
    CnErr e = CN_ERR_INIT;
    const char *t = cn_conf_table_with_suffix(a, md, suffix, &e);
    printf("%s: %s\n", label, t ? t : cn_err_msg(&e));
}

static int show_text(CnArena *a, const CnConf *c, CnErr *err) {
    print_common(c);
    int rc = 0;
    if (c->kind == CN_CONF_GROUP_BY) {
        const CnGroupBy *gb = c->group_by;
        print_table(a, "output table", &gb->meta, "");
        print_table(a, "upload table", &gb->meta, "_upload");
        printf("batch dataset: %s\n", cn_conf_batch_dataset(a, &gb->meta));
        printf("keys:");
        for (size_t i = 0; i < gb->key_columns.n; i++)
            printf("%s %s", i ? "," : "", gb->key_columns.items[i]);
        printf("\naccuracy: %s%s\n", cn_conf_accuracy_name(cn_conf_groupby_accuracy(gb)),
               gb->accuracy == CN_CONF_ACCURACY_UNSET ? " (inferred)" : "");
        printf("backfill start: %s\n", gb->backfill_start_date ? gb->backfill_start_date : "-");
        printf("sources:\n");
        for (size_t i = 0; i < gb->n_sources; i++) {
            char head[32];
            snprintf(head, sizeof head, "  [%zu] ", i);
            print_source(a, &gb->sources[i], head);
        }
        printf("aggregations: %zu\nderivations: %zu\n", gb->n_aggs, gb->n_derivations);
        CnColumnList cols;
        rc = cn_conf_groupby_output_columns(a, gb, &cols, err);
        if (!rc) print_columns(a, &cols);
    } else if (c->kind == CN_CONF_JOIN) {
        const CnJoin *j = c->join;
        print_table(a, "output table", &j->meta, "");
        print_source(a, &j->left, "left: ");
        printf("parts:\n");
        for (size_t i = 0; i < j->n_parts; i++) {
            const CnJoinPart *jp = &j->parts[i];
            CnErr e = CN_ERR_INIT;
            const char *t = cn_conf_join_part_table(a, j, jp, &e);
            printf("  [%zu] %s prefix %s accuracy %s\n", i, jp->group_by->meta.name,
                   jp->prefix ? jp->prefix : "-",
                   cn_conf_accuracy_name(cn_conf_groupby_accuracy(jp->group_by)));
            printf("      table: %s\n", t ? t : cn_err_msg(&e));
            printf("      keys:");
            const CnStrList *keys = &jp->group_by->key_columns;
            const char **left = cn_conf_join_part_left_keys(a, jp);
            for (size_t k = 0; left && k < keys->n; k++)
                printf("%s %s -> %s", k ? "," : "", left[k], keys->items[k]);
            printf("\n");
        }
        for (size_t i = 0; i < j->n_externals; i++)
            printf("external [%zu]: %s%s\n", i, cn_conf_external_prefix(a, &j->externals[i]),
                   j->externals[i].source.offline_group_by ? " (with offline GroupBy)" : "");
        if (j->n_bootstraps) printf("bootstrap parts: %zu\n", j->n_bootstraps);
        if (j->label_part) printf("label parts: %zu\n", j->label_part->n_labels);
        printf("derivations: %zu\n", j->n_derivations);
        CnColumnList cols;
        rc = cn_conf_join_output_columns(a, j, &cols, err);
        if (!rc) print_columns(a, &cols);
    } else {
        const CnStagingQuery *sq = c->staging_query;
        print_table(a, "output table", &sq->meta, "");
        printf("start partition: %s\n", sq->start_partition ? sq->start_partition : "-");
        printf("create view: %s\n", tri(sq->create_view));
        printf("setups: %zu\n", sq->setups.n);
        printf("query:\n%s\n", sq->query);
        printf("columns: produced by the query (known after it runs)\n");
    }
    return rc;
}

/* ---- JSON ---- */

static json_t *jstr(const char *s) {
    return s ? json_string(s) : json_null();
}

static json_t *jtri(int v) {
    return v == CN_CONF_UNSET ? json_null() : json_boolean(v);
}

static json_t *jlist(const CnStrList *l) {
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) json_array_append_new(a, json_string(l->items[i]));
    return a;
}

static json_t *jmap(const CnStrMap *m) {
    json_t *o = json_object();
    for (size_t i = 0; i < m->n; i++) json_object_set_new(o, m->keys[i], json_string(m->vals[i]));
    return o;
}

static json_t *jsource(CnArena *a, const CnSource *s) {
    json_t *o = json_object();
    const CnQuery *q = &s->query;
    json_object_set_new(o, "type", json_string(cn_conf_source_kind_name(s->kind)));
    json_object_set_new(o, "table", jstr(cn_conf_source_table(a, s)));
    if (s->kind == CN_CONF_SRC_JOIN) json_object_set_new(o, "join", json_string(s->join->meta.name));
    json_object_set_new(o, "topic", jstr(s->topic));
    json_object_set_new(o, "mutation_table", jstr(s->mutation_table));
    json_object_set_new(o, "is_cumulative", jtri(s->is_cumulative));
    json_object_set_new(o, "selects", q->has_selects ? jmap(&q->selects) : json_null());
    json_object_set_new(o, "wheres", jlist(&q->wheres));
    json_object_set_new(o, "time_column", jstr(q->time_column));
    json_object_set_new(o, "start_partition", jstr(q->start_partition));
    json_object_set_new(o, "end_partition", jstr(q->end_partition));
    json_object_set_new(o, "mutation_time_column", jstr(q->mutation_time_column));
    json_object_set_new(o, "reversal_column", jstr(q->reversal_column));
    json_object_set_new(o, "partition_column", jstr(q->partition_column));
    json_object_set_new(o, "setups", jlist(&q->setups));
    return o;
}

static json_t *jcolumns(CnArena *a, const CnColumnList *cols) {
    json_t *arr = json_array();
    for (size_t i = 0; i < cols->n; i++) {
        const CnColumn *c = &cols->cols[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(c->name));
        json_object_set_new(o, "role", json_string(cn_conf_col_role_name(c->role)));
        json_object_set_new(o, "type", jstr(cn_conf_type_rule_str(a, &c->type)));
        if (c->i_part >= 0) json_object_set_new(o, "part", json_integer(c->i_part));
        if (c->source_column) json_object_set_new(o, "source_column", json_string(c->source_column));
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *jtable(CnArena *a, const CnMetaData *md, const char *suffix) {
    CnErr e = CN_ERR_INIT;
    return jstr(cn_conf_table_with_suffix(a, md, suffix, &e));
}

static int show_json(CnArena *a, const CnConf *c, CnErr *err) {
    const CnMetaData *md = c->meta;
    json_t *o = json_object();
    int rc = 0;
    json_object_set_new(o, "kind", json_string(cn_conf_kind_name(c->kind)));
    json_object_set_new(o, "name", json_string(md->name));
    json_object_set_new(o, "file", json_string(c->path));
    json_object_set_new(o, "team", jstr(md->team));
    json_object_set_new(o, "online", jtri(md->online));
    json_object_set_new(o, "production", jtri(md->production));
    json_object_set_new(o, "output_namespace", jstr(md->output_namespace));
    json_object_set_new(o, "output_table", jtable(a, md, ""));
    CnColumnList cols;
    memset(&cols, 0, sizeof cols);
    if (c->kind == CN_CONF_GROUP_BY) {
        const CnGroupBy *gb = c->group_by;
        json_object_set_new(o, "upload_table", jtable(a, md, "_upload"));
        json_object_set_new(o, "batch_dataset", jstr(cn_conf_batch_dataset(a, md)));
        json_object_set_new(o, "streaming_dataset", jstr(cn_conf_streaming_dataset(a, md)));
        json_object_set_new(o, "keys", jlist(&gb->key_columns));
        json_object_set_new(o, "accuracy",
                            json_string(cn_conf_accuracy_name(cn_conf_groupby_accuracy(gb))));
        json_object_set_new(o, "accuracy_inferred", json_boolean(gb->accuracy == CN_CONF_ACCURACY_UNSET));
        json_object_set_new(o, "backfill_start_date", jstr(gb->backfill_start_date));
        json_t *srcs = json_array();
        for (size_t i = 0; i < gb->n_sources; i++) json_array_append_new(srcs, jsource(a, &gb->sources[i]));
        json_object_set_new(o, "sources", srcs);
        rc = cn_conf_groupby_output_columns(a, gb, &cols, err);
    } else if (c->kind == CN_CONF_JOIN) {
        const CnJoin *j = c->join;
        json_object_set_new(o, "left", jsource(a, &j->left));
        json_t *parts = json_array();
        for (size_t i = 0; i < j->n_parts; i++) {
            const CnJoinPart *jp = &j->parts[i];
            CnErr e = CN_ERR_INIT;
            json_t *p = json_object();
            json_object_set_new(p, "group_by", json_string(jp->group_by->meta.name));
            json_object_set_new(p, "prefix", jstr(jp->prefix));
            json_object_set_new(p, "column_prefix", jstr(cn_conf_join_part_prefix(a, jp)));
            json_object_set_new(p, "table", jstr(cn_conf_join_part_table(a, j, jp, &e)));
            json_object_set_new(p, "keys", jlist(&jp->group_by->key_columns));
            json_object_set_new(p, "key_mapping", jmap(&jp->key_mapping));
            const char **left = cn_conf_join_part_left_keys(a, jp);
            json_t *lk = json_array();
            for (size_t k = 0; left && left[k]; k++) json_array_append_new(lk, json_string(left[k]));
            json_object_set_new(p, "left_keys", lk);
            json_object_set_new(p, "accuracy", json_string(cn_conf_accuracy_name(
                                                   cn_conf_groupby_accuracy(jp->group_by))));
            json_array_append_new(parts, p);
        }
        json_object_set_new(o, "parts", parts);
        json_t *ext = json_array();
        for (size_t i = 0; i < j->n_externals; i++) {
            json_t *p = json_object();
            json_object_set_new(p, "source", json_string(j->externals[i].source.meta.name));
            json_object_set_new(p, "prefix", jstr(j->externals[i].prefix));
            json_object_set_new(p, "column_prefix", jstr(cn_conf_external_prefix(a, &j->externals[i])));
            json_object_set_new(p, "key_mapping", jmap(&j->externals[i].key_mapping));
            json_array_append_new(ext, p);
        }
        json_object_set_new(o, "external_parts", ext);
        json_object_set_new(o, "bootstrap_parts", json_integer((json_int_t)j->n_bootstraps));
        json_object_set_new(o, "label_parts",
                            json_integer(j->label_part ? (json_int_t)j->label_part->n_labels : 0));
        rc = cn_conf_join_output_columns(a, j, &cols, err);
        json_object_set_new(o, "left_all_columns", json_boolean(cols.left_all_columns));
    } else {
        const CnStagingQuery *sq = c->staging_query;
        json_object_set_new(o, "query", json_string(sq->query));
        json_object_set_new(o, "start_partition", jstr(sq->start_partition));
        json_object_set_new(o, "setups", jlist(&sq->setups));
        json_object_set_new(o, "create_view", jtri(sq->create_view));
    }
    if (!rc && c->kind != CN_CONF_STAGING_QUERY) {
        json_object_set_new(o, "values_unknown", json_boolean(cols.values_unknown));
        json_object_set_new(o, "columns", jcolumns(a, &cols));
    }
    if (!rc) {
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    }
    json_decref(o);
    return rc;
}

int cn_cli_conf(int argc, char **argv) {
    if (argc < 2 || cn_cli_is_help(argv[1])) {
        fputs(k_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "show")) {
        fprintf(stderr, "chronon conf: unknown subcommand '%s' (expected: show)\n", argv[1]);
        return 2;
    }
    const char *path = NULL;
    bool as_json = false;
    for (int i = 2; i < argc; i++) {
        if (cn_cli_is_help(argv[i])) {
            fputs(k_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "chronon conf: unknown option '%s' (see chronon conf --help)\n", argv[i]);
            return 2;
        } else if (path) {
            fprintf(stderr, "chronon conf: more than one file given ('%s' and '%s')\n", path, argv[i]);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "chronon conf: show needs a compiled file (see chronon conf --help)\n");
        return 2;
    }
    CnErr err = CN_ERR_INIT;
    CnConf *conf = NULL;
    CnArena a;
    cn_arena_init(&a, 0);
    int rc = cn_conf_load(path, &conf, &err);
    if (!rc) rc = as_json ? show_json(&a, conf, &err) : show_text(&a, conf, &err);
    if (!rc && fflush(stdout) != 0) rc = cn_err_set(&err, CN_EIO, "cannot write to stdout");
    cn_arena_fini(&a);
    cn_conf_free(conf);
    return rc ? cn_cli_fail("conf", &err) : 0;
}
