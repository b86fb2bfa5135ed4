"""Hand-made facts for render-only sites (no TensorFlow) whose tables and graphs are wide.

- :func:`resnet_facts`: the last stage of a ResNet50, as Keras names it (``conv5_block1_0_conv``
  and the like), with its 5-digit formulas (``(1×1×1024+1)×2048``), ``7×7×2048`` shapes and
  its skip connection (``conv5_block1_add`` reads two rows), plus a nested model whose rows
  carry their parent's name.
- :func:`hub_facts`: the tiny keras-hub GPT-2 of :mod:`tests.handmade`, wired, with
  composite blocks whose sub-layers are named ``transformer_layer_0/self_attention``.
"""

from __future__ import annotations

from dataclasses import replace

from reportgen.facts import LayerFacts, ModelFacts, Shape
from tests.handmade import gpt2_facts, layer, lenet_facts


def _conv(name: str, inp: Shape, out: Shape, kernel: int, stride: int = 1) -> LayerFacts:
    cin, cout = inp[-1], out[-1]
    assert cin is not None and cout is not None
    return layer(
        name,
        "Conv2D",
        inp,
        out,
        (("kernel", (kernel, kernel, cin, cout)), ("bias", (cout,))),
        filters=cout,
        kernel_size=[kernel, kernel],
        padding="same" if kernel > 1 else "valid",
        use_bias=True,
        groups=1,
        activation="linear",
        data_format="channels_last",
        strides=[stride, stride],
    )


def _bn(name: str, shape: Shape) -> LayerFacts:
    channels = shape[-1]
    assert channels is not None
    weights = tuple((w, (channels,)) for w in ("gamma", "beta", "moving_mean", "moving_variance"))
    return layer(
        name,
        "BatchNormalization",
        shape,
        shape,
        weights,
        axis=[3],
        center=True,
        scale=True,
        epsilon=1.001e-5,
        momentum=0.99,
    )


def _relu(name: str, shape: Shape) -> LayerFacts:
    return layer(name, "Activation", shape, shape, activation="relu")


def resnet_layers() -> tuple[LayerFacts, ...]:
    """ResNet50's first block of its last stage, its head, and a nested model at the end."""
    big: Shape = (None, 14, 14, 1024)
    mid: Shape = (None, 7, 7, 512)
    out: Shape = (None, 7, 7, 2048)
    rows: list[tuple[LayerFacts, tuple[str, ...]]] = [
        (layer("conv4_block6_out", "InputLayer", big, big), ()),
        (_conv("conv5_block1_1_conv", big, mid, 1, 2), ("conv4_block6_out",)),
        (_bn("conv5_block1_1_bn", mid), ("conv5_block1_1_conv",)),
        (_relu("conv5_block1_1_relu", mid), ("conv5_block1_1_bn",)),
        (_conv("conv5_block1_2_conv", mid, mid, 3), ("conv5_block1_1_relu",)),
        (_bn("conv5_block1_2_bn", mid), ("conv5_block1_2_conv",)),
        (_relu("conv5_block1_2_relu", mid), ("conv5_block1_2_bn",)),
        (_conv("conv5_block1_0_conv", big, out, 1, 2), ("conv4_block6_out",)),
        (_conv("conv5_block1_3_conv", mid, out, 1), ("conv5_block1_2_relu",)),
        (_bn("conv5_block1_0_bn", out), ("conv5_block1_0_conv",)),
        (_bn("conv5_block1_3_bn", out), ("conv5_block1_3_conv",)),
        (
            replace(layer("conv5_block1_add", "Add", out, out), input_shapes=(out, out)),
            ("conv5_block1_0_bn", "conv5_block1_3_bn"),
        ),
        (_relu("conv5_block1_out", out), ("conv5_block1_add",)),
        (
            layer(
                "avg_pool",
                "GlobalAveragePooling2D",
                out,
                (None, 2048),
                data_format="channels_last",
                keepdims=False,
            ),
            ("conv5_block1_out",),
        ),
        (
            replace(
                layer(
                    "classifier_head_projection",
                    "Dense",
                    (None, 2048),
                    (None, 1000),
                    (("kernel", (2048, 1000)), ("bias", (1000,))),
                    units=1000,
                    use_bias=True,
                    activation="linear",
                ),
                parent="classifier_head",
            ),
            ("avg_pool",),
        ),
        (
            replace(
                layer(
                    "classifier_head_predictions",
                    "Activation",
                    (None, 1000),
                    (None, 1000),
                    activation="softmax",
                ),
                parent="classifier_head",
            ),
            ("classifier_head_projection",),
        ),
    ]
    return tuple(replace(item, inbound=inbound) for item, inbound in rows)


def resnet_facts() -> ModelFacts:
    return lenet_facts(
        layers=resnet_layers(),
        slug="resnet",
        title_en="ResNet50 (last stage)",
        title_zh="ResNet50（最后一段）",
    )


def hub_facts() -> ModelFacts:
    return gpt2_facts(length=32, wired=True)
