"""Shared fixtures. TensorFlow is imported at most once per test session, lazily."""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(scope="session")
def lenet_model() -> Any:
    """The built-in Keras LeNet (random weights), built once for every TF test."""
    from reportgen.zoo.lenet import build_lenet

    return build_lenet()
