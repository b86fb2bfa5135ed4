"""The floor a build is measured against: import TensorFlow, build the model, one forward pass."""

from __future__ import annotations

import sys


def main(name: str) -> None:
    import tensorflow as tf  # noqa: F401  (the import is part of the floor)

    from benchmarks import models

    model = getattr(models, name)()
    model(models.sample_input(model), training=False)


if __name__ == "__main__":
    main(sys.argv[1])
