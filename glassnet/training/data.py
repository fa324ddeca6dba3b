"""Turning what users pass to ``fit``/``evaluate``/``predict`` into batches of torch tensors.

Arrays (numpy, torch, lists or dicts of them) become ``ArrayData``: one permutation per epoch, batches by
index. Anything else — a ``DataLoader``, a ``Dataset``, a ``PyDataset``, a list of batches, a generator —
becomes ``IterableData``. A source that can be iterated again (a DataLoader, a list) restarts each epoch;
an iterator (a generator) continues where the last epoch stopped, as in Keras, and running out of it ends
training with a warning.
"""
from __future__ import annotations

import math
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from ..structure import first_length, map_structure
from ..utils import PyDataset, unpack_x_y_sample_weight

__all__ = ["to_tensor", "ArrayData", "IterableData", "make_data", "slice_structure", "is_array_input"]


def to_tensor(a, float_dtype: torch.dtype = torch.float32, pin: bool = False) -> torch.Tensor:
    """numpy/list/tensor → tensor; floating data takes ``float_dtype``, integers and booleans stay as they are
    (the trainer casts them for float inputs); ``pin`` puts CPU data in page-locked memory, so the copy to the
    GPU can be non-blocking."""
    if isinstance(a, torch.Tensor):
        t = a
    else:
        arr = np.asarray(a)
        if arr.dtype == object:
            raise TypeError(f"Cannot turn an array of Python objects into a tensor (dtype=object, shape={arr.shape}).")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_floating_point() and t.dtype != float_dtype:
        t = t.to(float_dtype)
    if pin and t.device.type == "cpu" and not t.is_pinned():
        t = t.pin_memory()
    return t


def _pinned(batch):
    return map_structure(lambda t: t.pin_memory() if isinstance(t, torch.Tensor) and t.device.type == "cpu" else t,
                         batch, skip_none=True)


def slice_structure(x, idx):
    return map_structure(lambda t: t[idx], x, skip_none=True)


def is_array_input(x) -> bool:
    """Arrays, or a list/tuple/dict of arrays (rather than a dataset or an iterable of batches)."""
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return True
    if isinstance(x, dict):
        return all(isinstance(v, (np.ndarray, torch.Tensor, list)) for v in x.values())
    if isinstance(x, (list, tuple)):
        return not _is_batch_list(x) and bool(x) and all(isinstance(v, (np.ndarray, torch.Tensor, list, dict))
                                                          for v in x)
    return False


class ArrayData:
    """In-memory arrays: one ``randperm`` per epoch, batches by index (as a hand-written loop does)."""

    def __init__(self, x, y=None, sample_weight=None, batch_size: int = 32, shuffle: bool = False,
                 pin: bool = False):
        self.x, self.y, self.sw = x, y, sample_weight
        self.n = first_length(x)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.pin = pin  # each batch is put in page-locked memory (for a non-blocking copy to the GPU)
        self.sampler = None  # a DistributedSampler-like object when data-parallel

    def num_batches(self) -> int:
        n = self.n if self.sampler is None else len(self.sampler)
        return math.ceil(n / self.batch_size)

    def batches(self, epoch: int = 0, steps: int | None = None) -> Iterator[tuple[Any, Any, Any]]:
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
            order = torch.as_tensor(list(iter(self.sampler)), dtype=torch.long)
        elif self.shuffle:
            order = torch.randperm(self.n)
        else:
            order = None
        total = self.n if order is None else len(order)
        for k, start in enumerate(range(0, total, self.batch_size)):
            if steps is not None and k >= steps:
                return
            if order is None:
                idx = slice(start, min(start + self.batch_size, total))
            else:
                idx = order[start:start + self.batch_size]
            batch = (slice_structure(self.x, idx), slice_structure(self.y, idx),
                     None if self.sw is None else self.sw[idx])
            yield _pinned(batch) if self.pin else batch

    def first_batch(self):
        return next(self.batches(0, 1))

    def head(self):
        """The inputs of a batch of the batch size, taken from the front without drawing a shuffle (so the
        random state is left as it is): what a step's shapes are judged by."""
        return map_structure(lambda a: a[:self.batch_size], self.x)

    def end_epoch(self) -> None:
        pass


