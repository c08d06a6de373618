#!/bin/bash
# Every refusal POST /v1/exec and the other routes can give, each with the
# error shape {"error":{"code","message","field"}}; hostile bodies; bearer
# tokens on TCP. After every hostile request the daemon must still serve.
. "$(dirname "$0")/lib.sh"

D_TCP=1 daemon_start

# err_is HTTP CODE FIELD NAME: the last answer is that error (FIELD "null" for
# none), in exactly the documented shape, with a message.
err_is() {
    is "$STATUS" "$1" "$4: HTTP $1"
    is "$(jb 'd["error"]["code"] + " " + str(d["error"]["field"])')" "$2 ${3/null/None}" "$4: code $2, field $3"
    is "$(jb 'sorted(d) == ["error"] and sorted(d["error"]) == ["code", "field", "message"] and isinstance(d["error"]["message"], str) and len(d["error"]["message"]) > 5')" \
        true "$4: {\"error\":{code,message,field}} with a message"
}
still_serving() { # still_serving NAME: health answers 200 within 2 s
    API_MAX_TIME=2 health_ok
    ok $? "$1: still serving after it"
}

# ---- 400 ----
exec_json '{"command":["true"'
err_is 400 invalid_json null "truncated JSON"
exec_json 'not json at all'
err_is 400 invalid_json null "not JSON"
exec_json ''
err_is 400 invalid_json null "empty body"
exec_json '["echo","hi"]'
err_is 400 bad_request null "an array, not an object"
exec_json '"just a string"'
is "$STATUS $(jb 'd["error"]["code"] in ("invalid_json", "bad_request")')" "400 true" "a string, not an object: 400"
exec_json '{"command":["true"],"bogus":1}'
err_is 400 bad_request bogus "unknown key"
exec_json '{"command":"echo hi"}'
err_is 400 bad_request command "command as a string"
exec_json '{"command":[]}'
err_is 400 bad_request command "empty command"
exec_json '{"command":["echo",5]}'
err_is 400 bad_request "command[1]" "a number in command"
exec_json '{"command":["true"],"env":["A=1"]}'
err_is 400 bad_request env "env as an array"
exec_json '{"command":["true"],"env":{"A":1}}'
like "$(jb 'd["error"]["field"]')" '^env' "env value not a string: field names env"
exec_json '{"command":["true"],"stdin":5}'
err_is 400 bad_request stdin "stdin as a number"
exec_json '{"command":["true"],"limits":"big"}'
err_is 400 bad_request limits "limits as a string"
exec_json '{"command":["true"],"limits":{"memory":"lots"}}'
err_is 400 bad_request limits.memory "memory not a size"
exec_json '{"command":["true"],"limits":{"timeout":-5}}'
err_is 400 bad_request limits.timeout "negative timeout"
exec_json '{"command":["true"],"limits":{"colour":"red"}}'
err_is 400 bad_request limits.colour "unknown limit"
exec_json '{"command":["true"],"stream":"yes"}'
err_is 400 bad_request stream "stream not a boolean"
exec_json '{"command":["true"],"limits":{"memory":"100g"}}'
err_is 400 bad_request limits.memory "memory 100g above the server maximum"
like "$(jb 'd["error"]["message"]')" 'maximum' "memory 100g: refused, not clamped (the message says maximum)"
exec_json '{"command":["true"],"limits":{"timeout":"1h"}}'
err_is 400 bad_request limits.timeout "timeout 1h above the maximum"
exec_json '{"command":["true"],"limits":{"pids":100000}}'
err_is 400 bad_request limits.pids "pids above the maximum"
exec_json '{"command":["true"],"profile":"nonexistent"}'
err_is 400 bad_request profile "unknown profile"
exec_json '{"command":["true"],"profile":"unconfined"}'
err_is 400 bad_request profile "a shipped profile the server does not offer"
exec_json '{"command":["true"],"profile":7}'
err_is 400 bad_request profile "profile not a string"
exec_json '{"command":["true"],"image":"debian:latest"}'
err_is 400 bad_request image "unknown image"
exec_json '{"code":"print(1)","language":"cobol"}'
err_is 400 bad_request language "unknown language"
exec_json '{"code":"print(1)"}'
err_is 400 bad_request language "code without language"
exec_json '{"language":"python"}'
err_is 400 bad_request code "language without code"
exec_json '{"code":5,"language":"python"}'
err_is 400 bad_request code "code not a string"
exec_json '{"command":["echo"],"code":"print(1)","language":"python"}'
err_is 400 bad_request command "command and code together"
exec_json '{"code":"print(1)","language":"python","files":{"main.py":"x"}}'
err_is 400 bad_request files "a file where the code goes"
exec_json '{"command":["true"],"workspace":"/etc"}'
err_is 400 bad_request workspace "workspace (a host path) refused"
exec_json '{"command":["true"],"workspace":"tmpfs"}'
err_is 400 bad_request workspace "workspace tmpfs refused too (not part of the API)"
exec_json '{"command":["true"],"mounts":[{"type":"bind","source":"/","target":"/host"}]}'
err_is 400 bad_request mounts "mounts refused"
exec_json '{"command":["true"],"mounts":[]}'
err_is 400 bad_request mounts "even empty mounts refused"
exec_json '{"command":["true"],"files":{"../escape":"x"}}'
is "$STATUS $(jb 'd["error"]["code"]') $(jb 'd["error"]["field"].startswith("files")')" "400 bad_request true" "files: a path with .. refused"
exec_json '{"command":["true"],"files":{"/etc/passwd":"x"}}'
is "$STATUS $(jb 'd["error"]["field"].startswith("files")')" "400 true" "files: an absolute path refused"
exec_json '{"command":["true"],"files":{"a":{"content":"@@@","encoding":"base64"}}}'
is "$STATUS $(jb 'd["error"]["field"].startswith("files")')" "400 true" "files: bad base64 refused"
exec_json '{"command":["true"],"encoding":"rot13","files":{"a":"x"}}'
err_is 400 bad_request encoding "top-level encoding other than utf-8/base64"

