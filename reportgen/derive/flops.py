"""Forward-pass FLOPs per layer, counted the way TensorFlow's profiler counts them.

Convention: one multiply-add is 2 FLOPs, and every other operation is counted exactly as
``tf.compat.v1.profiler`` with ``float_operation()`` counts it, so that the sum over the
layers can be checked against TensorFlow's own total. Its rules are the ``"flops"``
statistics registered in TensorFlow (verified against TF 2.21):

- ``Conv2D``/``Conv3D`` (``nn_ops._calc_conv_flops``, ``_calc_conv3d_flops``): 2 × kernel
  window × filter input depth × output elements; TensorFlow runs Conv1D as a Conv2D.
- ``MatMul``/``BatchMatMul`` (``flops_registry._calc_mat_mul_flops``): 2 × k × output
  elements; ``BiasAdd`` (``nn_ops._calc_bias_add_flops``): one per element.
- ``MaxPool``/``AvgPool`` (``flops_registry._pool_flops``): window size × output elements;
  there is no rule for ``MaxPool3D``/``AvgPool3D``, nor for ``Max`` (global max pooling).
- ``Mean`` (global average pooling): one per input element; ``Softmax``: 5 per element;
  ``Add``/``AddV2``/``Sub``/``Mul``: one per output element.
- Ops without a registered rule count 0: ``Relu``, ``Sigmoid``, ``Tanh``, ``Elu``,
  ``Reshape``, ``Transpose``, ``Pad``… Unregistered is not free, but following the
  profiler keeps the cross-check exact; the explanations say where this happens.

Every count comes from the layer's configuration and its input/output shapes (strides,
padding and dilation act only through the output shape), multiplied by the batch size.
A layer kind without a rule gets ``None``: a FLOPs figure is never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from reportgen.expr import Expr, Formula, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Text
from reportgen.units import fmt_int

FlopsRule = Callable[[LayerFacts, int], Derivation]

CONVENTION = Text(
    "Convention: one multiply-add counts as 2 FLOPs, and every operation is counted the way "
    "TensorFlow's profiler (tf.compat.v1.profiler, float_operation) counts it, so the model "
    "total can be checked against TensorFlow's own figure.",
    "约定：一次乘加记为 2 次浮点运算（FLOPs），其余运算一律按 TensorFlow 分析器"
    "（tf.compat.v1.profiler 的 float_operation）的规则计数，以便与 TensorFlow 自己给出的"
    "模型总数对照核验。",
)

# Reasons a layer costs no FLOPs, by class name: it moves or passes data without
# arithmetic, and TensorFlow's profiler has no rule for the ops it runs.
ZERO_FLOPS_REASONS: dict[str, Text] = {
    "InputLayer": Text(
        "An input layer only declares the shape of the data fed in; it computes nothing.",
        "输入层只声明送入网络的数据形状，不做任何计算。",
    ),
    "Flatten": Text(
        "Flatten only reshapes its input (a Reshape op); no arithmetic is done.",
        "Flatten 只是改变形状（Reshape 运算），不做任何算术运算。",
    ),
    "Reshape": Text(
        "Reshape only rearranges the same values into a new shape; no arithmetic is done.",
        "Reshape 只是把同样的数值重新排列成新形状，不做任何算术运算。",
    ),
    "Dropout": Text(
        "At inference Dropout passes its input through unchanged; it computes nothing.",
        "推理时 Dropout 原样输出输入，不做任何计算。",
    ),
    "Permute": Text(
        "Permute only reorders axes (a Transpose op); no arithmetic is done.",
        "Permute 只是调换维度顺序（Transpose 运算），不做任何算术运算。",
    ),
    "ZeroPadding2D": Text(
        "Zero padding only copies the input into a larger zero-filled tensor; no arithmetic.",
        "零填充只是把输入复制到更大的全零张量中，不做算术运算。",
    ),
    "Cropping2D": Text(
        "Cropping only cuts a border off the input; no arithmetic is done.",
        "裁剪层只是切掉输入的边缘，不做算术运算。",
    ),
    "Concatenate": Text(
        "Concatenate only copies its inputs side by side; no arithmetic is done.",
        "Concatenate 只是把多个输入拼接在一起，不做算术运算。",
    ),
}
for _name in (
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
):
    ZERO_FLOPS_REASONS[_name] = Text(
        f"At inference {_name} passes its input through unchanged; it computes nothing.",
        f"推理时 {_name} 原样输出输入，不做任何计算。",
    )
for _dim in ("1D", "3D"):
    ZERO_FLOPS_REASONS[f"ZeroPadding{_dim}"] = ZERO_FLOPS_REASONS["ZeroPadding2D"]
    ZERO_FLOPS_REASONS[f"Cropping{_dim}"] = ZERO_FLOPS_REASONS["Cropping2D"]
for _name in ("ReLU", "LeakyReLU", "ELU"):
    ZERO_FLOPS_REASONS[_name] = Text(
        f"TensorFlow's profiler has no FLOPs rule for the op {_name} runs, so it counts 0; "
        "reportgen follows it so the totals can be compared.",
        f"TensorFlow 分析器没有为 {_name} 所用的运算定义浮点运算规则，计为 0；"
        "reportgen 与之保持一致，以便对照总数。",
    )

# FLOPs per output value that the profiler counts for the ops Keras 3 builds each
# activation from. Softmax is TensorFlow's own rule (2 to shift the logits, 1 exp, 2 to
# normalise); the composite ones were measured with the profiler on TF 2.21 / Keras 3.15
# (silu: x·sigmoid(βx) = 2 Mul; gelu: 3 Mul + Neg around Erfc; mish: x·tanh(softplus(x)));
# a Keras version that composes them differently would show up as a cross-check mismatch.
ACTIVATION_FLOPS_PER_VALUE: dict[str, int] = {
    "softmax": 5,
    "silu": 2,
    "swish": 2,
    "gelu": 4,
    "mish": 1,
    "hard_sigmoid": 2,
    "hard_silu": 3,
    "hard_swish": 3,
}

# Activations that run one TensorFlow op without a FLOPs rule (or none at all): 0.
UNCOUNTED_ACTIVATIONS = frozenset(
    {
        "relu",
        "relu6",
        "sigmoid",
        "tanh",
        "elu",
        "selu",
        "softplus",
        "softsign",
        "leaky_relu",
        "exponential",
        "log_softmax",
    }
)

_SPATIAL_SYMBOLS = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
_KERNEL_SUBS = {1: ("",), 2: ("h", "w"), 3: ("d", "h", "w")}


# ---------------------------------------------------------------- small building blocks


def _join(*parts: Text | None) -> Text:
    """Sentences in each language, in order; None parts are skipped."""
    present = [p for p in parts if p is not None and p.en]
    return Text(" ".join(p.en for p in present), "".join(p.zh for p in present))


def _unknown(en: str, zh: str) -> Derivation:
    return Derivation(value=None, method="unknown", explanation=Text(en, zh))


def _unknown_shape(layer: LayerFacts) -> Derivation:
    return _unknown(
        f"FLOPs need every non-batch dimension of {layer.class_name}'s input and output "
        "shapes, and one of them is missing or only known at run time.",
        f"计算浮点运算量需要 {layer.class_name} 输入、输出形状中除批维度外的每一维，"
        "但其中有维度缺失或要到运行时才能确定。",
    )


def _dims(shapes: tuple[tuple[int | None, ...], ...]) -> tuple[int, ...] | None:
    """Non-batch dimensions of the first tensor, or None when any is unknown."""
    if not shapes or not shapes[0]:
        return None
    rest = shapes[0][1:]
    if any(d is None for d in rest):
        return None
    return tuple(int(d) for d in rest if d is not None)


def _batch(batch_size: int) -> list[Expr]:
    """The batch factor; omitted for batch 1 as in the memory formulas."""
    return [Num(batch_size, Symbol("N"))] if batch_size != 1 else []


def _batch_note(batch_size: int) -> Text | None:
    if batch_size == 1:
        return None
    return Text(
        f"Everything is counted for a batch of N = {batch_size} examples.",
        f"以上均按批大小 N = {batch_size} 计算。",
    )


def _split_channels(layer: LayerFacts, dims: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """(spatial dims, channels) of a conv/pool tensor, honouring data_format."""
    if layer.config.get("data_format") == "channels_first":
        return dims[1:], dims[0]
    return dims[:-1], dims[-1]


def _spatial_nums(spatial: tuple[int, ...]) -> list[Expr]:
    names = _SPATIAL_SYMBOLS.get(len(spatial), tuple(f"S{i + 1}" for i in range(len(spatial))))
    return [Num(d, Symbol(n, "out")) for d, n in zip(spatial, names, strict=True)]


def _window_nums(window: tuple[int, ...], letter: str) -> list[Expr]:
    subs = _KERNEL_SUBS.get(len(window), tuple(str(i + 1) for i in range(len(window))))
    return [Num(k, Symbol(letter, s)) for k, s in zip(window, subs, strict=True)]


def _ints(value: Any) -> tuple[int, ...]:
    """A Keras size setting (int or list) as a tuple of ints."""
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value)


def _derivation(terms: Sequence[Term], explanation: Text) -> Derivation:
    """Terms (one per TensorFlow op kind) → formula; an empty list means 0 FLOPs."""
    if not terms:
        return Derivation(0, "zero", explanation, Formula(Num(0)))
    formula = Formula(Sum(tuple(terms)) if len(terms) > 1 else terms[0])
    return Derivation(formula.value, "formula", explanation, formula)


# ---------------------------------------------------------------- activations


def activation_name(value: Any) -> str:
    """The activation named by a Keras config value (a string, or a serialized function)."""
    if value is None:
        return "linear"
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("config"), str):
        return str(value["config"])
    return str(value)


def activation_term(name: str, elements: Sequence[Expr]) -> tuple[Term | None, Text | None]:
    """The FLOPs an activation adds over ``elements`` output values, and the sentence why."""
    if name == "linear":
        return None, None
    per_value = ACTIVATION_FLOPS_PER_VALUE.get(name)
    if name == "softmax":
        return Term("Softmax", Product((Num(5), *elements))), Text(
            "The softmax costs 5 FLOPs per output value (TensorFlow's rule: 2 to shift the "
            "logits, 1 for exp, 2 to normalise).",
            "softmax 每个输出值记 5 次浮点运算（TensorFlow 的规则：平移 logits 2 次、"
            "求 exp 1 次、归一化 2 次）。",
        )
    if per_value is not None:
        return Term(name, Product((Num(per_value), *elements))), Text(
            f"Keras builds the {name} activation from elementwise TensorFlow ops, of which "
            f"the profiler counts {per_value} per output value.",
            f"Keras 用逐元素的 TensorFlow 运算组合出 {name} 激活，分析器对每个输出值"
            f"计 {per_value} 次。",
        )
    if name in UNCOUNTED_ACTIVATIONS:
        return None, Text(
            f"The {name} activation adds 0: TensorFlow's profiler has no FLOPs rule for "
            "its op, and reportgen follows it.",
            f"{name} 激活记为 0：TensorFlow 分析器没有为它的运算定义浮点运算规则，"
            "reportgen 与之保持一致。",
        )
    return None, Text(
        f"reportgen has no FLOPs rule for the {name} activation; it is left out, so this "
        "figure may be below TensorFlow's count.",
        f"reportgen 没有 {name} 激活的浮点运算规则，这里未计入，因此该数字可能低于 "
        "TensorFlow 的统计。",
    )


# ---------------------------------------------------------------- rules per layer family


def conv_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Conv1D/2D/3D: 2×k…×c_in/g×c_out×(output positions)×N, + bias, + activation."""
    kernel = _ints(layer.config["kernel_size"])
    groups = int(layer.config.get("groups", 1) or 1)
    in_dims, out_dims = _dims(layer.input_shapes), _dims(layer.output_shapes)
    if in_dims is None or out_dims is None:
        return _unknown_shape(layer)
    c_in = _split_channels(layer, in_dims)[1]
    spatial, c_out = _split_channels(layer, out_dims)
    if groups == 1:
        depth = Num(c_in, Symbol("c", "in"))
    else:
        depth = Num(c_in // groups, Symbol("c", "in/g"))
    out_c = Num(c_out, Symbol("c", "out"))
    # TensorFlow's rule: output elements × filter input depth × kernel window × 2.
    conv = Product(
        (
            Num(2),
            *_window_nums(kernel, "k"),
            depth,
            out_c,
            *_spatial_nums(spatial),
            *_batch(batch_size),
        )
    )
    terms = [Term("Conv3D" if len(kernel) == 3 else "Conv2D", conv)]
    notes = [
        _conv_sentence(kernel, depth.value, c_out, spatial),
        *_conv_notes(kernel, c_in, groups),
    ]
    elements = [*_spatial_nums(spatial), out_c, *_batch(batch_size)]
    notes.extend(_bias_and_activation(layer, elements, terms))
    notes.append(_batch_note(batch_size))
    return _derivation(terms, _join(*notes, CONVENTION))


def _conv_sentence(
    kernel: tuple[int, ...], depth: int, c_out: int, spatial: tuple[int, ...]
) -> Text:
    window = "×".join(str(k) for k in kernel)
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


def _conv_notes(kernel: tuple[int, ...], c_in: int, groups: int) -> list[Text | None]:
    notes: list[Text | None] = []
    if len(kernel) == 1:
        notes.append(
            Text(
                "TensorFlow runs a 1D convolution as a Conv2D op of height 1; the count is equal.",
                "TensorFlow 把一维卷积当作高度为 1 的 Conv2D 运算执行，计数相同。",
            )
        )
    if groups > 1:
        # Observed with TF 2.21 on CPU: the grouped conv sits in a StatefulPartitionedCall,
        # whose body the profiler does not count.
        notes.append(
            Text(
                f"The {c_in} input channels are split into {groups} groups, so each filter sees "
                f"{c_in // groups}. Keras runs a grouped convolution inside a nested compiled "
                "function, which the profiler may not look into: its total can miss this term.",
                f"{c_in} 个输入通道被分成 {groups} 组，每个卷积核只看到 {c_in // groups} 个。"
                "Keras 在一个嵌套的编译函数里执行分组卷积，分析器可能看不到其内部，"
                "它的总数可能漏掉这一项。",
            )
        )
    return notes


def _bias_and_activation(
    layer: LayerFacts, elements: Sequence[Expr], terms: list[Term]
) -> list[Text | None]:
    """Append the BiasAdd and activation terms of a Conv/Dense layer; return their sentences."""
    notes: list[Text | None] = []
    if bool(layer.config.get("use_bias", True)):
        terms.append(Term("BiasAdd", Product(tuple(elements))))
        notes.append(
            Text(
                "Adding the bias costs 1 FLOP per output value.",
                "加偏置每个输出值记 1 次浮点运算。",
            )
        )
    else:
        notes.append(Text("There is no bias (use_bias=False).", "没有偏置（use_bias=False）。"))
    term, note = activation_term(activation_name(layer.config.get("activation")), elements)
    if term is not None:
        terms.append(term)
    notes.append(note)
    return notes


def dense_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Dense on an input of any rank: 2×n_in×n_out per row; rows = leading dims × N."""
    in_dims, out_dims = _dims(layer.input_shapes), _dims(layer.output_shapes)
    if not in_dims or out_dims is None:
        return _unknown_shape(layer)
    n_in, units = in_dims[-1], int(layer.config["units"])
    rows = [*(Num(d) for d in in_dims[:-1]), *_batch(batch_size)]
    n_out = Num(units, Symbol("n", "out"))
    terms = [Term("MatMul", Product((Num(2), Num(n_in, Symbol("n", "in")), n_out, *rows)))]
    row_count = math.prod(in_dims[:-1]) * batch_size
    main = Text(
        f"Each of the {units} outputs is a dot product with all {n_in} inputs: "
        f"{fmt_int(n_in)} multiply-adds, 2 FLOPs each.",
        f"{units} 个输出中的每一个都是与全部 {n_in} 个输入的点积：{fmt_int(n_in)} 次乘加，"
        "每次记 2 次浮点运算。",
    )
    if in_dims[:-1]:
        # Keras applies Dense to the last axis only: every position of the other axes is
        # one row of the matrix product.
        leading = "×".join(str(d) for d in in_dims[:-1])
        main = _join(
            main,
            Text(
                f"The input has more axes than one, so this is done for each of its {leading} "
                f"positions along the leading axes ({fmt_int(row_count)} rows in all).",
                f"输入不止一个轴，所以对前面各轴上的 {leading} 个位置各做一遍"
                f"（共 {fmt_int(row_count)} 行）。",
            ),
        )
    notes: list[Text | None] = [main]
    elements = [*(Num(d) for d in in_dims[:-1]), n_out, *_batch(batch_size)]
    notes.extend(_bias_and_activation(layer, elements, terms))
    notes.append(_batch_note(batch_size))
    return _derivation(terms, _join(*notes, CONVENTION))


def pool_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Max/AveragePooling1D/2D: window size × output elements (TensorFlow's _pool_flops)."""
    window = _ints(layer.config["pool_size"])
    out_dims = _dims(layer.output_shapes)
    if out_dims is None:
        return _unknown_shape(layer)
    spatial, channels = _split_channels(layer, out_dims)
    op = "MaxPool" if layer.class_name.startswith("Max") else "AvgPool"
    elements = [*_spatial_nums(spatial), Num(channels, Symbol("c")), *_batch(batch_size)]
    if len(window) == 3:
        return _untracked_pool(layer, window, elements, op)
    terms = [Term(op, Product((*_window_nums(window, "p"), *elements)))]
    verb_en = "the largest of" if op == "MaxPool" else "the mean of"
    verb_zh = "取最大值" if op == "MaxPool" else "求平均"
    size, count = "×".join(map(str, window)), fmt_int(math.prod(out_dims))
    main = Text(
        f"Each of the {count} output values is {verb_en} a {size} window: TensorFlow counts "
        "one FLOP per window element.",
        f"{count} 个输出值中的每一个都是对一个 {size} 窗口{verb_zh}："
        "TensorFlow 按窗口内每个元素 1 次浮点运算计数。",
    )
    return _derivation(terms, _join(main, _batch_note(batch_size), CONVENTION))


def _untracked_pool(
    layer: LayerFacts, window: tuple[int, ...], elements: Sequence[Expr], op: str
) -> Derivation:
    """3D pooling: TensorFlow registers no FLOPs rule for MaxPool3D/AvgPool3D, so it counts 0."""
    would_be = math.prod(window) * math.prod(e.value for e in elements if isinstance(e, Num))
    explanation = Text(
        f"TensorFlow's profiler has no FLOPs rule for {op}3D, so it counts this layer as 0; "
        f"reportgen follows it so the totals can be compared. Counted like 2D pooling "
        f"(window size × output values) it would be {fmt_int(would_be)}.",
        f"TensorFlow 分析器没有为 {op}3D 定义浮点运算规则，该层计为 0；reportgen 与之保持一致，"
        f"以便对照总数。若像二维池化那样计数（窗口大小 × 输出值个数），应为 {fmt_int(would_be)}。",
    )
    return _derivation([], _join(explanation, CONVENTION))


def global_pool_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Global average pooling: a Mean, one FLOP per input value; global max: no rule, 0."""
    in_dims = _dims(layer.input_shapes)
    if in_dims is None:
        return _unknown_shape(layer)
    spatial, channels = _split_channels(layer, in_dims)
    names = _SPATIAL_SYMBOLS.get(len(spatial), tuple(f"S{i + 1}" for i in range(len(spatial))))
    elements = [
        *(Num(d, Symbol(n, "in")) for d, n in zip(spatial, names, strict=True)),
        Num(channels, Symbol("c")),
        *_batch(batch_size),
    ]
    total = fmt_int(math.prod(in_dims) * batch_size)
    if layer.class_name.startswith("GlobalMax"):
        explanation = Text(
            "Global max pooling runs a Max reduction, for which TensorFlow's profiler has no "
            "FLOPs rule, so it counts 0; reportgen follows it so the totals can be compared. "
            f"It compares {total} input values.",
            "全局最大池化执行 Max 归约，TensorFlow 分析器没有为它定义浮点运算规则，计为 0；"
            f"reportgen 与之保持一致，以便对照总数。实际上它要比较 {total} 个输入值。",
        )
        return _derivation([], _join(explanation, CONVENTION))
    main = Text(
        f"Global average pooling is a Mean over each channel: TensorFlow counts one FLOP per "
        f"input value ({total}), the additions plus the final division.",
        f"全局平均池化是对每个通道求 Mean：TensorFlow 按每个输入值 1 次浮点运算计数"
        f"（共 {total} 个），即各次加法加上最后的除法。",
    )
    terms = [Term("Mean", Product(tuple(elements)))]
    return _derivation(terms, _join(main, _batch_note(batch_size), CONVENTION))


def activation_layer_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Activation and Softmax layers: the activation's cost over the output values."""
    out_dims = _dims(layer.output_shapes)
    if out_dims is None:
        return _unknown_shape(layer)
    if layer.class_name == "Softmax":
        if not isinstance(layer.config.get("axis", -1), int):
            return _unknown(
                "A softmax over several axes is built from separate ops; reportgen has no "
                "FLOPs rule for it.",
                "跨多个轴的 softmax 由多个运算组合而成，reportgen 没有它的浮点运算规则。",
            )
        name = "softmax"
    else:
        name = activation_name(layer.config.get("activation"))
    term, note = activation_term(name, [*(Num(d) for d in out_dims), *_batch(batch_size)])
    if term is None and name not in UNCOUNTED_ACTIVATIONS and name != "linear":
        return _unknown(
            f"reportgen has no FLOPs rule for the {name} activation.",
            f"reportgen 没有 {name} 激活的浮点运算规则。",
        )
    if note is None:
        note = Text(
            "The linear activation returns its input unchanged.", "linear 激活原样输出输入。"
        )
    return _derivation([term] if term else [], _join(note, _batch_note(batch_size), CONVENTION))


_MERGE_OPS = {
    "Add": ("AddV2", "add", "相加"),
    "Subtract": ("Sub", "subtract", "相减"),
    "Multiply": ("Mul", "multiply", "相乘"),
}


def merge_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Add/Subtract/Multiply of n inputs: n−1 elementwise ops, one FLOP per output value."""
    out_dims = _dims(layer.output_shapes)
    if out_dims is None or not layer.input_shapes:
        return _unknown_shape(layer)
    op, verb_en, verb_zh = _MERGE_OPS[layer.class_name]
    n = len(layer.input_shapes)
    elements = [*(Num(d) for d in out_dims), *_batch(batch_size)]
    factors = (Num(n - 1), *elements) if n > 2 else tuple(elements)
    main = Text(
        f"To {verb_en} {n} inputs element by element takes {n - 1} {op} op(s), each one FLOP "
        "per output value (broadcasting does not add to the count).",
        f"把 {n} 个输入逐元素{verb_zh}需要 {n - 1} 次 {op} 运算，每次每个输出值记 1 次浮点运算。",
    )
    return _derivation(
        [Term(op, Product(factors))], _join(main, _batch_note(batch_size), CONVENTION)
    )


FLOPS_RULES: dict[str, FlopsRule] = {
    "Conv1D": conv_flops,
    "Conv2D": conv_flops,
    "Conv3D": conv_flops,
    "Dense": dense_flops,
    "Activation": activation_layer_flops,
    "Softmax": activation_layer_flops,
    "Add": merge_flops,
    "Subtract": merge_flops,
    "Multiply": merge_flops,
}
for _kind in ("MaxPooling", "AveragePooling"):
    for _dim in ("1D", "2D", "3D"):
        FLOPS_RULES[f"{_kind}{_dim}"] = pool_flops
        FLOPS_RULES[f"Global{_kind}{_dim}"] = global_pool_flops


def derive_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Forward-pass FLOPs of one layer for ``batch_size`` examples, TensorFlow-profiler style."""
    rule = FLOPS_RULES.get(layer.class_name)
    if rule is not None:
        try:
            return rule(layer, batch_size)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            # A config that lacks a field the rule needs (or holds it in an unexpected
            # form) means "not derivable", never a crash of the whole report.
            return _unknown(
                f"The {layer.class_name} configuration lacks a field its FLOPs formula needs.",
                f"{layer.class_name} 的配置缺少其浮点运算公式所需的字段。",
            )
    reason = ZERO_FLOPS_REASONS.get(layer.class_name)
    if reason is not None:
        return Derivation(0, "zero", reason, Formula(Num(0)))
    return _unknown(
        f"FLOPs are not derived for the layer kind {layer.class_name}: reportgen has no rule "
        "for it, and a guessed figure would be worse than none.",
        f"reportgen 不为 {layer.class_name} 这种层推导浮点运算量：没有相应的规则，"
        "猜出来的数字不如不给。",
    )
