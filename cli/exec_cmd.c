#include "exec_cmd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "outcome.h"

int sbx_exec_helper(const char *program, const char *what, char **argv)
{
    char dir[PATH_MAX], beside[PATH_MAX + 64], libexec[PATH_MAX + 96];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n < 0) {
        fprintf(stderr, "%s: cannot find sbx itself: /proc/self/exe: %s\n", what, strerror(errno));
        return SBX_EXIT_SANDBOX;
    }
    dir[n] = '\0';
    *strrchr(dir, '/') = '\0';
    /* Beside sbx in the build tree; PREFIX/libexec/sandboxd for PREFIX/bin/sbx. */
    snprintf(beside, sizeof beside, "%s/%s", dir, program);
    snprintf(libexec, sizeof libexec, "%s/../libexec/sandboxd/%s", dir, program);
    char *path = access(beside, X_OK) == 0    ? beside
               : access(libexec, X_OK) == 0 ? libexec
                                            : NULL;
    if (!path) {
        fprintf(stderr, "%s: the %s program is not installed (looked for %s and %s)\n", what,
                program, beside, libexec);
        return SBX_EXIT_SANDBOX;
    }
    argv[0] = path;
    execv(path, argv);
    fprintf(stderr, "%s: cannot run %s: %s\n", what, path, strerror(errno));
    return SBX_EXIT_SANDBOX;
}