# ---- hostile bodies: each 400, and the daemon keeps serving ----
"$PY" -c 'print("[" * 100000 + "]" * 100000)' > "$T/deep-array.json"
api POST /v1/exec "@$T/deep-array.json"
err_is 400 invalid_json null "arrays nested 100000 deep"
still_serving "arrays nested 100000 deep"
"$PY" -c 'print("{\"command\":" * 100000 + "1" + "}" * 100000)' > "$T/deep-object.json"
api POST /v1/exec "@$T/deep-object.json"
err_is 400 invalid_json null "objects nested 100000 deep"
still_serving "objects nested 100000 deep"
exec_json '{"command":["true"],"limits":{"timeout":1e999999}}'
err_is 400 invalid_json null "number 1e999999"
still_serving "number 1e999999"
exec_json '{"command":["true"],"limits":{"pids":99999999999999999999999}}'
err_is 400 invalid_json null "integer 99999999999999999999999"
still_serving "integer 99999999999999999999999"
exec_json '{"command":["true"],"limits":{"memory":18446744073709551615}}'
is "$STATUS" 400 "integer 2^64-1 as memory: 400"
still_serving "integer 2^64-1"
exec_json '{"command":["echo","a\u0000b"]}'
err_is 400 bad_request "command[1]" "NUL inside a command argument"
still_serving "NUL in command"
exec_json '{"command":["true"],"env":{"A":"x\u0000y"}}'
is "$STATUS $(jb 'd["error"]["field"].startswith("env")')" "400 true" "NUL inside an env value refused, field env"
exec_json '{"command":["true"],"env":{"A\u0000B":"x"}}'
err_is 400 invalid_json null "NUL inside an env name (jansson refuses NUL in keys)"
exec_json '{"command":["true"],"env":{"A=B":"x"}}'
is "$STATUS $(jb 'd["error"]["field"].startswith("env")')" "400 true" "= inside an env name refused, field env"
exec_json '{"command":["true"],"cwd":"/tmp\u0000x"}'
err_is 400 bad_request cwd "NUL inside cwd"
printf '{"command":["echo","\xff\xfe bad"]}' > "$T/bad-utf8.json"
api POST /v1/exec "@$T/bad-utf8.json"
err_is 400 invalid_json null "invalid UTF-8 bytes"
still_serving "invalid UTF-8"
printf '{"command":["echo","\xed\xa0\x80"]}' > "$T/surrogate.json"
api POST /v1/exec "@$T/surrogate.json"
err_is 400 invalid_json null "a UTF-8 encoded surrogate"
printf '{"command":["echo","\\ud800"]}' > "$T/lone-escape.json"
api POST /v1/exec "@$T/lone-escape.json"
is "$STATUS" 400 "a lone \\ud800 escape: 400"
still_serving "lone surrogate escape"
exec_json '{"command":["true"],"command":["false"]}'
err_is 400 invalid_json null "duplicate keys"
still_serving "duplicate keys"
exec_json '{"command":["true"],"limits":{"memory":"1m","memory":"2g"}}'
err_is 400 invalid_json null "duplicate keys in a nested object"
# 3 MB strings: Linux refuses one argument over 128 KiB (MAX_ARG_STRLEN), so
# such a command can never run: the request is at fault (400), not the sandbox.
"$PY" -c 'import json; print(json.dumps({"command": ["echo", "x" * 3000000]}))' > "$T/big-arg.json"
api POST /v1/exec "@$T/big-arg.json"
err_is 400 bad_request "command[1]" "a 3 MB command argument"
still_serving "a 3 MB command argument"
"$PY" -c 'import json; print(json.dumps({"command": ["true"], "k" * 3000000: 1}))' > "$T/big-key.json"
api POST /v1/exec "@$T/big-key.json"
is "$STATUS $(jb 'd["error"]["code"]') $(jb 'len(d["error"]["message"]) < 4096')" "400 bad_request true" \
    "a 3 MB unknown key: 400 with a short message"
