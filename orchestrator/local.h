/* An executor (engine.h) that runs attempts in this process with the runtime:
 * what `sbx workflow run` and the engine's tests use. Profiles are loaded by
 * name from the profile search path and kept for every later attempt. */
#ifndef SBX_ORCHESTRATOR_LOCAL_H
#define SBX_ORCHESTRATOR_LOCAL_H

#include <pthread.h>

#include "engine.h"
#include "profile.h"

/* A language for code steps: where the code goes and what runs it. */
typedef struct orch_language {
    const char *file;
    char *const *command;       /* NULL-terminated */
    const json_t *limits;       /* spec "limits", or NULL */
} orch_language;

typedef struct orch_local {
    const char *default_profile;  /* NULL: "default" */
    /* Finds a language by name; 0, or -1 with a message. NULL: no languages. */
    int (*language)(void *ctx, const char *name, orch_language *out, rt_error *err);
    void *language_ctx;
    /* loaded profiles, guarded by lock */
    pthread_mutex_t lock;
    rt_profile **profiles;
    size_t n_profiles;
} orch_local;

void orch_local_init(orch_local *l);
void orch_local_free(orch_local *l);
/* The executor over l (which must outlive it). */
orch_executor orch_local_executor(orch_local *l);

#endif
