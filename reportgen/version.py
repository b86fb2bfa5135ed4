"""reportgen's version, in a module of its own: every module may import it without
loading the package's public API (:mod:`reportgen.api`), which imports those modules."""

from __future__ import annotations

__version__ = "0.1.0"
