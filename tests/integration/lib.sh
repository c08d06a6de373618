# Small TAP helper for the integration tests (sourced).
set -u
SBX=${SBX:-$(cd "$(dirname "$0")/../.." && pwd)/build/sbx}
# The tree's profiles, also for copies of sbx run from elsewhere.
export SBX_PROFILE_PATH=${SBX_PROFILE_PATH:-$(cd "$(dirname "$0")/../.." && pwd)/profiles}
T_N=0
T_FAIL=0
plan() { echo "1..$1"; }
ok() { # ok COND-EXIT-STATUS NAME
    T_N=$((T_N + 1))
    if [ "$1" -eq 0 ]; then echo "ok $T_N - $2"; else echo "not ok $T_N - $2"; T_FAIL=$((T_FAIL + 1)); fi
}
is() { # is GOT WANT NAME
    T_N=$((T_N + 1))
    if [ "$1" = "$2" ]; then echo "ok $T_N - $3"
    else echo "not ok $T_N - $3"; echo "#   got: '$1'"; echo "#  want: '$2'"; T_FAIL=$((T_FAIL + 1)); fi
}
like() { # like GOT REGEX NAME
    T_N=$((T_N + 1))
    if printf '%s' "$1" | grep -Eq -- "$2"; then echo "ok $T_N - $3"
    else echo "not ok $T_N - $3"; echo "#   got: '$1'"; echo "#  want /$2/"; T_FAIL=$((T_FAIL + 1)); fi
}
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
done_testing() { [ "$T_FAIL" -eq 0 ]; }
# jget FILE KEY.PATH: one field of a JSON result (python3 is a test dependency).
jget() {
    python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v=v[k]
print("null" if v is None else str(v).lower() if isinstance(v,bool) else v)' "$1" "$2"
}
# py EXPR FILE: a Python expression over d, the JSON in FILE; strings print as
# they are, anything else as compact JSON (a Python error as its message).
py() { python3 -c 'import json, sys
d = json.load(open(sys.argv[2]))
v = eval(sys.argv[1])
print(json.dumps(v, sort_keys=True, separators=(",", ":")) if not isinstance(v, str) else v)' "$1" "$2" 2>&1; }
# The example workflows (examples/README.md), also the tests' own workflows.
EXAMPLES=$(cd "$(dirname "$0")/../.." && pwd)/examples
TMPD=$(mktemp -d /tmp/sbx-test.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
# unmount_tmpd: unmounts what is mounted below $TMPD (workflow workspaces are
# tmpfs mounts below their state dirs), then removes it.
unmount_tmpd() {
    awk -v t="$TMPD/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l
    rm -rf "$TMPD"
}
# workflow_setup: for tests of sbx workflow run (before plan): skips them
# without root or sbx-workflow; the state dir is $TMPD/state, cleaned up at exit.
workflow_setup() {
    [ "$(id -u)" -eq 0 ] || skip_all "needs root (sandboxes, the workspace tmpfs)"
    [ -x "$(dirname "$SBX")/sbx-workflow" ] || skip_all "sbx-workflow not built"
    trap unmount_tmpd EXIT
    export SBX_STATE_DIR=$TMPD/state
    unset XDG_STATE_HOME
}
