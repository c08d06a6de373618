#!/bin/bash
# The example workflows (examples/README.md) run with sbx workflow run: each
# succeeds with the outputs and costs its README describes, and fails the way
# it says with the input it names.
. "$(dirname "$0")/lib.sh"
workflow_setup
plan 30

# example NAME [ARGS...]: runs examples/NAME.json with --json; the result in
# $TMPD/NAME.json, progress in $TMPD/NAME.err, the exit code in $RC.
example() {
    local name=$1
    shift
    "$SBX" workflow run "$EXAMPLES/$name.json" --json "$@" > "$TMPD/$name.json" 2> "$TMPD/$name.err"
    RC=$?
    R=$TMPD/$name.json
}
# steps: "id=status" of every step of the last result, on one line.
steps() { py '" ".join(k + "=" + v["status"] for k, v in d["steps"].items())' "$R"; }

# ---- fanout.json ----
example fanout
is "$RC:$(py 'd["status"]' "$R")" "0:succeeded" "fanout: succeeds, exit 0"
is "$(py 'd["steps"]["gen"]["result"]["stdout"]' "$R")" "[1, 2, 3]" "fanout: gen used the input's default (3)"
is "$(py 'd["steps"]["gen"]["outputs"]["numbers"]' "$R")" "[1,2,3]" "fanout: its list, from its stdout as JSON"
is "$(py '[(i["item"], i["status"]) for i in d["steps"]["square"]["items"]]' "$R")" \
    '[[1,"ok"],[2,"ok"],[3,"ok"]]' "fanout: square ran once per element"
is "$(py 'd["steps"]["sum"]["outputs"]["total"].strip()' "$R")" 14 "fanout: sum added the squares up (1+4+9)"
example fanout --input count=10001
is "$RC:$(steps)" "1:gen=ok square=failed sum=skipped" "fanout: a list above the fan-out limit fails, exit 1"
like "$(py 'd["steps"]["square"]["error"]' "$R")" 'above the limit of 10000' "fanout: with the limit in the error"

# ---- build-test.json ----
example build-test
is "$RC:$(py 'd["status"]' "$R")" "0:succeeded" "build-test: succeeds, exit 0"
is "$(steps)" "source=ok compile=ok test=ok report=ok" "build-test: every step ran"
like "$(py 'd["steps"]["compile"]["outputs"]["compiler"]' "$R")" '^[0-9]+\.[0-9]+' \
    "build-test: the compiler's version, from \$SBX_OUTPUT"
is "$(py 'int(d["steps"]["compile"]["outputs"]["size"]) > 1000' "$R")" true \
    "build-test: the program's size, from \$SBX_OUTPUT"
is "$(py 'd["steps"]["test"]["attempts"]' "$R")" 1 "build-test: the test passed at its first attempt"
is "$(py 'd["steps"]["test"]["outputs"]["passed"]' "$R")" 5 "build-test: passed, from \$SBX_OUTPUT"
is "$(py 'd["steps"]["test"]["outputs"]["report"].splitlines()' "$R")" \
    '["ok sumsq(0) = 0","ok sumsq(1) = 1","ok sumsq(4) = 30","ok sumsq(10) = 385","ok sumsq(1000) = 333833500"]' \
    "build-test: the test's report, from its file"
is "$(py 'd["steps"]["report"]["outputs"]["summary"]' "$R")" "compile ok, test ok, 5 cases passed" \
    "build-test: the report"
example build-test --input 'cflags=-std=c89 -pedantic-errors'
is "$RC:$(steps)" "1:source=ok compile=failed test=skipped report=ok" \
    "build-test: code the compiler refuses fails the workflow, exit 1; the report still runs"
is "$(py 'd["steps"]["report"]["outputs"]["summary"]' "$R")" "compile failed, test skipped, 0 cases passed" \
    "build-test: and says what happened"
like "$(py 'd["steps"]["compile"]["result"]["stderr"]' "$R")" "error: .for. loop initial declarations" \
    "build-test: the compiler's message is in the step's result"

# ---- agent.json ----
example agent
is "$RC:$(steps)" "0:agent=ok publish=ok" "agent: succeeds, exit 0"
is "$(py 'd["budget"]' "$R")" '{"usd":0.05}' "agent: under its budget"
is "$(py '[(i["quantity"], i["unit"]) for i in d["steps"]["agent"]["result"]["cost"]["items"] if i["item"] == "llm_tokens"]' "$R")" \
    '[[49,"tokens"],[74,"tokens"],[99,"tokens"]]' "agent: one llm_tokens cost item per model call"
is "$(py 'sum(i["quantity"] for i in d["steps"]["agent"]["result"]["cost"]["items"] if i["item"] == "llm_tokens")' "$R")" \
    "$(py 'int(d["steps"]["agent"]["outputs"]["tokens"])' "$R")" "agent: the items add up to the tokens it counted"
is "$(py 'round(sum(i["usd"] for i in d["steps"]["agent"]["result"]["cost"]["items"] if i["item"] == "llm_tokens"), 9)' "$R")" \
    0.001602 "agent: priced as it reported"
is "$(py '0 < d["steps"]["agent"]["cost"]["usd"] - 0.001602 < 1e-5' "$R")" true \
    "agent: the step's cost is the reported usd and the sandbox's"
is "$(py 'abs(d["cost"]["usd"] - d["steps"]["agent"]["cost"]["usd"] - d["steps"]["publish"]["cost"]["usd"]) < 1e-9' "$R")" true \
    "agent: the workflow's cost is its steps'"
is "$(py 'd["steps"]["agent"]["outputs"]["answer"].count("\n")' "$R")" 2 "agent: a multi-line answer (answer<<END)"
is "$(py 'd["steps"]["publish"]["outputs"]["answer"] == d["steps"]["agent"]["outputs"]["answer"]' "$R")" true \
    "agent: publish wrote the agent's answer to the workspace"
is "$(py 'd["steps"]["publish"]["outputs"]["lines"].strip()' "$R")" 3 "agent: one line per round"
example agent --input rounds=100
is "$RC:$(py 'd["status"]' "$R"):$(steps)" "1:budget_exceeded:agent=ok publish=cancelled" \
    "agent: 100 rounds spend past the budget: budget_exceeded, exit 1"
like "$(py 'd["error"]' "$R")" '^the budget of 0\.05 USD is spent \(0\.4[0-9]* USD\)$' "agent: the error says which budget"
done_testing
