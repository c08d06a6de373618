#include "exec_cmd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "outcome.h"

int sbx_exec_main(int argc, char **argv)
{
    char dir[PATH_MAX], beside[PATH_MAX + 16], libexec[PATH_MAX + 48];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    (void)argc;
    if (n < 0) {
        fprintf(stderr, "sbx exec: cannot find sbx itself: /proc/self/exe: %s\n", strerror(errno));
        return SBX_EXIT_SANDBOX;
    }
    dir[n] = '\0';
    *strrchr(dir, '/') = '\0';
    /* Beside sbx in the build tree; PREFIX/libexec/sandboxd for PREFIX/bin/sbx. */
    snprintf(beside, sizeof beside, "%s/sbx-exec", dir);
    snprintf(libexec, sizeof libexec, "%s/../libexec/sandboxd/sbx-exec", dir);
    char *path = access(beside, X_OK) == 0    ? beside
               : access(libexec, X_OK) == 0 ? libexec
                                            : NULL;
    if (!path) {
        fprintf(stderr, "sbx exec: the sbx-exec program is not installed (looked for %s and %s)\n",
                beside, libexec);
        return SBX_EXIT_SANDBOX;
    }
    argv[0] = path;
    execv(path, argv);
    fprintf(stderr, "sbx exec: cannot run %s: %s\n", path, strerror(errno));
    return SBX_EXIT_SANDBOX;
}
