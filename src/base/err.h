/* err.h: CnErr, the error carried up the stack.
 * A fallible function returns int (0 OK, negative CN_E* / CHRONON_E* or -errno) and,
 * when it can explain the failure, fills the CnErr passed last. The message names the
 * file, field and value, and what was expected.
 * INVARIANT: the first error sticks; cn_err_set() on an error already set is a no-op,
 *   because later failures are usually consequences of the first.
 * THREADS: a CnErr belongs to one thread. */
#ifndef CN_ERR_H
#define CN_ERR_H

#include "base/compat.h"
#include "chronon.h"

#define CN_ERR_MSG_MAX 1024

/* Internal aliases of the public codes. */
#define CN_EINVAL CHRONON_EINVAL
#define CN_ENOMEM CHRONON_ENOMEM
#define CN_EIO CHRONON_EIO
#define CN_ENOTFOUND CHRONON_ENOTFOUND
#define CN_ECORRUPT CHRONON_ECORRUPT
#define CN_EUNSUPPORTED CHRONON_EUNSUPPORTED
#define CN_ECONFIG CHRONON_ECONFIG
#define CN_ECONFLICT CHRONON_ECONFLICT
#define CN_EEXISTS CHRONON_EEXISTS
#define CN_ETYPE CHRONON_ETYPE
#define CN_ELIMIT CHRONON_ELIMIT
#define CN_EREMOTE CHRONON_EREMOTE
#define CN_EINTERNAL CHRONON_EINTERNAL

typedef struct CnErr {
    int code;               /* 0 while no error is set */
    const char *file;       /* source file:line where it was first set */
    int line;
    char msg[CN_ERR_MSG_MAX];
} CnErr;

#define CN_ERR_INIT {0, NULL, 0, {0}}

void cn_err_clear(CnErr *err);
/* Sets the error unless one is set already; returns code (so `return cn_err_set(...)`).
 * err may be NULL. */
#define cn_err_set(err, code, ...) cn_err__set((err), (code), __FILE__, __LINE__, __VA_ARGS__)
int cn_err__set(CnErr *err, int code, const char *file, int line, const char *fmt, ...)
    CN_PRINTF(5, 6) CN_COLD;
/* If rc < 0, prefixes the message with "<context>: " and returns rc; else returns rc.
 * Use on the way up to say what was being done. */
int cn_err_ctx(CnErr *err, int rc, const char *fmt, ...) CN_PRINTF(3, 4);
/* The message, or the code's description if no message was given. */
const char *cn_err_msg(const CnErr *err);

/* Guards untrusted bytes: on failure sets CN_ECORRUPT with the message and jumps to
 * the function's cleanup label `done` with rc set. */
#define CN_CHECK_DATA(cond, err, rc, ...)                                     \
    do {                                                                      \
        if (CN_UNLIKELY(!(cond))) {                                           \
            (rc) = cn_err__set((err), CN_ECORRUPT, __FILE__, __LINE__, __VA_ARGS__); \
            goto done;                                                        \
        }                                                                     \
    } while (0)

/* Guards our own invariants; aborts with file:line. Never for input we did not write. */
#define CN_ASSERT(x)                                                          \
    do {                                                                      \
        if (CN_UNLIKELY(!(x))) cn__assert_fail(#x, __FILE__, __LINE__);      \
    } while (0)
CN_NORETURN CN_COLD void cn__assert_fail(const char *expr, const char *file, int line);

#endif /* CN_ERR_H */
