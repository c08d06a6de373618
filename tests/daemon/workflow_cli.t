#!/bin/bash
# sbx workflow against a real sandboxd: submit (with --wait, --json, inputs,
# idempotency keys), status, list, logs, approve/reject, cancel, retry, delete,
# workspace, the daemon's errors, TCP with a token, and a daemon that is not there.
. "$(dirname "$0")/lib.sh"
SBX=$ROOT/build/sbx
[ -x "$ROOT/build/sbx-workflow" ] || bail "build/sbx-workflow missing: run make"

D_TCP=1 daemon_start
export SANDBOXD_SOCKET=$D_SOCK
unset SANDBOXD_URL SANDBOXD_TOKEN

# wf ARGS...: sbx workflow ARGS; stdout in $OUT, stderr in $ERR, exit code in $RC.
wf() {
    OUT=$("$SBX" workflow "$@" 2> "$T/wf.err")
    RC=$?
    ERR=$(cat "$T/wf.err")
}
# wf_status ID: the workflow's status, through the CLI.
wf_status() { "$SBX" workflow status "$1" --json 2>/dev/null > "$T/st.json"; jget "$T/st.json" 'd["status"]'; }
status_is() { [ "$(wf_status "$1")" = "$2" ]; }
# step_waits ID STEP: the step waits for approval.
step_waits() { "$SBX" workflow status "$1" 2>/dev/null | grep -Eq "^$2 +waiting"; }

# squares: gen (count numbers), square (a fan-out writing sq_N), sum (its output total).
cp "$ROOT/examples/fanout.json" "$T/squares.json"
cat > "$T/fails.json" <<'EOF'
{"name": "fails", "steps": [{"id": "a", "run": "true"}, {"id": "b", "needs": ["a"], "run": "exit 4"}]}
EOF
cat > "$T/gated.json" <<'EOF'
{"name": "gated", "steps": [{"id": "build", "run": "echo built"},
  {"id": "release", "needs": ["build"], "approval": {"timeout": "5m"}, "run": "echo shipped"}]}
EOF
cat > "$T/slow.json" <<'EOF'
{"name": "slow", "steps": [{"id": "nap", "run": "sleep 41"}, {"id": "after", "needs": ["nap"], "run": "true"}]}
EOF

# ---- submit, status, list, logs, workspace ----
wf submit "$T/squares.json" --input count=4
is "$RC" 0 "submit: exit 0"
like "$OUT" '^wf_[0-9a-f]{24}$' "submit: prints the id, and only it"
SQ=$OUT
eventually 20 status_is "$SQ" succeeded; ok $? "the workflow succeeds on the daemon"
is "$(jget "$T/st.json" 'd["steps"]["sum"]["outputs"]["total"]')" 30 "status --json: the result document, with the --input value used"
wf status "$SQ"
like "$OUT" "^$SQ +squares +succeeded +[0-9.]+m?s +\\\$0\\.[0-9]+" "status: the workflow's line"
like "$OUT" '^STEP +STATUS +ATTEMPTS +DURATION +COST +ERROR$' "status: a table of steps"
like "$OUT" '^square +ok 4/4 +4 +[0-9.]+m?s +\$0\.[0-9]+$' "status: a fan-out step with its items and attempts"
wf list
like "$OUT" "^$SQ +squares +succeeded +[0-9]{4}-[0-9]{2}-[0-9]{2} " "list: the workflow"
wf list --status failed --json
is "$RC:$(printf '%s' "$OUT" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["workflows"]))')" "0:0" "list --status: filters"
wf list --status bogus
is "$RC" 2 "list --status with a bad status: exit 2 (the daemon's 400)"
like "$ERR" 'HTTP 400 bad_request: status: one of queued' "with the daemon's message"
wf logs "$SQ"
like "$OUT" '^[0-9:.]{12}  workflow queued$' "logs: the first event, with its time"
like "$OUT" 'step square running  4 items' "logs: the fan-out"
like "$OUT" 'attempt square\[3\] #1 ok' "logs: each attempt"
like "$OUT" 'workflow succeeded  [0-9.]+m?s  \$0\.' "logs: the end, with duration and cost"
wf logs "$SQ" --json
is "$(printf '%s\n' "$OUT" | "$PY" -c 'import json,sys
seqs = [json.loads(l)["seq"] for l in sys.stdin if l.strip()]
print(seqs == list(range(1, len(seqs) + 1)) and len(seqs) > 10)')" True "logs --json: the NDJSON events, every seq in order"
wf workspace "$SQ" -o "$T/ws.tar"
is "$RC:$(tar -tf "$T/ws.tar" | sort | tr '\n' ' ')" "0:sq_1 sq_2 sq_3 sq_4 " "workspace -o FILE: the workspace as a tar"
is "$(tar -xOf "$T/ws.tar" sq_3)" 9 "with the steps' files"
wf workspace "$SQ"
is "$RC" 2 "workspace without -o: exit 2"

# ---- submit --wait, --json, errors ----
wf submit "$T/squares.json" --wait --json
is "$RC" 0 "submit --wait of a workflow that succeeds: exit 0"
is "$(printf '%s' "$OUT" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["status"])')" succeeded \
    "submit --wait --json: the final document"
