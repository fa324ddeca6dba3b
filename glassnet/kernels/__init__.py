"""Execution engines behind one call each: a layer asks, a kernel answers or raises ``NoKernel`` and
the layer runs its reference code. ``recurrent`` holds the time-loop paths of SimpleRNN, LSTM and GRU;
``lstm_sequence`` and ``lstm_native`` the whole-sequence LSTM node and its compiled C recurrence."""
from . import recurrent
from .recurrent import NoKernel

__all__ = ["recurrent", "NoKernel"]
