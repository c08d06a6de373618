#!/bin/bash
# Nested user namespaces: the way unprivileged code gets "root" (and with it the
# mount, network and keyring code paths of most kernel privilege escalations).
# None can be made: not with unshare(1), ctypes, clone(2) or clone3(2).
. "$(dirname "$0")/lib.sh"
plan 8

out=$(sbx -- unshare -Ur id -u 2>&1); rc=$?
ok $(( rc == 0 )) "unshare -Ur fails (exit $rc: $out)"
out=$(sbx -- unshare -Urm sh -c 'mount -t tmpfs none /tmp && echo mounted' 2>&1)
case $out in *mounted*) m=1 ;; *) m=0 ;; esac
ok "$m" "unshare -Urm cannot get a mount of its own ($out)"
out=$(sbx -- python3 -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
r = libc.unshare(CLONE_NEWUSER)
print("denied", os.strerror(ctypes.get_errno())) if r < 0 else print("unshared", open("/proc/self/uid_map").read().strip() or "(unmapped)")' 2>&1)
like "$out" "^denied" "unshare(CLONE_NEWUSER) from python (ctypes) fails"
out=$(direct clone_newuser)
denied clone_newuser "DENIED errno=(EPERM|ENOSPC)|KILLED signal=SIGSYS" "clone(CLONE_NEWUSER) fails"
out=$(direct clone3)
denied clone3 "DENIED errno=(ENOSYS|EPERM|ENOSPC)|KILLED signal=SIGSYS" "clone3(CLONE_NEWUSER) fails"

# sbx run as root builds the root as the host's root and makes the sandbox's user
# namespace last: the mount, pid, uts, ipc and network namespaces belong to the
# host's user namespace, where nothing in the sandbox has a capability (the
# unconfined profile lets the ioctl through).
# NS_GET_USERNS (0xb701) is refused for an owner outside the caller's namespace.
owners='import fcntl, os
for ns in ("mnt", "pid", "uts", "ipc", "net", "cgroup"):
    fd = os.open("/proc/self/ns/" + ns, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, 0xb701); print(ns, "own")
    except OSError as e: print(ns, "foreign", e.errno)'
is "$("$SBX" run --profile unconfined -- python3 -c "$owners" | tr '\n' ' ')" \
   "mnt foreign 1 pid foreign 1 uts foreign 1 ipc foreign 1 net foreign 1 cgroup own " \
   "the sandbox's namespaces but its cgroup's belong to the host's user namespace"
# What the setup made in the root is the sandbox root's, as if it had made it.
is "$(sbx -- stat -c '%n %u:%g' / /etc/passwd /etc/hosts /tmp /bin | tr '\n' ' ')" \
   "/ 0:0 /etc/passwd 0:0 /etc/hosts 0:0 /tmp 0:0 /bin 0:0 " \
   "the root, its files and /tmp belong to the sandbox's root"
# A profile that keeps a capability needs namespaces of its own: its clone makes them.
echo '{"seccomp": "unconfined", "capabilities": ["CAP_NET_BIND_SERVICE"]}' >"$TMPD/keep.json"
is "$("$SBX" run --profile "$TMPD/keep.json" -- python3 -c "$owners" | tr '\n' ' ')" \
   "mnt own pid own uts own ipc own net own cgroup own " \
   "with a kept capability every namespace is the sandbox's own"
done_testing
