/* obj_local.c: the object store over a local directory. A key is a relative path.
 * A put writes ".cntmp.*" beside the target, fsyncs it, then renames it into place
 * (or link(2)s it for put_if_absent, which fails with EEXIST atomically), then fsyncs
 * the directory, so a crash leaves the old object or the new one. Listing skips temp
 * names and returns keys in byte order, as S3 does. */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "io/objstore/obj_int.h"

#define TMP_PREFIX ".cntmp."

typedef struct LocalStore {
    CnObjStore base;
    char *dir;          /* OWNED: absolute, no trailing slash */
    uint64_t n_tmp;     /* makes temp names unique within the process */
} LocalStore;

static char *path_of(LocalStore *ls, const char *key) {
    size_t n = strlen(ls->dir) + strlen(key) + 2;
    char *p = cn_malloc(n);
    if (p) snprintf(p, n, "%s/%s", ls->dir, key);
    return p;
}

static int local_put(CnObjStore *s, const char *key, const void *data, size_t len,
                     bool if_absent, CnErr *err) {
    LocalStore *ls = (LocalStore *)s;
    char *path = path_of(ls, key), *tmp = NULL, *dir = NULL;
    int fd = -1, rc = 0;
    if (!path) {
        rc = cn_err_set(err, CN_ENOMEM, "put %s/%s: out of memory", s->root, key);
        goto done;
    }
    dir = cn_strdup(path);
    size_t tl = strlen(path) + 64;
    tmp = cn_malloc(tl);
    if (!dir || !tmp) {
        rc = cn_err_set(err, CN_ENOMEM, "put %s: out of memory", path);
        goto done;
    }
    char *slash = strrchr(dir, '/');
    *slash = 0;
    rc = cn_fs_mkdirs(dir, err);
    if (rc < 0) goto done;
    snprintf(tmp, tl, "%s/" TMP_PREFIX "%ld.%llu.%s", dir, (long)getpid(),
             (unsigned long long)ls->n_tmp++, slash + 1);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = cn_err_set(err, -errno, "put %s: cannot create %s: %s", path, tmp, strerror(errno));
        goto done;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            rc = cn_err_set(err, -errno, "put %s: write failed: %s", path, strerror(errno));
            goto done;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) < 0) {
        rc = cn_err_set(err, -errno, "put %s: fsync failed: %s", path, strerror(errno));
        goto done;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = cn_err_set(err, -errno, "put %s: close failed: %s", path, strerror(errno));
        goto done;
    }
    fd = -1;
    if (if_absent) {
        if (link(tmp, path) < 0) {
            int e = errno;
            if (e == EEXIST)
                rc = cn_err_set(err, CN_EEXISTS, "put_if_absent %s: object already exists", path);
            else
                rc = cn_err_set(err, -e, "put %s: link failed: %s", path, strerror(e));
            goto done;
        }
    } else if (rename(tmp, path) < 0) {
        rc = cn_err_set(err, -errno, "put %s: rename failed: %s", path, strerror(errno));
        goto done;
    }
    if (!if_absent) {
        cn_free(tmp);
        tmp = NULL;   /* renamed away: nothing to unlink */
    }
    int frc = cn_fs_sync_path(dir, NULL);
    if (frc < 0) rc = cn_err_set(err, frc, "put %s: fsync of directory failed", path);
done:
    if (fd >= 0) close(fd);
    if (tmp) unlink(tmp);
    cn_free(tmp);
    cn_free(dir);
    cn_free(path);
    return rc;
}

static int local_get(CnObjStore *s, const char *key, uint64_t off, size_t len, CnBuf *out,
                     CnErr *err) {
    LocalStore *ls = (LocalStore *)s;
    char *path = path_of(ls, key);
    int fd = -1, rc = 0;
    if (!path) {
        rc = cn_err_set(err, CN_ENOMEM, "get %s/%s: out of memory", s->root, key);
        goto done;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        rc = cn_err_set(err, e == ENOENT || e == ENOTDIR ? CN_ENOTFOUND : -e, "get %s: %s", path,
                        e == ENOENT || e == ENOTDIR ? "no such object" : strerror(e));
        goto done;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = cn_err_set(err, CN_ENOTFOUND, "get %s: no such object (not a regular file)", path);
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (off >= size) goto done;
    uint64_t want = size - off;
    if (len != SIZE_MAX && (uint64_t)len < want) want = len;
    if (want > SIZE_MAX / 2) {
        rc = cn_err_set(err, CN_ELIMIT, "get %s: %llu bytes do not fit in memory", path,
                        (unsigned long long)want);
        goto done;
    }
    if (cn_buf_reserve(out, (size_t)want)) {
        rc = cn_err_set(err, CN_ENOMEM, "get %s: out of memory for %llu bytes", path,
                        (unsigned long long)want);
        goto done;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, out->data + got, (size_t)want - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = cn_err_set(err, -errno, "get %s: read failed: %s", path, strerror(errno));
            goto done;
        }
        if (r == 0) break;  /* truncated under us: return what is there */
        got += (size_t)r;
    }
    out->len = got;
    out->data[got] = 0;
done:
    if (fd >= 0) close(fd);
    cn_free(path);
    return rc;
}

