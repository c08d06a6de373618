#!/bin/bash
# sandboxd --check-config: accepts the defaults, refuses bad settings with a
# message that names the key (or variable, or flag), exit status non-zero.
# Also: the order file < environment < flags, and a bad config stops a start.
. "$(dirname "$0")/lib.sh"

CONF=$T/c.json
# check [ENV=V...] -- [FLAGS...]: runs --check-config; sets RC, OUT, ERR.
check() {
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" timeout 20 "$SANDBOXD" --check-config --socket "$T/unused.sock" \
        --state-dir "$T/unused-state" "$@" > "$T/out" 2> "$T/err"
    RC=$?
    OUT=$(cat "$T/out")
    ERR=$(cat "$T/err")
}
# refused NAME ERE [ENV=V...] -- [FLAGS...]: --check-config exits 2 (not 0, not
# a crash, not a timeout) with ERE in its message on stderr, nothing on stdout.
refused() {
    local name=$1 ere=$2
    shift 2
    check "$@"
    is "$RC" 2 "$name: exit status 2"
    like "$ERR" "$ere" "$name: the message names it"
    is "$OUT" "" "$name: says nothing on stdout"
}
# refused_file NAME JSON ERE: the same for a config file holding JSON.
refused_file() {
    printf '%s\n' "$2" > "$CONF"
    refused "$1" "$3" -- --config "$CONF"
}

# ---- accepted ----
check --
is "$RC" 0 "defaults: exit 0"
like "$OUT" '^configuration ok' "defaults: says configuration ok"
like "$OUT" "socket +$T/unused.sock" "defaults: shows the socket"
like "$OUT" 'queue 64' "defaults: queue 64"
like "$OUT" 'default\*' "defaults: default profile marked"
is "$ERR" "" "defaults: nothing on stderr"
check -- --config /dev/null 2>/dev/null
ok "$([ "$RC" -ne 0 ]; echo $?)" "an empty config file is not JSON: refused"
echo '{}' > "$CONF"
check -- --config "$CONF"
is "$RC" 0 "an empty object: exit 0"
like "$OUT" "^configuration ok: $CONF" "an empty object: names the file"
cat > "$CONF" <<EOF
{"max_queue": 3, "max_running": 2, "grace": "2s", "max_body": "1m", "max_connections": 100,
 "profiles": ["default", "strict"], "default_profile": "strict",
 "tokens": ["$TOKEN"], "listen": "127.0.0.1:1",
 "limits": {"max": {"memory": "1g", "timeout": "2m"}}}
EOF
check -- --config "$CONF"
is "$RC" 0 "a full config: exit 0"
like "$OUT" '2 at once, queue 3, body up to 1048576 bytes, grace 2000 ms' "a full config: values shown"
like "$OUT" 'listen +127.0.0.1:1 \(bearer tokens required\)' "a full config: listen with tokens"
like "$OUT" 'strict\*' "a full config: strict is the default profile"

# ---- order: file < environment < flags ----
echo '{"max_queue": 3}' > "$CONF"
check -- --config "$CONF"
like "$OUT" 'queue 3,' "order: the file sets max_queue 3"
check SANDBOXD_MAX_QUEUE=12 -- --config "$CONF"
like "$OUT" 'queue 12,' "order: the environment beats the file"
check SANDBOXD_MAX_QUEUE=12 -- --config "$CONF" --max-queue 20
like "$OUT" 'queue 20,' "order: a flag beats both"
check SANDBOXD_CONFIG="$CONF" --
like "$OUT" "configuration ok: $CONF" "order: SANDBOXD_CONFIG names the file"
like "$OUT" 'queue 3,' "order: SANDBOXD_CONFIG's file is read"

