"""Small helpers the chapters share: progress lines while training, splits and scores."""
from __future__ import annotations

import time

import numpy as np

from ..training.callbacks import Callback

__all__ = ["EpochLines", "split_indices", "balanced_accuracy", "plt"]


class EpochLines(Callback):
    """Prints one short line every ``every`` epochs (and the last), so long trainings show progress."""

    def __init__(self, echo, label: str, every: int = 1):
        super().__init__()
        self.echo, self.label, self.every = echo, label, max(1, every)
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._t0)
        epochs = self.params.get("epochs", epoch + 1)
        if (epoch + 1) % self.every == 0 or epoch + 1 == epochs:
            parts = "  ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
            self.echo(f"    {self.label}  epoch {epoch + 1}/{epochs}  {parts}  ({self.seconds[-1]:.2f} s)")


def split_indices(n: int, test_fraction: float, seed: int, labels: np.ndarray | None = None):
    """Shuffled train/test indices; stratified by ``labels`` when given (each class split alike)."""
    rng = np.random.default_rng(seed)
    if labels is None:
        order = rng.permutation(n)
        cut = int(round(n * (1 - test_fraction)))
        return order[:cut], order[cut:]
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cut = int(round(len(idx) * (1 - test_fraction)))
        train.append(idx[:cut])
        test.append(idx[cut:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The mean over classes of the fraction of that class predicted right (0.5 for a constant guess)."""
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


def plt():
    """matplotlib's pyplot on the file-only Agg backend (the tour runs without a screen)."""
    try:
        import matplotlib  # optional extra (glassnet[tour]); only plots need it
    except ImportError as exc:
        raise ImportError("The tour draws its plots with matplotlib, which is not installed. Install the tour's "
                          "extras: pip install 'glassnet[tour]' (or run `make demo`).") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot  # after choosing the Agg backend above
    return pyplot
