/* Chained hashing, the chains' heads in a power-of-two array that doubles when
 * the entries outnumber it. */
#include "index.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

static uint64_t hash_of(const char *key)
{
    rt_hash h;
    rt_hash_init(&h);
    rt_hash_update(&h, key, strlen(key));
    return rt_hash_u64(&h);
}

static bool grow(orch_index *t)
{
    size_t n = t->n_buckets ? 2 * t->n_buckets : 64;
    orch_index_entry **b = calloc(n, sizeof *b);
    if (!b)
        return false;
    for (size_t i = 0; i < t->n_buckets; i++)
        for (orch_index_entry *x = t->buckets[i], *next; x; x = next) {
            next = x->next;
            x->next = b[x->hash & (n - 1)];
            b[x->hash & (n - 1)] = x;
        }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = n;
    return true;
}

int orch_index_add(orch_index *t, orch_index_entry *x, const char *key)
{
    if (t->n >= t->n_buckets && !grow(t) && !t->n_buckets) {
        errno = ENOMEM;
        return -1;
    }
    x->key = key;
    x->hash = hash_of(key);
    orch_index_entry **head = &t->buckets[x->hash & (t->n_buckets - 1)];
    x->next = *head;
    *head = x;
    t->n++;
    return 0;
}

orch_index_entry *orch_index_find(const orch_index *t, const char *key)
{
    if (!t->n)
        return NULL;
    uint64_t h = hash_of(key);
    for (orch_index_entry *x = t->buckets[h & (t->n_buckets - 1)]; x; x = x->next)
        if (x->hash == h && strcmp(x->key, key) == 0)
            return x;
    return NULL;
}

void orch_index_remove(orch_index *t, orch_index_entry *x)
{
    orch_index_entry **p = &t->buckets[x->hash & (t->n_buckets - 1)];
    while (*p != x)
        p = &(*p)->next;
    *p = x->next;
    x->next = NULL;
    t->n--;
}

void orch_index_free(orch_index *t)
{
    free(t->buckets);
    t->buckets = NULL;
    t->n = t->n_buckets = 0;
}
