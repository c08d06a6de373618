#!/usr/bin/env bash
# The daemon benchmark: starts sandboxd on a private socket, drives POST /v1/exec
# with build/bench/load at several client counts, and writes build/bench/daemon.json
# (bench/report.py --daemon prints it). Called by bench/run.sh; it also runs alone
# once `make build/sandboxd build/sandboxd-spawner build/bench/load` is done.
#
# For each --max-running setting (DAEMON_MAX_RUNNING, "default" = the daemon's own
# default, 2 x cores), one daemon is started. The first setting gets the whole
# matrix (each workload at each client count in DAEMON_CLIENTS); the others get
# only DAEMON_SWEEP_CLIENTS, where the setting matters. Each run is a warm-up of
# DAEMON_WARMUP requests per client, then DAEMON_DURATION seconds of timed load.
# After its runs, the daemon's peak RSS (VmHWM) is read and it is stopped with
# SIGTERM; it must exit 0.
set -euo pipefail

cd "$(dirname "$0")/.."
export SBX_PROFILE_PATH=${SBX_PROFILE_PATH:-$PWD/profiles}

OUT=${1:-build/bench}
LOAD=build/bench/load
DURATION=${DAEMON_DURATION:-5}
WARMUP=${DAEMON_WARMUP:-20}
CLIENTS=${DAEMON_CLIENTS:-1 4 16}
SWEEP_CLIENTS=${DAEMON_SWEEP_CLIENTS:-16}
MAX_RUNNING=${DAEMON_MAX_RUNNING:-default 8}

die() {
    echo "bench/daemon: $*" >&2
    exit 1
}

for f in build/sandboxd build/sandboxd-spawner; do
    [[ -x $f ]] || die "$f is missing: run 'make bench'"
done
[[ -x $LOAD ]] || die "$LOAD is missing: run 'make bench' (or make $LOAD)"
command -v curl >/dev/null || die "curl is not installed (make deps)"
mkdir -p "$OUT"
# Time a private copy: a rebuild of build/sandboxd during the run must not matter.
# The daemon finds its spawner beside itself.
for f in sandboxd sandboxd-spawner; do
    cp "build/$f" "$OUT/$f.tmp" && mv -f "$OUT/$f.tmp" "$OUT/$f"
done
SANDBOXD=$OUT/sandboxd

TMP=$(mktemp -d /tmp/sbx-bench-daemon.XXXXXX)
DPID=""
cleanup() {
    if [[ -n $DPID ]] && kill -0 "$DPID" 2>/dev/null; then
        kill -TERM "$DPID" 2>/dev/null || true
        wait "$DPID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# Workloads: label, JSON command, the stdout every answer must carry.
# /usr/bin/python3 by path, as in run.sh: the same interpreter as the hyperfine part.
WL_LABELS=(true python)
WL_BODIES=('{"command":["/bin/true"]}' '{"command":["/usr/bin/python3","-c","print(1)"]}')
WL_STDOUT=('' $'1\n')
WL_SHOWN=('/bin/true' "/usr/bin/python3 -c 'print(1)'")

# Whole-machine CPU counters (jiffies): "busy total".
cpu_now() {
    awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat
}
# The daemon's own CPU and that of the children it reaped (ms): "self children".
proc_cpu() {
    local hz
    hz=$(getconf CLK_TCK)
    # Fields after the ")" of the command name: utime, stime, cutime, cstime are 12-15.
    sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$hz" '{print ($12 + $13) * 1000 / hz,
        ($14 + $15) * 1000 / hz}'
}

start_daemon() {
    local mr=$1 log=$2
    # The copy is not next to the tree's sandboxd/languages.json: name it.
    local -a args=(--socket "$TMP/sandboxd.sock" --state-dir "$TMP/state"
        --languages "$PWD/sandboxd/languages.json")
    [[ $mr == default ]] || args+=(--max-running "$mr")
    rm -rf "$TMP/state"
    "$SANDBOXD" "${args[@]}" 2>"$log" &
    DPID=$!
    for _ in $(seq 100); do
        if curl -sf --unix-socket "$TMP/sandboxd.sock" http://localhost/v1/health \
            >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$DPID" 2>/dev/null; then
            local rc=0
            wait "$DPID" || rc=$?
            DPID=""
            sed 's/^/  /' "$log" >&2
            die "sandboxd (--max-running $mr) exited at start with status $rc (log above)"
        fi
        sleep 0.05
    done
    sed 's/^/  /' "$log" >&2
    die "sandboxd (--max-running $mr) did not answer /v1/health within 5 s (log above)"
}

stop_daemon() {
    local log=$1 rc=0
    kill -TERM "$DPID"
    wait "$DPID" || rc=$?
    DPID=""
    if [[ $rc -ne 0 ]]; then
        grep -v '"request_id"' "$log" | tail -n 20 | sed 's/^/  /' >&2
        die "sandboxd exited with status $rc after SIGTERM (log above)"
    fi
}

