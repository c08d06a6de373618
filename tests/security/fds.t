#!/bin/bash
# File descriptors: nothing the caller has open reaches the sandbox; 0, 1 and 2
# are pipes (or a file the caller named), never the caller's own files or terminal.
. "$(dirname "$0")/lib.sh"
plan 5

: > "$TMPD/leak"
# A connected TCP socket in the host's network namespace would be a way out.
python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print(s.getsockname()[1], flush=True)
c, _ = s.accept(); time.sleep(30)' > "$TMPD/port" & lst=$!
for _ in $(seq 100); do [ -s "$TMPD/port" ] && break; sleep 0.05; done
exec 6<>"/dev/tcp/127.0.0.1/$(cat "$TMPD/port")" 7</etc/hostname 9>"$TMPD/leak" 5<>"$TMPD/leak"
out=$(attack -- fds)
is "$(line fds)" "0 1 2" "descriptors the caller left open (a host TCP socket 6, files 5, 7, 9) are closed: only 0, 1, 2"
like "$(line stdio)" "^0=(pipe:|/dev/null) 1=pipe: 2=pipe:$" "0, 1 and 2 are pipes"
out=$(attack -- writefd 5 6 7 9)
is "$(line writefd:5) $(line writefd:6) $(line writefd:7) $(line writefd:9)" \
   "DENIED errno=EBADF DENIED errno=EBADF DENIED errno=EBADF DENIED errno=EBADF" \
   "writing to the caller's descriptors fails with EBADF"
exec 5>&- 6>&- 7<&- 9>&-
kill "$lst" 2>/dev/null
is "$(cat "$TMPD/leak")" "" "and the caller's file is untouched"

# Run from a terminal: the terminal is not handed in as 0, 1 or 2.
# shellcheck disable=SC2016
out=$(in_pty "$PTY_SBX --ro-bind \"\$ATTACK:/attack\" -- /attack fds")
like "$(line stdio)" "^0=(pipe:|/dev/null) 1=pipe: 2=pipe:$" "run from a terminal, 0, 1 and 2 are still pipes"
done_testing
