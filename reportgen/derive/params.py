"""Parameter formulas, one function per layer family, chosen by Keras class name.

Each function receives the layer's collected facts and returns a :class:`Derivation`
whose formula is built from the layer's configuration and shapes, never from its
weights: the weights (through Keras's ``count_params``) are what the formula is
checked against. Layers without weights get ``0`` with the reason; a layer with
weights but no dedicated formula falls back to the generic Σ-over-weights count,
marked as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from reportgen.expr import Formula, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Text
from reportgen.units import fmt_int

ParamRule = Callable[[LayerFacts], Derivation]

# Reasons a layer has no parameters, by class name. Keep each to one sentence.
ZERO_PARAM_REASONS: dict[str, Text] = {
    "InputLayer": Text(
        "An input layer only declares the shape of the data fed in; it has no weights.",
        "输入层只声明送入网络的数据形状，本身没有任何权重。",
    ),
    "MaxPooling1D": Text(
        "Max pooling keeps the largest value of each window; there is nothing to learn.",
        "最大池化只是在每个窗口里取最大值，没有需要学习的参数。",
    ),
    "AveragePooling1D": Text(
        "Average pooling takes the mean of each window; there is nothing to learn.",
        "平均池化只是对每个窗口求平均，没有需要学习的参数。",
    ),
    "GlobalMaxPooling1D": Text(
        "Global max pooling keeps the largest value of each channel; there is nothing to learn.",
        "全局最大池化对每个通道取整体最大值，没有需要学习的参数。",
    ),
    "GlobalAveragePooling1D": Text(
        "Global average pooling takes the mean of each channel; there is nothing to learn.",
        "全局平均池化对每个通道求整体平均值，没有需要学习的参数。",
    ),
    "Flatten": Text(
        "Flatten only reshapes its input into one vector per example; no value changes and "
        "there are no weights.",
        "Flatten 只是把每个样本展平成一维向量，数值一个也不改变，因此没有参数。",
    ),
    "Dropout": Text(
        "Dropout zeroes a random fraction of its inputs while training and passes them "
        "through unchanged at inference; it has no weights.",
        "Dropout 在训练时随机把一部分输入置零，推理时原样输出，没有任何权重。",
    ),
    "Reshape": Text(
        "Reshape rearranges the same values into a new shape; it has no weights.",
        "Reshape 只是把同样的数值重新排列成新的形状，没有权重。",
    ),
    "Permute": Text(
        "Permute reorders the axes of its input; it has no weights.",
        "Permute 只是调换输入各个维度的顺序，没有权重。",
    ),
    "Activation": Text(
        "An activation applies a fixed function to each value; it has no weights.",
        "激活层对每个数值逐一施加一个固定的函数，没有权重。",
    ),
    "ZeroPadding2D": Text(
        "Zero padding adds a border of zeros around the input; it has no weights.",
        "零填充只是在输入四周补上一圈 0，没有权重。",
    ),
    "Cropping2D": Text(
        "Cropping cuts a border off the input; it has no weights.",
        "裁剪层只是切掉输入的边缘，没有权重。",
    ),
    "Add": Text(
        "Add sums its inputs element by element; it has no weights.",
        "Add 把多个输入逐元素相加，没有权重。",
    ),
    "Concatenate": Text(
        "Concatenate joins its inputs along one axis; it has no weights.",
        "Concatenate 沿某个维度把多个输入拼接起来，没有权重。",
    ),
    "Multiply": Text(
        "Multiply multiplies its inputs element by element; it has no weights.",
        "Multiply 把多个输入逐元素相乘，没有权重。",
    ),
}
for _dim in ("2D", "3D"):
    for _kind in ("MaxPooling", "AveragePooling", "GlobalMaxPooling", "GlobalAveragePooling"):
        ZERO_PARAM_REASONS[f"{_kind}{_dim}"] = ZERO_PARAM_REASONS[f"{_kind}1D"]
for _name in ("ReLU", "Softmax", "LeakyReLU", "ELU"):
    ZERO_PARAM_REASONS[_name] = ZERO_PARAM_REASONS["Activation"]
for _name in ("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout"):
    ZERO_PARAM_REASONS[_name] = ZERO_PARAM_REASONS["Dropout"]
for _name in ("Subtract", "Average", "Maximum", "Minimum"):
    ZERO_PARAM_REASONS[_name] = Text(
        f"{_name} combines its inputs element by element; it has no weights.",
        f"{_name} 逐元素地合并多个输入，没有权重。",
    )
for _dim in ("1D", "3D"):
    ZERO_PARAM_REASONS[f"ZeroPadding{_dim}"] = ZERO_PARAM_REASONS["ZeroPadding2D"]
    ZERO_PARAM_REASONS[f"Cropping{_dim}"] = ZERO_PARAM_REASONS["Cropping2D"]


def _unknown(what_en: str, what_zh: str) -> Derivation:
    return Derivation(
        value=None,
        method="unknown",
        explanation=Text(
            f"The formula needs {what_en}, which the collected facts do not give.",
            f"该公式需要{what_zh}，但收集到的信息中没有。",
        ),
    )


def _channel_axis(layer: LayerFacts) -> int:
    return 1 if layer.config.get("data_format") == "channels_first" else -1


def _input_channels(layer: LayerFacts) -> int | None:
    if not layer.input_shapes or not layer.input_shapes[0]:
        return None
    return layer.input_shapes[0][_channel_axis(layer)]


_KERNEL_SYMBOLS = {1: ("",), 2: ("h", "w"), 3: ("d", "h", "w")}


def conv_params(layer: LayerFacts) -> Derivation:
    """Conv1D/2D/3D: (k₁×…×k_n×c_in/groups + 1)×filters, or without the +1 without bias."""
    kernel = tuple(int(k) for k in layer.config["kernel_size"])
    filters = int(layer.config["filters"])
    groups = int(layer.config.get("groups", 1) or 1)
    use_bias = bool(layer.config.get("use_bias", True))
    c_in = _input_channels(layer)
    if c_in is None:
        return _unknown("the number of input channels", "输入通道数")
    subs = _KERNEL_SYMBOLS.get(len(kernel), tuple(str(i + 1) for i in range(len(kernel))))
    factors: list[Num | Sum | Product] = [
        Num(k, Symbol("k", s)) for k, s in zip(kernel, subs, strict=False)
    ]
    if groups == 1:
        factors.append(Num(c_in, Symbol("c", "in")))
    else:
        factors.append(Num(c_in // groups, Symbol("c", "in/g")))
    per_filter = Product(tuple(factors))
    out = Num(filters, Symbol("c", "out"))
    if use_bias:
        formula = Formula(Product((Sum((per_filter, Num(1))), out)))
    else:
        formula = Formula(Product((*factors, out)))
    kernel_text = "×".join(str(k) for k in kernel)
    weights_per_filter = math.prod(kernel) * (c_in // groups)
    group_en = f" (the {c_in} input channels are split into {groups} groups)" if groups > 1 else ""
    group_zh = f"（{c_in} 个输入通道被分成 {groups} 组）" if groups > 1 else ""
    bias_en = " plus 1 bias" if use_bias else " and no bias (use_bias=False)"
    bias_zh = "，外加 1 个偏置" if use_bias else "，没有偏置（use_bias=False）"
    explanation = Text(
        f"Each of the {filters} filters is a {kernel_text} window over "
        f"{c_in // groups} input channel(s){group_en}: {fmt_int(weights_per_filter)} weights"
        f"{bias_en}. The same filter slides over every position of the input, so the "
        f"count does not depend on the image size: that is weight sharing.",
        f"{filters} 个卷积核中的每一个都是覆盖 {c_in // groups} 个输入通道的 {kernel_text} 窗口"
        f"{group_zh}，共 {fmt_int(weights_per_filter)} 个权重{bias_zh}。同一个卷积核在输入的"
        f"每个位置上滑动、重复使用，所以参数量与图像尺寸无关——这就是权值共享。",
    )
    return Derivation(formula.value, "formula", explanation, formula)


def dense_params(layer: LayerFacts) -> Derivation:
    """Dense: n_in×units + units (bias), acting on the last axis of an input of any rank."""
    units = int(layer.config["units"])
    use_bias = bool(layer.config.get("use_bias", True))
    n_in = layer.input_shapes[0][-1] if layer.input_shapes and layer.input_shapes[0] else None
    if n_in is None:
        return _unknown("the size of the input's last axis", "输入最后一维的大小")
    weights = Product((Num(n_in, Symbol("n", "in")), Num(units, Symbol("n", "out"))))
    expr = Sum((weights, Num(units, Symbol("n", "out")))) if use_bias else weights
    formula = Formula(expr)
    bias_en = ", plus one bias per unit" if use_bias else "; it has no bias (use_bias=False)"
    bias_zh = "，每个神经元另有一个偏置" if use_bias else "；没有偏置（use_bias=False）"
    explanation = Text(
        f"Each of the {units} units is connected to all {n_in} inputs with a weight of its "
        f"own{bias_en}.",
        f"{units} 个神经元中的每一个都与全部 {n_in} 个输入相连，每条连接一个权重{bias_zh}。",
    )
    return Derivation(formula.value, "formula", explanation, formula)


PARAM_RULES: dict[str, ParamRule] = {
    "Conv1D": conv_params,
    "Conv2D": conv_params,
    "Conv3D": conv_params,
    "Dense": dense_params,
}


def generic_params(layer: LayerFacts) -> Derivation:
    """Σ over the layer's weights of the product of each shape, labelled by weight name."""
    if not layer.weights:
        return Derivation(
            0,
            "generic",
            Text(
                f"reportgen has no dedicated rule for {layer.class_name}; it owns no weights, "
                "so the generic count is 0.",
                f"reportgen 还没有针对 {layer.class_name} 的专门规则；该层不含任何权重，"
                "按通用方法计数为 0。",
            ),
            Formula(Num(0)),
        )
    terms = tuple(
        Term(
            weight.name.rsplit("/", 1)[-1],
            Product(tuple(Num(d) for d in weight.shape))
            if len(weight.shape) > 1
            else Num(weight.shape[0] if weight.shape else 1),
        )
        for weight in layer.weights
    )
    formula = Formula(Sum(terms) if len(terms) > 1 else terms[0])
    explanation = Text(
        f"reportgen has no dedicated formula for {layer.class_name}; this is the generic count: "
        "the sum over the layer's weights of the product of each weight's shape.",
        f"reportgen 还没有针对 {layer.class_name} 的专门公式，这里用通用方法计数："
        "把该层每个权重张量各维大小相乘，再对所有权重求和。",
    )
    return Derivation(formula.value, "generic", explanation, formula)


def derive_params(layer: LayerFacts) -> Derivation:
    """The layer's parameter count: its family's formula, 0 with a reason, or the generic count."""
    rule = PARAM_RULES.get(layer.class_name)
    if rule is not None:
        return rule(layer)
    reason = ZERO_PARAM_REASONS.get(layer.class_name)
    if reason is not None:
        return Derivation(0, "zero", reason, Formula(Num(0)))
    return generic_params(layer)
