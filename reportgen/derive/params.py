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
import re
from collections.abc import Callable
from typing import Any

from reportgen.expr import Expr, Formula, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts, Shape
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
for _dim in ("1D", "2D", "3D"):
    ZERO_PARAM_REASONS[f"UpSampling{_dim}"] = Text(
        "Upsampling repeats (or interpolates) the input's values to enlarge it; it has no weights.",
        "上采样只是重复（或插值）输入的数值把它放大，没有权重。",
    )
ZERO_PARAM_REASONS.update(
    {
        "Dot": Text(
            "Dot takes dot products between its two inputs; both are data, so there are no "
            "weights.",
            "Dot 计算两个输入之间的点积，两边都是数据，没有权重。",
        ),
        "RepeatVector": Text(
            "RepeatVector repeats its input a fixed number of times; it has no weights.",
            "RepeatVector 把输入重复固定的次数，没有权重。",
        ),
        "GaussianNoise": Text(
            "Gaussian noise adds random noise while training and nothing at inference; it has "
            "no weights.",
            "高斯噪声层在训练时加入随机噪声，推理时什么也不做，没有权重。",
        ),
        "GaussianDropout": Text(
            "Gaussian dropout multiplies by random noise while training and passes its input "
            "through at inference; it has no weights.",
            "高斯 Dropout 在训练时乘以随机噪声，推理时原样输出，没有权重。",
        ),
        "UnitNormalization": Text(
            "Unit normalization divides each vector by its own length (L2 norm); the scale is "
            "computed from the data, not learned, so there are no weights.",
            "单位归一化把每个向量除以它自身的长度（L2 范数）；缩放系数由数据算出而不是学出来的，"
            "因此没有权重。",
        ),
        "Rescaling": Text(
            "Rescaling multiplies by a fixed scale and adds a fixed offset, both set in its "
            "configuration, not learned; it has no weights.",
            "Rescaling 乘以一个固定的比例再加上一个固定的偏移，两者都写在配置里而不是学出来的，"
            "没有权重。",
        ),
        "Identity": Text(
            "Identity returns its input unchanged; it has no weights.",
            "Identity 原样返回输入，没有权重。",
        ),
        "Masking": Text(
            "Masking marks time steps equal to a fixed value as padding; it has no weights.",
            "Masking 把等于某个固定值的时间步标记为填充，没有权重。",
        ),
        "ActivityRegularization": Text(
            "Activity regularization only adds a penalty on its input to the training loss; "
            "the values pass through unchanged and there are no weights.",
            "活动正则化只是把对输入的惩罚项加进训练损失，数值原样通过，没有权重。",
        ),
        "Lambda": Text(
            "A Lambda layer wraps a Python function; Keras tracks no weights for it.",
            "Lambda 层包装的是一个 Python 函数，Keras 不为它记录任何权重。",
        ),
        "StochasticDepth": Text(
            "Stochastic depth randomly drops a residual branch while training and keeps it at "
            "inference; it has no weights.",
            "随机深度在训练时随机丢弃一条残差分支，推理时保留，没有权重。",
        ),
        "Resizing": Text(
            "Resizing interpolates the image to a fixed size; it has no weights.",
            "Resizing 把图像插值缩放到固定尺寸，没有权重。",
        ),
        "CustomScaleLayer": Text(
            "This InceptionResNetV2 layer adds a residual branch multiplied by a fixed scale "
            "from its configuration; it has no weights.",
            "这是 InceptionResNetV2 的层：把残差分支乘以配置里的固定比例后再相加，没有权重。",
        ),
        "CenterCrop": Text(
            "Center crop cuts the middle of the image out; it has no weights.",
            "CenterCrop 只是切出图像的中间部分，没有权重。",
        ),
    }
)
for _name in (
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomContrast",
    "RandomTranslation",
    "RandomCrop",
    "RandomBrightness",
):
    ZERO_PARAM_REASONS[_name] = Text(
        f"{_name} is random data augmentation: it changes the input while training and passes "
        "it through at inference; it has no weights.",
        f"{_name} 是随机数据增强：训练时改变输入，推理时原样通过，没有权重。",
    )


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


def _ints(value: Any) -> tuple[int, ...]:
    """A Keras size setting (an int or a list) as a tuple of ints."""
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value)


def _formula(expr: Expr, en: str, zh: str) -> Derivation:
    formula = Formula(expr)
    return Derivation(formula.value, "formula", Text(en, zh), formula)


def _kernel_nums(kernel: tuple[int, ...]) -> list[Expr]:
    subs = _KERNEL_SYMBOLS.get(len(kernel), tuple(str(i + 1) for i in range(len(kernel))))
    return [Num(k, Symbol("k", s)) for k, s in zip(kernel, subs, strict=True)]


def _last_input_dim(layer: LayerFacts) -> int | None:
    if not layer.input_shapes or not layer.input_shapes[0]:
        return None
    return layer.input_shapes[0][-1]


def _axes_size(shape: Shape, axis: Any) -> int | None:
    """Product of ``shape``'s dimensions along ``axis`` (an int or a list of ints)."""
    axes = _ints(axis)
    rank = len(shape)
    if not rank or any(not -rank <= a < rank for a in axes):
        return None
    dims = [shape[a % rank] for a in axes]
    if any(d is None for d in dims):
        return None
    return math.prod(int(d) for d in dims if d is not None)


def _bias_en(use_bias: bool, what: str = "one bias per output channel") -> str:
    return f", plus {what}" if use_bias else "; there is no bias (use_bias=False)"


def _bias_zh(use_bias: bool, what: str = "每个输出通道另有一个偏置") -> str:
    return f"，{what}" if use_bias else "；没有偏置（use_bias=False）"


