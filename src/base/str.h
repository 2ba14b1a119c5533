/* str.h: growable byte buffer and small string helpers.
 * A CnBuf is always NUL-terminated when len > 0 or after any append, so ->data can be
 * used as a C string when it holds text. Appends report out-of-memory through a sticky
 * flag (->oom) so callers may check once at the end.
 * THREADS: one thread at a time. */
#ifndef CN_STR_H
#define CN_STR_H

#include <stdarg.h>
#include <string.h>

#include "base/compat.h"

typedef struct CnBuf {
    char *data;   /* OWNED: cn_buf_fini frees */
    size_t len, cap;
    bool oom;     /* sticky: set when an append could not grow the buffer */
} CnBuf;

#define CN_BUF_INIT {NULL, 0, 0, false}

void cn_buf_fini(CnBuf *b);
void cn_buf_reset(CnBuf *b);                    /* len = 0, keeps memory */
int cn_buf_reserve(CnBuf *b, size_t extra);     /* 0 or CN_ENOMEM */
int cn_buf_append(CnBuf *b, const void *p, size_t n);
int cn_buf_puts(CnBuf *b, const char *s);
int cn_buf_putc(CnBuf *b, char c);
int cn_buf_printf(CnBuf *b, const char *fmt, ...) CN_PRINTF(2, 3);
int cn_buf_vprintf(CnBuf *b, const char *fmt, va_list ap) CN_PRINTF(2, 0);
/* TRANSFERRED: returns the data (caller frees with cn_free) and empties b. */
char *cn_buf_take(CnBuf *b);

/* Chronon's sanitize: every char outside [A-Za-z0-9_] becomes '_'. In place. */
void cn_str_sanitize(char *s);
bool cn_str_starts_with(const char *s, const char *prefix);
bool cn_str_ends_with(const char *s, const char *suffix);
/* Lower-cases ASCII in place. */
void cn_str_lower(char *s);

/* Byte strings in unsigned byte order, a prefix before its extensions (Parquet's and
 * Iceberg's order of binary and string values): -1, 0 or 1. Empty strings may be NULL. */
static inline int cn_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return (alen > blen) - (alen < blen);
}

#endif /* CN_STR_H */
