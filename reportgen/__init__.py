"""reportgen: derive, verify and publish every number about a Keras/TensorFlow model.

In a notebook: ``reportgen.explain(model)`` is the report of a model as an object (a table
with every formula, in English or Chinese), ``reportgen.compare(a, b)`` the layer-aligned
difference of two. Importing reportgen imports no TensorFlow; ``explain`` uses the one the
model already loaded.
"""

from __future__ import annotations

from reportgen.api import Comparison, Report, compare, explain
from reportgen.errors import ReportgenError
from reportgen.version import __version__

__all__ = ["Comparison", "Report", "ReportgenError", "__version__", "compare", "explain"]
