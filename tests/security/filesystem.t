#!/bin/bash
# The file system: host files out of sight, the root read-only, binds that cannot
# be written through or escaped, no device nodes, no setuid files for the host.
. "$(dirname "$0")/lib.sh"
plan 23

EXISTS_NOT='DENIED errno=ENOENT'
READONLY='DENIED errno=(EROFS|EACCES)'
# Creating checks the mount's read-only flag before any permission: EROFS, and
# nothing else, says the mount is read-only (uid 1000 alone would get EACCES).

# Host files outside the binds are not there at all (not merely unreadable).
canary="HOSTDATA-$$-$RANDOM"
echo "$canary" > "$TMPD/secret"; chmod 644 "$TMPD/secret"
out=$(attack -- open r:/etc/shadow stat:/root stat:/home stat:/var/lib stat:/boot r:"$TMPD/secret" stat:/sys/firmware)
denied r:/etc/shadow "$EXISTS_NOT" "/etc/shadow is absent"
denied stat:/root "$EXISTS_NOT" "/root is absent"
is "$(line stat:/home) $(line stat:/var/lib) $(line stat:/boot)" \
   "$EXISTS_NOT $EXISTS_NOT $EXISTS_NOT" "/home, /var/lib and /boot are absent"
denied r:"$TMPD/secret" "$EXISTS_NOT" "a host file that is not bound is absent ($TMPD/secret)"
denied stat:/sys/firmware "$EXISTS_NOT" "/sys is absent"

# The root and the image are read-only.
out=$(attack -- open creat:/x creat:/usr/x creat:/etc/x creat:/bin/x w:/etc/passwd w:/usr/bin/env)
denied creat:/x "DENIED errno=EROFS" "creating a file in / fails with EROFS"
denied creat:/usr/x "DENIED errno=EROFS" "creating a file in /usr fails with EROFS"
denied creat:/etc/x "DENIED errno=EROFS" "creating a file in /etc fails with EROFS"
denied creat:/bin/x "DENIED errno=EROFS" "creating a file in /bin fails with EROFS"
like "$(line w:/etc/passwd) / $(line w:/usr/bin/env)" "^$READONLY / $READONLY\$" \
   "overwriting /etc/passwd or /usr/bin/env fails"

# A read-only bind stays read-only, even for files anyone may write, and even
# when the code tries to remount it.
mkdir -m 0777 "$TMPD/ro"; echo original > "$TMPD/ro/file"; chmod 666 "$TMPD/ro/file"
out=$(attack --ro-bind "$TMPD/ro:/ro" -- open w:/ro/file creat:/ro/new)
is "$(line w:/ro/file) $(line creat:/ro/new)" "DENIED errno=EROFS DENIED errno=EROFS" \
   "writing through a read-only bind fails with EROFS (file mode 666, dir 777)"
sbx --ro-bind "$TMPD/ro:/ro" -- python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
MS_REMOUNT, MS_BIND = 32, 4096
r = libc.mount(None, b"/ro", None, MS_REMOUNT | MS_BIND, None)
open("/ro/file", "w").write("overwritten")' 2>/dev/null
is "$(cat "$TMPD/ro/file")" original "remounting the bind read-write and writing fails; the host file is intact"

# Device nodes: none can be made, and one planted in a bind is inert (nodev).
ws="$TMPD/ws"; mkdir "$ws"; chown 101000:101000 "$ws"
out=$(attack --workspace "$ws" -- mknod /tmp/mem /workspace/mem)
is "$(line mknod:/tmp/mem) $(line mknod:/workspace/mem)" "DENIED errno=EPERM DENIED errno=EPERM" \
   "mknod of a character device fails in /tmp and in the workspace"
mknod -m 0666 "$ws/null" c 1 3
out=$(attack --workspace "$ws" -- open rw:/workspace/null)
denied rw:/workspace/null "DENIED errno=EACCES" "a device node planted in the workspace cannot be opened (nodev)"
rm -f "$ws/null"

# Symlinks resolve inside the sandbox's view, never the host's.
ln -s /etc/shadow "$ws/shadow"; ln -s "$TMPD/secret" "$ws/secret"; ln -s ../../../../../../etc/shadow "$ws/up"
out=$(attack --workspace "$ws" -- open r:/workspace/shadow r:/workspace/secret r:/workspace/up r:/workspace/../../../etc/shadow)
is "$(line r:/workspace/shadow) $(line r:/workspace/secret)" "$EXISTS_NOT $EXISTS_NOT" \
   "symlinks in the workspace to host files (/etc/shadow, a host secret) resolve inside the sandbox: absent"
