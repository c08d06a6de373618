# Shared helpers for the hostile-code suite (sourced by each tests/security/*.t).
#
#   SBX_SECURITY_PROFILE   profile every run uses (default: default)
#   SBX_SECURITY_EXTRA     more `sbx run` options for every run, word-split
#                          (e.g. to show the suite failing with a protection off)
#   SBX, ATTACK            the binaries under test (default: build/sbx and
#                          build/tests/security/attack of this checkout)
#
# Every attack is run as `sbx [--profile P] $EXTRA ... -- CMD`; the attack binary
# is bound read-only at /attack. The attack program prints lines such as
# "NAME: DENIED errno=EPERM" (see attack.c); `line NAME` picks one out of $out.
. "$(dirname "$0")/../integration/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ATTACK=${ATTACK:-$ROOT/build/tests/security/attack}
PROFILE=${SBX_SECURITY_PROFILE:-default}
EXTRA=${SBX_SECURITY_EXTRA:-}
[ "$(id -u)" -eq 0 ] || skip_all "needs root (the suite checks the ids, cgroups and /dev of a root-run sbx)"
if [ ! -x "$SBX" ]; then echo "Bail out! $SBX missing: run make"; exit 1; fi
if [ ! -x "$ATTACK" ]; then echo "Bail out! $ATTACK missing: run make $ATTACK"; exit 1; fi
# --profile came after the first tests were written: without it every run gets
# the binary's built-in protections, and a profile other than default is refused.
if "$SBX" run --help 2>&1 | grep -q -e '--profile'; then
    PROFILE_OPTS="--profile $PROFILE"
else
    PROFILE_OPTS=
    [ "$PROFILE" = default ] || { echo "Bail out! $SBX has no --profile (asked for $PROFILE)"; exit 1; }
    echo "# $SBX run has no --profile yet: running with its built-in protections"
fi
# A sandbox must start at all, or every point would fail for the same reason.
# shellcheck disable=SC2086
if ! err=$("$SBX" run $PROFILE_OPTS $EXTRA -- true 2>&1); then
    echo "Bail out! $SBX run $PROFILE_OPTS $EXTRA -- true fails: $err"; exit 1
fi
# For the pseudo-terminal harness (a child shell) and for diagnostics.
export SBX ATTACK PROFILE_OPTS EXTRA

# sbx OPTIONS... -- CMD...: one sandboxed run with the profile and the extras.
# shellcheck disable=SC2086  # PROFILE_OPTS and EXTRA are option lists
sbx() { "$SBX" run $PROFILE_OPTS $EXTRA "$@"; }
# attack [SBX-OPTIONS...] -- NAME [ARGS]: the attack program in a sandbox.
attack() {
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    sbx "${opts[@]}" --ro-bind "$ATTACK:/attack" -- /attack "$@"
}

# direct NAME: `attack call NAME` (the call made by the command itself); prints
# its line, or "NAME: KILLED signal=SIGSYS" when the filter killed the run.
direct() {
    local r="$TMPD/direct.json"
    attack --json -- call "$1" > "$r"
    if [ "$(jget "$r" status)" = seccomp ]; then echo "$1: KILLED signal=SIGSYS"; else jget "$r" stdout; fi
}
# line NAME [TEXT]: the attack line for NAME in TEXT (default $out), without "NAME: ".
line() { printf '%s\n' "${2-$out}" | sed -n "s|^$1: ||p" | head -1; }
# denied NAME REGEX DESC: assert the line for NAME matches ^REGEX$.
denied() { like "$(line "$1")" "^($2)\$" "$3"; }
skip() { T_N=$((T_N + 1)); echo "ok $T_N # skip $1"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# The safe answers to the usual attack.
DENIED_EPERM='DENIED errno=EPERM|KILLED signal=SIGSYS'

# in_pty BASH-COMMAND: runs it with a fresh pseudo-terminal as its controlling
# terminal (as when sbx is run from an interactive shell) and prints what was
# written to that terminal. The command sees the variables exported above.
in_pty() {
    python3 -c '
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp("bash", ["bash", "--norc", "--noprofile", "-c", sys.argv[1]])
out = b""
end = time.time() + 20
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
    elif os.waitpid(pid, os.WNOHANG)[0]:
        break
else:
    os.kill(pid, 9)
try:
    os.waitpid(pid, 0)
except ChildProcessError:
    pass
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
' "$1"
}
# What the sandbox runs in the harness: the same options as sbx().
# shellcheck disable=SC2016
PTY_SBX='"$SBX" run $PROFILE_OPTS $EXTRA'
