/* conf.h: the compiled-config model. Parses Chronon's production JSON (Thrift "simple
 * JSON": GroupBy, Join, StagingQuery; spec/config.md sections 2-3) and teams.json into
 * plain C structs, validates them with errors naming file, JSON path and value, and
 * derives every name Chronon derives from a config (spec/config.md section 8): output
 * and upload tables, join part tables, aggregation, join, external and derived columns,
 * KV dataset names, inferred accuracy.
 * OWNERSHIP: everything reachable from a CnConf lives in its one arena and dies with
 *   cn_conf_free(). Functions that build new lists take a CnArena from the caller; the
 *   results may point at strings owned by the conf, so keep the conf alive as long.
 * TYPES: column types depend on source schemas, unknown here. Each output column carries
 *   a CnTypeRule (e.g. SUM -> long or double by input) that the engine resolves.
 * THREADS: a loaded CnConf is immutable; share it freely. */
#ifndef CN_CONF_H
#define CN_CONF_H

#include "base/arena.h"
#include "base/compat.h"
#include "base/err.h"

/* Optional Thrift bools: unset, false, true. */
#define CN_CONF_UNSET (-1)

typedef enum CnConfKind {
    CN_CONF_GROUP_BY = 0,
    CN_CONF_JOIN = 1,
    CN_CONF_STAGING_QUERY = 2,
    CN_CONF_KIND_UNKNOWN = 3, /* only as a hint to cn_conf_loadb: detect from content */
} CnConfKind;

/* Thrift enum values (integers in JSON). */
typedef enum CnOperation {
    CN_CONF_OP_MIN = 0, CN_CONF_OP_MAX = 1, CN_CONF_OP_FIRST = 2, CN_CONF_OP_LAST = 3,
    CN_CONF_OP_UNIQUE_COUNT = 4, CN_CONF_OP_APPROX_UNIQUE_COUNT = 5, CN_CONF_OP_COUNT = 6,
    CN_CONF_OP_SUM = 7, CN_CONF_OP_AVERAGE = 8, CN_CONF_OP_VARIANCE = 9, CN_CONF_OP_SKEW = 10,
    CN_CONF_OP_KURTOSIS = 11, CN_CONF_OP_APPROX_PERCENTILE = 12, CN_CONF_OP_LAST_K = 13,
    CN_CONF_OP_FIRST_K = 14, CN_CONF_OP_TOP_K = 15, CN_CONF_OP_BOTTOM_K = 16,
    CN_CONF_OP_HISTOGRAM = 17, CN_CONF_OP_APPROX_HISTOGRAM_K = 18,
    CN_CONF_OP_BOUNDED_UNIQUE_COUNT = 19,
    CN_CONF_N_OPS = 20
} CnOperation;

typedef enum CnTimeUnit { CN_CONF_HOURS = 0, CN_CONF_DAYS = 1 } CnTimeUnit;
/* CN_CONF_ACCURACY_UNSET only in CnGroupBy.accuracy (not written in the JSON). */
typedef enum CnAccuracy {
    CN_CONF_ACCURACY_UNSET = -1, CN_CONF_TEMPORAL = 0, CN_CONF_SNAPSHOT = 1
} CnAccuracy;
typedef enum CnDataKind {
    CN_CONF_DK_BOOLEAN = 0, CN_CONF_DK_BYTE, CN_CONF_DK_SHORT, CN_CONF_DK_INT, CN_CONF_DK_LONG,
    CN_CONF_DK_FLOAT, CN_CONF_DK_DOUBLE, CN_CONF_DK_STRING, CN_CONF_DK_BINARY, CN_CONF_DK_DATE,
    CN_CONF_DK_TIMESTAMP, CN_CONF_DK_MAP, CN_CONF_DK_LIST, CN_CONF_DK_STRUCT,
    CN_CONF_N_DATA_KINDS
} CnDataKind;
typedef enum CnDataModel { CN_CONF_EVENTS = 0, CN_CONF_ENTITIES = 1 } CnDataModel;

