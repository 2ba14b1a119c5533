/* where.c: where a command finds the warehouse, the catalog and the online store.
 * One rule for every verb (DESIGN.md "Where things live"): a flag, else the environment
 * (CHRONON_WAREHOUSE, CHRONON_CATALOG, CHRONON_ONLINE), else teams.json (when the verb
 * reads it), else the embedded defaults under the chronon root. */
#include "base/compat.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/str.h"
#include "cli/cli.h"

static const char *first(const char *a, const char *b) { return a && *a ? a : b && *b ? b : NULL; }

/* dst = a b c (NULL parts skipped); CN_EINVAL naming the start when it does not fit. */
static int cat3(char *dst, size_t cap, const char *a, const char *b, const char *c, CnErr *err) {
    const char *parts[3] = {a, b, c};
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (!parts[i]) continue;
        size_t l = strlen(parts[i]);
        if (n + l >= cap) return cn_err_set(err, CN_EINVAL, "path too long: %.80s...", a);
        memcpy(dst + n, parts[i], l);
        n += l;
    }
    dst[n] = 0;
    return 0;
}

int cn_cli_where(const char *repo, const char *wh_flag, const char *cat_flag, const char *wh_fallback,
                 const char *cat_fallback, CnCliWhere *w, CnErr *err) {
    memset(w, 0, sizeof *w);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return cn_err_set(err, CN_EIO, "cannot read the current directory");
    if (!repo || !*repo) repo = ".";
    /* canonical, so "./" and "repo/../repo" name the same tables in the catalog */
    char real[PATH_MAX];
    int rc;
    if (realpath(repo, real)) rc = cat3(w->root, sizeof w->root, real, NULL, NULL, err);
    else if (repo[0] == '/') rc = cat3(w->root, sizeof w->root, repo, NULL, NULL, err);
    else rc = cat3(w->root, sizeof w->root, cwd, "/", repo, err);
    if (rc) return rc;

    /* a relative flag or variable is relative to where the user is; a relative
     * teams.json value to the chronon root */
    const char *wh = first(wh_flag, getenv("CHRONON_WAREHOUSE"));
    const char *base = cwd;
    if (!wh && wh_fallback && *wh_fallback) {
        wh = wh_fallback;
        base = w->root;
    }
    if (!wh) rc = cat3(w->warehouse, sizeof w->warehouse, w->root, "/warehouse", NULL, err);
    else if (strstr(wh, "://") || wh[0] == '/') rc = cat3(w->warehouse, sizeof w->warehouse, wh, NULL, NULL, err);
    else rc = cat3(w->warehouse, sizeof w->warehouse, base, "/", wh, err);
    if (rc) return rc;

    /* local files (SQLite catalog, LMDB store, scheduler DB) live in a local warehouse,
     * or in the chronon root when the warehouse is remote */
    const char *local = cn_str_starts_with(w->warehouse, "file://") ? w->warehouse + 7 : w->warehouse;
    if ((rc = cat3(w->home, sizeof w->home, local[0] == '/' ? local : w->root, NULL, NULL, err))) return rc;

    const char *cat = first(first(cat_flag, getenv("CHRONON_CATALOG")), cat_fallback);
    rc = cat ? cat3(w->catalog, sizeof w->catalog, cat, NULL, NULL, err)
             : cat3(w->catalog, sizeof w->catalog, "sqlite:", w->home, "/catalog.db", err);
    if (rc) return rc;
    const char *online = first(getenv("CHRONON_ONLINE"), NULL);
    return online ? cat3(w->online, sizeof w->online, online, NULL, NULL, err)
                  : cat3(w->online, sizeof w->online, "lmdb:", w->home, "/online", err);
}
