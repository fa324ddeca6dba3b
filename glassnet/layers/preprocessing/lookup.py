"""Vocabulary lookups: StringLookup (strings → indices, before the torch graph) and IntegerLookup (integers →
indices, torch ops), as Keras 3 computes them.

A vocabulary is given (``vocabulary=[...]``) or learnt by ``adapt``: tokens sorted by count, ties broken by
the token itself, high to low, cut to ``max_tokens``. Indices: ``0`` for the mask token (when there is one and
``output_mode="int"``), then ``num_oov_indices`` out-of-vocabulary indices, then the tokens. Several OOV
indices are chosen by FarmHash (strings) or ``value mod n`` (integers), as Keras does. ``output_mode`` other
than ``"int"`` encodes the indices (``one_hot``, ``multi_hot``, ``count``, ``tf_idf``) as float32 vectors — the
dtype Keras declares for them (its TensorFlow lookup hands back int64 counts, which its layers then cast);
``invert=True`` maps indices back to tokens.

Files: the config holds the vocabulary (as Keras's does when one was given; an adapted one too, so ``.glassnet``
files and ``from_config`` keep it). In ``.keras`` files an adapted vocabulary is written where Keras writes it:
``assets/<layer path>/vocabulary.txt``, one token a line, and ``tf_idf`` weights in ``<layer path>/vars``
under ``idf_weights`` (``keras_file_config``, ``keras_assets``, ``keras_variables``, ``load_keras_state``).
"""
from __future__ import annotations

import codecs

import numpy as np
import torch

from ...errors import ConfigError
from ...graph import contains_symbolic
from ._index_lookup import _IndexLookup
from .encoding import STRING_NOTE, as_strings, to_numpy

__all__ = ["StringLookup", "IntegerLookup"]


class StringLookup(_IndexLookup):
    """Maps strings to integer indices through a vocabulary (Keras's ``StringLookup``).

    Strings are looked up in Python before the torch graph runs (torch has no string tensors): call the layer
    on a list or a numpy array of ``str``; it returns an int64 tensor (``output_mode="int"``) or float32
    one-hot / multi-hot / count / TF-IDF vectors. ``invert=True`` maps an integer tensor back
    to a numpy array of strings. In a model it reads a string ``Input(..., dtype="string")``.

    Args:
        max_tokens: the largest vocabulary (mask and OOV indices included); None: no limit.
        num_oov_indices: indices for out-of-vocabulary strings (0: such strings are an error; more than 1: a
            FarmHash of the string chooses one).
        mask_token: the string mapped to 0 (int mode) or dropped (other modes); None: no mask.
        oov_token: the string ``invert`` returns for OOV indices.
        vocabulary: a list of strings (special tokens optional, first), or None to ``adapt``.
        idf_weights: the IDF weight of each vocabulary entry, for ``output_mode="tf_idf"``.
        invert: map indices to strings.
        output_mode: ``"int"``, ``"one_hot"``, ``"multi_hot"``, ``"count"`` or ``"tf_idf"``.
        pad_to_max_tokens: encoded outputs have ``max_tokens`` slots rather than the vocabulary size.
        encoding: how ``bytes`` inputs are decoded.

    Example:
        >>> layers.StringLookup(vocabulary=["a", "b", "c"])(["a", "c", "z"]).tolist()
        [1, 3, 0]
    """

    takes_strings = True

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", name=None, salt=None, oov_method="floormod", vocabulary_dtype=None, **kwargs):
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError) as exc:
            raise ConfigError(f"StringLookup: the `encoding` argument must name a text encoding. "
                              f"Received: encoding={encoding!r}") from exc
        self.encoding = encoding
        if vocabulary_dtype not in (None, "string"):
            raise ConfigError(f"StringLookup holds strings; vocabulary_dtype must be 'string'. "
                              f"Received: vocabulary_dtype={vocabulary_dtype!r}")
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, oov_method, salt, name=name, **kwargs)

    def __call__(self, inputs, *args, **kwargs):
        if not self.invert and not contains_symbolic(inputs):
            if isinstance(inputs, torch.Tensor):
                raise TypeError(self._error("looks up strings; torch tensors hold no strings",
                                            f"a tensor of dtype {inputs.dtype}",
                                            "Pass a list or a numpy array of str."))
            return self.call_strings(inputs)
        if self.invert and contains_symbolic(inputs):
            raise TypeError(self._error(
                "with invert=True outputs strings, which a torch graph cannot carry",
                "a symbolic input", "Call it on the model's predictions, outside the model."))
        return super().__call__(inputs, *args, **kwargs)

    def call_strings(self, inputs) -> torch.Tensor:
        """The string stage: strings → indices (→ encoded vectors)."""
        strings = as_strings(inputs, self.encoding)
        if not self.built:
            self._build_from(strings.shape)
        self._require_vocabulary()
        indices = np.asarray(self.lookup_tokens(strings.reshape(-1).tolist()), dtype=np.int64)
        return self.encode(torch.from_numpy(indices.reshape(strings.shape)))

    def call(self, inputs):  # invert: indices → strings (numpy, outside the torch graph)
        self._require_vocabulary()
        return self._inverted(to_numpy(inputs).astype(np.int64))

    def cost(self, input_shape, output_shape):
        what = "maps indices back to strings" if self.invert else "looks up each string"
        return self._lookup_cost(input_shape, output_shape, f"{STRING_NOTE}: {what}")

    def get_config(self):
        config = super().get_config()
        del config["vocabulary_dtype"]
        return {**config, "encoding": self.encoding}


