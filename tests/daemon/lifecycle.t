#!/bin/bash
# The daemon's life: its socket (mode, a second daemon, a stale file), SIGTERM
# with sandboxes running (grace, then kill; nothing left), kill -9 and the next
# start, SIGHUP reloads.
. "$(dirname "$0")/lib.sh"

# bg_exec NAME BODY: POST in the background; $T/NAME.body and $T/NAME.code.
declare -A BG
bg_exec() {
    printf '%s' "$2" | curl -s --max-time 60 --unix-socket "$D_SOCK" -H 'Content-Type: application/json' \
        --data-binary @- -o "$T/$1.body" -w '%{http_code}' http://sandboxd/v1/exec > "$T/$1.code" &
    BG[$1]=$!
}
bg_wait() { wait "${BG[$1]}"; cat "$T/$1.code"; }

# ---- the socket ----
daemon_start
is "$(stat -c '%a %F' "$D_SOCK")" "600 socket" "socket: mode 0600"
is "$(stat -c '%U' "$D_SOCK")" root "socket: owned by the daemon's user"
like "$(grep '"msg":"ready"' "$D_LOG")" '"version"' "log: a ready line with the version"
FIRST_PID=$D_PID FIRST_SOCK=$D_SOCK

t0=$(now_ms)
timeout 10 env "$SANDBOXD" --socket "$FIRST_SOCK" --state-dir "$T/second-state" > "$T/second.out" 2> "$T/second.err"
rc=$?
ok "$([ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; echo $?)" "second daemon on the same socket: refuses to start (exit $rc)"
lt $(( $(now_ms) - t0 )) 3000 "second daemon: refuses at once"
like "$(cat "$T/second.err")" 'another sandboxd is serving' "second daemon: says another sandboxd serves the socket"
like "$(cat "$T/second.err")" "$FIRST_SOCK" "second daemon: names the socket"
ok "$([ -S "$FIRST_SOCK" ]; echo $?)" "second daemon: the first one's socket file is still there"
API_MAX_TIME=2 health_ok
ok $? "second daemon: the first one still serves"

echo "not a socket" > "$T/plain-file"
timeout 10 "$SANDBOXD" --socket "$T/plain-file" --state-dir "$T/plain-state" 2> "$T/plain.err"
rc=$?
ok "$([ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; echo $?)" "a regular file at the socket path: refuses to start"
like "$(cat "$T/plain.err")" 'not a socket' "a regular file at the socket path: says it is not a socket"
is "$(cat "$T/plain-file")" "not a socket" "a regular file at the socket path: left alone"

# ---- kill -9, then a new daemon on the same path ----
SOCK_AT=$T/stale.sock daemon_start
bg_exec k9 '{"command":["sleep","303"]}'
eventually 5 has_process '^sleep 303 $'
ok $? "kill -9: a sandbox is running (sleep 303)"
K9_SLEEP=$(in_daemon '^sleep 303 $')
K9_PID=$D_PID
{ kill -KILL "$K9_PID"; wait "$K9_PID"; } 2>/dev/null
wait "${BG[k9]}"
ok "$([ -S "$T/stale.sock" ]; echo $?)" "kill -9: the socket file is left behind"
eventually 5 eval '! alive "$K9_SLEEP"'
ok $? "kill -9: the sandbox dies with the daemon"
SOCK_AT=$T/stale.sock daemon_start
API_MAX_TIME=2 health_ok
ok $? "stale socket: a new daemon replaces it and serves"
is "$(cgroups_of "$K9_PID")" "" "stale cgroups: the new daemon removed the killed one's sbx-$K9_PID-* groups"
exec_json '{"command":["echo","fresh"]}'
is "$(jb 'd["stdout"]')" fresh "stale socket: the new daemon runs sandboxes"
daemon_stop

# ---- SIGTERM, short grace: running sandboxes are killed ----
daemon_start --grace 1s
bg_exec g1 '{"command":["sh","-c","head -c 3000000 /dev/zero | tr \"\\0\" a; exec sleep 30"],"limits":{"output":"8m"}}'
eventually 5 has_process '^sleep 30 $'
ok $? "SIGTERM grace 1s: sleep 30 is running"
KIDS=$(descendants "$D_PID")
G1_PID=$D_PID
t0=$(now_ms)
kill -TERM "$D_PID"
wait_exit "$D_PID" 6
ok $? "SIGTERM grace 1s: the daemon exits within 6 s"
el=$(( $(now_ms) - t0 ))
lt "$el" 4000 "SIGTERM grace 1s: in about the grace period (${el} ms)"
ok "$([ "$el" -ge 900 ]; echo $?)" "SIGTERM grace 1s: not before the grace period (${el} ms)"
ok "$([ ! -e "$D_SOCK" ]; echo $?)" "SIGTERM: the socket file is gone"
left=
for k in $KIDS; do alive "$k" && left="$left $k"; done
is "$left" "" "SIGTERM: no process of the daemon's is left (sleep 30 included)"
ok "$(pgrep -x -f 'sleep 30' | while read -r p; do grep -q "sbx-$G1_PID-" "/proc/$p/cgroup" 2>/dev/null && echo "$p"; done | grep -q .; [ $? -ne 0 ]; echo $?)" \
    "SIGTERM: no sleep 30 in one of its cgroups"
is "$(cgroups_of "$G1_PID")" "" "SIGTERM: no sbx-$G1_PID-* cgroup left under /sys/fs/cgroup"
like "$(grep -c 'grace period over' "$D_LOG")" '^1$' "SIGTERM: logs that the grace period ran out"
like "$(tail -1 "$D_LOG")" '"msg":"stopped"' "SIGTERM: the last log line says stopped"
is "$(bg_wait g1) $(jget "$T/g1.body" 'd["status"] + " " + str(len(d["stdout"]))')" "200 cancelled 3000000" \
    "SIGTERM: the killed run's client gets its result, status cancelled, with the output so far"
