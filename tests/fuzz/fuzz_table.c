/* fuzz_table.c: libFuzzer target for the table layer's readers of stored metadata: the
 * table metadata JSON, the manifest list and the manifests (Avro object containers).
 * A small table is built once per process in /tmp/cn_fzt_XXXXXX (two days appended,
 * one overwritten, a column added: three snapshots). CN_TEST_TABLE_SEED makes its file
 * names and ids the same in every run, so corpus entries stay meaningful.
 * INPUT: byte 0 picks the file (0 the current metadata JSON, 1 the current manifest
 *   list, 2 its first manifest); the rest replaces that file, with "cn_fzt_@@@@@@"
 *   standing for this process's warehouse directory (same length, so Avro string
 *   lengths stay right). Then the table is loaded, its partitions listed from the
 *   manifests and every snapshot scanned to the end; the file is put back after.
 * Bad bytes must end in an error with a message, never a crash, an assert, a leak or
 * an invalid batch. Built with clang -fsanitize=fuzzer,address when CN_FUZZ=ON; the
 * same function runs in every build through fuzz_table_replay.c over the corpus. */
#include "base/compat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/str.h"
#include "col/col.h"
#include "table/table.h"

#define PLACEHOLDER "cn_fzt_@@@@@@"

int cn_fuzz_table_one(const uint8_t *data, size_t len, CnErr *err);
int cn_fuzz_table_seeds(const char *dir, CnErr *err);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
    bool ready;
    char root[64];          /* /tmp/cn_fzt_XXXXXX */
    char wh[96], cat[128];
    CnIceCatalog *c;
    char *path[3];          /* the three files (local paths) */
    char *orig[3];          /* their bytes */
    size_t orig_len[3];
} g;

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rm_rf(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void cleanup(void) {
    cn_ice_catalog_close(g.c);
    for (int i = 0; i < 3; i++) {
        cn_free(g.path[i]);
        cn_free(g.orig[i]);
    }
    if (g.root[0]) rm_rf(g.root);
}

static int write_day(const char *ds, int n, int base, CnIceWriteMode mode, CnErr *err) {
    CnIceWrite *w = NULL;
    CnBatch *b = NULL;
    int rc = cn_ice_write_begin(g.c, "fz", "t", mode, &w, err);
    if (rc == 0) rc = cn_col_batch_new(cn_ice_write_schema(w), &b, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        const CnSchema *s = cn_ice_write_schema(w);
        for (uint32_t f = 0; f < s->n_fields; f++) {
            const char *nm = s->fields[f].name;
            if (!strcmp(nm, "id")) cn_col_vec_append_i64(&b->cols[f], base + i);
            else if (!strcmp(nm, "ds")) cn_col_vec_append_str(&b->cols[f], ds, 10);
            else if (!strcmp(nm, "name") && i % 3) cn_col_vec_append_str(&b->cols[f], "abc", (uint32_t)(i % 4));
            else cn_col_vec_append_null(&b->cols[f]);
        }
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(b, err);
    if (rc == 0) rc = cn_ice_write_batch(w, b, err);
    if (rc == 0) rc = cn_ice_write_commit(w, NULL, err);
    cn_col_batch_free(b);
    cn_ice_write_free(w);
    return rc;
}

/* First occurrence of needle[0..nl) in p[0..n), or NULL (memmem is a GNU extension). */
static const char *find(const char *p, size_t n, const char *needle, size_t nl) {
    for (size_t i = 0; i + nl <= n; i++)
        if (!memcmp(p + i, needle, nl)) return p + i;
    return NULL;
}

static int setup(CnErr *err) {
    if (g.ready) return 0;
    setenv("CN_TEST_TABLE_SEED", "20240101", 0);
    snprintf(g.root, sizeof g.root, "/tmp/cn_fzt_XXXXXX");
    if (!mkdtemp(g.root)) return cn_err_set(err, CN_EIO, "mkdtemp /tmp/cn_fzt_XXXXXX failed");
    atexit(cleanup);
    snprintf(g.wh, sizeof g.wh, "%s/wh", g.root);
    snprintf(g.cat, sizeof g.cat, "sqlite:%s/catalog.db", g.root);
    int rc = cn_ice_catalog_open(g.wh, g.cat, &g.c, err);
    CnSchema *s = NULL;
    if (rc == 0) rc = cn_col_schema_new(&s) < 0 ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
    if (rc == 0) rc = cn_col_schema_add(s, "id", cn_col_type_prim(CN_COL_INT64), true, -1, err);
    if (rc == 0) rc = cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, -1, err);
    if (rc == 0) rc = cn_ice_table_create(g.c, "fz", "t", s, NULL, 0, err);
    cn_col_schema_free(s);
    if (rc == 0) rc = write_day("2024-01-01", 5, 0, CN_ICE_APPEND, err);
    if (rc == 0) rc = write_day("2024-01-02", 4, 10, CN_ICE_APPEND, err);
    if (rc == 0) rc = cn_ice_table_add_column(g.c, "fz", "t", "name", cn_col_type_prim(CN_COL_STRING), err);
    if (rc == 0) rc = write_day("2024-01-01", 3, 20, CN_ICE_OVERWRITE, err);
    if (rc < 0) return rc;
    /* the files: current metadata, its current snapshot's manifest list, the first
     * manifest that list names */
    CnIceTable *t = NULL;
    if ((rc = cn_ice_table_load(g.c, "fz", "t", &t, err)) < 0) return rc;
    const char *loc = cn_ice_table_metadata_location(t);
    g.path[0] = cn_strdup(cn_str_starts_with(loc, "file://") ? loc + 7 : loc);
    char snap[32];
    snprintf(snap, sizeof snap, "%lld", (long long)cn_ice_table_current_snapshot(t));
    cn_ice_table_free(t);
    json_error_t je;
    json_t *meta = json_load_file(g.path[0], 0, &je);
    const char *ml = NULL;
    size_t i_s;
    json_t *sj;
    json_array_foreach(json_object_get(meta, "snapshots"), i_s, sj) {
        if (json_integer_value(json_object_get(sj, "snapshot-id")) == strtoll(snap, NULL, 10))
            ml = json_string_value(json_object_get(sj, "manifest-list"));
    }
    if (ml) g.path[1] = cn_strdup(cn_str_starts_with(ml, "file://") ? ml + 7 : ml);
    json_decref(meta);
    if (!g.path[1]) return cn_err_set(err, CN_EINTERNAL, "fuzz setup: no manifest list for snapshot %s", snap);
    char *list = NULL;
    size_t llen = 0;
    if ((rc = cn_fs_read_all(g.path[1], &list, &llen, err)) < 0) return rc;
    /* the first manifest the list names: "file://....avro" */
    const char *st = find(list, llen, "file://", 7);
    const char *en = st ? find(st, (size_t)(list + llen - st), ".avro", 5) : NULL;
    if (!en) {
        cn_free(list);
        return cn_err_set(err, CN_EINTERNAL, "fuzz setup: no manifest in the manifest list");
    }
    g.path[2] = cn_strndup(st + 7, (size_t)(en + 5 - st - 7));
    cn_free(list);
    for (int i = 0; i < 3; i++)
        if ((rc = cn_fs_read_all(g.path[i], &g.orig[i], &g.orig_len[i], err)) < 0) return rc;
    g.ready = true;
    return 0;
}

/* Replaces every occurrence of from with to (same length) in p[0..n). */
static void swap_all(char *p, size_t n, const char *from, const char *to) {
    size_t l = strlen(from);
    for (size_t i = 0; i + l <= n; i++)
        if (!memcmp(p + i, from, l)) memcpy(p + i, to, l);
}

static int write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void check_batch(const CnBatch *b) {
    CnErr check = CN_ERR_INIT;
    if (cn_col_batch_check(b, &check) < 0) {
        fprintf(stderr, "scan returned an invalid batch: %s\n", cn_err_msg(&check));
        abort();
    }
}

/* Every read the table layer does of its metadata. */
static int read_all(CnErr *err) {
    CnIceTable *t = NULL;
    CnIcePartition *parts = NULL;
    uint32_t n_parts = 0;
    int rc = cn_ice_table_load(g.c, "fz", "t", &t, err);
    if (rc < 0) return rc;
    for (uint32_t i = 0; rc == 0 && i <= cn_ice_table_n_snapshots(t); i++) {
        CnIceScanOpts o = {0};
        if (i < cn_ice_table_n_snapshots(t)) {
            CnIceSnapshot sn;
            cn_ice_table_snapshot(t, i, &sn);
            o.snapshot_id = sn.id;
        }
        if ((rc = cn_ice_table_partition_list(g.c, t, o.snapshot_id, NULL, NULL, &parts, &n_parts, err)) < 0) break;
        cn_free(parts);
        parts = NULL;
        CnIceScan *s = NULL;
        if ((rc = cn_ice_scan_open(g.c, t, &o, &s, err)) < 0) break;
        for (;;) {
            const CnBatch *b = NULL;
            if ((rc = cn_ice_scan_next(s, &b, err)) < 0 || !b) break;
            check_batch(b);
        }
        cn_ice_scan_close(s);
    }
    cn_ice_table_free(t);
    return rc;
}

int cn_fuzz_table_one(const uint8_t *data, size_t len, CnErr *err) {
    if (setup(err) < 0) {
        fprintf(stderr, "fuzz_table: setup failed: %s\n", cn_err_msg(err));
        abort();
    }
    if (len < 1) return 0;
    int which = data[0] % 3;
    char *buf = cn_malloc(len);
    if (!buf) return cn_err_set(err, CN_ENOMEM, "out of memory");
    memcpy(buf, data + 1, len - 1);
    swap_all(buf, len - 1, PLACEHOLDER, strrchr(g.root, '/') + 1);
    int rc = write_file(g.path[which], buf, len - 1);
    cn_free(buf);
    if (rc < 0) {
        fprintf(stderr, "fuzz_table: cannot write %s\n", g.path[which]);
        abort();
    }
    rc = read_all(err);
    if (rc < 0 && err->msg[0] == 0) {
        fprintf(stderr, "error %d without a message\n", rc);
        abort();
    }
    if (write_file(g.path[which], g.orig[which], g.orig_len[which]) < 0) abort();
    return rc;
}

/* Writes the three files as corpus entries ok-meta, ok-list, ok-manifest in dir. */
int cn_fuzz_table_seeds(const char *dir, CnErr *err) {
    int rc = setup(err);
    static const char *const names[] = {"ok-meta.bin", "ok-list.bin", "ok-manifest.bin"};
    for (int i = 0; rc == 0 && i < 3; i++) {
        char *buf = cn_malloc(g.orig_len[i] + 1);
        if (!buf) return cn_err_set(err, CN_ENOMEM, "out of memory");
        buf[0] = (char)i;
        memcpy(buf + 1, g.orig[i], g.orig_len[i]);
        swap_all(buf + 1, g.orig_len[i], strrchr(g.root, '/') + 1, PLACEHOLDER);
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (write_file(p, buf, g.orig_len[i] + 1) < 0) rc = cn_err_set(err, CN_EIO, "cannot write %s", p);
        cn_free(buf);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    CnErr err = CN_ERR_INIT;
    cn_fuzz_table_one(data, size, &err);
    return 0;
}
