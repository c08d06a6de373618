#!/bin/bash
# The daemon's endpoints and POST /v1/exec as a client sees them: shapes of
# health, info, languages and metrics; commands, code in each language, stdin,
# env, files, limits, timings; request ids and the access log.
. "$(dirname "$0")/lib.sh"

daemon_start

# ---- GET /v1/health ----
api GET /v1/health
is "$STATUS" 200 "health: 200"
is "$(jb 'd')" '{"status":"ok"}' "health: exactly {\"status\":\"ok\"}"
is "$(hdr Content-Type)" application/json "health: Content-Type application/json"

api -I HEAD /v1/health
is "$STATUS" 200 "health: HEAD answers 200"

# ---- GET /v1/info ----
api GET /v1/info
is "$STATUS" 200 "info: 200"
is "$(jb 'd["version"]')" "$("$SANDBOXD" --version | awk '{print $2}')" "info: version is the binary's --version"
is "$(jb '"native" in d["backends"]')" true "info: backends include native"
like "$(jb 'd["cgroup"]["version"]')" '^(v1|v2)$' "info: cgroup.version is v1 or v2"
is "$(jb 'sorted(d["profiles"])')" '["default","strict"]' "info: profiles are the defaults (default, strict)"
is "$(jb 'd["default_profile"]')" default "info: default_profile"
is "$(jb '"host" in d["images"]')" true "info: images include host"
is "$(jb 'all(isinstance(x, str) for x in d["languages"]) and "python" in d["languages"] and "sh" in d["languages"]')" true \
    "info: languages is a list of names with python and sh"
is "$(jb 'sorted(d["limits"]["default"])')" '["cpu_time","cpus","file_size","memory","open_files","output","pids","timeout","tmpfs"]' \
    "info: limits.default has every limit"
is "$(jb 'sorted(d["limits"]["max"]) == sorted(d["limits"]["default"])')" true "info: limits.max has the same keys"
is "$(jb 'all(d["limits"]["default"][k] <= d["limits"]["max"][k] for k in d["limits"]["max"])')" true \
    "info: every default limit is within the maximum"
is "$(jb 'd["limits"]["max"]["memory"]')" 2147483648 "info: limits.max.memory is the built-in 2 GiB"
is "$(jb 'd["max_running"]')" $((2 * $(getconf _NPROCESSORS_ONLN))) "info: max_running defaults to 2 x cores"
is "$(jb 'd["max_queue"]')" 64 "info: max_queue defaults to 64"
INFO_LANGS=$(jb 'json.dumps(sorted(d["languages"]))')

# ---- GET /v1/languages ----
api GET /v1/languages
is "$STATUS" 200 "languages: 200"
is "$(jb 'type(d["languages"]).__name__')" list "languages: an array"
is "$(jb 'all({"name","file","command","available"} <= set(x) for x in d["languages"])')" true \
    "languages: every entry has name, file, command, available"
is "$(jb 'all(isinstance(x["command"], list) and x["command"] and isinstance(x["available"], bool) for x in d["languages"])')" true \
    "languages: command is a non-empty array, available a boolean"
is "$(jb '[x for x in d["languages"] if x["name"] == "python"][0]["file"]')" main.py "languages: python's file is main.py"
is "$(jb 'json.dumps(sorted(x["name"] for x in d["languages"] if x["available"]))')" "$INFO_LANGS" \
    "languages: the available ones are those /v1/info lists"
HAVE_C=$(jb 'any(x["name"] == "c" and x["available"] for x in d["languages"])')
HAVE_NODE=$(jb 'any(x["name"] == "node" and x["available"] for x in d["languages"])')

# ---- GET /metrics ----
api GET /metrics
is "$STATUS" 200 "metrics: 200"
like "$(hdr Content-Type)" '^text/plain' "metrics: text/plain"
cp "$BODY" "$T/metrics1"
for name in '^# TYPE sandboxd_http_requests_total counter$' \
    '^sandboxd_executions_total\{status="ok"\} [0-9]+$' \
    '^sandboxd_execution_duration_seconds_bucket\{le="\+Inf"\} [0-9]+$' \
    '^sandboxd_execution_duration_seconds_sum [0-9.]+$' \
    '^sandboxd_execution_duration_seconds_count [0-9]+$' \
    '^sandboxd_setup_duration_seconds_bucket\{le="\+Inf"\} [0-9]+$' \
    '^sandboxd_setup_duration_seconds_sum [0-9.]+$' \
    '^sandboxd_setup_duration_seconds_count [0-9]+$' \
    '^sandboxd_sandboxes_running 0$' '^sandboxd_queue_depth 0$'; do
    ok "$(grep -Ecq "$name" "$T/metrics1"; echo $?)" "metrics: a line matching $name"
