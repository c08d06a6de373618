#!/bin/bash
# /v1/workflows end to end against the real daemon: submission and validation,
# results, the issue's example, idempotency, listing, cancel, approvals, retry,
# events, the workspace tar, delete, metrics, and a kill -9 in the middle of a
# workflow followed by a restart.
. "$(dirname "$0")/lib.sh"

# wf_post BODY [CURL-OPTS...]: POST /v1/workflows; ID is the new id.
wf_post() {
    local body=$1
    shift
    api "$@" POST /v1/workflows "$body"
    ID=$(jb 'd.get("id", "")')
}
# wf_wait ID SECONDS: until the workflow has ended; leaves its result in $BODY.
wf_ended() {
    api GET "/v1/workflows/$1"
    case $(jb 'd["status"]') in succeeded|failed|cancelled|timed_out|budget_exceeded) return 0 ;; esac
    return 1
}
wf_wait() { eventually "${2:-30}" wf_ended "$1"; }

daemon_start

# ---- submission, the result ----
wf_post '{"workflow": {"name": "pipe", "steps": [
  {"id": "a", "run": "echo hello; echo k=v >> $SBX_OUTPUT; echo data > /workspace/f.txt",
   "outputs": {"o": {"from": "stdout"}, "k": {"from": "output"}}},
  {"id": "b", "needs": ["a"], "command": ["echo", "${{ steps.a.outputs.k }}"],
   "outputs": {"o": {"from": "stdout"}}}]}}'
is "$STATUS" 201 "POST /v1/workflows: 201"
like "$ID" '^wf_[0-9a-f]{24}$' "POST: an id"
is "$(hdr Location)" "/v1/workflows/$ID" "POST: Location names it"
is "$(jb 'sorted(d.items())')" '[["id","'"$ID"'"],["name","pipe"],["status","queued"]]' \
   "POST: answers with the id, name and status, from memory"
wf_wait "$ID"
is "$(jb 'd["status"]')" succeeded "the workflow succeeds"
is "$(jb 'd["steps"]["a"]["outputs"]["o"]')" "hello" "step a's stdout output"
is "$(jb 'd["steps"]["b"]["result"]["stdout"]')" "v" "step b read a's \$SBX_OUTPUT value"
is "$(jb 'd["steps"]["b"]["result"]["exit_code"]')" 0 "each step carries its result"
is "$(jb 'd["cost"]["usd"] > 0 and d["steps"]["a"]["cost"]["usd"] > 0')" true "costs per step and in all"
is "$(jb 'd["duration_ms"] >= 0')" true "a duration"
PIPE=$ID

api GET "/v1/workflows/$PIPE/workspace"
is "$STATUS" 200 "workspace: 200"
is "$(hdr Content-Type)" "application/x-tar" "workspace: a tar"
is "$(tar -xOf "$BODY" f.txt 2>&1)" "data" "workspace: holds the file step a wrote"

# ---- the issue's example ----
cat > "$T/squares.json" <<'EOF'
{"workflow": {
  "name": "squares",
  "inputs": {"count": {"type": "integer", "default": 3}},
  "defaults": {"profile": "default", "limits": {"timeout": "30s", "memory": "256m"}},
  "budget": {"usd": 0.01},
  "max_parallel": 4,
  "timeout": "10m",
  "steps": [
    {"id": "gen", "code": "import json; print(json.dumps(list(range(1, ${{ inputs.count }} + 1))))",
     "language": "python", "outputs": {"numbers": {"from": "stdout_json"}}},
    {"id": "square", "needs": ["gen"], "for_each": "${{ steps.gen.outputs.numbers }}",
     "run": "echo $((N * N)) > /workspace/sq_$N", "env": {"N": "${{ item }}"},
     "retry": {"max_attempts": 3, "backoff": "200ms", "on": ["exit_nonzero", "timeout"]}},
    {"id": "sum", "needs": ["square"], "when": "${{ steps.square.status == 'ok' }}",
     "run": "cat /workspace/sq_* | paste -sd+ | bc"}
  ]
}, "inputs": {"count": 5}}
EOF
wf_post "@$T/squares.json"
is "$STATUS" 201 "the example: accepted"
wf_wait "$ID"
is "$(jb 'd["status"]')" succeeded "the example: succeeds"
is "$(jb 'd["steps"]["gen"]["outputs"]["numbers"]')" "[1,2,3,4,5]" "the example: gen's numbers"
is "$(jb 'len(d["steps"]["square"]["items"])')" 5 "the example: five square runs"
is "$(jb 'd["steps"]["sum"]["result"]["stdout"]')" "55" "the example: the sum of the squares"

