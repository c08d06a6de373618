#!/usr/bin/env bash
# Benchmarks of sandbox start-up: bare exec, bwrap, `sbx run --profile default`,
# the same without its seccomp filter (sbx-unconf) and (when a Docker
# daemon answers) `docker run`, each workload in one hyperfine invocation, then the
# in-process stage breakdown (build/bench/stages), then the daemon under load
# (bench/daemon.sh: build/sandboxd driven by build/bench/load). Prints medians and
# ratios that were all measured in this run; raw JSON goes to build/bench/.
#
# Run it through `make bench` (which builds build/sbx, build/sandboxd, build/bench/stages
# and build/bench/load first);
# build/sbx is copied to build/bench/sbx and that copy is what gets timed.
# Knobs (environment): WARMUP, TRUE_RUNS, PY_RUNS, COLD_RUNS, COLD_GAP (seconds of
# rest before each run of the "cold" workload), DOCKER_WARMUP, DOCKER_RUNS,
# STAGE_ROUNDS, SBX_BENCH_DOCKER_IMAGE (an image to use instead of searching),
# SBX_BENCH_NO_DOCKER=1 (skip docker even when it is up), SBX_BENCH_NO_DAEMON=1 (skip
# the daemon benchmark), DAEMON_* (see bench/daemon.sh), SBX_BENCH_NO_WORKFLOWS=1
# (skip the workflow benchmark), WF_* (see bench/workflows.py).
set -euo pipefail

cd "$(dirname "$0")/.."
# The tree's own profiles, whatever is installed in /etc.
export SBX_PROFILE_PATH=${SBX_PROFILE_PATH:-$PWD/profiles}

OUT=build/bench
SBX=build/sbx
STAGES=build/bench/stages
WARMUP=${WARMUP:-20}
TRUE_RUNS=${TRUE_RUNS:-200}
PY_RUNS=${PY_RUNS:-50}
COLD_RUNS=${COLD_RUNS:-20}
COLD_GAP=${COLD_GAP:-0.25}
DOCKER_WARMUP=${DOCKER_WARMUP:-3}
DOCKER_RUNS=${DOCKER_RUNS:-20}
STAGE_ROUNDS=${STAGE_ROUNDS:-300}

die() {
    echo "bench: $*" >&2
    exit 1
}

for tool in hyperfine bwrap python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed (make deps)"
done
[[ -x $SBX ]] || die "$SBX is missing: run 'make bench', not bench/run.sh alone"
[[ -x $STAGES ]] || die "$STAGES is missing: run 'make bench', not bench/run.sh alone"
if [[ ${SBX_BENCH_NO_DAEMON:-0} != 1 ]]; then
    for f in build/sandboxd build/sandboxd-spawner build/bench/load; do
        [[ -x $f ]] || die "$f is missing: run 'make bench', not bench/run.sh alone"
    done
fi
mkdir -p "$OUT"
# Time a private copy of the binary make just built: a rebuild of build/sbx in the
# middle of the run (other work in the tree) must not change or break what is timed.
cp "$SBX" "$OUT/sbx.tmp" && mv -f "$OUT/sbx.tmp" "$OUT/sbx"
SBX=$OUT/sbx

BWRAP="bwrap --unshare-all --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64"
BWRAP+=" --symlink usr/bin /bin --symlink usr/sbin /sbin --"

# Each command must work before it is timed: a failing sandbox is not a fast one.
check() {
    local what=$1
    shift
    local errf
    errf=$(mktemp)
    if ! "$@" >/dev/null 2>"$errf"; then
        echo "bench: $what failed: $*" >&2
        sed 's/^/  /' "$errf" >&2
        rm -f "$errf"
        exit 1
    fi
    rm -f "$errf"
}

# ---- docker: only when the daemon answers and a local image can run the command ----
docker_reason=""
docker_images=()
if [[ ${SBX_BENCH_NO_DOCKER:-0} == 1 ]]; then
    docker_reason="SBX_BENCH_NO_DOCKER=1"
elif ! command -v docker >/dev/null; then
    docker_reason="docker is not installed"
elif ! timeout 15 docker info >/dev/null 2>&1; then
    docker_reason="the docker daemon does not answer ('docker info' failed)"
elif [[ -n ${SBX_BENCH_DOCKER_IMAGE:-} ]]; then
    docker_images=("$SBX_BENCH_DOCKER_IMAGE")
