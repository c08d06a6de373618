/* What a backend implements and what the supervisor offers it. */
#ifndef SBX_RUNTIME_SANDBOX_INTERNAL_H
#define SBX_RUNTIME_SANDBOX_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "sandbox.h"

struct rt_watch {
    rt_sandbox *sb;
    int fd;
    int tag;                   /* the backend's own name for the fd */
};

typedef struct rt_backend_ops {
    const char *name;
    int (*start)(rt_sandbox *sb, const rt_spec *spec, rt_error *err);
    void (*event)(rt_sandbox *sb, int tag, uint32_t events);
    void (*deadline)(rt_sandbox *sb, uint64_t now_ns);
    void (*kill)(rt_sandbox *sb, rt_status reason);
    void (*release)(rt_sandbox *sb);
} rt_backend_ops;

struct rt_sandbox {
    const rt_backend_ops *ops;
    rt_supervisor *sup;
    rt_callbacks cb;
    rt_result result;
    bool done;
    uint64_t deadline_ns;      /* monotonic; 0 = none */
    rt_sandbox *next;
    void *impl;
};

extern const rt_backend_ops rt_native_backend;

uint64_t rt_now_ns(void);

int rt_supervisor_watch(rt_supervisor *sup, struct rt_watch *w, uint32_t events,
                        rt_error *err);
void rt_supervisor_unwatch(rt_supervisor *sup, struct rt_watch *w);
/* Called by a backend once its result is complete. */
void rt_sandbox_mark_done(rt_sandbox *sb);

#endif
