"""The floor a build is measured against: import TensorFlow, build the model, one forward pass.

    python -m benchmarks.floor vgg16                          # a model of benchmarks.models
    python -m benchmarks.floor benchmarks.applications:VGG16  # any factory, module:name

Prints one line per part on stderr, in the collect worker's format (``reportgen: phase NAME
W s wall C s CPU``), so that a benchmark can set each part beside the worker's.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from typing import Any

PARTS = ("import TensorFlow and Keras", "build model", "forward pass")
"""The floor's parts, as its phase lines name them (the first two as the worker does)."""


def _timed(name: str, work: Callable[[], Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    print(
        f"reportgen: phase {name:<40} {time.perf_counter() - wall:7.2f} s wall "
        f"{time.process_time() - cpu:7.2f} s CPU",
        file=sys.stderr,
    )
    return result


def _factory(source: str) -> Callable[[], Any]:
    """``module:name`` (a factory, as a configuration's ``source``) or a benchmarks.models name."""
    module, _, name = source.rpartition(":")
    factory: Callable[[], Any] = getattr(
        importlib.import_module(module or "benchmarks.models"), name
    )
    return factory


def main(source: str) -> None:
    factory = _factory(source)
    _timed(PARTS[0], lambda: importlib.import_module("keras"))  # the worker's import, alike
    model = _timed(PARTS[1], factory)
    _timed(PARTS[2], lambda: model(_input(model), training=False))


OPEN_SIZE = 224
"""The size given to a dimension the model leaves open (MobileNetV3's image size)."""


def _input(model: Any) -> Any:
    from benchmarks import models

    first = next(iter(getattr(model, "inputs", None) or [None]))
    shape = tuple(getattr(first, "shape", ()))[1:]
    if any(d is None for d in shape):
        import numpy as np

        fixed = (1, *(OPEN_SIZE if d is None else d for d in shape))
        return np.random.default_rng(0).standard_normal(fixed).astype("float32")
    return models.sample_input(model)


if __name__ == "__main__":
    main(sys.argv[1])
