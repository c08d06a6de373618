#!/bin/bash
# Limits end the run with the right status and leave nothing behind.
. "$(dirname "$0")/lib.sh"
plan 26

r="$TMPD/r.json"
"$SBX" run --json --memory 64m -- python3 -c 'b=bytearray(200<<20)
for i in range(0,len(b),4096): b[i]=1' > "$r"
is "$(jget "$r" status)" memory_limit "a memory hog gets memory_limit"
peak=$(jget "$r" usage.memory_peak_bytes)
ok $(( peak < 60<<20 || peak > 68<<20 )) "peak memory is at the 64 MiB limit ($peak)"

start=$(date +%s%N)
"$SBX" run --json --pids 16 --timeout 3s -- sh -c 'bomb() { bomb | bomb & }; bomb; sleep 10' > "$r" 2>/dev/null
is "$(jget "$r" status)" timeout "a fork bomb runs into the wall clock"
pp=$(jget "$r" usage.pids_peak)
ok $(( pp == 0 || pp > 16 )) "and is held to the pids limit (peak $pp)"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
ok $(( ms > 8000 )) "the bomb ended within its timeout (${ms} ms)"
start=$(date +%s%N); "$SBX" run -- true; ms=$(( ($(date +%s%N) - start) / 1000000 ))
ok $(( ms > 1000 )) "the host stays responsive: the next run takes ${ms} ms"

"$SBX" run --json --cpu-time 500ms --timeout 10s -- sh -c 'while :; do :; done' > "$r"
is "$(jget "$r" status)" cpu_limit "while(1) gets cpu_limit"
"$SBX" run --json --cpu-time 1s --timeout 20s -- sh -c 'for i in 1 2 3 4; do (while :; do :; done) & done; wait' > "$r"
is "$(jget "$r" status)" cpu_limit "CPU time counts the whole tree"
cpu=$(python3 -c 'import json,sys; u=json.load(open(sys.argv[1]))["usage"]; print(int(u["cpu_user_ms"]+u["cpu_sys_ms"]))' "$r")
ok $(( cpu < 900 || cpu > 1600 )) "killed soon after 1 s of CPU (${cpu} ms)"

"$SBX" run --json --timeout 500ms -- sh -c 'echo before; (setsid sh -c "sleep 61.25" &); sleep 60' > "$r"
is "$(jget "$r" status)" timeout "a sleeper gets timeout"
is "$(jget "$r" stdout)" "before" "what it wrote before the kill is kept"
sleep 0.2
pgrep -f 'sleep 61.25' >/dev/null; ok $((! $?)) "its double-forked daemon child died with it"

"$SBX" run --json -- sh -c 'head -c 100M /dev/zero; echo done >&2' > "$r"
is "$(jget "$r" status)" output_limit "a 100 MiB writer gets output_limit"
is "$(jget "$r" stdout_truncated)" true "stdout is marked truncated"
len=$(python3 -c 'import base64,json,sys
d = json.load(open(sys.argv[1]))
out = base64.b64decode(d["stdout"]) if d.get("stdout_encoding") == "base64" else d["stdout"]
print(len(out))' "$r")
is "$len" 1048576 "exactly the 1 MiB cap is kept"
"$SBX" run --output-limit 10 -- echo 0123456789abcdef > "$TMPD/o" 2>/dev/null; rc=$?
is "$(cat "$TMPD/o")" 0123456789 "pass-through output stops at the cap"
is "$rc" 137 "and sbx exits 128+SIGKILL"

"$SBX" run --json --file-size 1m -- sh -c 'exec head -c 2M /dev/zero > /tmp/big' > "$r"
is "$(jget "$r" status)" signaled "a file beyond --file-size is stopped (SIGXFSZ)"
is "$(jget "$r" signal)" 25 "with signal 25"
out=$("$SBX" run --open-files 16 -- sh -c 'ulimit -n'); is "$out" 16 "open files limit applies"
out=$("$SBX" run -- sh -c 'ulimit -c'); is "$out" 0 "core dumps are off"
"$SBX" run --tmpfs-size 1m -- sh -c 'head -c 2M /dev/zero > /tmp/big' 2>/dev/null; ok $((! $?)) "/tmp is size-limited"
# A killed sbx takes its sandbox along, and the next run sweeps its cgroup away.
"$SBX" run -- sh -c 'sleep 71.5 & sleep 71.6' & sbx=$!
for _ in $(seq 50); do pgrep -f 'sleep 71.6' >/dev/null && break; sleep 0.05; done
pgrep -f 'sleep 71.6' >/dev/null; ok $? "a sandbox runs under sbx (pid $sbx)"
kill -9 "$sbx"; wait "$sbx" 2>/dev/null; sleep 0.3
pgrep -f 'sleep 71' >/dev/null; ok $((! $?)) "kill -9 of sbx kills the whole sandbox"
"$SBX" run -- true
left=$(find /sys/fs/cgroup -maxdepth 6 -name "sbx-$sbx-*" 2>/dev/null | wc -l)
is "$left" 0 "the next run removes the killed run's cgroup"
# On cgroup v1 the sandbox moves itself into its group, and pid 1 itself back
# out ("0" to the tasks files; a pid 1 sharing sbx's memory leaves the memory
# group to the command): moving another process (cgroup.procs) takes a global
# lock that waits for an RCU grace period, 8 to 16 ms, whenever no move
# happened just before, which was most of a lone run's time.
if [ -f /sys/fs/cgroup/memory/tasks ]; then
    log=$(strace -f -qq -e trace=openat,write "$SBX" run -- true 2>&1 >/dev/null)
    moved=$(grep -c 'cgroup.procs", O_WRONLY' <<<"$log")
    self=$(grep -c '"tasks", O_WRONLY' <<<"$log")
    ok $(( ! (moved == 0 && self >= 4) )) \
       "cgroup v1: no process is moved by another ($moved), each moves itself ($self tasks files, in and out)"
else
    T_N=$((T_N + 1)); echo "ok $T_N # skip not cgroup v1"
fi
done_testing