static int local_head(CnObjStore *s, const char *key, uint64_t *size, CnErr *err) {
    LocalStore *ls = (LocalStore *)s;
    char *path = path_of(ls, key);
    if (!path) return cn_err_set(err, CN_ENOMEM, "head %s/%s: out of memory", s->root, key);
    struct stat st;
    int rc = 0;
    if (stat(path, &st) < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            rc = cn_err_set(err, CN_ENOTFOUND, "head %s: no such object", path);
        else
            rc = cn_err_set(err, -e, "head %s: %s", path, strerror(e));
    } else if (!S_ISREG(st.st_mode)) {
        rc = cn_err_set(err, CN_ENOTFOUND, "head %s: no such object (not a regular file)", path);
    } else {
        *size = (uint64_t)st.st_size;
    }
    cn_free(path);
    return rc;
}

typedef struct KeyVec {
    CnObjEntry *v;
    size_t n, cap;
} KeyVec;

static int keyvec_push(KeyVec *kv, const char *key, uint64_t size) {
    if (kv->n == kv->cap) {
        size_t nc = kv->cap ? kv->cap * 2 : 64;
        CnObjEntry *nv = cn_realloc(kv->v, nc * sizeof *nv);
        if (!nv) return CN_ENOMEM;
        kv->v = nv;
        kv->cap = nc;
    }
    char *k = cn_strdup(key);
    if (!k) return CN_ENOMEM;
    kv->v[kv->n++] = (CnObjEntry){k, size};
    return 0;
}

/* Walks dir (whose key prefix is rel, "" at the root) collecting regular files whose
 * key starts with prefix. Depth is bounded by the path length limit. */
static int walk(const char *dir, const char *rel, const char *prefix, KeyVec *kv, CnErr *err) {
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR) return 0;
        return cn_err_set(err, -errno, "list %s: %s", dir, strerror(errno));
    }
    int rc = 0;
    CnBuf path = CN_BUF_INIT, key = CN_BUF_INIT;
    size_t pl = strlen(prefix);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0) continue;
        if (strncmp(nm, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) continue;
        cn_buf_reset(&path);
        cn_buf_printf(&path, "%s/%s", dir, nm);
        cn_buf_reset(&key);
        cn_buf_printf(&key, "%s%s%s", rel, *rel ? "/" : "", nm);
        if (path.oom || key.oom) {
            rc = cn_err_set(err, CN_ENOMEM, "list %s: out of memory", dir);
            goto done;
        }
        struct stat st;
        if (stat(path.data, &st) < 0) continue;  /* removed while listing */
        if (S_ISDIR(st.st_mode)) {
            /* descend only when keys below can still match the prefix */
            size_t kl = key.len;
            size_t cmp = CN_MIN(kl, pl);
            if (strncmp(key.data, prefix, cmp) != 0) continue;
            rc = walk(path.data, key.data, prefix, kv, err);
            if (rc < 0) goto done;
        } else if (S_ISREG(st.st_mode) && strncmp(key.data, prefix, pl) == 0) {
            if (keyvec_push(kv, key.data, (uint64_t)st.st_size)) {
                rc = cn_err_set(err, CN_ENOMEM, "list %s: out of memory", dir);
                goto done;
            }
        }
    }
done:
    closedir(d);
    cn_buf_fini(&path);
    cn_buf_fini(&key);
    return rc;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const CnObjEntry *)a)->key, ((const CnObjEntry *)b)->key);
}

static int local_list(CnObjStore *s, const char *prefix, CnObjListFn fn, void *ud, CnErr *err) {
    LocalStore *ls = (LocalStore *)s;
    KeyVec kv = {0};
    int rc = walk(ls->dir, "", prefix, &kv, err);
    if (rc < 0) goto done;
    if (kv.n > 1) qsort(kv.v, kv.n, sizeof *kv.v, cmp_entry);
    for (size_t i = 0; i < kv.n; i++) {
        rc = fn(ud, &kv.v[i]);
        if (rc != 0) break;
    }
done:
    for (size_t i = 0; i < kv.n; i++) cn_free((char *)kv.v[i].key);
    cn_free(kv.v);
    return rc;
}

static int local_del(CnObjStore *s, const char *key, CnErr *err) {
    LocalStore *ls = (LocalStore *)s;
    char *path = path_of(ls, key);
    if (!path) return cn_err_set(err, CN_ENOMEM, "delete %s/%s: out of memory", s->root, key);
    int rc = 0;
    if (unlink(path) < 0 && errno != ENOENT && errno != ENOTDIR)
        rc = cn_err_set(err, -errno, "delete %s: %s", path, strerror(errno));
    cn_free(path);
    return rc;
}

static void local_close(CnObjStore *s) {
    LocalStore *ls = (LocalStore *)s;
    cn_free(ls->dir);
    cn_free(s->root);
    cn_free(ls);
}

static const CnObjOps LOCAL_OPS = {"local", local_put, local_get, local_head,
                                   local_list, local_del, local_close};

int cn_obj__local_open(const char *dir, CnObjStore **out, CnErr *err) {
    LocalStore *ls = cn_calloc(1, sizeof *ls);
    if (!ls) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", dir);
    ls->base.ops = &LOCAL_OPS;
    ls->base.atomic_if_absent = true;
    ls->dir = cn_strdup(dir);
    size_t rl = strlen(dir) + 8;
    ls->base.root = cn_malloc(rl);
    if (!ls->dir || !ls->base.root) {
        local_close(&ls->base);
        return cn_err_set(err, CN_ENOMEM, "%s: out of memory", dir);
    }
    size_t n = strlen(ls->dir);
    while (n > 1 && ls->dir[n - 1] == '/') ls->dir[--n] = 0;
    snprintf(ls->base.root, rl, "file://%s", ls->dir);
    *out = &ls->base;
    return 0;
}
