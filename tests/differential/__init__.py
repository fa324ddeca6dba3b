"""Differential testing of glassnet against Keras 3 on random models (``generator``: the specs; ``run``: the
comparison of one spec and the command line)."""
