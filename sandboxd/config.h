/* sandboxd's settings: built-in defaults, then a JSON config file, then
 * SANDBOXD_* environment variables, then command-line flags (flags win). Every
 * setting has a default, so `sandboxd` with no arguments works. Keys, variables
 * and flags are listed in docs/operations.md. */
#ifndef SBX_SANDBOXD_CONFIG_H
#define SBX_SANDBOXD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "spec.h"

typedef struct sd_image {
    char *name;
    char *path;                /* rootfs directory, or NULL for the built-in "host" */
} sd_image;

typedef struct sd_config {
    char *config_file;         /* NULL when none was named */
    char *socket_path;         /* "" disables the Unix socket */
    char *listen;              /* "host:port" or NULL */
    char *state_dir;
    char **tokens;             /* bearer tokens accepted on TCP */
    size_t n_tokens;
    unsigned max_running;      /* sandboxes at once */
    unsigned max_queue;        /* requests waiting for a slot */
    unsigned max_connections;
    uint64_t max_body_bytes;
    uint64_t grace_ms;         /* SIGTERM: how long running sandboxes may finish */
    char *languages_file;
    char **profiles;           /* profile names clients may ask for */
    size_t n_profiles;
    char *default_profile;
    sd_image *images;
    size_t n_images;
    rt_limits max_limits;      /* a request above one of these is refused */
    uint64_t workspace_bytes;  /* each workflow's shared /workspace */
    double usd_per_cpu_second; /* workflow costs (docs/workflows.md) */
    double usd_per_gb_second;
    double usd_per_run;
} sd_config;

/* Fills c from defaults, the config file (--config or SANDBOXD_CONFIG), the
 * environment and argv, in that order; flags win. Messages name the source and
 * the key ("--max-queue: ...", "config.json: limits.max.memory: ..."). Sets
 * *check_only for --check-config, *help and *version for those flags. */
int sd_config_load(sd_config *c, int argc, char **argv, bool *check_only, bool *help,
                   bool *version, rt_error *err);
void sd_config_free(sd_config *c);

/* The image's rootfs for a name clients send, or NULL when unknown; *path is
 * NULL for "host". */
const sd_image *sd_config_image(const sd_config *c, const char *name);
bool sd_config_profile_allowed(const sd_config *c, const char *name);

extern const char sd_usage[];

#endif