# ---- refused: config file ----
refused_file "unknown key" '{"max_queue": 3, "colour": "red"}' 'colour: unknown key'
refused_file "max_queue a word" '{"max_queue": "many"}' 'max_queue'
refused_file "max_queue negative" '{"max_queue": -1}' 'max_queue'
refused_file "max_queue a boolean" '{"max_queue": true}' 'max_queue'
refused_file "max_running 0" '{"max_running": 0}' 'max_running'
refused_file "max_running too large" '{"max_running": 5000}' 'max_running'
refused_file "grace a boolean" '{"grace": true}' 'grace'
refused_file "grace not a duration" '{"grace": "soon"}' 'grace'
refused_file "max_body not a size" '{"max_body": "huge"}' 'max_body'
refused_file "listen a number" '{"listen": 8080}' 'listen'
refused_file "listen without a port" '{"listen": "localhost", "tokens": ["'"$TOKEN"'"]}' 'listen'
refused_file "listen with port 0" '{"listen": "127.0.0.1:0", "tokens": ["'"$TOKEN"'"]}' 'listen|port'
refused_file "listen without tokens" '{"listen": "127.0.0.1:8080"}' 'listen.*token'
refused_file "a short token" '{"listen": "127.0.0.1:8080", "tokens": ["short"]}' 'tokens.*16'
refused_file "a token with a space" '{"tokens": ["0123456789abcdef 0123"]}' 'tokens'
ok "$(printf '%s' "$ERR" | grep -q 0123456789abcdef; [ $? -ne 0 ]; echo $?)" "a bad token is not echoed in the message"
refused_file "tokens a number" '{"tokens": 5}' 'tokens' 
refused_file "profiles a number" '{"profiles": 5}' 'profiles'
refused_file "an unknown profile" '{"profiles": ["default", "nope"]}' 'nope'
refused_file "default_profile not offered" '{"default_profile": "devel"}' 'default_profile'
refused_file "a profile with a slash" '{"profiles": ["default", "../x"]}' 'profiles'
refused_file "limits.max not a size" '{"limits": {"max": {"memory": "x"}}}' 'limits\.max.*memory'
refused_file "limits.max unknown limit" '{"limits": {"max": {"colour": 1}}}' 'colour'
refused_file "limits.default" '{"limits": {"default": {}}}' 'limits\.default'
refused_file "limits.max below a profile's limit" '{"limits": {"max": {"memory": "1m"}}}' 'memory'
refused_file "images: a relative path" '{"images": {"x": "relative"}}' 'images\.x'
refused_file "images: a missing directory" '{"images": {"x": "/nonexistent-rootfs"}}' 'images\.x'
refused_file "languages: a missing file" '{"languages": "/nonexistent-languages.json"}' 'nonexistent-languages'
refused_file "not an object" '[1, 2]' 'object'
refused_file "not JSON" '{"max_queue": 3,' "$(basename "$CONF")"
refused_file "duplicate keys" '{"max_queue": 3, "max_queue": 4}' 'duplicate'
refused "a missing config file" 'nonexistent' -- --config "$T/nonexistent.json"

# ---- refused: environment and flags ----
refused "SANDBOXD_TOKENS short" 'SANDBOXD_TOKENS.*16' SANDBOXD_TOKENS=short -- --listen 127.0.0.1:8080
refused "--listen without tokens" 'listen.*token' -- --listen 127.0.0.1:8080
check SANDBOXD_TOKENS="$TOKEN" -- --listen 127.0.0.1:8080
is "$RC" 0 "--listen with SANDBOXD_TOKENS: exit 0"
refused "SANDBOXD_MAX_QUEUE a word" 'SANDBOXD_MAX_QUEUE' SANDBOXD_MAX_QUEUE=lots --
refused "--max-queue a word" '--max-queue' -- --max-queue abc
refused "--grace a word" '--grace' -- --grace forever
refused "an unknown flag" '--bogus' -- --bogus
refused "a stray argument" 'stray' -- stray
refused "socket disabled and no listen" 'socket' -- --socket ""

# ---- a bad config stops a real start ----
echo '{"max_queue": "x"}' > "$CONF"
timeout 10 "$SANDBOXD" --config "$CONF" --socket "$T/bad.sock" --state-dir "$T/bad-state" > /dev/null 2> "$T/err"
RC=$?
is "$RC" 2 "start with a bad config: exit status 2"
like "$(cat "$T/err")" 'max_queue' "start with a bad config: the message names the key"
ok "$([ ! -e "$T/bad.sock" ]; echo $?)" "start with a bad config: no socket made"

# ---- --help and --version ----
"$SANDBOXD" --help > "$T/out" 2>&1
is "$? $(grep -c -- '--check-config' "$T/out")" "0 1" "--help: exit 0, lists --check-config"
like "$("$SANDBOXD" --version)" '^sandboxd [0-9]+\.[0-9]+' "--version"
