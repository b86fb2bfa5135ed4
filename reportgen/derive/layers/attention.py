"""Attention layers (``keras/src/layers/attention/``): multi-head, dot-product, additive."""

from __future__ import annotations

from typing import NamedTuple

from reportgen.derive.layers.convention import (
    batch_note,
    counted,
    einsum_matmul_flops,
    missing_shape,
)
from reportgen.derive.layers.registry import (
    GENERIC,
    NO_RULE_YET,
    declare,
    formula,
    unknown,
    zero,
)
from reportgen.derive.layers.shapes import batch_factor, ints, last_input_dim, named_inputs
from reportgen.expr import Expr, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts, Shape
from reportgen.model import Derivation, Msg, Text, msg, sentences

FAMILY = "attention"
_HERE = __name__

MASKS_NOT_COUNTED = msg("Masks (causal or padding) add ops not counted here.")


def _only_sequences() -> Derivation:
    return unknown(
        msg("reportgen derives attention FLOPs for inputs shaped (batch, length, features) only.")
    )


# ---------------------------------------------------------------- MultiHeadAttention


def mha_params(layer: LayerFacts) -> Derivation:
    """MultiHeadAttention: query, key, value (and gate) projections plus the output projection."""
    inputs = named_inputs(layer)
    query, value = inputs.get("query"), inputs.get("value")
    key = inputs.get("key", value)
    if not query or not value or not key or None in (query[-1], value[-1], key[-1]):
        return unknown(
            msg(
                "The formula needs the last axis of the query, key and value inputs, which the "
                "collected facts do not give."
            )
        )
    heads = int(layer.config["num_heads"])
    key_dim = int(layer.config["key_dim"])
    value_dim = int(layer.config.get("value_dim") or key_dim)
    use_bias = bool(layer.config.get("use_bias", True))
    use_gate = bool(layer.config.get("use_gate", False))
    out_shape = layer.config.get("output_shape")
    out_dims = ints(out_shape) if out_shape else (int(query[-1] or 0),)
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
    out_text = "×".join(str(d) for d in out_dims)
    q_in, k_in, v_in = query[-1], key[-1], value[-1]
    if use_bias:
        projections = Text(
            f"Multi-head attention learns four projections, each with a bias: query and key map "
            f"their inputs ({q_in} and {k_in} values) to {heads} heads of key_dim = {key_dim}; "
            f"value maps its {v_in} values to {heads} heads of value_dim = {value_dim}; the "
            f"output projection maps the {heads}×{value_dim} concatenated heads back to "
            f"{out_text}.",
            f"多头注意力学习四个投影，各带偏置：query 和 key 把各自的输入（{q_in} 和 {k_in} 维）"
            f"映射成 {heads} 个头、每头 key_dim = {key_dim}；value 把 {v_in} 维输入映射成 "
            f"{heads} 个头、每头 value_dim = {value_dim}；输出投影再把拼接起来的 "
            f"{heads}×{value_dim} 维映射回 {out_text}。",
        )
    else:
        projections = Text(
            "Multi-head attention learns four projections, without biases (use_bias=False): "
            f"query and key map their inputs ({q_in} and {k_in} values) to {heads} heads of "
            f"key_dim = {key_dim}; value maps its {v_in} values to {heads} heads of value_dim = "
            f"{value_dim}; the output projection maps the {heads}×{value_dim} concatenated heads "
            f"back to {out_text}.",
            f"多头注意力学习四个投影，都没有偏置（use_bias=False）：query 和 key 把各自的输入"
            f"（{q_in} 和 {k_in} 维）映射成 {heads} 个头、每头 key_dim = {key_dim}；value 把 "
            f"{v_in} 维输入映射成 {heads} 个头、每头 value_dim = {value_dim}；输出投影再把拼接"
            f"起来的 {heads}×{value_dim} 维映射回 {out_text}。",
        )
    return formula(
        Sum(tuple(terms)),
        sentences(
            projections,
            msg(
                "With use_gate=True a fourth projection of the query (%(heads)s×%(value_dim)s per "
                "input value) gates the attention output.",
                heads=str(heads),
                value_dim=str(value_dim),
            )
            if use_gate
            else None,
            msg(
                "The attention weights themselves are computed from the data and are not "
                "parameters."
            ),
        ),
    )


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
        return missing_shape(layer)
    if any(len(s) != 3 or s[1] is None or s[2] is None for s in (query, value, key)):
        return _only_sequences()
    heads = int(layer.config["num_heads"])
    key_dim = int(layer.config["key_dim"])
    value_dim = int(layer.config.get("value_dim") or key_dim)
    use_bias = bool(layer.config.get("use_bias", True))
    t_q, s_k = int(query[1] or 0), int(value[1] or 0)
    out_shape = layer.config.get("output_shape")
    out_dims = ints(out_shape) if out_shape else (int(query[2] or 0),)
    h, t, s = Num(heads, Symbol("h")), Num(t_q, Symbol("T")), Num(s_k, Symbol("S"))
    dk, dv = Num(key_dim, Symbol("d", "k")), Num(value_dim, Symbol("d", "v"))
    n = batch_factor(batch_size)
    terms: list[Term] = []
    notes: list[Text | Msg | None] = []
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
        terms.append(Term("Mul (scale)", Product(scores)))
        notes.append(
            msg(
                "The two attention products (query·key and weights·value) run as Einsum ops, "
                "which TensorFlow's profiler does not count: %(qk)s + %(av)s FLOPs of real work "
                "are left out, as the profiler leaves them out.",
                qk=2 * key_dim * heads * t_q * s_k * batch_size,
                av=2 * value_dim * heads * t_q * s_k * batch_size,
            )
        )
    else:
        terms.append(Term("Mul (scale)", Product((t, h, dk, *n))))
        terms.append(Term("query·key", Product((Num(2), dk, *scores))))
        terms.append(Term("weights·value", Product((Num(2), s, t, h, dv, *n))))
        notes.append(
            msg(
                "With dropout (or attention scores returned), Keras computes attention with "
                "explicit matrix products, which the profiler counts."
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
    return counted(terms, main, *notes, batch_note(batch_size))


# ---------------------------------------------------------------- Attention, AdditiveAttention


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
        return zero(
            msg(
                "Dot-product attention computes its weights from the data; without use_scale it "
                "learns nothing."
            )
        )
    return formula(
        Sum(tuple(terms)) if len(terms) > 1 else terms[0],
        msg(
            "Dot-product attention computes its attention weights from the data; it only learns "
            "a single scalar for each option that is on (use_scale multiplies the scores, "
            "score_mode='concat' weights the tanh scores)."
        ),
    )


def additive_attention_params(layer: LayerFacts) -> Derivation:
    """AdditiveAttention (Bahdanau): one learned scale per feature when use_scale is on."""
    if not bool(layer.config.get("use_scale", True)):
        return zero(
            msg(
                "Without use_scale, additive attention learns nothing: the scores come from the "
                "data alone."
            )
        )
    dim = last_input_dim(layer)
    if dim is None:
        return unknown(
            msg(
                "The formula needs the size of the query's last axis, which the collected facts "
                "do not give."
            )
        )
    return formula(
        Num(dim, Symbol("d")),
        Text(
            f"Additive attention scores query + key through tanh and then weights each of the "
            f"{dim} features with a learned scale (use_scale=True): one weight per feature.",
            f"加性注意力把 query 与 key 相加后经过 tanh，再用可学习的缩放系数给 {dim} 个"
            "特征分别加权（use_scale=True）：每个特征一个权重。",
        ),
    )


def _query_value_key(layer: LayerFacts) -> tuple[Shape, Shape, Shape] | None:
    """Attention and AdditiveAttention take ``[query, value]`` or ``[query, value, key]``."""
    if len(layer.input_shapes) not in (2, 3):
        return None
    query, value = layer.input_shapes[0], layer.input_shapes[1]
    key = layer.input_shapes[2] if len(layer.input_shapes) == 3 else value
    return query, value, key


class _Sizes(NamedTuple):
    """The sizes both attention layers' FLOPs are made of, as numbers and as symbols."""

    t_q: int
    d: int
    s_k: int
    d_v: int
    t: Num
    s: Num
    dim: Num
    dv: Num
    n: list[Expr]


def _sizes(layer: LayerFacts, batch_size: int) -> _Sizes | Derivation:
    """Query length T, features d, key length S, value features d_v; or why there are none."""
    found = _query_value_key(layer)
    if found is None:
        return missing_shape(layer)
    if any(len(x) != 3 or x[1] is None or x[2] is None for x in found):
        return _only_sequences()
    query, value, key = found
    t_q, d, s_k, d_v = int(query[1] or 0), int(query[2] or 0), int(key[1] or 0), int(value[2] or 0)
    return _Sizes(
        t_q,
        d,
        s_k,
        d_v,
        Num(t_q, Symbol("T")),
        Num(s_k, Symbol("S")),
        Num(d, Symbol("d")),
        Num(d_v, Symbol("d", "v")),
        batch_factor(batch_size),
    )


def _weights_times_value(t: Num, s: Num, dv: Num, n: list[Expr], terms: list[Term]) -> None:
    """The softmax over the scores and the product of the weights with the value."""
    terms.append(Term("Softmax", Product((Num(5), t, s, *n))))
    terms.append(Term("weights·value", Product((Num(2), t, s, dv, *n))))


def attention_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Attention (Luong): BatchMatMul q·kᵀ (dot) or tanh(q + k) summed (concat), softmax, ×v."""
    sizes = _sizes(layer, batch_size)
    if isinstance(sizes, Derivation):
        return sizes
    t_q, d, s_k, d_v, t, s, dim, dv, n = sizes
    scale = bool(layer.config.get("use_scale", False))
    terms: list[Term] = []
    if layer.config.get("score_mode", "dot") == "concat":
        terms.append(Term("AddV2", Product((t, s, dim, *n))))
        if scale:
            terms.append(Term("Mul (scale)", Product((t, s, dim, *n))))
        terms.append(Term("Sum", Product((t, s, Num(d - 1), *n))))
        terms.append(Term("Mul (weight)", Product((t, s, *n))))
        scores = Text(
            f"With score_mode='concat' each of the {t_q}×{s_k} query–key pairs is scored as the "
            f"sum over its {d} features of tanh(query + key): one addition per feature (tanh "
            f"counts 0) and {d} − 1 more to sum them, then the learned weight multiplies the "
            "score.",
            f"score_mode='concat' 时，{t_q}×{s_k} 个 query–key 对各自的分数是 {d} 个特征上 "
            f"tanh(query + key) 之和：每个特征一次加法（tanh 计 0），求和再加 {d} − 1 次，"
            "最后乘以学到的权重。",
        )
        scale_note = (
            msg("use_scale=True multiplies query + key by a learned scalar: 1 FLOP per feature.")
            if scale
            else None
        )
    else:
        terms.append(Term("query·key", Product((Num(2), dim, t, s, *n))))
        if scale:
            terms.append(Term("Mul (scale)", Product((t, s, *n))))
        scores = Text(
            f"Each of the {t_q} query positions is compared with each of the {s_k} key positions "
            f"by a dot product over {d} values (a BatchMatMul, 2 FLOPs per multiply-add).",
            f"{t_q} 个 query 位置中的每一个都与 {s_k} 个 key 位置逐一做 {d} 维的点积"
            "（BatchMatMul，每次乘加记 2 次）。",
        )
        scale_note = (
            msg("use_scale=True multiplies each score by a learned scalar: 1 FLOP per score.")
            if scale
            else None
        )
    _weights_times_value(t, s, dv, n, terms)
    return counted(
        terms,
        scores,
        scale_note,
        _softmax_and_value(t_q, s_k, d_v),
        MASKS_NOT_COUNTED,
        batch_note(batch_size),
    )


def _softmax_and_value(t_q: int, s_k: int, d_v: int) -> Text:
    return Text(
        f"The {t_q}×{s_k} scores go through a softmax (5 FLOPs each), and each of the {t_q}×{d_v} "
        f"output values is their weighted sum over the {s_k} rows of the value (a BatchMatMul, "
        "2 FLOPs per multiply-add).",
        f"{t_q}×{s_k} 个分数经过 softmax（每个 5 次），{t_q}×{d_v} 个输出值中的每一个都是 value "
        f"的 {s_k} 行按这些权重的加权和（BatchMatMul，每次乘加记 2 次）。",
    )


def additive_attention_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """AdditiveAttention (Bahdanau): Σ scale·tanh(q + k) over the features, softmax, ×v."""
    sizes = _sizes(layer, batch_size)
    if isinstance(sizes, Derivation):
        return sizes
    t_q, d, s_k, d_v, t, s, dim, dv, n = sizes
    terms = [
        Term("AddV2", Product((t, s, dim, *n))),
        Term("Mul (scale)", Product((t, s, dim, *n))),
        Term("Sum", Product((t, s, Num(d - 1), *n))),
    ]
    _weights_times_value(t, s, dv, n, terms)
    scores = Text(
        f"Each of the {t_q}×{s_k} query–key pairs is scored as the sum over its {d} features of "
        f"scale·tanh(query + key): an addition and a multiplication per feature (tanh counts 0) "
        f"and {d} − 1 more additions to sum them.",
        f"{t_q}×{s_k} 个 query–key 对各自的分数是 {d} 个特征上 scale·tanh(query + key) 之和："
        f"每个特征一次加法和一次乘法（tanh 计 0），求和再加 {d} − 1 次。",
    )
    return counted(
        terms,
        scores,
        msg(
            "Without use_scale Keras still multiplies by a constant 1, and the profiler counts "
            "that multiplication too."
        )
        if not layer.config.get("use_scale", True)
        else None,
        _softmax_and_value(t_q, s_k, d_v),
        MASKS_NOT_COUNTED,
        batch_note(batch_size),
    )


declare("MultiHeadAttention", family=FAMILY, params=mha_params, flops=mha_flops, module=_HERE)
declare(
    "Attention",
    family=FAMILY,
    params=dot_attention_params,
    flops=attention_flops,
    module=_HERE,
)
declare(
    "AdditiveAttention",
    family=FAMILY,
    params=additive_attention_params,
    flops=additive_attention_flops,
    module=_HERE,
)
declare("GroupedQueryAttention", family=FAMILY, params=GENERIC, flops=NO_RULE_YET, module=_HERE)
