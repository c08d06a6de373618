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
TMPD=$(mktemp -d /tmp/sbx-test.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