# ---- validation ----
wf_post '{"workflow": {"name": "bad", "steps": [
  {"id": "a", "run": "x", "needs": ["b"], "retri": {}},
  {"id": "b", "run": "${{ steps.nope.outputs.x }}", "needs": ["a"], "timeout": "soon"}]},
  "inputs": {"n": 1}}'
is "$STATUS" 400 "an invalid workflow: 400"
is "$(jb 'd["error"]["code"]')" invalid_workflow "... code invalid_workflow"
P=$(jb '" | ".join(p["path"] + ": " + p["message"] for p in d["error"]["problems"])')
like "$P" 'workflow\.steps\[0\]\.retri: unknown key' "... names an unknown key with its path"
like "$P" 'cycle' "... names the cycle"
like "$P" 'workflow\.steps\[1\]\.timeout' "... a bad duration"
like "$P" 'workflow\.steps\[1\]\.run: .*nope' "... a reference to no step"
like "$P" 'inputs\.n: not an input' "... and an input value the workflow does not declare"
is "$(jb 'd["error"]["field"]')" "$(jb 'd["error"]["problems"][0]["path"]')" "... field is the first path"

wf_post '{"workflow": {"name": "p", "steps": [{"id": "a", "run": "true", "profile": "unconfined"}]}}'
is "$STATUS" 400 "a profile the server does not offer: 400"
is "$(jb 'd["error"]["field"]')" "workflow.steps[0].profile" "... at the step's profile"
wf_post '{"workflow": {"name": "p", "steps": [{"id": "a", "run": "true", "limits": {"memory": "64g"}}]}}'
is "$(jb 'd["error"]["field"]')" "workflow.steps[0].limits.memory" "limits above the maximum: refused at the field"
wf_post '{"workflow": '
is "$STATUS:$(jb 'd["error"]["code"]')" "400:invalid_json" "a body that is not JSON: 400 invalid_json"
wf_post '{"workflow": {"name": "x", "steps": [{"id": "a", "run": "true"}]}, "extra": 1}'
is "$STATUS:$(jb 'd["error"]["field"]')" "400:extra" "an unknown key beside workflow: 400 at it"
CT=text/plain api POST /v1/workflows '{}'
is "$STATUS" 415 "a body that is not JSON-typed: 415"

# ---- idempotency ----
BODY_I='{"workflow": {"name": "idem", "steps": [{"id": "a", "run": "echo once"}]}}'
wf_post "$BODY_I" -H "Idempotency-Key: order-42"
FIRST=$ID
is "$STATUS" 201 "Idempotency-Key: the first POST creates"
wf_post "$BODY_I" -H "Idempotency-Key: order-42"
is "$STATUS:$ID" "200:$FIRST" "Idempotency-Key: the same key gives the same workflow"
wf_post "$BODY_I" -H "Idempotency-Key: $(head -c 256 /dev/zero | tr '\0' k)"
is "$STATUS:$(jb 'd["error"]["field"]')" "400:Idempotency-Key" "an Idempotency-Key over 255 bytes: 400"
wf_post "$BODY_I" -H "Idempotency-Key: order-43"
ok "$([ "$STATUS" = 201 ] && [ "$ID" != "$FIRST" ]; echo $?)" "another key, another workflow"
wf_wait "$FIRST"

# ---- listing ----
api GET "/v1/workflows?status=succeeded&limit=2"
is "$STATUS" 200 "list: 200"
is "$(jb 'len(d["workflows"])')" 2 "list: limit"
is "$(jb 'all(w["status"] == "succeeded" for w in d["workflows"])')" true "list: the status filter"
CUR=$(jb 'd["next_cursor"]')
api GET "/v1/workflows?status=succeeded&limit=2&cursor=$CUR"
is "$(jb 'len(d["workflows"]) >= 1')" true "list: the next page"
api GET "/v1/workflows?status=happy"
is "$STATUS:$(jb 'd["error"]["field"]')" "400:status" "list: an unknown status is refused"
api GET "/v1/workflows?limit=0"
is "$STATUS:$(jb 'd["error"]["field"]')" "400:limit" "list: a bad limit is refused"
api GET "/v1/workflows?cursor=zzz"
is "$STATUS:$(jb 'd["error"]["field"]')" "400:cursor" "list: a bad cursor is refused"

