#!/bin/bash
# Nested user namespaces: the way unprivileged code gets "root" (and with it the
# mount, network and keyring code paths of most kernel privilege escalations).
# None can be made: not with unshare(1), ctypes, clone(2) or clone3(2).
. "$(dirname "$0")/lib.sh"
plan 5

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
done_testing
