#!/bin/bash
# Regressions of the security review of the daemon: each point failed before its fix.
. "$(dirname "$0")/lib.sh"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

D_TCP=1 daemon_start --grace 1s

# Bodies are kept only for /v1/exec: GET with a large body, without a token on
# TCP, used to pin the body's memory (4 MiB per connection).
head -c 3000000 /dev/zero | tr '\0' 'a' > "$T/big"
before=$(rss_kb "$D_PID")
pids=()
for i in $(seq 20); do
    curl -s --max-time 20 -X GET -H 'Content-Type: application/json' --data-binary @"$T/big" \
        -o /dev/null "http://127.0.0.1:$D_PORT/v1/health" &
    pids+=($!)
done
wait "${pids[@]}"
after=$(rss_kb "$D_PID")
lt $(( (after - before) / 1024 )) 30 "20 GETs with 3 MB bodies: RSS grew $(( (after - before) / 1024 )) MB (< 30)"
health_ok; ok $? "still serving after the large GET bodies"

# 3.6 MB of "{}," made jansson allocate about 300 MB per request, in parallel.
"$PY" -c 'print("[" + "{},"*1200000 + "{}]")' > "$T/amp.json"
before=$(rss_kb "$D_PID")
pids=()
for i in $(seq 8); do
    curl -s --max-time 30 --unix-socket "$D_SOCK" -H 'Content-Type: application/json' \
        --data-binary @"$T/amp.json" -o "$T/amp$i.out" http://sandboxd/v1/exec &
    pids+=($!)
done
wait "${pids[@]}"
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$D_PID/status")
like "$(cat "$T/amp1.out")" '"invalid_json".*at most 100000' "a body of 1.2 million values: 400 before parsing"
lt $(( (hwm - before) / 1024 )) 100 "8 such bodies at once: peak RSS grew $(( (hwm - before) / 1024 )) MB (< 100)"

# A name cut at 60 bytes inside a UTF-8 character used to fail the error JSON:
# no answer at all.
name=$(printf 'a%.0s' $(seq 59))
exec_json "{\"$name\u00e9\": 1, \"command\": [\"true\"]}"
is "$STATUS" 400 "a key cut inside a UTF-8 character: 400"
is "$(jb 'd["error"]["code"]')" bad_request "and the error JSON"

# Names with a NUL matched the operator's lists on their first part.
exec_json '{"command": ["true"], "profile": "default\u0000x"}'
is "$STATUS $(jb 'd["error"]["field"]')" "400 profile" "profile with a NUL: 400 field profile"
exec_json '{"code": "echo", "language": "sh\u0000x"}'
is "$STATUS $(jb 'd["error"]["field"]')" "400 language" "language with a NUL: 400 field language"

# Output of control bytes used to travel escaped at six times its size.
exec_json '{"command": ["sh", "-c", "head -c 300000 /dev/zero | tr \"\\\\0\" \"\\\\1\""]}'
is "$(jb 'd["status"]') $(jb 'd.get("stdout_encoding")')" "ok base64" "control-byte output: base64"
lt "$(stat -c %s "$BODY")" 450000 "and the answer stays under 1.5 x the output"

# A method that is not UTF-8 left no access-log line.
"$PY" - "$D_SOCK" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"G\xe9T /v1/info HTTP/1.1\r\nHost: x\r\nX-Request-Id: badmethod-1\r\nConnection: close\r\n\r\n")
s.recv(65536)
EOF
like "$(log_line badmethod-1)" '"method":"G\?T"' "a method that is not UTF-8 is logged, with '?'"

# A client that leaves is counted as 499 in /metrics (it was "other").
curl -s --max-time 1 --unix-socket "$D_SOCK" -H 'Content-Type: application/json' \
    -d '{"command": ["sleep", "5"]}' http://sandboxd/v1/exec > /dev/null
sleep 0.5
api GET /metrics
like "$(grep '^sandboxd_http_requests_total{route="/v1/exec",code="499"}' "$BODY")" ' [1-9]' \
     "a client that left: code=\"499\" in /metrics"

# A streaming client that stops reading: the wall-clock limit still applies
# (it used to hold until the connection timed out, 60 s).
"$PY" - "$D_SOCK" > "$T/noread.out" <<'EOF' &
import json, socket, sys, time
body = json.dumps({"command": ["sh", "-c", "head -c 4000000 /dev/zero; sleep 31.25"],
                   "stream": True, "limits": {"timeout": "1s", "output": "8m"}}).encode()
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b"POST /v1/exec HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
time.sleep(6)                 # never reads
print("done")
EOF
reader=$!
# Seen as soon as it gets past its 4 MB (it used to be looked for once, after a
# second, which raced with its own 1 s timeout on a loaded machine).
eventually 1 has_process 'sleep 31.25'; ok $? "the stream's sandbox runs while its client does not read"
eventually 4 no_process 'sleep 31.25'
ok $? "the 1 s timeout kills it although the client does not read"

