#!/usr/bin/env python3
# The examples of docs/api.md, run against a real daemon: every sh block that calls
# curl runs, and its answer must have the keys of the json block after it and the
# same status, exit_code, stdout, stderr, error code and field.
import json, os, re, shutil, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SANDBOXD = os.path.join(ROOT, "build", "sandboxd")
FIXED = {"status", "exit_code", "stdout", "stderr", "code", "field", "type", "data",
         "backends", "default_profile", "language", "profile", "file", "command",
         "signal_name"}
n = 0
failed = 0


def ok(cond, name, detail=""):
    global n, failed
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name))
    if not cond:
        failed += 1
        for line in str(detail).splitlines():
            print("#   " + line)


def same_shape(want, got, path=""):
    """Problems: keys documented but missing, and fixed values that differ."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return ["%s: want an object, got %r" % (path, got)]
        out = []
        for k, v in want.items():
            if k not in got:
                out.append("%s.%s: missing" % (path, k))
            elif k in FIXED and not isinstance(v, (dict, list)) and v != got[k]:
                out.append("%s.%s: documented %r, got %r" % (path, k, v, got[k]))
            else:
                out += same_shape(v, got[k], path + "." + k)
        return out
    if isinstance(want, list) and want and isinstance(want[0], dict):
        if not isinstance(got, list) or len(got) < len(want):
            return ["%s: want %d entries, got %r" % (path, len(want), got)]
        return sum((same_shape(w, g, "%s[%d]" % (path, i)) for i, (w, g) in
                    enumerate(zip(want, got))), [])
    return []


def examples(text):
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, re.S)
    for i, (lang, body) in enumerate(blocks):
        if lang == "sh" and "curl" in body and i + 1 < len(blocks) and blocks[i + 1][0] == "json":
            yield body, blocks[i + 1][1]


def parse_doc(text):
    """One JSON value, or JSON lines (a stream)."""
    try:
        return [json.loads(text)]
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def main():
    if not os.access(SANDBOXD, os.X_OK):
        print("1..0 # SKIP build/sandboxd not built")
        return 0
    tmp = tempfile.mkdtemp(prefix="sd-docs-")
    sock = os.path.join(tmp, "s.sock")
    env = dict(os.environ, SBX_PROFILE_PATH=os.path.join(ROOT, "profiles"))
    log = open(os.path.join(tmp, "log"), "w")
    daemon = subprocess.Popen([SANDBOXD, "--socket", sock, "--state-dir",
                               os.path.join(tmp, "state")], env=env, stderr=log)
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    text = open(os.path.join(ROOT, "docs", "api.md")).read()
    cases = list(examples(text))
    print("1..%d" % (len(cases) + 1))
    try:
        for sh, doc in cases:
            first = sh.strip().splitlines()[0]
            run = subprocess.run(["bash", "-c", sh], env=dict(env, SOCK=sock),
                                 capture_output=True, text=True, timeout=60)
            try:
                got = parse_doc(run.stdout)
            except ValueError as e:
                ok(False, first, "answer is not JSON: %s\n%s" % (e, run.stdout))
                continue
            want = parse_doc(doc)
            problems = []
            if len(got) != len(want):
                problems.append("%d documented values, got %d" % (len(want), len(got)))
            for w, g in zip(want, got):
                problems += same_shape(w, g)
            ok(not problems, "docs/api.md: " + first[:70], "\n".join(problems) + "\n" + run.stdout)
    finally:
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(timeout=30)
    ok(rc == 0 and not os.path.exists(sock), "daemon stopped cleanly, socket removed")
    # The examples' workflow workspaces are tmpfs mounts under the state directory.
    subprocess.run(["sh", "-c", "awk -v t=%s/ 'index($2, t) == 1 {print $2}' /proc/mounts | "
                    "sort -r | xargs -r umount -l" % tmp])
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


sys.exit(main())
