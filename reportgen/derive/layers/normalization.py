"""Normalization layers (``keras/src/layers/normalization/``): batch, layer, group, unit."""

from __future__ import annotations

from reportgen.derive.layers.convention import batch_note, counted, missing_shape
from reportgen.derive.layers.registry import (
    Zero,
    declare,
    formula,
    unknown,
    zero,
)
from reportgen.derive.layers.shapes import (
    axes_size,
    axis_size,
    batch_factor,
    count,
    dims,
    elements,
    last_input_dim,
    no_input_shape,
)
from reportgen.expr import Expr, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Text, msg, sentences
from reportgen.units import fmt_int

FAMILY = "normalization"
_HERE = __name__


def _no_normalized_size(axes: bool) -> Derivation:
    if axes:
        return unknown(
            msg(
                "The formula needs the size of the normalized axes, which the collected facts do "
                "not give."
            )
        )
    return unknown(
        msg(
            "The formula needs the size of the normalized axis, which the collected facts do not "
            "give."
        )
    )


# ---------------------------------------------------------------- parameters


def batch_norm_params(layer: LayerFacts) -> Derivation:
    """BatchNormalization: γ, β trainable; moving mean and variance non-trainable; each C."""
    if not layer.input_shapes:
        return no_input_shape()
    size = axes_size(layer.input_shapes[0], layer.config.get("axis", -1))
    if size is None:
        return _no_normalized_size(axes=False)
    scale = bool(layer.config.get("scale", True))
    center = bool(layer.config.get("center", True))
    renorm = bool(layer.config.get("renorm", False))
    c = Num(size, Symbol("c"))
    learned = int(scale) + int(center)
    frozen = 2 + (3 if renorm else 0)
    terms: list[Expr] = []
    if learned:
        terms.append(Term("trainable", Product((Num(learned), c))))
    terms.append(Term("non-trainable", Product((Num(frozen), c))))
    return formula(
        Sum(tuple(terms)) if len(terms) > 1 else terms[0],
        sentences(
            _batch_norm_keeps(size, scale, center),
            msg(
                "Those two are updated from the statistics of each training batch, not by "
                "gradients: they are non-trainable, but they are still weights of the layer, "
                "saved with the model and counted by Keras."
            ),
            msg(
                "With renorm=True it also keeps a moving standard deviation and the "
                "renormalization mean and standard deviation, also non-trainable."
            )
            if renorm
            else None,
        ),
    )


def _batch_norm_keeps(size: int, scale: bool, center: bool) -> Text:
    if scale and center:
        return Text(
            f"For each of the {size} channels, batch normalization keeps a scale γ and an offset "
            "β, learned by gradient descent (trainable), and a moving mean and a moving variance.",
            f"批归一化为 {size} 个通道中的每一个保存由梯度下降学习的缩放系数 γ 和偏移 β（可训练），"
            "以及滑动均值和滑动方差。",
        )
    if scale:
        return Text(
            f"For each of the {size} channels, batch normalization keeps a scale γ, learned by "
            "gradient descent (trainable), and a moving mean and a moving variance.",
            f"批归一化为 {size} 个通道中的每一个保存由梯度下降学习的缩放系数 γ（可训练），"
            "以及滑动均值和滑动方差。",
        )
    if center:
        return Text(
            f"For each of the {size} channels, batch normalization keeps an offset β, learned by "
            "gradient descent (trainable), and a moving mean and a moving variance.",
            f"批归一化为 {size} 个通道中的每一个保存由梯度下降学习的偏移 β（可训练），"
            "以及滑动均值和滑动方差。",
        )
    return Text(
        f"For each of the {size} channels, batch normalization keeps no learned scale or offset "
        "(scale=False, center=False), only a moving mean and a moving variance.",
        f"批归一化为 {size} 个通道中的每一个保存没有可学习的缩放和偏移（scale=False, "
        "center=False），只有滑动均值和滑动方差。",
    )


def layer_norm_params(layer: LayerFacts) -> Derivation:
    """LayerNormalization: γ and β over the normalized axes (β absent with rms_scaling)."""
    if not layer.input_shapes:
        return no_input_shape()
    size = axes_size(layer.input_shapes[0], layer.config.get("axis", -1))
    if size is None:
        return _no_normalized_size(axes=True)
    scale = bool(layer.config.get("scale", True))
    rms = bool(layer.config.get("rms_scaling", False))
    center = bool(layer.config.get("center", True)) and not rms
    learned = int(scale) + int(center)
    if learned == 0:
        return zero(
            msg(
                "With scale=False and center=False, layer normalization learns nothing: it only "
                "standardizes each example with its own mean and variance."
            )
        )
    c = Num(size, Symbol("c"))
    return formula(
        Product((Num(learned), c)) if learned > 1 else c,
        sentences(
            _layer_norm_applies(size, scale, center, rms),
            msg(
                "Unlike batch normalization there are no moving statistics to store.",
            ),
        ),
    )


