#include "admission.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Each waiter sleeps on its own condition, so a free slot wakes exactly the
 * request at the head of the line, not the whole queue. */
struct waiter {
    pthread_cond_t turn;
    struct waiter *next;
    bool granted;
};

struct sd_admission {
    pthread_mutex_t lock;
    pthread_cond_t idle;        /* drain waits on it */
    unsigned max_running, max_queue;
    unsigned running, queued;
    struct waiter *head, *tail; /* FIFO */
    bool closed;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void cond_init(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
}

sd_admission *sd_admission_new(unsigned max_running, unsigned max_queue)
{
    sd_admission *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    pthread_mutex_init(&a->lock, NULL);
    cond_init(&a->idle);
    a->max_running = max_running;
    a->max_queue = max_queue;
    return a;
}

void sd_admission_free(sd_admission *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->idle);
    free(a);
}

/* Hands free slots to the head of the line; called with the lock held. */
static void grant(sd_admission *a)
{
    while (a->head && (a->closed || a->running < a->max_running)) {
        struct waiter *w = a->head;
        a->head = w->next;
        if (!a->head)
            a->tail = NULL;
        a->queued--;
        if (!a->closed) {
            a->running++;
            w->granted = true;
        }
        pthread_cond_signal(&w->turn);
    }
    if (a->running == 0 && a->queued == 0)
        pthread_cond_broadcast(&a->idle);
}

void sd_admission_resize(sd_admission *a, unsigned max_running, unsigned max_queue)
{
    pthread_mutex_lock(&a->lock);
    a->max_running = max_running;
    a->max_queue = max_queue;
    grant(a);
    pthread_mutex_unlock(&a->lock);
}

/* Takes the waiter out of the line when it gives up; the lock is held. */
static void unlink_waiter(sd_admission *a, struct waiter *w)
{
    struct waiter *prev = NULL;
    for (struct waiter *p = a->head; p; prev = p, p = p->next) {
        if (p != w)
            continue;
        if (prev)
            prev->next = w->next;
        else
            a->head = w->next;
        if (a->tail == w)
            a->tail = prev;
        a->queued--;
        return;
    }
}

static sd_admit enter(sd_admission *a, bool bounded, const atomic_int *stop, double *queued_ms)
{
    double t0 = now_ms();
    sd_admit res = SD_ADMIT_OK;
    pthread_mutex_lock(&a->lock);
    if (a->closed) {
        res = SD_ADMIT_CLOSED;
    } else if (!a->head && a->running < a->max_running) {
        a->running++;
    } else if (bounded && a->queued >= a->max_queue) {
        res = SD_ADMIT_FULL;
    } else {
        struct waiter w = {.granted = false};
        cond_init(&w.turn);
        if (a->tail)
            a->tail->next = &w;
        else
            a->head = &w;
        a->tail = &w;
        a->queued++;
        for (;;) {   /* grant() unlinks us before it signals */
            if (!stop) {
                pthread_cond_wait(&w.turn, &a->lock);
            } else {
                struct timespec dl;
                clock_gettime(CLOCK_MONOTONIC, &dl);
                dl.tv_nsec += 50 * 1000000L;
                if (dl.tv_nsec >= 1000000000L) {
                    dl.tv_sec++;
                    dl.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&w.turn, &a->lock, &dl);
            }
            if (w.granted || a->closed)
                break;
            if (stop && atomic_load(stop)) {
                unlink_waiter(a, &w);
                break;
            }
        }
        pthread_cond_destroy(&w.turn);
        res = w.granted ? SD_ADMIT_OK : SD_ADMIT_CLOSED;
    }
    pthread_mutex_unlock(&a->lock);
    *queued_ms = now_ms() - t0;
    return res;
}

sd_admit sd_admission_enter(sd_admission *a, double *queued_ms)
{
    return enter(a, true, NULL, queued_ms);
}

sd_admit sd_admission_enter_until(sd_admission *a, const atomic_int *stop, double *queued_ms)
{
    return enter(a, false, stop, queued_ms);
}

void sd_admission_leave(sd_admission *a)
{
    pthread_mutex_lock(&a->lock);
    a->running--;
    grant(a);
    pthread_mutex_unlock(&a->lock);
}

void sd_admission_close(sd_admission *a)
{
    pthread_mutex_lock(&a->lock);
    a->closed = true;
    grant(a);
    pthread_mutex_unlock(&a->lock);
}

bool sd_admission_drain(sd_admission *a, long timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&a->lock);
    while (a->running > 0 || a->queued > 0)
        if (pthread_cond_timedwait(&a->idle, &a->lock, &dl) != 0)
            break;
    bool idle = a->running == 0 && a->queued == 0;
    pthread_mutex_unlock(&a->lock);
    return idle;
}

void sd_admission_counts(sd_admission *a, unsigned *running, unsigned *queued)
{
    pthread_mutex_lock(&a->lock);
    *running = a->running;
    *queued = a->queued;
    pthread_mutex_unlock(&a->lock);
}
