/* compat.h: feature-test macros and compiler shims. The only place for them.
 * Every .c file in src/ includes this first (directly or via another base header). */
#ifndef CN_COMPAT_H
#define CN_COMPAT_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE 1
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#if defined(__GNUC__)
#define CN_COLD __attribute__((cold, noinline))
#define CN_LIKELY(x) __builtin_expect(!!(x), 1)
#define CN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define CN_NORETURN __attribute__((noreturn))
#define CN_UNUSED __attribute__((unused))
#else
#define CN_COLD
#define CN_LIKELY(x) (x)
#define CN_UNLIKELY(x) (x)
#define CN_PRINTF(a, b)
#define CN_NORETURN
#define CN_UNUSED
#endif

#define CN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* CN_COMPAT_H */
