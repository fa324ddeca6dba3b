"""Categorical features: CategoryEncoding (integers → one-hot / multi-hot / count vectors), Discretization
(numbers → bin indices, boundaries given or learnt by ``adapt``), Hashing (values → hash bins) and
HashedCrossing (several features → the hash bin of their combination), as Keras 3 computes them.

Hashing and HashedCrossing use FarmHash ``Fingerprint64`` (TensorFlow's ``to_hash_bucket_fast`` and
``sparse.cross_hashed``, which Keras runs on every backend), computed value by value in Python: strings are
hashed before the torch graph runs, numbers are read from their tensor and the bins written back.
"""
from __future__ import annotations

import numpy as np
import torch

from ... import checks, dtypes
from ...errors import ConfigError, ShapeError
from ...graph import contains_symbolic
from ..base import Layer
from ..cost import Cost, per_sample
from ._farmhash import fingerprint64, fingerprint_cat64
from .encoding import STRING_NOTE, adapt_batches, as_strings, encode_categorical, is_string_data, to_numpy

__all__ = ["CategoryEncoding", "Discretization", "Hashing", "HashedCrossing"]


def _encoded_shape(owner, input_shape, mode: str, depth: int) -> tuple:
    """Keras's output shape of ``encode_categorical_inputs`` (rank ≤ 2 for multi_hot and count)."""
    shape = tuple(input_shape)
    if mode == "int":
        return shape
    if not shape:
        return (depth,)
    if mode == "one_hot":
        return (shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape) + (depth,)
    if len(shape) > 2:
        raise ShapeError(owner._error(f"encodes inputs of rank 1 or 2 with output_mode={mode!r}",
                                      f"input shape {shape}", "Flatten or reshape the values per sample first."))
    return shape[:-1] + (depth,)


def _encode_cost(owner, input_shape, output_shape, reads: str) -> Cost:
    return Cost(params=0, macs=0, other_flops=per_sample(output_shape), reads=reads,
                rf=("pointwise",) if owner.output_mode in ("int", "one_hot") else ("global",))


class CategoryEncoding(Layer):
    """Encodes integer features in ``[0, num_tokens)`` as one-hot, multi-hot or count vectors.

    Args:
        num_tokens: the number of categories (the output's last axis).
        output_mode: ``"multi_hot"`` (default; one vector per sample, the last axis being the sample's values),
            ``"one_hot"`` (one vector per value) or ``"count"`` (how often each value occurs; ``count_weights``
            in the call weigh each occurrence).

    Example:
        >>> import torch
        >>> layers.CategoryEncoding(4, output_mode="count")(torch.tensor([[0, 1], [3, 3]])).tolist()
        [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]]
    """

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        output_mode = "multi_hot" if output_mode == "binary" else output_mode
        self.output_mode = checks.one_of(self, "output_mode", output_mode, ("count", "one_hot", "multi_hot"))
        if num_tokens is None:
            raise ConfigError(self._error("needs num_tokens", "num_tokens=None",
                                          "Use IntegerLookup when the number of tokens is not known."))
        self.num_tokens = checks.positive_int(self, "num_tokens", num_tokens)
        checks.unsupported(self, "Sparse outputs are not available on torch; leave it False.", sparse=sparse)

    def compute_output_shape(self, input_shape):
        return _encoded_shape(self, input_shape, self.output_mode, self.num_tokens)

    def compute_output_dtype(self, inputs):
        return self.compute_dtype

    def call(self, inputs, count_weights=None):
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(self._error("uses count_weights only with output_mode='count'",
                                         f"output_mode={self.output_mode!r}"))
        dtype = dtypes.to_torch(self.compute_dtype)
        weights = None if count_weights is None else torch.as_tensor(count_weights, device=inputs.device).to(dtype)
        return encode_categorical(inputs, self.output_mode, self.num_tokens, dtype, weights)

    def cost(self, input_shape, output_shape):
        return _encode_cost(self, input_shape, output_shape,
                            f"writes each value's slot among {self.num_tokens} ({self.output_mode})")

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode,
                "sparse": False}


# ---------------------------------------------------------------------- Discretization's quantile summaries
def _summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    """Keras's summary of a batch: every ``len/(1/epsilon)``-th sorted value, weighted by that step."""
    values = np.sort(np.reshape(values, [-1]))
    step = max(np.size(values) / (1.0 / epsilon), 1)
    boundaries = values[int(step - 1)::int(step)]
    return np.stack([boundaries, np.ones_like(boundaries) * step])