done
metric() { # metric FILE NAME-WITH-LABELS: its value, 0 when absent
    awk -v n="$2" '$1 == n { v = $2 } END { print v == "" ? 0 : v }' "$1"
}
H0=$(metric "$T/metrics1" 'sandboxd_http_requests_total{route="/v1/health",code="200"}')
OK0=$(metric "$T/metrics1" 'sandboxd_executions_total{status="ok"}')
RUN0=$(metric "$T/metrics1" 'sandboxd_execution_duration_seconds_count')
SET0=$(metric "$T/metrics1" 'sandboxd_setup_duration_seconds_count')

# ---- POST /v1/exec: commands ----
exec_json '{"command":["echo","hello"]}'
is "$STATUS" 200 "exec echo: 200"
is "$(hdr Content-Type)" application/json "exec echo: Content-Type application/json"
is "$(jb 'd["status"]')" ok "exec echo: status ok"
is "$(jb 'd["exit_code"]')" 0 "exec echo: exit_code 0"
is "$(jb 'd["stdout"]')" hello "exec echo: stdout"
is "$(jb 'd["stderr"]')" "" "exec echo: empty stderr"
is "$(jb 'd["signal"]')" null "exec echo: signal null"
is "$(jb 'd["error"]')" null "exec echo: error null"
is "$(jb 'd["profile"]')" default "exec echo: profile default"
like "$(jb 'd["id"]')" '^ex_[0-9a-f]{20}$' "exec echo: an id"
is "$(jb 'all(isinstance(d[k], (int, float)) and not isinstance(d[k], bool) and d[k] >= 0 for k in ("queued_ms", "setup_ms", "run_ms"))')" true \
    "exec echo: queued_ms, setup_ms, run_ms are non-negative numbers"
is "$(jb 'sorted(d["usage"])')" '["cpu_sys_ms","cpu_user_ms","memory_peak_bytes","pids_peak","wall_ms"]' "exec echo: usage fields"
ID1=$(jb 'd["id"]')
exec_json '{"command":["true"]}'
ok "$([ "$(jb 'd["id"]')" != "$ID1" ]; echo $?)" "exec: every run gets its own id"

exec_json '{"command":["sh","-c","echo out; echo err >&2; exit 3"]}'
is "$STATUS" 200 "exec exit 3: 200 (a run that failed is still an answer)"
is "$(jb 'd["status"]')" exit_nonzero "exec exit 3: status exit_nonzero"
is "$(jb 'd["exit_code"]')" 3 "exec exit 3: exit_code 3"
is "$(jb 'repr(d["stdout"]) + " " + repr(d["stderr"])')" "'out\\n' 'err\\n'" "exec exit 3: stdout and stderr apart"

exec_json '{"command":["sh","-c","tr a-z A-Z"],"stdin":"quiet words"}'
is "$(jb 'd["stdout"]')" "QUIET WORDS" "exec: stdin reaches the command"
exec_json '{"command":["sh","-c","cat | od -An -c | tr -s \" \""],"stdin":"aGk=","stdin_encoding":"base64"}'
is "$(jb 'd["stdout"].strip()')" "h i" "exec: base64 stdin is decoded"
exec_json '{"command":["sh","-c","printf %s \"$GREETING-$OTHER\""],"env":{"GREETING":"hi there","OTHER":"x"}}'
is "$(jb 'd["stdout"]')" "hi there-x" "exec: env reaches the command"
exec_json '{"command":["pwd"]}'
is "$(jb 'd["stdout"]')" /workspace "exec: cwd is /workspace"

# ---- limits ----
t0=$(now_ms)
exec_json '{"command":["sleep","5"],"limits":{"timeout":"1s"}}'
el=$(( $(now_ms) - t0 ))
is "$(jb 'd["status"]')" timeout "exec: timeout 1s on sleep 5 -> status timeout"
lt "$el" 3000 "exec: the timeout answer comes in under 3 s"
is "$(jb 'd["exit_code"]')" null "exec: a timed-out run has no exit_code"
exec_json '{"command":["python3","-c","b = bytearray(400 << 20); print(len(b))"],"limits":{"memory":"64m"}}'
is "$(jb 'd["status"]')" memory_limit "exec: 400 MB under a 64m limit -> memory_limit"
is "$(jb 'd["stdout"]')" "" "exec: memory_limit: nothing printed"
exec_json '{"command":["sh","-c","head -c 5000 /dev/zero | tr \"\\0\" x"],"limits":{"output":"1k"}}'
is "$(jb 'd["status"]')" output_limit "exec: 5000 bytes under output 1k -> output_limit"
is "$(jb 'd["stdout_truncated"]')" true "exec: output_limit: stdout_truncated"
is "$(jb 'len(d["stdout"]) <= 1024')" true "exec: output_limit: at most 1k kept"
exec_json '{"command":["true"],"profile":"strict"}'
is "$(jb 'd["status"] + " " + d["profile"]')" "ok strict" "exec: profile strict runs and is reported"

