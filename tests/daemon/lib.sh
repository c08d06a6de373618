# Helpers for the daemon's integration tests (sourced by tests/daemon/*.t).
#
# Each test file starts the real build/sandboxd on a Unix socket in a temp dir
# (optionally also on TCP with tokens) and drives it with curl. TAP output; the
# plan is printed at the end, after a last point that checks the daemons were
# stopped cleanly and left nothing behind (no process, no socket, no cgroup).
#
#   daemon_start [SANDBOXD-FLAGS...]   start one (D_PID, D_SOCK, D_LOG, D_PORT)
#   daemon_stop                        SIGTERM, wait, check leftovers (one point)
#   api [CURL-OPTS...] METHOD PATH [BODY|@FILE]
#                                      one request; sets STATUS, TIME (seconds) and
#                                      writes $BODY (the body) and $HDRS (headers)
#   jget FILE EXPR                     a python expression over d = the JSON in FILE
#   jb EXPR                            jget on the last answer's body
#   hdr NAME                           a header of the last answer
#   log_line ID                        the access-log line of a request id
#   eventually SECONDS CMD...          retries CMD until it succeeds
#   in_daemon ERE / has_process / no_process
#                                      the daemon's descendants (sandboxes too)
#                                      whose command line matches
#   client MODE ...                    $T/client.py: streaming with timestamps, a
#                                      client that leaves, kept-alive connections
#
# SANDBOXD (default build/sandboxd) picks the binary under test; KEEP_LOGS=1
# prints the daemon logs' tails even when everything passed. Never use a bare
# `wait` in a test: the daemon is a child of the test's shell.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SANDBOXD=${SANDBOXD:-$ROOT/build/sandboxd}
export SBX_PROFILE_PATH=$ROOT/profiles
unset SANDBOXD_CONFIG SANDBOXD_SOCKET SANDBOXD_LISTEN SANDBOXD_TOKENS SANDBOXD_STATE_DIR \
    SANDBOXD_MAX_RUNNING SANDBOXD_MAX_QUEUE SANDBOXD_MAX_BODY SANDBOXD_GRACE \
    SANDBOXD_LANGUAGES SANDBOXD_PROFILES SANDBOXD_DEFAULT_PROFILE SANDBOXD_MAX_CONNECTIONS

T_N=0
T_FAIL=0
ok() { # ok EXIT-STATUS NAME
    T_N=$((T_N + 1))
    if [ "$1" -eq 0 ]; then echo "ok $T_N - $2"; else echo "not ok $T_N - $2"; T_FAIL=$((T_FAIL + 1)); fi
}
is() { # is GOT WANT NAME
    T_N=$((T_N + 1))
    if [ "$1" = "$2" ]; then echo "ok $T_N - $3"
    else
        echo "not ok $T_N - $3"; T_FAIL=$((T_FAIL + 1))
        printf '%s\n' "  got: '$1'" " want: '$2'" | cut -c1-400 | sed 's/^/#  /'
    fi
}
like() { # like GOT ERE NAME
    T_N=$((T_N + 1))
    if printf '%s' "$1" | grep -Eq -- "$2"; then echo "ok $T_N - $3"
    else
        echo "not ok $T_N - $3"; T_FAIL=$((T_FAIL + 1))
        printf '%s\n' "  got: '$1'" " want: /$2/" | cut -c1-400 | sed 's/^/#  /'
    fi
}
lt() { # lt GOT LIMIT NAME: GOT < LIMIT (numbers, decimals allowed)
    T_N=$((T_N + 1))
    if "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
    then echo "ok $T_N - $3"
    else echo "not ok $T_N - $3"; echo "#   got: '$1', want below $2"; T_FAIL=$((T_FAIL + 1)); fi
}
skip() { T_N=$((T_N + 1)); echo "ok $T_N # skip $1"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
bail() { echo "Bail out! $*"; exit 255; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

[ "$(id -u)" -eq 0 ] || skip_all "needs root (sandboxes, cgroups)"
[ -x "$SANDBOXD" ] || bail "$SANDBOXD missing: run make"
command -v curl >/dev/null || bail "curl missing"
# The system's python3 when there is one: a version manager's shim costs ~80 ms a call.
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=$(command -v python3) || bail "python3 missing"; fi

T=$(mktemp -d /tmp/sbxd-test.XXXXXX)
BODY=$T/body
HDRS=$T/headers
STATUS=
TIME=
DAEMONS=()                  # every pid started, for the final check
TOKEN=tok-0123456789abcdef  # 20 bytes, accepted
export LC_ALL=C.UTF-8

# jget FILE EXPR: EXPR is Python over d (the parsed JSON). Strings print as is,
# None as null, booleans as true/false, anything else as compact JSON.
jget() {
    "$PY" - "$1" "$2" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1], encoding="utf-8"))
    v = eval(sys.argv[2], {"d": d, "json": json})
