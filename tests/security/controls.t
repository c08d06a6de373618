#!/bin/bash
# Positive controls: the default profile still runs ordinary programs, so the rest
# of the suite cannot pass just because everything fails.
. "$(dirname "$0")/lib.sh"
plan 8

out=$(attack -- hello); is "$out" hello "the attack program runs in the sandbox"
out=$(sbx -- python3 -c 'print(1)'); is "$out" 1 "python3 runs"
out=$(sbx -- sh -c 'printf "b\na\nc\n" | sort | head -n 2 | tr "\n" " "; echo "$(echo x | wc -c)"')
is "$out" "a b 2" "sh pipelines and command substitution work"

hello='#include <stdio.h>
int main(void) { puts("hello, world"); return 0; }'
out=$(sbx -- sh -c 'printf "%s\n" "$1" > /tmp/h.c && cc -O1 -o /tmp/h /tmp/h.c && /tmp/h' sh "$hello" 2>&1)
is "$out" "hello, world" "cc compiles and runs hello world inside"

out=$(sbx -- python3 -c '
import threading
res = [0] * 8
def work(i): res[i] = sum(range(i * 1000))
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(sum(res))' 2>&1)
is "$out" 69986000 "python threads run"

out=$(sbx -- python3 -c '
import socket, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
def serve():
    c, _ = srv.accept(); c.sendall(c.recv(100).upper()); c.close()
threading.Thread(target=serve).start()
cl = socket.create_connection(srv.getsockname(), timeout=5)
cl.sendall(b"ping"); print(cl.recv(100).decode())' 2>&1)
is "$out" PING "an AF_INET server and client talk over the sandbox's own loopback"

out=$(sbx -- python3 -c '
import os, subprocess
r, w = os.pipe()
if os.fork() == 0:
    os.write(w, b"child"); os._exit(0)
os.wait(); print(os.read(r, 5).decode(), subprocess.run(["true"]).returncode)' 2>&1)
is "$out" "child 0" "fork, pipes and subprocesses work"

r="$TMPD/r.json"
sbx --json -- sh -c 'echo out; echo err >&2; exit 3' > "$r"
is "$(jget "$r" status) $(jget "$r" exit_code) $(jget "$r" stdout) $(jget "$r" stderr)" \
   "exit_nonzero 3 out err" "a failing command is reported as exit_nonzero, not as a sandbox error"
done_testing
