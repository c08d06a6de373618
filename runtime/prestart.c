#include "prestart.h"

#include <sys/mman.h>

/* The threads' stacks are our own mappings, left out of a sandbox's clone: a
 * copy-on-write stack would make each of the thread's first writes to a page a
 * copy and a TLB shootdown on the CPU the parent runs on. */
#define STACK_SIZE (256 * 1024)
#define GUARD_SIZE 4096        /* below the stack, PROT_NONE: an overflow faults */

static void *prestart_main(void *arg)
{
    rt_prestart *p = arg;
    void *piece = p->make();
    pthread_mutex_lock(&p->lock);
    p->piece = piece;
    pthread_mutex_unlock(&p->lock);
    if (p->after)
        p->after();
    return NULL;
}

void rt_prestart_start(rt_prestart *p)
{
    pthread_mutex_lock(&p->lock);
    if (!p->running) {
        pthread_attr_t attr;
        char *map = mmap(NULL, GUARD_SIZE + STACK_SIZE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (map != MAP_FAILED && mprotect(map, GUARD_SIZE, PROT_NONE) == 0 &&
            madvise(map, GUARD_SIZE + STACK_SIZE, MADV_DONTFORK) == 0 &&
            pthread_attr_init(&attr) == 0) {
            p->running = pthread_attr_setstack(&attr, map + GUARD_SIZE, STACK_SIZE) == 0 &&
                         pthread_create(&p->thread, &attr, prestart_main, p) == 0;
            pthread_attr_destroy(&attr);
        }
        if (p->running)
            p->stack = map;
        else if (map != MAP_FAILED)
            munmap(map, GUARD_SIZE + STACK_SIZE);
    }
    pthread_mutex_unlock(&p->lock);
}

bool rt_prestart_pending(rt_prestart *p)
{
    pthread_mutex_lock(&p->lock);
    bool pending = p->running;
    pthread_mutex_unlock(&p->lock);
    return pending;
}

/* The thread is joined before its piece is used: whatever it still did after
 * the sandbox's clone (its `after`, its exit) would write to pages the clone
 * shares copy-on-write, and each such fault flushes the TLB of the CPU the
 * other threads run on (an IPI; about 6 of them per sbx run). */
void rt_prestart_join(rt_prestart *p)
{
    pthread_mutex_lock(&p->lock);
    bool join = p->running && !p->joined;
    pthread_mutex_unlock(&p->lock);
    if (!join)
        return;
    pthread_join(p->thread, NULL);
    munmap(p->stack, GUARD_SIZE + STACK_SIZE);
    pthread_mutex_lock(&p->lock);
    p->joined = true;
    pthread_mutex_unlock(&p->lock);
}

void *rt_prestart_take(rt_prestart *p)
{
    rt_prestart_join(p);
    pthread_mutex_lock(&p->lock);
    void *piece = p->piece;
    p->piece = NULL;
    p->running = p->joined = false;
    pthread_mutex_unlock(&p->lock);
    return piece;
}
