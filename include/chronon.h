/* chronon.h: the embeddable chronon-c API.
 * Opaque handles and error codes only; everything else is private to src/.
 * Errors: functions return 0 on success or a negative CHRONON_E* code; our codes sit
 * below -1000 so that -errno values pass through unchanged.
 * THREADS: stated per handle type as the API grows (see docs/). */
#ifndef CHRONON_H
#define CHRONON_H

#ifdef __cplusplus
extern "C" {
#endif

#define CHRONON_VERSION_STRING "0.1.0"

/* X-macro: name, value, description. The one list of error codes. */
#define CHRONON_ERR_MAP(X)                                                    \
    X(INVAL,       -1001, "invalid argument")                                \
    X(NOMEM,       -1002, "out of memory")                                   \
    X(IO,          -1003, "input/output error")                              \
    X(NOTFOUND,    -1004, "not found")                                       \
    X(CORRUPT,     -1005, "corrupt or malformed data")                       \
    X(UNSUPPORTED, -1006, "unsupported feature")                             \
    X(CONFIG,      -1007, "invalid configuration")                           \
    X(CONFLICT,    -1008, "conflicting concurrent change")                   \
    X(EXISTS,      -1009, "already exists")                                  \
    X(TYPE,        -1010, "type mismatch")                                   \
    X(LIMIT,       -1011, "resource limit exceeded")                         \
    X(REMOTE,      -1012, "remote service error")                            \
    X(INTERNAL,    -1013, "internal error")

enum {
#define CHRONON_ERR_ENUM_(name, val, desc) CHRONON_E##name = (val),
    CHRONON_ERR_MAP(CHRONON_ERR_ENUM_)
#undef CHRONON_ERR_ENUM_
};

/* Human-readable description of an error code (never NULL). */
const char *chronon_strerror(int code);
/* Symbolic name ("CHRONON_ENOTFOUND", or "errno:N" for -errno values). */
const char *chronon_err_name(int code);
/* Library version string. */
const char *chronon_version(void);

#ifdef __cplusplus
}
#endif
#endif /* CHRONON_H */