def _layer_norm_applies(size: int, scale: bool, center: bool, rms: bool) -> Text:
    if rms:
        return Text(
            f"Layer normalization standardizes each example over its last {size} values with the "
            "example's own statistics, then applies a scale γ per value (rms_scaling=True has no "
            "offset).",
            f"层归一化用每个样本自身的统计量对其最后 {size} 个数值做标准化，然后对每个数值施加"
            "缩放系数 γ（rms_scaling=True 时没有偏移）。",
        )
    if scale and center:
        return Text(
            f"Layer normalization standardizes each example over its last {size} values with the "
            "example's own statistics, then applies a scale γ and an offset β per value.",
            f"层归一化用每个样本自身的统计量对其最后 {size} 个数值做标准化，然后对每个数值施加"
            "缩放系数 γ 和偏移 β。",
        )
    if scale:
        return Text(
            f"Layer normalization standardizes each example over its last {size} values with the "
            "example's own statistics, then applies a scale γ per value.",
            f"层归一化用每个样本自身的统计量对其最后 {size} 个数值做标准化，然后对每个数值施加"
            "缩放系数 γ。",
        )
    return Text(
        f"Layer normalization standardizes each example over its last {size} values with the "
        "example's own statistics, then applies an offset β per value.",
        f"层归一化用每个样本自身的统计量对其最后 {size} 个数值做标准化，然后对每个数值施加偏移 β。",
    )


def group_norm_params(layer: LayerFacts) -> Derivation:
    """GroupNormalization: γ and β per channel (the groups share statistics, not weights)."""
    c_in = last_input_dim(layer) if layer.config.get("axis", -1) == -1 else None
    if c_in is None and layer.input_shapes:
        c_in = axes_size(layer.input_shapes[0], layer.config.get("axis", -1))
    if c_in is None:
        return unknown(
            msg("The formula needs the number of channels, which the collected facts do not give.")
        )
    scale = bool(layer.config.get("scale", True))
    center = bool(layer.config.get("center", True))
    learned = int(scale) + int(center)
    groups = int(layer.config.get("groups", 32))
    if learned == 0:
        return zero(msg("With scale=False and center=False, group normalization learns nothing."))
    c = Num(c_in, Symbol("c"))
    return formula(
        Product((Num(learned), c)) if learned > 1 else c,
        Text(
            f"Group normalization standardizes each of {groups} groups of channels with the "
            f"group's own statistics, then learns a scale γ and an offset β for each of the "
            f"{c_in} channels (as far as scale and center are on).",
            f"组归一化把通道分成 {groups} 组，用每组自身的统计量做标准化，然后为 {c_in} 个通道"
            "各学习一个缩放系数 γ 和一个偏移 β（以 scale、center 开关为准）。",
        ),
    )


# ---------------------------------------------------------------- FLOPs


