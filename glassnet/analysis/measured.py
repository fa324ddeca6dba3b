"""The fallback when torch.export cannot trace a module (data-dependent control flow, an output it cannot
flatten …): run it once at the example inputs under ``torch.utils.flop_counter.FlopCounterMode`` and
report what it counted, per module, as numbers for those sizes only — and say so in the report.

torch's counter has no formula for two CPU kernels that do contractions, so they are added here:
``_scaled_dot_product_flash_attention_for_cpu`` (attention on CPU) and ``mkldnn_rnn_layer`` (the LSTM on
CPU). Any other operator that neither torch's counter nor glassnet's tables know makes its module's
MACs unknown (``None``), never a silent 0. Bytes autograd keeps for the backward pass are measured with
``saved_tensors_hooks`` in the same run.
"""
from __future__ import annotations

import torch
from torch.nn.modules.module import register_module_forward_hook
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from .op_costs import no_macs
from .params import model_params, module_params, owners, row_depth
from .report import Report, Row
from .tracer import prepare

__all__ = ["measure_module"]


def _prod(xs):
    out = 1
    for x in xs:
        out *= int(x)
    return out


def _cpu_attention_flops(q, k, v, *args, out_shape=None, **kwargs):
    batch = _prod(q[:-2])
    return 2 * batch * q[-2] * k[-2] * (q[-1] + v[-1])


def _mkldnn_rnn_flops(x, w_ih, w_hh, *args, out_shape=None, **kwargs):
    steps = _prod(x[:-1])
    return 2 * steps * (_prod(w_ih) + _prod(w_hh))


_EXTRA = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
          torch.ops.aten.mkldnn_rnn_layer: _mkldnn_rnn_flops}


class _Unknown(TorchDispatchMode):
    """Notes operators that do arithmetic nobody here has a formula for, with the modules running them."""

    def __init__(self, counter: FlopCounterMode):
        super().__init__()
        self.counter, self.seen = counter, {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        packet = func._overloadpacket
        if packet not in self.counter.flop_registry and not no_macs(packet.__name__):
            for parent in self.counter.mod_tracker.parents:
                self.seen.setdefault(parent, set()).add(f"{func.namespace}.{packet.__name__}")
        return func(*args, **(kwargs or {}))


def _shape_text(out) -> str:
    shapes = [tuple(t.shape) for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
    if not shapes:
        return "?"
    texts = ["(" + ", ".join(str(d) for d in s) + (",)" if len(s) == 1 else ")") for s in shapes[:3]]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + (", …" if len(shapes) > 3 else "") + "]"


def measure_module(module: torch.nn.Module, example_inputs, dynamic, reason: str) -> Report:
    """Count ``module`` at ``example_inputs`` (see the module docstring); ``reason`` is why export failed."""
    args, kwargs, _, sizes = prepare(module, example_inputs, dynamic)
    counter = FlopCounterMode(display=False, custom_mapping=_EXTRA)
    unknown = _Unknown(counter)
    outputs = {}
    params = {p.data_ptr() for p in module.parameters()}
    saved = {}

    def hook(mod, inputs, out):
        if id(mod) not in outputs:
            outputs[id(mod)] = (out, sum(t.numel() * t.element_size() for t in pytree.tree_leaves(out)
                                         if isinstance(t, torch.Tensor)))

    def pack(t):
        if t.data_ptr() not in params:
            saved[t.data_ptr()] = t.untyped_storage().nbytes()
        return t
    handle = register_module_forward_hook(hook)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), counter, unknown:
            module(*args, **kwargs)
    finally:
        handle.remove()
    counts = counter.get_flop_counts()
    root_name = type(module).__name__
    holders = owners(module)
    outputs_paths = {p for p, m in module.named_modules() if id(m) in outputs}
    rows = []
    for path, mod in module.named_modules():
        if id(mod) not in outputs:
            continue  # never ran
        key = root_name if not path else f"{root_name}.{path}"
        flops = sum(counts.get(key, {}).values())
        missing = sorted(unknown.seen.get(key, ()))
        macs = None if missing else flops // 2
        count, formula_text, shared = module_params(mod, path, holders)
        out, out_bytes = outputs[id(mod)]
        rows.append(Row(path or root_name, type(mod).__name__, _shape_text(out), count, formula_text, macs,
                        "?" if macs is None else str(macs), None, activation_bytes=out_bytes,
                        reads="measured at the example inputs" + (f"; unknown cost: {', '.join(missing)}" if missing else ""),
                        shared_with=shared, macs_expr="?" if macs is None else str(macs),
                        depth=row_depth(path, outputs_paths), macs_source="measured", unknown_ops=tuple(missing)))
    p = model_params(module)
    total = sum(counts.get("Global", {}).values()) // 2
    missing = sorted(set().union(*unknown.seen.values())) if unknown.seen else []
    saved_b = sum(saved.values())
    totals = {
        "params": p["params"], "trainable_params": p["trainable_params"],
        "non_trainable_params": p["non_trainable_params"], "buffers": p["buffers"],
        "macs": None if missing else total, "macs_known_part": total, "flops": None if missing else 2 * total,
        "other_flops": None, "peak_inference_activation_bytes": None, "activations_saved_for_backward_bytes": saved_b,
        "weights_bytes": p["weights_bytes"],
        "training_memory_bytes": p["weights_bytes"] + 3 * p["trainable_bytes"] + saved_b,
        "training_memory_breakdown": {"weights": p["weights_bytes"], "gradients": p["trainable_bytes"],
                                      "optimizer_state (Adam: 2 per weight)": 2 * p["trainable_bytes"],
                                      "activations_saved_for_backward": saved_b},
        "formulas": {},
    }
    notes = [f"torch.export could not trace {root_name} ({reason}). The numbers were measured with "
             "torch.utils.flop_counter.FlopCounterMode at the example inputs only: they hold for these sizes and "
             "have no formulas; element-wise work and peak activation memory were not measured."]
    if missing:
        notes.append("Operators without a cost formula make the MACs unknown (never 0): " + ", ".join(missing) + ".")
    return Report(root_name, rows, totals, dict(sizes), sizes.get("B"), method="flop_counter", notes=notes)
