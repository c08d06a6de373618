/* Tests orchestrator/index.c: the engine's table of active workflows by id,
 * through its growth and removals. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "index.h"
#include "tap.h"

#define N 5000

static struct item {
    char key[32];
    orch_index_entry entry;
    bool in;
} items[N];

/* Whether every item that is in is found as itself, and no other is found. */
static bool all_found(const orch_index *t)
{
    for (size_t i = 0; i < N; i++) {
        orch_index_entry *x = orch_index_find(t, items[i].key);
        if (x != (items[i].in ? &items[i].entry : NULL))
            return false;
    }
    return true;
}

int main(void)
{
    tap_plan(9);
    orch_index t = {0};
    ok(orch_index_find(&t, "wf_x") == NULL, "an empty table finds nothing");

    bool added = true;
    for (size_t i = 0; i < N; i++) {
        /* ids like the engine's, and some that differ only at the end */
        snprintf(items[i].key, sizeof items[i].key, i % 2 ? "wf_%024zx" : "wf_same_prefix_%zu",
                 i * 2654435761u);
        added = added && orch_index_add(&t, &items[i].entry, items[i].key) == 0;
        items[i].in = true;
    }
    ok(added && t.n == N, "%d entries added (%zu)", N, t.n);
    ok(t.n_buckets >= N && (t.n_buckets & (t.n_buckets - 1)) == 0,
       "the table grew to a power of two at least as large (%zu)", t.n_buckets);
    ok(all_found(&t), "each is found as itself after the growth");
    ok(orch_index_find(&t, "wf_") == NULL && orch_index_find(&t, "") == NULL &&
           orch_index_find(&t, "wf_same_prefix_") == NULL,
       "keys that are not in, prefixes of those that are among them, are not found");

    for (size_t i = 0; i < N; i += 3) {
        orch_index_remove(&t, &items[i].entry);
        items[i].in = false;
    }
    ok(all_found(&t), "after removing every third, the others are found and they are not");
    ok(t.n == N - (N + 2) / 3, "the count follows (%zu)", t.n);

    orch_index_add(&t, &items[0].entry, items[0].key);
    items[0].in = true;
    ok(all_found(&t), "a removed entry added again is found again");

    for (size_t i = 0; i < N; i++)
        if (items[i].in)
            orch_index_remove(&t, &items[i].entry);
    ok(t.n == 0 && orch_index_find(&t, "wf_same_prefix_0") == NULL,
       "removing them all leaves it empty");
    orch_index_free(&t);
    return tap_done();
}
