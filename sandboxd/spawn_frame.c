#include "spawn_frame.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

int sd_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = 0;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int sd_read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

int sd_send_frame(int fd, char type, const void *data, size_t len)
{
    unsigned char head[SD_FRAME_HEAD] = {(unsigned char)type};
    uint32_t n = (uint32_t)len;
    memcpy(head + 1, &n, sizeof n);
    return sd_write_all(fd, head, sizeof head) < 0 || sd_write_all(fd, data, len) < 0 ? -1 : 0;
}
