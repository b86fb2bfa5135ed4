"""Every model in ``keras.applications`` as a factory, with random weights (nothing downloaded).

``benchmarks.applications:ResNet50`` builds ``keras.applications.ResNet50(weights=None)``:
the factories are made on demand (PEP 562 module ``__getattr__``), one per class that the
installed Keras has, so a new Keras release brings its new models without an edit here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def names() -> list[str]:
    """The model classes of the installed ``keras.applications`` (imports Keras)."""
    import keras

    return sorted(
        name
        for name in dir(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
    )


def slug(name: str) -> str:
    """``EfficientNetV2B0`` → ``efficientnetv2b0`` (a valid reportgen slug)."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower())


def __getattr__(name: str) -> Callable[[], Any]:
    if not name[:1].isupper():
        raise AttributeError(name)

    def build() -> Any:
        import keras

        return getattr(keras.applications, name)(weights=None)

    build.__name__ = build.__qualname__ = name
    return build
