/* One piece of a sandbox's setup made ahead, on a thread of its own, by a
 * program that runs one sandbox (sbx run): the thread makes it while the caller
 * reads its options, and the run takes it when it gets there. */
#ifndef SBX_RUNTIME_PRESTART_H
#define SBX_RUNTIME_PRESTART_H

#include <pthread.h>
#include <stdbool.h>

typedef struct rt_prestart {
    void *(*make)(void);       /* on the thread: the piece, or NULL when it failed */
    void (*after)(void);       /* on the thread once the piece is made (take waits); or NULL */
    pthread_mutex_t lock;
    pthread_t thread;
    void *stack;               /* the thread's mapping (guard page first), while it runs */
    bool running;              /* started and not taken */
    bool joined;               /* the thread has ended (its piece waits for take) */
    void *piece;
} rt_prestart;

#define RT_PRESTART_INIT(make_fn, after_fn)                                                   \
    {.make = (make_fn), .after = (after_fn), .lock = PTHREAD_MUTEX_INITIALIZER}

/* Starts the thread (once; a failure to start leaves nothing to take). */
void rt_prestart_start(rt_prestart *p);

/* Whether the thread was started and nobody took its piece yet (made, coming,
 * or failed: take then says NULL); does not wait. */
bool rt_prestart_pending(rt_prestart *p);

/* Waits for the thread to end; its piece stays for take (still pending). One
 * caller at a time, as for take. */
void rt_prestart_join(rt_prestart *p);

/* Waits for the thread to end and takes its piece: NULL when there is none
 * (never started, failed, or taken). One caller at a time. */
void *rt_prestart_take(rt_prestart *p);

#endif
