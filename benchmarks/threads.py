"""Intra-op threads on a small, shared machine: 1 against 2 threads, idle and with another program busy.

What it runs, each measurement in a fresh process with OMP_NUM_THREADS, GLASSNET_THREADS and
BENCH_THREADS set to the thread count:
  tour        ``glassnet tour --quick`` (wall time, start-up included);
  quickstart  the first Python block of README.md's "Quick start" section, run as written (wall time);
  fit_A/B     benchmarks/fit_speed.py's glassnet workloads A (LSTM(64), 4,096 windows) and B (two Conv2D on
              1,024 digits): median seconds per epoch;
  rnn_a/b     benchmarks/rnn_speed.py's glassnet workloads at its --quick sizes (1,024 windows; 512 masked
              sequences): median seconds per epoch;
  sweep       one training step (train_on_batch, batch 64) of models from 10^5 to 10^10 forward multiply-adds
              per step: the median step time at each size, from which glassnet/threads.py's SMALL_WORK_MACS
              is read (the smallest work at which 2 threads beat 1 by 10% on the idle machine).
"Loaded" means this script starts two ``python -c "while True: pass"`` processes (one per core of a 2-core
machine) just before the measurement and stops them right after. The load average before each measurement
is recorded: on a machine other programs use, "idle" is only as idle as they leave it.

Usage:
    python benchmarks/threads.py [--only tour,quickstart,...] [--rounds 2] [--json F] [--markdown F]
Defaults write bench-out/threads.json and bench-out/threads.md.
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
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from common import write_json  # noqa: E402

WORKLOADS = ["sweep", "quickstart", "fit_A", "fit_B", "rnn_a", "rnn_b", "tour"]
THREADS = (1, 2)
CONDITIONS = ("idle", "loaded")
TIMEOUT_S = 3600


# ---------------------------------------------------------------------- the busy programs
class Load:
    """Two busy-loop processes (one per core of a 2-core machine), stopped on exit."""

    def __init__(self, n: int = 2):
        self.n, self.procs = n, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        time.sleep(0.5)  # let them reach the run queue
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


# ---------------------------------------------------------------------- the workloads, as child commands
def quickstart_code() -> str:
    """README.md's first ```python block after the "## Quick start" heading."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text[text.index("## Quick start"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def command(workload: str, workdir: str) -> list[str]:
    py = sys.executable
    if workload == "tour":
        return [py, "-m", "glassnet", "tour", "--quick", "--out", os.path.join(workdir, "tour-report")]
    if workload == "quickstart":
        return [py, "-c", quickstart_code()]
    if workload.startswith("fit_"):
        return [py, os.path.join(HERE, "fit_speed.py"), "--child", "glassnet", workload[-1],
                {"A": "4096", "B": "1024"}[workload[-1]], "2", "64"]
    if workload.startswith("rnn_"):
        return [py, os.path.join(HERE, "rnn_speed.py"), "--child", "glassnet", workload[-1],
                {"a": "1024", "b": "512"}[workload[-1]], "2", "64"]
    if workload == "sweep":
        return [py, os.path.abspath(__file__), "--sweep-child"]
    raise ValueError(workload)


def measure(workload: str, threads: int, loaded: bool) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), BENCH_THREADS=str(threads),
               GLASSNET_THREADS=str(threads), KERAS_BACKEND="torch",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as workdir:
        load_before = os.getloadavg()[0]
        cmd = command(workload, workdir)
        ctx = Load() if loaded else _Nothing()
        with ctx:
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                return {"seconds": None, "timed_out_after_s": TIMEOUT_S, "load_before": load_before}
            wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{workload} at {threads} thread(s) failed:\n{proc.stderr[-3000:]}")
    rec = {"wall_s": wall, "load_before": load_before}
    if workload.startswith(("fit_", "rnn_", "sweep")):
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        if workload == "sweep":
            rec["steps"] = out
            rec["seconds"] = wall
        else:
            rec["epochs_s"] = out["times"]
            rec["seconds"] = statistics.median(out["times"])
    else:
        rec["seconds"] = wall
    return rec


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