daemon_stop

# ---- SIGTERM, long grace: a short sandbox completes ----
daemon_start --grace 20s
# It prints 3 MB at the end: a result that takes a moment to encode and send.
bg_exec g2 '{"command":["sh","-c","sleep 2; head -c 3000000 /dev/zero | tr \"\\0\" a; echo; echo done"],"limits":{"output":"8m"}}'
eventually 5 has_process '^sleep 2 $'
ok $? "SIGTERM grace 20s: sleep 2 is running"
t0=$(now_ms)
kill -TERM "$D_PID"
wait_exit "$D_PID" 10
ok $? "SIGTERM grace 20s: the daemon exits once the sandbox is done"
el=$(( $(now_ms) - t0 ))
lt "$el" 5000 "SIGTERM grace 20s: without waiting out the grace (${el} ms)"
is "$(bg_wait g2) $(jget "$T/g2.body" 'd["status"] + " " + str(len(d["stdout"])) + " " + d["stdout"].split()[-1]')" "200 ok 3000006 done" \
    "SIGTERM grace 20s: the sandbox completed with status ok and its client got the whole result"
daemon_stop

# ---- SIGTERM while a workflow's body is on its way ----
# Its headers came before the stop, so the request was let in; its body comes
# after the workflows module stopped. It gets 503, and the daemon exits 0 (it
# dereferenced the stopped module and died of SIGSEGV before).
daemon_start
"$PY" - "$D_SOCK" "$T/late" <<'EOF' &
import socket, sys, time
body = b'{"workflow": {"name": "late", "steps": [{"id": "a", "run": "true"}]}}'
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"POST /v1/workflows HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
open(sys.argv[2] + ".sent", "w").close()
time.sleep(1)  # the daemon gets SIGTERM meanwhile
s.sendall(body[10:])
s.settimeout(10)
data = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
except OSError:
    pass
open(sys.argv[2], "wb").write(data)
EOF
late=$!
eventually 5 test -e "$T/late.sent"
kill -TERM "$D_PID"
wait "$late"
like "$(head -1 "$T/late" | tr -d '\r')" "^HTTP/1.1 503" \
    "SIGTERM while a workflow's body is on its way: the request gets 503"
like "$(tail -1 "$T/late")" '"shutting_down"' "... with code shutting_down"
daemon_stop

# ---- SIGHUP ----
CONF=$T/sandboxd.json
echo '{"max_queue": 5, "max_running": 3}' > "$CONF"
daemon_start --config "$CONF"
api GET /v1/info
is "$(jb 'd["max_queue"]') $(jb 'd["max_running"]')" "5 3" "config file: max_queue 5, max_running 3"
WF='{"workflow": {"name": "big", "steps": [{"id": "s", "run": "true", "limits": {"memory": "1500m"}}]}}'
api POST /v1/workflows "$WF"
is "$STATUS" 201 "a step with 1500m of memory is accepted (its check is remembered)"
echo '{"max_queue": 7, "max_running": 2, "limits": {"max": {"memory": "1g"}}}' > "$CONF"
kill -HUP "$D_PID"
info_is() { api GET /v1/info; [ "$(jb "$1")" = "$2" ]; }
eventually 5 info_is 'd["max_queue"]' 7
ok $? "SIGHUP: max_queue 7 visible in /v1/info"
is "$(jb 'd["max_running"]') $(jb 'd["limits"]["max"]["memory"]')" '2 1073741824' "SIGHUP: max_running and limits.max reloaded"
like "$(grep '"msg":"reloaded"' "$D_LOG")" "$CONF" "SIGHUP: logged reloaded with the file"
exec_json '{"command":["true"],"limits":{"memory":"1500m"}}'
is "$STATUS $(jb 'd["error"]["field"]')" "400 limits.memory" "SIGHUP: the new maximum applies to requests"
api POST /v1/workflows "$WF"
is "$STATUS $(jb 'd["error"]["problems"][0]["path"]')" "400 workflow.steps[0].limits.memory" \
    "SIGHUP: and to workflow steps checked before the reload"
api GET /metrics
is "$(grep -E '^sandboxd_max_(running|queue) ' "$BODY" | tr '\n' ' ')" "sandboxd_max_running 2 sandboxd_max_queue 7 " \
    "SIGHUP: metrics show the new sizes"
echo '{"max_queue": 9,' > "$CONF"
kill -HUP "$D_PID"
eventually 5 grep -q 'reload failed' "$D_LOG"
ok $? "broken config on SIGHUP: logged as a failed reload"
like "$(grep 'reload failed' "$D_LOG")" 'sandboxd.json' "broken config: the log names the file"
api GET /v1/info
is "$STATUS $(jb 'd["max_queue"]')" "200 7" "broken config: the old settings stay (max_queue 7)"
echo '{"max_queue": 9, "colour": "red"}' > "$CONF"
kill -HUP "$D_PID"
eventually 5 eval '[ "$(grep -c "reload failed" "$D_LOG")" -ge 2 ]'
ok $? "unknown key on SIGHUP: a failed reload"
like "$(grep 'reload failed' "$D_LOG" | tail -1)" 'colour' "unknown key: the log names the key"
api GET /v1/info
is "$(jb 'd["max_queue"]')" 7 "unknown key: max_queue stays 7"
ok "$(alive "$D_PID"; echo $?)" "after failed reloads the daemon is still running"
API_MAX_TIME=2 health_ok
ok $? "after failed reloads the daemon still serves"
daemon_stop

daemon_stop "$FIRST_PID" "$FIRST_SOCK"