still_serving "a 3 MB key"
"$PY" -c 'import json; print(json.dumps({"command": ["true"], "profile": "p" * 3000000}))' > "$T/big-profile.json"
api POST /v1/exec "@$T/big-profile.json"
is "$STATUS $(jb 'd["error"]["field"]') $(jb 'len(json.dumps(d)) < 4096')" "400 profile true" "a 3 MB profile name: 400, short answer"
"$PY" -c 'import json; print(json.dumps({"command": ["wc", "-c"], "stdin": "s" * 3000000}))' > "$T/big-stdin.json"
api POST /v1/exec "@$T/big-stdin.json"
is "$STATUS $(jb 'd["status"]') $(jb 'd["stdout"].strip()')" "200 ok 3000000" "a 3 MB stdin is fine (control)"

# ---- 404, 405 ----
api GET /v1/nothing
err_is 404 not_found null "unknown path"
api GET /
err_is 404 not_found null "root path"
api GET /v1/exec/extra
err_is 404 not_found null "a path under /v1/exec"
api GET /v1/exec
err_is 405 method_not_allowed null "GET /v1/exec"
is "$(hdr Allow)" POST "GET /v1/exec: Allow: POST"
api PUT /v1/exec '{"command":["true"]}'
err_is 405 method_not_allowed null "PUT /v1/exec"
api DELETE /v1/info
err_is 405 method_not_allowed null "DELETE /v1/info"
like "$(hdr Allow)" '^GET(, HEAD)?$' "DELETE /v1/info: Allow: GET"
api POST /v1/health '{}'
err_is 405 method_not_allowed null "POST /v1/health"
api POST /metrics '{}'
is "$STATUS $(hdr Allow)" "405 GET, HEAD" "POST /metrics: 405 with Allow"

