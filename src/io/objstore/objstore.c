/* objstore.c: URI parsing, key checks, the test fault hook and dispatch to the
 * local or S3 backend (obj_local.c, obj_s3.c). See objstore.h for the contract. */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "io/objstore/obj_int.h"

static const char *const OP_NAMES[CN_OBJ__N_OPS] = {"put", "get", "head", "list", "delete"};

static int parse_faults(CnObjStore *s, CnErr *err) {
    const char *spec = getenv("CN_TEST_OBJ_FAIL");
    if (!spec || !*spec) return 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (s->n_faults == CN_OBJ__MAX_FAULTS)
            return cn_err_set(err, CN_EINVAL, "CN_TEST_OBJ_FAIL: more than %d entries",
                              CN_OBJ__MAX_FAULTS);
        CnObjFault f = {-1, 0, false};
        char *colon = strchr(item, ':');
        if (!colon) goto bad;
        *colon = 0;
        if (strcmp(item, "any") != 0) {
            for (int i = 0; i < CN_OBJ__N_OPS; i++)
                if (strcmp(item, OP_NAMES[i]) == 0) f.op = i;
            if (f.op < 0) goto bad;
        }
        char *end = NULL;
        unsigned long long n = strtoull(colon + 1, &end, 10);
        if (end == colon + 1 || n == 0) goto bad;
        if (*end == ':' && strcmp(end + 1, "crash") == 0) f.crash = true;
        else if (*end) goto bad;
        f.nth = n;
        s->faults[s->n_faults++] = f;
        continue;
    bad:
        return cn_err_set(err, CN_EINVAL,
                          "CN_TEST_OBJ_FAIL=\"%s\": expected op:n[:crash] entries with op one "
                          "of put,get,head,list,delete,any and n >= 1",
                          spec);
    }
    return 0;
}

/* Counts the call and applies an injected fault, if one is due. */
static int fault_check(CnObjStore *s, int op, const char *key, CnErr *err) {
    if (s->n_faults == 0) return 0;
    uint64_t nth = ++s->calls[op];
    uint64_t nany = ++s->calls_any;
    for (int i = 0; i < s->n_faults; i++) {
        const CnObjFault *f = &s->faults[i];
        if (f->op == -1 ? f->nth != nany : (f->op != op || f->nth != nth)) continue;
        if (f->crash) {
            fprintf(stderr, "chronon: CN_TEST_OBJ_FAIL: crashing before %s #%llu of %s\n",
                    OP_NAMES[op], (unsigned long long)nth, key);
            fflush(stderr);
            _exit(86);
        }
        return cn_err_set(err, CN_EIO, "%s %s/%s: injected fault (CN_TEST_OBJ_FAIL, call %llu)",
                          OP_NAMES[op], s->root, key, (unsigned long long)nth);
    }
    return 0;
}

/* Keys are relative, '/'-separated, with no empty, "." or ".." segments: the same key
 * must name the same object on every backend. A list prefix may end in '/' or be "". */
static int check_key(const CnObjStore *s, const char *key, bool is_prefix, CnErr *err) {
    if (!key) return cn_err_set(err, CN_EINVAL, "%s: NULL key", s->root);
    size_t n = strlen(key);
    if (n == 0 && is_prefix) return 0;
    if (n == 0 || n > 1024)
        return cn_err_set(err, CN_EINVAL, "%s: key of %zu bytes, expected 1..1024", s->root, n);
    const char *seg = key;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && key[i] != '/') {
            if ((unsigned char)key[i] < 0x20)
                return cn_err_set(err, CN_EINVAL, "%s: key \"%s\" has a control character",
                                  s->root, key);
            continue;
        }
        size_t sl = (size_t)(key + i - seg);
        bool last = i == n;
        if ((sl == 0 && !(last && is_prefix && i > 0)) || (sl == 1 && seg[0] == '.') ||
            (sl == 2 && seg[0] == '.' && seg[1] == '.'))
            return cn_err_set(err, CN_EINVAL,
                              "%s: bad key \"%s\": expected a relative path without empty, "
                              "\".\" or \"..\" segments",
                              s->root, key);
        seg = key + i + 1;
    }
    return 0;
}