# ---------------------------------------------------------------------- the sweep (runs in a child)
def sweep_models():
    import glassnet as gn
    from glassnet import layers
    yield "LSTM(10), T=16", lambda: gn.Sequential([gn.Input((16, 1)), layers.LSTM(10), layers.Dense(1)]), (16, 1), 1
    yield "LSTM(64), T=50", lambda: gn.Sequential([gn.Input((50, 1)), layers.LSTM(64), layers.Dense(1)]), (50, 1), 1
    yield "LSTM(256), T=50", lambda: gn.Sequential([gn.Input((50, 8)), layers.LSTM(256), layers.Dense(1)]), (50, 8), 1
    for w in (64, 512, 2048, 4096):
        yield (f"Dense 784→{w}→{w}→10", lambda w=w: gn.Sequential([
            gn.Input((784,)), layers.Dense(w, activation="relu"), layers.Dense(w, activation="relu"),
            layers.Dense(10)]), (784,), 10)
    yield "Conv2D(16,3×3) on 28×28", lambda: gn.Sequential([
        gn.Input((28, 28, 1)), layers.Conv2D(16, 3, activation="relu"), layers.GlobalAveragePooling2D(),
        layers.Dense(10)]), (28, 28, 1), 10
    yield "Conv2D(64,3×3)→Conv2D(32,7×7) on 28×28", lambda: gn.Sequential([
        gn.Input((28, 28, 1)), layers.Conv2D(64, 3, activation="relu"), layers.Conv2D(32, 7, activation="relu"),
        layers.GlobalAveragePooling2D(), layers.Dense(10)]), (28, 28, 1), 10
    yield "2×Conv2D(128,3×3) on 28×28", lambda: gn.Sequential([
        gn.Input((28, 28, 1)), layers.Conv2D(128, 3, activation="relu"), layers.Conv2D(128, 3, activation="relu"),
        layers.GlobalAveragePooling2D(), layers.Dense(10)]), (28, 28, 1), 10


def sweep_child() -> None:
    import numpy as np
    import torch
    import glassnet as gn
    torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    batch, out = 64, []
    rng = np.random.default_rng(0)
    for name, build, shape, classes in sweep_models():
        gn.utils.set_random_seed(0)
        model = build()
        macs = gn.analyze(model, input_shape=(batch, *shape)).totals["macs"]
        x = rng.standard_normal((batch, *shape)).astype(np.float32)
        y = (rng.integers(0, classes, batch) if classes > 1 else rng.standard_normal((batch, 1))).astype(
            np.int64 if classes > 1 else np.float32)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy" if classes > 1 else "mse")
        model.train_on_batch(x, y)
        times, spent = [], 0.0
        while len(times) < 5 or (spent < 2.0 and len(times) < 200):
            t0 = time.perf_counter()
            model.train_on_batch(x, y)
            times.append(time.perf_counter() - t0)
            spent += times[-1]
        out.append({"model": name, "macs_per_step": macs, "median_step_s": statistics.median(times),
                    "steps_timed": len(times)})
    print(json.dumps(out))


# ---------------------------------------------------------------------- tables
def _fmt_s(v) -> str:
    if v is None:
        return "timed out"
    return f"{v:.3f} s" if v < 10 else f"{v:.1f} s"


