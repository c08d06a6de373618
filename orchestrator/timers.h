/* A min-heap of deadlines, so that the workflow scheduler finds the runs whose
 * timer is due without looking at the others (thousands may wait days for an
 * approval). Intrusive: the caller embeds an orch_timer in what it schedules
 * and gets back to it with offsetof. Not thread-safe: the engine's lock
 * guards it. */
#ifndef SBX_ORCHESTRATOR_TIMERS_H
#define SBX_ORCHESTRATOR_TIMERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct orch_timer {
    int64_t at;                 /* when it is due; ORCH_TIMER_NEVER: not set */
    size_t slot;                /* 1 + its index in the heap, 0 when not in it */
} orch_timer;

#define ORCH_TIMER_NEVER INT64_MAX

typedef struct orch_timers {
    orch_timer **heap;
    size_t n, cap;
} orch_timers;

/* Sets x to be due at `at` (inserting or moving it); ORCH_TIMER_NEVER takes it
 * out. -1 with errno ENOMEM when the heap could not grow: x->at is set
 * anyway, x is not in the heap and the caller must look at it itself. */
int orch_timers_set(orch_timers *t, orch_timer *x, int64_t at);

/* Takes x out, if it is in. x->at is left as it was. */
void orch_timers_remove(orch_timers *t, orch_timer *x);

/* The earliest timer, or NULL when there is none. */
orch_timer *orch_timers_first(const orch_timers *t);

/* Frees the heap itself (not the timers). */
void orch_timers_free(orch_timers *t);

#endif
