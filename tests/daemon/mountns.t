#!/bin/bash
# The daemon's sandboxes are cloned from the spawner's bare mount namespace
# (runtime/mountns.h), not from a copy of the daemon's, which holds a tmpfs per
# live workflow: the spawner makes it at start and says nothing when it could;
# each sandbox's bind sources are opened in the daemon's namespace first, so a
# workflow's workspace and its steps' /run/sbx, a mount and directories made
# after the spawner started, still reach every step.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root"
daemon_start

exec_json '{"command": ["sh", "-c", "echo hi > /workspace/f && cat /workspace/f"]}'
is "$(jb 'd["status"]') $(jb 'd["stdout"]')" "ok hi" "a sandbox of the daemon runs, with its tmpfs workspace"
is "$(grep -c 'mount namespace' "$D_LOG")" 0 "the spawner said nothing about its bare mount namespace"
spawner=$(pgrep -P "$D_PID" -x sandboxd-spawn)
is "$(readlink "/proc/$spawner/ns/mnt")" "$(readlink "/proc/$D_PID/ns/mnt")" \
   "the spawner itself stays in the daemon's mount namespace"

# Workspaces are mounts of the daemon's namespace, made after the spawner's
# bare namespace: the steps find theirs all the same.
wf='{"workflow": {"name": "ws", "steps": [
  {"id": "a", "run": "echo from-a > /workspace/f && echo x=1 >> $SBX_OUTPUT", "outputs": {"x": {"from": "output"}}},
  {"id": "b", "needs": ["a"], "run": "cat /workspace/f"}]}}'
api POST /v1/workflows "$wf"
is "$STATUS" 201 "a workflow is accepted"
id=$(jb 'd["id"]')
for _ in $(seq 100); do
    api GET "/v1/workflows/$id"
    case $(jb 'd["status"]') in queued|running) sleep 0.1 ;; *) break ;; esac
done
is "$(jb 'd["status"]')" succeeded "it succeeds"
is "$(jb 'd["steps"]["a"]["outputs"]["x"]')" 1 "step a wrote its output to /run/sbx"
is "$(jb 'd["steps"]["b"]["result"]["stdout"]')" "from-a" "step b read a's file from the shared workspace"
mnt=$(grep -c " $D_STATE/workflows/$id " /proc/"$D_PID"/mountinfo)
is "$mnt" 1 "the workspace is a mount of the daemon's namespace"

daemon_stop

# A daemon whose namespace is crowded: fs.mount-max caps each namespace's
# mounts, and a sandbox cloned from a copy of the daemon's would exceed it. This
# daemon runs in a mount namespace of its own, so only its namespace is near
# the cap (the system's: lowered for one request, put back right after it, or
# by finish when the test dies on the way).
printf '#!/bin/sh\nexec unshare -m --propagation private "%s" "$@"\n' "$SANDBOXD" > "$T/own-ns"
chmod +x "$T/own-ns"
SANDBOXD=$T/own-ns daemon_start
nsenter -t "$D_PID" -m sh -c 'mkdir -p "$1" && mount -t tmpfs -o size=64k tmpfs "$1" || exit 1
    i=0; while [ $i -lt 300 ]; do
        mkdir "$1/$i" && mount -t tmpfs -o size=4k tmpfs "$1/$i" || exit 1; i=$((i + 1)); done' \
    sh "$T/many"
ok $? "300 mounts more in the daemon's namespace"
mounts=$(wc -l < "/proc/$D_PID/mountinfo")
saved=$(cat /proc/sys/fs/mount-max)
MOUNT_MAX_SAVED=$saved    # put back by finish if the test ends here
echo $((mounts + 5)) > /proc/sys/fs/mount-max
exec_json '{"command": ["echo", "started"]}'
echo "$saved" > /proc/sys/fs/mount-max
MOUNT_MAX_SAVED=
is "$(jb 'd["status"]') $(jb 'd["stdout"]')" "ok started" \
   "with $mounts mounts there and fs.mount-max at $((mounts + 5)), a sandbox starts ($(jb 'd["error"]'))"
is "$(cat /proc/sys/fs/mount-max)" "$saved" "fs.mount-max is back to $saved"
daemon_stop
