/* Everything a request reads that SIGHUP may replace: the settings, the loaded
 * profiles (compiled filters included) and the languages. Requests hold a
 * reference for their whole life, so a reload never pulls anything from under
 * a running sandbox. */
#ifndef SBX_SANDBOXD_SNAPSHOT_H
#define SBX_SANDBOXD_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "languages.h"
#include "profile.h"

typedef struct sd_snapshot {
    atomic_int refs;
    sd_config config;
    sd_languages languages;
    rt_profile **profiles;     /* parallel to config.profiles */
} sd_snapshot;

/* Loads settings (see sd_config_load), then every allowed profile and the
 * languages, and checks that their limits fit under the maxima. */
int sd_snapshot_load(int argc, char **argv, sd_snapshot **out, bool *check_only, bool *help,
                     bool *version, rt_error *err);
sd_snapshot *sd_snapshot_ref(sd_snapshot *s);
void sd_snapshot_unref(sd_snapshot *s);
const rt_profile *sd_snapshot_profile(const sd_snapshot *s, const char *name);
/* The first limit in l above max, as "limits.memory: 2g is above ...", or 0. */
int sd_limits_check_max(const rt_limits *l, const rt_limits *max, rt_error *err);

#endif
