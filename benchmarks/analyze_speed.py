"""How long ``gn.analyze`` takes on a 1,000-layer model (target: under 1 second).

Usage:
    python benchmarks/analyze_speed.py [--layers 1000] [--json OUT.json]
Builds a stack of Dense/LayerNormalization/Activation layers on a variable-length sequence
input (so every formula is symbolic in T), then times ``analyze`` (median of 5 runs) and
``analyze`` at a concrete input shape.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import write_json  # noqa: E402


def build(n_layers: int):
    import glassnet as gn
    from glassnet import layers
    kinds = [lambda: layers.Dense(32), lambda: layers.LayerNormalization(), lambda: layers.Activation("relu"),
             lambda: layers.Conv1D(32, 3, padding="same")]
    return gn.Sequential([gn.Input((None, 32))] + [kinds[i % len(kinds)]() for i in range(n_layers)])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=1000)
    ap.add_argument("--json")
    args = ap.parse_args()
    import glassnet as gn
    t0 = time.perf_counter()
    model = build(args.layers)
    build_s = time.perf_counter() - t0
    symbolic, concrete = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        gn.analyze(model)
        symbolic.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        gn.analyze(model, input_shape=(8, 100, 32))
        concrete.append(time.perf_counter() - t0)
    result = {"layers": args.layers, "build_s": build_s, "analyze_symbolic_median_s": statistics.median(symbolic),
              "analyze_concrete_median_s": statistics.median(concrete)}
    print(f"{args.layers} layers: build {build_s:.2f}s; analyze {result['analyze_symbolic_median_s']:.3f}s (symbolic T), "
          f"{result['analyze_concrete_median_s']:.3f}s (at 8×100×32)")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
