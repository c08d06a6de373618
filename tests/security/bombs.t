#!/bin/bash
# Resource bombs under the default limits: each is stopped by its limit, and
# leaves the host and the next run as they were: the next run starts at once, no
# process of the sandbox's host uid is left, no cgroup is left.
. "$(dirname "$0")/lib.sh"
plan 14

r="$TMPD/r.json"
# bomb SBX-ARGS...: one run in the background (to know its sbx pid), --json to $r.
# Each bomb carries $mark in its command line to find leftovers by.
bomb() {
    sbx --json "$@" > "$r" 2>/dev/null & bpid=$!
    wait "$bpid"
}
# aftermath NAME: the next run is quick, nothing of the bomb is left.
aftermath() {
    local start ms rc procs cg
    start=$(now_ms); sbx -- true; rc=$?; ms=$(( $(now_ms) - start ))
    procs=$(pgrep -u 101000 -f "$mark" | tr '\n' ' ')
    cg=$(find /sys/fs/cgroup -maxdepth 6 -type d -name "sbx-$bpid-*" 2>/dev/null | tr '\n' ' ')
    local bad=$(( rc != 0 || ms >= 5000 ))
    [ -z "$procs$cg" ] || bad=1
    ok "$bad" "after the $1: the next run works in ${ms} ms; no process (${procs:-none}) and no cgroup (${cg:-none}) left"
    all=$(pgrep -u 101000 | wc -l); [ "$all" -eq 0 ] || diag "(other processes of uid 101000 on the host: $all)"
}

mark=sbx-bomb-fork-$$
bomb --timeout 2s -- sh -c 'b() { b | b & }; b; sleep 10' "$mark"
is "$(jget "$r" status)" timeout "a fork bomb is held by the pids limit until the wall clock ends it"
aftermath "fork bomb"

mark=sbx-bomb-threads-$$
bomb --timeout 10s -- python3 -c '
import sys, threading
ev, n = threading.Event(), 0
try:
    while n < 100000:
        threading.Thread(target=ev.wait, daemon=True).start(); n += 1
except RuntimeError:
    pass
print(n)
ev.set()' "$mark"
n=$(jget "$r" stdout); [[ $n =~ ^[0-9]+$ ]] || n=99999
ok $(( n >= 64 )) "a thread bomb stops short of the pids limit ($n threads; status $(jget "$r" status))"
aftermath "thread bomb"

mark=sbx-bomb-memory-$$
bomb --timeout 10s -- python3 -c '
import sys
chunks = []
while True:
    b = bytearray(16 << 20)
    for i in range(0, len(b), 4096): b[i] = 1
    chunks.append(b)' "$mark"
is "$(jget "$r" status)" memory_limit "a memory bomb ends with memory_limit"
aftermath "memory bomb"

mark=sbx-bomb-disk-$$
bomb --timeout 10s -- sh -c 'i=0; while head -c 8M /dev/zero > /tmp/f$i; do i=$((i+1)); done; echo $i' "$mark"
like "$(jget "$r" stderr)" "No space left on device" "filling /tmp ends with ENOSPC at the tmpfs size (after $(jget "$r" stdout) files of 8 MiB)"
aftermath "disk filler"

# Empty files take no tmpfs blocks: only the memory limit (kernel memory for
# inodes and dentries is charged to the sandbox) stops them.
mark=sbx-bomb-inodes-$$
bomb --timeout 15s -- python3 -c '
import sys
n = 0
try:
    while n < 10000000:
        open("/tmp/%d" % n, "w").close(); n += 1
except OSError as e:
    print(n, e)' "$mark"
like "$(jget "$r" status) $(jget "$r" stdout)" "^(memory_limit|ok [0-9]+ .*No space left)" \
     "an inode bomb (empty files in /tmp) is stopped by the memory limit or the tmpfs ($(jget "$r" status))"
aftermath "inode bomb"

mark=sbx-bomb-files-$$
bomb --timeout 10s -- python3 -c '
import errno, os, sys
fds = []
try:
    while True: fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    print(len(fds), errno.errorcode[e.errno])' "$mark"
like "$(jget "$r" stdout)" "^2[0-9][0-9] EMFILE$" "opening files ends with EMFILE at the open-files limit ($(jget "$r" stdout))"
aftermath "descriptor bomb"

mark=sbx-bomb-output-$$
bomb --timeout 10s -- sh -c 'yes "$0"' "$mark"
is "$(jget "$r" status)" output_limit "an output flood ends with output_limit"
aftermath "output flood"
done_testing
