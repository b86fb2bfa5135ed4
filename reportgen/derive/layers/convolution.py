"""Convolutions (``keras/src/layers/convolutional/``): Conv, ConvTranspose, Depthwise, Separable."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from reportgen.derive.layers.convention import (
    batch_note,
    bias_and_activation,
    counted,
    missing_shape,
)
from reportgen.derive.layers.registry import declare, formula, unknown
from reportgen.derive.layers.shapes import (
    SPATIAL_SYMBOLS,
    batch_factor,
    channels_first,
    count,
    dims,
    input_channels,
    ints,
    no_input_channels,
    spatial_nums,
    split_channels,
    window_nums,
)
from reportgen.expr import Expr, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Msg, Text, msg, sentences
from reportgen.units import fmt_int

FAMILY = "convolution"


@dataclass(frozen=True)
class Conv:
    """A convolution's settings as its configuration states them (read when asked for, so a
    rule fails on exactly the fields it needs)."""

    config: dict[str, Any]

    @property
    def kernel(self) -> tuple[int, ...]:
        return ints(self.config["kernel_size"])

    @property
    def filters(self) -> int:
        return int(self.config["filters"])

    @property
    def groups(self) -> int:
        return int(self.config.get("groups", 1) or 1)

    @property
    def multiplier(self) -> int:
        return int(self.config.get("depth_multiplier", 1) or 1)

    @property
    def use_bias(self) -> bool:
        return bool(self.config.get("use_bias", True))

    @property
    def strides(self) -> tuple[int, ...]:
        """One stride per kernel axis (a single stride applies to each)."""
        strides = ints(self.config.get("strides", 1))
        kernel = self.kernel
        return strides * len(kernel) if len(strides) == 1 and len(kernel) > 1 else strides


def _size(kernel: tuple[int, ...]) -> str:
    return "×".join(str(k) for k in kernel)


# ---------------------------------------------------------------- parameters


def conv_params(layer: LayerFacts) -> Derivation:
    """Conv1D/2D/3D: (k₁×…×k_n×c_in/groups + 1)×filters, or without the +1 without bias."""
    conv = Conv(layer.config)
    kernel, filters, groups, use_bias = conv.kernel, conv.filters, conv.groups, conv.use_bias
    c_in = input_channels(layer)
    if c_in is None:
        return no_input_channels()
    factors = window_nums(kernel, "k")
    if groups == 1:
        factors.append(Num(c_in, Symbol("c", "in")))
    else:
        factors.append(Num(c_in // groups, Symbol("c", "in/g")))
    out = Num(filters, Symbol("c", "out"))
    if use_bias:
        expr: Expr = Product((Sum((Product(tuple(factors)), Num(1))), out))
    else:
        expr = Product((*factors, out))
    return formula(
        expr,
        sentences(
            _filter_sentence(filters, kernel, c_in, groups, use_bias),
            msg(
                "The same filter slides over every position of the input, so the count does "
                "not depend on the image size: that is weight sharing."
            ),
        ),
    )


def _filter_sentence(
    filters: int, kernel: tuple[int, ...], c_in: int, groups: int, use_bias: bool
) -> Text:
    window, depth = _size(kernel), c_in // groups
    weights = fmt_int(math.prod(kernel) * depth)
    if groups > 1 and use_bias:
        return Text(
            f"Each of the {filters} filters is a {window} window over {depth} input channel(s) "
            f"(the {c_in} input channels are split into {groups} groups): {weights} weights "
            "plus 1 bias.",
            f"{filters} 个卷积核中的每一个都是覆盖 {depth} 个输入通道的 {window} 窗口"
            f"（{c_in} 个输入通道被分成 {groups} 组），共 {weights} 个权重，外加 1 个偏置。",
        )
    if groups > 1:
        return Text(
            f"Each of the {filters} filters is a {window} window over {depth} input channel(s) "
            f"(the {c_in} input channels are split into {groups} groups): {weights} weights and "
            "no bias (use_bias=False).",
            f"{filters} 个卷积核中的每一个都是覆盖 {depth} 个输入通道的 {window} 窗口"
            f"（{c_in} 个输入通道被分成 {groups} 组），共 {weights} 个权重，没有偏置"
            "（use_bias=False）。",
        )
    if use_bias:
        return Text(
            f"Each of the {filters} filters is a {window} window over {depth} input channel(s): "
            f"{weights} weights plus 1 bias.",
            f"{filters} 个卷积核中的每一个都是覆盖 {depth} 个输入通道的 {window} 窗口，"
            f"共 {weights} 个权重，外加 1 个偏置。",
        )
    return Text(
        f"Each of the {filters} filters is a {window} window over {depth} input channel(s): "
        f"{weights} weights and no bias (use_bias=False).",
        f"{filters} 个卷积核中的每一个都是覆盖 {depth} 个输入通道的 {window} 窗口，"
        f"共 {weights} 个权重，没有偏置（use_bias=False）。",
    )


def conv_transpose_params(layer: LayerFacts) -> Derivation:
    """Conv1D/2D/3DTranspose: (k₁×…×k_n×c_in + 1)×filters, like a convolution run backwards."""
    conv = Conv(layer.config)
    kernel, filters, use_bias = conv.kernel, conv.filters, conv.use_bias
    c_in = input_channels(layer)
    if c_in is None:
        return no_input_channels()
    per_filter = Product((*window_nums(kernel, "k"), Num(c_in, Symbol("c", "in"))))
    out = Num(filters, Symbol("c", "out"))
    if use_bias:
        expr: Expr = Product((Sum((per_filter, Num(1))), out))
    else:
        expr = Product((*per_filter.factors, out))
    window = _size(kernel)
    weights = fmt_int(math.prod(kernel) * c_in)
    spread = Text(
        f"A transposed convolution spreads every input value over a {window} window of each "
        f"of its {filters} output channels.",
        f"转置卷积（常被称作反卷积）把每个输入值散布到 {filters} 个输出通道各自的 "
        f"{window} 窗口上。",
    )
    if use_bias:
        kernels = Text(
            f"Each output channel has a {window} kernel for each of the {c_in} input channels "
            f"({weights} weights), plus 1 bias.",
            f"每个输出通道对 {c_in} 个输入通道各有一个 {window} 的卷积核，共 {weights} 个权重，"
            "外加 1 个偏置。",
        )
    else:
        kernels = Text(
            f"Each output channel has a {window} kernel for each of the {c_in} input channels "
            f"({weights} weights); there is no bias (use_bias=False).",
            f"每个输出通道对 {c_in} 个输入通道各有一个 {window} 的卷积核，共 {weights} 个权重；"
            "没有偏置（use_bias=False）。",
        )
    return formula(
        expr,
        sentences(
            spread,
            kernels,
            msg(
                "The kernel is shared by every position, as in an ordinary convolution, so the "
                "count does not depend on the image size."
            ),
        ),
    )


def depthwise_params(layer: LayerFacts) -> Derivation:
    """DepthwiseConv1D/2D: (k₁×…×k_n + 1)×c_in×depth_multiplier; channels are not mixed."""
    conv = Conv(layer.config)
    kernel, multiplier, use_bias = conv.kernel, conv.multiplier, conv.use_bias
    c_in = input_channels(layer)
    if c_in is None:
        return no_input_channels()
    window = window_nums(kernel, "k")
    channels = [Num(c_in, Symbol("c", "in")), Num(multiplier, Symbol("m"))]
    if use_bias:
        inner: Expr = Sum((Product(tuple(window)) if len(window) > 1 else window[0], Num(1)))
        expr: Expr = Product((inner, *channels))
    else:
        expr = Product((*window, *channels))
    size = _size(kernel)
    c_out = c_in * multiplier
    if use_bias:
        filters = Text(
            f"A depthwise convolution does not mix channels: each of the {c_in} input channels "
            f"gets its own {multiplier} filter(s) of {size} (depth_multiplier = {multiplier}), "
            f"{c_out} filters in all, plus one bias per output channel ({c_out}).",
            f"深度卷积（depthwise）不混合通道：{c_in} 个输入通道各自拥有 {multiplier} 个 {size} 的"
            f"卷积核（depth_multiplier = {multiplier}），共 {c_out} 个，{c_out} 个输出通道各有一个"
            "偏置。",
        )
    else:
        filters = Text(
            f"A depthwise convolution does not mix channels: each of the {c_in} input channels "
            f"gets its own {multiplier} filter(s) of {size} (depth_multiplier = {multiplier}), "
            f"{c_out} filters in all; there is no bias (use_bias=False).",
            f"深度卷积（depthwise）不混合通道：{c_in} 个输入通道各自拥有 {multiplier} 个 {size} 的"
            f"卷积核（depth_multiplier = {multiplier}），共 {c_out} 个；"
            "没有偏置（use_bias=False）。",
        )
    return formula(
        expr,
        sentences(
            filters,
            msg(
                "That is why it has far fewer weights than an ordinary convolution with as many "
                "output channels."
            ),
        ),
    )


def separable_params(layer: LayerFacts) -> Derivation:
    """SeparableConv1D/2D: depthwise k…×c_in×m + pointwise c_in×m×filters + bias filters."""
    conv = Conv(layer.config)
    kernel, multiplier, filters, use_bias = (
        conv.kernel,
        conv.multiplier,
        conv.filters,
        conv.use_bias,
    )
    c_in = input_channels(layer)
    if c_in is None:
        return no_input_channels()
    cin, m = Num(c_in, Symbol("c", "in")), Num(multiplier, Symbol("m"))
    out = Num(filters, Symbol("c", "out"))
    terms: list[Expr] = [
        Term("depthwise", Product((*window_nums(kernel, "k"), cin, m))),
        Term("pointwise", Product((cin, m, out))),
    ]
    if use_bias:
        terms.append(Term("bias", out))
    size = _size(kernel)
    mixed = c_in * multiplier
    if use_bias:
        explanation = Text(
            f"A separable convolution is two steps: a depthwise step filters each of the {c_in} "
            f"input channels on its own with {multiplier} {size} filter(s), then a pointwise 1×1 "
            f"convolution mixes the {mixed} results into {filters} output channels, plus one "
            "bias per output channel.",
            f"可分离卷积分两步：先做深度卷积，{c_in} 个输入通道各自用 {multiplier} 个 {size} 卷积核"
            f"单独滤波；再用逐点 1×1 卷积把这 {mixed} 个结果混合成 {filters} 个输出通道，"
            "每个输出通道另有一个偏置。",
        )
    else:
        explanation = Text(
            f"A separable convolution is two steps: a depthwise step filters each of the {c_in} "
            f"input channels on its own with {multiplier} {size} filter(s), then a pointwise 1×1 "
            f"convolution mixes the {mixed} results into {filters} output channels; there is no "
            "bias (use_bias=False).",
            f"可分离卷积分两步：先做深度卷积，{c_in} 个输入通道各自用 {multiplier} 个 {size} 卷积核"
            f"单独滤波；再用逐点 1×1 卷积把这 {mixed} 个结果混合成 {filters} 个输出通道；"
            "没有偏置（use_bias=False）。",
        )
    return formula(Sum(tuple(terms)), explanation)


# ---------------------------------------------------------------- FLOPs


def conv_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Conv1D/2D/3D: 2×k…×c_in/g×c_out×(output positions)×N, + bias, + activation."""
    conv = Conv(layer.config)
    kernel, groups = conv.kernel, conv.groups
    in_dims, out_dims = dims(layer.input_shapes), dims(layer.output_shapes)
    if in_dims is None or out_dims is None:
        return missing_shape(layer)
    c_in = split_channels(layer, in_dims)[1]
    spatial, c_out = split_channels(layer, out_dims)
    if groups == 1:
        depth = Num(c_in, Symbol("c", "in"))
    else:
        depth = Num(c_in // groups, Symbol("c", "in/g"))
    out_c = Num(c_out, Symbol("c", "out"))
    # TensorFlow's rule: output elements × filter input depth × kernel window × 2.
    product = Product(
        (
            Num(2),
            *window_nums(kernel, "k"),
            depth,
            out_c,
            *spatial_nums(spatial),
            *batch_factor(batch_size),
        )
    )
    terms = [Term("Conv3D" if len(kernel) == 3 else "Conv2D", product)]
    notes: list[Text | Msg | None] = [_dot_products(kernel, depth.value, c_out, spatial)]
    if len(kernel) == 1:
        notes.append(
            msg("TensorFlow runs a 1D convolution as a Conv2D op of height 1; the count is equal.")
        )
    if groups > 1:
        # Observed with TF 2.21 on CPU: the grouped conv sits in a StatefulPartitionedCall,
        # whose body the profiler does not count.
        notes.append(
            msg(
                "The %(channels)s input channels are split into %(groups)s groups, so each "
                "filter sees %(per_group)s. Keras runs a grouped convolution inside a nested "
                "compiled function, which the profiler may not look into: its total can miss "
                "this term.",
                channels=str(c_in),
                groups=str(groups),
                per_group=str(c_in // groups),
            )
        )
    values = [*spatial_nums(spatial), out_c, *batch_factor(batch_size)]
    notes.extend(bias_and_activation(layer, values, terms))
    return counted(terms, *notes, batch_note(batch_size))


def _dot_products(
    kernel: tuple[int, ...], depth: int, c_out: int, spatial: tuple[int, ...]
) -> Text:
    window = _size(kernel)
    grid = "×".join(str(d) for d in spatial)
    positions = fmt_int(math.prod(spatial))
    macs = fmt_int(math.prod(kernel) * depth)
    return Text(
        f"At each of the {positions} output positions ({grid}), each of the {c_out} filters "
        f"takes a dot product over a {window} window of {depth} input channel(s): {macs} "
        "multiply-adds, 2 FLOPs each. Strides and padding act through the output size.",
        f"在 {positions} 个输出位置（{grid}）上，{c_out} 个卷积核各做一次点积，覆盖 "
        f"{depth} 个输入通道的 {window} 窗口：{macs} 次乘加，每次记 2 次浮点运算。"
        "步长和填充通过输出尺寸体现。",
    )


def _channels_last_only(layer: LayerFacts) -> Derivation | None:
    if channels_first(layer):
        return unknown(
            msg(
                "TensorFlow's profiler only counts NHWC (channels_last) convolutions; this layer "
                "is channels_first, so no comparable figure is derived."
            )
        )
    return None


def conv_transpose_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Conv1D/2DTranspose: TensorFlow's Conv2DBackpropInput rule; Conv3DTranspose: 0."""
    refused = _channels_last_only(layer)
    if refused is not None:
        return refused
    conv = Conv(layer.config)
    kernel, strides = conv.kernel, conv.strides
    in_dims, out_dims = dims(layer.input_shapes), dims(layer.output_shapes)
    if in_dims is None or out_dims is None:
        return missing_shape(layer)
    c_in = in_dims[-1]
    spatial, c_out = out_dims[:-1], out_dims[-1]
    values = [*spatial_nums(spatial), Num(c_out, Symbol("c", "out")), *batch_factor(batch_size)]
    terms: list[Term] = []
    notes: list[Text | Msg | None] = []
    if len(kernel) == 3:
        notes.append(
            msg(
                "TensorFlow runs a 3D transposed convolution as Conv3DBackpropInputV2, for which "
                "its profiler has no FLOPs rule, so the convolution counts 0 here."
            )
        )
    else:
        # _conv_2d_backprop_input_flops: 2 × output elements × kernel elements
        # / (output depth × stride_h × stride_w), truncated to an integer.
        total = 2 * math.prod(kernel) * c_in * c_out * math.prod(spatial) * batch_size
        stride_product = math.prod(strides)
        if all(d % s == 0 for d, s in zip(spatial, strides, strict=True)):
            names = SPATIAL_SYMBOLS.get(len(spatial), ("S",) * len(spatial))
            per_stride = [
                Num(d // s, Symbol(n, "out/s") if s > 1 else Symbol(n, "out"))
                for d, s, n in zip(spatial, strides, names, strict=True)
            ]
            backprop: Expr = Product(
                (
                    Num(2),
                    *window_nums(kernel, "k"),
                    Num(c_in, Symbol("c", "in")),
                    Num(c_out, Symbol("c", "out")),
                    *per_stride,
                    *batch_factor(batch_size),
                )
            )
        else:
            backprop = Num(total // stride_product)
        terms.append(Term("Conv2DBackpropInput", backprop))
        window = _size(kernel)
        notes.append(
            Text(
                "TensorFlow runs a transposed convolution as Conv2DBackpropInput (the gradient "
                f"of a convolution). Its profiler counts 2 × {window} kernel × {c_in} input "
                f"channels × {c_out} filters × output positions, divided by the stride product "
                f"{stride_product}: every input value is spread over a {window} window of each "
                "output channel.",
                f"TensorFlow 用 Conv2DBackpropInput（卷积的反向传播）执行转置卷积。分析器按 2 × "
                f"{window} 卷积核 × {c_in} 个输入通道 × {c_out} 个卷积核 × 输出位置数，"
                f"再除以步长之积 {stride_product} 计数：每个输入值被散布到每个输出通道的"
                f"一个 {window} 窗口上。",
            )
        )
    notes.extend(bias_and_activation(layer, values, terms))
    return counted(terms, *notes, batch_note(batch_size))


def depthwise_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """DepthwiseConv1D/2D: DepthwiseConv2dNative, 2 × window × output elements."""
    refused = _channels_last_only(layer)
    if refused is not None:
        return refused
    kernel = Conv(layer.config).kernel
    out_dims = dims(layer.output_shapes)
    if out_dims is None:
        return missing_shape(layer)
    spatial, c_out = out_dims[:-1], out_dims[-1]
    out_c = Num(c_out, Symbol("c", "out"))
    values = [*spatial_nums(spatial), out_c, *batch_factor(batch_size)]
    terms = [Term("DepthwiseConv2dNative", Product((Num(2), *window_nums(kernel, "k"), *values)))]
    window = _size(kernel)
    outputs = fmt_int(count(out_dims, 1))
    notes: list[Text | Msg | None] = [
        Text(
            f"Each of the {outputs} output values is a dot product over a {window} window of one "
            f"input channel only: {math.prod(kernel)} multiply-adds, 2 FLOPs each.",
            f"{outputs} 个输出值中的每一个，都只是在一个输入通道的 {window} 窗口上做点积："
            f"{math.prod(kernel)} 次乘加，每次记 2 次浮点运算。",
        )
    ]
    if len(kernel) == 1:
        notes.append(
            msg("TensorFlow runs it as a 2D depthwise convolution of height 1; the count is equal.")
        )
    notes.extend(bias_and_activation(layer, values, terms))
    return counted(terms, *notes, batch_note(batch_size))


def separable_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """SeparableConv1D/2D: depthwise (2×window×c_in×m per position) + pointwise 1×1 Conv2D."""
    refused = _channels_last_only(layer)
    if refused is not None:
        return refused
    conv = Conv(layer.config)
    kernel, multiplier = conv.kernel, conv.multiplier
    in_dims, out_dims = dims(layer.input_shapes), dims(layer.output_shapes)
    if in_dims is None or out_dims is None:
        return missing_shape(layer)
    c_in = in_dims[-1]
    spatial, c_out = out_dims[:-1], out_dims[-1]
    cin, m = Num(c_in, Symbol("c", "in")), Num(multiplier, Symbol("m"))
    out_c = Num(c_out, Symbol("c", "out"))
    positions = [*spatial_nums(spatial), *batch_factor(batch_size)]
    terms = [
        Term(
            "DepthwiseConv2dNative",
            Product((Num(2), *window_nums(kernel, "k"), cin, m, *positions)),
        ),
        Term("Conv2D", Product((Num(2), cin, m, out_c, *positions))),
    ]
    window = _size(kernel)
    mixed = c_in * multiplier
    notes: list[Text | Msg | None] = [
        Text(
            f"The depthwise step computes {mixed} channels, each a {window} window of one input "
            f"channel; the pointwise 1×1 convolution then takes {mixed} multiply-adds for each "
            f"of the {c_out} output channels, at every output position.",
            f"深度卷积一步算出 {mixed} 个通道，每个只在一个输入通道的 {window} 窗口上计算；"
            f"随后逐点 1×1 卷积在每个输出位置上，为 {c_out} 个输出通道各做 {mixed} 次乘加。",
        )
    ]
    values = [*spatial_nums(spatial), out_c, *batch_factor(batch_size)]
    notes.extend(bias_and_activation(layer, values, terms))
    return counted(terms, *notes, batch_note(batch_size))


_HERE = __name__

declare(
    "Conv1D",
    "Conv2D",
    "Conv3D",
    family=FAMILY,
    params=conv_params,
    flops=conv_flops,
    module=_HERE,
)
declare(
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    family=FAMILY,
    params=conv_transpose_params,
    flops=conv_transpose_flops,
    module=_HERE,
)
declare(
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    family=FAMILY,
    params=depthwise_params,
    flops=depthwise_flops,
    module=_HERE,
)
declare(
    "SeparableConv1D",
    "SeparableConv2D",
    family=FAMILY,
    params=separable_params,
    flops=separable_flops,
    module=_HERE,
)
