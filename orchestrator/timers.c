/* A binary min-heap on orch_timer.at; each timer knows its slot, so moving or
 * removing one is O(log n) without a search. */
#include "timers.h"

#include <errno.h>
#include <stdlib.h>

static void place(orch_timers *t, size_t i, orch_timer *x)
{
    t->heap[i] = x;
    x->slot = i + 1;
}

/* Moves the timer at i up towards the root while it is due earlier than its
 * parent; returns whether it moved. */
static int sift_up(orch_timers *t, size_t i)
{
    orch_timer *x = t->heap[i];
    size_t start = i;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (t->heap[parent]->at <= x->at)
            break;
        place(t, i, t->heap[parent]);
        i = parent;
    }
    place(t, i, x);
    return i != start;
}

static void sift_down(orch_timers *t, size_t i)
{
    orch_timer *x = t->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= t->n)
            break;
        if (child + 1 < t->n && t->heap[child + 1]->at < t->heap[child]->at)
            child++;
        if (x->at <= t->heap[child]->at)
            break;
        place(t, i, t->heap[child]);
        i = child;
    }
    place(t, i, x);
}

/* Restores the order around slot i after its timer's `at` changed. */
static void reorder(orch_timers *t, size_t i)
{
    if (!sift_up(t, i))
        sift_down(t, i);
}

void orch_timers_remove(orch_timers *t, orch_timer *x)
{
    if (!x->slot)
        return;
    size_t i = x->slot - 1;
    x->slot = 0;
    orch_timer *last = t->heap[--t->n];
    if (i < t->n) {
        place(t, i, last);
        reorder(t, i);
    }
}

int orch_timers_set(orch_timers *t, orch_timer *x, int64_t at)
{
    x->at = at;
    if (at == ORCH_TIMER_NEVER) {
        orch_timers_remove(t, x);
        return 0;
    }
    if (x->slot) {
        reorder(t, x->slot - 1);
        return 0;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        orch_timer **heap = reallocarray(t->heap, cap, sizeof *heap);
        if (!heap) {
            errno = ENOMEM;
            return -1;
        }
        t->heap = heap;
        t->cap = cap;
    }
    place(t, t->n++, x);
    sift_up(t, t->n - 1);
    return 0;
}

orch_timer *orch_timers_first(const orch_timers *t)
{
    return t->n ? t->heap[0] : NULL;
}

void orch_timers_free(orch_timers *t)
{
    free(t->heap);
    t->heap = NULL;
    t->n = t->cap = 0;
}
