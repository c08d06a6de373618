#include "prestart.h"

static void *prestart_main(void *arg)
{
    rt_prestart *p = arg;
    void *piece = p->make();
    pthread_mutex_lock(&p->lock);
    p->piece = piece;
    p->ready = true;
    pthread_cond_signal(&p->made);
    pthread_mutex_unlock(&p->lock);
    if (p->after)
        p->after();
    return NULL;
}

void rt_prestart_start(rt_prestart *p)
{
    pthread_mutex_lock(&p->lock);
    if (!p->running && !p->ready)
        p->running = pthread_create(&p->thread, NULL, prestart_main, p) == 0;
    pthread_mutex_unlock(&p->lock);
}

bool rt_prestart_pending(rt_prestart *p)
{
    pthread_mutex_lock(&p->lock);
    bool pending = p->running && (!p->ready || p->piece);
    pthread_mutex_unlock(&p->lock);
    return pending;
}

void *rt_prestart_take(rt_prestart *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->running && !p->ready)
        pthread_cond_wait(&p->made, &p->lock);
    void *piece = p->piece;
    p->piece = NULL;
    pthread_mutex_unlock(&p->lock);
    return piece;
}

void *rt_prestart_end(rt_prestart *p)
{
    pthread_mutex_lock(&p->lock);
    bool running = p->running;
    pthread_mutex_unlock(&p->lock);
    if (running)
        pthread_join(p->thread, NULL);
    pthread_mutex_lock(&p->lock);
    void *piece = p->piece;
    p->piece = NULL;
    p->running = p->ready = false;
    pthread_mutex_unlock(&p->lock);
    return piece;
}
