"""Layers that ``keras.applications`` models define themselves (ConvNeXt, InceptionResNetV2)."""

from __future__ import annotations

from reportgen.derive.layers.convention import passes_through, per_value
from reportgen.derive.layers.registry import Zero, declare, formula
from reportgen.expr import Num, Symbol
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Text, msg

_HERE = __name__


def layer_scale_params(layer: LayerFacts) -> Derivation:
    """LayerScale (ConvNeXt): one learned factor per channel."""
    size = int(layer.config["projection_dim"])
    return formula(
        Num(size, Symbol("c")),
        Text(
            f"LayerScale multiplies each of the {size} channels by a factor of its own, learned "
            "and started near zero so that a new residual block begins close to the identity.",
            f"LayerScale 给 {size} 个通道各乘一个可学习的系数，初值接近 0，"
            "让新加入的残差块一开始近似恒等映射。",
        ),
    )


def layer_scale_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """LayerScale (ConvNeXt): one Mul per value."""
    return per_value(
        layer,
        batch_size,
        "Mul",
        1,
        msg("Each value is multiplied by its channel's factor: 1 FLOP."),
    )


def custom_scale_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """InceptionResNetV2's CustomScaleLayer: x + branch·scale, a Mul and an AddV2 per value."""
    return per_value(
        layer,
        batch_size,
        "Mul, AddV2",
        2,
        msg(
            "Each value of the branch is multiplied by the fixed scale and added to the shortcut: "
            "2 FLOPs."
        ),
    )


declare(
    "LayerScale", family="scale", params=layer_scale_params, flops=layer_scale_flops, module=_HERE
)
declare(
    "CustomScaleLayer",
    family="scale",
    params=Zero(
        msg(
            "This InceptionResNetV2 layer adds a residual branch multiplied by a fixed scale from "
            "its configuration; it has no weights."
        )
    ),
    flops=custom_scale_flops,
    module=_HERE,
)
declare(
    "StochasticDepth",
    family="regularization",
    params=Zero(
        msg(
            "Stochastic depth randomly drops a residual branch while training and keeps it at "
            "inference; it has no weights."
        )
    ),
    flops=Zero(passes_through("StochasticDepth")),
    module=_HERE,
)
