"""Preprocessing layers (``keras/src/layers/preprocessing/``): fixed transformations of the input.

Normalization, Rescaling, Resizing and CenterCrop have rules; the lookup, hashing, encoding
and spectrogram layers are counted as Keras holds their weights and have no FLOPs rule yet.
"""

from __future__ import annotations

from reportgen.derive.layers.convention import batch_note, counted, missing_shape, per_value
from reportgen.derive.layers.registry import (
    GENERIC,
    NO_RULE_YET,
    Zero,
    declare,
    formula,
    unknown,
    zero,
)
from reportgen.derive.layers.shapes import axes_size, axis_size, dims, elements, no_input_shape
from reportgen.expr import Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Text, msg

FAMILY = "preprocessing"
_HERE = __name__


def normalization_params(layer: LayerFacts) -> Derivation:
    """Normalization (preprocessing): mean, variance (per kept axis) and a count, non-trainable."""
    if layer.config.get("mean") is not None:
        return zero(
            msg(
                "The mean and variance are given in the layer's configuration, so Keras keeps "
                "them as constants, not weights."
            )
        )
    if not layer.input_shapes:
        return no_input_shape()
    axis = layer.config.get("axis", -1)
    size = 1 if axis is None else axes_size(layer.input_shapes[0], axis)
    if size is None:
        return unknown(
            msg(
                "The formula needs the size of the normalized axes, which the collected facts do "
                "not give."
            )
        )
    c = Num(size, Symbol("c"))
    return formula(
        Sum((Term("mean", c), Term("variance", c), Term("count", Num(1)))),
        Text(
            f"The Normalization layer stores a mean and a variance for each of the {size} "
            "positions it normalizes, and the number of samples it has seen: all three are set "
            "by adapt() from the data, not learned by gradients (non-trainable).",
            f"Normalization 层为被归一化的 {size} 个位置各保存一个均值和一个方差，另外记录它见过的"
            "样本数：三者都由 adapt() 从数据中统计得到，而不是通过梯度学习（不可训练）。",
        ),
    )


def normalization_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Normalization: (x − mean) / max(sqrt(var), ε): Sub, RealDiv per value + Maximum per mean."""
    if layer.config.get("invert"):
        return unknown(msg("reportgen has no FLOPs rule for an inverted Normalization layer."))
    out_dims = dims(layer.output_shapes)
    if out_dims is None:
        return missing_shape(layer)
    axis = layer.config.get("axis", -1)
    stats = 1 if axis is None else axis_size(out_dims, axis)
    if stats is None:
        return missing_shape(layer)
    terms = [
        Term("Sub, RealDiv", Product((Num(2), *elements(out_dims, batch_size)))),
        Term("Maximum", Num(stats, Symbol("c"))),
    ]
    main = Text(
        "Each value has its mean subtracted and is divided by the standard deviation (2 FLOPs); "
        f"the standard deviations are clamped away from 0 once per pass ({stats} Maximum); the "
        "square root has no profiler rule.",
        "每个数值先减去均值再除以标准差（2 次浮点运算）；标准差每次前向只截断一次，防止为 0"
        f"（{stats} 次 Maximum）；平方根在分析器里没有规则。",
    )
    return counted(terms, main, batch_note(batch_size))


def rescaling_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Rescaling: x·scale + offset, a Mul and an AddV2 per value (even with offset 0)."""
    return per_value(
        layer,
        batch_size,
        "Mul, AddV2",
        2,
        msg(
            "Each value is multiplied by the scale and has the offset added: 2 FLOPs (Keras adds "
            "the offset even when it is 0)."
        ),
    )


def resizing_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Resizing (bilinear or nearest): a Resize op, which the profiler counts 0."""
    if layer.config.get("crop_to_aspect_ratio") or layer.config.get("pad_to_aspect_ratio"):
        return unknown(
            msg(
                "To crop or pad to the aspect ratio, Keras computes the box with a few scalar "
                "operations that the profiler counts; reportgen has no rule for them."
            )
        )
    interpolation = layer.config.get("interpolation", "bilinear")
    if interpolation not in ("bilinear", "nearest"):
        return unknown(
            msg(
                "reportgen has checked the profiler's count of bilinear and nearest resizing "
                "only, not of %(interpolation)s.",
                interpolation=str(interpolation),
            )
        )
    return counted(
        [],
        msg(
            "Resizing runs a Resize op, for which TensorFlow's profiler has no FLOPs rule, so it "
            "counts 0; reportgen follows it."
        ),
    )


declare(
    "Normalization",
    family=FAMILY,
    params=normalization_params,
    flops=normalization_flops,
    module=_HERE,
)
declare(
    "Rescaling",
    family=FAMILY,
    params=Zero(
        msg(
            "Rescaling multiplies by a fixed scale and adds a fixed offset, both set in its "
            "configuration, not learned; it has no weights."
        )
    ),
    flops=rescaling_flops,
    module=_HERE,
)
declare(
    "Resizing",
    family=FAMILY,
    params=Zero(msg("Resizing interpolates the image to a fixed size; it has no weights.")),
    flops=resizing_flops,
    module=_HERE,
)
declare(
    "CenterCrop",
    family=FAMILY,
    params=Zero(msg("Center crop cuts the middle of the image out; it has no weights.")),
    flops=Zero(
        msg(
            "CenterCrop only slices the middle of the image out (an image smaller than the "
            "target is resized instead, a Resize op), which the profiler counts 0."
        )
    ),
    module=_HERE,
)
# Lookups, hashing and encodings work on ids and strings; the spectrograms, the image
# statistics (AutoContrast, Equalization, CLAHE) and the box and pipeline helpers have no
# rule yet. Their weights, where they have any, are counted as Keras holds them.
declare(
    "CategoryEncoding",
    "Discretization",
    "HashedCrossing",
    "Hashing",
    "IntegerLookup",
    "StringLookup",
    "TextVectorization",
    "MelSpectrogram",
    "STFTSpectrogram",
    "AutoContrast",
    "Equalization",
    "ContrastLimitedAdaptiveHistogramEqualization",
    "MaxNumBoundingBoxes",
    "Pipeline",
    family=FAMILY,
    params=GENERIC,
    flops=NO_RULE_YET,
    module=_HERE,
)
