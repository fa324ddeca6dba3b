"""What the categorical layers share: turning integer indices into one-hot, multi-hot or count vectors (Keras's
``encode_categorical_inputs``), reading arrays of Python strings, and streaming ``adapt`` data batch by batch.

Strings never become tensors (torch has none): a layer that reads strings takes a list or a numpy array of
``str`` (or ``bytes``, decoded), works on them in Python before the torch graph runs, and hands the graph an
integer tensor. That stage is shown as "string processing, not counted" in summaries and reports.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["encode_categorical", "is_string_data", "as_strings", "adapt_batches", "to_numpy", "ragged_to_dense",
           "STRING_NOTE"]

STRING_NOTE = "string processing, not counted"


def encode_categorical(indices: torch.Tensor, mode: str, depth: int, dtype: torch.dtype,
                       count_weights: torch.Tensor | None = None) -> torch.Tensor:
    """``indices`` (int) as Keras encodes them: ``one_hot`` adds an axis of ``depth`` (replacing a last axis of
    size 1); ``multi_hot`` and ``count`` reduce the last axis (the sample's values) to ``depth`` slots, a rank-1
    input being one sample. Indices outside ``[0, depth)`` (a dropped mask token) count nowhere."""
    if mode == "int":
        return indices
    x = indices.long()
    if x.ndim == 0:
        x = x.reshape(1)
    if mode == "one_hot" and x.ndim > 1 and x.shape[-1] == 1:
        x = x.squeeze(-1)
    valid = (x >= 0) & (x < depth)
    safe = torch.where(valid, x, torch.zeros_like(x))
    if mode == "one_hot":
        return (F.one_hot(safe, depth) * valid.unsqueeze(-1)).to(dtype)
    weights = valid.to(dtype) if count_weights is None else count_weights.to(dtype) * valid
    out = torch.zeros(*x.shape[:-1], depth, dtype=weights.dtype, device=x.device)
    out.scatter_add_(-1, safe, weights)
    if mode == "multi_hot":
        out = (out > 0).to(dtype)
    return out


def _is_string(value) -> bool:
    return isinstance(value, (str, bytes, np.str_, np.bytes_))


def is_string_data(x) -> bool:
    """A str, a numpy array of str/bytes (or of objects holding them), or a (nested) list of str."""
    if _is_string(x):
        return True
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "US":
            return True
        return x.dtype == object and x.size > 0 and _is_string(x.flat[0])
    if isinstance(x, (list, tuple)) and x:
        first = x[0]
        while isinstance(first, (list, tuple)) and first:
            first = first[0]
        return _is_string(first) or (isinstance(first, np.ndarray) and is_string_data(first))
    return False


def as_strings(x, encoding: str = "utf-8") -> np.ndarray:
    """``x`` as a numpy array of Python ``str`` (dtype object), bytes decoded with ``encoding``."""
    array = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x.astype(object)
    out = np.empty(array.shape, dtype=object)
    flat_in, flat_out = array.reshape(-1), out.reshape(-1)
    for i, v in enumerate(flat_in):
        if isinstance(v, (bytes, np.bytes_)):
            v = bytes(v).decode(encoding)
        elif not isinstance(v, str):
            raise TypeError(f"Expected strings, found a {type(v).__name__}: {v!r}")
        flat_out[i] = str(v)
    return out


def _first_of_pair(item):
    """An ``(x, y)`` or ``(x, y, w)`` batch (a DataLoader gives lists) gives its ``x``; a batch of values
    (a list of strings or numbers) is itself."""
    if isinstance(item, (tuple, list)) and 2 <= len(item) <= 3 and not _is_string(item[0]) and \
            not isinstance(item[0], (int, float, np.generic)):
        return item[0]
    return item


def adapt_batches(data) -> tuple[Iterator[Any], bool]:
    """Keras's rule for ``adapt(data)``: an array, tensor, list or tuple is all the data at once (returned as
    one batch, ``True``); any other iterable — a generator, a DataLoader, a Dataset — is read batch by batch
    (``False``), never materialised, the ``x`` of ``(x, y)`` batches taken."""
    if isinstance(data, (np.ndarray, torch.Tensor, list, tuple, str, bytes)):
        return iter([data]), True
    if isinstance(data, dict) or not hasattr(data, "__iter__"):
        raise TypeError("adapt() takes an array, a tensor, a list, or an iterable of batches (a generator, a "
                        f"DataLoader). Received: data of type {type(data).__name__}")
    return (_first_of_pair(item) for item in data), False


def to_numpy(batch) -> np.ndarray:
    if isinstance(batch, torch.Tensor):
        return batch.detach().cpu().numpy()
    return np.asarray(batch)


def ragged_to_dense(rows: Iterable[list[int]], length: int | None, fill: int) -> np.ndarray:
    """Rows of different lengths as an int64 matrix: cut or padded with ``fill`` to ``length`` (to the longest
    row when ``length`` is None)."""
    rows = list(rows)
    width = length if length is not None else max((len(r) for r in rows), default=0)
    out = np.full((len(rows), width), fill, dtype=np.int64)
    for i, r in enumerate(rows):
        r = r[:width]
        out[i, :len(r)] = r
    return out