/* Ordered list of strings and ordered string map (JSON object order is kept). */
typedef struct CnStrList {
    const char **items;
    size_t n;
} CnStrList;
typedef struct CnStrMap {
    const char **keys;
    const char **vals;
    size_t n;
} CnStrMap;
/* mode (or context) -> string map, e.g. modeToEnvMap {"backfill": {"K": "V"}}. */
typedef struct CnStrMapMap {
    const char **keys;
    CnStrMap *vals;
    size_t n;
} CnStrMapMap;

/* NULL when absent. BORROWED from the map. */
const char *cn_conf_map_get(const CnStrMap *m, const char *key);
bool cn_conf_list_has(const CnStrList *l, const char *s);

typedef struct CnMetaData {
    const char *name;             /* "team.module.var" */
    int online, production;       /* CN_CONF_UNSET, 0, 1 */
    const char *custom_json;      /* JSON text as written */
    CnStrList dependencies;
    CnStrMap table_properties;
    const char *output_namespace;
    const char *team;
    CnStrMapMap mode_to_env;
    int consistency_check;
    bool has_sample_percent;
    double sample_percent;
    const char *offline_schedule;
    bool has_consistency_sample_percent;
    double consistency_sample_percent;
    int historical_backfill;
    const char *deprecation_date;
    const char *description;
} CnMetaData;

typedef struct CnQuery {
    bool has_selects;              /* false: all columns of the table */
    CnStrMap selects;              /* output name -> Spark SQL expression */
    CnStrList wheres;
    const char *start_partition, *end_partition;
    const char *time_column;
    CnStrList setups;
    const char *mutation_time_column, *reversal_column, *partition_column;
} CnQuery;

typedef struct CnJoin CnJoin;

typedef enum CnSourceKind {
    CN_CONF_SRC_EVENTS = 0, CN_CONF_SRC_ENTITIES = 1, CN_CONF_SRC_JOIN = 2
} CnSourceKind;

/* The Source union, flattened. Fields not of the kind are NULL / CN_CONF_UNSET. */
typedef struct CnSource {
    CnSourceKind kind;
    const char *table;          /* events.table or entities.snapshotTable; NULL for join */
    const char *topic;          /* events.topic or entities.mutationTopic */
    const char *mutation_table; /* entities */
    int is_cumulative;          /* events */
    const CnJoin *join;         /* joinSource.join */
    CnQuery query;              /* the source's own query (joinSource.query for join) */
} CnSource;

typedef struct CnWindow {
    int32_t length;
    CnTimeUnit unit;
} CnWindow;

typedef struct CnAggregation {
    const char *input_column;
    CnOperation op;
    CnStrMap arg_map;
    bool has_windows;           /* false: one unwindowed part */
    CnWindow *windows;
    size_t n_windows;
    CnStrList buckets;          /* n == 0: no bucketing */
    int element_wise;
    int32_t k;                  /* argMap "k" parsed; -1 when absent */
} CnAggregation;

typedef struct CnDerivation {
    const char *name;           /* "*" for the wildcard */
    const char *expression;
    const char *description;    /* metaData.description */
} CnDerivation;

typedef struct CnGroupBy {
    CnMetaData meta;
    CnSource *sources;
    size_t n_sources;
    CnStrList key_columns;
    bool has_aggregations;      /* false: no-aggregation GroupBy (selected rows pass through) */
    CnAggregation *aggs;
    size_t n_aggs;
    CnAccuracy accuracy;        /* as written; see cn_conf_groupby_accuracy() */
    const char *backfill_start_date;
    CnDerivation *derivations;
    size_t n_derivations;
    int is_incremental;
} CnGroupBy;

typedef struct CnJoinPart {
    CnGroupBy *group_by;
    CnStrMap key_mapping;       /* left column -> GroupBy key */
    const char *prefix;
} CnJoinPart;

typedef struct CnDataType CnDataType;
typedef struct CnDataField {
    const char *name;
    const CnDataType *type;
} CnDataField;
struct CnDataType {
    CnDataKind kind;
    CnDataField *params;        /* struct fields; map "key"/"value"; list "elem" */
    size_t n_params;
    const char *name;           /* struct name */
};

typedef struct CnExternalSource {
    CnMetaData meta;            /* JSON key "metadata" */
    const CnDataType *key_schema, *value_schema;
    const char *factory_name;
    CnStrMap factory_params;
    CnGroupBy *offline_group_by;
} CnExternalSource;

