"""Three transformers as people build them today, from keras-hub's own classes.

A GPT-2-style decoder (learned positions, LayerNorm, multi-head attention with biases, a
GELU MLP), a Llama-style decoder (rotary positions, RMSNorm, grouped-query attention, a
SwiGLU feed-forward network, no biases) and a BERT encoder (token, position and segment
embeddings, post-LayerNorm blocks, a pooler). Each is built from small arguments with
random weights: nothing is downloaded, and the shapes match the real models' layer for
layer, only narrower and shallower. The sequence length comes from the configuration
(``sequence_length`` in ``reportgen.toml``): keras-hub leaves it open.

Importing this module imports nothing else; each factory imports keras-hub when called.
"""

from __future__ import annotations

from typing import Any

VOCABULARY_SIZE = 1000
NUM_LAYERS = 2
HIDDEN_DIM = 64
NUM_HEADS = 4
MAX_SEQUENCE_LENGTH = 128
"""Rows of the learned position tables (GPT-2, BERT); Llama's rotary positions have none."""


def build_gpt2() -> Any:
    """GPT-2's architecture at toy size: 2 decoder blocks of width 64, 4 heads, MLP 256."""
    import keras_hub

    return keras_hub.models.GPT2Backbone(
        vocabulary_size=VOCABULARY_SIZE,
        num_layers=NUM_LAYERS,
        num_heads=NUM_HEADS,
        hidden_dim=HIDDEN_DIM,
        intermediate_dim=4 * HIDDEN_DIM,
        max_sequence_length=MAX_SEQUENCE_LENGTH,
        name="gpt2",
    )


def build_llama() -> Any:
    """Llama's architecture at toy size: 4 query heads share 2 key/value heads; the SwiGLU
    width 176 is about 8/3 of 64, rounded up to a multiple of 16, as Llama sizes it."""
    import keras_hub

    return keras_hub.models.LlamaBackbone(
        vocabulary_size=VOCABULARY_SIZE,
        num_layers=NUM_LAYERS,
        num_query_heads=NUM_HEADS,
        num_key_value_heads=NUM_HEADS // 2,
        hidden_dim=HIDDEN_DIM,
        intermediate_dim=176,
        name="llama",
    )


def build_bert() -> Any:
    """BERT's architecture at toy size: 2 encoder blocks of width 64, 4 heads, MLP 256."""
    import keras_hub

    return keras_hub.models.BertBackbone(
        vocabulary_size=VOCABULARY_SIZE,
        num_layers=NUM_LAYERS,
        num_heads=NUM_HEADS,
        hidden_dim=HIDDEN_DIM,
        intermediate_dim=4 * HIDDEN_DIM,
        max_sequence_length=MAX_SEQUENCE_LENGTH,
        name="bert",
    )
