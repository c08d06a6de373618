/* `sbx profile list|show|check`: what the profiles in the search path set,
 * and a validator for profiles and bare Docker/OCI seccomp policies. */
#ifndef SBX_CLI_PROFILE_CMD_H
#define SBX_CLI_PROFILE_CMD_H

int sbx_profile_main(int argc, char **argv);

#endif
