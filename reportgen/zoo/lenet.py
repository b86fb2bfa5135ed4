"""The classic Keras Sequential LeNet for 28×28 MNIST digits (random weights)."""

from __future__ import annotations

from typing import Any


def build_lenet() -> Any:
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="image"),
            layers.Conv2D(32, (5, 5), activation="relu", padding="same", name="conv1"),
            layers.MaxPooling2D((2, 2), name="pool1"),
            layers.Conv2D(64, (5, 5), activation="relu", padding="same", name="conv2"),
            layers.MaxPooling2D((2, 2), name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(1024, activation="relu", name="fc1"),
            layers.Dropout(0.5, name="dropout"),
            layers.Dense(10, activation="softmax", name="fc2"),
        ],
        name="lenet",
    )