int cn_obj_open(const char *uri, const CnObjOptions *opt, CnObjStore **out, CnErr *err) {
    *out = NULL;
    CnObjStore *s = NULL;
    char *tmp = NULL;
    int rc = 0;
    if (!uri || !*uri) return cn_err_set(err, CN_EINVAL, "object store: empty URI");
    if (strncmp(uri, "s3://", 5) == 0) {
        const char *b = uri + 5;
        const char *slash = strchr(b, '/');
        size_t bl = slash ? (size_t)(slash - b) : strlen(b);
        if (bl < 3 || bl > 63) {
            rc = cn_err_set(err, CN_EINVAL, "%s: bucket name of %zu characters, expected 3..63",
                            uri, bl);
            goto done;
        }
        for (size_t i = 0; i < bl; i++) {
            char c = b[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) {
                rc = cn_err_set(err, CN_EINVAL,
                                "%s: bucket name has '%c', expected lower-case letters, digits, "
                                "'-' or '.'",
                                uri, c);
                goto done;
            }
        }
        tmp = cn_strndup(b, bl);
        if (!tmp) {
            rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", uri);
            goto done;
        }
        const char *prefix = slash ? slash + 1 : "";
        rc = cn_obj__s3_open(tmp, prefix, &s, err);
    } else if (strncmp(uri, "file://", 7) == 0 || uri[0] == '/') {
        const char *path = uri[0] == '/' ? uri : uri + 7;
        if (path[0] != '/') {
            rc = cn_err_set(err, CN_EINVAL, "%s: expected file:///absolute/path", uri);
            goto done;
        }
        rc = cn_obj__local_open(path, &s, err);
    } else if (strstr(uri, "://")) {
        rc = cn_err_set(err, CN_EINVAL,
                        "%s: unsupported URI scheme, expected s3://, file:// or a path", uri);
        goto done;
    } else {
        /* a relative plain path: anchor it at the working directory */
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd)) {
            rc = cn_err_set(err, -errno, "%s: cannot resolve relative path: %s", uri,
                            strerror(errno));
            goto done;
        }
        size_t need = strlen(cwd) + strlen(uri) + 2;
        tmp = cn_malloc(need);
        if (!tmp) {
            rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", uri);
            goto done;
        }
        snprintf(tmp, need, "%s/%s", cwd, uri);
        rc = cn_obj__local_open(tmp, &s, err);
    }
    if (rc < 0) goto done;
    CnObjOptions o = opt ? *opt : (CnObjOptions){0};
    if (o.part_size == 0) o.part_size = 8u << 20;
    if (o.multipart_threshold == 0) o.multipart_threshold = o.part_size;
    if (o.max_retries == 0) o.max_retries = 4;
    if (o.max_retries < 0) o.max_retries = 0;
    if (o.backoff_ms <= 0) o.backoff_ms = 100;
    if (o.connect_timeout_ms <= 0) o.connect_timeout_ms = 5000;
    if (o.timeout_ms <= 0) o.timeout_ms = 600000;
    s->opt = o;
    rc = parse_faults(s, err);
