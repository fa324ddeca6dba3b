"""glassnet now against glassnet at an earlier commit, side by side: the workloads of ``fit_speed.py``
and ``rnn_speed.py`` (and ``fit_overhead.py``), each run by both checkouts and by hand-written PyTorch in
fresh processes, rounds interleaved with a rotating order.

Usage:
    python benchmarks/against_commit.py REV [--rounds 4] [--json OUT.json]
REV is checked out into a temporary git worktree (removed at the end). Prints, per workload, the median
seconds of each side, ``now ÷ before`` and each side's ratio to hand-written torch measured in the same
rounds (the ratios cancel machine-wide slowdowns).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (script, workload, child arguments n epochs batch, what to compare)
WORKLOADS = [("fit_speed.py", "A", ["4096", "3", "64"], ("times", "predict")),
             ("fit_speed.py", "B", ["1024", "3", "64"], ("times", "predict")),
             ("rnn_speed.py", "a", ["4096", "3", "64"], ("times",)),
             ("rnn_speed.py", "b", ["2048", "3", "64"], ("times",))]


def child(tree: str, script: str, impl: str, workload: str, args: list[str]) -> dict:
    env = dict(os.environ, KERAS_BACKEND="torch")
    proc = subprocess.run([sys.executable, os.path.join(tree, "benchmarks", script), "--child", impl, workload, *args],
                          capture_output=True, text=True, env=env, cwd=tree)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} ({tree}) on {script} {workload} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def overhead(tree: str) -> float:
    """fit_overhead.py's glassnet microseconds per batch over hand-written torch, as a ratio."""
    proc = subprocess.run([sys.executable, os.path.join(tree, "benchmarks", "fit_overhead.py"), "--rounds", "3"],
                          capture_output=True, text=True, cwd=tree)
    m = re.search(r"glassnet (\d+), hand-written torch (\d+)", proc.stdout)
    if not m:
        raise RuntimeError(f"fit_overhead.py ({tree}) failed:\n{proc.stderr[-3000:]}")
    return int(m.group(1)) / int(m.group(2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rev")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--json")
    args = ap.parse_args()
    before = tempfile.mkdtemp(prefix="glassnet-before-")
    subprocess.run(["git", "worktree", "add", "--detach", "-q", before, args.rev], cwd=ROOT, check=True)
    trees = {"before": before, "now": ROOT}
    results = {"rev": args.rev, "rounds": args.rounds, "workloads": {}}
    try:
        for script, workload, cargs, keys in WORKLOADS:
            runs = [("before", "glassnet"), ("now", "glassnet"), ("now", "torch")]
            merged: dict = {f"{t}/{i}": {} for t, i in runs}
            for r in range(args.rounds):
                order = runs[r % len(runs):] + runs[:r % len(runs)]
                for tree, impl in order:
                    rec = child(trees[tree], script, impl, workload, cargs)
                    for key in keys:
                        merged[f"{tree}/{impl}"].setdefault(key, []).extend(rec[key])
            out = {}
            for key in keys:
                med = {name: statistics.median(rec[key]) for name, rec in merged.items()}
                out[key] = {"median_s": med, "now_over_before": med["now/glassnet"] / med["before/glassnet"],
                            "before_vs_torch": med["before/glassnet"] / med["now/torch"],
                            "now_vs_torch": med["now/glassnet"] / med["now/torch"]}
                print(f"{script} {workload} {key}: before {med['before/glassnet']:.3f}s, now {med['now/glassnet']:.3f}s, "
                      f"torch {med['now/torch']:.3f}s | now/before {out[key]['now_over_before']:.3f} | vs torch "
                      f"{out[key]['before_vs_torch']:.3f} → {out[key]['now_vs_torch']:.3f}", flush=True)
            results["workloads"][f"{script}:{workload}"] = out
        ratios = {"before": [], "now": []}
        for r in range(args.rounds):
            for tree in (("before", "now") if r % 2 == 0 else ("now", "before")):
                ratios[tree].append(overhead(trees[tree]))
        med = {k: statistics.median(v) for k, v in ratios.items()}
        results["fit_overhead_ratio_vs_torch"] = med
        print(f"fit_overhead.py glassnet/torch per batch: before {med['before']:.3f}, now {med['now']:.3f}", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", before], cwd=ROOT)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
