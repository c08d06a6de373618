/* `sbx exec` options: where the daemon is, and the body of POST /v1/exec built
 * from the options. Kept apart from the HTTP client so tests can drive it. */
#ifndef SBX_CLI_EXEC_OPTS_H
#define SBX_CLI_EXEC_OPTS_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "spec.h"

/* Largest stdin, code or file sbx exec reads to send: the request is built in
 * memory, and a daemon would refuse far smaller bodies anyway. */
#define SBX_EXEC_MAX_INPUT (64u << 20)

typedef struct sbx_exec_opts {
    char *socket;              /* the daemon's Unix socket, or NULL when url is set */
    char *url;                 /* base URL of a daemon on TCP, e.g. http://127.0.0.1:8080 */
    char *token;               /* bearer token, or NULL */
    json_t *request;           /* the body of POST /v1/exec */
    rt_limits asked;           /* limits given as options; 0 = not given (the daemon's) */
    bool json;                 /* print the result object; implies !stream */
    bool stream;               /* ask for output as it happens */
    bool help;
} sbx_exec_opts;

/* Parses argv (argv[0] is ignored), reads the files it names (--stdin, --code,
 * --file) and resolves the daemon's address. Returns 0, or -1 with a message
 * naming the option; the caller exits 2 then. o is filled either way and is
 * freed with sbx_exec_opts_free. */
int sbx_exec_parse(int argc, char **argv, sbx_exec_opts *o, rt_error *err);
void sbx_exec_opts_free(sbx_exec_opts *o);

/* The socket used without --socket, --url and $SANDBOXD_URL: $SANDBOXD_SOCKET,
 * else /run/sandboxd/sandboxd.sock for root, else $XDG_RUNTIME_DIR/sandboxd.sock.
 * *out is malloc'd. */
int sbx_exec_default_socket(uid_t euid, char **out, rt_error *err);

/* Where the daemon is, shared by sbx exec and sbx workflow: --socket, else --url,
 * else $SANDBOXD_URL, else the default socket; the token from --token, else
 * $SANDBOXD_TOKEN. The options may be NULL (not given). Sets *socket_out or
 * *url_out, and *token_out when there is a token (all malloc'd). */
int sbx_daemon_resolve(const char *socket, const char *url, const char *token, char **socket_out,
                       char **url_out, char **token_out, rt_error *err);

/* What to try when connecting failed with os_errno (ENOENT: not running...). */
const char *sbx_daemon_connect_hint(long os_errno);

extern const char sbx_exec_usage[];

#endif
