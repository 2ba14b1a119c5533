/* hash.h: fast non-cryptographic 64-bit hashing for hash tables and key partitioning.
 * Stable across runs and machines (used to split keys across ranks), so the
 * constants never change. */
#ifndef CN_HASH_H
#define CN_HASH_H

#include "base/compat.h"

uint64_t cn_hash_bytes(const void *p, size_t n, uint64_t seed);

static inline uint64_t cn_hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

#endif /* CN_HASH_H */
