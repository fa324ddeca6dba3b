"""``keras.optimizers.legacy``: Keras 2's optimizers, which Keras 3 (and glassnet) refuse with a pointer."""
from __future__ import annotations

__all__ = ["Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop", "SGD"]


class LegacyOptimizerWarning:
    def __init__(self, *args, **kwargs):
        raise ImportError("`keras.optimizers.legacy` is not supported in Keras 3, nor in glassnet. Use the optimizers "
                          "of `glassnet.optimizers` (Keras 3's), e.g. `gn.optimizers.Adam(learning_rate=1e-3)`.")


Adagrad = Adam = Ftrl = Optimizer = RMSprop = SGD = LegacyOptimizerWarning
