/* The one version string of the library, sbx and sandboxd. */
#ifndef SBX_RUNTIME_VERSION_H
#define SBX_RUNTIME_VERSION_H

#define SBX_VERSION "0.1.0"

#endif