def conv_transpose_params(layer: LayerFacts) -> Derivation:
    """Conv1D/2D/3DTranspose: (k₁×…×k_n×c_in + 1)×filters, like a convolution run backwards."""
    kernel = _ints(layer.config["kernel_size"])
    filters = int(layer.config["filters"])
    use_bias = bool(layer.config.get("use_bias", True))
    c_in = _input_channels(layer)
    if c_in is None:
        return _unknown("the number of input channels", "输入通道数")
    per_filter = Product((*_kernel_nums(kernel), Num(c_in, Symbol("c", "in"))))
    out = Num(filters, Symbol("c", "out"))
    if use_bias:
        expr: Expr = Product((Sum((per_filter, Num(1))), out))
    else:
        expr = Product((*per_filter.factors, out))
    window = "×".join(str(k) for k in kernel)
    weights = fmt_int(math.prod(kernel) * c_in)
    return _formula(
        expr,
        f"A transposed convolution spreads every input value over a {window} window of each "
        f"of its {filters} output channels. Each output channel has a {window} kernel for "
        f"each of the {c_in} input channels ({weights} weights){_bias_en(use_bias, '1 bias')}. "
        "The kernel is shared by every position, as in an ordinary convolution, so the count "
        "does not depend on the image size.",
        f"转置卷积（常被称作反卷积）把每个输入值散布到 {filters} 个输出通道各自的 {window} 窗口上。"
        f"每个输出通道对 {c_in} 个输入通道各有一个 {window} 的卷积核，共 {weights} 个权重"
        f"{_bias_zh(use_bias, '外加 1 个偏置')}。与普通卷积一样，卷积核在所有位置上共享，"
        "参数量与图像尺寸无关。",
    )


def depthwise_params(layer: LayerFacts) -> Derivation:
    """DepthwiseConv1D/2D: (k₁×…×k_n + 1)×c_in×depth_multiplier; channels are not mixed."""
    kernel = _ints(layer.config["kernel_size"])
    multiplier = int(layer.config.get("depth_multiplier", 1) or 1)
    use_bias = bool(layer.config.get("use_bias", True))
    c_in = _input_channels(layer)
    if c_in is None:
        return _unknown("the number of input channels", "输入通道数")
    window = _kernel_nums(kernel)
    channels = [Num(c_in, Symbol("c", "in")), Num(multiplier, Symbol("m"))]
    if use_bias:
        inner: Expr = Sum((Product(tuple(window)) if len(window) > 1 else window[0], Num(1)))
        expr: Expr = Product((inner, *channels))
    else:
        expr = Product((*window, *channels))
    size = "×".join(str(k) for k in kernel)
    c_out = c_in * multiplier
    return _formula(
        expr,
        f"A depthwise convolution does not mix channels: each of the {c_in} input channels "
        f"gets its own {multiplier} filter(s) of {size} (depth_multiplier = {multiplier}), "
        f"{c_out} filters in all{_bias_en(use_bias, f'one bias per output channel ({c_out})')}. "
        "That is why it has far fewer weights than an ordinary convolution with as many "
        "output channels.",
        f"深度卷积（depthwise）不混合通道：{c_in} 个输入通道各自拥有 {multiplier} 个 {size} 的"
        f"卷积核（depth_multiplier = {multiplier}），共 {c_out} 个"
        f"{_bias_zh(use_bias, f'{c_out} 个输出通道各有一个偏置')}。正因为如此，它的参数比输出通道数"
        "相同的普通卷积少得多。",
    )


def separable_params(layer: LayerFacts) -> Derivation:
    """SeparableConv1D/2D: depthwise k…×c_in×m + pointwise c_in×m×filters + bias filters."""
    kernel = _ints(layer.config["kernel_size"])
    multiplier = int(layer.config.get("depth_multiplier", 1) or 1)
    filters = int(layer.config["filters"])
    use_bias = bool(layer.config.get("use_bias", True))
    c_in = _input_channels(layer)
    if c_in is None:
        return _unknown("the number of input channels", "输入通道数")
    cin, m = Num(c_in, Symbol("c", "in")), Num(multiplier, Symbol("m"))
    out = Num(filters, Symbol("c", "out"))
    terms: list[Expr] = [
        Term("depthwise", Product((*_kernel_nums(kernel), cin, m))),
        Term("pointwise", Product((cin, m, out))),
    ]
    if use_bias:
        terms.append(Term("bias", out))
    size = "×".join(str(k) for k in kernel)
    return _formula(
        Sum(tuple(terms)),
        f"A separable convolution is two steps: a depthwise step filters each of the {c_in} "
        f"input channels on its own with {multiplier} {size} filter(s), then a pointwise 1×1 "
        f"convolution mixes the {c_in * multiplier} results into {filters} output channels"
        f"{_bias_en(use_bias)}.",
        f"可分离卷积分两步：先做深度卷积，{c_in} 个输入通道各自用 {multiplier} 个 {size} 卷积核"
        f"单独滤波；再用逐点 1×1 卷积把这 {c_in * multiplier} 个结果混合成 {filters} 个输出通道"
        f"{_bias_zh(use_bias)}。",
    )


def dense_params(layer: LayerFacts) -> Derivation:
    """Dense: n_in×units + units (bias), acting on the last axis of an input of any rank."""
    units = int(layer.config["units"])
    use_bias = bool(layer.config.get("use_bias", True))
    n_in = _last_input_dim(layer)
    if n_in is None:
        return _unknown("the size of the input's last axis", "输入最后一维的大小")
    n_out = Num(units, Symbol("n", "out"))
    weights = Product((Num(n_in, Symbol("n", "in")), n_out))
    parts: list[Expr] = [weights, n_out] if use_bias else [weights]
    rank = int(layer.config.get("lora_rank") or 0)
    if rank:
        r = Num(rank, Symbol("r"))
        parts.append(Term("LoRA", Product((r, Sum((Num(n_in, Symbol("n", "in")), n_out))))))
    expr: Expr = Sum(tuple(parts)) if len(parts) > 1 else weights
    bias_en = ", plus one bias per unit" if use_bias else "; it has no bias (use_bias=False)"
    bias_zh = "，每个神经元另有一个偏置" if use_bias else "；没有偏置（use_bias=False）"
    lead = layer.input_shapes[0][1:-1] if layer.input_shapes else ()
    rank_en = rank_zh = ""
    if lead:
        rank_en = (
            " Dense acts on the last axis only, so the same weights serve every position of "
            "the other axes."
        )
        rank_zh = "Dense 只作用于最后一个轴，其余各轴上的每个位置共用同一组权重。"
    lora_en = lora_zh = ""
    if rank:
        lora_en = (
            f" LoRA is enabled with rank r = {rank}: two small matrices of {n_in}×{rank} and "
            f"{rank}×{units} are trained while the kernel is frozen."
        )
        lora_zh = (
            f"这里启用了秩 r = {rank} 的 LoRA：冻结原有核矩阵，只训练 {n_in}×{rank} 和 "
            f"{rank}×{units} 两个小矩阵。"
        )
    return _formula(
        expr,
        f"Each of the {units} units is connected to all {n_in} inputs with a weight of its "
        f"own{bias_en}.{rank_en}{lora_en}",
        f"{units} 个神经元中的每一个都与全部 {n_in} 个输入相连，每条连接一个权重{bias_zh}。"
        f"{rank_zh}{lora_zh}",
    )


