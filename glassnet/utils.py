"""Utilities with Keras's names (``keras.utils``): seeds, label and sequence preparation, datasets in Python
(``PyDataset``, ``timeseries_dataset_from_array``), and ``plot_model`` (through pydot and graphviz)."""
from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

__all__ = ["set_random_seed", "to_categorical", "normalize", "pad_sequences", "PyDataset", "Sequence",
           "timeseries_dataset_from_array", "pack_x_y_sample_weight", "unpack_x_y_sample_weight", "plot_model",
           "model_to_dot"]


def set_random_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (weights, dropout and shuffling repeat)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """Integer class labels → one-hot rows (``num_classes`` = max label + 1 by default); a trailing axis of
    1 is dropped first, as in Keras.

    Example:
        >>> gn.utils.to_categorical([0, 2], num_classes=3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    x = np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x, dtype="int64")
    shape = x.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    x = x.reshape(-1)
    if x.size and x.min() < 0:
        raise ValueError(f"to_categorical needs non-negative integer labels. Received a minimum of {x.min()}.")
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and x.max() >= num_classes:
        raise ValueError(f"Label {x.max()} does not fit num_classes={num_classes}; labels must be in "
                         f"[0, {num_classes}).")
    out = np.zeros((x.size, num_classes), dtype="float32")
    out[np.arange(x.size), x] = 1
    return out.reshape(shape + (num_classes,))


def normalize(x, axis: int = -1, order: int = 2):
    """``x`` divided by its ``order``-norm along ``axis`` (zero norms left alone)."""
    if isinstance(x, torch.Tensor):
        norm = torch.linalg.vector_norm(x, ord=order, dim=axis, keepdim=True)
        return x / torch.where(norm == 0, torch.ones_like(norm), norm)
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0) -> np.ndarray:
    """Variable-length sequences → one ``(num_samples, maxlen, ...)`` array, padded with ``value`` and cut to
    ``maxlen`` at the start (``"pre"``) or end (``"post"``), as Keras does.

    Example:
        >>> gn.utils.pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
        [[2, 3], [0, 4]]
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    for name, arg in (("padding", padding), ("truncating", truncating)):
        if arg not in ("pre", "post"):
            raise ValueError(f'{name} must be "pre" or "post". Received: {name}={arg!r}')
    lengths, sample_shape, first = [], (), True
    for s in sequences:
        try:
            lengths.append(len(s))
        except TypeError as exc:
            raise ValueError(f"`sequences` must be a list of iterables. Found non-iterable: {s}") from exc
        if first and len(s):
            sample_shape, first = np.asarray(s).shape[1:], False
    if maxlen is None:
        maxlen = int(np.max(lengths)) if lengths else 0
    is_str = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_str:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\nYou should set "
                         "`dtype=object` for variable length strings.")
    out = np.full((len(sequences), maxlen) + tuple(sample_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != tuple(sample_shape):
            raise ValueError(f"Shape of sample {trunc.shape[1:]} of sequence at position {i} is different from "
                             f"expected shape {sample_shape}")
        if maxlen == 0:
            continue
        if padding == "post":
            out[i, :len(trunc)] = trunc
        else:
            out[i, -len(trunc):] = trunc
    return out


class PyDataset:
    """A dataset written in Python: ``__len__`` (batches per epoch) and ``__getitem__(index)`` (one batch,
    ``x``, ``(x, y)`` or ``(x, y, sample_weight)``); ``on_epoch_end`` runs after each epoch.

    Args:
        workers: batches prepared in parallel (threads, or processes with ``use_multiprocessing``).
        use_multiprocessing: prepare batches in worker processes (a torch ``DataLoader``).
        max_queue_size: batches prepared ahead.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        for name, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PyDataset: the `{name}` argument must be a positive integer. "
                                 f"Received: {name}={value!r}")
        self._workers, self._use_multiprocessing, self._max_queue_size = workers, bool(use_multiprocessing), \
            max_queue_size

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning a batch.")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__() (the number of batches).")

    @property
    def num_batches(self) -> int | None:
        return len(self)

    def on_epoch_begin(self) -> None:
        """Called before each epoch."""

    def on_epoch_end(self) -> None:
        """Called after each epoch (e.g. to shuffle)."""

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


Sequence = PyDataset  # Keras's old name


class _TimeseriesDataset(PyDataset):
    """Windows of ``data`` (and the target at each window's start) in batches of numpy arrays."""

    def __init__(self, data, targets, starts: np.ndarray, sequence_length: int, sampling_rate: int,
                 batch_size: int | None, start_index: int):
        super().__init__()
        self.data, self.targets, self.starts = data, targets, starts
        self.sequence_length, self.sampling_rate = sequence_length, sampling_rate
        self.batch_size, self.start_index = batch_size, start_index

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self.starts)
        return -(-len(self.starts) // self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of a dataset of {len(self)} batches")
        if self.batch_size is None:
            starts = self.starts[index:index + 1]
        else:
            starts = self.starts[index * self.batch_size:(index + 1) * self.batch_size]
        offsets = np.arange(self.sequence_length) * self.sampling_rate
        idx = self.start_index + starts[:, None] + offsets[None, :]
        x = np.asarray(self.data)[idx]
        if self.batch_size is None:
            x = x[0]
        if self.targets is None:
            return x
        y = np.asarray(self.targets)[self.start_index + starts]
        return x, (y[0] if self.batch_size is None else y)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1, batch_size=128,
                                  shuffle=False, seed=None, start_index=None, end_index=None) -> PyDataset:
    """Sliding windows over a time series, as Keras's function: window ``i`` is
    ``data[start + s_i : start + s_i + sequence_length·sampling_rate : sampling_rate]`` and its target is
    ``targets[start + s_i]``; starts ``s_i`` step by ``sequence_stride``. Returns a ``PyDataset`` of numpy
    batches (``fit`` takes it directly).

    Example:
        >>> ds = gn.utils.timeseries_dataset_from_array(np.arange(10), None, sequence_length=3, batch_size=4)
        >>> ds[0].tolist()
        [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]
    """
    for name, value, low in (("sequence_length", sequence_length, 1), ("sequence_stride", sequence_stride, 1),
                             ("sampling_rate", sampling_rate, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive integer or None. Received: batch_size={batch_size!r}")
    start_index = 0 if start_index is None else start_index
    end_index = len(data) if end_index is None else end_index
    if not 0 <= start_index < len(data) or not start_index < end_index <= len(data):
        raise ValueError(f"`start_index` and `end_index` must satisfy 0 <= start_index < end_index <= len(data). "
                         f"Received: start_index={start_index}, end_index={end_index}, len(data)={len(data)}")
    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    starts = np.arange(0, max(num_seqs, 0), sequence_stride)
    if shuffle:
        np.random.RandomState(seed if seed is not None else np.random.randint(1_000_000)).shuffle(starts)
    return _TimeseriesDataset(data, targets, starts, sequence_length, sampling_rate, batch_size, start_index)


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """``x`` alone, ``(x, y)`` or ``(x, y, sample_weight)``: the tuple ``fit`` hands to ``train_step``."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (Nones filled in)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) in (1, 2, 3):
        return tuple(data) + (None,) * (3 - len(data))
    raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, found: "
                     f"a tuple of {len(data)} elements")


# ---------------------------------------------------------------------- plot_model
def _shape_text(shape) -> str:
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join("None" if not isinstance(d, int) else str(d) for d in shape) + ")"


def _node_label(layer, node, show_shapes, show_dtype, show_layer_names, show_params, show_macs) -> str:
    parts = [f"{layer.name} ({type(layer).__name__})" if show_layer_names else type(layer).__name__]
    outs = [t.symbolic_shape for t in node.outputs]
    if show_shapes:
        ins = [t.symbolic_shape for t in node.parents if not t.is_mask] or outs
        parts.append(f"in: {_shape_text(ins if len(ins) > 1 else ins[0])}")
        parts.append(f"out: {_shape_text(outs if len(outs) > 1 else outs[0])}")
    if show_dtype:
        parts.append(f"dtype: {node.outputs[0].dtype}")
    if show_params:
        parts.append(f"params: {layer.count_params():,}" if layer.built else "params: 0")
    if show_macs and node.parents:
        try:
            ins = [t.symbolic_shape for t in node.parents if not t.is_mask]
            cost = layer.cost(ins[0] if len(ins) == 1 else ins, outs[0] if len(outs) == 1 else outs)
            parts.append(f"MACs/sample: {cost.macs_formula}")
        except Exception as exc:  # a layer without a usable cost rule still gets a node
            parts.append(f"MACs/sample: ? ({type(exc).__name__})")
    return "\n".join(parts)


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB", expand_nested=False,
                 dpi=200, subgraph=False, show_layer_activations=False, show_trainable=False, show_params=True,
                 show_macs=True, **kwargs):
    """A ``pydot.Dot`` graph of the model's layers (needs the ``pydot`` package)."""
    pydot = _import_pydot()
    if not hasattr(model, "graph_nodes") or not model.built or not model.inputs:
        raise ValueError(f"Model '{getattr(model, 'name', model)}' has no graph yet: build it (call it on data, or "
                         "give it an Input) before plotting.")
    dot = pydot.Dot(graph_type="digraph", rankdir=rankdir, dpi=str(dpi))
    dot.set_node_defaults(shape="record", fontname="Helvetica")
    ids = {}
    for node in model.graph_nodes():
        key = str(id(node))
        ids[id(node)] = key
        label = _node_label(node.layer, node, show_shapes, show_dtype, show_layer_names, show_params, show_macs)
        if show_layer_activations and hasattr(node.layer, "activation"):
            label += f"\nactivation: {getattr(node.layer.activation, '__name__', node.layer.activation)}"
        if show_trainable:
            label += f"\ntrainable: {node.layer.trainable}"
        dot.add_node(pydot.Node(key, label=label.replace("\n", "\\n")))
    for node in model.graph_nodes():
        for parent in node.parents:
            if not parent.is_mask and parent.node is not None:
                dot.add_edge(pydot.Edge(ids[id(parent.node)], ids[id(node)]))
    return dot


def _import_pydot():
    try:
        import pydot  # noqa: optional extra, only plot_model needs it
    except ImportError as exc:
        raise ImportError("plot_model needs the `pydot` package and the Graphviz programs: `pip install pydot` and "
                          "install Graphviz (https://graphviz.org/download/, e.g. `apt-get install graphviz`).") from exc
    return pydot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
               expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, show_params=True,
               show_macs=True, **kwargs) -> Any:
    """Draw the model's graph to ``to_file`` (``.png``, ``.svg``, ``.pdf``, ``.dot``), each layer with its output
    shape (``show_shapes``), parameter count and multiply-adds per sample — through pydot and Graphviz.

    Raises ImportError naming what to install when pydot or Graphviz is missing.
    """
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                       show_params=show_params, show_macs=show_macs)
    extension = os.path.splitext(os.fspath(to_file))[1][1:].lower() or "png"
    try:
        dot.write(os.fspath(to_file), format=extension)
    except (FileNotFoundError, OSError) as exc:
        raise ImportError("plot_model needs the Graphviz programs (`dot`) on the PATH: install Graphviz "
                          f"(https://graphviz.org/download/, e.g. `apt-get install graphviz`). ({exc})") from exc
    return to_file


# A Keras name glassnet does not have raises AttributeError saying so, and what to use instead
from . import _keras_names  # noqa: E402

__getattr__ = _keras_names.module_getattr("utils", __name__)
