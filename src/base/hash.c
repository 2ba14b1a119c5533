/* hash.c: byte hashing: 8-byte words folded through a 128-bit multiply. */
#include "base/hash.h"

#include <string.h>

static inline uint64_t mix(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t cn_hash_bytes(const void *p, size_t n, uint64_t seed) {
    const unsigned char *s = p;
    const uint64_t k0 = UINT64_C(0xa0761d6478bd642f), k1 = UINT64_C(0xe7037ed1a0b428db);
    uint64_t h = seed ^ mix(seed ^ k0, (uint64_t)n ^ k1);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = mix(h ^ w, k1);
        s += 8;
        n -= 8;
    }
    uint64_t t = 0;
    if (n) {
        memcpy(&t, s, n);
        h = mix(h ^ t ^ ((uint64_t)n << 56), k0);
    }
    return cn_hash_u64(h);
}
