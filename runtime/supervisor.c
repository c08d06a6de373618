/* One epoll loop for many sandboxes: fds carry a struct rt_watch, deadlines are a
 * scan over the (short) list of sandboxes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "sandbox-internal.h"

struct rt_supervisor {
    int epfd;
    rt_sandbox *list;          /* every attached sandbox */
    size_t count;
    size_t done_count;
};

uint64_t rt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

rt_supervisor *rt_supervisor_new(rt_error *err)
{
    rt_supervisor *sup = calloc(1, sizeof *sup);
    if (!sup) {
        rt_error_set(err, errno, "allocating a supervisor");
        return NULL;
    }
    sup->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (sup->epfd < 0) {
        rt_error_set(err, errno, "epoll_create1");
        free(sup);
        return NULL;
    }
    return sup;
}

int rt_supervisor_watch(rt_supervisor *sup, struct rt_watch *w, uint32_t events, rt_error *err)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(sup->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
        return rt_error_set(err, errno, "epoll_ctl(ADD, fd %d)", w->fd);
    return 0;
}

void rt_supervisor_unwatch(rt_supervisor *sup, struct rt_watch *w)
{
    epoll_ctl(sup->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

void rt_sandbox_mark_done(rt_sandbox *sb)
{
    if (!sb->done) {
        sb->done = true;
        sb->sup->done_count++;
    }
}

static const rt_backend_ops *backend_for(const rt_spec *spec)
{
    (void)spec;
    return &rt_native_backend;
}

int rt_sandbox_start(rt_supervisor *sup, const rt_spec *spec, const rt_callbacks *cb,
                     rt_sandbox **out, rt_error *err)
{
    if (rt_spec_validate(spec, err) < 0)
        return -1;
    rt_sandbox *sb = calloc(1, sizeof *sb);
    if (!sb)
        return rt_error_set(err, errno, "allocating a sandbox");
    sb->ops = backend_for(spec);
    sb->sup = sup;
    if (cb)
        sb->cb = *cb;
    rt_result_init(&sb->result, spec->limits.output_bytes);
    if (sb->ops->start(sb, spec, err) < 0) {
        rt_result_free(&sb->result);
        free(sb);
        return -1;
    }
    sb->next = sup->list;
    sup->list = sb;
    sup->count++;
    *out = sb;
    return 0;
}

void rt_sandbox_kill(rt_sandbox *sb, rt_status reason)
{
    if (!sb->done)
        sb->ops->kill(sb, reason);
}

static void run_deadlines(rt_supervisor *sup)
{
    uint64_t now = rt_now_ns();
    for (rt_sandbox *sb = sup->list; sb; sb = sb->next)
        if (!sb->done && sb->deadline_ns && sb->deadline_ns <= now)
            sb->ops->deadline(sb, now);
}

/* Milliseconds until the nearest deadline, capped by the caller's timeout. */
static int wait_ms(const rt_supervisor *sup, int timeout_ms)
{
    if (sup->done_count)
        return 0;              /* finished ones wait to be taken: do not block */
    uint64_t now = rt_now_ns(), next = 0;
    for (const rt_sandbox *sb = sup->list; sb; sb = sb->next)
        if (!sb->done && sb->deadline_ns && (!next || sb->deadline_ns < next))
            next = sb->deadline_ns;
    if (!next)
        return timeout_ms;
    uint64_t ms = next <= now ? 0 : (next - now + 999999) / 1000000;
    if (timeout_ms >= 0 && (uint64_t)timeout_ms < ms)
        return timeout_ms;
    return ms > 60000 ? 60000 : (int)ms;
}

int rt_supervisor_poll(rt_supervisor *sup, int timeout_ms, rt_error *err)
{
    size_t before = sup->done_count;
    struct epoll_event evs[32];
    int n = epoll_wait(sup->epfd, evs, 32, wait_ms(sup, timeout_ms));
    if (n < 0 && errno != EINTR)
        return rt_error_set(err, errno, "epoll_wait");
    for (int i = 0; i < n; i++) {
        struct rt_watch *w = evs[i].data.ptr;
        if (!w->sb->done)
            w->sb->ops->event(w->sb, w->tag, evs[i].events);
    }
    run_deadlines(sup);
    return (int)(sup->done_count - before);
}

static void detach(rt_supervisor *sup, rt_sandbox *sb)
{
    for (rt_sandbox **p = &sup->list; *p; p = &(*p)->next) {
        if (*p == sb) {
            *p = sb->next;
            sup->count--;
            if (sb->done)
                sup->done_count--;
            sb->sup = NULL;
            return;
        }
    }
}

rt_sandbox *rt_supervisor_take_done(rt_supervisor *sup)
{
    for (rt_sandbox *sb = sup->list; sb; sb = sb->next) {
        if (sb->done) {
            detach(sup, sb);
            return sb;
        }
    }
    return NULL;
}

size_t rt_supervisor_count(const rt_supervisor *sup)
{
    return sup->count;
}

void rt_sandbox_finish(rt_sandbox *sb, rt_result *out)
{
    sb->ops->release(sb);
    if (out)
        *out = sb->result;
    else
        rt_result_free(&sb->result);
    free(sb);
}

void rt_supervisor_free(rt_supervisor *sup)
{
    if (!sup)
        return;
    for (rt_sandbox *sb = sup->list; sb; sb = sb->next)
        rt_sandbox_kill(sb, RT_STATUS_CANCELLED);
    while (sup->done_count < sup->count)
        if (rt_supervisor_poll(sup, 1000, NULL) < 0)
            break;
    rt_sandbox *sb;
    while ((sb = sup->list)) {
        detach(sup, sb);
        rt_sandbox_finish(sb, NULL);
    }
    close(sup->epfd);
    free(sup);
}

int rt_run(const rt_spec *spec, const rt_callbacks *cb, rt_result *out, rt_error *err)
{
    rt_supervisor *sup = rt_supervisor_new(err);
    if (!sup)
        return -1;
    rt_sandbox *sb;
    if (rt_sandbox_start(sup, spec, cb, &sb, err) < 0) {
        rt_supervisor_free(sup);
        return -1;
    }
    while (!sb->done) {
        if (rt_supervisor_poll(sup, -1, err) < 0) {
            rt_supervisor_free(sup);
            return -1;
        }
    }
    detach(sup, sb);
    rt_sandbox_finish(sb, out);
    rt_supervisor_free(sup);
    return 0;
}
