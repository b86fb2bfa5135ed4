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

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from reportgen.derive.params import (
    MAX_DERIVED,
    einsum_weight_shapes,
    impossible_value,
    inner_layer_facts,
    named_inputs,
    resolved_output_shapes,
)
from reportgen.expr import Expr, Formula, Num, Product, Sum, Symbol, Term, evaluate
from reportgen.facts import LayerFacts, Shape
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
for _name in ("LeakyReLU",):
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


# ---------------------------------------------------------------- more layer families
#
# The op breakdowns below were read off the traced graphs of TF 2.21 / Keras 3.15 on CPU
# and each rule was checked against tf.compat.v1.profiler (tests/test_tf_applications.py
# compares every layer of a model with one of each kind).


def _elements(dims: Sequence[int], batch_size: int) -> list[Expr]:
    return [*(Num(d) for d in dims), *_batch(batch_size)]


def _count(dims: Sequence[int], batch_size: int) -> int:
    return math.prod(dims) * batch_size


def _channels_last_only(layer: LayerFacts) -> Derivation | None:
    if layer.config.get("data_format") == "channels_first":
        return _unknown(
            "TensorFlow's profiler only counts NHWC (channels_last) convolutions; this layer is "
            "channels_first, so no comparable figure is derived.",
            "TensorFlow 分析器只统计 NHWC（channels_last）格式的卷积；该层是 channels_first，"
            "因此不给出可对照的数字。",
        )
    return None


