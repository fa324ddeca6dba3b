"""Keras's ``IndexLookup``: what StringLookup and IntegerLookup share — the vocabulary (given or adapted,
streamed batch by batch), the lookup with mask and OOV indices, the encodings, the inverse, and the state
Keras keeps outside the config in ``.keras`` files (see ``lookup.py``)."""
from __future__ import annotations

import collections
from typing import Any

import numpy as np
import torch

from ... import checks
from ...errors import ConfigError, ShapeError
from ..base import Layer
from ..cost import Cost, per_sample
from ._farmhash import hash_bucket
from .encoding import adapt_batches, as_strings, encode_categorical, to_numpy

__all__ = ["output_mode_of"]

_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
MAX_VOCABULARY_LINE = 1 << 16  # a vocabulary token longer than this in a file is refused


def output_mode_of(owner, mode) -> str:
    """Keras's output modes, with its old names ``binary`` and ``tf-idf``."""
    mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(mode, mode)
    return checks.one_of(owner, "output_mode", mode, _MODES)


class _IndexLookup(Layer):
    """The shared machinery of StringLookup and IntegerLookup (Keras's ``IndexLookup``)."""

    _strings = True  # the vocabulary holds strings (StringLookup) or integers (IntegerLookup)
    keras_asset_files = ("vocabulary.txt",)  # what Keras's save_assets writes

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                 output_mode, pad_to_max_tokens, sparse, oov_method, salt, vocabulary_size=None,
                 has_input_vocabulary=None, **kwargs):
        super().__init__(**kwargs)
        self.output_mode = output_mode_of(self, output_mode)
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                       or max_tokens <= 1):
            raise ConfigError(self._error("needs max_tokens greater than 1 when it is set",
                                          f"max_tokens={max_tokens!r}"))
        self.max_tokens = max_tokens
        self.num_oov_indices = checks.positive_int(self, "num_oov_indices", num_oov_indices, allow_zero=True)
        self.pad_to_max_tokens = checks.boolean(self, "pad_to_max_tokens", pad_to_max_tokens)
        if self.pad_to_max_tokens and max_tokens is None:
            raise ConfigError(self._error("needs max_tokens when pad_to_max_tokens is True",
                                          f"max_tokens={max_tokens!r}"))
        self.invert = checks.boolean(self, "invert", invert)
        if self.invert and self.output_mode != "int":
            raise ConfigError(self._error("needs output_mode='int' when invert is True",
                                          f"output_mode={output_mode!r}"))
        if idf_weights is not None and self.output_mode != "tf_idf":
            raise ConfigError(self._error("takes idf_weights only with output_mode='tf_idf'",
                                          f"output_mode={output_mode!r}"))
        self.oov_method = checks.one_of(self, "oov_method", oov_method, ("floormod", "farmhash"))
        checks.unsupported(self, "Sparse outputs are not available on torch; leave it False.", sparse=sparse)
        checks.unsupported(self, "SipHash with a salt is not implemented; leave salt=None (FarmHash is used).",
                           salt=salt)
        if isinstance(vocabulary, str):
            raise ConfigError(self._error(
                "reads no vocabulary file (a file outside the model is not loaded)", f"vocabulary={vocabulary!r}",
                "Pass the vocabulary as a list of tokens."))
        self.mask_token = self._token(mask_token, "mask_token") if mask_token is not None else None
        self.oov_token = self._token(oov_token, "oov_token") if oov_token is not None else None
        self.sparse = False
        self.input_vocabulary = None if vocabulary is None else self._token_list(vocabulary, "vocabulary")
        self.input_idf_weights = None if idf_weights is None else np.asarray(
            to_numpy(idf_weights), dtype=np.float64).reshape(-1).tolist()
        self._has_input_vocabulary = bool(has_input_vocabulary) if has_input_vocabulary is not None \
            else vocabulary is not None
        self._frozen_vocab_size = vocabulary_size
        self._tokens: list | None = None
        self._table: dict = {}
        self._idf: np.ndarray | None = None
        self._counts: collections.Counter = collections.Counter()
        self._doc_counts: collections.Counter = collections.Counter()
        self._num_documents = 0
        if self.output_mode == "tf_idf" and self._has_input_vocabulary and idf_weights is None:
            raise ConfigError(self._error("needs idf_weights with a vocabulary when output_mode='tf_idf'",
                                          "idf_weights=None"))
        if vocabulary is not None:
            self.set_vocabulary(self.input_vocabulary, self.input_idf_weights)

    # ------------------------------------------------------------------ tokens
    def _token(self, value, name: str):
        if self._strings:
            if isinstance(value, bytes):
                value = value.decode(self.encoding)
            if not isinstance(value, str):
                raise ConfigError(self._error(f"needs {name} to be a string", f"{name}={value!r}"))
            return value
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ConfigError(self._error(f"needs {name} to be an integer", f"{name}={value!r}"))
        return int(value)

    def _token_list(self, values, name: str) -> list:
        values = to_numpy(values) if isinstance(values, torch.Tensor) else values
        flat = np.asarray(values, dtype=object).reshape(-1).tolist()
        return [self._token(v, name) for v in flat]

    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    # ------------------------------------------------------------------ the vocabulary
    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Set the vocabulary (and, for ``tf_idf``, the IDF weights), with or without the special tokens first."""
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(self._error("needs idf_weights with its vocabulary when output_mode='tf_idf'"))
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(self._error("takes idf_weights only with output_mode='tf_idf'"))
        vocabulary = self._token_list(vocabulary, "vocabulary")
        if not vocabulary:
            raise ValueError(self._error("cannot take an empty vocabulary", "vocabulary=[]"))
        token_start = self._token_start_index()
        special = [self.mask_token] * self._oov_start_index() + [self.oov_token] * self.num_oov_indices
        found_special = vocabulary[:token_start] == special
        tokens = vocabulary[token_start:] if found_special else vocabulary
        repeated = [t for t, c in collections.Counter(tokens).items() if c > 1]
        if repeated:
            raise ValueError(self._error("has repeated terms in its vocabulary", f"repeated terms {repeated[:10]}",
                                         "Pass each term once."))
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError(self._error(
                "found its mask token at an unexpected place in the vocabulary",
                f"mask_token={self.mask_token!r}",
                f"Leave the special tokens out, or put them first in this order: {special}."))
        if self.oov_token is not None and self.invert and self.oov_token in tokens:
            raise ValueError(self._error(
                "found its OOV token at an unexpected place in the vocabulary", f"oov_token={self.oov_token!r}",
                f"Leave the special tokens out, or put them first in this order: {special}."))
        size = token_start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(self._error("was given a vocabulary larger than max_tokens",
                                         f"vocabulary size {size}, max_tokens={self.max_tokens}"))
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            idf = np.asarray(to_numpy(idf_weights), dtype=np.float64).reshape(-1)
            if len(idf) != len(vocabulary):
                raise ValueError(self._error("needs idf_weights as long as the vocabulary",
                                             f"len(idf_weights)={len(idf)}, len(vocabulary)={len(vocabulary)}"))
            front = 0 if found_special else token_start
            back = self.max_tokens - front - len(idf) if self.pad_to_max_tokens else 0
            self._idf = np.pad(idf, (front, back), constant_values=(np.average(idf) if len(idf) else 0, 0)
                               ).astype(np.float32)

    def _set_tokens(self, tokens: list) -> None:
        start = self._token_start_index()
        self._tokens = list(tokens)
        self._table = {t: start + i for i, t in enumerate(self._tokens)}
        self._numpy_table = None
        self._record_vocabulary_size()

    def _record_vocabulary_size(self) -> None:
        new = self.vocabulary_size()
        if self.output_mode != "int" and not self.pad_to_max_tokens and self._frozen_vocab_size is not None \
                and new != self._frozen_vocab_size:
            raise RuntimeError(self._error(
                f"cannot change its vocabulary size once set with output_mode={self.output_mode!r}",
                f"old size {self._frozen_vocab_size}, new size {new}",
                "Create a new layer, or set pad_to_max_tokens=True with max_tokens."))
        self._frozen_vocab_size = new

    def vocabulary_size(self) -> int:
        """The vocabulary's size, mask and OOV indices included."""
        return self._token_start_index() + len(self._tokens or [])

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The vocabulary: a term's index in it is the index the layer outputs for it."""
        vocab = [self.mask_token] * self._oov_start_index() + [self.oov_token] * self.num_oov_indices + \
            list(self._tokens or [])
        return vocab if include_special_tokens else vocab[self._token_start_index():]

    @property
    def idf_weights(self) -> np.ndarray | None:
        return self._idf

    # ------------------------------------------------------------------ adapt
    def adapt(self, data, steps: int | None = None) -> None:
        """Learn the vocabulary (and document frequencies for ``tf_idf``) from ``data``: an array, a list or a
        tensor (each element a document of one token), or an iterable of batches — a generator, a DataLoader —
        read batch by batch (a rank-1 batch is one document, a rank-2 batch one document per row)."""
        if self._has_input_vocabulary:
            raise ValueError(self._error("cannot adapt after a vocabulary was given",
                                         "vocabulary=...", "Create the layer without a vocabulary to adapt it."))
        self._counts.clear()
        self._doc_counts.clear()
        self._num_documents = 0
        batches, whole = adapt_batches(data)
        for i, batch in enumerate(batches):
            if steps is not None and i >= steps:
                break
            values = self._adapt_values(batch)
            if whole and values.ndim == 1:
                values = values[:, None]
            self.update_state(values)
        self.finalize_state()

    def _adapt_values(self, batch) -> np.ndarray:
        if self._strings:
            return as_strings(batch, self.encoding)
        values = to_numpy(batch)
        if values.dtype.kind not in "iu":
            raise TypeError(self._error("adapts to integers", f"a batch of dtype {values.dtype}"))
        return values.astype(np.int64)

    def update_state(self, data) -> None:
        """Count the tokens of one batch of documents (a rank-1 batch is one document)."""
        values = data if isinstance(data, np.ndarray) else self._adapt_values(data)
        if values.ndim == 0:
            values = values.reshape(1)
        docs = [values.reshape(-1).tolist()] if values.ndim == 1 else [r.reshape(-1).tolist() for r in values]
        self.update_documents(docs)

    def update_documents(self, docs) -> None:
        """Count tokens from documents given as lists of tokens."""
        for doc in docs:
            self._counts.update(doc)
            if self.output_mode == "tf_idf":
                self._doc_counts.update(set(doc))
                self._num_documents += 1

    def finalize_state(self) -> None:
        if self._has_input_vocabulary or not self._counts:
            return
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                self._counts.pop(special, None)
        items = sorted(self._counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        if self.max_tokens:
            items = items[:max(self.max_tokens - self._token_start_index(), 0)]
        tokens = [t for t, _ in items]
        if self.output_mode == "tf_idf":
            docs = np.array([self._doc_counts[t] for t in tokens], dtype=np.float64)
            idf = np.log(1 + self._num_documents / (1 + docs)).astype(np.float32)
            mean = np.mean(idf, dtype=np.float32) if len(idf) else np.float32(0)
            idf = np.concatenate([np.full(self._token_start_index(), mean, np.float32), idf])
            if self.pad_to_max_tokens and self.max_tokens is not None:
                idf = np.pad(idf, (0, self.max_tokens - len(idf)))
            self._idf = idf
        self._set_tokens(tokens)
        self._counts.clear()
        self._doc_counts.clear()
        self._num_documents = 0

    # ------------------------------------------------------------------ the lookup
    def _depth(self) -> int:
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        if depth is None:
            raise ConfigError(self._error(
                f"has no vocabulary yet, so its output_mode={self.output_mode!r} has no size",
                "vocabulary=None", "Pass a vocabulary, or call adapt(data) before using the layer."))
        return depth

    def _require_vocabulary(self) -> None:
        if self._tokens is None:
            raise ValueError(self._error("has no vocabulary yet", "vocabulary=None",
                                         "Pass a vocabulary, or call adapt(data) first."))

    def _oov_index(self, token) -> int:
        """The OOV index of a token outside the vocabulary (several OOV indices: hashed, as Keras)."""
        n = self.num_oov_indices
        if n == 0:
            raise ValueError(self._error("found values outside its vocabulary with num_oov_indices=0",
                                         f"value {token!r}", "Set num_oov_indices=1."))
        start = self._oov_start_index()
        if n == 1:
            return start
        if not self._strings and self.oov_method == "floormod":
            return start + token % n
        return start + hash_bucket(str(token), n)

    def lookup_tokens(self, tokens: list) -> list[int]:
        """Indices of a flat list of tokens (mask → 0 in int mode, -1 (dropped) in the encoded modes)."""
        mask = self.mask_token
        mask_value = 0 if self.output_mode == "int" else -1
        table = self._table
        out = []
        for t in tokens:
            if mask is not None and t == mask:
                out.append(mask_value)
            else:
                i = table.get(t)
                out.append(i if i is not None else self._oov_index(t))
        return out

    def encode(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices (mask dropped as -1) → the layer's output mode."""
        if self.output_mode == "int":
            return indices
        if indices.ndim > 2 and self.output_mode != "one_hot":
            raise ShapeError(self._error(
                f"encodes inputs of rank 1 or 2 with output_mode={self.output_mode!r}",
                f"input shape {tuple(indices.shape)}"))
        depth = self._depth()
        if self.output_mode == "tf_idf":
            counts = encode_categorical(indices, "count", depth, torch.float32)
            return counts * torch.as_tensor(self._idf[:depth], device=counts.device)
        return encode_categorical(indices, self.output_mode, depth, torch.float32)

    def _invert_table(self) -> np.ndarray:
        vocab = self.get_vocabulary()
        return np.asarray(vocab, dtype=object if self._strings else np.int64)

    def _inverted(self, indices: np.ndarray) -> np.ndarray:
        """Indices → tokens: vocabulary entries from the first token on, the mask token at 0, else OOV."""
        vocab = self._invert_table()
        start = self._token_start_index()
        inside = (indices >= start) & (indices < len(vocab))
        default = self.oov_token
        out = np.where(inside, vocab[np.clip(indices, 0, max(len(vocab) - 1, 0))] if len(vocab) else default,
                       default)
        if self.mask_token is not None:
            out = np.where(indices == 0, self.mask_token, out)
        return out.astype(object) if self._strings else out.astype(np.int64)

    # ------------------------------------------------------------------ shapes
    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self._depth()
        shape = tuple(input_shape)
        if self.output_mode == "one_hot":
            return (shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape) + (depth,)
        if len(shape) > 2:
            raise ShapeError(self._error(f"encodes inputs of rank 1 or 2 with output_mode={self.output_mode!r}",
                                         f"input shape {shape}"))
        return shape[:-1] + (depth,)

    def compute_output_dtype(self, inputs):
        if self.invert:
            return "string" if self._strings else "int64"
        return "int64" if self.output_mode == "int" else "float32"

    def _lookup_cost(self, input_shape, output_shape, what: str) -> Cost:
        size = self.vocabulary_size() if self._tokens is not None else (self._frozen_vocab_size or 0)
        encoded = "" if self.output_mode == "int" else f", encoded as {self.output_mode}"
        return Cost(params=0, macs=0, other_flops=0 if self._strings else per_sample(input_shape),
                    reads=f"{what} in a vocabulary of V = {size} entries (a table, not torch parameters){encoded}",
                    rf=("pointwise",) if self.output_mode in ("int", "one_hot") else ("global",))

    # ------------------------------------------------------------------ config and files
    def get_config(self) -> dict[str, Any]:
        adapted = self.input_vocabulary is None and self._tokens is not None
        vocabulary = self.get_vocabulary() if adapted else self.input_vocabulary
        idf = self.input_idf_weights
        if adapted and self.output_mode == "tf_idf" and self._idf is not None:
            idf = self._idf[:self.vocabulary_size()].astype(np.float64).tolist()
        config = {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                  "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
                  "mask_token": self.mask_token, "output_mode": self.output_mode, "sparse": False,
                  "pad_to_max_tokens": self.pad_to_max_tokens, "vocabulary_dtype": "int64",
                  "idf_weights": idf, "vocabulary": vocabulary, "vocabulary_size": self._frozen_vocab_size,
                  "oov_method": self.oov_method, "salt": None}
        if adapted:
            config["has_input_vocabulary"] = False  # learnt, not given: adapt may run again after loading
        return config

    def keras_file_config(self, config: dict) -> dict:
        """The config as Keras writes it in a ``.keras`` file: an adapted vocabulary goes to the assets."""
        config = dict(config)
        if config.pop("has_input_vocabulary", True) is False:
            config["vocabulary"], config["idf_weights"] = None, None
        return config

    def keras_assets(self) -> dict[str, str]:
        """Keras's ``save_assets``: ``vocabulary.txt`` when the vocabulary is not in the config."""
        if self.input_vocabulary is not None:
            return {}
        return {"vocabulary.txt": "\n".join(str(w) for w in self.get_vocabulary())}

    def keras_variables(self) -> dict[str, np.ndarray]:
        """Keras's ``save_own_variables``: the IDF weights of a ``tf_idf`` layer."""
        if self.output_mode == "tf_idf" and self._idf is not None:
            return {"idf_weights": self._idf.astype(np.float32)}
        return {}

    def keras_variable_names(self) -> tuple[str, ...]:
        return ("idf_weights",) if self.output_mode == "tf_idf" else ()

    def keras_variables_bytes(self) -> int:
        """The most bytes the named state can take in a file (float32 IDF weights of the vocabulary)."""
        return 4 * (self.max_tokens or self._frozen_vocab_size or 0) if self.output_mode == "tf_idf" else 0

    def load_keras_state(self, assets: dict[str, str], variables: dict[str, np.ndarray]) -> None:
        """Keras's ``load_own_variables`` and ``load_assets``: the IDF weights, then the vocabulary file."""
        idf = variables.get("idf_weights")
        if self.output_mode == "tf_idf" and idf is not None:
            self._idf = np.asarray(idf, dtype=np.float32).reshape(-1)
        text = assets.get("vocabulary.txt")
        if self.input_vocabulary is not None:
            return
        if text is None:
            raise ValueError(self._error("has neither a vocabulary in its config nor a vocabulary.txt asset"))
        lines = text.splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        if any(len(line) > MAX_VOCABULARY_LINE for line in lines):
            raise ValueError(self._error("found a vocabulary line longer than 65,536 characters"))
        values = lines if self._strings else [int(line) for line in lines]
        if self.output_mode == "tf_idf":
            if self._idf is None:
                raise ValueError(self._error("has a tf_idf vocabulary file but no idf_weights"))
            self.set_vocabulary(values, self._idf[:len(values)])
        else:
            self.set_vocabulary(values)
