#include "hash.h"

#include <stdio.h>
#include <string.h>

static void mix(rt_hash *h, uint64_t w)
{
    h->a = (h->a ^ w) * 0xff51afd7ed558ccdull;
    h->a ^= h->a >> 32;
    h->b = (h->b ^ (w << 31 | w >> 33)) * 0xc4ceb9fe1a85ec53ull;
    h->b ^= h->b >> 29;
}

void rt_hash_init(rt_hash *h)
{
    h->a = 0x9e3779b97f4a7c15ull;
    h->b = 0xcbf29ce484222325ull;
}

void rt_hash_update(rt_hash *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t w;
    mix(h, len);
    for (; len >= sizeof w; p += sizeof w, len -= sizeof w) {
        memcpy(&w, p, sizeof w);
        mix(h, w);
    }
    w = 0;
    if (len)
        memcpy(&w, p, len);
    mix(h, w);
}

/* A last round so that the final word reaches every bit of both halves. */
static void finish(const rt_hash *h, uint64_t *a, uint64_t *b)
{
    uint64_t x = (h->a ^ h->b >> 17) * 0x94d049bb133111ebull;
    uint64_t y = (h->b ^ h->a >> 23) * 0xbf58476d1ce4e5b9ull;
    *a = x ^ x >> 31;
    *b = y ^ y >> 27;
}

void rt_hash_hex(const rt_hash *h, char out[33])
{
    uint64_t a, b;
    finish(h, &a, &b);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

uint64_t rt_hash_u64(const rt_hash *h)
{
    uint64_t a, b;
    finish(h, &a, &b);
    return a;
}
