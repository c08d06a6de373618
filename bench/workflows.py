#!/usr/bin/env python3
"""The orchestrator's overhead: N workflows of S trivial steps (a chain, each step
needing the one before) submitted at once to sandboxd, against the same N*S
sandboxes run through POST /v1/exec by N clients that each walk the same chain by
hand, on the same daemon, in the same run. Prints the ratio of the two wall times,
the bookkeeping per step, and the submission latency (p50, p99); writes
build/bench/workflows.json.

    bench/workflows.py [SANDBOXD]   (as root, after make build/sandboxd build/bench/chains)

The clients are build/bench/chains (C, a thread per client writing its HTTP/1.1
requests itself; each connection is made before the start line), so that what is
timed is sandboxd, not the client.

Knobs: WF_COUNT (100), WF_STEPS (10), WF_ROUNDS (3: each side runs this many
times, alternating, and the medians are compared), WF_MAX_RUNNING (the daemon's
default when unset), WF_WAITING (0: this many workflows waiting for an approval are
submitted first and stay for the whole run, as a daemon with human gates has them).
"""
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNT = int(os.environ.get("WF_COUNT", "100"))
STEPS = int(os.environ.get("WF_STEPS", "10"))
ROUNDS = int(os.environ.get("WF_ROUNDS", "3"))
WAITING = int(os.environ.get("WF_WAITING", "0"))
CHAINS = os.path.join(ROOT, "build", "bench", "chains")


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=300)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(300)
        self.sock.connect(self.path)


def call(conn, method, path, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def chains(sock, mode):
    """COUNT clients at once (build/bench/chains: C, raw HTTP/1.1, connections
    made before the start), each running a chain of STEPS through POST /v1/exec or
    as one workflow. Returns the wall time, the failures, the submission
    latencies (workflows)."""
    r = subprocess.run([CHAINS, "--socket", sock, "--mode", mode, "--clients", str(COUNT),
                        "--steps", str(STEPS)], capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise SystemExit("bench/workflows: %s failed (%d): %s" % (CHAINS, r.returncode,
                                                                  r.stderr.strip()))
    out = json.loads(r.stdout)
    failures = [out["first_failure"]] * out["failures"]
    return out["wall_s"], failures, out["submit_ms"]


def main():
    sandboxd = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "sandboxd")
    out_dir = os.path.join(ROOT, "build", "bench")
    os.makedirs(out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="sbx-bench-wf-")
    sock = os.path.join(tmp, "s.sock")
    args = [sandboxd, "--socket", sock, "--state-dir", os.path.join(tmp, "state"),
            "--languages", os.path.join(ROOT, "sandboxd", "languages.json"),
            "--max-queue", str(COUNT * 2)]
    if os.environ.get("WF_MAX_RUNNING"):
        args += ["--max-running", os.environ["WF_MAX_RUNNING"]]
    env = dict(os.environ, SBX_PROFILE_PATH=os.environ.get("SBX_PROFILE_PATH",
                                                          os.path.join(ROOT, "profiles")))
    log = open(os.path.join(tmp, "log"), "w")
    daemon = subprocess.Popen(args, env=env, stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        conn = UnixConnection(sock)
        info = json.loads(call(conn, "GET", "/v1/info")[1])
        conn.close()
        print("   sandboxd --max-running %d: %d workflows x %d chained steps vs %d clients x %d "
              "POST /v1/exec, %d rounds" % (info["max_running"], COUNT, STEPS, COUNT, STEPS,
                                            ROUNDS))
        gate = {"workflow": {"name": "gate", "steps": [
            {"id": "a", "run": "true", "approval": {"timeout": "24h"}}]}}
        conn = UnixConnection(sock)
        for _ in range(WAITING):
            st, data = call(conn, "POST", "/v1/workflows", gate)
            if st != 201:
                raise SystemExit("bench/workflows: a waiting workflow: %d %s" % (st, data[:200]))
        conn.close()
        if WAITING:
            print("   %d workflows waiting for an approval throughout" % WAITING)
        chains(sock, "exec")   # warm-up: page cache, cgroups, the spawner
        exec_walls, wf_walls, submits, failures = [], [], [], []
        for r in range(ROUNDS):
            w, f, _ = chains(sock, "exec")
            exec_walls.append(w)
            failures += f
            w, f, s = chains(sock, "workflows")
            wf_walls.append(w)
            submits += s
            failures += f
            print("     round %d: exec %.2f s, workflows %.2f s (ratio %.3f)"
                  % (r + 1, exec_walls[-1], wf_walls[-1], wf_walls[-1] / exec_walls[-1]))
        if failures:
            print("   failures: %d, first: %r" % (len(failures), failures[0]))
            return 1
        log.flush()
        server = [json.loads(l)["duration_ms"] for l in open(os.path.join(tmp, "log"))
                  if '"method":"POST","path":"/v1/workflows"' in l]
        e, w = statistics.median(exec_walls), statistics.median(wf_walls)
        steps = COUNT * STEPS
        result = {
            "workflows": COUNT, "steps_per_workflow": STEPS, "rounds": ROUNDS, "waiting": WAITING,
            "max_running": info["max_running"],
            "exec_wall_s": exec_walls, "workflow_wall_s": wf_walls,
            "exec_wall_median_s": e, "workflow_wall_median_s": w, "ratio": w / e,
            "bookkeeping_ms_per_step": (w - e) * 1e3 / steps,
            "submit_p50_ms": pct(submits, 50), "submit_p99_ms": pct(submits, 99),
            "submit_max_ms": max(submits),
            "server_submit_p50_ms": pct(server, 50) if server else None,
            "server_submit_p99_ms": pct(server, 99) if server else None,
        }
        with open(os.path.join(out_dir, "workflows.json"), "w") as f:
            json.dump(result, f, indent=1)
        print("   median wall: exec %.2f s, workflows %.2f s: ratio %.3f (target <= 1.2)"
              % (e, w, w / e))
        print("   bookkeeping per step: %.2f ms; %.2f ms per sandbox through /v1/exec"
              % (result["bookkeeping_ms_per_step"], e * 1e3 / steps))
        print("   submission (%d POSTs at once per round): p50 %.2f ms, p99 %.2f ms (target "
              "< 10 ms), max %.2f ms" % (COUNT, result["submit_p50_ms"],
                                        result["submit_p99_ms"], result["submit_max_ms"]))
        if server:
            print("   the same, inside sandboxd (its access log, headers in to answer out): p50 "
                  "%.2f ms, p99 %.2f ms" % (result["server_submit_p50_ms"],
                                           result["server_submit_p99_ms"]))
        return 0
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            rc = daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            rc = daemon.wait()
        if rc != 0:
            print("   sandboxd exited with %d; log tail:" % rc)
            print(open(os.path.join(tmp, "log")).read()[-2000:])
        subprocess.run(["sh", "-c", "awk -v t=%s/ 'index($2, t) == 1 {print $2}' /proc/mounts "
                        "| sort -r | xargs -r umount -l" % tmp])
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
