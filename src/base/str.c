/* str.c: CnBuf and string helpers. */
#include "base/compat.h"

#include "base/str.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

void cn_buf_fini(CnBuf *b) {
    cn_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

void cn_buf_reset(CnBuf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

int cn_buf_reserve(CnBuf *b, size_t extra) {
    if (b->oom) return CN_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    char *d = cn_realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return CN_ENOMEM;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int cn_buf_append(CnBuf *b, const void *p, size_t n) {
    if (cn_buf_reserve(b, n)) return CN_ENOMEM;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int cn_buf_puts(CnBuf *b, const char *s) { return cn_buf_append(b, s, strlen(s)); }

int cn_buf_putc(CnBuf *b, char c) { return cn_buf_append(b, &c, 1); }

int cn_buf_vprintf(CnBuf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return CN_EINVAL;
    if (cn_buf_reserve(b, (size_t)n)) return CN_ENOMEM;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int cn_buf_printf(CnBuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = cn_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *cn_buf_take(CnBuf *b) {
    if (!b->data && cn_buf_reserve(b, 0)) return NULL;
    if (b->len == 0) b->data[0] = 0;
    char *d = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void cn_str_sanitize(char *s) {
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_')) *s = '_';
}

bool cn_str_starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool cn_str_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

void cn_str_lower(char *s) {
    for (; *s; s++) *s = (char)tolower((unsigned char)*s);
}
