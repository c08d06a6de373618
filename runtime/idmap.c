#include "idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "spec.h"

static int write_file(pid_t pid, const char *name, const char *data, rt_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return rt_error_set(err, errno, "opening %s", path);
    size_t len = strlen(data);
    if (write(fd, data, len) != (ssize_t)len)
        return rt_error_set(err, errno, "writing %s", path);
    return 0;
}

int rt_idmap_write(pid_t pid, bool privileged, rt_error *err)
{
    char map[128];
    if (privileged) {
        snprintf(map, sizeof map, "0 %d 1\n%d %d 1\n", RT_HOST_ROOT_UID, RT_SANDBOX_UID,
                 RT_HOST_USER_UID);
        return write_file(pid, "uid_map", map, err) < 0 ? -1 : write_file(pid, "gid_map", map, err);
    }
    if (write_file(pid, "setgroups", "deny", err) < 0)
        return -1;
    snprintf(map, sizeof map, "0 %d 1\n", (int)getuid());
    if (write_file(pid, "uid_map", map, err) < 0)
        return -1;
    snprintf(map, sizeof map, "0 %d 1\n", (int)getgid());
    return write_file(pid, "gid_map", map, err);
}
