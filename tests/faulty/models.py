"""Factories that fail after TensorFlow has loaded, and one that works."""

from __future__ import annotations

from typing import Any


def raises() -> Any:
    raise ValueError("the factory was called without its data file")


def not_a_model() -> Any:
    return 42


def no_input_shape() -> Any:
    import keras

    return keras.Sequential([keras.layers.Dense(3)])