# What else the box is doing: the runs below share its cores with any other work.
read -r b0 t0 < <(cpu_now)
sleep 1
read -r b1 t1 < <(cpu_now)
background=$(awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" 'BEGIN {printf "%.1f", t ? 100 * b / t : 0}')
loadavg=$(cut -d' ' -f1 /proc/loadavg)
echo "   before the runs: CPU ${background}% busy over 1 s, load average $loadavg"

RUNS=$TMP/runs.jsonl
DAEMONS=$TMP/daemons.jsonl
: >"$RUNS"
: >"$DAEMONS"
started=$(date +%s)
first=1
for mr in $MAX_RUNNING; do
    log=$TMP/daemon-$mr.log
    start_daemon "$mr" "$log"
    info=$(curl -sf --unix-socket "$TMP/sandboxd.sock" http://localhost/v1/info) ||
        die "GET /v1/info failed"
    mr_value=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["max_running"])' \
        <<<"$info")
    if ((first)); then clients=$CLIENTS; else clients=$SWEEP_CLIENTS; fi
    echo "   sandboxd --max-running $mr (= $mr_value), pid $DPID: clients $clients," \
        "${DURATION} s each after $WARMUP warm-up requests per client"
    for i in "${!WL_LABELS[@]}"; do
        label=${WL_LABELS[$i]}
        for c in $clients; do
            args=(--socket "$TMP/sandboxd.sock" --clients "$c" --duration "$DURATION"
                --warmup "$WARMUP" --body "${WL_BODIES[$i]}")
            [[ -z ${WL_STDOUT[$i]} ]] || args+=(--expect-stdout "${WL_STDOUT[$i]}")
            # The CPU counters bracket the whole load run, warm-up included: the
            # report divides them by every request sent (warm-up ones too).
            read -r b0 t0 < <(cpu_now)
            read -r s0 k0 < <(proc_cpu "$DPID")
            w0=$(date +%s.%N)
            rc=0
            res=$("$LOAD" "${args[@]}" 2>"$TMP/load.err") || rc=$?
            w1=$(date +%s.%N)
            read -r b1 t1 < <(cpu_now)
            read -r s1 k1 < <(proc_cpu "$DPID")
            if [[ $rc -ne 0 || -z $res ]]; then
                sed 's/^/  /' "$TMP/load.err" >&2
                grep -v '"request_id"' "$log" | tail -n 20 | sed 's/^/  /' >&2
                die "load failed (exit $rc): $label, $c clients, --max-running $mr"
            fi
            if [[ -s $TMP/load.err ]]; then
                sed "s/^/   [$label x$c] /" "$TMP/load.err" >&2
            fi
            {
                printf '{"max_running": %s, "max_running_setting": "%s", "workload": "%s",' \
                    "$mr_value" "$mr" "$label"
                printf ' "wall_s": %s, "requests_sent": %s,' \
                    "$(awk -v a="$w0" -v b="$w1" 'BEGIN {printf "%.3f", b - a}')" \
                    "$(python3 -c 'import json, sys; r = json.loads(sys.argv[1]);
print(r["requests"] + r["clients"] * r["warmup_per_client"])' "$res")"
                printf ' "cpu_busy_pct": %s, "daemon_cpu_ms": %s, "children_cpu_ms": %s,' \
                    "$(awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" \
                        'BEGIN {printf "%.1f", t ? 100 * b / t : 0}')" \
                    "$(awk -v a="$s0" -v b="$s1" 'BEGIN {print b - a}')" \
                    "$(awk -v a="$k0" -v b="$k1" 'BEGIN {print b - a}')"
                printf ' "load": %s}\n' "$res"
            } >>"$RUNS"
            python3 - "$res" "$label" "$c" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
print(f"     {sys.argv[2]:<7} {sys.argv[3]:>3} clients: {r['requests']:>6} requests"
      f"  {r['throughput_rps']:8.1f}/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
      f"  failures {r['failures']}")
EOF
        done
    done
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$DPID/status")
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$DPID/status")
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$DPID/status")
    {
        printf '{"max_running": %s, "max_running_setting": "%s", "vmhwm_kb": %s,' \
            "$mr_value" "$mr" "$hwm"
        printf ' "vmrss_kb": %s, "threads": %s, "full_matrix": %s}\n' "$rss" "$threads" \
            "$( ((first)) && echo true || echo false)"
    } >>"$DAEMONS"
    awk -v h="$hwm" -v r="$rss" -v t="$threads" 'BEGIN {printf "     peak RSS (VmHWM) %.1f MB, RSS now %.1f MB, %s threads\n", h / 1024, r / 1024, t}'
    stop_daemon "$log"
    grep -v '"request_id"' "$log" | tail -n 50 >"$OUT/daemon-$mr.log" || true
    first=0
done

python3 - "$RUNS" "$DAEMONS" "$OUT/daemon.json" "$started" "$DURATION" "$WARMUP" \
    "$background" "$loadavg" \
    "${WL_LABELS[0]}=${WL_SHOWN[0]}" "${WL_LABELS[1]}=${WL_SHOWN[1]}" <<'EOF'
import json, os, sys
runs_f, daemons_f, out, started, duration, warmup, background, loadavg = sys.argv[1:9]
with open(runs_f) as f:
    runs = [json.loads(l) for l in f if l.strip()]
with open(daemons_f) as f:
    daemons = [json.loads(l) for l in f if l.strip()]
doc = {
    "started": int(started),
    "cores": os.cpu_count(),
    "duration_s": float(duration),
    "warmup_per_client": int(warmup),
    "background_busy_pct": float(background),
    "loadavg_before": float(loadavg),
    "workloads": dict(a.split("=", 1) for a in sys.argv[9:]),
    "daemons": daemons,
    "runs": runs,
}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
os.replace(tmp, out)
EOF
echo "   daemon benchmark: $(($(date +%s) - started)) s; raw data in $OUT/daemon.json"
