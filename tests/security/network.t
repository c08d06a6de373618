#!/bin/bash
# The network: a namespace with only lo; no raw or packet sockets; nothing of the
# host reachable, neither its loopback, its other addresses, nor its abstract
# unix sockets.
. "$(dirname "$0")/lib.sh"
plan 13

out=$(sbx -- sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; ip -o link | cut -d: -f2 | tr -d " "' | sort -u | tr '\n' ' ')
is "$out" "lo " "only lo exists (/proc/net/dev and ip link)"
out=$(direct socket_raw); denied socket_raw "$DENIED_EPERM" "a raw IP socket cannot be made"
out=$(direct socket_packet); denied socket_packet "$DENIED_EPERM" "a packet socket cannot be made"

# A TCP listener on all the host's addresses and an abstract unix socket.
abstract="sbx-security-$$-$RANDOM"
python3 -c 'import socket, sys, time
t = socket.socket(); t.bind(("0.0.0.0", 0)); t.listen()
u = socket.socket(socket.AF_UNIX); u.bind("\0" + sys.argv[1]); u.listen()
print(t.getsockname()[1], flush=True); time.sleep(30)' "$abstract" > "$TMPD/port" & lst=$!
trap 'kill $lst 2>/dev/null; rm -rf "$TMPD"' EXIT
for _ in $(seq 100); do [ -s "$TMPD/port" ] && break; sleep 0.05; done
port=$(cat "$TMPD/port")
hostip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')

host_connect() { "$ATTACK" connect "$@" | sed -n 's/^[^ ]* //p'; }
is "$(host_connect 127.0.0.1 "$port") $(host_connect "@$abstract" 0)" "ALLOWED connected ALLOWED connected" \
   "the host's listeners are reachable from the host (127.0.0.1:$port, @$abstract)"
out=$(attack -- connect 127.0.0.1 "$port")
denied connect:127.0.0.1 "DENIED errno=ECONNREFUSED" "the host's 127.0.0.1:$port is out of reach"
if [ -n "$hostip" ]; then
    is "$(host_connect "$hostip" "$port")" "ALLOWED connected" "the host's listener is reachable on $hostip from the host"
    out=$(attack -- connect "$hostip" "$port")
    denied "connect:$hostip" "DENIED errno=(ENETUNREACH|EHOSTUNREACH|ECONNREFUSED|ETIMEDOUT|EINPROGRESS)" \
        "the host's address $hostip is out of reach"
else
    skip "the host has no global IPv4 address"
    skip "the host has no global IPv4 address"
fi
out=$(attack -- connect "@$abstract" 0)
denied "connect:@$abstract" "DENIED errno=ECONNREFUSED" "the host's abstract unix socket is out of reach"
out=$(sbx -- python3 -c 'import socket
try:
    socket.create_connection(("10.255.255.1", 9), timeout=1); print("connected")
except OSError as e: print("unreachable", e.errno)')
is "$out" "unreachable 101" "no route out of the sandbox at all (ENETUNREACH at once)"

# sbx run makes the network namespace on a thread of its own and passes it to the
# sandbox: it belongs to the host's user namespace, so nothing inside the sandbox
# can reconfigure it. NS_GET_USERNS (0xb701) on it is refused for a namespace
# outside the sandbox's own.
owner='import fcntl, os
fd = os.open("/proc/self/ns/net", os.O_RDONLY)
try:
    fcntl.ioctl(fd, 0xb701); print("own")
except OSError as e: print("foreign", e.errno)'
is "$("$SBX" run --profile unconfined -- python3 -c "$owner")" "foreign 1" \
   "sbx run: the sandbox's network namespace is not its user namespace's"
is "$("$SBX" run --profile unconfined -- sh -c 'ip -o link show lo | grep -o "<[^>]*>"')" \
   "<LOOPBACK,UP,LOWER_UP>" "sbx run: lo in that namespace is up"
# A profile that keeps a capability gets a namespace made by the clone (network
# capabilities are checked against the namespace's owner), with lo up as well.
echo '{"seccomp": "unconfined", "capabilities": ["CAP_NET_BIND_SERVICE"]}' >"$TMPD/keep.json"
is "$("$SBX" run --profile "$TMPD/keep.json" -- python3 -c "$owner")" "own" \
   "with a kept capability the namespace is the sandbox's own"
is "$("$SBX" run --profile "$TMPD/keep.json" -- sh -c 'ip -o link show lo | grep -o "<[^>]*>"')" \
   "<LOOPBACK,UP,LOWER_UP>" "and its lo is up"
done_testing
