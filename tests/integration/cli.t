#!/bin/bash
# sbx run as a command: exit codes, options, bad values, stdin, env, mounts, --json.
. "$(dirname "$0")/lib.sh"
plan 45

"$SBX" run -- true; is $? 0 "exit 0 passes through"
"$SBX" run -- sh -c 'exit 7'; is $? 7 "exit 7 passes through"
"$SBX" run -- sh -c 'kill -TERM $$'; is $? 143 "killed by SIGTERM: 128+15"
"$SBX" run --timeout 200ms -- sleep 5 2>/dev/null; is $? 124 "timeout: 124"
err=$("$SBX" run -- /no/such/program 2>&1); is $? 125 "missing program: 125"
like "$err" 'executing "/no/such/program": No such file or directory' "and the message names it"
err=$("$SBX" run -- no-such-program-anywhere 2>&1); like "$err" 'executing "no-such-program-anywhere"' "PATH lookup failure names the program"
err=$("$SBX" run --json -- /etc/hostname 2>&1); like "$err" 'Permission denied|No such file' "exec of a non-executable is an error"
err=$("$SBX" run --bind /no/such/dir:/x -- true 2>&1); is $? 125 "bad mount source: 125"
like "$err" 'mount source "/no/such/dir"' "and the message names the source"
err=$("$SBX" run --workdir /nonexistent -- true 2>&1); like "$err" 'working directory "/nonexistent"' "missing workdir is a setup error"

for bad in "--memory 0" "--memory -1" "--memory 12x" "--memory 99999999999999999999" \
           "--pids 0" "--timeout 0" "--timeout 10x" "--cpu-time abc" "--output-limit 0" \
           "--cpus 0" "--tmpfs /x:0"; do
    # shellcheck disable=SC2086
    err=$("$SBX" run $bad -- true 2>&1); rc=$?
    is "$rc" 2 "bad value refused: $bad"
done
err=$("$SBX" run --memory 12x -- true 2>&1); like "$err" '--memory: "12x" is not a size' "the message names the option and the value"
"$SBX" run 2>/dev/null; is $? 2 "no command: exit 2"
"$SBX" run --no-such-option -- true 2>/dev/null; is $? 2 "unknown option: exit 2"
"$SBX" run --help | grep -q -- '--memory SIZE'; ok $? "--help documents the options"
made=$(strace -f -qq -e trace=mkdir,mkdirat,unshare "$SBX" run --help 2>&1 >/dev/null | grep -cE 'mkdir|unshare')
is "$made" 0 "--help makes no cgroup and no network namespace"

out=$(printf 'line1\nline2\n' > "$TMPD/in"; "$SBX" run --stdin "$TMPD/in" -- wc -l); is "$out" 2 "--stdin FILE feeds stdin"
out=$(echo piped | "$SBX" run --stdin - -- cat); is "$out" piped "--stdin - passes sbx's own stdin"
out=$("$SBX" run -- cat); is "$out" "" "stdin is empty by default"
out=$(FOO=leak "$SBX" run --env A=1 --env B=two -- sh -c 'echo "$A $B ${FOO:-unset}"'); is "$out" "1 two unset" "--env sets variables; the caller's are not passed"
out=$("$SBX" run --env PATH=/bin -- sh -c 'echo $PATH'); is "$out" /bin "--env overrides a default"

mkdir -p "$TMPD/ws" && chown 101000:101000 "$TMPD/ws"
"$SBX" run --workspace "$TMPD/ws" -- sh -c 'pwd > where; echo data > out.txt'
is "$(cat "$TMPD/ws/out.txt" 2>/dev/null)" data "the workspace is bound read-write"
is "$(cat "$TMPD/ws/where" 2>/dev/null)" /workspace "and is the default working directory"
"$SBX" run --workspace "$TMPD/new-ws" -- sh -c 'echo made > f'
is "$(cat "$TMPD/new-ws/f" 2>/dev/null)" made "a missing workspace is made, writable by the sandbox"
is "$(stat -c %u "$TMPD/new-ws")" 101000 "and owned by the sandbox's host uid"
# Mounts inside the workspace: their mount points are made as the sandbox's
# root would make them (and belong to it), in the sandbox's own directories.
out=$("$SBX" run --workspace "$TMPD/new-ws" --tmpfs /workspace/sub --ro-bind "$TMPD/new-ws/f:/workspace/g" \
      -- sh -c 'touch sub/x && cat g' 2>&1)
is "$out" made "a mount inside the workspace works (a tmpfs, a file bound)"
is "$(stat -c '%u:%g' "$TMPD/new-ws/sub" "$TMPD/new-ws/g" | tr '\n' ' ')" "100000:100000 100000:100000 " \
   "and its mount points belong to the sandbox root's host id"
mkdir "$TMPD/root-ws"
err=$("$SBX" run --workspace "$TMPD/root-ws" -- true 2>&1); like "$err" "not writable by the sandbox user" "a workspace the sandbox cannot write gets a hint"
mkdir -p "$TMPD/ro" && echo hello > "$TMPD/ro/f"
out=$("$SBX" run --ro-bind "$TMPD/ro:/data" -- cat /data/f); is "$out" hello "--ro-bind shows the files"
"$SBX" run --ro-bind "$TMPD/ro:/data" -- touch /data/g 2>/dev/null; ok $((! $?)) "--ro-bind is read-only"
out=$("$SBX" run --tmpfs /scratch:1m -- sh -c 'echo x > /scratch/y && cat /scratch/y'); is "$out" x "--tmpfs gives a writable tmpfs"
# An image directory: a busybox rootfs.
mkdir -p "$TMPD/img/bin" "$TMPD/img/etc" && cp /bin/busybox "$TMPD/img/bin/" && ln -s busybox "$TMPD/img/bin/sh"
echo "from-image" > "$TMPD/img/etc/motd"
out=$("$SBX" run --image "$TMPD/img" -- /bin/sh -c 'cat /etc/motd; ls /' | tr '\n' ' ')
is "$out" "from-image bin dev etc proc tmp " "--image DIR is the root, with /dev, /proc and /tmp added"
"$SBX" run --image "$TMPD/img" -- /bin/busybox touch /etc/x 2>/dev/null; ok $((! $?)) "the image is read-only"
err=$("$SBX" run --image "$TMPD/no-such-image" -- /bin/sh 2>&1); like "$err" 'image ".*no-such-image": No such file' "a missing image is an error naming it"
done_testing
