/* The HTTP side of sandboxd (libmicrohttpd, one thread per connection so that a
 * slow sandbox never holds up another request): listeners, routing, bodies,
 * auth, error JSON, request logs and the shutdown sequence. */
#ifndef SBX_SANDBOXD_SERVER_H
#define SBX_SANDBOXD_SERVER_H

#include "error.h"
#include "snapshot.h"

typedef struct sd_server sd_server;

/* Takes over the caller's reference to snap. */
sd_server *sd_server_new(sd_snapshot *snap, rt_error *err);
/* Creates the Unix socket (owner-only) and the TCP listener, and starts serving. */
int sd_server_start(sd_server *s, rt_error *err);
/* SIGHUP: requests from now on see snap (reference taken over); settings that
 * need a restart (socket, listen, state_dir) are logged and kept. */
void sd_server_reload(sd_server *s, sd_snapshot *snap);
/* Stops accepting, lets running sandboxes finish within the grace period, then
 * kills them, closes every connection and removes the socket file. */
void sd_server_stop(sd_server *s);
void sd_server_free(sd_server *s);

/* One JSON log line on stderr: {"time", "level", "msg", extra fields...}. */
void sd_log(const char *level, const char *msg, const char *key, const char *value);

#endif
