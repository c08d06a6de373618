/* `sbx info`: what this host offers, probed for real. */
#ifndef SBX_CLI_INFO_H
#define SBX_CLI_INFO_H

int sbx_info_main(int argc, char **argv);

#endif