# ---- code + language ----
exec_json '{"language":"python","code":"import sys\nprint(sum(range(10)))\nprint(sys.argv[0])"}'
is "$(jb 'd["status"]')" ok "python: status ok"
is "$(jb 'd["stdout"]')" "45
main.py" "python: stdout (the code is main.py)"
is "$(jb 'd["language"]')" python "python: language in the result"
exec_json '{"language":"sh","code":"echo \"$0\"; exit 5"}'
is "$(jb 'd["status"] + " " + str(d["exit_code"]) + " " + d["stdout"].strip()')" "exit_nonzero 5 main.sh" "sh: runs main.sh, exit 5"
exec_json '{"language":"bash","code":"a=(x y z); echo ${#a[@]} ${BASH_VERSINFO[0]}"}'
like "$(jb 'd["status"] + " " + d["stdout"]')" '^ok 3 [0-9]+$' "bash: arrays work (it is bash)"
if [ "$HAVE_C" = true ]; then
    exec_json '{"language":"c","code":"#include <stdio.h>\n#include <math.h>\nint main(void) { printf(\"%d %.0f\\n\", 6 * 7, sqrt(81.0)); return 0; }"}'
    is "$(jb 'd["status"] + " " + d["stdout"]')" "ok 42 9" "c: compiled and run (with -lm)"
    exec_json '{"language":"c","code":"int main(void) { return oops; }"}'
    is "$(jb 'd["status"]')" exit_nonzero "c: a compile error is exit_nonzero"
    like "$(jb 'd["stderr"]')" "oops" "c: the compiler's message is in stderr"
else
    skip "c: not available here"; skip "c: compile error"; skip "c: compiler message"
fi
if [ "$HAVE_NODE" = true ]; then
    exec_json '{"language":"node","code":"console.log([1,2,3].map(x => x * 2).join(\",\"))"}'
    is "$(jb 'd["status"] + " " + d["stdout"]')" "ok 2,4,6" "node: runs"
else
    skip "node: not available here"
fi

# ---- files ----
exec_json '{"command":["sh","-c","cat notes.txt; cat sub/dir/data.bin | od -An -tx1 | tr -d \" \\n\"; echo; ls -l run.sh | cut -c1-10; ./run.sh"],
 "files":{"notes.txt":"héllo\n","sub/dir/data.bin":{"content":"AAH/","encoding":"base64"},
          "run.sh":{"content":"#!/bin/sh\necho ran\n","executable":true}}}'
is "$STATUS" 200 "files: 200"
is "$(jb 'd["status"]')" ok "files: status ok"
is "$(jb 'd["stdout"]')" "héllo
0001ff
-rwxr-xr-x
ran" "files: utf-8 text, base64 bytes in a subdirectory, an executable"
exec_json '{"command":["sh","-c","cat a b"],"encoding":"base64","files":{"a":"b25lCg==","b":{"content":"two\n"}}}'
is "$(jb 'd["status"] + " " + repr(d["stdout"])')" "ok 'one\\ntwo\\n'" \
    "files: top-level encoding base64 applies to string files, not to objects"
exec_json '{"language":"python","code":"print(open(\"data.txt\").read().upper())","files":{"data.txt":"from a file"}}'
is "$(jb 'd["stdout"]')" "FROM A FILE" "files: next to code"
exec_json '{"command":["sh","-c","echo x > new.txt && cat new.txt"]}'
is "$(jb 'd["status"] + " " + d["stdout"]')" "ok x" "files: /workspace is writable"

# ---- output that is not text ----
exec_json '{"command":["printf","\\377\\000A"]}'
is "$(jb 'd.get("stdout_encoding")')" base64 "binary stdout: stdout_encoding base64"
is "$(jb 'd["stdout"]')" "/wBB" "binary stdout: the bytes, base64"

# ---- metrics after requests ----
api GET /v1/health
api GET /metrics
cp "$BODY" "$T/metrics2"
H1=$(metric "$T/metrics2" 'sandboxd_http_requests_total{route="/v1/health",code="200"}')
OK1=$(metric "$T/metrics2" 'sandboxd_executions_total{status="ok"}')
TO1=$(metric "$T/metrics2" 'sandboxd_executions_total{status="timeout"}')
ok "$([ "$H1" -gt "$H0" ]; echo $?)" "metrics: health requests counted ($H0 -> $H1)"
ok "$([ "$OK1" -ge $((OK0 + 10)) ]; echo $?)" "metrics: ok executions counted ($OK0 -> $OK1)"
ok "$([ "$TO1" -ge 1 ]; echo $?)" "metrics: the timeout is counted"
ok "$([ "$(metric "$T/metrics2" sandboxd_execution_duration_seconds_count)" -gt "$RUN0" ]; echo $?)" "metrics: execution histogram count grew"
ok "$([ "$(metric "$T/metrics2" sandboxd_setup_duration_seconds_count)" -gt "$SET0" ]; echo $?)" "metrics: setup histogram count grew"
is "$(metric "$T/metrics2" sandboxd_execution_duration_seconds_count)" \
   "$(metric "$T/metrics2" 'sandboxd_execution_duration_seconds_bucket{le="+Inf"}')" "metrics: +Inf bucket equals count"
