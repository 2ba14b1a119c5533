/* pool.h: a few worker threads for one parallel step (decode, fold, encode).
 * No queue and no idle threads: a step starts its threads, they share the work through
 * their own counters or hand-offs, and the step joins them before returning, so the
 * threads never outlive the data they read.
 * Thread count: CN_THREADS (an integer >= 1) when set, else the online CPUs; 1 means the
 * caller does everything itself, exactly as single-threaded code would.
 * THREADS: every function may be called from any thread. */
#ifndef CN_POOL_H
#define CN_POOL_H

#include "base/err.h"

/* Threads a parallel step should use: CN_THREADS when it is an integer in [1, 256], else
 * the online CPUs (at least 1). */
uint32_t cn_pool_threads(void);

/* Body of thread t of n (0 <= t < n). */
typedef void (*CnPoolFn)(void *ud, uint32_t t);

/* Runs fn(ud, t) for t = 0..n-1, t = 0 on the calling thread and the others each on a
 * thread of its own, and returns when all have returned. When a thread cannot be
 * started, its body runs on the caller after fn(ud, 0): every t still runs exactly once
 * (bodies that wait for one another must not rely on running at the same time; see
 * cn_pool_start). n == 0 runs nothing. */
void cn_pool_run(uint32_t n, CnPoolFn fn, void *ud);

/* Starts fn(ud, t) for t = 0..n-1 on n new threads and returns at once, so the caller
 * can work beside them (e.g. write out, in order, what they produce). OWNED: *out, to
 * cn_pool_join exactly once. CN_ENOMEM, or CN_EIO when a thread cannot be started (the
 * ones already started are joined first, so nothing runs on return). */
typedef struct CnPoolJob CnPoolJob;
int cn_pool_start(uint32_t n, CnPoolFn fn, void *ud, CnPoolJob **out, CnErr *err);
/* Waits for every thread of j and frees it. NULL-safe. */
void cn_pool_join(CnPoolJob *j);

#endif /* CN_POOL_H */
