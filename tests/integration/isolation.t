#!/bin/bash
# Namespaces, ids, filesystem view: what the sandboxed code can see and touch.
. "$(dirname "$0")/lib.sh"
plan 30

out=$("$SBX" run -- id -u); is "$out" 1000 "code runs as uid 1000 inside"
out=$("$SBX" run -- id -g); is "$out" 1000 "and gid 1000"
out=$("$SBX" run -- cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')
like "$out" "^1000 101000 1" "uid 1000 maps to unprivileged host uid 101000"

# The host view of a running sandboxed process.
"$SBX" run --timeout 5s -- sleep 3.21 & bg=$!
for _ in $(seq 50); do pid=$(pgrep -f -x 'sleep 3.21' | head -1); [ -n "$pid" ] && break; sleep 0.05; done
uid=$(awk '/^Uid:/{print $2}' /proc/$pid/status 2>/dev/null)
is "$uid" 101000 "the host sees host uid 101000"
kill "$bg" 2>/dev/null; wait "$bg" 2>/dev/null

out=$("$SBX" run -- hostname); is "$out" sandbox "hostname is sandbox"
out=$("$SBX" run -- sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "')
is "$out" lo "only the loopback interface exists"
out=$("$SBX" run -- sh -c 'cat /sys/class/net/lo/operstate 2>/dev/null; grep -c . /proc/net/dev')
like "$out" "3$" "no host interface in /proc/net/dev"
# A listener on the host's loopback must be out of reach.
python3 -c 'import socket,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(20)' > "$TMPD/port" & lst=$!
for _ in $(seq 50); do [ -s "$TMPD/port" ] && break; sleep 0.05; done
port=$(cat "$TMPD/port")
probe='import socket,sys
try: socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=2); print("connected")
except OSError as e: print("refused")'
out=$(python3 -c "$probe" "$port"); is "$out" connected "the host listener is reachable from the host"
out=$("$SBX" run -- python3 -c "$probe" "$port"); is "$out" refused "but not from the sandbox"
kill "$lst" 2>/dev/null

echo secret > "$TMPD/secret"
"$SBX" run -- test -e "$TMPD/secret"; ok $((! $?)) "host files outside binds are invisible"
"$SBX" run -- test -e /root; ok $((! $?)) "/root is not there"
"$SBX" run -- sh -c 'ls /home /var /opt' 2>/dev/null; ok $((! $?)) "/home, /var, /opt are not there"
"$SBX" run -- touch /newfile 2>/dev/null; ok $((! $?)) "the root is read-only"
"$SBX" run -- touch /usr/sbx-test 2>/dev/null; ok $((! $?)) "/usr is read-only"
"$SBX" run -- sh -c 'echo ok > /tmp/x && cat /tmp/x' >/dev/null; ok $? "/tmp is writable"
out=$("$SBX" run -- sh -c 'ls /proc | grep -E "^[0-9]+$" | wc -l'); ok $(( out > 5 )) "a fresh /proc shows only the sandbox's processes ($out)"
out=$("$SBX" run -- sh -c 'echo $$'); is "$out" 2 "the command is pid 2 under the sandbox's init"
out=$("$SBX" run -- sh -c 'ls /dev | tr "\n" " "'); is "$out" "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero " "/dev holds only the safe nodes"
out=$("$SBX" run -- sh -c 'echo x > /dev/null && head -c 3 /dev/zero | wc -c'); is "$out" 3 "the device nodes work"
"$SBX" run -- sh -c 'touch /dev/x' 2>/dev/null; ok $((! $?)) "/dev is read-only"
out=$("$SBX" run -- sh -c 'echo s > /dev/shm/a && cat /tmp/a'); is "$out" s "/dev/shm is the sandbox's /tmp"
# Without root there is no prepared /dev: nodes are bound one by one.
# (a copy: the checkout may sit where nobody cannot reach; sbx is static)
nb=$(mktemp /tmp/sbx-nobody.XXXXXX) && install -m 0755 "$SBX" "$nb"
nbp=$(mktemp -d /tmp/sbx-nobody-profiles.XXXXXX) && cp -r "$(cd "$(dirname "$0")/../.." && pwd)/profiles/." "$nbp" && chmod -R a+rX "$nbp"
out=$(cd /tmp && SBX_PROFILE_PATH=$nbp setpriv --reuid=65534 --regid=65534 --clear-groups "$nb" run -- sh -c 'echo x > /dev/null && ls /dev | wc -l' 2>&1)
rm -rf "$nbp"
is "$out" 13 "an unprivileged caller gets the same /dev"
rm -f "$nb"
out=$("$SBX" run -- sh -c 'grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb)" /proc/self/status | grep -vc "0000000000000000$"')
is "$out" 0 "every capability set is empty, the bounding set too"
out=$("$SBX" run -- sh -c 'grep -E "^NoNewPrivs" /proc/self/status | tr -d "\t "'); is "$out" NoNewPrivs:1 "no_new_privs is set"
# As root the host image's root is a prepared directory bound read-only (see
# runtime/roottpl.h), shared by every run with the same layout; a run with
# mounts of its own gets a tmpfs root that can hold their mount points.
root_of='awk '"'"'$5 == "/" { print $4 " " $9 }'"'"' /proc/self/mountinfo'
like "$("$SBX" run -- sh -c "$root_of")" "^/var/lib/sandboxd/root/[0-9a-f]{32} " \
     "the root is a prepared template"
like "$("$SBX" run --tmpfs /data -- sh -c "$root_of; touch /data/x && echo wrote" | tr '\n' ' ')" \
     "^/ tmpfs wrote $" "with a mount of its own the root is a tmpfs, and the mount works"
out=$("$SBX" run -- sh -c 'touch /x 2>&1; mkdir /etc/x 2>&1; mkdir /usr/x 2>&1' | grep -c 'Read-only')
is "$out" 3 "the template is read-only in the sandbox, and so are the mounts on it"
tpl=$(ls -d /var/lib/sandboxd/root/*/ | head -1)
is "$(stat -c '%u %a' /var/lib/sandboxd/root "$tpl" | tr '\n' ' ')" "0 700 100000 755 " \
   "templates are owned by the sandbox root's host id, in a directory only root can enter"
# A bind's source is copied before the sandbox's root is staged on /tmp: a
# source that holds /tmp (or is it) shows the host's files, not the staging root.
pub=$(mktemp -d /tmp/sbx-public.XXXXXX) && chmod 755 "$pub" && echo host-side > "$pub/marker"
out=$("$SBX" run --ro-bind /tmp:/host-tmp -- cat "/host-tmp/${pub#/tmp/}/marker" 2>&1)
is "$out" host-side "a bind of the host's /tmp shows the host's /tmp"
out=$("$SBX" run --ro-bind /:/host -- cat "/host$pub/marker" 2>&1)
is "$out" host-side "a bind of the host's / shows the host's /tmp under it"
rm -rf "$pub"
done_testing
