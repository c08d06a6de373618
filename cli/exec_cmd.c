#include "exec_cmd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helper_path.h"
#include "outcome.h"

int sbx_exec_helper(const char *program, const char *what, char **argv)
{
    char path[PATH_MAX + 96];
    rt_error err;
    if (rt_helper_path(program, path, sizeof path, &err) < 0) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        return SBX_EXIT_SANDBOX;
    }
    argv[0] = path;
    execv(path, argv);
    fprintf(stderr, "%s: cannot run %s: %s\n", what, path, strerror(errno));
    return SBX_EXIT_SANDBOX;
}
