/* Sandbox profiles: a JSON file that bundles a seccomp policy (a file, inline,
 * or "unconfined"), the capabilities kept, limits, mounts and the network
 * mode. Format in docs/profiles.md. A loaded profile holds its compiled filter,
 * so every run that applies it reuses the same program. */
#ifndef SBX_RUNTIME_PROFILE_H
#define SBX_RUNTIME_PROFILE_H

#include <stddef.h>

#include "error.h"
#include "seccomp_policy.h"
#include "spec.h"

typedef struct rt_profile {
    char *name;                /* file name without .json */
    char *path;                /* the file it came from */
    char *description;
    char *seccomp_source;      /* policy file, "inline" or "unconfined" */
    rt_spec base;              /* limits, mounts, network, seccomp, keep_caps */
} rt_profile;

/* NAME is looked up as NAME.json in the search path; anything with a slash or
 * ending in .json is a file. The message names the file and the JSON path. */
int rt_profile_load(const char *name_or_path, rt_profile **out, rt_error *err);
int rt_profile_load_file(const char *path, rt_profile **out, rt_error *err);
void rt_profile_free(rt_profile *p);

/* Sets spec's limits, network, seccomp, capabilities and profile name from p
 * and appends p's mounts; the caller's own settings go on top afterwards. */
int rt_profile_apply(const rt_profile *p, rt_spec *spec, rt_error *err);

/* The directories searched, in order: $SBX_PROFILE_PATH (colon-separated) when
 * set, else /etc/sandboxd/profiles, ../profiles and ../share/sandboxd/profiles
 * next to the executable, and the install prefix's share/sandboxd/profiles. */
size_t rt_profile_search_path(const char **dirs, size_t max);

/* The names of every profile in the search path (first directory wins),
 * sorted; free each and the array. */
int rt_profile_list(char ***names, size_t *n, rt_error *err);

#endif
