"""Two image classifiers from ``keras.applications``, with random weights (nothing downloaded)."""

from __future__ import annotations

from typing import Any


def build_mobilenet_v2() -> Any:
    """MobileNetV2 for 224×224 RGB images and 1000 classes: depthwise-separable blocks."""
    import keras

    return keras.applications.MobileNetV2(weights=None)


def build_resnet50() -> Any:
    """ResNet50 for 224×224 RGB images and 1000 classes: residual bottleneck blocks."""
    import keras

    return keras.applications.ResNet50(weights=None)