class IntegerLookup(_IndexLookup):
    """Maps integers to indices through a vocabulary of integers (Keras's ``IntegerLookup``), with torch ops.

    Args as StringLookup's, with integer ``mask_token`` (default None) and ``oov_token`` (default -1);
    several OOV indices take ``value mod num_oov_indices`` (``oov_method="floormod"``) or a FarmHash of the
    value's decimal text (``oov_method="farmhash"``).

    Example:
        >>> import torch
        >>> layers.IntegerLookup(vocabulary=[12, 36, 1138])(torch.tensor([12, 1138, 7])).tolist()
        [1, 3, 0]
    """

    _strings = False

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, oov_method="floormod", salt=None, name=None, **kwargs):
        if vocabulary_dtype != "int64":
            raise ConfigError(f"IntegerLookup supports only vocabulary_dtype='int64'. "
                              f"Received: vocabulary_dtype={vocabulary_dtype!r}")
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, oov_method, salt, name=name, **kwargs)

    def _sorted_table(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        if getattr(self, "_numpy_table", None) is None:
            keys = np.asarray(self._tokens, dtype=np.int64)
            order = np.argsort(keys, kind="stable")
            self._numpy_table = (keys[order], (order + self._token_start_index()).astype(np.int64))
        keys, values = self._numpy_table
        return torch.as_tensor(keys, device=device), torch.as_tensor(values, device=device)

    def call(self, inputs):
        x = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
        if x.is_floating_point() or x.dtype == torch.bool:
            raise TypeError(self._error("looks up integers", f"a tensor of dtype {x.dtype}",
                                        "Cast the input to an integer type."))
        self._require_vocabulary()
        x = x.long()
        if self.invert:
            return torch.as_tensor(self._inverted(x.cpu().numpy()), device=x.device)
        keys, values = self._sorted_table(x.device)
        if len(keys):
            pos = torch.searchsorted(keys, x).clamp(max=len(keys) - 1)
            found = keys[pos] == x
            out = torch.where(found, values[pos], torch.full_like(x, -1))
        else:
            found, out = torch.zeros_like(x, dtype=torch.bool), torch.full_like(x, -1)
        missing = ~found
        if self.mask_token is not None:
            is_mask = x == self.mask_token
            missing &= ~is_mask
            out = torch.where(is_mask, torch.full_like(x, 0 if self.output_mode == "int" else -1), out)
        if bool(missing.any()):
            n = self.num_oov_indices
            if n == 0:
                raise ValueError(self._error("found values outside its vocabulary with num_oov_indices=0",
                                             f"values {x[missing][:5].tolist()}", "Set num_oov_indices=1."))
            if n == 1 or self.oov_method == "floormod":
                oov = self._oov_start_index() + (torch.remainder(x, n) if n > 1 else torch.zeros_like(x))
            else:
                hashed = [self._oov_index(v) for v in x.reshape(-1).tolist()]
                oov = torch.as_tensor(hashed, device=x.device).reshape(x.shape)
            out = torch.where(missing, oov, out)
        return self.encode(out)

    def cost(self, input_shape, output_shape):
        what = "maps indices back to integers" if self.invert else "looks up each integer (a binary search)"
        return self._lookup_cost(input_shape, output_shape, what)