done:
    cn_free(tmp);
    if (rc < 0) {
        cn_obj_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void cn_obj_close(CnObjStore *s) {
    if (!s) return;
    s->ops->close(s);
}

const char *cn_obj_root(const CnObjStore *s) { return s->root; }

bool cn_obj_has_put_if_absent(const CnObjStore *s) { return s->atomic_if_absent; }

int cn_obj_uri(const CnObjStore *s, const char *key, CnBuf *out) {
    cn_buf_reset(out);
    cn_buf_puts(out, s->root);
    cn_buf_putc(out, '/');
    cn_buf_puts(out, key);
    return out->oom ? CN_ENOMEM : 0;
}

int cn_obj_key_of(const CnObjStore *s, const char *uri, const char **key, CnErr *err) {
    size_t rl = strlen(s->root);
    const char *u = uri;
    /* a plain absolute path names the same thing as file://path */
    if (uri[0] == '/' && strncmp(s->root, "file://", 7) == 0) {
        rl -= 7;
        if (strncmp(uri, s->root + 7, rl) == 0 && uri[rl] == '/' && uri[rl + 1]) {
            *key = uri + rl + 1;
            return 0;
        }
    } else if (strncmp(u, s->root, rl) == 0 && u[rl] == '/' && u[rl + 1]) {
        *key = u + rl + 1;
        return 0;
    }
    return cn_err_set(err, CN_EINVAL, "%s: not under the store root %s", uri, s->root);
}

int cn_obj_put(CnObjStore *s, const char *key, const void *data, size_t len, CnErr *err) {
    int rc = check_key(s, key, false, err);
    if (rc == 0) rc = fault_check(s, CN_OBJ__OP_PUT, key, err);
    if (rc == 0) rc = s->ops->put(s, key, data, len, false, err);
    return rc;
}

int cn_obj_put_if_absent(CnObjStore *s, const char *key, const void *data, size_t len,
                         CnErr *err) {
    int rc = check_key(s, key, false, err);
    if (rc == 0) rc = fault_check(s, CN_OBJ__OP_PUT, key, err);
    if (rc == 0) rc = s->ops->put(s, key, data, len, true, err);
    return rc;
}

int cn_obj_get(CnObjStore *s, const char *key, CnBuf *out, CnErr *err) {
    cn_buf_reset(out);
    int rc = check_key(s, key, false, err);
    if (rc == 0) rc = fault_check(s, CN_OBJ__OP_GET, key, err);
    if (rc == 0) rc = s->ops->get(s, key, 0, SIZE_MAX, out, err);
    return rc;
}

int cn_obj_get_range(CnObjStore *s, const char *key, uint64_t off, size_t len, CnBuf *out,
                     CnErr *err) {
    cn_buf_reset(out);
    int rc = check_key(s, key, false, err);
    if (rc == 0) rc = fault_check(s, CN_OBJ__OP_GET, key, err);
    if (rc == 0 && len == 0) return 0;
    if (rc == 0 && len == SIZE_MAX) len--;
    if (rc == 0) rc = s->ops->get(s, key, off, len, out, err);
    return rc;
}

int cn_obj_head(CnObjStore *s, const char *key, uint64_t *size, CnErr *err) {
    int rc = check_key(s, key, false, err);
    if (rc == 0) rc = fault_check(s, CN_OBJ__OP_HEAD, key, err);
    if (rc == 0) rc = s->ops->head(s, key, size, err);
    return rc;
}

int cn_obj_list(CnObjStore *s, const char *prefix, CnObjListFn fn, void *ud, CnErr *err) {
    if (!prefix) prefix = "";
    int rc = check_key(s, prefix, true, err);
    if (rc == 0) rc = fault_check(s, CN_OBJ__OP_LIST, prefix, err);
    if (rc == 0) rc = s->ops->list(s, prefix, fn, ud, err);
    return rc;
}

int cn_obj_delete(CnObjStore *s, const char *key, CnErr *err) {
    int rc = check_key(s, key, false, err);
    if (rc == 0) rc = fault_check(s, CN_OBJ__OP_DELETE, key, err);
    if (rc == 0) rc = s->ops->del(s, key, err);
    return rc;
}

/* ---- XML helpers for S3 replies ---- */

bool cn_obj__xml_find(const char *p, size_t len, size_t *pos, const char *tag,
                      const char **val, size_t *val_len) {
    char open[64], close[64];
    int ol = snprintf(open, sizeof open, "<%s>", tag);
    int cl = snprintf(close, sizeof close, "</%s>", tag);
    if (ol <= 0 || cl <= 0 || (size_t)ol >= sizeof open || (size_t)cl >= sizeof close)
        return false;
    for (size_t i = *pos; i + (size_t)ol <= len; i++) {
        if (p[i] != '<' || memcmp(p + i, open, (size_t)ol) != 0) continue;
        size_t start = i + (size_t)ol;
        for (size_t j = start; j + (size_t)cl <= len; j++) {
            if (p[j] == '<' && memcmp(p + j, close, (size_t)cl) == 0) {
                *val = p + start;
                *val_len = j - start;
                *pos = j + (size_t)cl;
                return true;
            }
        }
        return false;
    }
    return false;
}

int cn_obj__xml_unescape(const char *v, size_t n, CnBuf *out) {
    static const struct { const char *ent; char c; } ENTS[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (size_t i = 0; i < n; i++) {
        if (v[i] != '&') {
            cn_buf_putc(out, v[i]);
            continue;
        }
        bool done = false;
        for (size_t e = 0; e < CN_ARRAY_LEN(ENTS) && !done; e++) {
            size_t el = strlen(ENTS[e].ent);
            if (i + el <= n && memcmp(v + i, ENTS[e].ent, el) == 0) {
                cn_buf_putc(out, ENTS[e].c);
                i += el - 1;
                done = true;
            }
        }
        if (!done && i + 3 < n && v[i + 1] == '#') {
            /* numeric reference: &#NN; or &#xHH; (keys are UTF-8) */
            size_t j = i + 2;
            int base = 10;
            if (v[j] == 'x' || v[j] == 'X') {
                base = 16;
                j++;
            }
            unsigned long cp = 0;
            size_t k = j;
            while (k < n && k < j + 8 && v[k] != ';') {
                int d = -1;
                char c = v[k];
                if (c >= '0' && c <= '9') d = c - '0';
                else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
                else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
                if (d < 0) break;
                cp = cp * (unsigned long)base + (unsigned long)d;
                k++;
            }
            if (k < n && v[k] == ';' && k > j && cp < 0x110000) {
                if (cp < 0x80) {
                    cn_buf_putc(out, (char)cp);
                } else if (cp < 0x800) {
                    cn_buf_putc(out, (char)(0xC0 | (cp >> 6)));
                    cn_buf_putc(out, (char)(0x80 | (cp & 0x3F)));
                } else if (cp < 0x10000) {
                    cn_buf_putc(out, (char)(0xE0 | (cp >> 12)));
                    cn_buf_putc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
                    cn_buf_putc(out, (char)(0x80 | (cp & 0x3F)));
                } else {
                    cn_buf_putc(out, (char)(0xF0 | (cp >> 18)));
                    cn_buf_putc(out, (char)(0x80 | ((cp >> 12) & 0x3F)));
                    cn_buf_putc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
                    cn_buf_putc(out, (char)(0x80 | (cp & 0x3F)));
                }
                i = k;
                done = true;
            }
        }
        if (!done) cn_buf_putc(out, '&');
    }
    return out->oom ? CN_ENOMEM : 0;
}
