/* Tests orchestrator/timers.c: the scheduler's heap of deadlines, against a
 * plain array that is searched, through thousands of random operations. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "tap.h"
#include "timers.h"

#define N 200

static orch_timer timers[N];
static bool member[N];          /* what the heap should hold */

/* Whether the heap holds exactly the members, each at its slot, in heap order,
 * and its first is the earliest member. */
static bool consistent(const orch_timers *t)
{
    size_t members = 0;
    int64_t earliest = ORCH_TIMER_NEVER;
    for (size_t i = 0; i < N; i++) {
        if (member[i] != (timers[i].slot != 0))
            return false;
        if (!member[i])
            continue;
        members++;
        if (timers[i].at < earliest)
            earliest = timers[i].at;
        if (timers[i].slot > t->n || t->heap[timers[i].slot - 1] != &timers[i])
            return false;
    }
    for (size_t i = 1; i < t->n; i++)
        if (t->heap[(i - 1) / 2]->at > t->heap[i]->at)
            return false;
    const orch_timer *first = orch_timers_first(t);
    return members == t->n && (first ? first->at == earliest : members == 0);
}

int main(void)
{
    tap_plan(9);
    orch_timers t = {0};

    ok(orch_timers_first(&t) == NULL, "an empty heap has no first timer");
    orch_timers_remove(&t, &timers[0]);
    ok(t.n == 0 && timers[0].slot == 0, "removing a timer that is not in is nothing");

    /* Set, move (earlier and later), remove and set-to-never at random; the
     * keys come from a small range so that equal deadlines are common. */
    srandom(20261121);
    bool all_consistent = true;
    int ops = 0;
    for (; ops < 20000 && all_consistent; ops++) {
        size_t i = (size_t)random() % N;
        switch (random() % 4) {
        case 0:
        case 1:
            if (orch_timers_set(&t, &timers[i], random() % 500) < 0)
                all_consistent = false;
            member[i] = true;
            break;
        case 2:
            orch_timers_remove(&t, &timers[i]);
            member[i] = false;
            break;
        default:
            orch_timers_set(&t, &timers[i], ORCH_TIMER_NEVER);
            member[i] = false;
            break;
        }
        all_consistent = all_consistent && consistent(&t);
    }
    ok(all_consistent, "20,000 random sets, moves and removals keep the heap exact (%d done)",
       ops);
    ok(t.n > 0, "the heap is not empty at the end (%zu timers)", t.n);

    /* Taking the first until none is left gives every member, earliest first. */
    size_t members = t.n, taken = 0;
    int64_t last = INT64_MIN;
    bool in_order = true;
    for (orch_timer *x; (x = orch_timers_first(&t)); taken++) {
        in_order = in_order && x->at >= last;
        last = x->at;
        orch_timers_remove(&t, x);
        member[x - timers] = false;
    }
    ok(in_order && taken == members, "the timers come out earliest first (%zu of %zu)", taken,
       members);
    ok(consistent(&t) && t.n == 0, "and the heap is empty after them");

    /* Setting a timer to the deadline it has, and to never, then again. */
    orch_timers_set(&t, &timers[1], 10);
    orch_timers_set(&t, &timers[2], 20);
    orch_timers_set(&t, &timers[1], 10);
    member[1] = member[2] = true;
    ok(consistent(&t) && t.n == 2, "setting a timer to its own deadline keeps one entry");
    orch_timers_set(&t, &timers[1], ORCH_TIMER_NEVER);
    member[1] = false;
    ok(consistent(&t) && orch_timers_first(&t) == &timers[2] && timers[1].at == ORCH_TIMER_NEVER,
       "never takes it out; the next one comes first");
    orch_timers_set(&t, &timers[2], 5);
    ok(consistent(&t) && orch_timers_first(&t)->at == 5, "moving the only timer earlier");

    orch_timers_free(&t);
    return tap_done();
}
