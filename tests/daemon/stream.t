#!/bin/bash
# "stream": true: output as JSON lines while the program runs, then the result;
# a client that leaves mid-stream gets its sandbox killed.
. "$(dirname "$0")/lib.sh"

daemon_start

# stream_lines FILE: the body lines of a client.py stream capture, as JSON
# (the timestamps dropped), one per line.
body_of() { grep -P '^\d+\t' "$1" | cut -f2-; }
# sjq FILE EXPR: a python expression over L, the list of parsed body lines.
sjq() {
    body_of "$1" > "$T/lines.ndjson"
    "$PY" - "$T/lines.ndjson" "$2" <<'EOF'
import json, sys
try:
    L = [json.loads(x) for x in open(sys.argv[1], encoding="utf-8") if x.strip()]
    v = eval(sys.argv[2], {"L": L, "json": json})
except Exception as e:
    print("<%s: %s>" % (type(e).__name__, e)); sys.exit(0)
print("null" if v is None else ("true" if v else "false") if isinstance(v, bool) else v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
EOF
}

# ---- shape ----
client stream '{"command":["sh","-c","echo one; echo two; echo oops >&2; echo three; exit 2"],"stream":true}' > "$T/s1"
is "$(sed -n 's/^S //p' "$T/s1")" 200 "stream: 200"
is "$(sed -n 's/^H content-type: //p' "$T/s1")" application/x-ndjson "stream: Content-Type application/x-ndjson"
is "$(sed -n 's/^H transfer-encoding: //p' "$T/s1")" chunked "stream: chunked"
like "$(sed -n 's/^H x-request-id: //p' "$T/s1")" '^[0-9a-zA-Z_.-]+$' "stream: X-Request-Id"
is "$(sjq "$T/s1" 'all(isinstance(x, dict) for x in L)')" true "stream: every line is a JSON object"
is "$(sjq "$T/s1" '"".join(x["data"] for x in L if x["type"] == "stdout")')" "one
two
three" "stream: stdout lines in order"
is "$(sjq "$T/s1" '"".join(x["data"] for x in L if x["type"] == "stderr")')" "oops" "stream: stderr line"
is "$(sjq "$T/s1" 'sorted(set(x["type"] for x in L))')" '["result","stderr","stdout"]' "stream: only stdout, stderr and result lines"
is "$(sjq "$T/s1" 'all(sorted(x) == ["data", "type"] for x in L if x["type"] != "result")')" true "stream: output lines are {type, data}"
is "$(sjq "$T/s1" '[x["type"] for x in L].count("result")')" 1 "stream: one result line"
is "$(sjq "$T/s1" 'L[-1]["type"]')" result "stream: the result comes last"
is "$(sjq "$T/s1" 'L[-1]["result"]["status"] + " " + str(L[-1]["result"]["exit_code"])')" "exit_nonzero 2" "stream: result status and exit code"
is "$(sjq "$T/s1" 'repr(L[-1]["result"]["stdout"] + "|" + L[-1]["result"]["stderr"])')" "'one\\ntwo\\nthree\\n|oops\\n'" "stream: the result carries the whole output too"
like "$(sjq "$T/s1" 'L[-1]["result"]["id"]')" '^ex_[0-9a-f]+$' "stream: the result has an id"
is "$(sjq "$T/s1" 'all(isinstance(L[-1]["result"][k], (int, float)) for k in ("queued_ms", "setup_ms", "run_ms"))')" true \
    "stream: the result has queued_ms, setup_ms, run_ms"

# ---- lines arrive as they are printed ----
client stream '{"command":["sh","-c","echo first; sleep 1; echo second"],"stream":true}' > "$T/s2"
t_first=$(awk -F'\t' '/"first\\n"/ {print $1; exit}' "$T/s2")
t_second=$(awk -F'\t' '/"second\\n"/ {print $1; exit}' "$T/s2")
ok "$([ -n "$t_first" ] && [ -n "$t_second" ]; echo $?)" "timing: both lines seen (${t_first:-?} ms, ${t_second:-?} ms)"
lt "${t_first:-99999}" 700 "timing: the first line arrives before the program's 1 s sleep ends"
lt 800 "$(( ${t_second:-0} - ${t_first:-0} ))" "timing: the second arrives about 1 s later"
is "$(sjq "$T/s2" 'L[-1]["result"]["status"]')" ok "timing: status ok"

# ---- binary and non-ASCII output ----
client stream '{"command":["sh","-c","printf \"caf\\303\\251\\n\"; sleep 0.3; printf \"\\377\\000\\001\""],"stream":true}' > "$T/s3"
is "$(sjq "$T/s3" 'repr([x for x in L if x["type"] == "stdout"][0])')" "{'type': 'stdout', 'data': 'café\\n'}" "binary: UTF-8 text stays text"
is "$(sjq "$T/s3" '[x for x in L if x["type"] == "stdout"][-1].get("encoding")')" base64 "binary: invalid UTF-8 arrives with encoding base64"
is "$(sjq "$T/s3" 'b"".join(__import__("base64").b64decode(x["data"]) if x.get("encoding") else x["data"].encode() for x in L if x["type"] == "stdout").hex()')" \
    "$(printf 'caf\303\251\n\377\000\001' | od -An -tx1 | tr -d ' \n')" "binary: the bytes, decoded, are exactly what was printed"
is "$(sjq "$T/s3" 'all(x.get("encoding", "base64") == "base64" for x in L if x["type"] != "result")')" true "binary: encoding is only ever base64"
is "$(sjq "$T/s3" 'L[-1]["result"].get("stdout_encoding")')" base64 "binary: the result says stdout_encoding base64"
# A multi-byte character split across two writes is not mangled.
client stream '{"command":["sh","-c","printf \"\\342\\202\"; sleep 0.3; printf \"\\254 euro\\n\""],"stream":true}' > "$T/s4"
is "$(sjq "$T/s4" '"".join(x["data"] for x in L if x["type"] == "stdout" and "encoding" not in x)')" "€ euro" \
    "UTF-8: a character split across writes arrives whole"

# ---- streaming errors are plain answers ----
client stream '{"command":["true"],"stream":true,"bogus":1}' > "$T/s5"
is "$(sed -n 's/^S //p' "$T/s5")" 400 "stream: a bad request is still a 400"
is "$(sed -n 's/^H content-type: //p' "$T/s5")" application/json "stream: its body is plain JSON"
client stream '{"command":["sleep","5"],"limits":{"timeout":"500ms"},"stream":true}' > "$T/s6"
is "$(sjq "$T/s6" 'L[-1]["result"]["status"]')" timeout "stream: a timeout ends the stream with status timeout"

# ---- a client that leaves ----
# A chatty program: writes fail, the daemon notices.
REQ_ID=chatty-leave client stream '{"command":["sh","-c","while :; do echo tick-6ba1; sleep 0.1; done"],"stream":true}' 2 > "$T/s7"
is "$(sjq "$T/s7" 'L[0]["data"]')" "tick-6ba1" "leave (chatty): got the first line"
eventually 5 no_process 'tick-6ba1'
ok $? "leave (chatty): the sandbox is gone within 5 s"
is "$(log_line chatty-leave | "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(d["status"], d["sandbox_status"])')" \
    "200 cancelled" "leave (chatty): logged with sandbox_status cancelled"
# A quiet program: nothing to write, so only watching the connection tells.
REQ_ID=quiet-leave client stream '{"command":["sh","-c","echo started; exec sleep 307"],"stream":true}' 1 > "$T/s8"
is "$(sjq "$T/s8" 'repr(L[0]["data"])')" "'started\\n'" "leave (quiet): got the first line"
eventually 5 no_process '^sleep 307 $'
ok $? "leave (quiet): sleep 307 is killed within 5 s of the client leaving"
# What the daemon should have killed, so that the rest can go on.
for p in $(in_daemon '^sleep 307 $'); do kill -KILL "$p"; done
is "$(log_line quiet-leave | "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(d["status"], d["sandbox_status"])')" \
    "200 cancelled" "leave (quiet): logged with sandbox_status cancelled"
# Without streaming: the client gives up waiting for the answer.
API_MAX_TIME=1 api POST /v1/exec '{"command":["sleep","309"]}'
is "$STATUS" 000 "leave (no stream): curl gave up after 1 s"
eventually 5 no_process '^sleep 309 $'
ok $? "leave (no stream): sleep 309 is killed within 5 s of the client leaving"
for p in $(in_daemon '^sleep 309 $'); do kill -KILL "$p"; done
API_MAX_TIME=2 health_ok
ok $? "leave: the daemon still serves"
api GET /metrics
is "$(grep -c '^sandboxd_sandboxes_running 0$' "$BODY")" 1 "leave: no sandbox counted running afterwards"

exec_json '{"command":["echo","after"]}'
is "$(jb 'd["stdout"]')" after "a plain exec after all the streams"
daemon_stop
