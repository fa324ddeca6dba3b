"""The glassnet release (written into saved files' metadata)."""
__version__ = "0.1.0"
