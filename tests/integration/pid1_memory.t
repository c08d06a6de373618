#!/bin/bash
# As root, sbx run's pid 1 shares sbx's memory and stays out of the sandbox's
# memory cgroup, which the command joins itself: it sees its memory group under
# sbx's (pid 1 made the cgroup namespace outside it). Where the OOM killer
# could not be kept off sbx that way, pid 1 is a copy, joins the memory group
# itself, and the command sees "/" (docs/security.md, "Memory of the caller").
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root"
[ -f /sys/fs/cgroup/memory/tasks ] || skip_all "needs the cgroup v1 memory controller"
plan 5

own=/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)
limited=sbx-test-limited-$$
dumpable=$(cat /proc/sys/fs/suid_dumpable)
allocating=$(cat /proc/sys/vm/oom_kill_allocating_task)
restore() {
    echo "$dumpable" > /proc/sys/fs/suid_dumpable
    echo "$allocating" > /proc/sys/vm/oom_kill_allocating_task
    rmdir "$own/$limited" 2>/dev/null
    rm -rf "$TMPD"
}
trap restore EXIT

memline() { "$SBX" run -- cat /proc/self/cgroup | sed -n 's/^[0-9]*:memory://p'; }

echo 0 > /proc/sys/fs/suid_dumpable
echo 0 > /proc/sys/vm/oom_kill_allocating_task
like "$(memline)" '^/sandboxd/' "pid 1 shares sbx's memory; the command joins the memory group"

echo 1 > /proc/sys/fs/suid_dumpable
is "$(memline)" / "with fs.suid_dumpable = 1, pid 1 is a copy in the memory group"
echo 0 > /proc/sys/fs/suid_dumpable

echo 1 > /proc/sys/vm/oom_kill_allocating_task
is "$(memline)" / "with vm.oom_kill_allocating_task = 1, pid 1 is a copy"
echo 0 > /proc/sys/vm/oom_kill_allocating_task

mkdir "$own/$limited" && echo 1G > "$own/$limited/memory.limit_in_bytes"
is "$(SBX_CGROUP_PARENT=$limited SBX_CGROUP_POOL=0 memline)" / \
   "under a memory parent with a limit of its own, pid 1 is a copy"
like "$(SBX_CGROUP_PARENT=$limited SBX_CGROUP_POOL=0 "$SBX" run --memory 32m -- \
        python3 -c 'b = bytearray(64 << 20)' 2>&1)" 'memory_limit' \
     "and the sandbox's memory limit still holds there"
done_testing