typedef struct CnExternalPart {
    CnExternalSource source;
    CnStrMap key_mapping;
    const char *prefix;
} CnExternalPart;

typedef struct CnBootstrapPart {
    CnMetaData meta;
    const char *table;
    bool has_query;
    CnQuery query;
    bool has_key_columns;
    CnStrList key_columns;
} CnBootstrapPart;

typedef struct CnLabelPart {
    CnJoinPart *labels;
    size_t n_labels;
    bool has_left_start_offset, has_left_end_offset;
    int32_t left_start_offset, left_end_offset;
    CnMetaData meta;
} CnLabelPart;

struct CnJoin {
    CnMetaData meta;
    CnSource left;
    CnJoinPart *parts;
    size_t n_parts;
    const char **skew_key_names; /* skewKeys: column -> values */
    CnStrList *skew_key_values;
    size_t n_skew_keys;
    CnExternalPart *externals;
    size_t n_externals;
    const CnLabelPart *label_part; /* NULL when absent */
    CnBootstrapPart *bootstraps;
    size_t n_bootstraps;
    bool has_row_ids;
    CnStrList row_ids;
    CnDerivation *derivations;
    size_t n_derivations;
    const char *model_transforms_json; /* kept as JSON text; not modelled */
};

typedef struct CnStagingQuery {
    CnMetaData meta;
    const char *query;
    const char *start_partition;
    CnStrList setups;
    int create_view;
} CnStagingQuery;

/* A loaded compiled file. Exactly one of group_by / join / staging_query is set. */
typedef struct CnConf {
    CnArena arena;              /* owns everything below */
    CnConfKind kind;
    const char *path;           /* as given to load (messages) */
    CnGroupBy *group_by;
    CnJoin *join;
    CnStagingQuery *staging_query;
    const CnMetaData *meta;     /* the object's metaData */
} CnConf;

/* Loads and validates one compiled file. The kind comes from the path (the third-last
 * segment is group_bys/joins/staging_queries, as run.py reads it) or else from the
 * content. OWNED: *out, free with cn_conf_free().
 * Errors: CN_ENOTFOUND / -errno (unreadable), CN_ECORRUPT (malformed JSON:
 * "file:line:col: ..."), CN_ECONFIG ("file: json.path: problem (expected ...)"),
 * CN_ENOMEM. On error *out is NULL. */
int cn_conf_load(const char *path, CnConf **out, CnErr *err);
/* Same from memory; name is used for messages and kind detection; kind may be
 * CN_CONF_KIND_UNKNOWN. */
int cn_conf_loadb(const char *name, const char *buf, size_t len, CnConfKind kind, CnConf **out,
                  CnErr *err);
void cn_conf_free(CnConf *c); /* NULL-safe */

/* "group_by", "join", "staging_query"; and the production/ folder names. */
const char *cn_conf_kind_name(CnConfKind k);
const char *cn_conf_kind_folder(CnConfKind k);
/* "SUM", "LAST_K", ...; NULL when out of range. */
const char *cn_conf_op_name(CnOperation op);
/* "TEMPORAL" / "SNAPSHOT". */
const char *cn_conf_accuracy_name(CnAccuracy a);
/* "events" / "entities" / "join". */
const char *cn_conf_source_kind_name(CnSourceKind k);

/* ---- names (spec/config.md section 8). Results are allocated in a. ---- */

/* Chronon's sanitize: every char outside [A-Za-z0-9_] becomes '_'. */
char *cn_conf_sanitize(CnArena *a, const char *name);
/* Whether s is a bare identifier ([A-Za-z_][A-Za-z0-9_]*): a column name as written,
 * with nothing to evaluate. */
bool cn_conf_is_identifier(const char *s);
/* "<outputNamespace>.<sanitize(name)>"; NULL (with err CN_ECONFIG) when the namespace or
 * name is not set. */
