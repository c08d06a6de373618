/* Sandboxes are not cloned from the daemon: cloning a process with many busy
 * threads costs a copy-on-write fault storm in every one of them, and would
 * hand each sandbox's pid 1 a copy of the daemon's memory (tokens, other
 * requests). The spawner, a small static program (sandboxd-spawner: the path
 * in $SANDBOXD_SPAWNER, else beside sandboxd, else in PREFIX/libexec/sandboxd)
 * started before any thread,
 * forks a worker per run; the worker runs the sandbox (runtime/sandbox.h) and
 * streams its output and result back over a socket. */
#ifndef SBX_SANDBOXD_SPAWNER_H
#define SBX_SANDBOXD_SPAWNER_H

#include <stddef.h>

#include "error.h"
#include "result.h"
#include "sandbox.h"
#include "spec.h"

/* Starts the spawner and waits until it is ready; call before any thread
 * exists. It exits when the daemon does (its control socket closes, or the
 * parent-death signal). */
int sd_spawner_start(rt_error *err);

/* Has the spawner load these profiles (by name) and compile their filters
 * once, at start and on every reload; runs may then name them. */
int sd_spawner_profiles(char *const *names, size_t n, rt_error *err);

typedef struct sd_run sd_run;

/* Hands spec to a new worker; spec->profile names the profile whose filter and
 * capabilities the worker applies (limits and the rest come from spec). */
int sd_run_start(const rt_spec *spec, sd_run **out, rt_error *err);
/* Asks the worker to stop the sandbox; its result says cancelled. */
void sd_run_cancel(sd_run *r);
/* Waits up to timeout_ms; passes output to cb. Returns 1 with the result in
 * *res (which it initializes) once the run is over, else 0. A worker that dies
 * gives a result with status error. */
int sd_run_poll(sd_run *r, int timeout_ms, const rt_callbacks *cb, rt_result *res);
void sd_run_free(sd_run *r);

#endif
