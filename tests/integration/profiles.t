#!/usr/bin/env bash
# Sandbox profiles and seccomp policies through sbx: the commands, what a profile
# sets, what explicit options override, kept capabilities, the compiled cache.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "needs root"
export SBX_PROFILE_PATH="$(cd "$(dirname "$0")/../.." && pwd)/profiles"
export SBX_CACHE_DIR="$TMPD/cache"
plan 45

out=$("$SBX" profile list)
for p in default strict devel unconfined; do
    like "$out" "^$p |
$p " "profile list shows $p"
done
out=$("$SBX" profile show default)
like "$out" "default: +SCMP_ACT_ERRNO" "profile show: the default profile denies by default"
like "$out" "capabilities: +none" "profile show: no capability kept"
"$SBX" profile show nosuch >/dev/null 2>"$TMPD/err"
is $? 1 "profile show of a missing profile exits 1"
like "$(cat "$TMPD/err")" 'profile "nosuch" not found in' "and says where it looked"

for f in "$SBX_PROFILE_PATH"/seccomp/*.json "$SBX_PROFILE_PATH"/*.json; do
    "$SBX" profile check "$f" >"$TMPD/out" 2>&1
    ok $? "profile check accepts $(basename "$(dirname "$f")")/$(basename "$f")"
done

cat >"$TMPD/bad-action.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"},
              {"names": ["rmdir"], "action": "SCMP_ACT_EXPLODE"}]}
EOF
"$SBX" profile check "$TMPD/bad-action.json" >/dev/null 2>"$TMPD/err"
is $? 1 "profile check refuses an unknown action (exit 1)"
like "$(cat "$TMPD/err")" 'syscalls\[1\]\.action: unknown action "SCMP_ACT_EXPLODE"' \
    "and names the JSON path"

cat >"$TMPD/skip.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64",
  "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
 "syscalls": [{"names": ["mkdir", "no_such_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30}]}
EOF
out=$("$SBX" profile check "$TMPD/skip.json" 2>&1)
ok $? "a policy with an unknown syscall name is accepted"
like "$out" "skipped: +no_such_syscall" "the summary lists the skipped name"
like "$out" "arches: +SCMP_ARCH_X86 SCMP_ARCH_X86_64 SCMP_ARCH_X32|SCMP_ARCH_X86_64" \
    "the summary lists the architectures"
like "$out" "1 SCMP_ACT_ERRNO" "the summary counts rules by action"

echo '{"seccomp": "unconfined", "colour": "blue"}' >"$TMPD/badkey.json"
"$SBX" profile check "$TMPD/badkey.json" >/dev/null 2>"$TMPD/err"
is $? 1 "a profile with an unknown key is refused"
like "$(cat "$TMPD/err")" 'unknown key "colour"' "and the key is named"
echo '{"seccomp": "unconfined", "limits": {"memory": "lots"}}' >"$TMPD/badlimit.json"
"$SBX" run --profile "$TMPD/badlimit.json" -- true 2>"$TMPD/err"
is $? 2 "sbx run with a broken profile exits 2"
like "$(cat "$TMPD/err")" 'badlimit.json: limits.memory' "and names the file and the field"

# The default profile is on without being asked for.
is "$("$SBX" run -- sh -c "grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status | tr -d '\t' | tr '\n' ' '")" \
    "CapEff:0000000000000000 NoNewPrivs:1 Seccomp:2 " "default: filtered, no capabilities, no_new_privs"
is "$("$SBX" run --seccomp unconfined -- sh -c "grep '^Seccomp:' /proc/self/status | tr -d '\t'")" \
    "Seccomp:0" "--seccomp unconfined: no filter"
is "$("$SBX" run -- python3 -c 'import os; os.mkdir("/tmp/d"); print(os.listdir("/tmp"))')" "['d']" \
    "python runs under the default profile"

"$SBX" run --seccomp "$TMPD/skip.json" -- sh -c 'mkdir /tmp/x' 2>"$TMPD/err"
like "$(cat "$TMPD/err")" "Read-only file system" "--seccomp FILE: errnoRet 30 (EROFS) comes back from mkdir"

"$SBX" run --json --profile strict -- sh -c 'echo hi; unshare -U true; echo never' >"$TMPD/r.json"
is "$(jget "$TMPD/r.json" status)" "seccomp" "strict: a syscall off its list ends the run (status seccomp)"
is "$(jget "$TMPD/r.json" syscall)" "unshare" "and the result names it"
is "$(jget "$TMPD/r.json" stdout)" "hi" "output before the kill is kept"
"$SBX" run --profile strict -- sh -c 'unshare -U true' 2>"$TMPD/err"
rc=$?
is "$rc" 159 "sbx exits 128+SIGSYS"
like "$(cat "$TMPD/err")" "seccomp: killed by the syscall filter at unshare" "and says which syscall"

# Explicit options override the profile's values; the profile's apply otherwise.
cat >"$TMPD/short.json" <<'EOF'
{"description": "one second", "seccomp": "unconfined", "limits": {"timeout": "1s"},
 "mounts": [{"type": "tmpfs", "target": "/scratch", "size": "1m"}]}
EOF
"$SBX" run --json --profile "$TMPD/short.json" -- sleep 3 >"$TMPD/r.json"
is "$(jget "$TMPD/r.json" status)" "timeout" "a profile's timeout applies"
"$SBX" run --json --profile "$TMPD/short.json" --timeout 5s -- sleep 2 >"$TMPD/r.json"
is "$(jget "$TMPD/r.json" status)" "ok" "--timeout overrides it"
is "$("$SBX" run --profile "$TMPD/short.json" -- sh -c 'df -k /scratch | tail -1 | tr -s " " | cut -d" " -f2')" \
    "1024" "a profile's mounts are made"

# Kept capabilities reach the command; nothing else does.
cat >"$TMPD/bind.json" <<EOF
{"seccomp": "$SBX_PROFILE_PATH/seccomp/default.json", "capabilities": ["CAP_NET_BIND_SERVICE"]}
EOF
bindpy='import socket; s=socket.socket(); s.bind(("127.0.0.1", 80)); print("bound")'
is "$("$SBX" run --profile "$TMPD/bind.json" -- python3 -c "$bindpy" 2>&1)" \
    "bound" "a kept CAP_NET_BIND_SERVICE binds port 80"
like "$("$SBX" run -- python3 -c "$bindpy" 2>&1)" "PermissionError" "without it, port 80 is refused"

# Compiled programs are cached; a damaged entry is recompiled, not trusted.
n=$(find "$SBX_CACHE_DIR" -name '*.bpf' | wc -l)
ok $(( n < 1 )) "compiled policies are cached ($n entries)"
for f in "$SBX_CACHE_DIR"/*.bpf; do printf 'garbage' >"$f"; done
is "$("$SBX" run -- echo fine)" "fine" "a damaged cache entry is ignored"

# A hit touches an entry at most daily; storing a new one removes entries unused
# for 30 days (older builds') and writes that died, and nothing else.
used=$(ls -t "$SBX_CACHE_DIR"/*.bpf | head -1)
old=$SBX_CACHE_DIR/0123456789abcdef0123456789abcdef.bpf
printf x >"$old"; printf x >"$SBX_CACHE_DIR/.tmp-abcdef"; printf x >"$SBX_CACHE_DIR/notes.txt"
touch -d '40 days ago' "$old" "$SBX_CACHE_DIR/notes.txt"
touch -d '2 days ago' "$SBX_CACHE_DIR/.tmp-abcdef" "$used"
"$SBX" run -- true
ok $(( $(date +%s) - $(stat -c %Y "$used") > 60 )) "a hit touches an entry not touched for a day"
{ cat "$SBX_PROFILE_PATH/seccomp/default.json"; echo; } >"$TMPD/other.json"
"$SBX" run --seccomp "$TMPD/other.json" -- true
[ ! -e "$old" ]; ok $? "storing an entry removes one unused for 40 days"
[ ! -e "$SBX_CACHE_DIR/.tmp-abcdef" ]; ok $? "and a write that died"
[ -e "$SBX_CACHE_DIR/notes.txt" ] && [ -e "$used" ]; ok $? "but not a file of someone else's, nor the entry in use"
done_testing