except Exception as e:
    print("<%s: %s>" % (type(e).__name__, e)); sys.exit(0)
if v is None: print("null")
elif isinstance(v, bool): print("true" if v else "false")
elif isinstance(v, str): print(v)
else: print(json.dumps(v, separators=(",", ":"), sort_keys=True))
EOF
}
jb() { jget "$BODY" "$1"; }
hdr() { # hdr NAME: the last value of that header in the last answer
    tr -d '\r' < "$HDRS" | awk -v n="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" '
        { i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^ +/, "", v); last = v } }
        END { print last }'
}

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# api [CURL-OPTS...] METHOD PATH [BODY]: over the Unix socket, or over TCP when
# API_TCP=1. A BODY of @FILE sends the file. A body is sent as application/json
# unless CT says otherwise (CT= sends no Content-Type at all).
api() {
    local opts=()
    while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do
        case $1 in -H|-m|-u|--header|--max-time) opts+=("$1" "$2"); shift 2 ;; *) opts+=("$1"); shift ;; esac
    done
    local method=$1 path=$2 url
    shift 2
    if [ "${API_TCP:-0}" = 1 ]; then url="http://127.0.0.1:$D_PORT$path"
    else url="http://sandboxd$path"; opts+=(--unix-socket "$D_SOCK"); fi
    if [ $# -gt 0 ]; then
        local ct=${CT-application/json}
        if [ -n "$ct" ]; then opts+=(-H "Content-Type: $ct"); else opts+=(-H "Content-Type:"); fi
        case $1 in @*) opts+=(--data-binary "$1") ;; *) opts+=(--data-binary @-) ;; esac
    fi
    local out
    out=$(printf '%s' "${1:-}" | curl -s -S --max-time "${API_MAX_TIME:-60}" -X "$method" \
        -o "$BODY" -D "$HDRS" -w '%{http_code} %{time_total}' "${opts[@]}" "$url" 2>"$T/curl.err")
    STATUS=${out% *}
    TIME=${out#* }
}
# exec_json BODY: POST /v1/exec.
exec_json() { api POST /v1/exec "$1"; }
health_ok() { # 0 when GET /v1/health answers 200 {"status":"ok"}
    api GET /v1/health
    [ "$STATUS" = 200 ] && [ "$(jb 'd["status"]')" = ok ]
}

# ---- the daemon ----

