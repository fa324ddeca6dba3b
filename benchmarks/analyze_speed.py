"""How long ``gn.analyze`` takes.

Usage:
    python benchmarks/analyze_speed.py [--case layers|gpt2|all] [--layers 1000] [--json OUT.json]

Cases:
    layers  a 1,000-layer glassnet model (Dense/LayerNormalization/Activation/Conv1D on a variable-length
            sequence input, so every formula is symbolic in T), analysed from the layers' cost rules
            (median of 5) and at a concrete input shape. Target: under 1 second.
    gpt2    Hugging Face GPT2Model (12 layers, width 64, 4 heads; built from a config, nothing downloaded)
            analysed with T symbolic (torch.export + per-operator formulas), timed side by side with
            torchinfo and fvcore on the same model in the same run, with the MACs each reports at
            B=2, T=128. Target for glassnet's first call: under 10 seconds on 2 cores. torchinfo, fvcore
            and transformers are benchmark-only extras (pip install torchinfo fvcore transformers); a tool
            that is not installed is skipped, saying so.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import write_json  # noqa: E402


def build(n_layers: int):
    import glassnet as gn
    from glassnet import layers
    kinds = [lambda: layers.Dense(32), lambda: layers.LayerNormalization(), lambda: layers.Activation("relu"),
             lambda: layers.Conv1D(32, 3, padding="same")]
    return gn.Sequential([gn.Input((None, 32))] + [kinds[i % len(kinds)]() for i in range(n_layers)])


def case_layers(n_layers: int) -> dict:
    import glassnet as gn
    t0 = time.perf_counter()
    model = build(n_layers)
    build_s = time.perf_counter() - t0
    symbolic, concrete = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        gn.analyze(model)
        symbolic.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        gn.analyze(model, input_shape=(8, 100, 32))
        concrete.append(time.perf_counter() - t0)
    result = {"layers": n_layers, "build_s": build_s, "analyze_symbolic_median_s": statistics.median(symbolic),
              "analyze_concrete_median_s": statistics.median(concrete)}
    print(f"{n_layers} layers: build {build_s:.2f}s; analyze {result['analyze_symbolic_median_s']:.3f}s (symbolic T), "
          f"{result['analyze_concrete_median_s']:.3f}s (at 8×100×32)")
    return result


def _timed(fn, repeats: int = 3) -> tuple[float, float, object]:
    """(first call s, median of the next ``repeats`` s, the first call's result)."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), out


def case_gpt2(batch: int = 2, steps: int = 128) -> dict:
    if importlib.util.find_spec("transformers") is None:
        print("gpt2: skipped, transformers is not installed (pip install transformers)")
        return {"skipped": "transformers is not installed"}
    import torch
    import glassnet as gn
    import transformers
    logging.getLogger("transformers").setLevel(logging.ERROR)
    cfg = transformers.GPT2Config(n_layer=12, n_embd=64, n_head=4, vocab_size=1000, n_positions=1024, use_cache=False,
                                  return_dict=False)
    model = transformers.GPT2Model(cfg).eval()
    ids = torch.randint(0, 1000, (batch, steps))
    rows = {}

    def glassnet_run():
        return gn.analyze(model, {"input_ids": ids}, dynamic={"input_ids": {0: "B", 1: "T"}})
    first, warm, report = _timed(glassnet_run)
    rows["glassnet"] = {"first_s": first, "warm_median_s": warm, "macs": report.totals["macs"],
                        "formula": report.totals["formulas"]["macs"], "what": "MACs as a formula in B and T (torch.export)"}
    if importlib.util.find_spec("torchinfo") is not None:
        import torchinfo
        first, warm, out = _timed(lambda: torchinfo.summary(model, input_data=ids, verbose=0))
        rows["torchinfo"] = {"first_s": first, "warm_median_s": warm, "macs": int(out.total_mult_adds),
                             "what": "total_mult_adds (params × output positions of modules with parameters)"}
    else:
        rows["torchinfo"] = {"skipped": "not installed (pip install torchinfo)"}
    if importlib.util.find_spec("fvcore") is not None:
        from fvcore.nn import FlopCountAnalysis

        def fvcore_run():
            analysis = FlopCountAnalysis(model, ids)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            return analysis.total(), sorted(analysis.unsupported_ops())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # jit.trace's warnings about the Python control flow it records
            first, warm, (total, unsupported) = _timed(fvcore_run)
        rows["fvcore"] = {"first_s": first, "warm_median_s": warm, "macs": int(total),
                          "what": "FlopCountAnalysis.total() (1 fused multiply-add = 1 'flop'; jit.trace)",
                          "unsupported_ops": unsupported}
    else:
        rows["fvcore"] = {"skipped": "not installed (pip install fvcore)"}
    truth = report.totals["macs"]
    print(f"GPT2Model, 12 layers, width 64, at B={batch}, T={steps}; glassnet's formula: {rows['glassnet']['formula']}")
    print(f"{'tool':<10} {'first call s':>12} {'warm median s':>14} {'MACs reported':>15} {'÷ glassnet':>10}  what it counts")
    for tool, r in rows.items():
        if "skipped" in r:
            print(f"{tool:<10} skipped: {r['skipped']}")
            continue
        print(f"{tool:<10} {r['first_s']:>12.2f} {r['warm_median_s']:>14.2f} {r['macs']:>15,} {r['macs'] / truth:>10.3f}  {r['what']}")
    if "unsupported_ops" in rows.get("fvcore", {}):
        print(f"fvcore skipped (counted as 0): {', '.join(rows['fvcore']['unsupported_ops'])}")
    return {"batch": batch, "steps": steps, "tools": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=["layers", "gpt2", "all"], default="all")
    ap.add_argument("--layers", type=int, default=1000)
    ap.add_argument("--json")
    args = ap.parse_args()
    result = {}
    if args.case in ("layers", "all"):
        result["layers"] = case_layers(args.layers)
    if args.case in ("gpt2", "all"):
        result["gpt2"] = case_gpt2()
    write_json(args.json, result)


if __name__ == "__main__":
    main()
