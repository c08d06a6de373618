#!/usr/bin/env python3
"""Tables from the hyperfine exports that bench/run.sh writes to build/bench/.

  report.py DIR            one table per workload: median, mean, ratios
  report.py --summary DIR  the headline ratio lines, and the CLI's own overhead
                           (sbx run median minus the in-process rt_run median)
  report.py --daemon DIR   the daemon benchmark (daemon.json from bench/daemon.sh):
                           throughput and latency per workload and client count,
                           and the issue's targets as PASS/MISS
"""
import json
import os
import sys

WORKLOADS = [("true", "/bin/true"), ("python", "/usr/bin/python3 -c pass"),
             ("cold", "/bin/true, each run alone after a rest (COLD_GAP)")]
ORDER = ["bare", "bwrap", "sbx", "sbx-unconf", "docker"]


def load(path):
    with open(path) as f:
        return json.load(f)


def results(out, label):
    """name -> hyperfine result (times in seconds), plus docker's skip reason."""
    res = {}
    path = os.path.join(out, label + ".json")
    if not os.path.exists(path):
        sys.exit(f"report: {path} is missing: did the benchmark run?")
    for r in load(path)["results"]:
        res[r["command"]] = r
    dpath = os.path.join(out, "docker-" + label + ".json")
    spath = os.path.join(out, "docker-" + label + ".skip")
    skip = None
    if os.path.exists(dpath):
        for r in load(dpath)["results"]:
            res[r["command"]] = r
    elif os.path.exists(spath):
        with open(spath) as f:
            skip = f.read().strip()
    return res, skip


def ms(x):
    return x * 1e3


def ratio(a, b):
    return a / b if b else float("nan")


def table(out, label, shown):
    res, skip = results(out, label)
    bare, bwrap = res["bare"]["median"], res["bwrap"]["median"]
    print(f"workload {label}: {shown}")
    print(f"  {'command':<10} {'runs':>5} {'median ms':>10} {'mean ms':>9} {'± sd':>7} "
          f"{'min ms':>8} {'/bwrap':>7} {'/bare':>7}")
    for name in ORDER:
        r = res.get(name)
        if r is None:
            continue
        med = r["median"]
        print(f"  {name:<10} {len(r['times']):>5} {ms(med):>10.2f} {ms(r['mean']):>9.2f} "
              f"{ms(r['stddev'] or 0):>7.2f} {ms(r['min']):>8.2f} "
              f"{ratio(med, bwrap):>7.2f} {ratio(med, bare):>7.2f}")
    if skip:
        print(f"  docker     skipped: {skip}")
    print("  (ratios are of medians; /bwrap < 1 means faster than bwrap)")
    cpath = os.path.join(out, label + ".commands")
    if os.path.exists(cpath):
        with open(cpath) as f:
            for line in f:
                name, _, cmd = line.rstrip("\n").partition("\t")
                print(f"    {name:<10} {cmd}")
    print(f"sbx/bwrap median ratio ({label}): {ratio(res['sbx']['median'], bwrap):.2f}")


def summary(out):
    print("summary (medians, this run):")
    for label, _ in WORKLOADS:
        res, skip = results(out, label)
        sbx, bwrap, bare = (res[k]["median"] for k in ("sbx", "bwrap", "bare"))
        line = (f"  sbx/bwrap median ratio ({label}): {ratio(sbx, bwrap):.2f}"
                f"   sbx/bare: {ratio(sbx, bare):.2f}"
                f"   sbx - bwrap: {ms(sbx - bwrap):+.2f} ms")
        if "docker" in res:
            line += f"   sbx/docker: {ratio(sbx, res['docker']['median']):.3f}"
        print(line)
        if "sbx-unconf" in res:
            unc = res["sbx-unconf"]["median"]
            print(f"    seccomp filter + profile load on sbx run ({label}): "
                  f"{ms(sbx - unc):+.2f} ms ({ratio(sbx, unc):.3f}x unconfined)")
    spath = os.path.join(out, "stages.json")
    if not os.path.exists(spath):
        return
    st = load(spath)
    if "f_sbx_over_bwrap" in st:
        print(f"  sbx/bwrap median ratio (true, interleaved in stages): "
              f"{st['f_sbx_over_bwrap']:.2f}"
              f"   ({st['f_sbx_us'] / 1e3:.2f} vs {st['f_bwrap_us'] / 1e3:.2f} ms)")
    if all(k in st for k in ("d_rt_run_wall_us", "b_namespaces_us", "a0_clone3_us")):
        print(f"  rt_run(/bin/true) in-process: {st['d_rt_run_wall_us'] / 1e3:.2f} ms wall,"
              f" {st['d_rt_run_setup_us'] / 1e3:.2f} ms setup;"
              f" namespaces alone {(st['b_namespaces_us'] - st['a0_clone3_us']) / 1e3:.2f} ms")
    if "k_seccomp_load_cost_us" in st and "k_drop_caps_cost_us" in st:
        print(f"  capability drop: {st['k_drop_caps_cost_us']:.1f} us;"
              f" loading the default filter: {st['k_seccomp_load_cost_us']:.1f} us;"
              f" default profile on rt_run: {st.get('p_default_minus_d_us', float('nan')):+.1f} us;"
              f" compiling it (once): {st['pc_profile_compile_us'] / 1e3:.2f} ms")
    if "f_sbx_minus_d_us" in st:
        print(f"  sbx process start-up and exit (f.sbx - d): {st['f_sbx_minus_d_us'] / 1e3:.2f} ms"
              f" (cgroup detection: {st['x_detect_us'] / 1e3:.2f} ms of it)")


