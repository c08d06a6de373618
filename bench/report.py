#!/usr/bin/env python3
"""Tables from the hyperfine exports that bench/run.sh writes to build/bench/.

  report.py DIR            one table per workload: median, mean, ratios
  report.py --summary DIR  the headline ratio lines, and the CLI's own overhead
                           (sbx run median minus the in-process rt_run median)
"""
import json
import os
import sys

WORKLOADS = [("true", "/bin/true"), ("python", "/usr/bin/python3 -c pass")]
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


def main():
    args = sys.argv[1:]
    if args and args[0] == "--summary":
        summary(args[1])
        return
    if len(args) != 1:
        sys.exit("usage: report.py [--summary] DIR")
    for i, (label, shown) in enumerate(WORKLOADS):
        if i:
            print()
        table(args[0], label, shown)


if __name__ == "__main__":
    main()
