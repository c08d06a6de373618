/* A fast non-cryptographic hash for names of things the host made (cache files,
 * root templates) and for tables keyed by our own ids: 128 bits from two 64-bit
 * streams, eight bytes a step. What it hashes is the host's and ours, never a
 * sandbox's, so accidental collisions are all it has to avoid. */
#ifndef SBX_RUNTIME_HASH_H
#define SBX_RUNTIME_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct rt_hash {
    uint64_t a, b;
} rt_hash;

void rt_hash_init(rt_hash *h);

/* Adds len bytes; the pieces' boundaries count (their lengths are mixed in). */
void rt_hash_update(rt_hash *h, const void *data, size_t len);

/* 32 lower-case hex digits and a NUL. */
void rt_hash_hex(const rt_hash *h, char out[33]);

/* The first 64 bits of the same (what rt_hash_hex prints first). */
uint64_t rt_hash_u64(const rt_hash *h);

#endif
