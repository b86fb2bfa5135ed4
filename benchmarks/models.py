"""Models the benchmarks build, with random weights (nothing is downloaded)."""

from __future__ import annotations

from typing import Any


def vgg16() -> Any:
    import keras

    return keras.applications.VGG16(weights=None)


def lenet() -> Any:
    from reportgen.zoo.lenet import build_lenet

    return build_lenet()


GPT2_SEQUENCE_LENGTH = 128
"""The sequence length the GPT-2 benchmark is configured and run with."""


def gpt2() -> Any:
    """A GPT-2-style decoder, 2 layers: keras-hub's backbone from a small configuration."""
    import keras_hub

    return keras_hub.models.GPT2Backbone(
        vocabulary_size=1000,
        num_layers=2,
        num_heads=4,
        hidden_dim=64,
        intermediate_dim=256,
        max_sequence_length=GPT2_SEQUENCE_LENGTH,
    )


EXTRA_CONFIG = {"gpt2": f"sequence_length = {GPT2_SEQUENCE_LENGTH}\n"}
"""Lines a model's table needs beyond its source (its sequence length)."""


def sample_input(model: Any, batch_size: int = 1) -> Any:
    import numpy as np

    rng = np.random.default_rng(0)
    try:
        structure = model.input
    except AttributeError:  # a Sequential model never called has no input yet
        structure = None
    if isinstance(structure, dict):  # keras-hub: token ids and a padding mask, by name
        shape = (batch_size, GPT2_SEQUENCE_LENGTH)
        return {
            name: rng.integers(0, 1000, shape) if name == "token_ids" else np.ones(shape)
            for name in structure
        }
    shape = (batch_size, *model.inputs[0].shape[1:])
    return rng.standard_normal(shape).astype("float32")
