"""Execution engines behind one call each: a layer asks, a kernel answers or raises ``NoKernel`` and
the layer runs its reference code. ``recurrent`` holds the time-loop paths of SimpleRNN, LSTM and GRU;
``sequence`` and ``native`` the whole-sequence nodes (LSTM, GRU, SimpleRNN) and their compiled C recurrences."""
from . import recurrent
from .recurrent import NoKernel

__all__ = ["recurrent", "NoKernel"]