like "$ERR" '^square +ok +3/3 ' "submit --wait: progress on stderr"
wf submit "$T/fails.json" --wait
is "$RC" 1 "submit --wait of a workflow that fails: exit 1"
like "$ERR" 'b +failed .*exit code 4' "with the failed step's error"
like "$ERR" '^fails: failed in .*\(wf_[0-9a-f]+\): step b failed$' "and the summary"
echo '{"name": "bad", "steps": [{"id": "a", "run": "true", "neds": []}, {"id": "a", "run": "true"}]}' > "$T/bad.json"
wf submit "$T/bad.json"
is "$RC" 2 "submit of an invalid workflow: exit 2"
like "$ERR" 'invalid workflow \(HTTP 400, 2 problems\)' "the daemon's problems are counted"
like "$ERR" '  workflow\.steps\[0\]\.neds: unknown key \(did you mean needs\?\)' "and each printed as path: message"
like "$ERR" '  workflow\.steps\[1\]\.id: duplicate id' "(the second one)"
wf submit "$T/squares.json" --idempotency-key key-1
first=$OUT
wf submit "$T/squares.json" --idempotency-key key-1
is "$RC:$OUT" "0:$first" "the same idempotency key gives the same workflow"
like "$ERR" "names workflow $first, submitted before" "and says so"
wf status wf_000000000000000000000000
is "$RC" 1 "status of a workflow that does not exist: exit 1"
like "$ERR" 'HTTP 404 not_found' "with the daemon's error"
wf status 'x/../y'
is "$RC" 2 "an id that is not one: exit 2"

# ---- approvals ----
wf submit "$T/gated.json"
G=$OUT
eventually 20 step_waits "$G" release; ok $? "status: a step waiting for approval"
t0=$(now_ms)
wf logs "$G"
like "$OUT" 'step release pending  waiting for approval' "logs without --follow: the events so far"
lt $(( $(now_ms) - t0 )) 1000 "and it returns at once (no wait for quiet) while the workflow still runs"
wf approve "$G" release --comment "looks good"
is "$RC:$OUT" "0:$G: step release approved" "approve: exit 0"
eventually 20 status_is "$G" succeeded; ok $? "the approved step runs"
wf logs "$G"
like "$OUT" 'approval release approved  looks good' "logs: the decision and its comment"
wf approve "$G" release
is "$RC" 1 "approve when nothing waits: exit 1"
like "$ERR" 'HTTP 409 conflict' "with the daemon's 409"
wf submit "$T/gated.json"
G2=$OUT
eventually 20 step_waits "$G2" release
wf reject "$G2" release --comment no
is "$RC:$OUT" "0:$G2: step release rejected" "reject: exit 0"
eventually 20 status_is "$G2" failed; ok $? "a rejected step fails the workflow"
wf status "$G2"
like "$OUT" '^release +failed .*approval: rejected: no$' "status shows why"

# ---- logs --follow, cancel, retry, delete ----
wf submit "$T/slow.json"
S=$OUT
"$SBX" workflow logs "$S" --follow > "$T/follow.out" 2>&1 &
FOLLOW=$!
eventually 20 status_is "$S" running
sleep 0.3
alive "$FOLLOW"; ok $? "logs --follow keeps following a running workflow"
wf delete "$S"
is "$RC" 1 "delete of a running workflow: exit 1"
like "$ERR" 'cancel it first' "with the daemon's reason"
wf cancel "$S"
like "$RC:$OUT" "^0:$S: cancel requested" "cancel: exit 0"
eventually 20 status_is "$S" cancelled; ok $? "the workflow is cancelled"
wait_exit "$FOLLOW" 10; ok $? "logs --follow ends when the workflow ends"
like "$(cat "$T/follow.out")" 'workflow cancelled' "having printed the last event"
wf cancel "$S"
is "$RC" 1 "cancel of a workflow that has ended: exit 1"
wf retry "$S" --json
is "$RC:$(printf '%s' "$OUT" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')" "0:$S" "retry: exit 0"
eventually 20 status_is "$S" running; ok $? "the retried workflow runs again"
wf cancel "$S"
eventually 20 status_is "$S" cancelled
wf delete "$S"
is "$RC:$OUT" "0:$S: deleted" "delete: exit 0"
wf status "$S"
is "$RC" 1 "a deleted workflow is gone"

# ---- submit --wait, interrupted ----
"$SBX" workflow submit "$T/slow.json" --wait > "$T/wait.out" 2> "$T/wait.err" &
pid=$!
eventually 20 grep -Eq '^nap +running' "$T/wait.err"
kill -INT "$pid"
wait_exit "$pid" 10
wait "$pid"
is $? 130 "submit --wait: SIGINT stops following, exit 130"
W=$(grep -o 'workflow wf_[0-9a-f]* goes on' "$T/wait.err" | awk '{print $2}')
is "$(wf_status "$W")" running "and the workflow goes on on the daemon"
wf cancel "$W"
eventually 20 status_is "$W" cancelled

# ---- the daemon on TCP, and no daemon ----
wf status "$SQ" --url "http://127.0.0.1:$D_PORT" --token "$TOKEN"
like "$RC:$OUT" "^0:$SQ +squares +succeeded" "--url and --token: the daemon on TCP"
SANDBOXD_URL="http://127.0.0.1:$D_PORT" SANDBOXD_TOKEN=$TOKEN wf list
like "$RC:$OUT" "^0:ID" "\$SANDBOXD_URL and \$SANDBOXD_TOKEN"
wf status "$SQ" --url "http://127.0.0.1:$D_PORT"
is "$RC" 1 "without the token: exit 1"
like "$ERR" 'HTTP 401 unauthorized' "with the daemon's 401"
wf status "$SQ" --socket "$T/nowhere.sock"
is "$RC" 1 "no daemon there: exit 1"
like "$ERR" "cannot connect to sandboxd at socket $T/nowhere.sock: No such file or directory; no socket there" \
    "with the hint of sbx exec"
wf status "$SQ" --socket "$D_SOCK" --url http://127.0.0.1:1
is "$RC" 2 "--socket and --url: exit 2"
wf submit --help
like "$OUT" '--idempotency-key K' "submit --help documents its options"

daemon_stop
