/* A table of entries by their string key, so that the engine finds an active
 * workflow by id without walking thousands that wait. Intrusive: the caller
 * embeds an orch_index_entry in what it indexes and keeps the key alive while
 * the entry is in. Keys are unique. Not thread-safe: the engine's lock guards
 * it. */
#ifndef SBX_ORCHESTRATOR_INDEX_H
#define SBX_ORCHESTRATOR_INDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct orch_index_entry {
    struct orch_index_entry *next;
    const char *key;
    uint64_t hash;
} orch_index_entry;

typedef struct orch_index {
    orch_index_entry **buckets;
    size_t n, n_buckets;        /* n_buckets: 0 or a power of two */
} orch_index;

/* Adds x under key (which must not be in already). -1 with errno ENOMEM when
 * the table could not be made; when only growing it failed, x is added to the
 * table as it is (longer chains, still correct). */
int orch_index_add(orch_index *t, orch_index_entry *x, const char *key);

/* The entry with this key, or NULL. */
orch_index_entry *orch_index_find(const orch_index *t, const char *key);

/* Takes x out; x must be in. */
void orch_index_remove(orch_index *t, orch_index_entry *x);

/* Frees the table itself (not the entries). */
void orch_index_free(orch_index *t);

#endif