def _prefetch(dataset: PyDataset, steps: int):
    """A ``PyDataset``'s batches prepared by ``workers`` threads, at most ``max_queue_size`` ahead, in order."""
    with ThreadPoolExecutor(dataset.workers) as pool:
        pending: deque = deque()
        i = 0
        while i < steps or pending:
            while i < steps and len(pending) < dataset.max_queue_size:
                pending.append(pool.submit(dataset.__getitem__, i))
                i += 1
            yield pending.popleft().result()


class IterableData:
    """A DataLoader, Dataset, PyDataset or any iterable of batches: ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)`` each. Batches may differ in shape from one to the next."""

    def __init__(self, source, float_dtype=torch.float32, batch_size: int | None = None, shuffle: bool = False):
        if isinstance(source, Dataset) and not isinstance(source, IterableDataset):
            source = DataLoader(source, batch_size=batch_size or 32, shuffle=shuffle)
        self.source = source
        self.float_dtype = float_dtype
        self.pin = False
        self.exhausted = False
        self._iterator = None
        self.is_iterator = iter(source) is source if not isinstance(source, PyDataset) else False

    def num_batches(self) -> int | None:
        """Batches per epoch, or None when the source has no length (a generator)."""
        if self.is_iterator:
            return None
        try:
            return len(self.source)
        except TypeError:
            return None

    def _items(self, steps: int | None):
        src = self.source
        if isinstance(src, PyDataset):
            n = len(src) if steps is None else min(steps, len(src))
            if src.use_multiprocessing and src.workers > 1:
                return iter(DataLoader(src, batch_size=None, sampler=range(n), num_workers=src.workers,
                                       prefetch_factor=max(1, src.max_queue_size // src.workers)))
            if src.workers > 1:
                return _prefetch(src, n)
            return (src[i] for i in range(n))
        if self.is_iterator:
            if self._iterator is None:
                self._iterator = src
            return self._iterator
        return iter(src)

    def batches(self, epoch: int = 0, steps: int | None = None):
        sampler = getattr(self.source, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        if isinstance(self.source, PyDataset):
            self.source.on_epoch_begin()
        items = self._items(steps)
        k = 0
        while steps is None or k < steps:
            try:
                item = next(items)
            except StopIteration:
                if self.is_iterator:
                    self.exhausted = True
                return
            yield self.convert(item)
            k += 1

    def convert(self, item):
        x, y, sw = unpack_x_y_sample_weight(item)
        convert = lambda a: to_tensor(a, self.float_dtype, self.pin)  # noqa: E731  (pinned per batch)
        return (map_structure(convert, x, skip_none=True), map_structure(convert, y, skip_none=True),
                None if sw is None else convert(sw))

    def end_epoch(self) -> None:
        if isinstance(self.source, PyDataset):
            self.source.on_epoch_end()


def _is_batch_list(x) -> bool:
    """A list of ``(x, y)`` or ``(x, y, w)`` batches (rather than a list of input arrays)."""
    return isinstance(x, list) and len(x) > 0 and all(isinstance(b, tuple) and len(b) in (2, 3) for b in x)


def make_data(x, y, sample_weight, batch_size, shuffle, float_dtype, pin: bool = False):
    """Arrays (numpy, torch, lists or dicts of them) → ArrayData; datasets and iterables → IterableData."""
    if isinstance(x, (ArrayData, IterableData)):
        return x
    if not is_array_input(x):
        if y is not None:
            raise ValueError("When x is a dataset, DataLoader, PyDataset or iterable of batches, pass y inside it "
                             "(each batch an (x, y) tuple), not as y=.")
        if sample_weight is not None:
            raise ValueError("When x is a dataset, DataLoader, PyDataset or iterable of batches, pass sample weights "
                             "inside it (each batch an (x, y, sample_weight) tuple), not as sample_weight=.")
        data = IterableData(x, float_dtype, batch_size, shuffle)
        data.pin = pin
        return data
    convert = lambda a: to_tensor(a, float_dtype)  # noqa: E731
    xt = map_structure(convert, x, skip_none=True)
    yt = map_structure(convert, y, skip_none=True)
    swt = None if sample_weight is None else convert(sample_weight)
    return ArrayData(xt, yt, swt, batch_size, shuffle, pin=pin)
