"""Two text classifiers over the same input, 200 token ids from a 10,000-word vocabulary.

One reads the sequence with a bidirectional LSTM, the other with self-attention (a small
Transformer encoder), so their pages can be read side by side: where the parameters sit,
and what grows with the sequence length.
"""

from __future__ import annotations

import functools
from typing import Any

VOCAB_SIZE = 10_000
SEQUENCE_LENGTH = 200
EMBED_DIM = 64


def build_text_classifier() -> Any:
    """Embedding(10000, 64) → Bidirectional(LSTM(64)) → Dense(64, relu) → Dense(1, sigmoid)."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(SEQUENCE_LENGTH,), dtype="int32", name="tokens"),
            layers.Embedding(VOCAB_SIZE, EMBED_DIM, name="embedding"),
            layers.Bidirectional(layers.LSTM(64), name="bidirectional_lstm"),
            layers.Dense(64, activation="relu", name="dense"),
            layers.Dense(1, activation="sigmoid", name="classifier"),
        ],
        name="text_classifier",
    )


def build_transformer(num_heads: int = 4, ff_dim: int = 128) -> Any:
    """One Transformer encoder block over token + position embeddings, then a classifier.

    Token embedding plus a learned position embedding (both ``Embedding`` layers, the
    positions fed by a layer that makes the indices 0…199), multi-head self-attention with
    a residual connection and layer normalisation, a two-layer feed-forward network with
    its own residual connection and normalisation, average pooling over the sequence, and
    a sigmoid classifier.
    """
    import keras
    from keras import layers

    tokens = keras.Input(shape=(SEQUENCE_LENGTH,), dtype="int32", name="tokens")
    token_embedding = layers.Embedding(VOCAB_SIZE, EMBED_DIM, name="token_embedding")(tokens)
    positions = position_indices_layer()(name="positions")(tokens)
    position_embedding = layers.Embedding(SEQUENCE_LENGTH, EMBED_DIM, name="position_embedding")(
        positions
    )
    x = layers.Add(name="embeddings")([token_embedding, position_embedding])
    attention = layers.MultiHeadAttention(
        num_heads=num_heads, key_dim=EMBED_DIM // num_heads, name="attention"
    )(x, x)
    x = layers.Add(name="attention_residual")([x, attention])
    x = layers.LayerNormalization(epsilon=1e-6, name="attention_norm")(x)
    ff = layers.Dense(ff_dim, activation="relu", name="ff_expand")(x)
    ff = layers.Dense(EMBED_DIM, name="ff_project")(ff)
    x = layers.Add(name="ff_residual")([x, ff])
    x = layers.LayerNormalization(epsilon=1e-6, name="ff_norm")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dropout(0.1, name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="classifier")(x)
    return keras.Model(tokens, outputs, name="transformer")


@functools.cache
def position_indices_layer() -> Any:
    """The layer class giving each token its position 0…L−1 (registered for saving).

    Built on first use, so that importing this module (for the zoo's list) needs no Keras.
    It has no weights: the learned part is the ``Embedding`` that the indices look up.
    """
    import keras

    @keras.saving.register_keras_serializable(package="reportgen")
    class PositionIndices(keras.layers.Layer):  # type: ignore[misc]
        def call(self, tokens: Any) -> Any:
            from keras import ops

            positions = ops.arange(ops.shape(tokens)[1], dtype="int32")
            return ops.broadcast_to(ops.expand_dims(positions, 0), ops.shape(tokens))

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

    return PositionIndices
