"""TextVectorization: strings → token indices (or multi-hot / count / TF-IDF vectors), as Keras 3 computes it.

Each string is standardised (``lower_and_strip_punctuation``, ``lower``, ``strip_punctuation`` or None — ASCII
letters and ASCII punctuation only, as TensorFlow's ``lower`` and Keras's punctuation pattern do), split
(``whitespace``: runs of ASCII whitespace; ``character``: Unicode code points; None: the whole string is one
token), turned into n-grams (joined by a space, widths in order) and looked up in a vocabulary that is given
or learnt by ``adapt`` (a StringLookup with mask token ``""``: index 0 is padding, 1 the OOV index).

This is string processing, done in Python before the torch graph runs: the layer takes a list or numpy array
of ``str`` and hands the graph an int64 tensor ``(batch, output_sequence_length)`` (``int``, zero-padded to
the longest text when the length is None) or ``(batch, vocabulary size)`` vectors.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from ... import checks
from ...dims import symbol
from ...errors import ConfigError, ShapeError
from ...graph import contains_symbolic
from ..base import Layer
from ..cost import Cost
from .encoding import STRING_NOTE, adapt_batches, as_strings, ragged_to_dense
from ._index_lookup import output_mode_of
from .lookup import StringLookup

__all__ = ["TextVectorization"]

# Keras's DEFAULT_STRIP_REGEX: ASCII punctuation (the range ,-. included)
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_ASCII_WHITESPACE = re.compile(r"[ \t\n\x0b\x0c\r]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def standardize_text(text: str, mode: str | None) -> str:
    if mode in ("lower", "lower_and_strip_punctuation"):
        text = text.translate(_ASCII_LOWER)
    if mode in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = _PUNCTUATION.sub("", text)
    return text


def split_text(text: str, mode: str) -> list[str]:
    if mode == "whitespace":
        return [t for t in _ASCII_WHITESPACE.split(text) if t]
    return list(text)


def ngrams(tokens: list[str], widths: tuple[int, ...]) -> list[str]:
    """``tf.strings.ngrams(tokens, widths, separator=" ")``: every n-gram of each width, widths in order."""
    out: list[str] = []
    for n in widths:
        out += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return out


class TextVectorization(Layer):
    """Turns strings into sequences of token indices or into bag-of-token vectors.

    Args:
        max_tokens: the largest vocabulary (padding and OOV included); None: no limit.
        standardize: ``"lower_and_strip_punctuation"`` (default), ``"lower"``, ``"strip_punctuation"`` or None.
        split: ``"whitespace"`` (default), ``"character"`` or None.
        ngrams: None, an int n (widths 1..n) or a tuple of widths.
        output_mode: ``"int"``, ``"multi_hot"``, ``"count"`` or ``"tf_idf"`` (``"one_hot"`` with split=None).
        output_sequence_length: ``int`` mode: cut or pad every sequence to this length; None: the longest.
        pad_to_max_tokens: encoded outputs have ``max_tokens`` slots.
        vocabulary: a list of tokens, or None to ``adapt``.
        idf_weights: for ``tf_idf`` with a vocabulary.
        encoding: how ``bytes`` inputs are decoded.

    Input shape:
        ``(batch,)`` or ``(batch, 1)`` strings.

    Output shape:
        ``(batch, output_sequence_length)`` int64 (``int``), else ``(batch, vocabulary size)``.

    Example:
        >>> tv = layers.TextVectorization(vocabulary=["earth", "wind", "and", "fire"], output_sequence_length=4)
        >>> tv(["Earth, wind and FIRE!"]).tolist()
        [[2, 3, 4, 5]]
    """

    takes_strings = True
    keras_asset_files = ("vocabulary.txt",)  # what Keras's save_assets writes

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None,
                 vocabulary_size=None, has_input_vocabulary=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if callable(standardize) or callable(split):
            raise ConfigError(self._error(
                "does not take Python functions as standardize or split (they cannot be saved or checked)",
                f"standardize={standardize!r}, split={split!r}", "Prepare the strings before the layer instead."))
        self.standardize = checks.one_of(self, "standardize", standardize,
                                         ("lower_and_strip_punctuation", "lower", "strip_punctuation", None))
        self.split = checks.one_of(self, "split", split, ("whitespace", "character", None))
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (ngrams is None or (isinstance(ngrams, int) and not isinstance(ngrams, bool) and ngrams >= 1) or (
                isinstance(ngrams, tuple) and ngrams and all(isinstance(n, int) and n >= 1 for n in ngrams))):
            raise ConfigError(self._error("needs ngrams as None, a positive int or a tuple of positive ints",
                                          f"ngrams={ngrams!r}"))
        if ngrams is not None and self.split is None:
            raise ConfigError(self._error("makes n-grams of split tokens only", f"ngrams={ngrams!r}, split=None",
                                          "Choose split='whitespace' or 'character'."))
        self.ngrams = ngrams
        self._widths = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self.output_mode = output_mode_of(self, output_mode)
        if self.output_mode == "one_hot" and self.split is not None:
            raise ConfigError(self._error("encodes one_hot only whole strings (split=None)",
                                          f"output_mode='one_hot', split={split!r}",
                                          "Use multi_hot or count for split text."))
        if output_sequence_length is not None:
            if self.output_mode != "int":
                raise ConfigError(self._error("takes output_sequence_length only with output_mode='int'",
                                              f"output_sequence_length={output_sequence_length!r}"))
            checks.positive_int(self, "output_sequence_length", output_sequence_length)
        self.output_sequence_length = output_sequence_length
        checks.unsupported(self, "Sparse and ragged outputs are not available on torch; leave them False.",
                           sparse=sparse, ragged=ragged)
        self.encoding = encoding
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=self.output_mode, encoding=encoding,
            vocabulary_size=vocabulary_size,
            has_input_vocabulary=vocabulary is not None if has_input_vocabulary is None else has_input_vocabulary)

    # ------------------------------------------------------------------ the vocabulary
    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights)

    def adapt(self, data, batch_size=None, steps: int | None = None) -> None:
        """Learn the vocabulary from texts: an array or list of strings (all at once) or an iterable of batches
        of strings — a generator, a DataLoader — standardised, split and counted batch by batch."""
        checks.unsupported(self, "Batch the data yourself (an iterable of batches).", batch_size=batch_size)
        lookup = self._lookup_layer
        if lookup._has_input_vocabulary:
            raise ValueError(self._error("cannot adapt after a vocabulary was given", "vocabulary=...",
                                         "Create the layer without a vocabulary to adapt it."))
        lookup._counts.clear()
        lookup._doc_counts.clear()
        lookup._num_documents = 0
        batches, _ = adapt_batches(data)
        for i, batch in enumerate(batches):
            if steps is not None and i >= steps:
                break
            lookup.update_documents(self._documents(as_strings(batch, self.encoding)))
        lookup.finalize_state()

    # ------------------------------------------------------------------ the string stage
    def _documents(self, strings: np.ndarray) -> list[list[str]]:
        """Standardised, split, n-grammed token lists, one per text (split=None: one per string)."""
        if self.split is None:
            flat = [standardize_text(s, self.standardize) for s in strings.reshape(-1).tolist()]
            rows = strings.reshape(strings.shape[0], -1) if strings.ndim > 1 else strings.reshape(-1, 1)
            width = rows.shape[1]
            return [flat[i * width:(i + 1) * width] for i in range(rows.shape[0])]
        strings = self._texts(strings)
        docs = [split_text(standardize_text(s, self.standardize), self.split) for s in strings.tolist()]
        return [ngrams(d, self._widths) for d in docs] if self._widths else docs

    def _texts(self, strings: np.ndarray) -> np.ndarray:
        if strings.ndim == 0:
            return strings.reshape(1)
        if strings.ndim > 1:
            if strings.shape[-1] != 1 or strings.ndim > 2:
                raise ShapeError(self._error(
                    "splits texts given as (batch,) or (batch, 1) strings",
                    f"input shape {strings.shape}", "Pass one text per row."))
            strings = strings[:, 0]
        return strings

    def __call__(self, inputs, *args, **kwargs):
        if contains_symbolic(inputs):
            return super().__call__(inputs, *args, **kwargs)
        if isinstance(inputs, torch.Tensor):
            raise TypeError(self._error("reads strings; torch tensors hold no strings",
                                        f"a tensor of dtype {inputs.dtype}", "Pass a list or a numpy array of str."))
        return self.call_strings(inputs)

    def call_strings(self, inputs) -> torch.Tensor:
        """The string stage: texts → int64 indices (or encoded vectors)."""
        strings = as_strings(inputs, self.encoding)
        if not self.built:
            self._build_from(tuple(strings.shape))
        lookup = self._lookup_layer
        lookup._require_vocabulary()
        if self.split is None:
            indices = np.asarray(lookup.lookup_tokens([standardize_text(s, self.standardize)
                                                       for s in strings.reshape(-1).tolist()]), dtype=np.int64)
            indices = indices.reshape(strings.shape)
            if self.output_mode != "int" and indices.ndim <= 1:
                indices = indices.reshape(-1, 1)
            elif self.output_mode == "int" and self.output_sequence_length is not None:
                rows = indices.reshape(-1, indices.shape[-1]) if indices.ndim > 0 else indices.reshape(1, 1)
                cut = ragged_to_dense(rows.tolist(), self.output_sequence_length, 0)
                indices = cut.reshape(*indices.shape[:-1], self.output_sequence_length)
            return lookup.encode(torch.from_numpy(np.ascontiguousarray(indices)))
        docs = [lookup.lookup_tokens(d) for d in self._documents(strings)]
        if self.output_mode == "int":
            return torch.from_numpy(ragged_to_dense(docs, self.output_sequence_length, 0))
        return lookup.encode(torch.from_numpy(ragged_to_dense(docs, None, -1)))

    def call(self, inputs):
        return self.call_strings(inputs)

    def cut_to_batch(self, encoded: torch.Tensor) -> torch.Tensor:
        """Rows of an encoding of many texts (zero-padded to the longest of them all) cut to the longest row
        of this batch, as the layer pads a batch on its own (index 0 is only ever padding after a split)."""
        if self.output_mode != "int" or self.output_sequence_length is not None or self.split is None \
                or encoded.ndim != 2:
            return encoded
        used = (encoded != 0).any(dim=0).nonzero()
        return encoded[:, :int(used[-1]) + 1 if len(used) else 0]

    # ------------------------------------------------------------------ shapes and cost
    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.split is not None and (len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1)):
            raise ShapeError(self._error("splits texts given as (batch,) or (batch, 1) strings",
                                         f"input shape {shape}", "Pass one text per row: Input(shape=(1,), "
                                         "dtype='string') or Input(shape=(), dtype='string')."))
        if self.output_mode == "int":
            if self.split is None:
                return shape if self.output_sequence_length is None else shape[:-1] + (self.output_sequence_length,)
            return (shape[0], self.output_sequence_length or symbol("T"))  # T: tokens of the longest text
        if self.split is None:
            shape = shape + (1,) if len(shape) <= 1 else shape
        else:
            shape = shape[:1] + (None,)
        return self._lookup_layer.compute_output_shape(shape)

    def compute_output_dtype(self, inputs):
        return "int64" if self.output_mode == "int" else "float32"

    def cost(self, input_shape, output_shape):
        size = self.vocabulary_size()
        steps = [self.standardize and f"standardises ({self.standardize})",
                 self.split and f"splits ({self.split})", self._widths and f"makes {list(self._widths)}-grams"]
        steps = ", ".join(s for s in steps if s)
        return Cost(params=0, macs=0, other_flops=0, rf=("global",),
                    reads=f"{STRING_NOTE}: {steps + ' and ' if steps else ''}looks up each token in a vocabulary of "
                          f"{size} entries (a table, not torch parameters), before the torch graph")

    # ------------------------------------------------------------------ config and files
    def get_config(self):
        lookup = self._lookup_layer.get_config()
        config = {**super().get_config(), "max_tokens": lookup["max_tokens"], "standardize": self.standardize,
                  "split": self.split, "ngrams": list(self.ngrams) if isinstance(self.ngrams, tuple) else self.ngrams,
                  "output_mode": self.output_mode, "output_sequence_length": self.output_sequence_length,
                  "pad_to_max_tokens": lookup["pad_to_max_tokens"], "sparse": False, "ragged": False,
                  "vocabulary": lookup["vocabulary"], "idf_weights": lookup["idf_weights"],
                  "encoding": self.encoding, "vocabulary_size": self.vocabulary_size()}
        if "has_input_vocabulary" in lookup:
            config["has_input_vocabulary"] = lookup["has_input_vocabulary"]
        return config

    def keras_file_config(self, config: dict) -> dict:
        return self._lookup_layer.keras_file_config(config)

    def keras_assets(self) -> dict[str, str]:
        return self._lookup_layer.keras_assets()

    def keras_variables(self) -> dict:
        return self._lookup_layer.keras_variables()

    def keras_variable_names(self) -> tuple[str, ...]:
        return self._lookup_layer.keras_variable_names()

    def keras_variables_bytes(self) -> int:
        return self._lookup_layer.keras_variables_bytes()

    def load_keras_state(self, assets: dict[str, str], variables: dict) -> None:
        self._lookup_layer.load_keras_state(assets, variables)
