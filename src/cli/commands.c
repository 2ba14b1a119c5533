/* commands.c: the verb table. Keep it sorted by the order a user meets the verbs. */
#include "cli/cli.h"

const CnCliCmd cn_cli_commands[] = {
    {"compile", "compile Python configs to production JSON (runs compile.py)", cn_cli_compile},
    {"run", "run a job: backfill, upload, fetch, ... (the engine behind run.py)", cn_cli_run},
    {"conf", "inspect compiled configs: keys, sources, output columns", cn_cli_conf},
    {"load", "load a CSV or Parquet file into an Iceberg table (creates it)", cn_cli_load},
    {"sql", "run SQL over the warehouse tables: SHOW TABLES, DESCRIBE, SELECT (spark-sql)", cn_cli_sql},
    {"table", "table partitions (--has DS: the partition sensor); expire-snapshots", cn_cli_table},
    {"gc", "remove orphan files of tables (crashed or conflicting writers)", cn_cli_gc},
    {"dags", "list the scheduler's DAGs built from production/", cn_cli_dags}, {"tasks", "list a DAG's tasks and their dependencies", cn_cli_tasks}, {"airflow", "export the DAGs as Airflow DAG files", cn_cli_airflow},
    {"scheduler", "run the DAGs: daily runs, sensors, retries, catch-up, logs (state DB)", cn_cli_scheduler},
    {"ui", "serve the web UI (DAGs, runs, logs, tables, feature lookup) without running DAGs", cn_cli_ui},
    {"serve", "serve online features over HTTP (Chronon's fetch routes, health, metrics)", cn_cli_serve},
    {"parquet", "look into Parquet files: schema, cat, stats; convert CSV to Parquet", cn_cli_parquet},
    {"version", "print the version", cn_cli_version},
};

const size_t cn_cli_n_commands = sizeof cn_cli_commands / sizeof cn_cli_commands[0];
