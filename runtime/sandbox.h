/* Running sandboxes: a supervisor drives any number of them from one thread with
 * epoll (no thread per sandbox). rt_run is the one-call form. */
#ifndef SBX_RUNTIME_SANDBOX_H
#define SBX_RUNTIME_SANDBOX_H

#include <stddef.h>

#include "error.h"
#include "result.h"
#include "spec.h"

typedef struct rt_supervisor rt_supervisor;
typedef struct rt_sandbox rt_sandbox;

typedef struct rt_callbacks {
    /* Output as it arrives (stream 1 = stdout, 2 = stderr), only the part kept
     * within the output limit. May be NULL. */
    void (*on_output)(void *ctx, int stream, const char *data, size_t len);
    void *ctx;
} rt_callbacks;

/* A supervisor belongs to one thread; several supervisors may run in parallel. */
rt_supervisor *rt_supervisor_new(rt_error *err);
/* Kills, reaps and frees every sandbox still attached. */
void rt_supervisor_free(rt_supervisor *sup);

/* Starts a sandbox on the spec's backend. The spec is not referenced after the
 * call returns. On a setup failure inside the sandbox this still succeeds: the
 * result says status error with the cause. -1 only when nothing could start.
 * As root, the native sandbox's pid 1 shares this process's memory until it
 * ends: the process becomes non-dumpable, and must not make itself dumpable
 * while sandboxes run (docs/security.md, "Memory of the caller"). */
int rt_sandbox_start(rt_supervisor *sup, const rt_spec *spec, const rt_callbacks *cb,
                     rt_sandbox **out, rt_error *err);

/* Kills the whole process tree; the result will carry `reason`. */
void rt_sandbox_kill(rt_sandbox *sb, rt_status reason);

/* Waits up to timeout_ms (-1 = until something happens) and handles events,
 * deadlines and limits. Returns the number of sandboxes that finished. */
int rt_supervisor_poll(rt_supervisor *sup, int timeout_ms, rt_error *err);

/* Detaches one finished sandbox, or returns NULL. */
rt_sandbox *rt_supervisor_take_done(rt_supervisor *sup);

/* Number of sandboxes attached (running or finished but not yet taken). */
size_t rt_supervisor_count(const rt_supervisor *sup);

/* Moves the result out of a finished sandbox (the caller frees it with
 * rt_result_free), then frees the sandbox. */
void rt_sandbox_finish(rt_sandbox *sb, rt_result *out);

/* Starts a sandbox and supervises it to the end. */
int rt_run(const rt_spec *spec, const rt_callbacks *cb, rt_result *out, rt_error *err);

#endif