is "$(line r:/workspace/up) $(line r:/workspace/../../../etc/shadow)" "$EXISTS_NOT $EXISTS_NOT" \
   "relative symlinks and .. out of the workspace stay inside the sandbox"
rm -f "$ws/shadow" "$ws/secret" "$ws/up"

# A symlink that one run leaves in its workspace must not turn a later run's bind
# of that path into a bind of the host file it points at. (A workflow that hands
# a step's output to the next step as --ro-bind does exactly this.)
sbx --workspace "$ws" -- ln -s "$TMPD/secret" /workspace/output
out=$(sbx --ro-bind "$ws/output:/input" -- cat /input 2>&1)
case $out in *"$canary"*) leaked=1 ;; *) leaked=0 ;; esac
ok "$leaked" "a symlink planted by an earlier run does not make a later bind of it expose the host file it names"
[ "$leaked" = 1 ] && diag "the second run read the host's $TMPD/secret through --ro-bind $ws/output:/input"
rm -f "$ws/output"
# The same with --workspace: a later run given a subdirectory of the earlier run's
# workspace must not get a read-write bind of the host directory it was made to
# point at (here one anyone may write to, like the host's /tmp).
mkdir -m 1777 "$TMPD/shared"; cp "$TMPD/secret" "$TMPD/shared/canary"
sbx --workspace "$ws" -- ln -s "$TMPD/shared" /workspace/out
out=$(sbx --workspace "$ws/out" -- sh -c 'cat canary; echo planted > planted' 2>&1)
case $out in *"$canary"*) leaked=1 ;; *) leaked=0 ;; esac
[ -e "$TMPD/shared/planted" ] && leaked=1
ok "$leaked" "a symlink planted by an earlier run does not make a later --workspace of it a host directory"
[ "$leaked" = 1 ] && diag "the second run read and wrote the host's $TMPD/shared through --workspace $ws/out"
rm -rf "$ws/out" "$TMPD/shared"

# What the code leaves in the workspace belongs to the unprivileged host uid, so
# a setuid bit it sets there is harmless on the host.
sbx --workspace "$ws" -- sh -c 'cp /bin/true /workspace/suid && chmod 4755 /workspace/suid' 2>/dev/null
is "$(stat -c %u "$ws/suid" 2>/dev/null)" 101000 "files written to the workspace are owned by host uid 101000, not root"
rm -f "$ws/suid"
# A workspace is the sandbox's to fill: a symlink left in it by an earlier run
# must not make the next run create mount points on the host as root.
ws=$(mktemp -d /tmp/sbx-ws.XXXXXX) && chown 101000:101000 "$ws" && chmod 755 "$ws"
ln -s /etc "$ws/link"; mkdir "$ws/rootdir"
name=sbx-mountpoint-$$
"$SBX" run --workspace "$ws" --tmpfs "/workspace/link/$name" -- true 2>/dev/null
"$SBX" run --workspace "$ws" --ro-bind "/etc/hostname:/workspace/link/$name.f" -- true 2>/dev/null
[ ! -e "/etc/$name" ] && [ ! -e "/etc/$name.f" ]
ok $? "a mount point through a symlink to /etc: nothing made in the host's /etc"
"$SBX" run --workspace "$ws" --tmpfs /workspace/rootdir/sub -- true 2>/dev/null
ok $((! $?)) "a mount point in a directory of the host's root in the workspace is refused"
# Paths in the root are resolved inside it, as the sandbox sees them: a link to a
# directory of the sandbox's ids elsewhere on the host (another workspace), or
# to a world-writable one, leads nowhere on the host.
victim=$(mktemp -d /var/tmp/sbx-victim.XXXXXX) && chown 101000:101000 "$victim"
ln -s "$victim" "$ws/tenant"; ln -s /dev/shm "$ws/shm"
"$SBX" run --workspace "$ws" --tmpfs "/workspace/tenant/$name" -- true 2>/dev/null
"$SBX" run --workspace "$ws" --ro-bind "/etc/hostname:/workspace/tenant/$name.f" -- true 2>/dev/null
is "$(ls -A "$victim")" "" "a symlink to another workspace on the host: nothing made there"
"$SBX" run --workspace "$ws" --tmpfs "/workspace/shm/$name" -- true 2>/dev/null
[ ! -e "/dev/shm/$name" ]; ok $? "a symlink to /dev/shm on the host: nothing made there"
rm -rf "$ws" "$victim" "/etc/$name" "/etc/$name.f" "/dev/shm/$name"
done_testing
