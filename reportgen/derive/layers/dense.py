"""Dense, EinsumDense and Embedding (``keras/src/layers/core/``): learned matrices and tables."""

from __future__ import annotations

import re
from typing import Any

from reportgen.derive.layers.convention import (
    batch_note,
    bias_and_activation,
    counted,
    einsum_matmul_flops,
    missing_shape,
)
from reportgen.derive.layers.registry import declare, formula, unknown
from reportgen.derive.layers.shapes import (
    batch_factor,
    count,
    dims,
    elements,
    last_input_dim,
    no_input_shape,
    no_last_axis,
)
from reportgen.expr import Expr, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts, Shape
from reportgen.model import Derivation, Msg, Text, msg, sentences
from reportgen.units import fmt_int

_HERE = __name__

# ---------------------------------------------------------------- Dense


def dense_params(layer: LayerFacts) -> Derivation:
    """Dense: n_in×units + units (bias), acting on the last axis of an input of any rank."""
    units = int(layer.config["units"])
    use_bias = bool(layer.config.get("use_bias", True))
    n_in = last_input_dim(layer)
    if n_in is None:
        return no_last_axis()
    n_out = Num(units, Symbol("n", "out"))
    weights = Product((Num(n_in, Symbol("n", "in")), n_out))
    parts: list[Expr] = [weights, n_out] if use_bias else [weights]
    rank = int(layer.config.get("lora_rank") or 0)
    if rank:
        r = Num(rank, Symbol("r"))
        parts.append(Term("LoRA", Product((r, Sum((Num(n_in, Symbol("n", "in")), n_out))))))
    expr: Expr = Sum(tuple(parts)) if len(parts) > 1 else weights
    if use_bias:
        connections = Text(
            f"Each of the {units} units is connected to all {n_in} inputs with a weight of its "
            "own, plus one bias per unit.",
            f"{units} 个神经元中的每一个都与全部 {n_in} 个输入相连，每条连接一个权重，"
            "每个神经元另有一个偏置。",
        )
    else:
        connections = Text(
            f"Each of the {units} units is connected to all {n_in} inputs with a weight of its "
            "own; it has no bias (use_bias=False).",
            f"{units} 个神经元中的每一个都与全部 {n_in} 个输入相连，每条连接一个权重；"
            "没有偏置（use_bias=False）。",
        )
    leading = layer.input_shapes[0][1:-1] if layer.input_shapes else ()
    return formula(
        expr,
        sentences(
            connections,
            msg(
                "Dense acts on the last axis only, so the same weights serve every position of "
                "the other axes."
            )
            if leading
            else None,
            msg(
                "LoRA is enabled with rank r = %(rank)s: two small matrices of %(n_in)s×%(rank)s "
                "and %(rank)s×%(units)s are trained while the kernel is frozen.",
                rank=str(rank),
                n_in=str(n_in),
                units=str(units),
            )
            if rank
            else None,
        ),
    )


def dense_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Dense on an input of any rank: 2×n_in×n_out per row; rows = leading dims × N."""
    in_dims, out_dims = dims(layer.input_shapes), dims(layer.output_shapes)
    if not in_dims or out_dims is None:
        return missing_shape(layer)
    n_in, units = in_dims[-1], int(layer.config["units"])
    rows = elements(in_dims[:-1], batch_size)
    n_out = Num(units, Symbol("n", "out"))
    terms = [Term("MatMul", Product((Num(2), Num(n_in, Symbol("n", "in")), n_out, *rows)))]
    notes: list[Text | Msg | None] = [
        Text(
            f"Each of the {units} outputs is a dot product with all {n_in} inputs: "
            f"{fmt_int(n_in)} multiply-adds, 2 FLOPs each.",
            f"{units} 个输出中的每一个都是与全部 {n_in} 个输入的点积：{fmt_int(n_in)} 次乘加，"
            "每次记 2 次浮点运算。",
        )
    ]
    if in_dims[:-1]:
        # Keras applies Dense to the last axis only: every position of the other axes is
        # one row of the matrix product.
        leading = "×".join(str(d) for d in in_dims[:-1])
        row_count = fmt_int(count(in_dims[:-1], batch_size))
        notes.append(
            Text(
                f"The input has more axes than one, so this is done for each of its {leading} "
                f"positions along the leading axes ({row_count} rows in all).",
                f"输入不止一个轴，所以对前面各轴上的 {leading} 个位置各做一遍"
                f"（共 {row_count} 行）。",
            )
        )
    values = [*(Num(d) for d in in_dims[:-1]), n_out, *batch_factor(batch_size)]
    notes.extend(bias_and_activation(layer, values, terms))
    return counted(terms, *notes, batch_note(batch_size))


# ---------------------------------------------------------------- EinsumDense


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


def einsum_output_shapes(layer: LayerFacts) -> tuple[Shape, ...]:
    """EinsumDense's output shape with the axes its equation takes from the input."""
    if layer.input_shapes and len(layer.output_shapes) == 1:
        equation = str(layer.config.get("equation", ""))
        return (einsum_output_shape(equation, layer.input_shapes[0], layer.output_shapes[0]),)
    return layer.output_shapes