def conv_transpose_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Conv1D/2DTranspose: TensorFlow's Conv2DBackpropInput rule; Conv3DTranspose: 0."""
    refused = _channels_last_only(layer)
    if refused is not None:
        return refused
    kernel = _ints(layer.config["kernel_size"])
    strides = _ints(layer.config.get("strides", 1))
    if len(strides) == 1 and len(kernel) > 1:
        strides = strides * len(kernel)
    in_dims, out_dims = _dims(layer.input_shapes), _dims(layer.output_shapes)
    if in_dims is None or out_dims is None:
        return _unknown_shape(layer)
    c_in = in_dims[-1]
    spatial, c_out = out_dims[:-1], out_dims[-1]
    elements = [*_spatial_nums(spatial), Num(c_out, Symbol("c", "out")), *_batch(batch_size)]
    terms: list[Term] = []
    notes: list[Text | None] = []
    if len(kernel) == 3:
        notes.append(
            Text(
                "TensorFlow runs a 3D transposed convolution as Conv3DBackpropInputV2, for which "
                "its profiler has no FLOPs rule, so the convolution counts 0 here.",
                "TensorFlow 用 Conv3DBackpropInputV2 执行三维转置卷积，分析器没有它的浮点运算规则，"
                "这里卷积部分计为 0。",
            )
        )
    else:
        # _conv_2d_backprop_input_flops: 2 × output elements × kernel elements
        # / (output depth × stride_h × stride_w), truncated to an integer.
        total = 2 * math.prod(kernel) * c_in * c_out * math.prod(spatial) * batch_size
        stride_product = math.prod(strides)
        value = total // stride_product
        if all(d % s == 0 for d, s in zip(spatial, strides, strict=True)):
            names = _SPATIAL_SYMBOLS.get(len(spatial), ("S",) * len(spatial))
            per_stride = [
                Num(d // s, Symbol(n, "out/s") if s > 1 else Symbol(n, "out"))
                for d, s, n in zip(spatial, strides, names, strict=True)
            ]
            conv: Expr = Product(
                (
                    Num(2),
                    *_window_nums(kernel, "k"),
                    Num(c_in, Symbol("c", "in")),
                    Num(c_out, Symbol("c", "out")),
                    *per_stride,
                    *_batch(batch_size),
                )
            )
        else:
            conv = Num(value)
        terms.append(Term("Conv2DBackpropInput", conv))
        window = "×".join(map(str, kernel))
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
    notes.extend(_bias_and_activation(layer, elements, terms))
    notes.append(_batch_note(batch_size))
    return _derivation(terms, _join(*notes, CONVENTION))


def depthwise_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """DepthwiseConv1D/2D: DepthwiseConv2dNative, 2 × window × output elements."""
    refused = _channels_last_only(layer)
    if refused is not None:
        return refused
    kernel = _ints(layer.config["kernel_size"])
    out_dims = _dims(layer.output_shapes)
    if out_dims is None:
        return _unknown_shape(layer)
    spatial, c_out = out_dims[:-1], out_dims[-1]
    out_c = Num(c_out, Symbol("c", "out"))
    elements = [*_spatial_nums(spatial), out_c, *_batch(batch_size)]
    terms = [
        Term("DepthwiseConv2dNative", Product((Num(2), *_window_nums(kernel, "k"), *elements)))
    ]
    window = "×".join(map(str, kernel))
    notes: list[Text | None] = [
        Text(
            f"Each of the {fmt_int(_count(out_dims, 1))} output values is a dot product over a "
            f"{window} window of one input channel only: {math.prod(kernel)} multiply-adds, "
            "2 FLOPs each.",
            f"{fmt_int(_count(out_dims, 1))} 个输出值中的每一个，都只是在一个输入通道的 {window} "
            f"窗口上做点积：{math.prod(kernel)} 次乘加，每次记 2 次浮点运算。",
        )
    ]
    if len(kernel) == 1:
        notes.append(
            Text(
                "TensorFlow runs it as a 2D depthwise convolution of height 1; the count is equal.",
                "TensorFlow 把它当作高度为 1 的二维深度卷积执行，计数相同。",
            )
        )
    notes.extend(_bias_and_activation(layer, elements, terms))
    notes.append(_batch_note(batch_size))
    return _derivation(terms, _join(*notes, CONVENTION))


def separable_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """SeparableConv1D/2D: depthwise (2×window×c_in×m per position) + pointwise 1×1 Conv2D."""
    refused = _channels_last_only(layer)
    if refused is not None:
        return refused
    kernel = _ints(layer.config["kernel_size"])
    multiplier = int(layer.config.get("depth_multiplier", 1) or 1)
    in_dims, out_dims = _dims(layer.input_shapes), _dims(layer.output_shapes)
    if in_dims is None or out_dims is None:
        return _unknown_shape(layer)
    c_in = in_dims[-1]
    spatial, c_out = out_dims[:-1], out_dims[-1]
    cin, m = Num(c_in, Symbol("c", "in")), Num(multiplier, Symbol("m"))
    out_c = Num(c_out, Symbol("c", "out"))
    positions = [*_spatial_nums(spatial), *_batch(batch_size)]
    terms = [
        Term(
            "DepthwiseConv2dNative",
            Product((Num(2), *_window_nums(kernel, "k"), cin, m, *positions)),
        ),
        Term("Conv2D", Product((Num(2), cin, m, out_c, *positions))),
    ]
    window = "×".join(map(str, kernel))
    notes: list[Text | None] = [
        Text(
            f"The depthwise step computes {c_in * multiplier} channels, each a {window} window "
            f"of one input channel; the pointwise 1×1 convolution then takes {c_in * multiplier} "
            f"multiply-adds for each of the {c_out} output channels, at every output position.",
            f"深度卷积一步算出 {c_in * multiplier} 个通道，每个只在一个输入通道的 {window} 窗口上"
            f"计算；随后逐点 1×1 卷积在每个输出位置上，为 {c_out} 个输出通道各做 "
            f"{c_in * multiplier} 次乘加。",
        )
    ]
    elements = [*_spatial_nums(spatial), out_c, *_batch(batch_size)]
    notes.extend(_bias_and_activation(layer, elements, terms))
    notes.append(_batch_note(batch_size))
    return _derivation(terms, _join(*notes, CONVENTION))


# Einsum equations that Keras's TensorFlow backend (keras.src.backend.tensorflow.numpy.einsum,
# Keras 3.15) rewrites as MatMul/BatchMatMul, which the profiler counts; any other equation
# runs as an Einsum op, which it does not. Letters are normalized to first-appearance order.
MATMUL_EINSUMS = frozenset(
    {
        "a,b->ab",
        "ab,b->a",
        "ab,bc->ac",
        "ab,cb->ac",
        "abc,cd->abd",
        "abc,dc->abd",
        "abcd,abde->abce",
        "abcd,abed->abce",
        "abcd,acbe->adbe",
        "abcd,adbe->acbe",
        "abcd,aecd->acbe",
        "abcd,aecd->aceb",
        "abc,cde->abde",
        "abc,dce->abde",
        "abc,dec->abde",
        "abcd,cde->abe",
        "abcd,ced->abe",
        "abcd,ecd->abe",
        "abcde,aebf->adbcf",
        "abcde,afce->acdbf",
    }
)


def normalize_einsum(equation: str) -> str:
    """Letters renamed a, b, c… in order of first appearance, as Keras does before matching."""
    mapping: dict[str, str] = {}
    out = []
    for ch in equation:
        if ch.isalpha():
            mapping.setdefault(ch, "abcdefghijklmnopqrstuvwxyz"[len(mapping)])
            out.append(mapping[ch])
        else:
            out.append(ch)
    return "".join(out)


def einsum_matmul_flops(
    equation: str, sizes: dict[str, int], batch_size: int
) -> tuple[Expr | None, Text]:
    """FLOPs the profiler counts for an einsum (None when it runs as an uncounted Einsum op).

    ``sizes`` maps each letter to its size, the batch letter excluded (it is ``batch_size``).
    A MatMul/BatchMatMul counts 2 × (contracted size) × output elements.
    """
    inputs, output = equation.split("->")
    left, right = inputs.split(",")
    contracted = [c for c in right if c in left and c not in output]
    if normalize_einsum(equation) not in MATMUL_EINSUMS:
        return None, Text(
            f"Keras runs the contraction {equation} as an Einsum op, for which TensorFlow's "
            "profiler has no FLOPs rule, so it counts 0; reportgen follows it.",
            f"Keras 用 Einsum 运算执行 {equation}，TensorFlow 分析器没有它的浮点运算规则，"
            "计为 0；reportgen 与之保持一致。",
        )
    factors: list[Expr] = [Num(2)]
    factors += [Num(sizes[c], Symbol(c)) for c in contracted]
    factors += [Num(sizes[c], Symbol(c)) for c in output if c in sizes]
    factors += _batch(batch_size)
    return Product(tuple(factors)), Text(
        f"Keras runs {equation} as a matrix product: 2 FLOPs per multiply-add, "
        f"{'×'.join(contracted) or '1'} of them for each output value.",
        f"Keras 把 {equation} 作为矩阵乘法执行：每个输出值做 {'×'.join(contracted) or '1'} 次"
        "乘加，每次记 2 次浮点运算。",
    )


def einsum_dense_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """EinsumDense: a MatMul when Keras rewrites the equation as one (else 0), + bias, + act."""
    equation = str(layer.config["equation"])
    out_dims = _dims(resolved_output_shapes(layer))
    if out_dims is None or not layer.input_shapes:
        return _unknown_shape(layer)
    terms: list[Term] = []
    if "." in equation:
        note = Text(
            f"Keras runs {equation} (with an ellipsis) as an Einsum op, for which "
            "TensorFlow's profiler has no FLOPs rule, so it counts 0.",
            f"Keras 用 Einsum 运算执行带省略号的 {equation}，TensorFlow 分析器没有它的"
            "浮点运算规则，计为 0。",
        )
    else:
        in_shape = layer.input_shapes[0]
        if any(d is None for d in in_shape[1:]):
            return _unknown_shape(layer)
        spec, kernel, _, _ = einsum_weight_shapes(
            equation, layer.config.get("bias_axes"), in_shape, layer.config["output_shape"]
        )
        left, output = equation.split(",")[0], equation.split("->")[1]
        sizes = {c: int(d) for c, d in zip(left[1:], in_shape[1:], strict=True) if d is not None}
        sizes.update({c: int(d) for c, d in zip(spec, kernel, strict=True) if d is not None})
        sizes.update({c: int(d) for c, d in zip(output[1:], out_dims, strict=True)})
        expr, note = einsum_matmul_flops(equation, sizes, batch_size)
        if expr is not None:
            terms.append(Term("MatMul", expr))
    notes: list[Text | None] = [note]
    elements = _elements(out_dims, batch_size)
    notes.extend(_bias_and_activation(_einsum_bias(layer), elements, terms))
    notes.append(_batch_note(batch_size))
    return _derivation(terms, _join(*notes, CONVENTION))


def _einsum_bias(layer: LayerFacts) -> LayerFacts:
    """EinsumDense has a bias exactly when bias_axes is set; say so as use_bias."""
    config = {**layer.config, "use_bias": bool(layer.config.get("bias_axes"))}
    return dataclasses.replace(layer, config=config)


def embedding_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Embedding: Less + AddV2 on every token id (negative ids wrap), the lookup itself 0."""
    in_dims = _dims(layer.input_shapes)
    if in_dims is None:
        return _unknown_shape(layer)
    ids = _elements(in_dims, batch_size)
    terms = [Term("Less, AddV2", Product((Num(2), *ids)))]
    return _derivation(
        terms,
        _join(
            Text(
                f"The lookup (GatherV2) copies one row per token and counts 0. Before it, Keras "
                f"makes negative token ids wrap around (id < 0 → id + input_dim): a comparison "
                f"and an addition for each of the {fmt_int(_count(in_dims, batch_size))} ids, "
                "which TensorFlow counts.",
                f"查表（GatherV2）只是为每个词元复制一行，计为 0。在此之前 Keras 会让负的词元编号"
                f"回绕（id < 0 时加上 input_dim）：对 {fmt_int(_count(in_dims, batch_size))} 个编号"
                "各做一次比较和一次加法，TensorFlow 会计入。",
            ),
            _batch_note(batch_size),
            CONVENTION,
        ),
    )


def _axis_size(dims: tuple[int, ...], axis: Any) -> int | None:
    """Size of the (non-batch) ``dims`` along a Keras ``axis`` that counts the batch axis."""
    rank = len(dims) + 1
    total = 1
    for a in _ints(axis):
        index = a % rank
        if index == 0 or index > len(dims):
            return None
        total *= dims[index - 1]
    return total


def batch_norm_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Inference batch norm: 2 per value (Mul, AddV2) + 5 or 6 per channel to fold γ, β, μ, σ²."""
    out_dims = _dims(layer.output_shapes)
    if out_dims is None:
        return _unknown_shape(layer)
    size = _axis_size(out_dims, layer.config.get("axis", -1))
    if size is None:
        return _unknown_shape(layer)
    scale = bool(layer.config.get("scale", True))
    per_channel = 5 + int(scale)
    c = Num(size, Symbol("c"))
    terms = [
        Term("Mul, AddV2", Product((Num(2), *_elements(out_dims, batch_size)))),
        Term("per channel", Product((Num(per_channel), c))),
    ]
    main = Text(
        "At inference batch normalization is y = x·s + t with one scale s and offset t per "
        f"channel. Folding the statistics into them costs {per_channel} FLOPs per channel, once "
        "per pass (variance + ε, a reciprocal square root counted 2, "
        + ("× γ, " if scale else "")
        + "mean × s, and the offset); applying them costs a Mul and an AddV2 per value.",
        "推理时批归一化就是 y = x·s + t，每个通道一个缩放 s 和一个偏移 t。把统计量折算成它们，"
        f"每个通道花 {per_channel} 次浮点运算，每次前向只算一遍（方差加 ε、倒数平方根记 2 次、"
        + ("乘以 γ、" if scale else "")
        + "均值乘以 s、求偏移）；把它们施加到数据上，每个数值一次 Mul 一次 AddV2。",
    )
    return _derivation(terms, _join(main, _batch_note(batch_size), CONVENTION))


def layer_norm_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """LayerNormalization: (6 + 2·scale + center) per value + (5 − scale) per normalized row."""
    out_dims = _dims(layer.output_shapes)
    if out_dims is None:
        return _unknown_shape(layer)
    size = _axis_size(out_dims, layer.config.get("axis", -1))
    if not size:
        return _unknown_shape(layer)
    scale = bool(layer.config.get("scale", True))
    center = bool(layer.config.get("center", True))
    rows = _count(out_dims, batch_size) // size
    if layer.config.get("rms_scaling"):
        if not scale:
            return _unknown(
                "reportgen has no FLOPs rule for rms_scaling without scale.",
                "reportgen 没有 rms_scaling 且不缩放时的浮点运算规则。",
            )
        per_value, per_row = 6, 3
    else:
        per_value, per_row = 6 + 2 * int(scale) + int(center), 5 - int(scale)
    terms = [
        Term("per value", Product((Num(per_value), *_elements(out_dims, batch_size)))),
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
    return _derivation(terms, _join(main, _batch_note(batch_size), CONVENTION))


def group_norm_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """GroupNormalization: 6 per value + (5 − scale) per group + (2·scale + center) per channel."""
    out_dims = _dims(layer.output_shapes)
    if out_dims is None or layer.config.get("axis", -1) != -1:
        return _unknown_shape(layer)
    groups = int(layer.config.get("groups", 32))
    channels = out_dims[-1]
    scale = bool(layer.config.get("scale", True))
    center = bool(layer.config.get("center", True))
    per_group, per_channel = 5 - int(scale), 2 * int(scale) + int(center)
    terms = [
        Term("per value", Product((Num(6), *_elements(out_dims, batch_size)))),
        Term("per group", Product((Num(per_group), Num(groups, Symbol("G")), *_batch(batch_size)))),
    ]
    if per_channel:
        terms.append(
            Term(
                "per channel",
                Product((Num(per_channel), Num(channels, Symbol("c")), *_batch(batch_size))),
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
    return _derivation(terms, _join(main, _batch_note(batch_size), CONVENTION))


def unit_norm_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """UnitNormalization: Square, Sum, Mul per value (3) + Rsqrt and Minimum per vector (2)."""
    out_dims = _dims(layer.output_shapes)
    if out_dims is None:
        return _unknown_shape(layer)
    size = _axis_size(out_dims, layer.config.get("axis", -1))
    if not size:
        return _unknown_shape(layer)
    rows = _count(out_dims, batch_size) // size
    terms = [
        Term("per value", Product((Num(3), *_elements(out_dims, batch_size)))),
        Term("per vector", Product((Num(2), Num(rows, Symbol("R"))))),
    ]
    main = Text(
        f"Each of the {fmt_int(rows)} vectors is divided by its length: squaring, summing and "
        "scaling cost 3 FLOPs per value (the profiler counts a sum of n values as n − 1), the "
        "reciprocal square root and a clamp 3 per vector.",
        f"{fmt_int(rows)} 个向量各自除以自身的长度：平方、求和、缩放每个数值共 3 次浮点运算"
        "（分析器把 n 个数求和记为 n − 1 次），倒数平方根和截断每个向量再加 3 次。",
    )
    return _derivation(terms, _join(main, _batch_note(batch_size), CONVENTION))


def normalization_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Normalization: (x − mean) / max(sqrt(var), ε): Sub, RealDiv per value + Maximum per mean."""
    if layer.config.get("invert"):
        return _unknown(
            "reportgen has no FLOPs rule for an inverted Normalization layer.",
            "reportgen 没有反向（invert=True）Normalization 层的浮点运算规则。",
        )
    out_dims = _dims(layer.output_shapes)
    if out_dims is None:
        return _unknown_shape(layer)
    axis = layer.config.get("axis", -1)
    stats = 1 if axis is None else _axis_size(out_dims, axis)
    if stats is None:
        return _unknown_shape(layer)
    terms = [
        Term("Sub, RealDiv", Product((Num(2), *_elements(out_dims, batch_size)))),
        Term("Maximum", Num(stats, Symbol("c"))),
    ]
    main = Text(
        "Each value has its mean subtracted and is divided by the standard deviation (2 FLOPs); "
        f"the standard deviations are clamped away from 0 once per pass ({stats} Maximum); the "
        "square root has no profiler rule.",
        "每个数值先减去均值再除以标准差（2 次浮点运算）；标准差每次前向只截断一次，防止为 0"
        f"（{stats} 次 Maximum）；平方根在分析器里没有规则。",
    )
    return _derivation(terms, _join(main, _batch_note(batch_size), CONVENTION))


def rescaling_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Rescaling: x·scale + offset, a Mul and an AddV2 per value (even with offset 0)."""
    out_dims = _dims(layer.output_shapes)
    if out_dims is None:
        return _unknown_shape(layer)
    terms = [Term("Mul, AddV2", Product((Num(2), *_elements(out_dims, batch_size))))]
    main = Text(
        "Each value is multiplied by the scale and has the offset added: 2 FLOPs (Keras adds the "
        "offset even when it is 0).",
        "每个数值乘以比例再加上偏移：2 次浮点运算（即使偏移为 0，Keras 也照样做加法）。",
    )
    return _derivation(terms, _join(main, _batch_note(batch_size), CONVENTION))


def prelu_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """PReLU: relu(x) − α·relu(−x): Neg, Mul, AddV2 per value + Neg per α."""
    out_dims = _dims(layer.output_shapes)
    if out_dims is None:
        return _unknown_shape(layer)
    shared = {int(a) for a in (layer.config.get("shared_axes") or ())}
    alphas = math.prod(1 if i + 1 in shared else d for i, d in enumerate(out_dims))
    terms = [
        Term("Neg, Mul, AddV2", Product((Num(3), *_elements(out_dims, batch_size)))),
        Term("Neg α", Num(alphas)),
    ]
    main = Text(
        "Keras computes PReLU as relu(x) + (−α)·relu(−x): a negation, a multiplication and an "
        f"addition per value (the Relus count 0), and the negation of the {alphas} slopes α "
        "once per pass.",
        "Keras 把 PReLU 计算为 relu(x) + (−α)·relu(−x)：每个数值一次取负、一次乘法、一次加法"
        f"（Relu 计 0），外加每次前向对 {alphas} 个斜率 α 取负一次。",
    )
    return _derivation(terms, _join(main, _batch_note(batch_size), CONVENTION))


def relu_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """ReLU layer: Relu, Relu6 or LeakyRelu ops, which the profiler counts 0; else no rule."""
    max_value = layer.config.get("max_value")
    slope = float(layer.config.get("negative_slope") or 0.0)
    threshold = float(layer.config.get("threshold") or 0.0)
    simple = threshold == 0.0 and (max_value is None or (float(max_value) == 6.0 and slope == 0.0))
    if not simple:
        return _unknown(
            "This ReLU (threshold, or a slope with a cap) is built from several ops; reportgen "
            "has no FLOPs rule for it.",
            "这种 ReLU（带阈值，或既有斜率又有上限）由多个运算组合而成，"
            "reportgen 没有它的浮点运算规则。",
        )
    op = "LeakyRelu" if slope else ("Relu6" if max_value is not None else "Relu")
    return Derivation(
        0,
        "zero",
        Text(
            f"The layer runs one {op} op; TensorFlow's profiler has no FLOPs rule for it, so it "
            "counts 0, and reportgen follows it so the totals can be compared.",
            f"该层只执行一个 {op} 运算；TensorFlow 分析器没有为它定义浮点运算规则，计为 0；"
            "reportgen 与之保持一致，以便对照总数。",
        ),
        Formula(Num(0)),
    )


def average_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Average of n inputs: n − 1 AddV2 + 1 RealDiv per output value."""
    out_dims = _dims(layer.output_shapes)
    if out_dims is None or not layer.input_shapes:
        return _unknown_shape(layer)
    n = len(layer.input_shapes)
    terms = [Term("AddV2, RealDiv", Product((Num(n), *_elements(out_dims, batch_size))))]
    main = Text(
        f"Averaging {n} inputs takes {n - 1} addition(s) and one division per output value.",
        f"对 {n} 个输入求平均，每个输出值做 {n - 1} 次加法和 1 次除法。",
    )
    return _derivation(terms, _join(main, _batch_note(batch_size), CONVENTION))


def min_max_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Maximum/Minimum of n inputs: n − 1 elementwise ops, one FLOP per output value."""
    out_dims = _dims(layer.output_shapes)
    if out_dims is None or not layer.input_shapes:
        return _unknown_shape(layer)
    n = len(layer.input_shapes)
    op = layer.class_name
    factors = (
        (Num(n - 1), *_elements(out_dims, batch_size)) if n > 2 else _elements(out_dims, batch_size)
    )
    main = Text(
        f"{op} of {n} inputs takes {n - 1} elementwise {op} op(s), one FLOP per output value each.",
        f"对 {n} 个输入取 {op}，需要 {n - 1} 次逐元素 {op} 运算，每个输出值各记 1 次。",
    )
    return _derivation(
        [Term(op, Product(tuple(factors)))], _join(main, _batch_note(batch_size), CONVENTION)
    )


def dot_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Dot: a BatchMatMul, 2 × (contracted size) × output values (+ L2 normalization)."""
    if len(layer.input_shapes) != 2:
        return _unknown_shape(layer)
    first, second = layer.input_shapes
    out_dims = _dims(layer.output_shapes)
    if out_dims is None or any(d is None for d in (*first[1:], *second[1:])):
        return _unknown_shape(layer)
    axes = layer.config.get("axes", -1)
    axis = _ints(axes)[0]
    rank = len(first)
    k = int(first[axis % rank] or 0)
    outputs = max(math.prod(out_dims), 1)
    terms = [
        Term(
            "BatchMatMulV2",
            Product(
                (
                    Num(2),
                    Num(k, Symbol("k")),
                    *(Num(d) for d in out_dims if d != 1),
                    *_batch(batch_size),
                )
            )
            if outputs > 1
            else Product((Num(2), Num(k, Symbol("k")), *_batch(batch_size))),
        )
    ]
    notes: list[Text | None] = [
        Text(
            f"Each output value is a dot product over {k} values: 2 FLOPs per multiply-add.",
            f"每个输出值都是 {k} 个数值上的点积，每次乘加记 2 次浮点运算。",
        )
    ]
    if layer.config.get("normalize"):
        for label, shape in (("first", first), ("second", second)):
            dims = tuple(int(d or 0) for d in shape[1:])
            size = dims[axis % rank - 1]
            rows = _count(dims, batch_size) // size
            terms.append(
                Term(
                    f"normalize {label}",
                    Sum(
                        (
                            Product((Num(3), *_elements(dims, batch_size))),
                            Product((Num(2), Num(rows))),
                        )
                    ),
                )
            )
        notes.append(
            Text(
                "With normalize=True both inputs are first scaled to unit length, like "
                "UnitNormalization: 3 FLOPs per value and 2 per vector.",
                "normalize=True 时两个输入先各自缩放到单位长度（同 UnitNormalization）：每个数值 "
                "3 次，每个向量 2 次。",
            )
        )
    notes.append(_batch_note(batch_size))
    return _derivation(terms, _join(*notes, CONVENTION))


def upsampling_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """UpSampling (nearest) and RepeatVector: one scalar Mul per repeated axis, nothing else."""
    if layer.class_name == "RepeatVector":
        axes = 1
    else:
        if layer.config.get("interpolation", "nearest") != "nearest":
            return Derivation(
                0,
                "zero",
                _join(
                    Text(
                        "Interpolating upsampling runs a Resize op, for which TensorFlow's "
                        "profiler has no FLOPs rule, so it counts 0; reportgen follows it.",
                        "插值上采样执行 Resize 运算，TensorFlow 分析器没有它的浮点运算规则，"
                        "计为 0；reportgen 与之保持一致。",
                    ),
                    CONVENTION,
                ),
                Formula(Num(0)),
            )
        axes = len(_ints(layer.config.get("size", 2)))
    return _derivation(
        [Term("Mul (shape)", Num(axes))],
        _join(
            Text(
                "Repeating values costs no arithmetic (ExpandDims, Tile, Reshape count 0); the "
                f"profiler counts only the scalar Mul that computes the new size, once for each of "
                f"the {axes} repeated axes, whatever the batch size.",
                "重复数值不涉及算术（ExpandDims、Tile、Reshape 计 0）；分析器只统计计算新尺寸的"
                f"标量 Mul，每个被重复的轴 1 次，共 {axes} 次，与批大小无关。",
            ),
            CONVENTION,
        ),
    )


def custom_scale_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """InceptionResNetV2's CustomScaleLayer: x + branch·scale, a Mul and an AddV2 per value."""
    out_dims = _dims(layer.output_shapes)
    if out_dims is None:
        return _unknown_shape(layer)
    return _derivation(
        [Term("Mul, AddV2", Product((Num(2), *_elements(out_dims, batch_size))))],
        _join(
            Text(
                "Each value of the branch is multiplied by the fixed scale and added to the "
                "shortcut: 2 FLOPs.",
                "分支的每个数值乘以固定比例，再加到捷径上：2 次浮点运算。",
            ),
            _batch_note(batch_size),
            CONVENTION,
        ),
    )


def layer_scale_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """LayerScale (ConvNeXt): one Mul per value."""
    out_dims = _dims(layer.output_shapes)
    if out_dims is None:
        return _unknown_shape(layer)
    return _derivation(
        [Term("Mul", Product(tuple(_elements(out_dims, batch_size))))],
        _join(
            Text(
                "Each value is multiplied by its channel's factor: 1 FLOP.",
                "每个数值乘以所在通道的系数：1 次浮点运算。",
            ),
            _batch_note(batch_size),
            CONVENTION,
        ),
    )


# ---------------------------------------------------------------- wrappers and recurrence


def time_distributed_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """TimeDistributed: the wrapped layer once per time step (Keras loops over the steps)."""

    def drop_time(shapes: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return tuple((s[0], *s[2:]) for s in shapes if len(s) >= 2)

    if not layer.input_shapes or len(layer.input_shapes[0]) < 2:
        return _unknown_shape(layer)
    steps = layer.input_shapes[0][1]
    inner = inner_layer_facts(
        layer,
        layer.config.get("layer"),
        drop_time(layer.input_shapes),
        drop_time(layer.output_shapes),
    )
    if steps is None or inner is None:
        return _unknown_shape(layer)
    derived = derive_flops(inner, batch_size)
    if derived.value is None or derived.formula is None:
        return derived
    expr = Product((Num(int(steps), Symbol("T")), derived.formula.expr))
    formula = Formula(expr)
    explanation = Text(
        f"TimeDistributed runs the wrapped {inner.class_name} once for each of the {steps} time "
        f"steps, so its FLOPs are {steps} times one step's: {derived.explanation.en}",
        f"TimeDistributed 对 {steps} 个时间步逐一运行被包装的 {inner.class_name}，所以浮点运算量是"
        f"单步的 {steps} 倍：{derived.explanation.zh}",
    )
    return Derivation(formula.value, "formula", explanation, formula)


def _rnn_loop_note(unrolled: bool, steps: int, one_step: int) -> Text:
    """What the profiler sees of a recurrence: every step unrolled, else one step."""
    mask = Text(
        " Masking (e.g. after an Embedding with mask_zero=True) adds select ops not counted here.",
        "使用掩码（例如 Embedding 设置 mask_zero=True）时多出的选择运算不计入这里。",
    )
    if unrolled:
        return _join(
            Text(
                f"With unroll=True the {steps} steps are separate ops in the graph and "
                "TensorFlow's profiler counts every one.",
                f"unroll=True 时 {steps} 个时间步都是图中独立的运算，TensorFlow 分析器会逐一统计。",
            ),
            mask,
        )
    return _join(
        Text(
            "Keras runs the steps inside a While loop, whose body TensorFlow's profiler does not "
            "count; before the loop it computes one extra step, only to learn the output's shape, "
            "and that is the step the profiler counts. reportgen follows it, so this is one step: "
            f"the {steps} steps of the loop do {fmt_int(steps * one_step)} FLOPs of real work "
            "that neither figure includes (unroll=True would put them in the graph).",
            "Keras 在 While 循环里执行各时间步，TensorFlow 分析器不统计循环体；循环开始前它还会"
            "额外计算一步，只为得到输出的形状，分析器统计的正是这一步。reportgen 与之保持一致，"
            f"所以这里只有一步：循环中 {steps} 个时间步实际做的 {fmt_int(steps * one_step)} 次浮点"
            "运算两边都没有计入（unroll=True 时它们才会出现在图中）。",
        ),
        mask,
    )


def _rnn_activation_terms(
    layer: LayerFacts, uses: Sequence[tuple[str, int]], per_step: Sequence[Expr]
) -> tuple[list[Term], list[Text | None]] | None:
    """Terms for the activations applied ``count`` units-wide per step; None if one is unknown."""
    terms: list[Term] = []
    notes: list[Text | None] = []
    for key, count in uses:
        name = activation_name(layer.config.get(key, "tanh" if key == "activation" else "sigmoid"))
        known = name in UNCOUNTED_ACTIVATIONS or name in ACTIVATION_FLOPS_PER_VALUE
        if not known and name != "linear":
            return None
        term, note = activation_term(name, [Num(count), *per_step])
        if term is not None:
            terms.append(term)
        notes.append(note)
    return terms, notes


def recurrent_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """SimpleRNN, LSTM, GRU: per step the two matrix products, the biases and the gate math."""
    in_dims = _dims(layer.input_shapes)
    if in_dims is None or len(in_dims) != 2:
        return _unknown_shape(layer)
    steps, n_in = in_dims
    units = int(layer.config["units"])
    use_bias = bool(layer.config.get("use_bias", True))
    kind = layer.class_name
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[kind]
    t, u = Num(steps, Symbol("T")), Num(units, Symbol("u"))
    unrolled = bool(layer.config.get("unroll", False))
    per_step = [t, *_batch(batch_size)] if unrolled else _batch(batch_size)
    width = [Num(gates), u] if gates > 1 else [u]
    terms = [
        Term(
            "MatMul",
            Product((Num(2), *width, Sum((Num(n_in, Symbol("n", "in")), u)), *per_step)),
        )
    ]
    if kind == "SimpleRNN":
        adds, elementwise, uses = int(use_bias), 1, [("activation", 1)]
        what_en, what_zh = "the input and recurrent products are added", "输入项与循环项相加"
    elif kind == "LSTM":
        adds, elementwise, uses = (
            1 + int(use_bias),
            1,
            [("recurrent_activation", 3), ("activation", 2)],
        )
        what_en = "the cell update c = f·c + i·g and the output o·tanh(c)"
        what_zh = "记忆更新 c = f·c + i·g 和输出 o·tanh(c)"
    else:
        reset_after = bool(layer.config.get("reset_after", True))
        adds = (2 if reset_after else 1) * int(use_bias)
        elementwise, uses = 2, [("recurrent_activation", 2), ("activation", 1)]
        what_en = "combining the gates (z·h + (1 − z)·h̃ and the reset)"
        what_zh = "合并各门（z·h + (1 − z)·h̃ 以及重置）"
    gate_width = [Num(gates), u] if gates > 1 else [u]
    if adds:
        terms.append(
            Term(
                "BiasAdd, AddV2",
                Product((*([Num(adds)] if adds > 1 else []), *gate_width, *per_step)),
            )
        )
    if kind == "SimpleRNN":
        terms.append(Term("AddV2", Product((u, *per_step))))
    else:
        terms.append(Term("Mul, AddV2, Sub", Product((Num(4 * elementwise), u, *per_step))))
    activations = _rnn_activation_terms(layer, uses, [u, *per_step])
    if activations is None:
        return _unknown(
            f"reportgen has no FLOPs rule for one of the activations of this {kind}.",
            f"reportgen 没有该 {kind} 某个激活函数的浮点运算规则。",
        )
    act_terms, act_notes = activations
    terms.extend(act_terms)
    main = Text(
        f"At each of the {steps} time steps the {kind} multiplies the {n_in} inputs and the "
        f"previous {units} outputs by its kernels ({gates}×{units} wide), 2 FLOPs per "
        f"multiply-add, adds the biases, and computes {what_en}.",
        f"在 {steps} 个时间步中的每一步，{kind} 都把 {n_in} 个输入和上一步的 {units} 个输出乘以"
        f"它的核矩阵（宽 {gates}×{units}），每次乘加记 2 次，再加上偏置，并计算{what_zh}。",
    )
    counted = sum(evaluate(term) for term in terms)
    one_step = counted // steps if unrolled else counted
    loop = _rnn_loop_note(unrolled, steps, one_step)
    return _derivation(terms, _join(main, *act_notes, loop, _batch_note(batch_size), CONVENTION))


_BIDIRECTIONAL_MERGE = {
    "concat": (0, ""),
    "sum": (1, "AddV2"),
    "mul": (1, "Mul"),
    "ave": (2, "AddV2, RealDiv"),
}


def bidirectional_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Bidirectional: the forward and backward layers, plus merging their outputs."""
    merge = layer.config.get("merge_mode", "concat")
    out_dims = _dims(layer.output_shapes)
    if out_dims is None or (merge is not None and merge not in _BIDIRECTIONAL_MERGE):
        return _unknown_shape(layer)
    backward_spec = layer.config.get("backward_layer") or layer.config.get("layer")
    halves = []
    for spec in (layer.config.get("layer"), backward_spec):
        inner = inner_layer_facts(layer, spec, layer.input_shapes, ())
        if inner is None:
            return _unknown_shape(layer)
        derived = derive_flops(inner, batch_size)
        if derived.value is None or derived.formula is None:
            return derived
        halves.append(derived)
    exprs = [h.formula.expr for h in halves if h.formula is not None]
    terms = [Term("forward", exprs[0]), Term("backward", exprs[1])]
    per_value, op = _BIDIRECTIONAL_MERGE.get(merge or "concat", (0, ""))
    if per_value:
        factors = (
            (Num(per_value), *_elements(out_dims, batch_size))
            if per_value > 1
            else tuple(_elements(out_dims, batch_size))
        )
        terms.append(Term(op, Product(factors)))
    formula = Formula(Sum(tuple(terms)))
    explanation = _join(
        Text(
            f"Both directions cost the same; merging them (merge_mode={merge!r}) adds "
            f"{per_value} FLOP(s) per output value. Each direction: {halves[0].explanation.en}",
            f"两个方向的运算量相同；合并（merge_mode={merge!r}）每个输出值另加 {per_value} 次。"
            f"每个方向：{halves[0].explanation.zh}",
        )
    )
    return Derivation(formula.value, "formula", explanation, formula)


def _build_proj_equation(free_dims: int, bound_dims: int, output_dims: int) -> str:
    """The einsum equation Keras's MultiHeadAttention builds for a projection."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    free = letters[:free_dims]
    bound = letters[free_dims : free_dims + bound_dims]
    out = letters[free_dims + bound_dims : free_dims + bound_dims + output_dims]
    return f"{free}{bound},{bound}{out}->{free}{out}"


def mha_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """MultiHeadAttention on (batch, length, features) inputs, without masks."""
    inputs = named_inputs(layer)
    query, value = inputs.get("query"), inputs.get("value")
    key = inputs.get("key", value)
    if not query or not value or not key:
        return _unknown_shape(layer)
    if any(len(s) != 3 or s[1] is None or s[2] is None for s in (query, value, key)):
        return _unknown(
            "reportgen derives attention FLOPs for inputs shaped (batch, length, features) only.",
            "reportgen 只推导形状为（批、长度、特征）的输入的注意力浮点运算量。",
        )
    heads = int(layer.config["num_heads"])
    key_dim = int(layer.config["key_dim"])
    value_dim = int(layer.config.get("value_dim") or key_dim)
    use_bias = bool(layer.config.get("use_bias", True))
    t_q, s_k = int(query[1] or 0), int(value[1] or 0)
    out_shape = layer.config.get("output_shape")
    out_dims = _ints(out_shape) if out_shape else (int(query[2] or 0),)
    h, t, s = Num(heads, Symbol("h")), Num(t_q, Symbol("T")), Num(s_k, Symbol("S"))
    dk, dv = Num(key_dim, Symbol("d", "k")), Num(value_dim, Symbol("d", "v"))
    n = _batch(batch_size)
    terms: list[Term] = []
    notes: list[Text | None] = []
    proj = _build_proj_equation(2, 1, 2)

    def projection(label: str, n_in: int, length: Num, width: Num) -> None:
        sizes = {"b": length.value, "c": n_in, "d": heads, "e": width.value}
        expr, _ = einsum_matmul_flops(proj, sizes, batch_size)
        n_sym = Num(n_in, Symbol("n", "q" if label == "gate" else label[0]))
        if expr is not None:
            terms.append(Term(f"{label} MatMul", Product((Num(2), n_sym, h, width, length, *n))))
        if use_bias:
            terms.append(Term(f"{label} bias", Product((h, width, length, *n))))

    projection("query", int(query[2] or 0), t, dk)
    projection("key", int(key[2] or 0), s, dk)
    projection("value", int(value[2] or 0), s, dv)
    fast = float(layer.config.get("dropout") or 0.0) == 0.0 and len(layer.output_shapes) == 1
    scores = (h, t, s, *n)
    if fast:
        qk = 2 * key_dim * heads * t_q * s_k * batch_size
        av = 2 * value_dim * heads * t_q * s_k * batch_size
        terms.append(Term("Mul (scale)", Product(scores)))
        notes.append(
            Text(
                "The two attention products (query·key and weights·value) run as Einsum ops, "
                f"which TensorFlow's profiler does not count: {fmt_int(qk)} + {fmt_int(av)} "
                "FLOPs of real work are left out, as the profiler leaves them out.",
                "两次注意力乘积（query·key 与权重·value）以 Einsum 运算执行，"
                f"TensorFlow 分析器不统计：实际的 {fmt_int(qk)} + {fmt_int(av)} 次浮点运算未计入，"
                "与分析器一致。",
            )
        )
    else:
        terms.append(Term("Mul (scale)", Product((t, h, dk, *n))))
        terms.append(Term("query·key", Product((Num(2), dk, *scores))))
        terms.append(Term("weights·value", Product((Num(2), s, t, h, dv, *n))))
        notes.append(
            Text(
                "With dropout (or attention scores returned), Keras computes attention with "
                "explicit matrix products, which the profiler counts.",
                "有 dropout（或要求返回注意力分数）时，Keras 用显式的矩阵乘法计算注意力，"
                "分析器会统计。",
            )
        )
    terms.append(Term("Softmax", Product((Num(5), *scores))))
    if layer.config.get("use_gate"):
        projection("gate", int(query[2] or 0), t, dv)
        terms.append(Term("gate Mul", Product((t, h, dv, *n))))
    out_eq = _build_proj_equation(2, 2, len(out_dims))
    o_sizes = {"b": t_q, "c": heads, "d": value_dim}
    o_sizes.update({"efghij"[i]: d for i, d in enumerate(out_dims)})
    out_expr, out_note = einsum_matmul_flops(out_eq, o_sizes, batch_size)
    out_nums = [Num(d, Symbol("n", "o")) for d in out_dims]
    if out_expr is not None:
        terms.append(Term("output MatMul", Product((Num(2), h, dv, *out_nums, t, *n))))
    else:
        notes.append(out_note)
    if use_bias:
        terms.append(Term("output bias", Product((*out_nums, t, *n))))
    main = Text(
        f"The query ({t_q} positions) and the key and value ({s_k} positions) are projected to "
        f"{heads} heads (2 FLOPs per multiply-add, plus the biases); the {heads}×{t_q}×{s_k} "
        "attention scores are scaled and go through a softmax (5 FLOPs each); the output "
        "projection maps the heads back. Masks (causal or padding) add ops not counted here.",
        f"query（{t_q} 个位置）以及 key、value（{s_k} 个位置）被投影到 {heads} 个头上（每次乘加"
        f"记 2 次，另加偏置）；{heads}×{t_q}×{s_k} 个注意力分数经过缩放和 softmax（每个 5 次）；"
        "最后由输出投影把各头映射回去。掩码（因果或填充）会带来额外运算，这里不计入。",
    )
    return _derivation(terms, _join(main, *notes, _batch_note(batch_size), CONVENTION))


def elu_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """ELU layer: one Elu op (0) when alpha is 1; Keras composes other alphas from several."""
    if float(layer.config.get("alpha", 1.0)) != 1.0:
        return _unknown(
            "An ELU with alpha other than 1 is built from several ops; reportgen has no FLOPs "
            "rule for it.",
            "alpha 不为 1 的 ELU 由多个运算组合而成，reportgen 没有它的浮点运算规则。",
        )
    return Derivation(
        0,
        "zero",
        Text(
            "The layer runs one Elu op; TensorFlow's profiler has no FLOPs rule for it, so it "
            "counts 0, and reportgen follows it so the totals can be compared.",
            "该层只执行一个 Elu 运算；TensorFlow 分析器没有为它定义浮点运算规则，计为 0；"
            "reportgen 与之保持一致，以便对照总数。",
        ),
        Formula(Num(0)),
    )


FLOPS_RULES: dict[str, FlopsRule] = {
    "Conv1D": conv_flops,
    "Conv2D": conv_flops,
    "Conv3D": conv_flops,
    "Conv1DTranspose": conv_transpose_flops,
    "Conv2DTranspose": conv_transpose_flops,
    "Conv3DTranspose": conv_transpose_flops,
    "DepthwiseConv1D": depthwise_flops,
    "DepthwiseConv2D": depthwise_flops,
    "SeparableConv1D": separable_flops,
    "SeparableConv2D": separable_flops,
    "Dense": dense_flops,
    "EinsumDense": einsum_dense_flops,
    "Embedding": embedding_flops,
    "BatchNormalization": batch_norm_flops,
    "LayerNormalization": layer_norm_flops,
    "GroupNormalization": group_norm_flops,
    "UnitNormalization": unit_norm_flops,
    "Normalization": normalization_flops,
    "Rescaling": rescaling_flops,
    "PReLU": prelu_flops,
    "ReLU": relu_flops,
    "ELU": elu_flops,
    "Activation": activation_layer_flops,
    "Softmax": activation_layer_flops,
    "Add": merge_flops,
    "Subtract": merge_flops,
    "Multiply": merge_flops,
    "Average": average_flops,
    "Maximum": min_max_flops,
    "Minimum": min_max_flops,
    "Dot": dot_flops,
    "UpSampling1D": upsampling_flops,
    "UpSampling2D": upsampling_flops,
    "UpSampling3D": upsampling_flops,
    "RepeatVector": upsampling_flops,
    "SimpleRNN": recurrent_flops,
    "LSTM": recurrent_flops,
    "GRU": recurrent_flops,
    "Bidirectional": bidirectional_flops,
    "TimeDistributed": time_distributed_flops,
    "MultiHeadAttention": mha_flops,
    "LayerScale": layer_scale_flops,
    "CustomScaleLayer": custom_scale_flops,
}
for _kind in ("MaxPooling", "AveragePooling"):
    for _dim in ("1D", "2D", "3D"):
        FLOPS_RULES[f"{_kind}{_dim}"] = pool_flops
        FLOPS_RULES[f"Global{_kind}{_dim}"] = global_pool_flops


def derive_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Forward-pass FLOPs of one layer for ``batch_size`` examples, TensorFlow-profiler style.

    A shared layer costs its FLOPs once per call, each call with its own shapes.
    """
    if layer.calls > 1 and layer.call_input_shapes and layer.call_output_shapes:
        return _shared_flops(layer, batch_size)
    return _one_call_flops(layer, batch_size)


def _shared_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    calls = [
        dataclasses.replace(
            layer,
            input_shapes=inputs,
            output_shapes=outputs,
            calls=1,
            call_input_shapes=(),
            call_output_shapes=(),
        )
        for inputs, outputs in zip(layer.call_input_shapes, layer.call_output_shapes, strict=True)
    ]
    derived = [_one_call_flops(call, batch_size) for call in calls]
    if any(d.value is None or d.formula is None for d in derived):
        return next(d for d in derived if d.value is None or d.formula is None)
    exprs = [d.formula.expr for d in derived if d.formula is not None]
    if all(c.input_shapes == calls[0].input_shapes for c in calls):
        expr: Expr = Product((Num(len(calls)), exprs[0]))
    else:
        expr = Sum(tuple(Term(f"call {i + 1}", e) for i, e in enumerate(exprs)))
    formula = Formula(expr)
    first = derived[0].explanation
    return Derivation(
        formula.value,
        "formula" if formula.value else "zero",
        Text(
            f"The layer is shared: the model calls it {len(calls)} times, and each call costs "
            f"its own FLOPs. One call: {first.en}",
            f"该层是共享层：模型调用它 {len(calls)} 次，每次调用都有各自的运算量。"
            f"单次调用：{first.zh}",
        ),
        formula,
    )


def _one_call_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    rule = FLOPS_RULES.get(layer.class_name)
    if rule is not None:
        try:
            derived = rule(layer, batch_size)
            if derived.value is not None and not 0 <= derived.value <= MAX_DERIVED:
                what = impossible_value(derived.value)
                return _unknown(
                    f"The {layer.class_name} configuration gives an impossible FLOPs count "
                    f"({what[0]}).",
                    f"{layer.class_name} 的配置给出了不可能的浮点运算量（{what[1]}）。",
                )
            return derived
        except (KeyError, TypeError, ValueError, ArithmeticError, IndexError):
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
