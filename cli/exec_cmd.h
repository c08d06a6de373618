/* `sbx exec`: hands over to the sbx-exec program, installed beside sbx. */
#ifndef SBX_CLI_EXEC_CMD_H
#define SBX_CLI_EXEC_CMD_H

/* argv[0] is "exec". Returns only on failure, with 125 and a message. */
int sbx_exec_main(int argc, char **argv);

#endif
