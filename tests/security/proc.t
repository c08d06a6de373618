#!/bin/bash
# /proc: the sandbox's own processes only; nothing of the host or of the sandbox's
# init (whose memory is the caller's, or a copy) to read, write or execute; no
# kernel knobs.
. "$(dirname "$0")/lib.sh"
plan 21

out=$(attack -- open r:/proc/self/exe w:/proc/self/exe rw:/proc/self/exe \
    path:/proc/1/exe exec:/proc/1/exe r:/proc/1/mem r:/proc/1/environ dir:/proc/1/fd \
    r:/proc/1/root/etc/shadow r:/proc/self/root/etc/shadow \
    w:/proc/sysrq-trigger w:/proc/sys/kernel/hostname w:/proc/sys/vm/drop_caches \
    w:/proc/sys/kernel/core_pattern r:/proc/kcore r:/proc/kmsg)
like "$(line r:/proc/self/exe)" "^ALLOWED kind=reg read=32$" "/proc/self/exe can be read"
like "$(line w:/proc/self/exe) / $(line rw:/proc/self/exe)" \
     "^DENIED errno=(ETXTBSY|EROFS|EACCES) / DENIED errno=(ETXTBSY|EROFS|EACCES)$" \
     "/proc/self/exe cannot be opened for writing"
# pid 1 is the sandbox's init: its memory is the caller's (sbx, the daemon's
# spawner) or a copy, non-dumpable, so nothing of its memory, fds or executable
# is reachable; /proc is mounted with hidepid=invisible, so it is not even listed
# (ENOENT). A /proc without hidepid still refuses these (EACCES, EPERM).
NOPID1='DENIED errno=(ENOENT|EACCES|EPERM)'
denied path:/proc/1/exe "$NOPID1" "pid 1's executable (the host's sbx) cannot be opened"
denied exec:/proc/1/exe "$NOPID1" "pid 1's executable cannot be run"
denied r:/proc/1/mem "$NOPID1" "/proc/1/mem cannot be read"
denied r:/proc/1/environ "$NOPID1" "/proc/1/environ cannot be read"
denied dir:/proc/1/fd "$NOPID1" "pid 1's file descriptors cannot be listed"
w=$(attack -- open w:/proc/1/fd/{0..12} | grep -vc ': DENIED errno=\(EACCES\|EPERM\|ENOENT\)$')
is "$w" 0 "none of pid 1's descriptors (its pipe to the supervisor) can be opened for writing"
denied r:/proc/1/root/etc/shadow "DENIED errno=(ENOENT|EACCES|EPERM)" "/proc/1/root is not the host's root"
denied r:/proc/self/root/etc/shadow "DENIED errno=ENOENT" "/proc/self/root is the sandbox's root"
# Writes to kernel knobs fail (opened, never written); a mask bound over them is fine too.
MASKED='DENIED errno=(EACCES|EROFS|EPERM|ENOENT)|ALLOWED kind=chr\(1,3\)'
denied w:/proc/sysrq-trigger "$MASKED" "/proc/sysrq-trigger cannot be written"
denied w:/proc/sys/kernel/hostname "$MASKED" "/proc/sys/kernel/hostname cannot be written"
denied w:/proc/sys/vm/drop_caches "$MASKED" "/proc/sys/vm/drop_caches cannot be written"
denied w:/proc/sys/kernel/core_pattern "$MASKED" "/proc/sys/kernel/core_pattern cannot be written"
denied r:/proc/kcore "DENIED errno=(EACCES|EPERM|ENOENT)|ALLOWED kind=chr\(1,3\) read=0" "/proc/kcore cannot be read"
denied r:/proc/kmsg "DENIED errno=(EACCES|EPERM|ENOENT)|ALLOWED kind=chr\(1,3\) read=0" "/proc/kmsg cannot be read"

# The caller's environment stays out: not in any /proc/*/environ or cmdline.
export SBX_SECURITY_CANARY="CALLERENV-$$-$RANDOM"
out=$(sbx -- sh -c 'cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr "\0" "\n"')
unset SBX_SECURITY_CANARY
case $out in *CALLERENV-*) leaked=1 ;; *) leaked=0 ;; esac
ok "$leaked" "the caller's environment shows in no process's environ or cmdline"

# pid 1's memory is sbx's, argv included: an --env value given on the command
# line must not be readable from /proc/1/cmdline (anyone who sees pid 1 may read
# its cmdline).
out=$(sbx --env SBX_TEST_TOKEN=s3cr3t-9f2c -- sh -c 'tr "\0" "\n" </proc/1/cmdline')
case $out in *s3cr3t-9f2c*) leaked=1 ;; *) leaked=0 ;; esac
ok "$leaked" "the caller's argv (an --env secret) is not in /proc/1/cmdline"
out=$(sbx -- sh -c 'cd /proc && echo [0-9]*')
is "$out" "2" "/proc lists the sandbox's own processes, not pid 1 (hidepid=invisible)"

# Only the sandbox's mounts: / and what the image and the binds put there.
out=$(sbx --ro-bind "$TMPD:/data" -- awk '{print $5}' /proc/self/mountinfo)
extra=$(printf '%s\n' "$out" | grep -Ev '^(/|/usr|/etc/[^ ]+|/proc(/.*)?|/dev(/.*)?|/tmp|/data|/sys(/.*)?)$' | tr '\n' ' ')
is "$extra" "" "mountinfo lists only the sandbox's own mount points"

# Host processes are invisible: a marker process on the host does not show.
sleep 93.7 & hostpid=$!
out=$(sbx -- ps -eo pid=,args=)
kill "$hostpid" 2>/dev/null; wait "$hostpid" 2>/dev/null
n=$(printf '%s\n' "$out" | grep -c .)
case $out in *"sleep 93.7"*) seen=1 ;; *) seen=0 ;; esac
ok $(( seen || n > 4 )) "ps sees only the sandbox's processes ($n), not the host's"
done_testing
