/* The spec: what to run. One C definition, used by the library, the CLI, the
 * daemon and every workflow step. JSON codec in spec_json.h. */
#ifndef SBX_RUNTIME_SPEC_H
#define SBX_RUNTIME_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "seccomp_policy.h"

/* Sandbox ids: pid 1 sets up as root of its user namespace, the command runs as
 * the unprivileged user (both mapped to unprivileged host ids when we are root). */
#define RT_SANDBOX_UID 1000
#define RT_HOST_ROOT_UID 100000
#define RT_HOST_USER_UID 101000

/* Safe defaults for untrusted code; every limit always applies. */
#define RT_DEFAULT_WALL_MS        (30ull * 1000)
#define RT_DEFAULT_CPU_MS         (10ull * 1000)
#define RT_DEFAULT_MEMORY_BYTES   (256ull << 20)
#define RT_DEFAULT_PIDS           64ull
#define RT_DEFAULT_OUTPUT_BYTES   (1ull << 20)
#define RT_DEFAULT_FILE_BYTES     (64ull << 20)
#define RT_DEFAULT_OPEN_FILES     256ull
#define RT_DEFAULT_TMPFS_BYTES    (64ull << 20)
#define RT_DEFAULT_CPUS           1.0

/* Upper bounds that keep arithmetic sane; a value above is refused, not clamped. */
#define RT_MAX_WALL_MS            (7ull * 24 * 3600 * 1000)
#define RT_MAX_BYTES              (1ull << 50)
#define RT_MAX_PIDS               (1ull << 22)
#define RT_MAX_OPEN_FILES         (1ull << 20)
#define RT_MAX_CPUS               1024.0
#define RT_MAX_FILES              1000
#define RT_MAX_FILE_PATH          1024      /* bytes of a file's path */
#define RT_MAX_FILE_NAME          255       /* bytes of one path component */

typedef struct rt_limits {
    uint64_t wall_ms;          /* wall clock, whole tree */
    uint64_t cpu_ms;           /* CPU time (user+sys), whole tree */
    uint64_t memory_bytes;     /* RAM, no swap beyond it */
    uint64_t pids;             /* tasks at once */
    uint64_t output_bytes;     /* each of stdout and stderr */
    uint64_t file_bytes;       /* largest file a process may write */
    uint64_t open_files;       /* RLIMIT_NOFILE */
    uint64_t tmpfs_bytes;      /* size of /tmp, of a tmpfs /workspace (and the
                                  default for --tmpfs) */
    double cpus;               /* CPU share in cores (quota), e.g. 0.5 */
} rt_limits;

typedef enum rt_mount_kind {
    RT_MOUNT_BIND,             /* read-write bind */
    RT_MOUNT_RO_BIND,
    RT_MOUNT_TMPFS,
} rt_mount_kind;

typedef struct rt_mount {
    rt_mount_kind kind;
    char *src;                 /* host path; NULL for tmpfs */
    char *dst;                 /* absolute path inside the sandbox */
    uint64_t size_bytes;       /* tmpfs only; 0 = limits.tmpfs_bytes */
} rt_mount;

/* A file written into the fresh /workspace tmpfs before the command starts,
 * owned by the sandbox user. */
typedef struct rt_file {
    char *path;                /* relative to /workspace, e.g. "src/main.py" */
    char *data;                /* len bytes (may contain NULs), NUL-terminated */
    size_t len;
    bool executable;           /* mode 0755 instead of 0644 */
} rt_file;

typedef enum rt_network {
    RT_NET_NONE,               /* loopback only */
} rt_network;

typedef struct rt_spec {
    char **argv;               /* NULL-terminated, argv[0] looked up in PATH */
    char **env;                /* NULL-terminated "K=V"; NULL = minimal default env */
    char *cwd;                 /* default /workspace if a workspace is set, else / */
    char *stdin_data;          /* bytes fed to stdin (may contain NULs) */
    size_t stdin_len;
    char *stdin_file;          /* host file opened by the caller; excludes stdin_data */
    char *image;               /* "host" (default, NULL) or a rootfs directory */
    char *workspace;           /* host dir bound read-write at /workspace, or NULL */
    bool workspace_tmpfs;      /* /workspace is a fresh tmpfs (files imply it) */
    rt_file *files;            /* written into that tmpfs */
    size_t n_files;
    rt_mount *mounts;
    size_t n_mounts;
    /* The mounts are the caller's own fixed layout (the workflow engine's
     * /run/sbx), not paths a user chose: as root their mount points may join
     * a prepared root (runtime/roottpl.h), which user-chosen paths would
     * multiply. */
    bool fixed_mounts;
    rt_network network;
    rt_limits limits;
    char *profile;             /* name of the sandbox profile the spec came from */
    rt_seccomp *seccomp;       /* owned reference; NULL = no filter (unconfined) */
    uint64_t keep_caps;        /* 1 << CAP_* the command keeps; default none */
} rt_spec;

void rt_limits_default(rt_limits *l);
void rt_spec_init(rt_spec *spec);      /* zero + default limits */
void rt_spec_free(rt_spec *spec);      /* frees every owned string and array */

/* Appends a mount (copies strings). */
int rt_spec_add_mount(rt_spec *spec, rt_mount_kind kind, const char *src,
                      const char *dst, uint64_t size_bytes, rt_error *err);

/* Appends a file for the tmpfs workspace (copies path and data). */
int rt_spec_add_file(rt_spec *spec, const char *path, const void *data, size_t len,
                     bool executable, rt_error *err);

/* Writes files["path"] into buf, the way messages name a file: quotes,
 * backslashes and control bytes escaped as in JSON, a long path shortened with
 * "...". RT_FILE_LABEL_MAX bytes always hold it. Returns buf. */
#define RT_FILE_LABEL_MAX 512
const char *rt_file_label(const char *path, char *buf, size_t size);

/* Checks the whole spec for values that cannot run: empty argv, relative
 * mount targets, bad file paths, limits of zero or above the maxima. The
 * message names the field. */
int rt_spec_validate(const rt_spec *spec, rt_error *err);

#endif
