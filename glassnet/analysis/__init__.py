"""Glass-box analysis: ``analyze``, ``compare``, ``explain`` — for glassnet models (their layers' cost
rules) and for any ``torch.nn.Module`` (traced with torch.export)."""
from .analyze import analyze
from .compare import Comparison, compare
from .explain import Explanation, explain
from .layer_costs import nested_model_cost
from .report import CONVENTION, SCHEMA_VERSION, Report, Row

__all__ = ["analyze", "compare", "explain", "Report", "Row", "Comparison", "Explanation", "CONVENTION", "SCHEMA_VERSION",
           "nested_model_cost"]