def batch_norm_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Inference batch norm: 2 per value (Mul, AddV2) + 5 or 6 per channel to fold γ, β, μ, σ²."""
    out_dims = dims(layer.output_shapes)
    if out_dims is None:
        return missing_shape(layer)
    size = axis_size(out_dims, layer.config.get("axis", -1))
    if size is None:
        return missing_shape(layer)
    scale = bool(layer.config.get("scale", True))
    per_channel = 5 + int(scale)
    c = Num(size, Symbol("c"))
    terms = [
        Term("Mul, AddV2", Product((Num(2), *elements(out_dims, batch_size)))),
        Term("per channel", Product((Num(per_channel), c))),
    ]
    folding = (
        msg(
            "Folding the statistics into them costs 6 FLOPs per channel, once per pass (variance "
            "+ ε, a reciprocal square root counted 2, × γ, mean × s, and the offset); applying "
            "them costs a Mul and an AddV2 per value."
        )
        if scale
        else msg(
            "Folding the statistics into them costs 5 FLOPs per channel, once per pass (variance "
            "+ ε, a reciprocal square root counted 2, mean × s, and the offset); applying them "
            "costs a Mul and an AddV2 per value."
        )
    )
    return counted(
        terms,
        msg(
            "At inference batch normalization is y = x·s + t with one scale s and offset t per "
            "channel."
        ),
        folding,
        batch_note(batch_size),
    )


def layer_norm_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """LayerNormalization: (6 + 2·scale + center) per value + (5 − scale) per normalized row."""
    out_dims = dims(layer.output_shapes)
    if out_dims is None:
        return missing_shape(layer)
    size = axis_size(out_dims, layer.config.get("axis", -1))
    if not size:
        return missing_shape(layer)
    scale = bool(layer.config.get("scale", True))
    center = bool(layer.config.get("center", True))
    rows = count(out_dims, batch_size) // size
    if layer.config.get("rms_scaling"):
        if not scale:
            return unknown(msg("reportgen has no FLOPs rule for rms_scaling without scale."))
        per_value, per_row = 6, 3
    else:
        per_value, per_row = 6 + 2 * int(scale) + int(center), 5 - int(scale)
    terms = [
        Term("per value", Product((Num(per_value), *elements(out_dims, batch_size)))),
        Term("per row", Product((Num(per_row), Num(rows, Symbol("R"))))),
    ]
    main = Text(
        f"Layer normalization computes a mean and a variance over each of the {fmt_int(rows)} "
        f"rows of {size} values (two Means and a SquaredDifference, 4 FLOPs per value), then "
        f"normalizes and applies γ and β elementwise: {per_value} FLOPs per value in all, plus "
        f"{per_row} per row for ε, the reciprocal square root and the shifted mean.",
        f"层归一化对 {fmt_int(rows)} 行、每行 {size} 个数值分别求均值和方差（两次 Mean 和一次 "
        f"SquaredDifference，每个数值 4 次），再逐元素做标准化并施加 γ、β：合计每个数值 "
        f"{per_value} 次浮点运算，另加每行 {per_row} 次（加 ε、倒数平方根、平移后的均值）。",
    )
    return counted(terms, main, batch_note(batch_size))


def group_norm_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """GroupNormalization: 6 per value + (5 − scale) per group + (2·scale + center) per channel."""
    out_dims = dims(layer.output_shapes)
    if out_dims is None or layer.config.get("axis", -1) != -1:
        return missing_shape(layer)
    groups = int(layer.config.get("groups", 32))
    channels = out_dims[-1]
    scale = bool(layer.config.get("scale", True))
    center = bool(layer.config.get("center", True))
    per_group, per_channel = 5 - int(scale), 2 * int(scale) + int(center)
    terms = [
        Term("per value", Product((Num(6), *elements(out_dims, batch_size)))),
        Term(
            "per group",
            Product((Num(per_group), Num(groups, Symbol("G")), *batch_factor(batch_size))),
        ),
    ]
    if per_channel:
        terms.append(
            Term(
                "per channel",
                Product((Num(per_channel), Num(channels, Symbol("c")), *batch_factor(batch_size))),
            )
        )
    main = Text(
        f"Group normalization computes a mean and a variance in each of the {groups} groups of "
        f"channels (4 FLOPs per value) and applies them (2 per value); the per-group statistics "
        f"cost {per_group} FLOPs per group and folding γ and β into them {per_channel} per "
        "channel.",
        f"组归一化在 {groups} 个通道组内分别求均值和方差（每个数值 4 次），再施加到数据上"
        f"（每个数值 2 次）；每组的统计量另花 {per_group} 次，把 γ、β 折算进去每个通道 "
        f"{per_channel} 次。",
    )
    return counted(terms, main, batch_note(batch_size))


def unit_norm_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """UnitNormalization: Square, Sum, Mul per value (3) + Rsqrt and Minimum per vector (2)."""
    out_dims = dims(layer.output_shapes)
    if out_dims is None:
        return missing_shape(layer)
    size = axis_size(out_dims, layer.config.get("axis", -1))
    if not size:
        return missing_shape(layer)
    rows = count(out_dims, batch_size) // size
    terms = [
        Term("per value", Product((Num(3), *elements(out_dims, batch_size)))),
        Term("per vector", Product((Num(2), Num(rows, Symbol("R"))))),
    ]
    main = Text(
        f"Each of the {fmt_int(rows)} vectors is divided by its length: squaring, summing and "
        "scaling cost 3 FLOPs per value (the profiler counts a sum of n values as n − 1), the "
        "reciprocal square root and a clamp 3 per vector.",
        f"{fmt_int(rows)} 个向量各自除以自身的长度：平方、求和、缩放每个数值共 3 次浮点运算"
        "（分析器把 n 个数求和记为 n − 1 次），倒数平方根和截断每个向量再加 3 次。",
    )
    return counted(terms, main, batch_note(batch_size))


# ---------------------------------------------------------------- RMS normalization


def rms_width(layer: LayerFacts) -> int | None:
    """The normalized size: ``axis`` (Keras), else ``head_dim`` (Qwen3) or the last axis."""
    if not layer.input_shapes:
        return None
    if "axis" in layer.config:
        return axes_size(layer.input_shapes[0], layer.config["axis"])
    if layer.config.get("head_dim"):
        return int(layer.config["head_dim"])
    return layer.input_shapes[0][-1] if layer.input_shapes[0] else None


def rms_norm_params(layer: LayerFacts) -> Derivation:
    """RMS normalization: one learned scale γ per normalized value, no offset."""
    size = rms_width(layer)
    if size is None:
        return _no_normalized_size(axes=True)
    return formula(
        Num(size, Symbol("d")),
        Text(
            f"RMS normalization divides each vector of {size} values by its root mean square "
            "(no mean is subtracted), then multiplies each value by a learned scale γ: "
            f"{size} parameters, no offset β and no moving statistics.",
            f"RMS 归一化把每个 {size} 维向量除以它的均方根（不减均值），再给每个数值乘上一个"
            f"可学习的缩放系数 γ：共 {size} 个参数，没有偏移 β，也没有滑动统计量。",
        ),
    )


def _rms_flavour(layer: LayerFacts) -> str | None:
    """Which op sequence this RMS norm runs: ``rsqrt`` (x·rsqrt(mean(x²)+ε)·γ, Keras, keras-hub
    and the Llama family), or None when the configuration does not say (keras-hub has three
    classes named RMSNormalization with only ``epsilon`` in their configuration: Gemma's
    scales by 1 + γ through a reciprocal square root, Gemma 4's by γ through a power)."""
    if layer.class_name != "RMSNormalization":
        return "rsqrt"
    if "axis" in layer.config or "input_dim" in layer.config:
        return "rsqrt"
    return None


def rms_norm_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """RMS norm: Square, Mean, 2 Mul per value (4) + AddV2 and Rsqrt (counted 2) per row (3)."""
    out_dims = dims(layer.output_shapes)
    if out_dims is None:
        return missing_shape(layer)
    size = rms_width(layer)
    if not size or count(out_dims, 1) % size:
        return missing_shape(layer)
    if _rms_flavour(layer) is None:
        return unknown(
            msg(
                "keras-hub has several RMSNormalization classes (Gemma's scales by 1 + γ) whose "
                "configurations look alike, so reportgen cannot tell which ops this one runs."
            )
        )
    rows = count(out_dims, batch_size) // size
    terms = [
        Term("Square, Mean, Mul, Mul", Product((Num(4), *elements(out_dims, batch_size)))),
        Term("AddV2, Rsqrt", Product((Num(3), Num(rows, Symbol("R"))))),
    ]
    main = Text(
        f"RMS normalization squares the {size} values of each of the {fmt_int(rows)} rows and "
        "averages them, multiplies each value by the reciprocal root and by γ: 4 FLOPs per "
        "value; adding ε and the reciprocal square root (counted 2) cost 3 per row. It skips "
        "layer normalization's mean subtraction and offset.",
        f"RMS 归一化对 {fmt_int(rows)} 行、每行 {size} 个数值求平方再取平均，然后每个数值乘以"
        "均方根的倒数和 γ：每个数值 4 次浮点运算；加 ε 和倒数平方根（计 2 次）每行 3 次。它省去"
        "了层归一化的减均值和偏移。",
    )
    return counted(terms, main, batch_note(batch_size))


declare(
    "BatchNormalization",
    family=FAMILY,
    params=batch_norm_params,
    flops=batch_norm_flops,
    module=_HERE,
)
declare(
    "LayerNormalization",
    family=FAMILY,
    params=layer_norm_params,
    flops=layer_norm_flops,
    module=_HERE,
)
declare(
    "GroupNormalization",
    family=FAMILY,
    params=group_norm_params,
    flops=group_norm_flops,
    module=_HERE,
)
declare(
    "UnitNormalization",
    family=FAMILY,
    params=Zero(
        msg(
            "Unit normalization divides each vector by its own length (L2 norm); the scale is "
            "computed from the data, not learned, so there are no weights."
        )
    ),
    flops=unit_norm_flops,
    module=_HERE,
)
declare(
    "RMSNormalization",
    family=FAMILY,
    params=rms_norm_params,
    flops=rms_norm_flops,
    module=_HERE,
)
