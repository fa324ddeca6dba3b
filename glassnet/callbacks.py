"""Keras callbacks: ``from glassnet.callbacks import EarlyStopping``."""
from .training.callbacks import (BackupAndRestore, Callback, CallbackList, CSVLogger, EarlyStopping, History,
                                 LambdaCallback, LearningRateScheduler, ModelCheckpoint, ProgbarLogger,
                                 ReduceLROnPlateau, RemoteMonitor, SwapEMAWeights, TensorBoard, TerminateOnNaN)

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
           "BackupAndRestore", "ReduceLROnPlateau", "CSVLogger", "TerminateOnNaN", "LambdaCallback",
           "LearningRateScheduler", "TensorBoard", "RemoteMonitor", "SwapEMAWeights"]
