/* What the daemon and the spawner program (sandboxd-spawner) say to each other.
 *
 * The control socket (SOCK_SEQPACKET) carries one message per run: CTL_RUN with
 * the run's own socket attached, or CTL_PROFILES and the comma-separated names
 * of the profiles to load. A run's socket carries frames: a type byte, a 32-bit
 * length in host order, the payload. The daemon sends one FRAME_SPEC (the spec
 * as JSON) and maybe the cancel byte; the worker answers with output frames and
 * one FRAME_RESULT (the result as JSON). */
#ifndef SBX_SANDBOXD_SPAWN_FRAME_H
#define SBX_SANDBOXD_SPAWN_FRAME_H

#include <stddef.h>

enum {
    SD_FRAME_SPEC = 'S',
    SD_FRAME_STDOUT = '1',
    SD_FRAME_STDERR = '2',
    SD_FRAME_RESULT = 'R',
};
#define SD_FRAME_HEAD 5
#define SD_FRAME_MAX (256u << 20)
#define SD_CANCEL_BYTE 'K'

#define SD_CTL_RUN 'F'
#define SD_CTL_PROFILES 'P'
#define SD_CTL_MAX 65536

/* The control socket's descriptor in the spawner program. */
#define SD_SPAWNER_CTL_FD 3

/* 0, or -1 with errno set (0 when the peer closed the socket). */
int sd_write_all(int fd, const void *p, size_t n);
int sd_read_all(int fd, void *p, size_t n);
int sd_send_frame(int fd, char type, const void *data, size_t len);

#endif