# daemon_start [FLAGS...]: a daemon on $T/sN.sock (or $SOCK_AT) with state in
# $T/stateN; set D_ENV (words NAME=VALUE) for its environment. Waits up to 10 s for the socket.
# With D_TCP=1 it also listens on 127.0.0.1:$D_PORT with $TOKEN.
D_COUNT=0
daemon_start() {
    D_COUNT=$((D_COUNT + 1))
    D_SOCK=${SOCK_AT:-$T/s$D_COUNT.sock}
    D_STATE=$T/state$D_COUNT
    D_LOG=$T/daemon$D_COUNT.log
    local extra=()
    if [ "${D_TCP:-0}" = 1 ]; then
        D_PORT=$(free_port)
        extra+=(--listen "127.0.0.1:$D_PORT")
    fi
    # shellcheck disable=SC2086  # D_ENV is a list of NAME=VALUE words
    env ${D_TCP:+SANDBOXD_TOKENS=$TOKEN} ${D_ENV:-} "$SANDBOXD" --socket "$D_SOCK" \
        --state-dir "$D_STATE" "${extra[@]}" "$@" </dev/null >/dev/null 2>"$D_LOG" {TAP_FD}>&- &
    D_PID=$!
    DAEMONS+=("$D_PID")
    local i
    for i in $(seq 100); do
        [ -S "$D_SOCK" ] && curl -s --max-time 2 --unix-socket "$D_SOCK" -o /dev/null \
            http://sandboxd/v1/health && return 0
        alive "$D_PID" || break
        sleep 0.1
    done
    diag "sandboxd did not come up; its log:"; sed 's/^/#   /' "$D_LOG"
    bail "sandboxd $* did not start"
}
# alive PID: the process exists and is not a zombie.
alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}
# descendants PID: every process below PID (the sandboxes' processes included).
descendants() {
    ps -e -o pid= -o ppid= | awk -v root="$1" '
        { parent[$1] = $2; pids[NR] = $1 }
        END { for (i in pids) { p = pids[i]; q = parent[p]; n = 0
                while (q != "" && q != 0 && n++ < 64) { if (q == root) { print p; break } q = parent[q] } } }'
}
# eventually SECONDS CMD...: 0 as soon as CMD succeeds, 1 when time runs out.
eventually() {
    local end=$(( $(now_ms) + $1 * 1000 ))
    shift
    until "$@"; do [ "$(now_ms)" -lt "$end" ] || return 1; sleep 0.1; done
}
# in_daemon ERE: pids of the current daemon's descendants whose command line
# matches (sandboxed processes included).
in_daemon() {
    local p
    for p in $(descendants "$D_PID"); do
        tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline" | grep -Eq -- "$1" && echo "$p"
    done
}
no_process() { [ -z "$(in_daemon "$1")" ]; }
has_process() { [ -n "$(in_daemon "$1")" ]; }
# cgroups PID: the sandbox cgroups a daemon of that pid created and still has.
cgroups_of() { find /sys/fs/cgroup -maxdepth 7 -type d -name "sbx-$1-*" 2>/dev/null; }
# wait_exit PID SECONDS: waits for the process to end (a zombie counts); 1 on timeout.
wait_exit() {
    local end=$(( $(now_ms) + $2 * 1000 ))
    while alive "$1"; do
        [ "$(now_ms)" -lt "$end" ] || return 1
        sleep 0.05
    done
}
# daemon_stop [PID SOCK]: SIGTERM (unless it already exited), waits up to 40 s;
# then one point: it exited with 0, the socket file is gone, no descendant
# process and no cgroup of it remains.
daemon_stop() {
    local pid=${1:-$D_PID} sock=${2:-$D_SOCK} kids='' problems=()
    if alive "$pid"; then
        kids=$(descendants "$pid")
        kill -TERM "$pid"
        wait_exit "$pid" 40 || { problems+=("did not exit 40 s after SIGTERM"); kill -KILL "$pid"; }
    fi
    wait "$pid"
    local rc=$?
    [ "$rc" -eq 0 ] || problems+=("exit status $rc")
    [ -e "$sock" ] && problems+=("socket $sock still there")
    sleep 0.1
    local k left=()
    for k in $kids; do alive "$k" && left+=("$k: $(tr '\0' ' ' 2>/dev/null < "/proc/$k/cmdline")"); done
    [ ${#left[@]} -eq 0 ] || problems+=("processes left: ${left[*]}")
    local cg
    cg=$(cgroups_of "$pid")
    [ -z "$cg" ] || problems+=("cgroups left: $cg")
    for k in "${left[@]}"; do kill -KILL "${k%%:*}" 2>/dev/null; done
    T_N=$((T_N + 1))
    if [ ${#problems[@]} -eq 0 ]; then echo "ok $T_N - sandboxd $pid stopped cleanly, nothing left behind"
    else
        echo "not ok $T_N - sandboxd $pid stopped cleanly, nothing left behind"
        T_FAIL=$((T_FAIL + 1))
        printf '#   %s\n' "${problems[@]}"
    fi
}

# The TAP stream: a signal can run the EXIT trap while a function's output is
# redirected to a file, so the last lines go to a copy of the original stdout.
exec {TAP_FD}>&1
finish() {
    {
        local pid f
        for pid in "${DAEMONS[@]}"; do
            alive "$pid" && daemon_stop "$pid" "$T/none"
        done
        echo "1..$T_N"
        if [ "$T_FAIL" -ne 0 ] || [ -n "${KEEP_LOGS:-}" ]; then
            for f in "$T"/daemon*.log; do
                [ -f "$f" ] || continue
                diag "--- $(basename "$f") (last 15 lines)"; tail -n 15 "$f" | cut -c1-300 | sed 's/^/#   /'
            done
        fi
    } >&"$TAP_FD" 2>&1
    # A test that lowered the system's fs.mount-max and did not get to put it back.
    [ -z "${MOUNT_MAX_SAVED:-}" ] || echo "$MOUNT_MAX_SAVED" > /proc/sys/fs/mount-max
    # Workflow workspaces are tmpfs mounts under a state directory.
    awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l
    rm -rf "$T"
    [ "$T_FAIL" -eq 0 ]
}
trap finish EXIT
trap 'exit 143' TERM HUP
trap 'exit 130' INT

# log_line REQUEST-ID: the access-log line of that request in $D_LOG (waits up
# to 2 s: the line is written when the connection's request completes).
log_line() {
    for _ in $(seq 40); do
        grep -F "\"request_id\":\"$1\"" "$D_LOG" | grep -F '"method"' | tail -1 | grep . && return 0
        sleep 0.05
    done
    return 1
}

# A small HTTP client for what curl cannot show: when each streamed line
# arrives, a client that leaves mid-stream, several requests on one kept-alive
# connection. See the usage at the top of the script.
cat > "$T/client.py" <<'EOF'
"""client.py SOCKET MODE ...
  stream BODY [MAX_LINES]      POST /v1/exec; prints "H name: value" for headers,
                               then "ms<TAB>line" per body line (ms since the
                               request was sent); stops reading after MAX_LINES
                               lines and closes the connection. $REQ_ID, when
                               set, is sent as X-Request-Id.
  reuse PATH                   two GETs on one connection; "status connection"
                               for each (connection "close" when the server
                               closes it after the answer).
  keepalive PID BODY           two connections kept alive after a POST each;
                               SIGTERM to PID; 0.3 s later GET /v1/health on the
                               first, POST BODY on the second, and GET /v1/health
                               on a new one. Prints "status connection body" per
                               answer ("000 - error" when there is none).
"""
import http.client, json, os, signal, socket, sys, time

class UnixConn(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("sandboxd", timeout=timeout)
        self.unix_path = path
    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s

def main():
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "stream":
        body = sys.argv[3].encode()
        max_lines = int(sys.argv[4]) if len(sys.argv) > 4 else 0
        c = UnixConn(path)
        t0 = time.monotonic()
        hdrs = {"Content-Type": "application/json"}
        if os.environ.get("REQ_ID"):
            hdrs["X-Request-Id"] = os.environ["REQ_ID"]
        c.request("POST", "/v1/exec", body, hdrs)
        r = c.getresponse()
        print("S %d" % r.status)
        for k, v in r.getheaders():
            print("H %s: %s" % (k.lower(), v))
        n = 0
        while True:
            line = r.readline()
            if not line:
                break
            n += 1
            print("%d\t%s" % ((time.monotonic() - t0) * 1000, line.decode("utf-8", "replace").rstrip("\n")))
            sys.stdout.flush()
            if max_lines and n >= max_lines:
                c.sock.shutdown(socket.SHUT_RDWR)
                c.close()
                return
    elif mode == "reuse":
        # Two GETs of one path on one connection: "status connection" per answer.
        c = UnixConn(path)
        for _ in range(2):
            try:
                c.request("GET", sys.argv[3])
                r = c.getresponse()
                r.read()
                print("%d %s" % (r.status, r.getheader("Connection", "keep-alive")))
                if r.will_close:
                    c = UnixConn(path)    # http.client would reconnect anyway
            except Exception as e:
                print("000 %s" % type(e).__name__)
    elif mode == "keepalive":
        # Raw requests, each sent with one write: an early answer (503) closes
        # the connection without reading the body, and a body sent in a second
        # write would then fail with EPIPE before the answer is read.
        pid = int(sys.argv[3])
        body = sys.argv[4].encode()
        def connect():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(path)
            return s
        def show(s, method, url, data=b""):
            try:
                if s is None:
                    s = connect()
                head = "%s %s HTTP/1.1\r\nHost: sandboxd\r\n" % (method, url)
                if data:
                    head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
                s.sendall(head.encode() + b"\r\n" + data)
                r = http.client.HTTPResponse(s)
                r.begin()
                text = r.read().decode("utf-8", "replace").strip()
                print("%d %s %s" % (r.status, r.getheader("Connection", "keep-alive"), text))
            except Exception as e:
                print("000 - %s: %s" % (type(e).__name__, e))
            sys.stdout.flush()
        a, b = connect(), connect()
        show(a, "POST", "/v1/exec", b'{"warm":1}')
        show(b, "POST", "/v1/exec", b'{"warm":1}')
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.3)
        show(a, "GET", "/v1/health")
        show(b, "POST", "/v1/exec", body)
        show(None, "GET", "/v1/health")

main()
EOF
client() { "$PY" "$T/client.py" "$D_SOCK" "$@"; }
