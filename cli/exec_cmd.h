/* `sbx exec` and `sbx workflow`: sbx hands over to a program of its own,
 * installed beside sbx, that links what the static sbx cannot (libcurl, SQLite). */
#ifndef SBX_CLI_EXEC_CMD_H
#define SBX_CLI_EXEC_CMD_H

/* Execs `program` (e.g. "sbx-exec"), found beside sbx in the build tree or in
 * PREFIX/libexec/sandboxd for PREFIX/bin/sbx, with argv (argv[0], the command
 * word, is replaced by its path). `what` names the command in messages
 * ("sbx exec"). Returns only on failure, with 125 and a message. */
int sbx_exec_helper(const char *program, const char *what, char **argv);

#endif