else
    # Local images only (tagged first, then untagged by id); nothing is pulled.
    mapfile -t docker_images < <(timeout 15 docker image ls \
        --format '{{.Repository}}:{{.Tag}} {{.ID}}' 2>/dev/null |
        awk '$1 !~ /<none>/ {print $1; next} {print $2}' | head -n 8)
    [[ ${#docker_images[@]} -gt 0 ]] ||
        docker_reason="no local docker image (none is pulled: docker import a rootfs first)"
fi

# Sets docker_img and docker_cmd to the first local image that runs "$@" (or,
# failing that, the same command found through the image's PATH) successfully.
docker_img=""
docker_cmd=""
docker_image_for() {
    local img cmd
    local -a alt=("${1##*/}" "${@:2}")
    for img in "${docker_images[@]}"; do
        for cmd in "$*" "${alt[*]}"; do
            # shellcheck disable=SC2086  # the command line is split on purpose
            if timeout 120 docker run --rm --network none --entrypoint= "$img" $cmd \
                >/dev/null 2>&1; then
                docker_img=$img
                docker_cmd=$cmd
                return 0
            fi
        done
    done
    return 1
}

# ---- one workload: bare, bwrap, sbx in one hyperfine run; docker in a shorter one ----
# bench_workload LABEL RUNS CMD...; HF_EXTRA: more hyperfine options (an array)
HF_EXTRA=()
bench_workload() {
    local label=$1 runs=$2
    shift 2
    local cmd="$*"
    check "bare $cmd" "$@"
    # shellcheck disable=SC2086  # the command lines are split on purpose
    check "bwrap $cmd" $BWRAP "$@"
    check "sbx run --profile default -- $cmd" "$SBX" run --profile default -- "$@"
    check "sbx run --seccomp unconfined -- $cmd" "$SBX" run --seccomp unconfined -- "$@"
    echo "== workload '$label': $cmd  (hyperfine -N, $WARMUP warm-up, $runs runs each)"
    rm -f "$OUT/$label".* "$OUT/docker-$label".*
    printf '%s\t%s\n' bare "$cmd" bwrap "$BWRAP $cmd" sbx "$SBX run --profile default -- $cmd" \
        sbx-unconf "$SBX run --seccomp unconfined -- $cmd" >"$OUT/$label.commands"
    # hyperfine's own warnings (outliers on a noisy box) go to the log; the
    # medians below are the robust numbers.
    if ! hyperfine -N --style none --warmup "$WARMUP" --runs "$runs" "${HF_EXTRA[@]}" \
        --export-json "$OUT/$label.json" \
        -n bare "$cmd" \
        -n bwrap "$BWRAP $cmd" \
        -n sbx "$SBX run --profile default -- $cmd" \
        -n sbx-unconf "$SBX run --seccomp unconfined -- $cmd" 2>"$OUT/$label.log"; then
        cat "$OUT/$label.log" >&2
        die "hyperfine failed for workload '$label'"
    fi

    if [[ -n $docker_reason ]]; then
        echo "$docker_reason" >"$OUT/docker-$label.skip"
        return 0
    fi
    if [[ ${#HF_EXTRA[@]} -gt 0 ]]; then
        echo "measured only back to back" >"$OUT/docker-$label.skip"
        return 0
    fi
    if ! docker_image_for "$@"; then
        echo "no local image runs '$cmd' (tried: ${docker_images[*]})" >"$OUT/docker-$label.skip"
        return 0
    fi
    # docker run takes hundreds of ms: its own, shorter invocation keeps the whole
    # bench within a few minutes.
    local dcmd="docker run --rm --network none --entrypoint= $docker_img $docker_cmd"
    echo "   docker ($docker_img): $DOCKER_WARMUP warm-up, $DOCKER_RUNS runs (own invocation)"
    printf '%s\t%s\n' docker "$dcmd" >>"$OUT/$label.commands"
    if ! hyperfine -N --style none --warmup "$DOCKER_WARMUP" --runs "$DOCKER_RUNS" \
        --export-json "$OUT/docker-$label.json" \
        -n docker "$dcmd" 2>"$OUT/docker-$label.log"; then
        cat "$OUT/docker-$label.log" >&2
        die "hyperfine failed for docker, workload '$label'"
    fi
}

started=$(date +%s)
echo "sandboxd bench: $(nproc) cores, kernel $(uname -r); medians are what to trust here"
if [[ -n $docker_reason ]]; then
    echo "docker: skipped: $docker_reason"
else
    echo "docker: candidate local images: ${docker_images[*]}"
fi
echo

bench_workload true "$TRUE_RUNS" /bin/true
# /usr/bin/python3, not whatever python3 PATH finds first (a pyenv shim, say):
# the sandboxes only see /usr, and all three must run the same interpreter.
bench_workload python "$PY_RUNS" /usr/bin/python3 -c pass
# The same /bin/true, each run alone after a rest: what one `sbx run` from a shell
# or an agent costs. Back to back, work that one run leaves warm for the next
# (kernel state such as an RCU-synchronised lock's fast path) hides costs that
# a lone run pays: a cgroup move once cost 8 to 16 ms here and only this showed it.
HF_EXTRA=(--prepare "sleep $COLD_GAP")
WARMUP_SAVED=$WARMUP WARMUP=2
bench_workload cold "$COLD_RUNS" /bin/true
WARMUP=$WARMUP_SAVED HF_EXTRA=()

echo "== stage breakdown: $STAGES -n $STAGE_ROUNDS"
"$STAGES" -n "$STAGE_ROUNDS" -S "$SBX" -j "$OUT/stages.json" >"$OUT/stages.txt" ||
    die "$STAGES failed (see above)"

rm -f "$OUT/daemon.json"
if [[ ${SBX_BENCH_NO_DAEMON:-0} != 1 ]]; then
    echo "== daemon: bench/daemon.sh (sandboxd under load from build/bench/load)"
    bench/daemon.sh "$OUT" || die "the daemon benchmark failed (see above)"
fi

rm -f "$OUT/workflows.json"
if [[ ${SBX_BENCH_NO_WORKFLOWS:-0} != 1 ]]; then
    echo "== workflows: bench/workflows.py (the orchestrator against POST /v1/exec)"
    python3 bench/workflows.py "$PWD/build/sandboxd" || die "the workflow benchmark failed (see above)"
fi

echo
python3 bench/report.py "$OUT"
echo
cat "$OUT/stages.txt"
echo
if [[ -f $OUT/daemon.json ]]; then
    python3 bench/report.py --daemon "$OUT"
    echo
fi
python3 bench/report.py --summary "$OUT"
echo "total bench time: $(($(date +%s) - started)) s; raw data in $OUT/"