def _compress(summary: np.ndarray, epsilon: float) -> np.ndarray:
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_percents, summary[0])
    cum_weights = np.interp(percents, cum_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")


def _merge(prev: np.ndarray, new: np.ndarray, epsilon: float) -> np.ndarray:
    merged = np.concatenate((prev, new), axis=1)
    return _compress(np.take(merged, np.argsort(merged[0]), axis=1), epsilon)


class Discretization(Layer):
    """Maps numbers to the index of the bin they fall in: ``bin_boundaries=[0., 1.]`` gives bins
    ``(-inf, 0)``, ``[0, 1)``, ``[1, inf)`` → 0, 1, 2 (``numpy.digitize``); or learns ``num_bins`` quantile
    boundaries with ``adapt`` (Keras's streaming summaries, to within ``epsilon``).

    Args:
        bin_boundaries: sorted boundaries, or None to adapt.
        num_bins: the number of bins to learn (with adapt).
        epsilon: the quantile error tolerance of adapt.
        output_mode: ``"int"`` (int32 bin indices), ``"one_hot"``, ``"multi_hot"`` or ``"count"``.

    Example:
        >>> import torch
        >>> layers.Discretization(bin_boundaries=[0.0, 1.0])(torch.tensor([[-0.5, 0.0, 2.0]])).tolist()
        [[0, 1, 2]]
    """

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False,
                 dtype=None, name=None, **kwargs):
        super().__init__(dtype=dtype, name=name, **kwargs)
        self.output_mode = checks.one_of(self, "output_mode", output_mode, ("int", "one_hot", "multi_hot", "count"))
        checks.unsupported(self, "Sparse outputs are not available on torch; leave it False.", sparse=sparse)
        if num_bins is not None:
            checks.positive_int(self, "num_bins", num_bins, allow_zero=True)
        if num_bins is not None and bin_boundaries is not None:
            raise ConfigError(self._error("takes num_bins or bin_boundaries, not both",
                                          f"num_bins={num_bins!r}, bin_boundaries={bin_boundaries!r}"))
        if num_bins is None and bin_boundaries is None:
            raise ConfigError(self._error("needs num_bins (to adapt) or bin_boundaries",
                                          "num_bins=None, bin_boundaries=None"))
        self.bin_boundaries = None if bin_boundaries is None else self._boundaries(bin_boundaries)
        self.num_bins = num_bins
        self.epsilon = checks.number_in(self, "epsilon", epsilon, 0.0, 1.0, high_inclusive=True)
        if self.epsilon == 0:
            raise ConfigError(self._error("needs epsilon greater than 0", f"epsilon={epsilon!r}"))
        self.summary = np.array([[], []], dtype="float32")

    def _boundaries(self, values) -> list[float]:
        array = np.asarray(to_numpy(values), dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(array)) or np.any(np.diff(array) < 0):
            raise ConfigError(self._error("needs finite, sorted bin_boundaries", f"bin_boundaries={values!r}"))
        return array.tolist()

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            boundaries = config.pop("bin_boundaries")  # an adapted layer: Keras writes both
            layer = cls(**config)
            layer.bin_boundaries = layer._boundaries(boundaries)
            return layer
        return cls(**config)

    def adapt(self, data, steps: int | None = None) -> None:
        """Learn ``num_bins`` quantile boundaries from an array or tensor (at once), or an iterable of batches
        (a list, a generator, a DataLoader), merging Keras's summaries batch by batch."""
        if self.num_bins is None:
            raise ValueError(self._error("was given bin_boundaries, so it cannot adapt", "num_bins=None",
                                         "Create it with num_bins=... to adapt."))
        whole = isinstance(data, (np.ndarray, torch.Tensor))
        batches = iter([data]) if whole else adapt_batches(iter(data))[0]
        self.summary = np.array([[], []], dtype="float32")
        for i, batch in enumerate(batches):
            if steps is not None and i >= steps:
                break
            self.summary = _merge(_summarize(to_numpy(batch).astype("float32"), self.epsilon), self.summary,
                                  self.epsilon)
        self.bin_boundaries = _compress(self.summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def _depth(self) -> int:
        if self.bin_boundaries is not None:
            return len(self.bin_boundaries) + 1
        return self.num_bins

    def compute_output_shape(self, input_shape):
        return _encoded_shape(self, input_shape, self.output_mode, self._depth())

    def compute_output_dtype(self, inputs):
        return "int32" if self.output_mode == "int" else self.compute_dtype

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError(self._error("has no bin boundaries yet", "bin_boundaries=None",
                                         "Pass bin_boundaries, or call adapt(data) first."))
        x = inputs
        bins = torch.tensor(self.bin_boundaries, dtype=torch.float32, device=x.device)  # Keras's floatx tensor
        if x.dtype == torch.bool:
            x = x.to(torch.uint8)
        if x.is_floating_point():
            bins = bins.to(x.dtype)
        else:
            x, bins = x.to(torch.float64), bins.to(torch.float64)
        indices = torch.bucketize(x, bins, right=True).to(torch.int32)
        if self.output_mode == "int":
            return indices
        return encode_categorical(indices, self.output_mode, self._depth(), dtypes.to_torch(self.compute_dtype))

    def cost(self, input_shape, output_shape):
        return _encode_cost(self, input_shape, output_shape,
                            f"finds each value's bin among {self._depth()} (a binary search over the boundaries)")

    def get_config(self):
        return {**super().get_config(), "bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode, "sparse": False}


# ---------------------------------------------------------------------- hashing
def _as_hash_text(values: np.ndarray) -> list[bytes]:
    """What TensorFlow hashes: strings' UTF-8 bytes; numbers as their decimal text (floats cast to int64)."""
    if values.dtype == object:
        return [v.encode("utf-8") for v in values.reshape(-1).tolist()]
    if values.dtype.kind == "f":
        values = values.astype(np.int64)
    if values.dtype.kind not in "iu":
        raise TypeError(f"Hashing takes strings, integers or floats. Received: dtype {values.dtype}")
    return [str(int(v)).encode("ascii") for v in values.reshape(-1).tolist()]


def _numbers(inputs) -> tuple[np.ndarray, torch.device | None]:
    """A batch as numpy (strings as an object array of str) and the device a tensor came from."""
    if isinstance(inputs, torch.Tensor):
        return inputs.detach().cpu().numpy(), inputs.device
    if is_string_data(inputs):
        return as_strings(inputs), None
    return np.asarray(inputs), None


class Hashing(Layer):
    """Hashes strings or numbers into ``num_bins`` bins: FarmHash ``Fingerprint64`` of the value (numbers as
    their decimal text, floats cast to int64 first) modulo ``num_bins``, as Keras computes it. With
    ``mask_value``, that value goes to bin 0 and the others to ``1 + hash mod (num_bins - 1)``.

    Strings are hashed before the torch graph runs (a list or numpy array of ``str``, or a string ``Input``);
    numbers come in as a tensor. Outputs int64 bins (``output_mode="int"``) or float32 one-hot / multi-hot /
    count vectors.

    Example:
        >>> layers.Hashing(num_bins=3)(["A", "B", "C", "D", "E"]).tolist()
        [1, 0, 1, 1, 2]
    """

    takes_strings = True

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else "float32"
        super().__init__(**kwargs)
        self.num_bins = checks.positive_int(self, "num_bins", num_bins)
        self.output_mode = checks.one_of(self, "output_mode", output_mode, ("int", "one_hot", "multi_hot", "count"))
        if output_mode == "int" and self.dtype not in (torch.int32, torch.int64):
            raise ConfigError(self._error("needs an integer dtype (int32 or int64) with output_mode='int'",
                                          f"dtype={kwargs['dtype']!r}"))
        checks.unsupported(self, "SipHash with a salt is not implemented; leave salt=None (FarmHash is used).",
                           salt=salt)
        checks.unsupported(self, "Sparse outputs are not available on torch; leave it False.", sparse=sparse)
        self.mask_value = mask_value
        self.salt = None

    def __call__(self, inputs, *args, **kwargs):
        if not contains_symbolic(inputs) and not isinstance(inputs, torch.Tensor):
            return self.call(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def call_strings(self, inputs) -> torch.Tensor:
        return self.call(inputs)

    def call(self, inputs):
        values, device = _numbers(inputs)
        if not self.built:
            self._build_from(tuple(values.shape))
        if self.output_mode == "one_hot" and values.ndim > 0 and values.shape[-1] == 1:
            values = values.squeeze(-1)
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mask = (values == self.mask_value).reshape(-1)
        hashed = np.array([fingerprint64(b) % bins for b in _as_hash_text(values)], dtype=np.int64)
        if mask is not None:
            hashed = np.where(mask, 0, hashed + 1)
        out = torch.from_numpy(hashed.reshape(values.shape))
        if device is not None:
            out = out.to(device)
        if self.output_mode == "int":
            return out.to(self.dtype)
        return encode_categorical(out, self.output_mode, self.num_bins, self.dtype)

    def compute_output_shape(self, input_shape):
        return _encoded_shape(self, input_shape, self.output_mode, self.num_bins)

    def compute_output_dtype(self, inputs):
        return dtypes.name_of(self.dtype)

    def cost(self, input_shape, output_shape):
        return Cost(params=0, macs=0, other_flops=0, rf=("pointwise",) if self.output_mode in ("int", "one_hot")
                    else ("global",),
                    reads=f"{STRING_NOTE}: hashes each value (FarmHash) into {self.num_bins} bins")

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "salt": None, "mask_value": self.mask_value,
                "output_mode": self.output_mode, "sparse": False}


_CROSS_HASH_KEY = 0xDECAFCAFFE  # tf.sparse.cross_hashed's default hash key


class HashedCrossing(Layer):
    """Crosses two or more categorical features into ``num_bins`` bins: TensorFlow's ``sparse.cross_hashed``
    (each feature's FarmHash — integers as they are — folded with ``FingerprintCat64``), as Keras computes it.

    Call it on a list of features of equal shape ``()``, ``(batch,)`` or ``(batch, 1)``, integers or strings.

    Example:
        >>> layers.HashedCrossing(num_bins=5)((["A", "B", "A", "B", "A"], [101, 101, 101, 102, 102])).tolist()
        [1, 4, 1, 1, 3]
    """

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None, **kwargs):
        if output_mode == "int" and dtype is None:
            dtype = "int64"
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.num_bins = checks.positive_int(self, "num_bins", num_bins)
        self.output_mode = checks.one_of(self, "output_mode", output_mode, ("int", "one_hot"))
        checks.unsupported(self, "Sparse outputs are not available on torch; leave it False.", sparse=sparse)

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple)) and not contains_symbolic(inputs) and \
                not all(isinstance(x, torch.Tensor) for x in inputs):
            return self.call(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def _check(self, shapes) -> tuple:
        if not isinstance(shapes, (list, tuple)) or len(shapes) < 2:
            raise ShapeError(self._error("crosses a list of at least two features", f"input shapes {shapes}"))
        first = tuple(shapes[0])
        if len(first) > 2 or (len(first) == 2 and first[-1] != 1) or any(tuple(s) != first for s in shapes[1:]):
            raise ShapeError(self._error("crosses features of equal shape (), (batch,) or (batch, 1)",
                                         f"input shapes {[tuple(s) for s in shapes]}"))
        return first

    def compute_output_shape(self, input_shape):
        first = self._check(input_shape)
        if self.output_mode == "int":
            return first
        return (first if not first or first[-1] != 1 else first[:-1]) + (self.num_bins,)

    def compute_output_dtype(self, inputs):
        return "int64" if self.output_mode == "int" else self.compute_dtype

    def call(self, inputs):
        features = [_numbers(x) for x in inputs]
        shape = self._check([v.shape for v, _ in features])
        device = next((d for _, d in features if d is not None), None)
        columns = []
        for values, _ in features:
            flat = values.reshape(-1)
            if values.dtype == object:
                columns.append([fingerprint64(s.encode("utf-8")) for s in flat.tolist()])
            elif values.dtype.kind in "iu":
                columns.append([int(v) & ((1 << 64) - 1) for v in flat.tolist()])
            else:
                raise TypeError(self._error("crosses integer or string features", f"a feature of dtype {values.dtype}"))
        crossed = []
        for row in zip(*columns):
            h = _CROSS_HASH_KEY
            for fp in row:
                h = fingerprint_cat64(h, fp)
            crossed.append(h % self.num_bins)
        out = torch.tensor(crossed, dtype=torch.int64).reshape(shape)
        if device is not None:
            out = out.to(device)
        if self.output_mode == "int":
            return out
        return encode_categorical(out, "one_hot", self.num_bins, dtypes.to_torch(self.compute_dtype))

    def cost(self, input_shape, output_shape):
        return Cost(params=0, macs=0, other_flops=0, rf=("pointwise",),
                    reads=f"{STRING_NOTE}: hashes each combination of feature values (FarmHash) into "
                          f"{self.num_bins} bins")

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "output_mode": self.output_mode, "sparse": False}
