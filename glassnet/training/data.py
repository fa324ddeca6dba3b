"""Turning what users pass to ``fit``/``evaluate``/``predict`` into batches of torch tensors."""
from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from ..structure import first_length, map_structure

__all__ = ["to_tensor", "ArrayData", "IterableData", "make_data", "slice_structure"]


def to_tensor(a, float_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """numpy/list/tensor → tensor; floating data takes the model's float type, integers stay integers."""
    if isinstance(a, torch.Tensor):
        t = a
    else:
        arr = np.asarray(a)
        if arr.dtype == object:
            raise TypeError(f"Cannot turn an array of Python objects into a tensor (dtype=object, shape={arr.shape}).")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_floating_point() and t.dtype != float_dtype:
        t = t.to(float_dtype)
    return t


def slice_structure(x, idx):
    return map_structure(lambda t: t[idx], x, skip_none=True)


class ArrayData:
    """In-memory arrays: one ``randperm`` per epoch, batches by index (as a hand-written loop does)."""

    def __init__(self, x, y=None, sample_weight=None, batch_size: int = 32, shuffle: bool = False):
        self.x, self.y, self.sw = x, y, sample_weight
        self.n = first_length(x)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.sampler = None  # a DistributedSampler-like object when data-parallel

    def __len__(self) -> int:
        n = self.n if self.sampler is None else len(self.sampler)
        return math.ceil(n / self.batch_size)

    def batches(self, epoch: int = 0) -> Iterator[tuple[Any, Any, Any]]:
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
            order = torch.as_tensor(list(iter(self.sampler)), dtype=torch.long)
        elif self.shuffle:
            order = torch.randperm(self.n)
        else:
            order = None
        total = self.n if order is None else len(order)
        for start in range(0, total, self.batch_size):
            if order is None:
                idx = slice(start, min(start + self.batch_size, total))
            else:
                idx = order[start:start + self.batch_size]
            yield (slice_structure(self.x, idx), slice_structure(self.y, idx),
                   None if self.sw is None else self.sw[idx])


class IterableData:
    """A DataLoader, Dataset or any iterable of ``(x, y)`` / ``(x, y, sample_weight)`` batches.

    Batches may differ in shape from one to the next (e.g. images of several sizes).
    """

    def __init__(self, source, float_dtype=torch.float32, batch_size: int | None = None, shuffle: bool = False):
        if isinstance(source, Dataset) and not isinstance(source, IterableDataset):
            source = DataLoader(source, batch_size=batch_size or 32, shuffle=shuffle)
        self.source = source
        self.float_dtype = float_dtype

    def __len__(self):
        try:
            return len(self.source)
        except TypeError:
            return None

    def batches(self, epoch: int = 0):
        sampler = getattr(self.source, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        for item in self.source:
            if isinstance(item, dict):
                raise TypeError("Batches must be (x, y) or (x, y, sample_weight) tuples, not dicts.")
            if not isinstance(item, (list, tuple)):
                item = (item,)
            x = map_structure(lambda a: to_tensor(a, self.float_dtype), item[0], skip_none=True)
            y = map_structure(lambda a: to_tensor(a, self.float_dtype), item[1], skip_none=True) if len(item) > 1 else None
            sw = to_tensor(item[2], self.float_dtype) if len(item) > 2 else None
            yield x, y, sw


def _is_batch_list(x) -> bool:
    """A list of ``(x, y)`` or ``(x, y, w)`` batches (rather than a list of input arrays)."""
    return (isinstance(x, list) and len(x) > 0 and all(isinstance(b, tuple) and len(b) in (2, 3) for b in x))


def make_data(x, y, sample_weight, batch_size, shuffle, float_dtype):
    """Arrays (numpy, torch, lists or dicts of them) → ArrayData; datasets and iterables → IterableData."""
    if isinstance(x, (ArrayData, IterableData)):
        return x
    arrays = isinstance(x, (np.ndarray, torch.Tensor, dict)) or (
        isinstance(x, (list, tuple)) and not _is_batch_list(x)
        and all(isinstance(v, (np.ndarray, torch.Tensor, list, dict)) for v in x))
    if not arrays:
        if y is not None:
            raise ValueError("When x is a dataset, DataLoader or iterable of batches, pass y inside it, not as y=.")
        return IterableData(x, float_dtype, batch_size, shuffle)
    xt = map_structure(lambda a: to_tensor(a, float_dtype), x, skip_none=True)
    yt = map_structure(lambda a: to_tensor(a, float_dtype), y, skip_none=True)
    swt = None if sample_weight is None else to_tensor(sample_weight, float_dtype)
    return ArrayData(xt, yt, swt, batch_size, shuffle)
