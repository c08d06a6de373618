/* Finding the programs that ship with sandboxd (sbx-exec, sbx-workflow,
 * sandboxd-spawner): beside the running executable, as in the build tree, or
 * in PREFIX/libexec/sandboxd for PREFIX/bin/NAME. */
#ifndef SBX_RUNTIME_HELPER_PATH_H
#define SBX_RUNTIME_HELPER_PATH_H

#include <stddef.h>

#include "error.h"

int rt_helper_path(const char *program, char *out, size_t size, rt_error *err);

#endif