def einsum_weight_shapes(
    equation: str, bias_axes: str | None, input_shape: Shape, output_shape: Any
) -> tuple[str, list[int | None], str, list[int | None]]:
    """Kernel and bias axes (letters) and sizes of an EinsumDense, the way Keras builds them.

    Each kernel axis is sized from ``output_shape`` when its letter is an output axis and
    from the input when it is contracted; the bias spans the output from its first bias
    axis on, with 1 on the axes not named in ``bias_axes``. Raises ValueError on an
    equation Keras would refuse.
    """
    text = equation.replace("...", "0")
    left = False
    match = re.fullmatch(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", text)
    if match is None:
        match = re.fullmatch(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", text)
        left = match is not None
    if match is None:
        match = re.fullmatch(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", text)
    if match is None:
        raise ValueError(f"unsupported einsum equation {equation!r}")
    input_spec, weight_spec, output_spec = match.groups()
    elided = len(input_shape) - len(input_spec)
    out = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    out.insert(0, input_shape[0])
    if elided > 0 and left:
        for i in range(1, elided):
            out.insert(1, input_shape[i])
    elif elided > 0:
        out.extend(input_shape[len(input_shape) - elided :])
    if left:
        input_at = {d: (i + elided) - len(input_shape) for i, d in enumerate(input_spec)}
        output_at = {d: i + elided for i, d in enumerate(output_spec)}
    else:
        input_at = {d: i for i, d in enumerate(input_spec)}
        output_at = {d: i for i, d in enumerate(output_spec)}
    kernel: list[int | None] = []
    for letter in weight_spec:
        if letter in output_at:
            kernel.append(out[output_at[letter]])
        elif letter in input_at:
            kernel.append(input_shape[input_at[letter]])
        else:
            raise ValueError(f"kernel axis {letter!r} is neither an input nor an output axis")
    bias: list[int | None] = []
    letters = ""
    if bias_axes:
        offset = elided if left else 0
        sizes = {c: out[i + offset] for i, c in enumerate(output_spec)}
        letters = "".join(c for c in output_spec if c in bias_axes)
        bias = [sizes[c] for c in letters]
    return weight_spec, kernel, letters, bias


def einsum_output_shape(equation: str, input_shape: Shape, output_shape: Shape) -> Shape:
    """``output_shape`` with each unknown axis that the equation takes from the input filled in.

    Keras reports ``(None, None, 16)`` for ``EinsumDense("abc,cd->abd", output_shape=(None,
    16))`` on a ``(None, 7, 5)`` input, although axis ``b`` is the input's 7.
    """
    match = re.fullmatch(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", equation)
    if match is None or len(match.group(1)) != len(input_shape):
        return output_shape
    input_spec, _, output_spec = match.groups()
    if len(output_spec) != len(output_shape):
        return output_shape
    sizes = dict(zip(input_spec, input_shape, strict=True))
    return tuple(
        sizes.get(letter) if (d is None and i > 0) else d
        for i, (letter, d) in enumerate(zip(output_spec, output_shape, strict=True))
    )


def resolved_output_shapes(layer: LayerFacts) -> tuple[Shape, ...]:
    """The layer's output shapes, with axes Keras leaves unknown but the config fixes."""
    if layer.class_name == "EinsumDense" and layer.input_shapes and len(layer.output_shapes) == 1:
        equation = str(layer.config.get("equation", ""))
        return (einsum_output_shape(equation, layer.input_shapes[0], layer.output_shapes[0]),)
    return layer.output_shapes


def einsum_dense_params(layer: LayerFacts) -> Derivation:
    """EinsumDense: the kernel's and bias's sizes from the equation and output_shape."""
    equation = str(layer.config["equation"])
    bias_axes = layer.config.get("bias_axes")
    if not layer.input_shapes:
        return _unknown("the input shape", "输入形状")
    try:
        spec, kernel, bias_letters, bias = einsum_weight_shapes(
            equation, bias_axes, layer.input_shapes[0], layer.config["output_shape"]
        )
    except (ValueError, IndexError):
        return _unknown(
            "an einsum equation in a form Keras accepts", "Keras 接受形式的爱因斯坦求和方程"
        )
    if any(d is None for d in (*kernel, *bias)):
        return _unknown("every size of the kernel's axes", "核张量每个轴的大小")
    k_expr = Product(tuple(Num(int(d or 0), Symbol(c)) for c, d in zip(spec, kernel, strict=True)))
    terms: list[Expr] = [Term("kernel", k_expr)]
    if bias:
        b_factors = tuple(
            Num(int(d or 0), Symbol(c)) for c, d in zip(bias_letters, bias, strict=True)
        )
        terms.append(Term("bias", Product(b_factors) if len(b_factors) > 1 else b_factors[0]))
    kernel_text = "×".join(str(d) for d in kernel)
    bias_en = (
        f" The bias covers the output axes {bias_letters!r}."
        if bias
        else " There is no bias (bias_axes is not set)."
    )
    bias_zh = f"偏置覆盖输出轴 {bias_letters!r}。" if bias else "没有偏置（未设置 bias_axes）。"
    return _formula(
        Sum(tuple(terms)) if len(terms) > 1 else terms[0],
        f"EinsumDense computes {equation}: its kernel has the axes {spec!r} of the equation's "
        f"second operand, each sized by the input (an axis that is summed over) or by "
        f"output_shape (an axis kept in the output), here {kernel_text}.{bias_en}",
        f"EinsumDense 计算 {equation}：核张量的各轴就是方程第二个操作数的 {spec!r}，"
        f"被求和消去的轴取输入的大小，保留到输出的轴取 output_shape 的大小，这里是 "
        f"{kernel_text}。{bias_zh}",
    )


def embedding_params(layer: LayerFacts) -> Derivation:
    """Embedding: input_dim × output_dim, one learned vector per token id."""
    vocab = int(layer.config["input_dim"])
    dim = int(layer.config["output_dim"])
    table = Product((Num(vocab, Symbol("V")), Num(dim, Symbol("d"))))
    rank = int(layer.config.get("lora_rank") or 0)
    expr: Expr = table
    lora_en = lora_zh = ""
    if rank:
        lora = Product(
            (Num(rank, Symbol("r")), Sum((Num(vocab, Symbol("V")), Num(dim, Symbol("d")))))
        )
        expr = Sum((table, Term("LoRA", lora)))
        lora_en = f" LoRA of rank {rank} adds two small trainable matrices and freezes the table."
        lora_zh = f"启用了秩为 {rank} 的 LoRA：冻结查找表，另训练两个小矩阵。"
    return _formula(
        expr,
        f"An embedding is a lookup table: one row of {dim} learned values for each of the "
        f"{fmt_int(vocab)} possible token ids (input_dim). Looking a token up multiplies "
        f"nothing; the table is the whole layer.{lora_en}",
        f"嵌入层就是一张查找表：{fmt_int(vocab)} 个可能的词元编号（input_dim）各对应一行，"
        f"每行 {dim} 个可学习的数值。查表本身不做乘法，这张表就是整个层。{lora_zh}",
    )


def batch_norm_params(layer: LayerFacts) -> Derivation:
    """BatchNormalization: γ, β trainable; moving mean and variance non-trainable; each C."""
    if not layer.input_shapes:
        return _unknown("the input shape", "输入形状")
    size = _axes_size(layer.input_shapes[0], layer.config.get("axis", -1))
    if size is None:
        return _unknown("the size of the normalized axis", "被归一化的轴的大小")
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
    names_en = " and ".join(n for n, on in (("a scale γ", scale), ("an offset β", center)) if on)
    names_zh = " 和".join(n for n, on in (("缩放系数 γ", scale), ("偏移 β", center)) if on)
    learned_en = (
        f"{names_en}, learned by gradient descent (trainable), and "
        if learned
        else "no learned scale or offset (scale=False, center=False), only "
    )
    learned_zh = (
        f"由梯度下降学习的{names_zh}（可训练），以及"
        if learned
        else "没有可学习的缩放和偏移（scale=False, center=False），只有"
    )
    renorm_en = (
        " With renorm=True it also keeps a moving standard deviation and the renormalization "
        "mean and standard deviation, also non-trainable."
        if renorm
        else ""
    )
    renorm_zh = (
        "启用 renorm 后还另存滑动标准差以及重归一化用的均值和标准差，同样不可训练。"
        if renorm
        else ""
    )
    return _formula(
        Sum(tuple(terms)) if len(terms) > 1 else terms[0],
        f"For each of the {size} channels, batch normalization keeps {learned_en}a moving mean "
        "and a moving variance. Those two are updated from the statistics of each training "
        "batch, not by gradients: they are non-trainable, but they are still weights of the "
        f"layer, saved with the model and counted by Keras.{renorm_en}",
        f"批归一化为 {size} 个通道中的每一个保存{learned_zh}滑动均值和滑动方差。后两者在训练时"
        "根据每个批次的统计量更新，而不是靠梯度学习：它们不可训练，但仍是该层的权重，"
        f"会随模型保存，Keras 也把它们算进参数量。{renorm_zh}",
    )


def layer_norm_params(layer: LayerFacts) -> Derivation:
    """LayerNormalization: γ and β over the normalized axes (β absent with rms_scaling)."""
    if not layer.input_shapes:
        return _unknown("the input shape", "输入形状")
    size = _axes_size(layer.input_shapes[0], layer.config.get("axis", -1))
    if size is None:
        return _unknown("the size of the normalized axes", "被归一化的轴的大小")
    scale = bool(layer.config.get("scale", True))
    rms = bool(layer.config.get("rms_scaling", False))
    center = bool(layer.config.get("center", True)) and not rms
    count = int(scale) + int(center)
    if count == 0:
        return Derivation(
            0,
            "zero",
            Text(
                "With scale=False and center=False, layer normalization learns nothing: it only "
                "standardizes each example with its own mean and variance.",
                "scale=False 且 center=False 时，层归一化没有任何可学习的参数，"
                "只用每个样本自身的均值和方差做标准化。",
            ),
            Formula(Num(0)),
        )
    c = Num(size, Symbol("c"))
    names_en = " and ".join(n for n, on in (("a scale γ", scale), ("an offset β", center)) if on)
    names_zh = " 和".join(n for n, on in (("缩放系数 γ", scale), ("偏移 β", center)) if on)
    rms_en = " (rms_scaling=True has no offset)" if rms else ""
    rms_zh = "（rms_scaling=True 时没有偏移）" if rms else ""
    return _formula(
        Product((Num(count), c)) if count > 1 else c,
        f"Layer normalization standardizes each example over its last {size} values with the "
        f"example's own statistics, then applies {names_en} per value{rms_en}. Unlike batch "
        "normalization there are no moving statistics to store.",
        f"层归一化用每个样本自身的统计量对其最后 {size} 个数值做标准化，然后对每个数值施加"
        f"{names_zh}{rms_zh}。与批归一化不同，它不需要保存滑动统计量。",
    )


def group_norm_params(layer: LayerFacts) -> Derivation:
    """GroupNormalization: γ and β per channel (the groups share statistics, not weights)."""
    c_in = _last_input_dim(layer) if layer.config.get("axis", -1) == -1 else None
    if c_in is None and layer.input_shapes:
        c_in = _axes_size(layer.input_shapes[0], layer.config.get("axis", -1))
    if c_in is None:
        return _unknown("the number of channels", "通道数")
    scale = bool(layer.config.get("scale", True))
    center = bool(layer.config.get("center", True))
    count = int(scale) + int(center)
    groups = int(layer.config.get("groups", 32))
    if count == 0:
        return Derivation(
            0,
            "zero",
            Text(
                "With scale=False and center=False, group normalization learns nothing.",
                "scale=False 且 center=False 时，组归一化没有可学习的参数。",
            ),
            Formula(Num(0)),
        )
    c = Num(c_in, Symbol("c"))
    return _formula(
        Product((Num(count), c)) if count > 1 else c,
        f"Group normalization standardizes each of {groups} groups of channels with the "
        f"group's own statistics, then learns a scale γ and an offset β for each of the {c_in} "
        "channels (as far as scale and center are on).",
        f"组归一化把通道分成 {groups} 组，用每组自身的统计量做标准化，然后为 {c_in} 个通道"
        "各学习一个缩放系数 γ 和一个偏移 β（以 scale、center 开关为准）。",
    )


def normalization_params(layer: LayerFacts) -> Derivation:
    """Normalization (preprocessing): mean, variance (per kept axis) and a count, non-trainable."""
    if layer.config.get("mean") is not None:
        return Derivation(
            0,
            "zero",
            Text(
                "The mean and variance are given in the layer's configuration, so Keras keeps "
                "them as constants, not weights.",
                "均值和方差直接写在该层的配置里，Keras 把它们当作常量而不是权重。",
            ),
            Formula(Num(0)),
        )
    if not layer.input_shapes:
        return _unknown("the input shape", "输入形状")
    axis = layer.config.get("axis", -1)
    shape = layer.input_shapes[0]
    size = 1 if axis is None else _axes_size(shape, axis)
    if size is None:
        return _unknown("the size of the normalized axes", "被归一化的轴的大小")
    c = Num(size, Symbol("c"))
    return _formula(
        Sum((Term("mean", c), Term("variance", c), Term("count", Num(1)))),
        f"The Normalization layer stores a mean and a variance for each of the {size} "
        "positions it normalizes, and the number of samples it has seen: all three are set "
        "by adapt() from the data, not learned by gradients (non-trainable).",
        f"Normalization 层为被归一化的 {size} 个位置各保存一个均值和一个方差，另外记录它见过的"
        "样本数：三者都由 adapt() 从数据中统计得到，而不是通过梯度学习（不可训练）。",
    )


def _rnn_parts(layer: LayerFacts) -> tuple[int, int, bool] | None:
    n_in = _last_input_dim(layer)
    if n_in is None:
        return None
    return n_in, int(layer.config["units"]), bool(layer.config.get("use_bias", True))


def _rnn_core(n_in: int, units: int) -> list[Expr]:
    u = Num(units, Symbol("u"))
    return [Product((Num(n_in, Symbol("n", "in")), u)), Product((u, u))]


def simple_rnn_params(layer: LayerFacts) -> Derivation:
    """SimpleRNN: n_in×u (input kernel) + u×u (recurrent kernel) + u (bias)."""
    parts = _rnn_parts(layer)
    if parts is None:
        return _unknown("the size of the input's last axis", "输入最后一维的大小")
    n_in, units, use_bias = parts
    terms = _rnn_core(n_in, units) + ([Num(units, Symbol("u"))] if use_bias else [])
    return _formula(
        Sum(tuple(terms)),
        f"At each time step the {units} units read the {n_in} inputs through one matrix and "
        f"their own previous output through a {units}×{units} recurrent matrix"
        f"{_bias_en(use_bias, 'one bias per unit')}. The same weights serve every time "
        "step, so the sequence length does not matter.",
        f"每个时间步，{units} 个单元通过一个矩阵读取 {n_in} 个输入，再通过一个 {units}×{units} 的"
        f"循环矩阵读取自己上一步的输出{_bias_zh(use_bias, '每个单元另有一个偏置')}。"
        "所有时间步共用同一组"
        "权重，因此与序列长度无关。",
    )


def lstm_params(layer: LayerFacts) -> Derivation:
    """LSTM: 4 × (n_in×u + u×u + u): input, forget, cell and output gates."""
    parts = _rnn_parts(layer)
    if parts is None:
        return _unknown("the size of the input's last axis", "输入最后一维的大小")
    n_in, units, use_bias = parts
    terms = _rnn_core(n_in, units) + ([Num(units, Symbol("u"))] if use_bias else [])
    return _formula(
        Product((Num(4), Sum(tuple(terms)))),
        f"An LSTM has four gates (input, forget, cell candidate, output). Each is a small "
        f"layer of {units} units that reads the {n_in} inputs and the previous {units}-value "
        f"output{_bias_en(use_bias, 'a bias')}: {n_in}×{units} + {units}×{units}"
        f"{' + ' + str(units) if use_bias else ''} weights, four times. The same weights "
        "serve every time step.",
        f"LSTM 有四个门（输入门、遗忘门、候选记忆、输出门）。每个门都是一个 {units} 单元的小层，"
        f"读取 {n_in} 个输入和上一步 {units} 个输出{_bias_zh(use_bias, '并带偏置')}：每个门 "
        f"{n_in}×{units} + {units}×{units}{' + ' + str(units) if use_bias else ''} 个权重，"
        "乘以 4。所有时间步共用同一组权重。",
    )


def gru_params(layer: LayerFacts) -> Derivation:
    """GRU: 3 × (n_in×u + u×u) + biases; reset_after=True keeps 2 biases per gate (2×3×u)."""
    parts = _rnn_parts(layer)
    if parts is None:
        return _unknown("the size of the input's last axis", "输入最后一维的大小")
    n_in, units, use_bias = parts
    reset_after = bool(layer.config.get("reset_after", True))
    u = Num(units, Symbol("u"))
    terms = _rnn_core(n_in, units)
    if use_bias:
        terms.append(Product((Num(2), u)) if reset_after else u)
    if use_bias and reset_after:
        bias_en = (
            " With reset_after=True (the default) each gate has two biases, one added to the "
            "input part and one to the recurrent part, so the biases are 2×3×units."
        )
        bias_zh = (
            "reset_after=True（默认值）时每个门有两个偏置，一个加在输入部分，一个加在循环部分，"
            "所以偏置共 2×3×units 个。"
        )
    elif use_bias:
        bias_en = " With reset_after=False each gate has one bias."
        bias_zh = "reset_after=False 时每个门只有一个偏置。"
    else:
        bias_en, bias_zh = " There is no bias (use_bias=False).", "没有偏置（use_bias=False）。"
    return _formula(
        Product((Num(3), Sum(tuple(terms)))),
        f"A GRU has three gates (update, reset, candidate), each reading the {n_in} inputs "
        f"and the previous {units}-value output: {n_in}×{units} + {units}×{units} weights per "
        f"gate.{bias_en} The same weights serve every time step.",
        f"GRU 有三个门（更新门、重置门、候选状态），每个门读取 {n_in} 个输入和上一步的 {units} "
        f"个输出：每个门 {n_in}×{units} + {units}×{units} 个权重。{bias_zh}所有时间步共用同一组"
        "权重。",
    )


def inner_layer_facts(
    layer: LayerFacts, spec: Any, input_shapes: tuple[Shape, ...], output_shapes: tuple[Shape, ...]
) -> LayerFacts | None:
    """Facts for the layer a wrapper (Bidirectional, TimeDistributed) holds in its config."""
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        return None
    config = spec["config"]
    return LayerFacts(
        name=str(config.get("name", layer.name)),
        class_name=str(spec.get("class_name", "")),
        config=config,
        input_shapes=input_shapes,
        output_shapes=output_shapes,
        compute_dtype=layer.compute_dtype,
        variable_dtype=layer.variable_dtype,
        weights=(),
        keras_params=0,
    )


def _wrapped(derivation: Derivation) -> bool:
    return derivation.method in ("formula", "zero") and derivation.formula is not None


def bidirectional_params(layer: LayerFacts) -> Derivation:
    """Bidirectional: the forward layer's count + the backward layer's (merge_mode adds none)."""
    forward = inner_layer_facts(layer, layer.config.get("layer"), layer.input_shapes, ())
    backward_spec = layer.config.get("backward_layer") or layer.config.get("layer")
    backward = inner_layer_facts(layer, backward_spec, layer.input_shapes, ())
    if forward is None or backward is None:
        return generic_params(layer)
    fwd, bwd = derive_params(forward), derive_params(backward)
    if not (_wrapped(fwd) and _wrapped(bwd)) or fwd.formula is None or bwd.formula is None:
        return generic_params(layer)
    merge = layer.config.get("merge_mode", "concat")
    return _formula(
        Sum((Term("forward", fwd.formula.expr), Term("backward", bwd.formula.expr))),
        f"Bidirectional runs two independent copies of {forward.class_name}, one reading the "
        f"sequence forwards and one backwards, each with weights of its own, so the count is "
        f"the sum of both. Merging their outputs (merge_mode={merge!r}) adds no weights. "
        f"Each copy: {fwd.explanation.en}",
        f"Bidirectional 运行两份相互独立的 {forward.class_name}，一份正向读序列，一份反向读，"
        f"各有自己的权重，所以参数量是两者之和。合并两者的输出（merge_mode={merge!r}）不增加权重。"
        f"每一份：{fwd.explanation.zh}",
    )


def time_distributed_params(layer: LayerFacts) -> Derivation:
    """TimeDistributed: the wrapped layer's count; its weights are shared by every step."""

    def drop_time(shapes: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return tuple((s[0], *s[2:]) for s in shapes if len(s) >= 2)

    inner = inner_layer_facts(
        layer,
        layer.config.get("layer"),
        drop_time(layer.input_shapes),
        drop_time(layer.output_shapes),
    )
    if inner is None:
        return generic_params(layer)
    derived = derive_params(inner)
    if not _wrapped(derived) or derived.formula is None:
        return generic_params(layer)
    steps = (
        layer.input_shapes[0][1] if layer.input_shapes and len(layer.input_shapes[0]) > 1 else None
    )
    steps_text = str(steps) if steps is not None else "all"
    return Derivation(
        derived.value,
        derived.method,
        Text(
            f"TimeDistributed applies one {inner.class_name} to each of the {steps_text} time "
            f"steps with the same weights, so the count is the wrapped layer's: "
            f"{derived.explanation.en}",
            f"TimeDistributed 用同一个 {inner.class_name}（同一组权重）处理 {steps_text} 个时间步"
            f"中的每一步，所以参数量就是被包装层的参数量：{derived.explanation.zh}",
        ),
        derived.formula,
    )


def named_inputs(layer: LayerFacts) -> dict[str, Shape]:
    """Input shapes by call argument; without names, Keras's order (query, value, key)."""
    names = layer.input_names or ("query", "value", "key")[: len(layer.input_shapes)]
    return dict(zip(names, layer.input_shapes, strict=False))


def mha_params(layer: LayerFacts) -> Derivation:
    """MultiHeadAttention: query, key, value (and gate) projections plus the output projection."""
    inputs = named_inputs(layer)
    query, value = inputs.get("query"), inputs.get("value")
    key = inputs.get("key", value)
    if not query or not value or not key or None in (query[-1], value[-1], key[-1]):
        return _unknown(
            "the last axis of the query, key and value inputs",
            "query、key、value 输入最后一维的大小",
        )
    heads = int(layer.config["num_heads"])
    key_dim = int(layer.config["key_dim"])
    value_dim = int(layer.config.get("value_dim") or key_dim)
    use_bias = bool(layer.config.get("use_bias", True))
    use_gate = bool(layer.config.get("use_gate", False))
    out_shape = layer.config.get("output_shape")
    out_dims = _ints(out_shape) if out_shape else (int(query[-1] or 0),)
    h = Num(heads, Symbol("h"))
    dk, dv = Num(key_dim, Symbol("d", "k")), Num(value_dim, Symbol("d", "v"))

    def projection(label: str, n_in: int, sub: str, width: Num) -> Term:
        weights = Product((Num(n_in, Symbol("n", sub)), h, width))
        return Term(label, Sum((weights, Product((h, width)))) if use_bias else weights)

    terms: list[Expr] = [
        projection("query", int(query[-1] or 0), "q", dk),
        projection("key", int(key[-1] or 0), "k", dk),
        projection("value", int(value[-1] or 0), "v", dv),
    ]
    if use_gate:
        terms.append(projection("gate", int(query[-1] or 0), "q", dv))
    out_nums = tuple(Num(d, Symbol("n", "o")) for d in out_dims)
    out_weights = Product((h, dv, *out_nums))
    out_size = out_nums[0] if len(out_nums) == 1 else Product(out_nums)
    terms.append(Term("output", Sum((out_weights, out_size)) if use_bias else out_weights))
    bias_en = "each with a bias" if use_bias else "without biases (use_bias=False)"
    bias_zh = "各带偏置" if use_bias else "都没有偏置（use_bias=False）"
    gate_en = (
        f" With use_gate=True a fourth projection of the query ({heads}×{value_dim} per "
        "input value) gates the attention output."
        if use_gate
        else ""
    )
    gate_zh = (
        f"use_gate=True 时还有第四个对 query 的投影（每个输入值 {heads}×{value_dim}），"
        "用来对注意力输出做门控。"
        if use_gate
        else ""
    )
    out_text = "×".join(str(d) for d in out_dims)
    return _formula(
        Sum(tuple(terms)),
        f"Multi-head attention learns four projections, {bias_en}: query and key map their "
        f"inputs ({query[-1]} and {key[-1]} values) to {heads} heads of key_dim = {key_dim}; "
        f"value maps its {value[-1]} values to {heads} heads of value_dim = {value_dim}; the "
        f"output projection maps the {heads}×{value_dim} concatenated heads back to "
        f"{out_text}.{gate_en} The attention weights themselves are computed from the data "
        "and are not parameters.",
        f"多头注意力学习四个投影，{bias_zh}：query 和 key 把各自的输入（{query[-1]} 和 "
        f"{key[-1]} 维）映射成 {heads} 个头、每头 key_dim = {key_dim}；value 把 {value[-1]} 维输入"
        f"映射成 {heads} 个头、每头 value_dim = {value_dim}；输出投影再把拼接起来的 "
        f"{heads}×{value_dim} 维映射回 {out_text}。{gate_zh}注意力权重本身由数据算出，不是参数。",
    )


def prelu_params(layer: LayerFacts) -> Derivation:
    """PReLU: one learned slope α per input position, except along shared_axes."""
    if not layer.input_shapes or any(d is None for d in layer.input_shapes[0][1:]):
        return _unknown("every non-batch dimension of the input", "输入除批维度外的每一维")
    shared = {int(a) for a in (layer.config.get("shared_axes") or ())}
    dims = [1 if i in shared else int(d or 0) for i, d in enumerate(layer.input_shapes[0]) if i]
    expr: Expr = Product(tuple(Num(d) for d in dims)) if len(dims) > 1 else Num(dims[0])
    shared_en = (
        f" The axes {sorted(shared)} share one slope (shared_axes), so they count as 1."
        if shared
        else ""
    )
    shared_zh = f"轴 {sorted(shared)} 共用一个斜率（shared_axes），按 1 计。" if shared else ""
    return _formula(
        expr,
        "PReLU is a ReLU whose slope for negative inputs, α, is learned: one α for each "
        f"position of the input.{shared_en}",
        f"PReLU 是负半轴斜率 α 可学习的 ReLU：输入的每个位置各有一个 α。{shared_zh}",
    )


def layer_scale_params(layer: LayerFacts) -> Derivation:
    """LayerScale (ConvNeXt): one learned factor per channel."""
    size = int(layer.config["projection_dim"])
    return _formula(
        Num(size, Symbol("c")),
        f"LayerScale multiplies each of the {size} channels by a factor of its own, learned "
        "and started near zero so that a new residual block begins close to the identity.",
        f"LayerScale 给 {size} 个通道各乘一个可学习的系数，初值接近 0，"
        "让新加入的残差块一开始近似恒等映射。",
    )


def dot_attention_params(layer: LayerFacts) -> Derivation:
    """Attention (Luong): a learned scalar scale (use_scale) and concat-score weight at most."""
    scale = bool(layer.config.get("use_scale", False))
    concat = layer.config.get("score_mode", "dot") == "concat"
    terms: list[Expr] = []
    if scale:
        terms.append(Term("scale", Num(1)))
    if concat:
        terms.append(Term("concat score weight", Num(1)))
    if not terms:
        return Derivation(
            0,
            "zero",
            Text(
                "Dot-product attention computes its weights from the data; without use_scale it "
                "learns nothing.",
                "点积注意力的权重由数据算出；不启用 use_scale 时没有可学习的参数。",
            ),
            Formula(Num(0)),
        )
    return _formula(
        Sum(tuple(terms)) if len(terms) > 1 else terms[0],
        "Dot-product attention computes its attention weights from the data; it only learns a "
        "single scalar for each option that is on (use_scale multiplies the scores, "
        "score_mode='concat' weights the tanh scores).",
        "点积注意力的注意力权重由数据算出；它只为每个开启的选项学习一个标量"
        "（use_scale 缩放分数，score_mode='concat' 给 tanh 分数加权）。",
    )


def additive_attention_params(layer: LayerFacts) -> Derivation:
    """AdditiveAttention (Bahdanau): one learned scale per feature when use_scale is on."""
    if not bool(layer.config.get("use_scale", True)):
        return Derivation(
            0,
            "zero",
            Text(
                "Without use_scale, additive attention learns nothing: the scores come from the "
                "data alone.",
                "不启用 use_scale 时，加性注意力没有可学习的参数，分数完全由数据算出。",
            ),
            Formula(Num(0)),
        )
    dim = _last_input_dim(layer)
    if dim is None:
        return _unknown("the size of the query's last axis", "query 最后一维的大小")
    return _formula(
        Num(dim, Symbol("d")),
        f"Additive attention scores query + key through tanh and then weights each of the {dim} "
        "features with a learned scale (use_scale=True): one weight per feature.",
        f"加性注意力把 query 与 key 相加后经过 tanh，再用可学习的缩放系数给 {dim} 个特征分别加权"
        "（use_scale=True）：每个特征一个权重。",
    )


PARAM_RULES: dict[str, ParamRule] = {
    "Attention": dot_attention_params,
    "AdditiveAttention": additive_attention_params,
    "Conv1D": conv_params,
    "Conv2D": conv_params,
    "Conv3D": conv_params,
    "Conv1DTranspose": conv_transpose_params,
    "Conv2DTranspose": conv_transpose_params,
    "Conv3DTranspose": conv_transpose_params,
    "DepthwiseConv1D": depthwise_params,
    "DepthwiseConv2D": depthwise_params,
    "SeparableConv1D": separable_params,
    "SeparableConv2D": separable_params,
    "Dense": dense_params,
    "EinsumDense": einsum_dense_params,
    "Embedding": embedding_params,
    "BatchNormalization": batch_norm_params,
    "LayerNormalization": layer_norm_params,
    "GroupNormalization": group_norm_params,
    "Normalization": normalization_params,
    "SimpleRNN": simple_rnn_params,
    "LSTM": lstm_params,
    "GRU": gru_params,
    "Bidirectional": bidirectional_params,
    "TimeDistributed": time_distributed_params,
    "MultiHeadAttention": mha_params,
    "PReLU": prelu_params,
    "LayerScale": layer_scale_params,
}

LORA_AWARE = frozenset({"Dense", "Embedding"})
"""Rules that count LoRA weights; any other layer with ``lora_rank`` gets the generic count."""


def _needs_generic(layer: LayerFacts) -> Text | None:
    """Why a layer's dedicated formula does not apply (quantized or LoRA weights), or None."""
    dtype = layer.config.get("dtype")
    policy = dtype.get("class_name", "") if isinstance(dtype, dict) else str(dtype or "")
    if "Quantized" in policy or layer.config.get("quantization_config"):
        return Text(
            "The layer is quantized, so its weights are stored in another layout than the "
            "formula assumes.",
            "该层已量化，权重的存储方式与公式假定的不同。",
        )
    if layer.config.get("lora_rank") and layer.class_name not in LORA_AWARE:
        return Text(
            "The layer has LoRA weights, which its formula does not cover.",
            "该层带有 LoRA 权重，公式没有涵盖。",
        )
    return None


def generic_params(layer: LayerFacts, reason: Text | None = None) -> Derivation:
    """Σ over the layer's weights of the product of each shape, labelled by weight name.

    ``reason`` says why a layer that has a dedicated formula is counted generically.
    """
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
    lead = (
        Text(reason.en + " This", reason.zh)
        if reason is not None
        else Text(
            f"reportgen has no dedicated formula for {layer.class_name}; this",
            f"reportgen 还没有针对 {layer.class_name} 的专门公式，",
        )
    )
    explanation = Text(
        f"{lead.en} is the generic count: the sum over the layer's weights of the product "
        "of each weight's shape.",
        f"{lead.zh}这里用通用方法计数：把该层每个权重张量各维大小相乘，再对所有权重求和。",
    )
    return Derivation(formula.value, "generic", explanation, formula)


MAX_DERIVED = 2**62
"""The largest count a formula may yield (as the facts schema bounds every count)."""


def impossible_value(value: int) -> tuple[str, str]:
    """A count no layer can have, described in English and Chinese."""
    if value < 0:
        return "a negative number", "负数"
    digits = f"{len(str(value)):,}"
    return f"a number of {digits} digits", f"一个 {digits} 位数"


def derive_params(layer: LayerFacts) -> Derivation:
    """The layer's parameter count: its family's formula, 0 with a reason, or the generic count."""
    rule = PARAM_RULES.get(layer.class_name)
    if rule is not None:
        reason = _needs_generic(layer)
        if reason is not None:
            return generic_params(layer, reason)
        try:
            derived = rule(layer)
            if derived.value is not None and not 0 <= derived.value <= MAX_DERIVED:
                # A doctored or broken configuration (a negative or astronomically large
                # field): the weights' own shapes are the better witness.
                what = impossible_value(derived.value)
                return generic_params(
                    layer,
                    Text(
                        f"The {layer.class_name} configuration gives an impossible count "
                        f"({what[0]}).",
                        f"{layer.class_name} 的配置给出了不可能的参数量（{what[1]}）。",
                    ),
                )
            return derived
        except (KeyError, TypeError, ValueError, IndexError, ArithmeticError):
            # A configuration without a field the formula needs (or holding it in another
            # form, e.g. from a newer Keras) must not crash the report: count generically.
            return generic_params(
                layer,
                Text(
                    f"The {layer.class_name} configuration lacks a field its formula needs.",
                    f"{layer.class_name} 的配置缺少其公式所需的字段。",
                ),
            )
    reason = ZERO_PARAM_REASONS.get(layer.class_name)
    if reason is not None:
        return Derivation(0, "zero", reason, Formula(Num(0)))
    return generic_params(layer)
