"""MACs of three models as glassnet, torchinfo, fvcore, thop and torch's FlopCounterMode report them.

Usage:
    python benchmarks/compare_tools.py [--json OUT.json]

Models (all on CPU, float32, batch 1):
    resnet18   torchvision's ResNet-18 architecture (tests/_any_module_models.py), 3×224×224
    bert       Hugging Face BertModel from a small config (4 layers, width 128, 4 heads, FFN 512), T=128
    lstm       the seed's LSTM forecaster (examples/seed_models.py: LSTM(10) → Dense(1)), a window of T=50

What each tool calls its number, converted to MACs (1 MAC = one multiply-add): glassnet MACs; torchinfo
"Mult-Adds"; fvcore "flops" (one fused multiply-add = 1); thop MACs; FlopCounterMode FLOPs ÷ 2, run on
CPU tensors and on the meta device (where torch's CPU kernels without a formula decompose into counted
matrix products). A tool that is not installed is skipped, saying so; one that fails shows its error.
torchinfo, fvcore, thop and transformers are benchmark-only extras (pip install torchinfo fvcore thop
transformers).
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import logging
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))  # the ResNet-18 the tests check, written to torchvision's architecture
sys.path.insert(0, os.path.join(ROOT, "examples"))


def models() -> dict:
    import torch
    from _any_module_models import resnet18
    from seed_models import lstm_forecaster
    out = {"resnet18": (resnet18().eval(), (torch.randn(1, 3, 224, 224),), {"x": {2: "H", 3: "W"}})}
    if importlib.util.find_spec("transformers") is not None:
        import transformers
        logging.getLogger("transformers").setLevel(logging.ERROR)
        cfg = transformers.BertConfig(num_hidden_layers=4, hidden_size=128, num_attention_heads=4, intermediate_size=512,
                                      vocab_size=1000, max_position_embeddings=512, return_dict=False)
        out["bert"] = (transformers.BertModel(cfg).eval(), (torch.randint(0, 1000, (1, 128)),), {"input_ids": {1: "T"}})
    else:
        out["bert"] = "transformers is not installed"
    out["lstm"] = (lstm_forecaster(), (torch.randn(1, 50, 1),), None)
    return out


def run_glassnet(model, args, dynamic):
    import glassnet as gn
    if hasattr(model, "graph_nodes"):
        report = gn.analyze(model, input_shape=tuple(args[0].shape))
        return report.totals["macs"], "from the layers' cost rules"
    report = gn.analyze(model, args, dynamic=dynamic)
    return report.totals["macs"], "formula " + report.totals["formulas"]["macs"]


def run_torchinfo(model, args, dynamic):
    import torchinfo
    return int(torchinfo.summary(model, input_data=list(args), verbose=0).total_mult_adds), ""


def run_fvcore(model, args, dynamic):
    from fvcore.nn import FlopCountAnalysis
    analysis = FlopCountAnalysis(model, args)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    total = int(analysis.total())
    skipped = sorted(op for op in analysis.unsupported_ops() if op in (
        "aten::lstm", "aten::scaled_dot_product_attention", "aten::gru", "aten::matmul", "aten::bmm"))
    return total, ("counted as 0: " + ", ".join(skipped)) if skipped else ""


def run_thop(model, args, dynamic):
    import thop
    model = copy.deepcopy(model)  # thop adds total_ops/total_params buffers to the model it profiles
    macs, _ = thop.profile(model, inputs=args, verbose=False)
    return int(macs), ""


def run_flop_counter(model, args, dynamic, meta=False):
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    if meta:
        model = copy.deepcopy(model).to("meta")
        args = tuple(a.to("meta") for a in args)
    with FlopCounterMode(display=False) as counter:
        model(*args)
    return counter.get_total_flops() // 2, ""


TOOLS = {
    "glassnet": (None, run_glassnet),
    "torchinfo": ("torchinfo", run_torchinfo),
    "fvcore": ("fvcore", run_fvcore),
    "thop": ("thop", run_thop),
    "FlopCounterMode (CPU)": (None, run_flop_counter),
    "FlopCounterMode (meta)": (None, lambda m, a, d: run_flop_counter(m, a, d, meta=True)),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json")
    args = ap.parse_args()
    import torch
    torch.manual_seed(0)
    cases = models()
    results: dict = {}
    for tool, (package, fn) in TOOLS.items():
        results[tool] = {}
        for name, case in cases.items():
            if isinstance(case, str):
                results[tool][name] = {"skipped": case}
            elif package and importlib.util.find_spec(package) is None:
                results[tool][name] = {"skipped": f"{package} is not installed"}
            else:
                model, inputs, dynamic = case
                try:
                    with warnings.catch_warnings(), torch.no_grad():
                        warnings.simplefilter("ignore")
                        macs, note = fn(model, inputs, dynamic)
                    results[tool][name] = {"macs": macs, "note": note}
                except Exception as exc:  # noqa: BLE001 - a tool's failure is a result to show
                    results[tool][name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"}
    names = list(cases)
    print("MACs at batch 1 (ratio to glassnet in brackets); resnet18 3×224×224, bert T=128, lstm T=50")
    print(f"{'tool':<24}" + "".join(f"{n:>26}" for n in names))
    for tool, per in results.items():
        cells = []
        for n in names:
            r = per[n]
            truth = results["glassnet"][n].get("macs")
            if "macs" in r:
                ratio = f" ({r['macs'] / truth:.2f})" if truth else ""
                cells.append(f"{r['macs']:,}{ratio}")
            else:
                cells.append("skipped" if "skipped" in r else "error")
        print(f"{tool:<24}" + "".join(f"{c:>26}" for c in cells))
    for tool, per in results.items():
        for n, r in per.items():
            detail = r.get("skipped") or r.get("error") or r.get("note")
            if detail:
                print(f"  {tool} on {n}: {detail}")
    write_json(args.json, results)


if __name__ == "__main__":
    main()