# ---- 415 ----
CT='' api POST /v1/exec '{"command":["true"]}'
err_is 415 unsupported_media_type null "no Content-Type"
CT=text/plain api POST /v1/exec '{"command":["true"]}'
err_is 415 unsupported_media_type null "Content-Type text/plain"
CT=application/x-www-form-urlencoded api POST /v1/exec '{"command":["true"]}'
err_is 415 unsupported_media_type null "Content-Type form-urlencoded"
CT=application/jsonx api POST /v1/exec '{"command":["true"]}'
err_is 415 unsupported_media_type null "Content-Type application/jsonx"
CT='application/json; charset=utf-8' api POST /v1/exec '{"command":["true"]}'
is "$STATUS $(jb 'd["status"]')" "200 ok" "Content-Type with charset is accepted"
CT='Application/JSON' api POST /v1/exec '{"command":["true"]}'
is "$STATUS" 200 "Content-Type is case-insensitive"

# ---- 413 ----
head -c $((10 << 20)) /dev/zero | tr '\0' ' ' > "$T/10m.json"
api POST /v1/exec "@$T/10m.json"
err_is 413 payload_too_large null "a 10 MiB body (Content-Length)"
lt "$TIME" 3 "a 10 MiB body: refused within 3 s"
still_serving "a 10 MiB body"
api -H 'Transfer-Encoding: chunked' POST /v1/exec "@$T/10m.json"
err_is 413 payload_too_large null "a 10 MiB body (chunked, no length)"
still_serving "a chunked 10 MiB body"
"$PY" -c 'import json; print(json.dumps({"command": ["true"], "stdin": "s" * (4 << 20)}))' > "$T/4m.json"
api POST /v1/exec "@$T/4m.json"
is "$STATUS" 413 "a body just over 4 MiB (the default max_body): 413"
# Under the maximum, a body read in many pieces into a buffer sized by its
# Content-Length, or grown when it has none.
"$PY" -c 'import json; print(json.dumps({"command": ["wc", "-c"], "stdin": "s" * (3 << 20)}))' > "$T/3m.json"
api POST /v1/exec "@$T/3m.json"
is "$STATUS $(jb 'd["stdout"].strip()')" "200 3145728" "a 3 MiB body (Content-Length): all of it read"
api -H 'Transfer-Encoding: chunked' POST /v1/exec "@$T/3m.json"
is "$STATUS $(jb 'd["stdout"].strip()')" "200 3145728" "a 3 MiB body (chunked): all of it read"

# ---- 401 on TCP ----
API_TCP=1 api GET /v1/info
err_is 401 unauthorized null "TCP without a token"
like "$(hdr WWW-Authenticate)" '^Bearer' "401: WWW-Authenticate: Bearer"
API_TCP=1 api -H 'Authorization: Bearer wrong-0123456789abcdef' GET /v1/info
err_is 401 unauthorized null "TCP with a wrong token"
API_TCP=1 api -H "Authorization: Bearer ${TOKEN}x" GET /v1/info
err_is 401 unauthorized null "TCP with the token plus a byte"
API_TCP=1 api -H "Authorization: Bearer ${TOKEN%?}" GET /v1/info
err_is 401 unauthorized null "TCP with the token less a byte"
API_TCP=1 api -H "Authorization: Basic $TOKEN" GET /v1/info
err_is 401 unauthorized null "TCP with Basic instead of Bearer"
API_TCP=1 api -H "Authorization: Bearer $TOKEN" GET /v1/info
is "$STATUS $(jb 'd["max_queue"]')" "200 64" "TCP with the right token: 200"
API_TCP=1 api POST /v1/exec '{"command":["echo","x"]}'
err_is 401 unauthorized null "TCP exec without a token"
API_TCP=1 api -H "Authorization: Bearer $TOKEN" POST /v1/exec '{"command":["echo","over tcp"]}'
is "$STATUS $(jb 'd["stdout"]')" "200 over tcp" "TCP exec with the token runs"
API_TCP=1 api GET /metrics
is "$STATUS" 401 "TCP /metrics without a token: 401"
API_TCP=1 api GET /v1/health
is "$STATUS $(jb 'd["status"]')" "200 ok" "TCP /v1/health needs no token"
API_TCP=1 api -H "X-Request-Id: tcp-1" GET /v1/info
like "$(log_line tcp-1)" '"status":401' "a 401 is logged"
api GET /v1/info
is "$STATUS" 200 "the Unix socket needs no token"

still_serving "everything above"
daemon_stop