def markdown(results: dict) -> str:
    med = results["median_seconds"]
    lines = ["| workload | idle, 1 thread | idle, 2 threads | loaded, 1 thread | loaded, 2 threads | "
             "2 ÷ 1 threads, idle | 2 ÷ 1 threads, loaded |", "|---|---:|---:|---:|---:|---:|---:|"]
    for w in results["workloads"]:
        if w == "sweep":
            continue
        m = med[w]
        cells = [_fmt_s(m[c][str(t)]) for c in CONDITIONS for t in THREADS]
        ratios = [(f"{m[c]['2'] / m[c]['1']:.2f}×" if m[c]["1"] and m[c]["2"] else "—") for c in CONDITIONS]
        lines.append(f"| {results['labels'][w]} | " + " | ".join(cells + ratios) + " |")
    loads = results.get("load_before", {})
    if loads:
        lines += ["", "Load average (1 min) before the measurements, other programs included: "
                      + "; ".join(f"{c}: {loads[c]['min']:.1f}–{loads[c]['max']:.1f}" for c in CONDITIONS if c in loads)
                      + "."]
    if "sweep" in results["workloads"]:
        lines += ["", "One training step (batch 64), median time:", "",
                  "| model | forward MACs per step | idle, 1 thread | idle, 2 threads | loaded, 1 thread | "
                  "loaded, 2 threads | 2 ÷ 1, idle | 2 ÷ 1, loaded |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in results["sweep"]:
            t = row["median_step_ms"]
            cells = [f"{t[c][str(n)]:.2f} ms" for c in CONDITIONS for n in THREADS]
            ratios = [f"{t[c]['2'] / t[c]['1']:.2f}×" for c in CONDITIONS]
            lines.append(f"| {row['model']} | {row['macs_per_step']:,} | " + " | ".join(cells + ratios) + " |")
        lines += ["", f"Smallest work at which 2 threads beat 1 by 10% on the idle machine: "
                      f"{results['crossover_macs_idle'] or 'none measured'} MACs per step; loaded: "
                      f"{results['crossover_macs_loaded'] or 'none measured'}."]
    return "\n".join(lines)


LABELS = {"tour": "`glassnet tour --quick` (wall)", "quickstart": "README Quick start (wall)",
          "fit_A": "fit_speed A: LSTM(64), 4,096 × (50, 1) — s/epoch",
          "fit_B": "fit_speed B: Conv(64,3×3)→Conv(32,7×7), 1,024 × 28×28 — s/epoch",
          "rnn_a": "rnn_speed (a): LSTM(64), 1,024 × (50, 1) — s/epoch",
          "rnn_b": "rnn_speed (b): masked Embedding→LSTM(32), 512 sequences — s/epoch", "sweep": "sweep"}


def summarise(raw: dict, workloads: list[str]) -> dict:
    med = {}
    for w in workloads:
        med[w] = {c: {} for c in CONDITIONS}
        for c in CONDITIONS:
            for t in THREADS:
                vals = [r["seconds"] for r in raw[w][c][str(t)]]
                med[w][c][str(t)] = None if any(v is None for v in vals) else statistics.median(vals)
    out = {"median_seconds": med}
    before = {c: [r["load_before"] for w in workloads for t in THREADS for r in raw[w][c][str(t)]] for c in CONDITIONS}
    out["load_before"] = {c: {"min": min(v), "max": max(v)} for c, v in before.items() if v}
    if "sweep" in workloads:
        rows = []
        first = raw["sweep"]["idle"]["1"][0]["steps"]
        for i, base in enumerate(first):
            ms = {c: {str(t): 1000 * statistics.median(r["steps"][i]["median_step_s"] for r in raw["sweep"][c][str(t)])
                      for t in THREADS} for c in CONDITIONS}
            rows.append({"model": base["model"], "macs_per_step": base["macs_per_step"], "median_step_ms": ms})
        out["sweep"] = rows

        def crossover(c):
            wins = sorted(r["macs_per_step"] for r in rows if r["median_step_ms"][c]["2"] < 0.9 * r["median_step_ms"][c]["1"])
            return wins[0] if wins else None
        out["crossover_macs_idle"], out["crossover_macs_loaded"] = crossover("idle"), crossover("loaded")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated workloads (default: all): " + ",".join(WORKLOADS))
    ap.add_argument("--rounds", type=int, default=2, help="measurements of each kind (the tour: once)")
    ap.add_argument("--json", default="bench-out/threads.json")
    ap.add_argument("--markdown", default="bench-out/threads.md")
    ap.add_argument("--table-from", metavar="JSON", help="only print the tables of an earlier run's JSON")
    ap.add_argument("--sweep-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.sweep_child:
        sweep_child()
        return
    if args.table_from:
        with open(args.table_from, encoding="utf-8") as f:
            old = json.load(f)
        print(markdown({**old, **summarise(old["raw"], old["workloads"])}))
        return
    workloads = args.only.split(",") if args.only else WORKLOADS
    for w in workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    import torch  # for the record only
    raw = {w: {c: {str(t): [] for t in THREADS} for c in CONDITIONS} for w in workloads}
    started = time.time()
    for w in workloads:
        rounds = 1 if w == "tour" else args.rounds
        for r in range(rounds):
            order = [(c, t) for c in CONDITIONS for t in THREADS]
            order = order[r % len(order):] + order[:r % len(order)]  # rotate who goes first
            for c, t in order:
                rec = measure(w, t, c == "loaded")
                raw[w][c][str(t)].append(rec)
                print(f"{w:<10} {c:<6} {t} thread(s): {_fmt_s(rec['seconds'])}  (load before {rec['load_before']:.2f})",
                      flush=True)
    results = {"machine": {"cpus": os.cpu_count(), "torch": torch.__version__,
                           "torch_default_threads": torch.get_num_threads()},
               "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
               "minutes": (time.time() - started) / 60, "workloads": workloads, "labels": LABELS,
               "load_generator": "2 × python -c 'while True: pass'", "raw": raw, **summarise(raw, workloads)}
    write_json(args.json, results)
    table = markdown(results)
    os.makedirs(os.path.dirname(os.path.abspath(args.markdown)), exist_ok=True)
    with open(args.markdown, "w", encoding="utf-8") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
