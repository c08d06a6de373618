#!/bin/bash
# sbx exec against a real sandboxd: output and exit codes, streaming, --json,
# stdin, files, code, the daemon's errors, and a daemon that is not there.
. "$(dirname "$0")/../integration/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SANDBOXD=${SANDBOXD:-$ROOT/build/sandboxd}
[ -x "$SANDBOXD" ] || skip_all "build/sandboxd not built"
[ -x "$ROOT/build/sbx-exec" ] || skip_all "build/sbx-exec not built"
[ "$(id -u)" -eq 0 ] || skip_all "needs root (the daemon runs sandboxes as root here)"
"$SANDBOXD" --help 2>&1 | grep -q -e '--state-dir' ||
    { echo "Bail out! $SANDBOXD has no --state-dir: update this test to its flags"; exit 1; }

DAEMON_PIDS=()
stop_daemons() {
    for p in "${DAEMON_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
}
trap 'stop_daemons; rm -rf "$TMPD"' EXIT

# start_daemon NAME [FLAGS...]: a daemon on $TMPD/NAME.sock; sets $pid.
start_daemon() {
    local name=$1
    shift
    "$SANDBOXD" --socket "$TMPD/$name.sock" --state-dir "$TMPD/$name-state" "$@" \
        > "$TMPD/$name.log" 2>&1 &
    pid=$!
    DAEMON_PIDS+=("$pid")
    for _ in $(seq 100); do
        [ -S "$TMPD/$name.sock" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "Bail out! sandboxd did not come up: $(tail -3 "$TMPD/$name.log")"
    exit 1
}

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TOKEN=exec-client-test-token-0123456789
SANDBOXD_TOKENS=$TOKEN start_daemon main --listen "127.0.0.1:$PORT"
MAIN_PID=$pid
export SANDBOXD_SOCKET=$TMPD/main.sock
unset SANDBOXD_URL SANDBOXD_TOKEN

plan 47

# Output and exit codes, as with sbx run.
out=$("$SBX" exec -- echo hello); is "$?:$out" "0:hello" "stdout passes through; exit 0"
"$SBX" exec -- sh -c 'exit 7'; is $? 7 "the command's exit code"
"$SBX" exec -- sh -c 'echo out; echo err >&2' > "$TMPD/o" 2> "$TMPD/e"
is "$(cat "$TMPD/o")|$(cat "$TMPD/e")" "out|err" "stdout and stderr go to their own fds"
"$SBX" exec -- sh -c 'kill -TERM $$'; is $? 143 "killed by SIGTERM: 128+15"
err=$("$SBX" exec --timeout 300ms -- sleep 10 2>&1); is $? 124 "timeout: 124"
is "$err" "sbx exec: timeout: killed after the 300 ms wall-clock limit" "and the explanation of sbx run"
"$SBX" run --output-limit 1k -- head -c 100000 /dev/zero > /dev/null 2>&1; run_rc=$?
err=$("$SBX" exec --output-limit 1k -- head -c 100000 /dev/zero 2>&1 >/dev/null)
is $? "$run_rc" "output beyond the limit: the exit code of sbx run"
like "$err" "sbx exec: output_limit: output beyond 1024 bytes; run stopped" "and says so"
err=$("$SBX" exec -- /no/such/program 2>&1); is $? 125 "a program that does not exist: 125"
like "$err" 'sbx exec: sandbox error: .*/no/such/program' "with the runtime's message"

out=$("$SBX" exec --timeout 5s --cpu-time 2s --memory 128m --pids 32 --cpus 0.5 --output-limit 64k \
      --file-size 1m --open-files 64 --tmpfs-size 16m -- sh -c 'ulimit -n; df -k /tmp | tail -1' |
      awk 'NR == 1 {n = $1} NR == 2 {print n, $2}')
is "$out" "64 16384" "every limit option is sent and applied"

# Streaming: a line arrives while the command still runs.
"$SBX" exec -- sh -c 'echo first; sleep 1.5; echo second' |
    while read -r l; do echo "$(date +%s%N) $l"; done > "$TMPD/times"
t1=$(awk '$2 == "first" {print $1}' "$TMPD/times"); t2=$(awk '$2 == "second" {print $1}' "$TMPD/times")
ok $(( (t2 - t1) / 1000000 >= 1000 ? 0 : 1 )) "output is streamed as it happens ($(( (t2 - t1) / 1000000 )) ms apart)"
out=$("$SBX" exec --no-stream -- sh -c 'echo a; echo b >&2; exit 4' 2>&1); rc=$?
is "$rc:$(echo "$out" | sort | tr '\n' ' ')" "4:a b " "--no-stream: output at the end, same exit code"
"$SBX" exec -- sh -c 'printf "\377\000x"' > "$TMPD/bin1"
"$SBX" exec --no-stream -- sh -c 'printf "\377\000x"' > "$TMPD/bin2"
is "$(od -An -c "$TMPD/bin1" | tr -s ' ')|$(od -An -c "$TMPD/bin2" | tr -s ' ')" \
   " 377 \0 x| 377 \0 x" "bytes that are not UTF-8, streamed or not, come out as they were"

# --json: the daemon's result object.
"$SBX" exec --json -- sh -c 'echo hi; exit 3' > "$TMPD/r.json"; is $? 3 "--json: the command's exit code"
is "$(jget "$TMPD/r.json" status):$(jget "$TMPD/r.json" stdout)" "exit_nonzero:hi" "--json prints the result"
like "$(jget "$TMPD/r.json" id)" '.' "with the daemon's id"
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(not all(k in r for k in ("queued_ms", "setup_ms", "run_ms", "usage")))' "$TMPD/r.json"
ok $? "and its timings and usage"
out=$("$SBX" exec --json -- echo x | head -c1); is "$out" "{" "--json prints only the object on stdout"

# Inputs.
printf 'line1\nline2\n' > "$TMPD/in"
out=$("$SBX" exec --stdin "$TMPD/in" -- wc -l); is "$out" 2 "--stdin FILE"
out=$(echo piped | "$SBX" exec --stdin - -- cat); is "$out" piped "--stdin - sends sbx's own stdin"
out=$("$SBX" exec -- cat); is "$out" "" "stdin is empty by default"
head -c 3000 /dev/urandom > "$TMPD/rand"
is "$("$SBX" exec --stdin "$TMPD/rand" -- md5sum)" "$(md5sum < "$TMPD/rand")" "binary stdin arrives intact"
out=$("$SBX" exec --env A=1 --env B=two --workdir /tmp -- sh -c 'echo "$A $B $(pwd)"')
is "$out" "1 two /tmp" "--env and --workdir"
printf '#!/bin/sh\necho "script says $1"\n' > "$TMPD/run.sh" && chmod 755 "$TMPD/run.sh"
out=$("$SBX" exec --file run.sh="$TMPD/run.sh" --file data/in.txt="$TMPD/in" -- \
      sh -c './run.sh hi && cat data/in.txt | wc -l')
is "$(echo "$out" | tr '\n' ' ')" "script says hi 2 " "--file: an executable script and a file in a subdirectory"
is "$("$SBX" exec --file r.bin="$TMPD/rand" -- md5sum r.bin | cut -d' ' -f1)" \
   "$(md5sum < "$TMPD/rand" | cut -d' ' -f1)" "--file: binary content arrives intact"
out=$(printf 'import sys\nprint(6 * 7)\nsys.exit(5)\n' | "$SBX" exec --language python --code -); rc=$?
is "$rc:$out" "5:42" "--language python --code -"
printf 'echo from-a-file\n' > "$TMPD/code.sh"
out=$("$SBX" exec --language sh --code "$TMPD/code.sh"); is "$out" from-a-file "--code FILE"

# The daemon's refusals, and ours.
err=$("$SBX" exec --memory 1t -- true 2>&1); is $? 125 "a request the daemon refuses: 125"
like "$err" '^sbx exec: HTTP 400 bad_request: limits\.memory: ' "shown as HTTP 400 with its message"
err=$("$SBX" exec --profile no-such-profile -- true 2>&1); like "$err" '^sbx exec: HTTP 400 bad_request: profile: ' "an unknown profile"
err=$("$SBX" exec --language cobol --code "$TMPD/code.sh" 2>&1); like "$err" 'HTTP 400 bad_request: language: ' "an unknown language"
err=$("$SBX" exec --bind /etc:/x -- true 2>&1); is $? 2 "a host path option: exit 2"
like "$err" "--bind: not available through the daemon" "with the reason"
"$SBX" exec --memory 12x -- true 2>/dev/null; is $? 2 "a bad value is refused before sending: exit 2"
"$SBX" exec --help | grep -q -e '--no-stream'; ok $? "--help documents the options"

# TCP with a bearer token.
out=$(SANDBOXD_SOCKET= "$SBX" exec --url "http://127.0.0.1:$PORT" --token "$TOKEN" -- echo tcp); is "$out" tcp "--url with --token"
out=$(SANDBOXD_URL="http://127.0.0.1:$PORT/" SANDBOXD_TOKEN=$TOKEN "$SBX" exec -- echo env); is "$out" env "\$SANDBOXD_URL and \$SANDBOXD_TOKEN"
err=$("$SBX" exec --url "http://127.0.0.1:$PORT" --token wrong-token-wrong-token -- true 2>&1); rc=$?
like "$rc:$err" '^125:sbx exec: HTTP 401 unauthorized: .+' "a wrong token: HTTP 401 with the daemon's message"

# A full queue: 429 with the time to wait.
start_daemon busy --max-running 1 --max-queue 0
"$SBX" exec --socket "$TMPD/busy.sock" -- sleep 3 &
sleeper=$!
sleep 1                        # it holds the only slot by then
err=$("$SBX" exec --socket "$TMPD/busy.sock" -- true 2>&1); rc=$?
like "$rc:$err" '^125:sbx exec: HTTP 429 queue_full: .*\(retry after [0-9]+ s\)$' "a full queue: HTTP 429 with Retry-After"
wait $sleeper; is $? 0 "the run that held the slot ends normally"

# No daemon.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TMPD/stale.sock"
err=$("$SBX" exec --socket "$TMPD/stale.sock" -- true 2>&1); rc=$?
is "$rc:$err" "125:sbx exec: cannot connect to sandboxd at socket $TMPD/stale.sock: Connection refused; sandboxd is not running there" \
   "connection refused: names the socket and says the daemon is not running"
err=$("$SBX" exec --socket "$TMPD/none.sock" -- true 2>&1)
like "$err" "socket $TMPD/none.sock: No such file or directory; no socket there: sandboxd is not running" "no socket at all"
err=$(SANDBOXD_SOCKET= "$SBX" exec --url "http://127.0.0.1:1" -- true 2>&1)
like "$err" "cannot connect to sandboxd at http://127.0.0.1:1: Connection refused" "nothing on the URL"

# Where sbx finds sbx-exec.
mkdir -p "$TMPD/alone" "$TMPD/prefix/bin" "$TMPD/prefix/libexec/sandboxd"
cp "$SBX" "$TMPD/alone/sbx"
err=$("$TMPD/alone/sbx" exec -- true 2>&1); rc=$?
is "$rc:$err" "125:sbx exec: the sbx-exec program is not installed (looked for $TMPD/alone/sbx-exec and $TMPD/alone/../libexec/sandboxd/sbx-exec)" \
   "without sbx-exec: a clear error"
cp "$SBX" "$TMPD/prefix/bin/sbx" && cp "$ROOT/build/sbx-exec" "$TMPD/prefix/libexec/sandboxd/"
out=$("$TMPD/prefix/bin/sbx" exec -- echo installed); is "$out" installed "found in PREFIX/libexec/sandboxd"

kill "$MAIN_PID"; wait "$MAIN_PID"; is $? 0 "the daemon stops cleanly on SIGTERM"
done_testing
