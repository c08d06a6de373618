#!/bin/bash
# sbx workflow run: workflows run in-process to their end: exit codes, the
# result (--json), progress on stderr, --input typing, invalid workflows,
# signals, what is left behind (nothing, or what --keep kept) and the state dir.
. "$(dirname "$0")/lib.sh"
workflow_setup
plan 73

# rows DIR: workflows in the store of DIR.
rows() { python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select count(*) from workflows").fetchone()[0])' "$1/workflows.db"; }
# mounts DIR: tmpfs mounts below DIR.
mounts() { awk -v t="$1/" 'index($2, t) == 1' /proc/mounts | wc -l; }
# wait_for FILE ERE: until FILE has a line matching (10 s at most).
wait_for() { for _ in $(seq 200); do grep -Eq -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# squares: gen (count numbers), square (a fan-out writing sq_N), sum (its output total).
cp "$EXAMPLES/fanout.json" "$TMPD/squares.json"

# ---- a workflow that succeeds ----
"$SBX" workflow run "$TMPD/squares.json" --input count=4 --json > "$TMPD/out" 2> "$TMPD/err"
is $? 0 "a workflow that succeeds: exit 0"
is "$(py 'd["status"]' "$TMPD/out")" succeeded "--json prints the result document on stdout"
is "$(py 'd["steps"]["sum"]["outputs"]["total"]' "$TMPD/out")" 30 "the steps ran in order and shared the workspace (1+4+9+16)"
is "$(py '[i["item"] for i in d["steps"]["square"]["items"]]' "$TMPD/out")" "[1,2,3,4]" "the fan-out ran once per item"
is "$(py 'd["cost"]["usd"] > 0 and d["duration_ms"] >= 0' "$TMPD/out")" true "the result has a cost and a duration"
like "$(cat "$TMPD/err")" '^square +running +0/4$' "stderr: a step line with the fan-out count when it starts"
like "$(cat "$TMPD/err")" 'square +ok +4/4 +[0-9.]+m?s +\$0\.[0-9]+' "and when it ends, with its duration and cost"
like "$(tail -1 "$TMPD/err")" '^squares: succeeded in [0-9.]+m?s, \$0\.[0-9]+ \(wf_[0-9a-f]+\)$' "a summary line at the end"
grep -q $'\033' "$TMPD/err"; ok $((! $?)) "no escape codes when stderr is not a terminal"
is "$(mounts "$SBX_STATE_DIR")" 0 "nothing is left mounted under the state dir"
is "$(rows "$SBX_STATE_DIR")" 0 "no workflow is left in the store"
is "$(ls "$SBX_STATE_DIR/workflows" | wc -l)" 0 "and no workflow directory"
is "$(stat -c %a "$SBX_STATE_DIR")" 700 "the state dir is made 0700"
out=$("$SBX" workflow run "$TMPD/squares.json" 2>/dev/null); is "$?:$out" "0:" "without --json nothing goes to stdout"

# ---- a workflow that fails ----
cat > "$TMPD/fails.json" <<'EOF'
{"name": "fails", "steps": [
  {"id": "a", "run": "echo hi"},
  {"id": "b", "needs": ["a"], "run": "exit 3", "retry": {"max_attempts": 2, "backoff": "10ms"}},
  {"id": "c", "needs": ["b"], "run": "true"}]}
EOF
"$SBX" workflow run "$TMPD/fails.json" --json > "$TMPD/out" 2> "$TMPD/err"
is $? 1 "a workflow that fails: exit 1"
is "$(py 'd["status"] + " " + d["steps"]["b"]["status"] + " " + d["steps"]["c"]["status"]' "$TMPD/out")" \
    "failed failed skipped" "the result says which step failed and what was skipped"
is "$(py 'd["steps"]["b"]["attempts"]' "$TMPD/out")" 2 "the failed step was retried"
like "$(cat "$TMPD/err")" 'b +retrying +attempt 2, after exit_nonzero' "stderr: the retry"
like "$(cat "$TMPD/err")" 'b +failed .*exit code 3' "stderr: the failed step with its error"
like "$(tail -1 "$TMPD/err")" '^fails: failed in .*: step b failed$' "the summary names the failure"
is "$(rows "$SBX_STATE_DIR")" 0 "a failed workflow is deleted too"

# ---- --input ----
cat > "$TMPD/typed.json" <<'EOF'
{"name": "typed",
 "inputs": {"n": {"type": "integer"}, "flag": {"type": "boolean"}, "list": {"type": "array"},
            "s": {"type": "string"}, "q": {"type": "string"}, "o": {"type": "object", "default": {}}},
 "steps": [{"id": "each", "for_each": "${{ inputs.list }}", "when": "inputs.flag",
            "command": ["echo", "${{ item }}-${{ inputs.n }}-${{ inputs.s }}"],
            "outputs": {"line": {"from": "stdout"}}}]}
EOF
"$SBX" workflow run "$TMPD/typed.json" --input n=3 --input flag=true --input 'list=[1,2]' \
    --input s=hello --input 'q="3"' --input 'o={"k": null}' --json > "$TMPD/out" 2>/dev/null
is $? 0 "--input: the values are accepted"
is "$(py 'd["inputs"]' "$TMPD/out")" '{"flag":true,"list":[1,2],"n":3,"o":{"k":null},"q":"3","s":"hello"}' \
    "--input: JSON values keep their type, other text is a string"
is "$(py 'd["steps"]["each"]["outputs"]["line"]' "$TMPD/out")" '["1-3-hello\n","2-3-hello\n"]' "and the steps see them"
err=$("$SBX" workflow run "$TMPD/typed.json" --input n=three --input flag=true --input 'list=[]' \
      --input s=x --input q=y 2>&1); rc=$?
is "$rc" 2 "--input of the wrong type: exit 2"
like "$err" 'inputs\.n: must be integer' "and the problem names the input"
err=$("$SBX" workflow run "$TMPD/typed.json" --input n=1 --input n=2 2>&1); rc=$?
is "$rc:$err" "2:sbx workflow run: --input: n given twice" "an input given twice: exit 2"
err=$("$SBX" workflow run "$TMPD/typed.json" --input =1 2>&1); is $? 2 "an input without a name: exit 2"
printf '{"workflow": %s, "inputs": {"count": 2}}' "$(cat "$TMPD/squares.json")" > "$TMPD/body.json"
"$SBX" workflow run "$TMPD/body.json" --json > "$TMPD/out" 2>/dev/null
is "$?:$(py 'd["steps"]["sum"]["outputs"]["total"]' "$TMPD/out")" "0:5" "a request body with its inputs is accepted"
"$SBX" workflow run "$TMPD/body.json" --input count=3 --json > "$TMPD/out" 2>/dev/null
is "$(py 'd["steps"]["sum"]["outputs"]["total"]' "$TMPD/out")" 14 "--input wins over the body's inputs"
"$SBX" workflow run - --json < "$TMPD/squares.json" > "$TMPD/out" 2>/dev/null
is "$?:$(py 'd["status"]' "$TMPD/out")" "0:succeeded" "- reads the workflow from stdin"

# ---- invalid workflows and usage ----
cat > "$TMPD/bad.json" <<'EOF'
{"name": "bad", "steps": [{"id": "a", "run": "true", "retri": {}},
                          {"id": "b", "needs": ["sqaure"], "run": "true"}]}
EOF
err=$("$SBX" workflow run "$TMPD/bad.json" 2>&1); rc=$?
is "$rc" 2 "an invalid workflow: exit 2"
like "$err" 'invalid workflow \(2 problems\)' "every problem is counted"
like "$err" '  workflow\.steps\[0\]\.retri: unknown key \(did you mean retry\?\)' "each problem as path: message (1)"
like "$err" '  workflow\.steps\[1\]\.needs\[0\]: unknown step "sqaure"' "each problem as path: message (2)"
echo '{"name": "c", "steps": [{"id": "a", "language": "cobol", "code": "x"}]}' > "$TMPD/cobol.json"
err=$("$SBX" workflow run "$TMPD/cobol.json" 2>&1); rc=$?
is "$rc" 2 "a language that is not defined: exit 2"
like "$err" 'workflow\.steps\[0\]\.language: "cobol" is not defined in .*languages\.json \(known: .*python' \
    "with the languages that are"
echo '{"name": ' > "$TMPD/broken.json"
err=$("$SBX" workflow run "$TMPD/broken.json" 2>&1); rc=$?
is "$rc" 2 "a file that is not JSON: exit 2"
like "$err" "broken\.json:[0-9]+:[0-9]+: " "with the line and column"
err=$("$SBX" workflow run "$TMPD/none.json" 2>&1); is $? 2 "a file that does not exist: exit 2"
err=$("$SBX" workflow run 2>&1); is "$?:$err" "2:sbx workflow run: missing FILE (usage: sbx workflow run FILE|- [OPTIONS])" "no FILE: exit 2"
"$SBX" workflow run "$TMPD/squares.json" --frob 2>/dev/null; is $? 2 "an unknown option: exit 2"
"$SBX" workflow run "$TMPD/squares.json" --follow 2>/dev/null; is $? 2 "another command's option: exit 2"
"$SBX" workflow run "$TMPD/squares.json" --max-running 0 2>/dev/null; is $? 2 "--max-running 0: exit 2"
"$SBX" workflow run "$TMPD/squares.json" --approve nosuch 2>/dev/null; is $? 2 "--approve of a step that does not exist: exit 2"
"$SBX" workflow run --help | grep -q -- '--state-dir DIR'; ok $? "run --help documents the options"
"$SBX" workflow --help | grep -q 'submit FILE'; ok $? "sbx workflow --help lists the commands"
"$SBX" help | grep -q 'workflow run|submit'; ok $? "sbx help lists sbx workflow"
mkdir -p "$TMPD/bin" && cp "$SBX" "$TMPD/bin/sbx"
err=$("$TMPD/bin/sbx" workflow run x 2>&1); rc=$?
is "$rc" 125 "sbx without sbx-workflow beside it: 125"
like "$err" 'the sbx-workflow program is not installed' "with a message"

# ---- approvals ----
cat > "$TMPD/gated.json" <<'EOF'
{"name": "gated", "steps": [{"id": "build", "run": "true"},
  {"id": "release", "needs": ["build"], "approval": {"timeout": "1m"}, "run": "echo shipped"}]}
EOF
"$SBX" workflow run "$TMPD/gated.json" --approve release > /dev/null 2> "$TMPD/err"
is $? 0 "--approve STEP approves a step that waits"
like "$(cat "$TMPD/err")" 'release +waiting +for approval' "stderr: the wait"
like "$(cat "$TMPD/err")" 'release +approved' "stderr: the approval"

# ---- signals ----
cat > "$TMPD/slow.json" <<'EOF'
{"name": "slow", "steps": [{"id": "nap", "run": "sleep 37"}, {"id": "after", "needs": ["nap"], "run": "true"}]}
EOF
for sig in INT TERM; do
    "$SBX" workflow run "$TMPD/slow.json" --json > "$TMPD/out" 2> "$TMPD/err" &
    pid=$!
    wait_for "$TMPD/err" '^nap +running'
    t0=$(date +%s%N)
    kill -"$sig" "$pid"
    wait "$pid"
    rc=$?
    t1=$(date +%s%N)
    is "$rc" "$([ $sig = INT ] && echo 130 || echo 143)" "SIG$sig: exit 128+N"
    is "$(py 'd["status"] + " " + d["steps"]["nap"]["status"] + " " + d["steps"]["after"]["status"]' "$TMPD/out")" \
        "cancelled cancelled cancelled" "SIG$sig cancels the workflow, and the result is printed"
    ok $(( (t1 - t0) / 1000000 > 5000 )) "SIG$sig: it ends at once, not after the step's 37 s"
done
like "$(cat "$TMPD/err")" 'SIGTERM: cancelling the workflow' "stderr says why it was cancelled"
pgrep -f 'sleep 37' > /dev/null; ok $((! $?)) "no process of the step is left"
is "$(mounts "$SBX_STATE_DIR"):$(rows "$SBX_STATE_DIR")" "0:0" "a cancelled workflow is deleted too"

# ---- --keep, and what it kept ----
"$SBX" workflow run "$TMPD/squares.json" --keep 2> "$TMPD/err"
is $? 0 "--keep: exit 0"
id=$(grep -o 'kept workflow wf_[0-9a-f]*' "$TMPD/err" | awk '{print $3}')
like "$(tail -1 "$TMPD/err")" "kept workflow $id in $SBX_STATE_DIR .*workspace $SBX_STATE_DIR/workflows/$id/workspace" \
    "--keep prints the state dir and the id"
is "$(rows "$SBX_STATE_DIR"):$(cat "$SBX_STATE_DIR/workflows/$id/workspace/sq_3" 2>&1)" "1:9" "the workflow and its workspace are kept"
out=$("$SBX" workflow status "$id" --state-dir "$SBX_STATE_DIR")
like "$out" "square +ok 3/3 +3 " "status --state-dir shows what a run kept"
out=$("$SBX" workflow list --state-dir "$SBX_STATE_DIR"); like "$out" "$id +squares +succeeded" "list --state-dir lists it"
out=$("$SBX" workflow logs "$id" --state-dir "$SBX_STATE_DIR"); like "$out" "step sum ok" "logs --state-dir shows its events"
"$SBX" workflow delete "$id" --state-dir "$SBX_STATE_DIR" > /dev/null
is "$?:$(mounts "$SBX_STATE_DIR"):$(rows "$SBX_STATE_DIR")" "0:0:0" "delete --state-dir removes it, workspace mount included"

# ---- the state dir ----
"$SBX" workflow run "$TMPD/slow.json" > /dev/null 2> "$TMPD/err" &
pid=$!
wait_for "$TMPD/err" '^nap +running'
err=$("$SBX" workflow run "$TMPD/squares.json" 2>&1); rc=$?
is "$rc" 1 "a second run on the same state dir: exit 1"
like "$err" "another sbx workflow run is using $SBX_STATE_DIR" "and says why"
"$SBX" workflow run "$TMPD/squares.json" --state-dir "$TMPD/other" 2>/dev/null; is $? 0 "another --state-dir runs beside it"
kill -INT "$pid"; wait "$pid"
env -u SBX_STATE_DIR XDG_STATE_HOME="$TMPD/xdg" "$SBX" workflow run "$TMPD/squares.json" 2>/dev/null
is "$?:$(ls "$TMPD/xdg/sbx/workflows.db" 2>&1)" "0:$TMPD/xdg/sbx/workflows.db" "without SBX_STATE_DIR: \$XDG_STATE_HOME/sbx"
done_testing
