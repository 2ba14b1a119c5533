/* err.c: error codes, CnErr, assertions. */
#include "base/compat.h"

#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *chronon_strerror(int code) {
    switch (code) {
#define X_(name, val, desc) case val: return desc;
        CHRONON_ERR_MAP(X_)
#undef X_
    default: break;
    }
    if (code == 0) return "success";
    if (code < 0 && code > -1000) return strerror(-code);
    return "unknown error";
}

const char *chronon_err_name(int code) {
    switch (code) {
#define X_(name, val, desc) case val: return "CHRONON_E" #name;
        CHRONON_ERR_MAP(X_)
#undef X_
    default: break;
    }
    if (code == 0) return "OK";
    return "errno";
}

const char *chronon_version(void) { return CHRONON_VERSION_STRING; }

void cn_err_clear(CnErr *err) {
    if (!err) return;
    err->code = 0;
    err->file = NULL;
    err->line = 0;
    err->msg[0] = 0;
}

int cn_err__set(CnErr *err, int code, const char *file, int line, const char *fmt, ...) {
    if (!err || err->code) return code;
    err->code = code;
    err->file = file;
    err->line = line;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    } else {
        err->msg[0] = 0;
    }
    return code;
}

int cn_err_ctx(CnErr *err, int rc, const char *fmt, ...) {
    if (rc >= 0 || !err) return rc;
    if (!err->code) {
        err->code = rc;
        snprintf(err->msg, sizeof err->msg, "%s", chronon_strerror(rc));
    }
    char ctx[CN_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    if (n <= 0) return rc;
    /* ctx + ": " + old message, cut to the buffer */
    char merged[CN_ERR_MSG_MAX];
    size_t a = strlen(ctx), b = strlen(err->msg);
    if (a > sizeof merged - 3) a = sizeof merged - 3;
    memcpy(merged, ctx, a);
    memcpy(merged + a, ": ", 2);
    if (b > sizeof merged - a - 3) b = sizeof merged - a - 3;
    memcpy(merged + a + 2, err->msg, b);
    merged[a + 2 + b] = 0;
    memcpy(err->msg, merged, sizeof merged);
    return rc;
}

const char *cn_err_msg(const CnErr *err) {
    if (!err || !err->code) return "no error";
    return err->msg[0] ? err->msg : chronon_strerror(err->code);
}

void cn__assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "chronon: internal error: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