# ---- methods, unknown ids ----
api PUT /v1/workflows
is "$STATUS:$(hdr Allow)" "405:GET, HEAD, POST" "PUT /v1/workflows: 405 with Allow"
api GET "/v1/workflows/$PIPE/cancel"
is "$STATUS:$(hdr Allow)" "405:POST" "GET .../cancel: 405 with Allow: POST"
api GET /v1/workflows/wf_000000000000000000000000
is "$STATUS" 404 "an unknown workflow: 404"
api GET "/v1/workflows/$PIPE/nothing"
is "$STATUS" 404 "an unknown sub-resource: 404"

# ---- cancel, events ----
wf_post '{"workflow": {"name": "slow", "steps": [{"id": "a", "run": "sleep 30"},
  {"id": "b", "needs": ["a"], "run": "true"}]}}'
SLOW=$ID
eventually 10 has_process 'sleep 30'
ok $? "cancel: the step's sandbox runs"
curl -s --max-time 20 --unix-socket "$D_SOCK" "http://sandboxd/v1/workflows/$SLOW/events" > "$T/events.out" &
EV=$!
sleep 0.3
api POST "/v1/workflows/$SLOW/cancel"
is "$STATUS" 202 "cancel: 202"
wf_wait "$SLOW" 10
is "$(jb 'd["status"]')" cancelled "cancel: the workflow ends cancelled"
is "$(jb 'd["steps"]["a"]["status"] + " " + d["steps"]["b"]["status"]')" "cancelled cancelled" \
    "cancel: running and pending steps are marked"
eventually 5 no_process 'sleep 30'
ok $? "cancel: the sandbox is gone"
wait_exit "$EV" 10
ok $? "events: the stream ends when the workflow does"
is "$(head -1 "$T/events.out" | "$PY" -c 'import json,sys; e=json.loads(sys.stdin.read()); print(e["seq"], e["type"], e["status"])')" \
   "1 workflow queued" "events: from the first"
like "$(tail -1 "$T/events.out")" '"type":"workflow","status":"cancelled"' "events: to the last"
api GET "/v1/workflows/$SLOW/events?after=3"
is "$(head -c 300 "$BODY" | head -1 | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())["seq"])')" 4 \
   "events: ?after resumes"
api POST "/v1/workflows/$SLOW/cancel"
is "$STATUS:$(jb 'd["error"]["code"]')" "409:conflict" "cancel an ended workflow: 409"

# ---- approvals ----
wf_post '{"workflow": {"name": "gate", "steps": [{"id": "deploy", "approval": {"timeout": "1h"},
  "run": "echo deployed"}]}}'
GATE=$ID
gate_waiting() { api GET "/v1/workflows/$GATE"; [ "$(jb 'd["steps"]["deploy"]["approval"]["state"]')" = waiting ]; }
eventually 10 gate_waiting
ok $? "approval: the step waits"
api POST "/v1/workflows/$GATE/steps/nope/approve"
is "$STATUS" 404 "approval: an unknown step: 404"
CT=application/json api POST "/v1/workflows/$GATE/steps/deploy/approve" '{"comment": "ship it"}'
is "$STATUS:$(jb 'd["decision"]')" "200:approved" "approval: approve"
wf_wait "$GATE"
is "$(jb 'd["status"]'):$(jb 'd["steps"]["deploy"]["approval"]["comment"]')" "succeeded:ship it" \
   "approval: the step ran, the comment is kept"
api POST "/v1/workflows/$GATE/steps/deploy/reject"
is "$STATUS" 409 "approval: answering an ended workflow: 409"

# ---- retry ----
wf_post '{"workflow": {"name": "redo", "steps": [{"id": "one", "run": "echo 1 >> /workspace/n"},
  {"id": "two", "needs": ["one"], "run": "[ -e /workspace/flag ] || { touch /workspace/flag; exit 4; }"}]}}'
REDO=$ID
wf_wait "$REDO"
is "$(jb 'd["status"]'):$(jb 'd["steps"]["two"]["error"]')" "failed:exit code 4" "retry: the first run fails"
api POST "/v1/workflows/$REDO/retry"
is "$STATUS" 202 "retry: 202"
wf_wait "$REDO"
is "$(jb 'd["status"]'):$(jb 'd["runs"]')" "succeeded:2" "retry: the second run succeeds"
is "$(jb 'd["steps"]["one"]["attempts"]')" 1 "retry: the step that succeeded kept its result"
api POST "/v1/workflows/$REDO/retry"
is "$STATUS" 409 "retry: a succeeded workflow: 409"

# ---- budget ----
wf_post '{"workflow": {"name": "agent", "budget": {"usd": 0.001}, "steps": [
  {"id": "llm", "run": "echo \"{\\\"item\\\":\\\"llm_tokens\\\",\\\"quantity\\\":1530,\\\"unit\\\":\\\"tokens\\\",\\\"usd\\\":0.002}\" >> $SBX_COSTS"},
  {"id": "more", "needs": ["llm"], "run": "true"}]}}'