char *cn_conf_output_table(CnArena *a, const CnMetaData *md, CnErr *err);
/* Output table + suffix ("_upload", "_bootstrap", "_logged", "_labels", ...). */
char *cn_conf_table_with_suffix(CnArena *a, const CnMetaData *md, const char *suffix, CnErr *err);
/* "<join output table>_[<prefix>_]<sanitize(gb name)>". */
char *cn_conf_join_part_table(CnArena *a, const CnJoin *j, const CnJoinPart *jp, CnErr *err);
/* "[<prefix>_]<sanitize(gb name)>": the feature-column prefix of a join part. */
char *cn_conf_join_part_prefix(CnArena *a, const CnJoinPart *jp);
/* Left column joined to each GroupBy key of a part, in keyColumns order: keyMapping
 * {left: key} inverted, unmapped keys keep their name (Chronon's rightToLeft).
 * *left is allocated in a; NULL only when out of memory. */
const char **cn_conf_join_part_left_keys(CnArena *a, const CnJoinPart *jp);
/* "ext_[<prefix>_]<sanitize(source name)>". */
char *cn_conf_external_prefix(CnArena *a, const CnExternalPart *ep);
/* "<UPPER(sanitize(name))>_BATCH" and "..._STREAMING". */
char *cn_conf_batch_dataset(CnArena *a, const CnMetaData *md);
char *cn_conf_streaming_dataset(CnArena *a, const CnMetaData *md);
/* Explicit accuracy, else TEMPORAL if any source has a topic/mutationTopic (a join
 * source: its join's left topic), else SNAPSHOT. */
CnAccuracy cn_conf_groupby_accuracy(const CnGroupBy *gb);
/* Events or entities (a join source takes its join's left model). */
CnDataModel cn_conf_source_model(const CnSource *s);
/* The table a source reads: events/entities table, or the join's output table. */
const char *cn_conf_source_table(CnArena *a, const CnSource *s);

/* ---- aggregation parts and output columns ---- */

/* One output column of an aggregation: one (bucket, window) pair. */
typedef struct CnAggPart {
    const CnAggregation *agg;
    size_t i_agg;
    const CnWindow *window;     /* NULL: unwindowed */
    const char *bucket;         /* NULL: not bucketed */
    const char *name;           /* <input>_<op>[_<window>][_by_<bucket>] */
} CnAggPart;

/* All parts in Chronon's order: per aggregation, for each bucket, for each window.
 * *parts is allocated in a. Errors: CN_ECONFIG (e.g. LAST_K without k). */
int cn_conf_groupby_agg_parts(CnArena *a, const CnGroupBy *gb, CnAggPart **parts, size_t *n,
                              CnErr *err);

/* How the engine finds a column's type once the input schema is known. The rule
 * applies to the scalar input type; list/map inputs aggregate per element or per map
 * key as compute.md section 3 says, and `bucketed` wraps the result in map<string, .>. */
typedef enum CnTypeRuleKind {
    CN_CONF_TYPE_INPUT = 0,        /* type of `input` (keys, MIN/MAX/FIRST/LAST, selects) */
    CN_CONF_TYPE_LONG,             /* COUNT, UNIQUE_COUNT, APPROX_/BOUNDED_UNIQUE_COUNT; ts */
    CN_CONF_TYPE_DOUBLE,           /* AVERAGE, VARIANCE, SKEW, KURTOSIS */
    CN_CONF_TYPE_SUM,              /* bool/int/short/long -> long; float/double -> double */
    CN_CONF_TYPE_LIST_INPUT,       /* LAST_K, FIRST_K, TOP_K, BOTTOM_K: list<type(input)> */
    CN_CONF_TYPE_LIST_FLOAT,       /* APPROX_PERCENTILE */
    CN_CONF_TYPE_MAP_STRING_INT,   /* HISTOGRAM */
    CN_CONF_TYPE_MAP_STRING_LONG,  /* APPROX_HISTOGRAM_K */
    CN_CONF_TYPE_STRING,           /* the partition column ds */
    CN_CONF_TYPE_EXPR,             /* type of SQL expression `input` over the base columns */
    CN_CONF_TYPE_DECLARED,         /* `declared` (external parts) */
} CnTypeRuleKind;

typedef struct CnTypeRule {
    CnTypeRuleKind kind;
    const char *input;             /* input column, select expression or derivation */
    bool bucketed;
    bool element_wise;
    const CnDataType *declared;
} CnTypeRule;

