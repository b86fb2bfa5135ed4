"""reportgen: derive, verify and publish every number about a Keras/TensorFlow model."""

from __future__ import annotations

__version__ = "0.1.0"