# The targets for the daemon (bench/daemon.sh).
TARGET_RPS_16 = 400          # /bin/true executions per second at 16 clients...
TARGET_P99_16_MS = 50        # ...with p99 latency under this
TARGET_P50_1_MS = 5          # median latency of one client, /bin/true
TARGET_RSS_MB = 30           # the daemon's peak RSS (VmHWM)


def verdict(ok):
    return "PASS" if ok else "MISS"


def daemon(out):
    path = os.path.join(out, "daemon.json")
    if not os.path.exists(path):
        sys.exit(f"report: {path} is missing: did bench/daemon.sh run?")
    d = load(path)
    runs, daemons = d["runs"], d["daemons"]
    main_mr = next((x for x in daemons if x["full_matrix"]), daemons[0])
    print("daemon: sandboxd over its Unix socket, POST /v1/exec; closed-loop clients "
          "(build/bench/load), one kept-alive connection each;")
    print(f"  {d['duration_s']:g} s per row after {d['warmup_per_client']} warm-up requests "
          f"per client; {d['cores']} cores; before the runs the box was "
          f"{d['background_busy_pct']:.0f}% busy (load average {d['loadavg_before']:.2f})")
    for label, shown in d["workloads"].items():
        print(f"    {label:<7} {shown}")
    print(f"  {'':>7} {'':<8} {'':>7} {'':>8} {'':>7} {'latency (client side), ms':^31} "
          f"{'':>4} {'server medians, ms':^20} {'CPU ms/exec':^11}")
    print(f"  {'max-run':>7} {'workload':<8} {'clients':>7} {'requests':>8} {'req/s':>7} "
          f"{'p50':>7} {'p90':>7} {'p99':>7} {'max':>7} {'fail':>4} "
          f"{'queued':>6} {'setup':>6} {'run':>6} {'daemon':>6} {'box':>5}")

    def cell(v):
        return f"{v:>6.2f}" if isinstance(v, (int, float)) else f"{'-':>6}"

    for r in runs:
        lo = r["load"]
        # The CPU counters cover the whole load run, warm-up included.
        n = r["requests_sent"] or float("nan")
        daemon_ms = (r["daemon_cpu_ms"] + r["children_cpu_ms"]) / n
        box_ms = r["cpu_busy_pct"] / 100 * d["cores"] * r["wall_s"] * 1e3 / n
        sv = lo.get("server_p50_ms") or {}
        mr = f"{r['max_running']}" + ("*" if r["max_running_setting"] == "default" else "")
        print(f"  {mr:>7} {r['workload']:<8} {lo['clients']:>7} {lo['requests']:>8} "
              f"{lo['throughput_rps']:>7.1f} {lo['p50_ms']:>7.2f} {lo['p90_ms']:>7.2f} "
              f"{lo['p99_ms']:>7.2f} {lo['max_ms']:>7.1f} {lo['failures']:>4} "
              f"{cell(sv.get('queued'))} {cell(sv.get('setup'))} {cell(sv.get('run'))} "
              f"{daemon_ms:>6.2f} {box_ms:>5.2f}")
    print("  (* the daemon's default --max-running, 2 x cores. Server medians: the answers'")
    print("   queued_ms, setup_ms, run_ms. CPU ms/exec: daemon = the daemon's CPU plus that of")
    print("   the sandboxes it reaped; box = all cores' busy time (kernel threads, the load")
    print("   generator and anything else running included); both per request sent, warm-up")
    print("   included, over the whole load run)")
    for r in runs:
        lo = r["load"]
        if lo["failures"]:
            print(f"  note: {r['workload']} x{lo['clients']} (max-running {r['max_running']}): "
                  f"{lo['failures']} failures, codes {lo['codes']}, statuses {lo['statuses']}")
    for x in daemons:
        print(f"  daemon with --max-running {x['max_running']}: peak RSS (VmHWM) "
              f"{x['vmhwm_kb'] / 1024:.1f} MB, {x['threads']} threads when idle")

    def find(mr, workload, clients):
        for r in runs:
            if (r["max_running"] == mr and r["workload"] == workload
                    and r["load"]["clients"] == clients):
                return r["load"]
        return None

    print(f"targets (checked on --max-running {main_mr['max_running']}, the daemon's default):")
    r16 = find(main_mr["max_running"], "true", 16)
    if r16:
        ok = (r16["throughput_rps"] >= TARGET_RPS_16 and r16["p99_ms"] < TARGET_P99_16_MS
              and r16["failures"] == 0)
        print(f"  {verdict(ok)}  /bin/true at 16 clients: {r16['throughput_rps']:.1f} req/s "
              f"(target >= {TARGET_RPS_16}), p99 {r16['p99_ms']:.2f} ms (target < "
              f"{TARGET_P99_16_MS}), {r16['failures']} failures")
        for x in daemons:
            o = find(x["max_running"], "true", 16)
            if x is main_mr or not o:
                continue
            ok2 = (o["throughput_rps"] >= TARGET_RPS_16 and o["p99_ms"] < TARGET_P99_16_MS
                   and o["failures"] == 0)
            print(f"        with --max-running {x['max_running']}: {o['throughput_rps']:.1f} "
                  f"req/s, p99 {o['p99_ms']:.2f} ms ({verdict(ok2)})")
    else:
        print("  ----  /bin/true at 16 clients: not measured (DAEMON_CLIENTS)")
    r1 = find(main_mr["max_running"], "true", 1)
    if r1:
        ok = r1["p50_ms"] < TARGET_P50_1_MS and r1["failures"] == 0
        print(f"  {verdict(ok)}  /bin/true, one client: median {r1['p50_ms']:.2f} ms "
              f"(target < {TARGET_P50_1_MS})")
    else:
        print("  ----  /bin/true at one client: not measured (DAEMON_CLIENTS)")
    rss = max(x["vmhwm_kb"] for x in daemons) / 1024
    print(f"  {verdict(rss < TARGET_RSS_MB)}  peak RSS: {rss:.1f} MB, the highest of "
          f"{len(daemons)} daemon(s) (target < {TARGET_RSS_MB} MB)")

    # Context: the same command through the CLI and bwrap (hyperfine, bench/run.sh).
    tpath = os.path.join(out, "true.json")
    if not r1:
        return
    if not os.path.exists(tpath):
        print("  context: no true.json (hyperfine): run the whole `make bench` for sbx run "
              "and bwrap")
        return
    age = d["started"] - os.path.getmtime(tpath)
    if age < 0:
        when = "NOT this run: hyperfine ran after the daemon"
    elif age > 3600:
        when = f"NOT this run: hyperfine ran {age / 3600:.1f} h before the daemon"
    else:
        when = "this run"
    res = {r["command"]: r for r in load(tpath)["results"]}
    line = f"  context (/bin/true, medians, {when}): daemon, one client {r1['p50_ms']:.2f} ms"
    for name, shown in (("sbx", "sbx run"), ("bwrap", "bwrap"), ("bare", "bare exec")):
        if name in res:
            med = ms(res[name]["median"])
            line += f"; {shown} {med:.2f} ms ({ratio(r1['p50_ms'], med):.2f}x)"
    print(line)


def main():
    args = sys.argv[1:]
    if args and args[0] == "--summary":
        summary(args[1])
        return
    if args and args[0] == "--daemon":
        if len(args) != 2:
            sys.exit("usage: report.py --daemon DIR")
        daemon(args[1])
        return
    if len(args) != 1:
        sys.exit("usage: report.py [--summary | --daemon] DIR")
    for i, (label, shown) in enumerate(WORKLOADS):
        if i:
            print()
        table(args[0], label, shown)


if __name__ == "__main__":
    main()
