#!/bin/bash
# Privileges: uid 1000 with no capabilities in any set, no_new_privs, a seccomp
# filter; no way back to root, through set*id calls, setuid or file-capability
# binaries; nothing of the caller's credentials (its session keyring).
. "$(dirname "$0")/lib.sh"
plan 22

out=$(sbx -- cat /proc/self/status)
field() { printf '%s\n' "$out" | sed -n "s/^$1:[[:space:]]*//p" | tr -s '\t ' ' '; }
is "$(field Uid)" "1000 1000 1000 1000" "uid 1000: real, effective, saved and filesystem"
is "$(field Gid)" "1000 1000 1000 1000" "gid 1000: real, effective, saved and filesystem"
is "$(field Groups)" "" "no supplementary groups"
for set in CapEff CapPrm CapInh CapBnd CapAmb; do
    is "$(field $set)" 0000000000000000 "$set is empty"
done
is "$(field NoNewPrivs)" 1 "no_new_privs is set"
is "$(field Seccomp)" 2 "a seccomp filter is loaded (Seccomp: 2)"

out=$(attack -- setid)
denied setuid0 "$DENIED_EPERM" "setuid(0) fails"
denied setresuid0 "$DENIED_EPERM" "setresuid(0, 0, 0) fails"
denied setgid0 "$DENIED_EPERM" "setgid(0) fails"
denied setgroups0 "$DENIED_EPERM" "setgroups([0]) fails"
denied capset_all "$DENIED_EPERM" "capset(all capabilities) fails"
denied ambient_raise "$DENIED_EPERM" "raising an ambient capability fails"
denied securebits_clear "$DENIED_EPERM" "unlocking the securebits fails"

# A setuid-root and a file-capability binary, as a tarball unpacked by root on
# the host could leave them in a workspace: owned by host uid 100000, which is
# root inside the sandbox's user namespace, so the kernel would honour them if
# nosuid, no_new_privs and the securebits did not.
ws="$TMPD/ws"; mkdir "$ws"; chown 101000:101000 "$ws"
install -o 100000 -g 100000 -m 6755 "$ATTACK" "$ws/suid"
install -o 100000 -g 100000 -m 0755 "$ATTACK" "$ws/fcaps"
fcaps=0; setcap -n 100000 'cap_sys_admin,cap_setuid,cap_dac_override+eip' "$ws/fcaps" 2>/dev/null && fcaps=1
out=$(attack --workspace "$ws" -- ids; sbx --workspace "$ws" -- /workspace/suid ids | sed 's/^ids:/suid:/'
      sbx --workspace "$ws" -- /workspace/fcaps ids | sed 's/^ids:/fcaps:/')
like "$(line suid)" "^uid=1000,1000,1000 gid=1000,1000,1000 " "a setuid-root binary in the workspace runs as uid 1000, gid 1000"
is "$(line suid)" "$(line ids)" "and gains no capability: it runs exactly like a plain binary"
if [ "$fcaps" = 1 ]; then
    is "$(line fcaps)" "$(line ids)" "a binary with file capabilities for the sandbox's root gains none"
else
    skip "setcap -n (libcap2-bin) is not available"
fi
# The host's own setuid-root binaries are bound in /usr: the mount is nosuid.
out=$(sbx -- awk '$5 == "/usr" {print $6}' /proc/self/mountinfo)
like "$out" "(^|,)nosuid(,|$)" "/usr, with the host's setuid binaries (su, passwd, mount), is mounted nosuid"

# The caller's session keyring: a key put there before sbx runs must stay out of
# reach (runc gives each container a fresh session keyring for this reason).
key="KEY-$$-$RANDOM"
out=$(python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_add_key, SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING = 248, 250, 1
if libc.syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, None) < 0: sys.exit("join: %d" % ctypes.get_errno())
if libc.syscall(SYS_add_key, b"user", b"sbx-security", sys.argv[1].encode(), len(sys.argv[1]), ctypes.c_int(-3)) < 0:
    sys.exit("add_key: %d" % ctypes.get_errno())
os.execvp(sys.argv[2], sys.argv[2:])' "$key" \
    "$SBX" run $PROFILE_OPTS $EXTRA --ro-bind "$ATTACK:/attack" -- /attack keyring 2>&1)
case $out in *"$key"*) leaked=1 ;; *) leaked=0 ;; esac
ok "$leaked" "the caller's session keyring and its keys are out of reach"
[ "$leaked" = 1 ] && diag "$out"
done_testing
