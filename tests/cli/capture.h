/* Captures what code under test writes to fd 1 or 2, so that it does not mix
 * with the TAP stream and can be checked:
 *
 *   capture c = capture_begin(2);
 *   sbx_explain(...);
 *   is_str(capture_end(&c), "sbx: timeout: ...\n", "message");
 *
 * Captures of both fds nest: end them in the reverse order. */
#ifndef SANDBOXD_TESTS_CLI_CAPTURE_H
#define SANDBOXD_TESTS_CLI_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct capture {
    int fd;
    int saved;                 /* the fd as it was */
    FILE *file;
    size_t len;                /* of text, which may hold NULs */
    char text[16384];
} capture;

static inline capture capture_begin(int fd)
{
    capture c = {.fd = fd};
    fflush(fd == 1 ? stdout : stderr);
    c.file = tmpfile();
    c.saved = dup(fd);
    if (!c.file || c.saved < 0 || dup2(fileno(c.file), fd) < 0)
        abort();
    return c;
}

/* What was written since capture_begin, NUL-terminated. */
static inline const char *capture_end(capture *c)
{
    fflush(c->fd == 1 ? stdout : stderr);
    if (dup2(c->saved, c->fd) < 0)
        abort();
    close(c->saved);
    rewind(c->file);
    c->len = fread(c->text, 1, sizeof c->text - 1, c->file);
    c->text[c->len] = '\0';
    fclose(c->file);
    return c->text;
}

#endif
