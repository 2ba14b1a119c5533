/* ui_cli.h: the web UI (src/serve/ui.h) as the CLI runs it: `chronon ui`, and inside
 * `chronon scheduler` (port 8085 by default) and `chronon serve`. */
#ifndef CN_CLI_UI_CLI_H
#define CN_CLI_UI_CLI_H

#include "base/compat.h"
#include "cli/cli.h"
#include "sched/sched.h"
#include "serve/http.h"

/* The dashboard port of the users' guide. */
#define CN_CLI_UI_PORT 8085

/* Where the scheduler of model m keeps its state DB and logs, and the warehouse, catalog
 * and online store (cmd_scheduler.c has the precedence). */
void cn_cli_sched_paths(const CnSchedModel *m, CnCliWhere *w, char *db, size_t db_len, char *logs,
                        size_t logs_len);

typedef struct CnCliUi CnCliUi;

/* Mounts the UI of model m (BORROWED until cn_cli_ui_free) on s: its state DB, logs and
 * tables, and a feature lookup through the online store (with_fetch: served by the UI
 * itself; else the server's own fetch routes answer it). OWNED: *out, cn_cli_ui_free
 * after the server is freed. */
int cn_cli_ui_mount(CnHttpServer *s, const CnSchedModel *m, bool with_fetch, bool root_redirect, CnCliUi **out,
                    CnErr *err);
/* The UI of repo on a server that has its own fetch routes (`chronon serve`): the DAG pages
 * when repo has production/ (else only tables and lookup), tables of warehouse (NULL: as
 * `chronon load` finds it). OWNED: *out, cn_cli_ui_free after the server is freed. */
int cn_cli_ui_mount_repo(CnHttpServer *s, const char *repo, const char *warehouse, CnCliUi **out, CnErr *err);
/* Starts a server with only the UI on bind:port (0: a free port) and prints
 * "<verb>: web UI at http://<host>:<port>/ui/". OWNED: *out, cn_cli_ui_free. */
int cn_cli_ui_start(const char *verb, const CnSchedModel *m, const char *bind, int port, CnCliUi **out,
                    CnErr *err);
/* Stops the server cn_cli_ui_start made (if any), then frees. NULL-safe. */
void cn_cli_ui_free(CnCliUi *u);

#endif /* CN_CLI_UI_CLI_H */
