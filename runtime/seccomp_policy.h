/* Seccomp policies in the JSON format of Docker's profiles and the OCI runtime
 * spec's linux.seccomp, compiled once with libseccomp into a BPF program that
 * every run reuses. The compiled policy is immutable and reference-counted, so
 * threads may share it. */
#ifndef SBX_RUNTIME_SECCOMP_POLICY_H
#define SBX_RUNTIME_SECCOMP_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct rt_seccomp rt_seccomp;

/* The actions a policy may name, for counting. */
typedef enum rt_seccomp_action {
    RT_SECCOMP_KILL_PROCESS,
    RT_SECCOMP_KILL_THREAD,
    RT_SECCOMP_TRAP,
    RT_SECCOMP_ERRNO,
    RT_SECCOMP_TRACE,
    RT_SECCOMP_LOG,
    RT_SECCOMP_ALLOW,
    RT_SECCOMP_N_ACTIONS,
} rt_seccomp_action;

const char *rt_seccomp_action_name(rt_seccomp_action a);   /* "SCMP_ACT_ERRNO" */

/* Compiles `policy`. `caps` is the bit mask (1 << CAP_*) of capabilities the
 * sandbox keeps, which rules' includes/excludes test. `where` prefixes JSON
 * paths in messages (a file name, or "seccomp" for an inline policy). Names that
 * libseccomp or this architecture does not know are skipped with a warning;
 * anything else wrong is refused with the JSON path and the reason. */
int rt_seccomp_compile(const json_t *policy, const char *where, uint64_t caps,
                       rt_seccomp **out, rt_error *err);

/* A policy's JSON text (a file's bytes). Compiled programs are cached in
 * $SBX_CACHE_DIR ("none" turns the cache off), else /var/cache/sandboxd as root
 * or ~/.cache/sandboxd, when that directory belongs to the effective user
 * alone; a hit skips the JSON parser and libseccomp. */
int rt_seccomp_compile_text(const char *text, size_t len, const char *where, uint64_t caps,
                            rt_seccomp **out, rt_error *err);
int rt_seccomp_compile_file(const char *path, uint64_t caps, rt_seccomp **out, rt_error *err);

rt_seccomp *rt_seccomp_ref(rt_seccomp *sc);
void rt_seccomp_unref(rt_seccomp *sc);

/* What the compiler did, for `sbx profile check` and logs. */
rt_seccomp_action rt_seccomp_default_action(const rt_seccomp *sc);
unsigned rt_seccomp_rule_count(const rt_seccomp *sc, rt_seccomp_action a);
size_t rt_seccomp_n_arches(const rt_seccomp *sc);
const char *rt_seccomp_arch(const rt_seccomp *sc, size_t i);      /* "SCMP_ARCH_X86_64" */
size_t rt_seccomp_n_warnings(const rt_seccomp *sc);
const char *rt_seccomp_warning(const rt_seccomp *sc, size_t i);   /* JSON path: reason */
size_t rt_seccomp_n_skipped(const rt_seccomp *sc);
const char *rt_seccomp_skipped(const rt_seccomp *sc, size_t i);   /* syscall name */
size_t rt_seccomp_n_instructions(const rt_seccomp *sc);

/* For the native backend: the program, the seccomp(2) flags to install it with
 * (SECCOMP_FILTER_FLAG_NEW_LISTENER when kill actions go through a user
 * notification, so that pid 1 can name the syscall), and whether they do. */
const void *rt_seccomp_program(const rt_seccomp *sc);            /* struct sock_fprog */
unsigned rt_seccomp_flags(const rt_seccomp *sc);
bool rt_seccomp_notifies(const rt_seccomp *sc);

/* "ptrace" for a syscall number of an AUDIT_ARCH_* architecture, in buf; a
 * number in brackets when libseccomp has no name for it. */
const char *rt_seccomp_syscall_name(uint32_t audit_arch, int nr, char *buf, size_t size);

/* Capability names ("CAP_NET_RAW" or "net_raw", any case) to bits and back. */
int rt_capability_from_name(const char *name, int *cap);
const char *rt_capability_name(int cap, char *buf, size_t size);

#endif