# Shutdown with such a client still takes about the grace period, not 35 s.
"$PY" - "$D_SOCK" <<'EOF' &
import json, socket, sys, time
body = json.dumps({"command": ["sh", "-c", "head -c 4000000 /dev/zero; sleep 32.5"],
                   "stream": True, "limits": {"output": "8m"}}).encode()
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b"POST /v1/exec HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
time.sleep(20)
EOF
stuck=$!
sleep 1
t0=$(now_ms)
daemon_stop
lt $(( $(now_ms) - t0 )) 8000 "SIGTERM with a client that does not read: stopped in $(( $(now_ms) - t0 )) ms (grace 1 s)"
kill "$stuck" "$reader" 2>/dev/null
wait "$stuck" "$reader" 2>/dev/null

# Sandboxes come from the spawner, not from a clone of the daemon's connection
# thread: pid 1 used to be "MHD-connection", holding the daemon's memory. The
# sandbox does not see its pid 1 (hidepid); the host sees it as the command's
# parent.
daemon_start
( exec_json '{"command": ["sleep", "2.468"]}' ) &
runner=$!
cmd=
for _ in $(seq 100); do
    cmd=$(pgrep -x -f 'sleep 2.468' | head -1)
    [ -n "$cmd" ] && break
    sleep 0.05
done
init=$(awk '/^PPid:/ {print $2}' "/proc/${cmd:-0}/status" 2>/dev/null)
is "$(cat "/proc/${init:-0}/comm" 2>/dev/null)" "sandboxd-spawn" "pid 1 is a fork of the spawner"
wait "$runner"
SPAWNER=$(ps -o pid=,comm= --ppid "$D_PID" | awk '$2 == "sandboxd-spawn" {print $1}')
ok "$([ -n "$SPAWNER" ]; echo $?)" "the daemon's child is the spawner"
# Each run forks the spawner: it is a static program of its own, so that a copy
# is a few mappings, not the daemon's dozens of shared libraries.
SPAWNER_BIN=$(dirname "$SANDBOXD")/sandboxd-spawner
is "$(readlink "/proc/$SPAWNER/exe")" "$SPAWNER_BIN" "the spawner runs sandboxd-spawner, beside sandboxd"
maps=$(wc -l < "/proc/$SPAWNER/maps")
lt "$maps" 30 "the spawner has few mappings: $maps (the daemon: $(wc -l < "/proc/$D_PID/maps"))"

# kill -9 of the daemon: the spawner, its workers and their sandboxes die with it.
curl -s --max-time 10 --unix-socket "$D_SOCK" -H 'Content-Type: application/json' \
    -d '{"command": ["sleep", "33.75"]}' http://sandboxd/v1/exec > /dev/null &
sleep 1
has_process 'sleep 33.75'; ok $? "a sandbox runs"
kill -KILL "$D_PID"
wait "$D_PID" 2>/dev/null
gone() { ! pgrep -f 'slee[p] 33.75' > /dev/null && ! alive "$SPAWNER"; }
eventually 3 gone
ok $? "kill -9 of the daemon: its sandbox and spawner are gone within 3 s"
rm -f "$D_SOCK"

# Without its spawner the daemon does not start, and says where it looked.
mkdir -p "$T/alone"
cp "$SANDBOXD" "$T/alone/sandboxd"
out=$(timeout 20 "$T/alone/sandboxd" --socket "$T/alone/s.sock" --state-dir "$T/alone/state" \
    --languages "$ROOT/sandboxd/languages.json" 2>&1)
rc=$?
is "$rc" 1 "no sandboxd-spawner beside sandboxd: exit 1"
like "$out" "the sandboxd-spawner program is not installed \(looked for $T/alone/sandboxd-spawner and " \
    "and the message says where it looked"
ok "$([ ! -e "$T/alone/s.sock" ]; echo $?)" "and no socket is left"
out=$(SANDBOXD_SPAWNER=sandboxd-spawner timeout 20 "$SANDBOXD" --socket "$T/alone/s.sock" \
    --state-dir "$T/alone/state" 2>&1)
is "$?:$out" '1:sandboxd: SANDBOXD_SPAWNER: "sandboxd-spawner" is not an absolute path' \
    "SANDBOXD_SPAWNER must be an absolute path"
# Installed: PREFIX/bin/sandboxd finds PREFIX/libexec/sandboxd/sandboxd-spawner.
mkdir -p "$T/prefix/bin" "$T/prefix/libexec/sandboxd"
cp "$SANDBOXD" "$T/prefix/bin/" && cp "$SPAWNER_BIN" "$T/prefix/libexec/sandboxd/"
SANDBOXD=$T/prefix/bin/sandboxd daemon_start --languages "$ROOT/sandboxd/languages.json"
exec_json '{"command": ["echo", "installed"]}'
is "$(jb 'd["stdout"]')" installed "installed layout: the spawner is found in PREFIX/libexec/sandboxd"
daemon_stop
out=$("$SPAWNER_BIN" 2>&1 < /dev/null)
rc=$?
is "$rc:${out%%$'\n'*}" "2:usage: sandboxd-spawner DAEMON-PID (with its control socket on fd 3)" \
    "sandboxd-spawner run by hand: its usage, exit 2"

# A --listen longer than the buffer crashed the daemon.
long=$(printf 'h%.0s' $(seq 300)):8080
out=$(SANDBOXD_TOKENS=$TOKEN "$SANDBOXD" --listen "$long" --check-config 2>&1)
rc=$?
is "$rc" 2 "a 300-byte --listen: refused (exit 2), no crash"
like "$out" 'listen.*255' "and the message says why"
