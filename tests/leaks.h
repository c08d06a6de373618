/* What a test checks is left behind by sandboxes: this process's fds and its
 * cgroups under the sandbox parents. */
#ifndef SANDBOXD_TESTS_LEAKS_H
#define SANDBOXD_TESTS_LEAKS_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"

static inline int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

/* Groups of this process left under the sandbox parent. */
static inline int count_groups(void)
{
    const rt_cgroup_info *ci = rt_cgroup_detect();
    if (ci->version == RT_CGROUP_NONE)
        return 0;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "sbx-%d-", (int)getpid());
    int n = 0;
    for (int i = 0; i < 4; i++) {
        DIR *d = ci->parent[i][0] ? opendir(ci->parent[i]) : NULL;
        struct dirent *de;
        while (d && (de = readdir(d)))
            n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
        if (d)
            closedir(d);
    }
    return n;
}

#endif
