"""Training: compile/fit/evaluate/predict, losses, metrics, optimizers, callbacks, DDP."""
