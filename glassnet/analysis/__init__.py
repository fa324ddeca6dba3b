"""Glass-box analysis: ``analyze``, ``compare``, ``explain``."""
from .compare import Comparison, compare
from .explain import explain
from .report import CONVENTION, Report, Row, analyze

__all__ = ["analyze", "compare", "explain", "Report", "Row", "Comparison", "CONVENTION"]
