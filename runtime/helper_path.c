#include "helper_path.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int rt_helper_path(const char *program, char *out, size_t size, rt_error *err)
{
    char dir[PATH_MAX], beside[PATH_MAX + 64], libexec[PATH_MAX + 96];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n < 0)
        return rt_error_set(err, errno, "finding the running program: /proc/self/exe");
    dir[n] = '\0';
    *strrchr(dir, '/') = '\0';
    snprintf(beside, sizeof beside, "%s/%s", dir, program);
    snprintf(libexec, sizeof libexec, "%s/../libexec/sandboxd/%s", dir, program);
    const char *path = access(beside, X_OK) == 0    ? beside
                     : access(libexec, X_OK) == 0 ? libexec
                                                  : NULL;
    if (!path)
        return rt_error_coded(err, ENOENT, "the %s program is not installed (looked for %s and "
                              "%s)", program, beside, libexec);
    if ((size_t)snprintf(out, size, "%s", path) >= size)
        return rt_error_coded(err, ENAMETOOLONG, "%s: path too long", path);
    return 0;
}
