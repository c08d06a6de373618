#!/bin/bash
# Admission control: one slot and a queue of one. Beyond that 429 at once, with
# Retry-After; health stays fast under load; at shutdown, a queued request and
# a request arriving on a kept-alive connection get 503.
. "$(dirname "$0")/lib.sh"

daemon_start --max-running 1 --max-queue 1 --grace 10s

api GET /v1/info
is "$(jb 'd["max_running"]') $(jb 'd["max_queue"]')" "1 1" "info: max_running 1, max_queue 1"

# bg_exec N BODY: POST in the background; writes $T/bgN.{body,code} (code is
# "HTTP-STATUS SECONDS").
bg_exec() {
    printf '%s' "$2" | curl -s --max-time 30 --unix-socket "$D_SOCK" -H 'Content-Type: application/json' \
        --data-binary @- -o "$T/bg$1.body" -w '%{http_code} %{time_total}' http://sandboxd/v1/exec > "$T/bg$1.code" &
    BG[$1]=$!
}
BG=()
# gauges R Q: /metrics shows R sandboxes running and Q queued.
gauges() {
    api GET /metrics
    [ "$(grep -E '^sandboxd_(sandboxes_running|queue_depth) ' "$BODY" | awk '{print $2}' | tr '\n' ' ')" = "$1 $2 " ]
}
# bg_wait N...: waits for those background requests (never a bare `wait`:
# the daemon is a child of this shell too).
bg_wait() { local i; for i in "$@"; do wait "${BG[$i]}"; done; }

# ---- 429 ----
SLOW='{"command":["sleep","2"]}'
bg_exec 1 "$SLOW"
eventually 3 gauges 1 0
ok $? "metrics: the first request holds the slot (1 running)"
bg_exec 2 "$SLOW"
eventually 3 gauges 1 1
ok $? "metrics: the second one waits in the queue (1 running, 1 queued)"
for i in 3 4 5 6; do bg_exec $i "$SLOW"; done
# Health while the slot and the queue are full.
worst=0
for i in $(seq 10); do
    api GET /v1/health
    [ "$STATUS" = 200 ] || worst=999
    worst=$("$PY" -c 'import sys; print(max(float(sys.argv[1]), float(sys.argv[2])))' "$worst" "$TIME")
done
lt "$worst" 0.2 "health under load: 10 checks, each under 200 ms (worst ${worst}s)"
api -H 'X-Request-Id: full-1' POST /v1/exec "$SLOW"
is "$STATUS" 429 "queue full: 429"
is "$(jb 'd["error"]["code"] + " " + str(d["error"]["field"])')" "queue_full None" "queue full: code queue_full"
is "$(hdr Retry-After)" 1 "queue full: Retry-After: 1"
lt "$TIME" 0.5 "queue full: refused at once (${TIME}s), not after waiting"
like "$(log_line full-1)" '"status":429' "queue full: logged as 429"
bg_wait 3 4 5 6
n429=0; fast=0
for i in 3 4 5 6; do
    read -r code secs < "$T/bg$i.code"
    if [ "$code" = 429 ]; then
        n429=$((n429 + 1))
        "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.5 else 1)' "$secs" && fast=$((fast + 1))
    fi
done
is "$n429" 4 "concurrent: the 4 requests beyond slot + queue all got 429"
is "$fast" 4 "concurrent: each 429 came within 0.5 s"
bg_wait 1 2
read -r c1 t1 < "$T/bg1.code"
read -r c2 t2 < "$T/bg2.code"
is "$c1 $(jget "$T/bg1.body" 'd["status"]')" "200 ok" "the running one finished ok"
is "$c2 $(jget "$T/bg2.body" 'd["status"]')" "200 ok" "the queued one ran after it, ok"
is "$(jget "$T/bg2.body" 'd["queued_ms"] > 1000')" true "the queued one reports queued_ms over 1 s ($(jget "$T/bg2.body" 'd["queued_ms"]'))"
lt "$(jget "$T/bg1.body" 'd["queued_ms"]')" 100 "the first one was not queued"
api GET /metrics
like "$(grep '^sandboxd_http_requests_total{route="/v1/exec",code="429"}' "$BODY")" ' 5$' "metrics: five 429s counted"
is "$(grep -E '^sandboxd_(sandboxes_running|queue_depth) ' "$BODY" | tr '\n' ' ')" \
   "sandboxd_sandboxes_running 0 sandboxd_queue_depth 0 " "metrics: back to 0 running, 0 queued"
exec_json '{"command":["echo","free"]}'
is "$STATUS $(jb 'd["stdout"]')" "200 free" "a slot is free again"

# ---- shutdown: the running one finishes, the queued one gets 503 ----
bg_exec 7 '{"command":["sh","-c","sleep 1.5; head -c 2000000 /dev/zero | tr \"\\0\" a; echo; echo finished"],"limits":{"output":"8m"}}'
eventually 3 gauges 1 0
bg_exec 8 '{"command":["echo","never"]}'
eventually 3 gauges 1 1
ok $? "shutdown: one running, one queued before SIGTERM"
t0=$(now_ms)
# On connections opened before SIGTERM (kept alive after a POST answered 400): health says
# stopping, exec says 503; a new connection finds no socket.
client keepalive "$D_PID" '{"command":["echo","late"]}' > "$T/ka"
is "$(sed -n 1p "$T/ka" | cut -d' ' -f1-2) $(sed -n 2p "$T/ka" | cut -d' ' -f1-2)" "400 keep-alive 400 keep-alive" \
    "keep-alive: two connections kept open after a POST each (a 400, as the slot is busy)"
is "$(sed -n 3p "$T/ka" | cut -d' ' -f1,3-)" '503 {"status":"stopping"}' "keep-alive: health after SIGTERM says 503 stopping"
is "$(sed -n 4p "$T/ka" | cut -d' ' -f1)" 503 "keep-alive: exec after SIGTERM: 503"
is "$(sed -n 4p "$T/ka" | cut -d' ' -f3- | "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(d["error"]["code"])' 2>&1 | tail -1)" \
   shutting_down "keep-alive: code shutting_down"
like "$(sed -n 5p "$T/ka")" '^000 - (FileNotFoundError|ConnectionRefusedError)' "a new connection after SIGTERM is refused"
ok "$([ ! -e "$D_SOCK" ]; echo $?)" "shutdown: the socket file is removed at once"
wait_exit "$D_PID" 10
ok $? "shutdown: the daemon exits once the running sandbox ends"
el=$(( $(now_ms) - t0 ))
bg_wait 7 8
read -r c7 _ < "$T/bg7.code"
read -r c8 _ < "$T/bg8.code"
is "$c7 $(jget "$T/bg7.body" 'd["status"] + " " + str(len(d["stdout"])) + " " + d["stdout"].split()[-1]')" "200 ok 2000010 finished" \
    "shutdown: the running sandbox finished (grace 10 s) and its client got the whole result"
is "$c8 $(jget "$T/bg8.body" 'd["error"]["code"]')" "503 shutting_down" "shutdown: the queued request got 503 shutting_down"
lt "$el" 5000 "shutdown: done in ${el} ms"
daemon_stop
