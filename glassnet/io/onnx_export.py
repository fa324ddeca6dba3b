"""ONNX export through torch's exporter, with the model's variable dimensions as dynamic axes.

Needs the optional packages ``onnx``, ``onnxscript`` (and ``onnxruntime`` to run the result):
``pip install 'glassnet[onnx]'``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings

import torch

from ..dims import BATCH, is_fixed
from ..errors import GlassnetError, GlassnetWarning
from ..layers.input_layer import InputLayer
from ..layers.rnn import RNN
from ..layers.wrappers import Bidirectional

__all__ = ["export_onnx"]

_EXAMPLE_SIZES = (37, 41, 43, 47, 53, 59)  # distinct and large enough for deep conv stacks


def _layer_nodes(model):
    return [n for n in model.graph_nodes() if not isinstance(n.layer, InputLayer)]


def _refused_layer(model) -> tuple[str, str] | None:
    """A layer that says it cannot be exported (class attribute ``onnx_unsupported``: the reason)."""
    for node in _layer_nodes(model):
        reason = getattr(node.layer, "onnx_unsupported", None)
        if reason:
            return node.layer.name, reason
    return None


def _recurrent_with_mask(model) -> str | None:
    for node in _layer_nodes(model):
        if isinstance(node.layer, (RNN, Bidirectional)) and any(t.mask is not None for t in node.input_tensors):
            return node.layer.name
    return None


def _needs_fresh_process(model) -> bool:
    """torch.compile imports Python decompositions of aten.lstm/gru/rnn that unroll the time loop,
    which would pin the time axis to the example length; then export from a fresh interpreter."""
    if os.environ.get("GLASSNET_ONNX_CHILD") or "torch._decomp.decompositions" not in sys.modules:
        return False
    return any(isinstance(n.layer, (RNN, Bidirectional)) for n in _layer_nodes(model))


def _export_in_child(model, path, input_shape, opset_version) -> str:
    with tempfile.TemporaryDirectory() as folder:
        saved = os.path.join(folder, "model.glassnet")
        model.save(saved)
        code = ("import sys, json, glassnet as gn; a = json.loads(sys.argv[3]); "
                "gn.load_model(sys.argv[1]).export_onnx(sys.argv[2], "
                "input_shape=None if a[0] is None else (a[0] if isinstance(a[0][0], list) else tuple(a[0])), "
                "opset_version=a[1])")
        env = dict(os.environ, GLASSNET_ONNX_CHILD="1")
        proc = subprocess.run([sys.executable, "-c", code, saved, os.fspath(path), json.dumps([input_shape, opset_version])],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise GlassnetError(f"ONNX export failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
    return os.fspath(path)


def _strided_same(model) -> str | None:
    """A layer whose "same" padding depends on the input size's parity (strided convolutions and pooling;
    a transposed convolution's does not)."""
    for node in _layer_nodes(model):
        layer = node.layer
        if getattr(layer, "padding", None) == "same" and max(getattr(layer, "strides", (1,))) > 1 \
                and not getattr(layer, "transposed", False):
            return layer.name
    return None


def export_onnx(model, path, input_shape=None, opset_version: int | None = None) -> str:
    """Write ``model`` as ONNX. Batch and every variable dimension (T, H, W, …) become dynamic axes.

    Args:
        model: a built glassnet model.
        path: the ``.onnx`` file to write (atomically).
        input_shape: optional example input shape(s), batch first; by default batch 2 and small
            distinct sizes for variable dimensions.
    A model with ``padding="same"`` and strides > 1 is exported with fixed spatial sizes (its
    padding depends on the size's parity); the batch axis stays dynamic.

    Raises:
        GlassnetError: for a model whose recurrent layers read a mask — the masked time loop has
            data-dependent steps that ONNX export cannot express; export the model without
            Masking/mask_zero (e.g. feed each sequence at its own length) instead.
    """
    try:
        import onnx, onnxscript  # noqa: F401, E401 - optional extra (glassnet[onnx]); torch's exporter needs them
    except ImportError as exc:
        raise ImportError("ONNX export needs onnx and onnxscript: pip install 'glassnet[onnx]'") from exc
    texts = [t.node.layer.name for t in getattr(model, "inputs", None) or [] if getattr(t, "dtype", None) == "string"]
    if texts:
        raise GlassnetError(
            f"Model '{model.name}' cannot be exported to ONNX: its input {texts[0]!r} takes strings, which its first "
            "layer maps to integers in Python before the torch graph. Export the part after that layer instead "
            "(a model from the encoded integers to the outputs) and encode the text beside the ONNX model.")
    refused = _refused_layer(model)
    if refused is not None:
        raise GlassnetError(f"Model '{model.name}' cannot be exported to ONNX: layer '{refused[0]}' {refused[1]}")
    masked = _recurrent_with_mask(model)
    if masked is not None:
        raise GlassnetError(
            f"Model '{model.name}' cannot be exported to ONNX: recurrent layer '{masked}' reads a mask, and the masked "
            "time loop (state carried through padded steps) has data-dependent control flow that ONNX cannot express. "
            "Export a copy without Masking/Embedding(mask_zero=True) and run each sequence at its own length.")
    if _needs_fresh_process(model):
        return _export_in_child(model, path, input_shape, opset_version)
    shapes = input_shape if isinstance(input_shape, list) else ([input_shape] if input_shape is not None else None)
    strided = _strided_same(model)
    if strided is not None:
        warnings.warn(
            f"Layer '{strided}' uses padding='same' with strides > 1: its padding depends on the parity of the input "
            "size, which torch's exporter cannot keep symbolic, so the spatial sizes are exported fixed "
            "(the batch axis stays dynamic). Pass input_shape=... to choose them.", GlassnetWarning, stacklevel=2)
    examples, dynamic = [], []
    names: dict[str, torch.export.Dim] = {}
    for i, t in enumerate(model.inputs):
        sym = t.symbolic_shape
        concrete = list(shapes[i]) if shapes else [2 if d == BATCH else (d if is_fixed(d) else _EXAMPLE_SIZES[j % 6])
                                                   for j, d in enumerate(sym)]
        axes = {}
        for axis, d in enumerate(sym):
            if not is_fixed(d) and (strided is None or d == BATCH):
                key = "batch" if d == BATCH else str(d)
                names.setdefault(key, torch.export.Dim(key.replace(" ", "_")))
                axes[axis] = names[key]
        if t.dtype.startswith("int"):
            examples.append(torch.randint(1, 3, concrete, dtype=torch.int64))
        else:
            examples.append(torch.randn(concrete))
        dynamic.append(axes)
    was_training = model.training
    model.eval()
    args = (examples[0],) if len(examples) == 1 else (examples,)
    dyn = (dynamic[0],) if len(dynamic) == 1 else (dynamic,)
    tmp = os.fspath(path) + ".tmp"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, args, tmp, dynamo=True, dynamic_shapes=dyn, opset_version=opset_version,
                              input_names=model.input_names,
                              output_names=[f"output_{i}" for i in range(len(model.outputs))], verbose=False)
        os.replace(tmp, path)
    finally:
        model.train(was_training)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return os.fspath(path)
