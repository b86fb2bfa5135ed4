"""Turning a configured ``source`` into a model object (inside the worker process)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any


class CollectFailure(Exception):
    """A model-specific failure inside the worker; its message becomes the user's one line."""


def load_factory(source: str) -> Any:
    """Import ``package.module:function`` from the current directory or ``PYTHONPATH``."""
    module_name, _, func_name = source.partition(":")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise CollectFailure(f"cannot import module {module_name!r} ({exc})") from exc
    except Exception as exc:  # the user's module raised while importing
        raise CollectFailure(
            f"importing module {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    factory = getattr(module, func_name, None)
    if factory is None or not callable(factory):
        raise CollectFailure(f"module {module_name!r} has no function {func_name!r}")
    return factory


def build_model(source: str, factory: Any) -> Any:
    import keras

    try:
        model = factory()
    except Exception as exc:
        raise CollectFailure(f"{source}() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, keras.Model):
        raise CollectFailure(f"{source}() returned {type(model).__name__}, not a Keras model")
    return model