wf_wait "$ID"
is "$(jb 'd["status"]'):$(jb 'd["steps"]["more"]["status"]')" "budget_exceeded:cancelled" \
   "budget: spent, nothing new starts"
is "$(jb '[i["item"] for i in d["steps"]["llm"]["result"]["cost"]["items"]]')" \
   '["cpu","memory","run","llm_tokens"]' "budget: the step's reported cost is itemised"

# ---- delete ----
api DELETE "/v1/workflows/$PIPE"
is "$STATUS:$(jb 'd["deleted"]')" "200:true" "delete: 200"
api GET "/v1/workflows/$PIPE"
is "$STATUS" 404 "delete: then 404"
ok "$(grep -q "$PIPE" /proc/mounts; [ $? -ne 0 ]; echo $?)" "delete: its workspace is unmounted"

# ---- metrics ----
api GET /metrics
like "$(cat "$BODY")" 'sandboxd_workflows_total\{status="succeeded"\} [1-9]' "metrics: workflows by status"
like "$(cat "$BODY")" 'sandboxd_workflow_step_duration_seconds_count [1-9]' "metrics: step durations"
like "$(cat "$BODY")" 'sandboxd_workflow_cost_usd_total 0\.0[0-9]*[1-9]' "metrics: the cost total"

# ---- kill -9 in the middle, then a restart ----
wf_post '{"workflow": {"name": "survivor", "steps": [
  {"id": "s", "run": "[ -e /workspace/x ] || { touch /workspace/x; sleep 30; }; echo second", "retry": {"max_attempts": 2}},
  {"id": "t", "needs": ["s"], "run": "echo after"}]}}'
SURV=$ID
wf_post '{"workflow": {"name": "once", "steps": [{"id": "s", "run": "sleep 31"}]}}'
ONCE=$ID
eventually 10 has_process 'sleep 31'
ok $? "kill -9: both sandboxes run"
OLD_PID=$D_PID
kill -KILL "$D_PID"
wait "$D_PID" 2>/dev/null
eventually 5 no_process 'sleep 3[01]'
ok $? "kill -9: the sandboxes die with the daemon"
SOCK_AT=$D_SOCK
D_COUNT=$((D_COUNT - 1))   # the same state directory
daemon_start
unset SOCK_AT
wf_wait "$SURV" 20
is "$(jb 'd["status"]')" succeeded "kill -9: the workflow carries on after the restart"
is "$(jb 'd["steps"]["s"]["history"][0]["status"]')" interrupted "kill -9: the running attempt is interrupted"
is "$(jb 'd["steps"]["t"]["result"]["stdout"]')" after "kill -9: and the steps after it run"
wf_wait "$ONCE" 20
is "$(jb 'd["status"]'):$(jb 'd["steps"]["s"]["sandbox_status"]')" "failed:interrupted" \
   "kill -9: without attempts left the step fails as interrupted"
api GET "/v1/workflows/$FIRST"
is "$(jb 'd["status"]')" succeeded "kill -9: every accepted workflow is still there"
wf_post "$BODY_I" -H "Idempotency-Key: order-42"
is "$STATUS:$ID" "200:$FIRST" "kill -9: idempotency keys survive"
daemon_stop

# ---- SIGTERM in the middle: the grace, then interrupted, resumed at the next start ----
restart() { SOCK_AT=$D_SOCK; D_COUNT=$((D_COUNT - 1)); daemon_start "$@"; unset SOCK_AT; }
restart --grace 500ms
wf_post '{"workflow": {"name": "graceful", "steps": [
  {"id": "s", "run": "[ -e /workspace/y ] || { touch /workspace/y; sleep 32; }; echo resumed",
   "retry": {"max_attempts": 2}}]}}'
GRACE=$ID
eventually 10 has_process 'sleep 32'
ok $? "SIGTERM: the step's sandbox runs"
t0=$(now_ms)
daemon_stop
lt $(( $(now_ms) - t0 )) 8000 "SIGTERM: the daemon stops after its grace, not after the step"
restart
wf_wait "$GRACE" 20
is "$(jb 'd["status"]'):$(jb 'd["steps"]["s"]["result"]["stdout"]')" "succeeded:resumed" \
   "SIGTERM: the next start resumes the workflow"
is "$(jb 'd["steps"]["s"]["history"][0]["status"]')" interrupted "SIGTERM: the stopped attempt is interrupted"

daemon_stop
