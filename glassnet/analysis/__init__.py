"""Glass-box analysis: ``analyze``, ``compare``, ``explain``."""
from .compare import Comparison, compare
from .explain import explain
from .report import CONVENTION, Report, Row, analyze, nested_model_cost

__all__ = ["analyze", "compare", "explain", "Report", "Row", "Comparison", "CONVENTION", "nested_model_cost"]
