"""Pooling (``keras/src/layers/pooling/``): a fixed summary of each window, nothing to learn."""

from __future__ import annotations

import math

from reportgen.derive.layers.convention import batch_note, counted, missing_shape
from reportgen.derive.layers.registry import NO_RULE_YET, Zero, declare
from reportgen.derive.layers.shapes import (
    batch_factor,
    dims,
    ints,
    spatial_nums,
    split_channels,
    window_nums,
)
from reportgen.expr import Expr, Num, Product, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Text, msg
from reportgen.units import fmt_int

FAMILY = "pooling"
_HERE = __name__


def pool_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Max/AveragePooling1D/2D: window size × output elements (TensorFlow's _pool_flops)."""
    window = ints(layer.config["pool_size"])
    out_dims = dims(layer.output_shapes)
    if out_dims is None:
        return missing_shape(layer)
    spatial, channels = split_channels(layer, out_dims)
    op = "MaxPool" if layer.class_name.startswith("Max") else "AvgPool"
    values = [*spatial_nums(spatial), Num(channels, Symbol("c")), *batch_factor(batch_size)]
    if len(window) == 3:
        return _untracked_pool(window, values, op)
    terms = [Term(op, Product((*window_nums(window, "p"), *values)))]
    size, outputs = "×".join(map(str, window)), fmt_int(math.prod(out_dims))
    if op == "MaxPool":
        main = Text(
            f"Each of the {outputs} output values is the largest of a {size} window: TensorFlow "
            "counts one FLOP per window element.",
            f"{outputs} 个输出值中的每一个都是对一个 {size} 窗口取最大值："
            "TensorFlow 按窗口内每个元素 1 次浮点运算计数。",
        )
    else:
        main = Text(
            f"Each of the {outputs} output values is the mean of a {size} window: TensorFlow "
            "counts one FLOP per window element.",
            f"{outputs} 个输出值中的每一个都是对一个 {size} 窗口求平均："
            "TensorFlow 按窗口内每个元素 1 次浮点运算计数。",
        )
    return counted(terms, main, batch_note(batch_size))


def _untracked_pool(window: tuple[int, ...], values: list[Expr], op: str) -> Derivation:
    """3D pooling: TensorFlow registers no FLOPs rule for MaxPool3D/AvgPool3D, so it counts 0."""
    would_be = math.prod(window) * math.prod(e.value for e in values if isinstance(e, Num))
    return counted(
        [],
        msg(
            "TensorFlow's profiler has no FLOPs rule for %(op)s3D, so it counts this layer as 0; "
            "reportgen follows it so the totals can be compared. Counted like 2D pooling (window "
            "size × output values) it would be %(would_be)s.",
            op=op,
            would_be=would_be,
        ),
    )


def global_pool_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Global average pooling: a Mean, one FLOP per input value; global max: no rule, 0."""
    in_dims = dims(layer.input_shapes)
    if in_dims is None:
        return missing_shape(layer)
    spatial, channels = split_channels(layer, in_dims)
    values = [*spatial_nums(spatial, "in"), Num(channels, Symbol("c")), *batch_factor(batch_size)]
    total = math.prod(in_dims) * batch_size
    if layer.class_name.startswith("GlobalMax"):
        return counted(
            [],
            msg(
                "Global max pooling runs a Max reduction, for which TensorFlow's profiler has no "
                "FLOPs rule, so it counts 0; reportgen follows it so the totals can be compared. "
                "It compares %(total)s input values.",
                total=total,
            ),
        )
    return counted(
        [Term("Mean", Product(tuple(values)))],
        msg(
            "Global average pooling is a Mean over each channel: TensorFlow counts one FLOP per "
            "input value (%(total)s), the additions plus the final division.",
            total=total,
        ),
        batch_note(batch_size),
    )


_DIMS = ("1D", "2D", "3D")

declare(
    *(f"MaxPooling{d}" for d in _DIMS),
    family=FAMILY,
    params=Zero(
        msg("Max pooling keeps the largest value of each window; there is nothing to learn.")
    ),
    flops=pool_flops,
    module=_HERE,
)
declare(
    *(f"AveragePooling{d}" for d in _DIMS),
    family=FAMILY,
    params=Zero(msg("Average pooling takes the mean of each window; there is nothing to learn.")),
    flops=pool_flops,
    module=_HERE,
)
declare(
    *(f"GlobalMaxPooling{d}" for d in _DIMS),
    family=FAMILY,
    params=Zero(
        msg(
            "Global max pooling keeps the largest value of each channel; there is nothing to learn."
        )
    ),
    flops=global_pool_flops,
    module=_HERE,
)
declare(
    *(f"GlobalAveragePooling{d}" for d in _DIMS),
    family=FAMILY,
    params=Zero(
        msg("Global average pooling takes the mean of each channel; there is nothing to learn.")
    ),
    flops=global_pool_flops,
    module=_HERE,
)
declare(
    *(f"Adaptive{kind}Pooling{d}" for kind in ("Max", "Average") for d in _DIMS),
    family=FAMILY,
    params=Zero(
        msg(
            "Adaptive pooling divides each axis into a fixed number of windows and keeps one "
            "value per window; there is nothing to learn."
        )
    ),
    flops=NO_RULE_YET,
    module=_HERE,
)
