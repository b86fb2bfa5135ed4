"""Models the benchmarks build, with random weights (nothing is downloaded)."""

from __future__ import annotations

from typing import Any


def vgg16() -> Any:
    import keras

    return keras.applications.VGG16(weights=None)


def lenet() -> Any:
    from reportgen.zoo.lenet import build_lenet

    return build_lenet()


def sample_input(model: Any, batch_size: int = 1) -> Any:
    import numpy as np

    shape = (batch_size, *model.inputs[0].shape[1:])
    return np.random.default_rng(0).standard_normal(shape).astype("float32")