def einsum_dense_params(layer: LayerFacts) -> Derivation:
    """EinsumDense: the kernel's and bias's sizes from the equation and output_shape."""
    equation = str(layer.config["equation"])
    bias_axes = layer.config.get("bias_axes")
    if not layer.input_shapes:
        return no_input_shape()
    try:
        spec, kernel, bias_letters, bias = einsum_weight_shapes(
            equation, bias_axes, layer.input_shapes[0], layer.config["output_shape"]
        )
    except (ValueError, IndexError):
        return unknown(
            msg(
                "The formula needs an einsum equation in a form Keras accepts, which the "
                "collected facts do not give."
            )
        )
    if any(d is None for d in (*kernel, *bias)):
        return unknown(
            msg(
                "The formula needs every size of the kernel's axes, which the collected facts do "
                "not give."
            )
        )
    k_expr = Product(tuple(Num(int(d or 0), Symbol(c)) for c, d in zip(spec, kernel, strict=True)))
    terms: list[Expr] = [Term("kernel", k_expr)]
    if bias:
        b_factors = tuple(
            Num(int(d or 0), Symbol(c)) for c, d in zip(bias_letters, bias, strict=True)
        )
        terms.append(Term("bias", Product(b_factors) if len(b_factors) > 1 else b_factors[0]))
    kernel_text = "×".join(str(d) for d in kernel)
    return formula(
        Sum(tuple(terms)) if len(terms) > 1 else terms[0],
        sentences(
            Text(
                f"EinsumDense computes {equation}: its kernel has the axes {spec!r} of the "
                "equation's second operand, each sized by the input (an axis that is summed "
                f"over) or by output_shape (an axis kept in the output), here {kernel_text}.",
                f"EinsumDense 计算 {equation}：核张量的各轴就是方程第二个操作数的 {spec!r}，"
                f"被求和消去的轴取输入的大小，保留到输出的轴取 output_shape 的大小，这里是 "
                f"{kernel_text}。",
            ),
            msg("The bias covers the output axes %(axes)s.", axes=repr(bias_letters))
            if bias
            else msg("There is no bias (bias_axes is not set)."),
        ),
    )


def einsum_dense_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """EinsumDense: a MatMul when Keras rewrites the equation as one (else 0), + bias, + act."""
    equation = str(layer.config["equation"])
    out_dims = dims(einsum_output_shapes(layer))
    if out_dims is None or not layer.input_shapes:
        return missing_shape(layer)
    terms: list[Term] = []
    if "." in equation:
        note = msg(
            "Keras runs %(equation)s (with an ellipsis) as an Einsum op, for which TensorFlow's "
            "profiler has no FLOPs rule, so it counts 0.",
            equation=equation,
        )
    else:
        in_shape = layer.input_shapes[0]
        if any(d is None for d in in_shape[1:]):
            return missing_shape(layer)
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
    notes: list[Msg | None] = [note]
    # EinsumDense has a bias exactly when bias_axes is set.
    has_bias = bool(layer.config.get("bias_axes"))
    notes.extend(bias_and_activation(layer, elements(out_dims, batch_size), terms, has_bias))
    return counted(terms, *notes, batch_note(batch_size))


# ---------------------------------------------------------------- Embedding


def embedding_params(layer: LayerFacts) -> Derivation:
    """Embedding: input_dim × output_dim, one learned vector per token id."""
    vocab = int(layer.config["input_dim"])
    dim = int(layer.config["output_dim"])
    table = Product((Num(vocab, Symbol("V")), Num(dim, Symbol("d"))))
    rank = int(layer.config.get("lora_rank") or 0)
    expr: Expr = table
    if rank:
        lora = Product(
            (Num(rank, Symbol("r")), Sum((Num(vocab, Symbol("V")), Num(dim, Symbol("d")))))
        )
        expr = Sum((table, Term("LoRA", lora)))
    return formula(
        expr,
        sentences(
            Text(
                f"An embedding is a lookup table: one row of {dim} learned values for each of the "
                f"{fmt_int(vocab)} possible token ids (input_dim). Looking a token up multiplies "
                "nothing; the table is the whole layer.",
                f"嵌入层就是一张查找表：{fmt_int(vocab)} 个可能的词元编号（input_dim）各对应一行，"
                f"每行 {dim} 个可学习的数值。查表本身不做乘法，这张表就是整个层。",
            ),
            msg(
                "LoRA of rank %(rank)s adds two small trainable matrices and freezes the table.",
                rank=str(rank),
            )
            if rank
            else None,
        ),
    )


def embedding_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Embedding: Less + AddV2 on every token id (negative ids wrap), the lookup itself 0."""
    in_dims = dims(layer.input_shapes)
    if in_dims is None:
        return missing_shape(layer)
    ids = elements(in_dims, batch_size)
    total = fmt_int(count(in_dims, batch_size))
    return counted(
        [Term("Less, AddV2", Product((Num(2), *ids)))],
        Text(
            "The lookup (GatherV2) copies one row per token and counts 0. Before it, Keras makes "
            "negative token ids wrap around (id < 0 → id + input_dim): a comparison and an "
            f"addition for each of the {total} ids, which TensorFlow counts.",
            "查表（GatherV2）只是为每个词元复制一行，计为 0。在此之前 Keras 会让负的词元编号"
            f"回绕（id < 0 时加上 input_dim）：对 {total} 个编号各做一次比较和一次加法，"
            "TensorFlow 会计入。",
        ),
        batch_note(batch_size),
    )


declare(
    "Dense",
    family="dense",
    params=dense_params,
    flops=dense_flops,
    lora_aware=True,
    module=_HERE,
)
declare(
    "EinsumDense",
    family="dense",
    params=einsum_dense_params,
    flops=einsum_dense_flops,
    output_shapes=einsum_output_shapes,
    module=_HERE,
)
declare(
    "Embedding",
    family="embedding",
    params=embedding_params,
    flops=embedding_flops,
    lora_aware=True,
    module=_HERE,
)