typedef enum CnColRole {
    CN_CONF_COL_KEY = 0,     /* GroupBy key */
    CN_CONF_COL_VALUE,       /* aggregation part */
    CN_CONF_COL_SELECT,      /* no-aggregation GroupBy value column */
    CN_CONF_COL_DERIVED,     /* derivation output */
    CN_CONF_COL_LEFT,        /* join left column */
    CN_CONF_COL_PART,        /* join part feature */
    CN_CONF_COL_EXTERNAL,    /* online external part value */
    CN_CONF_COL_PARTITION,   /* ds */
} CnColRole;

typedef struct CnColumn {
    const char *name;
    CnColRole role;
    CnTypeRule type;
    int i_part;              /* join part (or external part) index, -1 otherwise */
    const char *source_column; /* the GroupBy column a join part column comes from */
} CnColumn;

typedef struct CnColumnList {
    CnColumn *cols;
    size_t n;
    /* Join only: the left query has no selects, so every left-table column (unknown
     * here) precedes the listed columns. */
    bool left_all_columns;
    /* No-aggregation GroupBy without selects: the value columns are unknown. */
    bool values_unknown;
} CnColumnList;

/* GroupBy backfill output: keys (keyColumns order), values (part order), ds; with
 * derivations: keys, derived columns (with `*` expanded in place), ds. Backfills write
 * daily snapshots, so there is no ts column (compute.md section 5).
 * Allocated in a. Errors: CN_ECONFIG. */
int cn_conf_groupby_output_columns(CnArena *a, const CnGroupBy *gb, CnColumnList *out,
                                   CnErr *err);
/* GroupBy columns as a join part sees them: values after derivations (no keys, no ds). */
int cn_conf_groupby_value_columns(CnArena *a, const CnGroupBy *gb, CnColumnList *out,
                                  CnErr *err);
/* Join output: left columns except ds (+ ts for an events left), part features by part
 * then GroupBy order, ext_ columns, ds; with derivations: left columns, derived, ds. */
int cn_conf_join_output_columns(CnArena *a, const CnJoin *j, CnColumnList *out, CnErr *err);
/* Human form of a rule, e.g. "sum_type(amount)", "map<string,list<type(x)>>". In a. */
char *cn_conf_type_rule_str(CnArena *a, const CnTypeRule *r);
/* "long", "map<string,long>", "struct name<a:int,...>". In a. */
char *cn_conf_data_type_str(CnArena *a, const CnDataType *t);
const char *cn_conf_col_role_name(CnColRole r);

/* ---- teams.json ---- */

typedef struct CnTeam {
    const char *name;
    const char *output_namespace;   /* "namespace" */
    bool has_table_properties;
    CnStrMap table_properties;
    const char *description;
    const char *user;
    CnStrMap common_env;
    CnStrMapMap production;        /* mode -> env */
    CnStrMapMap dev;
    CnStrMap strings;              /* every string-valued key, for other lookups */
} CnTeam;

typedef struct CnTeams {
    CnArena arena;
    const char *path;
    CnTeam *teams;
    size_t n;
    const CnTeam *deflt;           /* "default", may be NULL */
} CnTeams;

/* OWNED: *out, free with cn_conf_teams_free(). Errors as cn_conf_load. */
int cn_conf_teams_load(const char *path, CnTeams **out, CnErr *err);
int cn_conf_teams_loadb(const char *name, const char *buf, size_t len, CnTeams **out, CnErr *err);
void cn_conf_teams_free(CnTeams *t);
/* NULL when the team is not listed. BORROWED from t. */
const CnTeam *cn_conf_teams_find(const CnTeams *t, const char *team);
/* Namespace of team, falling back to default's (single-level lookup, as Chronon).
 * Errors: CN_ENOTFOUND naming the file and team when neither has one. */
int cn_conf_teams_namespace(const CnTeams *t, const char *team, const char **out, CnErr *err);
/* table_properties of team, else default's; NULL when neither. */
const CnStrMap *cn_conf_teams_table_properties(const CnTeams *t, const char *team);
/* Env variable for a job, first hit wins: team[context][mode], team.production[mode],
 * default.production[mode], default.common_env. NULL when unset. */
const char *cn_conf_teams_env(const CnTeams *t, const char *team, const char *context,
                              const char *mode, const char *var);

#endif /* CN_CONF_H */