ok "$("$PY" - "$T/metrics2" <<'EOF'
import re, sys
b = [int(m.group(1)) for m in re.finditer(r'^sandboxd_execution_duration_seconds_bucket\{le="[^"]+"\} (\d+)$', open(sys.argv[1]).read(), re.M)]
sys.exit(0 if len(b) > 2 and b == sorted(b) else 1)
EOF
echo $?)" "metrics: histogram buckets are cumulative"
ok "$([ "$(metric "$T/metrics2" 'sandboxd_http_requests_total{route="/v1/exec",code="200"}')" -ge 10 ]; echo $?)" \
    "metrics: exec requests counted by route and code"

# ---- request ids and the access log ----
api -H 'X-Request-Id: my-req.42_x' GET /v1/health
is "$(hdr X-Request-Id)" my-req.42_x "request id: X-Request-Id echoed"
LINE=$(log_line my-req.42_x)
ok $? "request id: the access log line carries it"
is "$(printf '%s' "$LINE" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["method"], d["path"], d["status"], d["sandbox_status"])')" \
    "GET /v1/health 200 None" "access log: method, path, status, sandbox_status null"
is "$(printf '%s' "$LINE" | "$PY" -c '
import json, re, sys
d = json.load(sys.stdin)
print(bool(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", d["time"])), isinstance(d["duration_ms"], (int, float)) and d["duration_ms"] >= 0)')" \
    "True True" "access log: time (UTC, ISO 8601) and duration_ms"
api -H 'X-Request-Id: exec-req-1' POST /v1/exec '{"command":["sh","-c","exit 2"]}'
is "$(hdr X-Request-Id)" exec-req-1 "request id: echoed on exec"
LINE=$(log_line exec-req-1)
is "$(printf '%s' "$LINE" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["method"], d["path"], d["status"], d["sandbox_status"])')" \
    "POST /v1/exec 200 exit_nonzero" "access log: exec line has sandbox_status"
is "$(grep -cF '"request_id":"exec-req-1"' "$D_LOG")" 1 "access log: one line per request"
api GET /v1/info
GEN=$(hdr X-Request-Id)
like "$GEN" '^[0-9a-zA-Z_.-]{8,64}$' "request id: generated when absent"
log_line "$GEN" >/dev/null
ok $? "request id: the generated id is in the log"
api GET /v1/info
ok "$([ "$(hdr X-Request-Id)" != "$GEN" ]; echo $?)" "request id: a new one per request"
api -H 'X-Request-Id: bad id with spaces' GET /v1/health
like "$(hdr X-Request-Id)" '^[0-9a-zA-Z_.-]+$' "request id: an unusable one is replaced"
ok "$("$PY" - "$D_LOG" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)          # every line is one JSON object
    if "request_id" in d:
        n += 1
        assert {"time", "request_id", "method", "path", "status", "duration_ms", "sandbox_status"} <= set(d), d
sys.exit(0 if n >= 30 else 1)
EOF
echo $?)" "access log: every stderr line is JSON; request lines have every field"
api GET '/v1/q%22b%5Cc%C3%A9'
api GET '/v1/r%FF'
is "$("$PY" - "$D_LOG" <<'EOF'
import json, sys
print(" ".join(d["path"] for d in map(json.loads, open(sys.argv[1], encoding="utf-8"))
               if d.get("status") == 404 and d.get("path", "")[:5] in ("/v1/q", "/v1/r")))
EOF
)" '/v1/q"b\cé /v1/r?' "access log: a path with a quote, a backslash, UTF-8 or not, is logged as JSON"

# ---- HTTP/1.1 persistent connections ----
client reuse /v1/health > "$T/reuse"
is "$(tr '\n' ' ' < "$T/reuse")" "200 keep-alive 200 keep-alive " "keep-alive: GET /v1/health leaves the connection open for the next request"
client reuse /v1/info > "$T/reuse"
is "$(tr '\n' ' ' < "$T/reuse")" "200 keep-alive 200 keep-alive " "keep-alive: GET /v1/info too"

health_ok
ok $? "still serving at the end"
daemon_stop
