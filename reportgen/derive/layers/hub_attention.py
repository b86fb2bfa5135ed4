"""keras-hub's attention layers: multi-head attention with grouped / multi-query key-value heads.

Each class counts as one row (a rule of its own, so the collect stage does not open it): the
query, key, value and output projections (EinsumDense or Dense sub-layers) and whatever runs
between them (rotary embedding, query/key normalisation, ALiBi, softmax). Every model writes
its own attention layer, so each class is declared with a :class:`_Layout` that says where
its biases are, how its kernels are laid out and what runs between the projections; the
layouts were read off keras-hub 0.32's sources and weights, and the FLOPs off the traced
graphs of TF 2.21 on CPU (``tests/test_tf_hub_attention.py`` checks both on real layers).

In these classes, keras-hub's ``ops.einsum`` for query·key and weights·value is rewritten by
Keras's TensorFlow backend as a BatchMatMul, which TensorFlow's profiler counts: those
products are part of the formula. Where an attention product runs as an Einsum op instead
(Keras's fused ``dot_product_attention`` path), the profiler counts 0 and so does the
formula; the explanation then gives the uncounted FLOPs (see ``attention.mha_flops``).

Sizes come from the configuration (head counts, ``head_dim``) and the input's last axis
(the model width d). Some keras-hub layers' ``get_config()`` raises (LlamaAttention,
CachedGemmaAttention in 0.32); for them the head counts are read from the projection
kernels' shapes, and the explanation says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from reportgen.derive.layers.attention import FAMILY, mha_flops, mha_params
from reportgen.derive.layers.convention import batch_note, counted, missing_shape
from reportgen.derive.layers.registry import (
    NO_RULE_YET,
    NO_TOKEN_CACHE,
    FlopsDecision,
    KvHeads,
    declare,
    formula,
    unknown,
)
from reportgen.derive.layers.shapes import batch_factor
from reportgen.expr import Expr, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Msg, Prose, Text, msg, sentences

_HERE = __name__


@dataclass(frozen=True)
class _Layout:
    """How one keras-hub attention class is built (read off its source and weights)."""

    qkv_bias: bool = False
    """The query, key and value projections have biases."""
    out_bias: bool = False
    """The output projection has a bias."""
    fused_qkv: bool = False
    """One projection makes query, key and value together (GPT-NeoX): kernel (d, h, 3·hd)."""
    heads_first: bool = False
    """Projection kernels are laid out (heads, d, head_dim) (Gemma), not (d, heads, head_dim)."""
    rotary: str | None = None
    """``"hub"`` (keras_hub RotaryEmbedding), ``"llama"`` (LlamaRotaryEmbedding) or None."""
    qk_norm: str | None = None
    """Query and key normalised per head: ``"qwen3"`` (Qwen3LayerNorm), ``"gemma3"``
    (RMSNormalization, when ``use_query_key_norm``) or None."""
    scale_query: bool = False
    """The query is scaled (Gemma), not the scores."""
    alibi: str | None = None
    """``"input"`` (Falcon: the ALiBi bias is added to the scores) or ``"layer"`` (Bloom: an
    AlibiBias sub-layer scales the slopes and adds them)."""
    repeats_kv: bool = False
    """Key and value heads are repeated to the query heads with ``ops.repeat`` (GQA)."""
    mask_equal: bool = False
    """The layer compares the mask with 0 once more (Gemma)."""
    boolean_mask: bool = False
    """The softmax gets a boolean mask (no comparison per pair); the layer takes the
    minimum of the sliding window and the length once (Qwen3)."""


LLAMA = _Layout(rotary="llama", repeats_kv=True)
LLAMA_LIKE = _Layout(rotary="hub", repeats_kv=True)
QWEN = _Layout(qkv_bias=True, rotary="hub", repeats_kv=True)
QWEN3 = _Layout(rotary="hub", repeats_kv=True, qk_norm="qwen3", boolean_mask=True)
GEMMA = _Layout(heads_first=True, rotary="hub", scale_query=True, mask_equal=True)
GEMMA3 = _Layout(
    heads_first=True, rotary="hub", scale_query=True, mask_equal=True, qk_norm="gemma3"
)
FALCON = _Layout(qkv_bias=True, out_bias=True, alibi="input")
BLOOM = _Layout(qkv_bias=True, out_bias=True, alibi="layer")
GPT_NEOX = _Layout(qkv_bias=True, out_bias=True, fused_qkv=True, rotary="hub")


@dataclass(frozen=True)
class _Heads:
    """The sizes of one attention layer: model width, query heads, key/value heads, head size."""

    d: int
    h: int
    kv: int
    hd: int
    from_weights: bool
    """True when the head counts were read from the kernels (the configuration lacked them)."""


def _heads_from_config(layer: LayerFacts, d: int) -> tuple[int, int, int] | None:
    config = layer.config
    heads = config.get("num_query_heads") or config.get("num_heads")
    heads = heads or config.get("num_attention_heads")
    if not heads:
        return None
    h = int(heads)
    kv = int(config.get("num_key_value_heads") or h)
    hd = int(config.get("head_dim") or d // h)
    return h, kv, hd


def _kernel(layer: LayerFacts, *names: str) -> tuple[int, ...] | None:
    """The shape of the kernel of the projection sub-layer named one of ``names``."""
    for weight in layer.weights:
        parts = weight.name.split("/")
        if len(parts) >= 2 and parts[-1] == "kernel" and parts[-2] in names:
            return weight.shape
    return None


def _heads_from_weights(layout: _Layout, d: int, layer: LayerFacts) -> tuple[int, int, int]:
    """Head counts and size read off the query and key kernels; KeyError when absent."""
    if layout.fused_qkv:
        fused = _kernel(layer, "query_key_value")
        if fused is None or len(fused) != 3:
            raise KeyError("query_key_value")
        return fused[1], fused[1], fused[2] // 3
    query = _kernel(layer, "query", "query_dense")
    key = _kernel(layer, "key", "key_dense")
    if query is None or key is None or len(query) != 3 or len(key) != 3:
        raise KeyError("query")
    if layout.heads_first:
        return query[0], key[0], query[2]
    return query[1], key[1], query[2]


def _sizes(layout: _Layout, layer: LayerFacts) -> _Heads | None:
    """The layer's sizes, or None without an input shape. KeyError: nothing tells the heads."""
    if not layer.input_shapes or not layer.input_shapes[0] or layer.input_shapes[0][-1] is None:
        return None
    d = int(layer.input_shapes[0][-1])
    found = _heads_from_config(layer, d)
    if found is not None:
        return _Heads(d, *found, from_weights=False)
    return _Heads(d, *_heads_from_weights(layout, d, layer), from_weights=True)


def _no_width() -> Derivation:
    return unknown(
        msg(
            "The formula needs the model width (the last axis of the attention's input), "
            "which the collected facts do not give."
        )
    )


READ_FROM_KERNELS = msg(
    "This layer's configuration could not be read (its get_config() fails in this keras-hub "
    "version), so the numbers of heads and their size are read from the shapes of its "
    "projection kernels."
)


# ---------------------------------------------------------------- parameters


def _has_qk_norm(layout: _Layout, layer: LayerFacts) -> bool:
    if layout.qk_norm == "qwen3":
        return True
    if layout.qk_norm == "gemma3":
        if "use_query_key_norm" in layer.config:
            return bool(layer.config["use_query_key_norm"])
        return _kernel_like(layer, "query_norm")
    return False


def _kernel_like(layer: LayerFacts, sub_layer: str) -> bool:
    return any(f"/{sub_layer}/" in f"/{w.name}" for w in layer.weights)


def _attention_params(layout: _Layout, layer: LayerFacts) -> Derivation:
    sizes = _sizes(layout, layer)
    if sizes is None:
        return _no_width()
    d_, h_, kv_, hd_ = sizes.d, sizes.h, sizes.kv, sizes.hd
    d = Num(d_, Symbol("d"))
    h = Num(h_, Symbol("h"))
    kv = Num(kv_, Symbol("h", "kv"))
    hd = Num(hd_, Symbol("d", "head"))
    terms: list[Expr] = []

    def projection(label: str, heads: Num, width: Expr = hd) -> None:
        weights = Product((d, heads, width))
        terms.append(
            Term(label, Sum((weights, Product((heads, width)))) if layout.qkv_bias else weights)
        )

    if layout.fused_qkv:
        projection("query, key, value", h, Product((Num(3), hd)))
    else:
        projection("query", h)
        projection("key", kv)
        projection("value", kv)
    out = Product((h, hd, d))
    terms.append(Term("output", Sum((out, d)) if layout.out_bias else out))
    norms = _has_qk_norm(layout, layer)
    if norms:
        terms.append(Term("query and key norms", Product((Num(2), hd))))
    return formula(
        Sum(tuple(terms)),
        sentences(
            READ_FROM_KERNELS if sizes.from_weights else None,
            _projections_text(sizes, layout),
            _kv_heads_text(sizes),
            msg(
                "Query and key are each normalised per head before attention: one learned "
                "scale per head dimension, %(hd)s each.",
                hd=hd_,
            )
            if norms
            else None,
            msg(
                "The attention weights themselves are computed from the data and are not "
                "parameters."
            ),
        ),
    )


def _projections_text(sizes: _Heads, layout: _Layout) -> Text:
    d, h, kv, hd = sizes.d, sizes.h, sizes.kv, sizes.hd
    if layout.qkv_bias and layout.out_bias:
        bias_en, bias_zh = "every projection has a bias", "每个投影都带偏置"
    elif layout.qkv_bias:
        bias_en = "query, key and value have biases, the output projection none"
        bias_zh = "query、key、value 带偏置，输出投影不带"
    else:
        bias_en, bias_zh = "no projection has a bias", "所有投影都不带偏置"
    if layout.fused_qkv:
        return Text(
            f"One fused projection maps each of the d = {d} input values to query, key and "
            f"value for {h} heads of {hd} values (3×{h}×{hd} outputs); the output projection "
            f"maps the {h}×{hd} concatenated heads back to {d}; {bias_en}.",
            f"一个合并的投影把 d = {d} 维输入同时映射成 {h} 个头的 query、key 和 value，"
            f"每头 {hd} 维（共 3×{h}×{hd} 个输出）；输出投影再把拼接起来的 {h}×{hd} 维映射回 "
            f"{d} 维；{bias_zh}。",
        )
    return Text(
        f"The query projection maps the d = {d} input values to {h} heads of {hd} values; the "
        f"key and value projections map them to {kv} heads each; the output projection maps "
        f"the {h}×{hd} concatenated heads back to {d}; {bias_en}.",
        f"query 投影把 d = {d} 维输入映射成 {h} 个头、每头 {hd} 维；key 和 value 投影各映射成 "
        f"{kv} 个头；输出投影再把拼接起来的 {h}×{hd} 维映射回 {d} 维；{bias_zh}。",
    )


def _kv_heads_text(sizes: _Heads) -> Prose | None:
    if sizes.kv == sizes.h:
        return None
    if sizes.kv == 1:
        return msg(
            "Multi-query attention: all %(h)s query heads share a single key head and value "
            "head, so the key and value projections are %(h)s times smaller than the query's.",
            h=sizes.h,
        )
    return msg(
        "Grouped-query attention: the %(h)s query heads share %(kv)s key/value heads (groups "
        "of %(group)s), so the key and value projections are %(group)s times smaller than the "
        "query's.",
        h=sizes.h,
        kv=sizes.kv,
        group=sizes.h // sizes.kv,
    )


# ---------------------------------------------------------------- FLOPs


def _rotary_terms(
    layout: _Layout, heads: Num, rot: Num, s: Num, n: list[Expr], label: str
) -> list[Term]:
    """The ops one rotary embedding of ``heads`` heads (``rot`` rotated values each) costs,
    as the profiler counts them: 2 Mul and 1 AddV2 per value and a Neg per value pair to
    rotate, plus the frequencies (RealDiv, Pow per frequency) and positions (AddV2)."""
    values = (s, heads, rot, *n)
    neg: Expr = Product((s, heads, Num(rot.value // 2), *n))
    if layout.rotary == "hub":
        neg = Sum((neg, Num(rot.value // 2)))
    return [
        Term(f"rotary {label} Mul", Product((Num(2), *values))),
        # The positions (an arange plus the cache index) are one per token, not per example.
        Term(f"rotary {label} AddV2", Sum((Product(values), s))),
        Term(f"rotary {label} Neg", neg),
        Term(f"rotary {label} RealDiv, Pow", Num(rot.value + rot.value // 2)),
    ]


def _norm_terms(layout: _Layout, heads: Num, hd: Num, s: Num, n: list[Expr], label: str) -> Term:
    """A per-head norm over ``hd`` values: Qwen3LayerNorm (Pow, Mean, 2 Mul per value; AddV2
    and Rsqrt (2) per head) or Gemma's RMSNormalization (Square, Mean, 2 Mul per value;
    AddV2 and Reciprocal per head, AddV2 of 1 + scale)."""
    values = (s, heads, hd, *n)
    per_head = (s, heads, *n)
    if layout.qk_norm == "qwen3":
        return Term(
            f"{label} norm", Sum((Product((Num(4), *values)), Product((Num(3), *per_head))))
        )
    return Term(
        f"{label} norm",
        Sum((Product((Num(4), *values)), Product((Num(2), *per_head)), hd)),
    )


def _attention_flops(layout: _Layout, layer: LayerFacts, batch_size: int) -> Derivation:
    sizes = _sizes(layout, layer)
    if sizes is None or len(layer.input_shapes[0]) != 3 or layer.input_shapes[0][1] is None:
        return missing_shape(layer)
    s_ = int(layer.input_shapes[0][1] or 0)
    d = Num(sizes.d, Symbol("d"))
    h = Num(sizes.h, Symbol("h"))
    kv = Num(sizes.kv, Symbol("h", "kv"))
    hd = Num(sizes.hd, Symbol("d", "head"))
    s = Num(s_, Symbol("s"))
    n = batch_factor(batch_size)
    terms: list[Term] = []
    if layout.fused_qkv:
        terms.append(Term("query, key, value MatMul", Product((Num(2), s, d, Num(3), h, hd, *n))))
        terms.append(Term("query, key, value bias", Product((s, Num(3), h, hd, *n))))
    else:
        for label, heads in (("query", h), ("key", kv), ("value", kv)):
            terms.append(Term(f"{label} MatMul", Product((Num(2), s, d, heads, hd, *n))))
            if layout.qkv_bias:
                terms.append(Term(f"{label} bias", Product((s, heads, hd, *n))))
    if _has_qk_norm(layout, layer):
        terms.append(_norm_terms(layout, h, hd, s, n, "query"))
        terms.append(_norm_terms(layout, kv, hd, s, n, "key"))
    rot = hd
    if layout.rotary is not None:
        share = float(layer.config.get("rotary_percentage") or 1.0)
        rot = Num(int(sizes.hd * share), Symbol("d", "rot")) if share != 1.0 else hd
        terms += _rotary_terms(layout, h, rot, s, n, "query")
        terms += _rotary_terms(layout, kv, rot, s, n, "key")
    if layout.repeats_kv and sizes.kv != sizes.h:
        terms.append(Term("Repeat", Num(2)))
    scores = (h, s, s, *n)
    terms.append(Term("query·key", Product((Num(2), hd, *scores))))
    if layout.scale_query:
        terms.append(Term("Mul (scale query)", Product((s, h, hd, *n))))
    else:
        terms.append(Term("Mul (scale)", Product(scores)))
    if layout.alibi == "input":
        terms.append(Term("AddV2 (ALiBi)", Product(scores)))
    elif layout.alibi == "layer":
        terms.append(Term("ALiBi slopes", Sum((Product((h, s, *n)), Product(scores)))))
    masked = "attention_mask" in layer.input_names and not layout.boolean_mask
    if layout.boolean_mask:
        terms.append(Term("Minimum (window)", Num(1)))
    if masked:
        terms.append(Term("mask Greater", Product((s, s, *n))))
        if layout.mask_equal:
            terms.append(Term("mask Equal", Product((s, s, *n))))
    terms.append(Term("Softmax", Product((Num(5), *scores))))
    terms.append(Term("weights·value", Product((Num(2), hd, *scores))))
    terms.append(Term("output MatMul", Product((Num(2), s, h, hd, d, *n))))
    if layout.out_bias:
        terms.append(Term("output bias", Product((s, d, *n))))
    return counted(
        terms,
        READ_FROM_KERNELS if sizes.from_weights else None,
        _flops_text(sizes, s_, layout),
        _products_counted(sizes.h, sizes.hd, s_, batch_size),
        msg(
            "The rotary position embedding runs inside the layer: 2 multiplications and an "
            "addition per rotated value, a negation per pair, and the frequencies."
        )
        if layout.rotary
        else None,
        msg("The mask is compared once per query–key pair (1 FLOP each).") if masked else None,
        batch_note(batch_size),
    )


def _flops_text(sizes: _Heads, s: int, layout: _Layout) -> Text:
    d, h, kv, hd = sizes.d, sizes.h, sizes.kv, sizes.hd
    return Text(
        f"The {s} positions are projected to {h} query heads and {kv} key/value heads of {hd} "
        f"values (2 FLOPs per multiply-add{', plus the biases' if layout.qkv_bias else ''}); "
        f"the {h}×{s}×{s} scores are scaled and go through a softmax (5 FLOPs each); the output "
        f"projection maps the heads back to {d}.",
        f"{s} 个位置被投影到 {h} 个 query 头和 {kv} 个 key/value 头上，每头 {hd} 维（每次乘加"
        f"记 2 次{'，另加偏置' if layout.qkv_bias else ''}）；{h}×{s}×{s} 个注意力分数经过缩放"
        f"和 softmax（每个 5 次）；最后由输出投影把各头映射回 {d} 维。",
    )


def _products_counted(h: int, hd: int, s: int, batch_size: int) -> Msg:
    """The two attention products, which this layer runs as BatchMatMul (counted)."""
    return msg(
        "The attention scores (query·key) and the weighted sum of the values cost 2·b·h·s²·d_head "
        "= %(each)s FLOPs each; this layer runs them as BatchMatMul ops, which TensorFlow's "
        "profiler counts, so they are part of this figure.",
        each=2 * batch_size * h * s * s * hd,
    )


# ---------------------------------------------------------------- KV cache


def _attention_kv(layout: _Layout, layer: LayerFacts) -> KvHeads | None:
    try:
        sizes = _sizes(layout, layer)
    except KeyError:
        return None
    if sizes is None:
        return None
    return KvHeads(sizes.kv, sizes.hd, sizes.kv, sizes.hd)


def kernel_heads(layer: LayerFacts) -> tuple[int, int] | None:
    """(key/value heads, head size) from a 3-axis key kernel, laid out (d, heads, head_dim)
    or (heads, d, head_dim) (Gemma); None when no such kernel is among the weights."""
    key = _kernel(layer, "key", "key_dense", "k_proj")
    if key is None or len(key) != 3:
        return None
    shape = layer.input_shapes[0] if layer.input_shapes else ()
    width = shape[-1] if shape else None
    if width is not None and key[0] != width and key[1] == width:
        return key[0], key[2]
    return key[1], key[2]


def mha_kv(layer: LayerFacts) -> KvHeads | None:
    """Keras MultiHeadAttention (keras-hub's CachedMultiHeadAttention): every head caches;
    a cross-attention (named so by keras-hub's decoders) caches nothing per token."""
    if "cross" in layer.name:
        return NO_TOKEN_CACHE
    heads, key_dim = layer.config.get("num_heads"), layer.config.get("key_dim")
    if not heads or not key_dim:
        return None
    value_dim = int(layer.config.get("value_dim") or key_dim)
    return KvHeads(int(heads), int(key_dim), int(heads), value_dim)


# ---------------------------------------------------------------- declarations


def _declare(layout: _Layout, *class_names: str, flops: bool = True) -> None:
    def params(layer: LayerFacts) -> Derivation:
        return _attention_params(layout, layer)

    def flops_rule(layer: LayerFacts, batch_size: int) -> Derivation:
        return _attention_flops(layout, layer, batch_size)

    def kv_cache(layer: LayerFacts) -> KvHeads | None:
        return _attention_kv(layout, layer)

    decision: FlopsDecision = flops_rule if flops else NO_RULE_YET
    declare(
        *class_names,
        family=FAMILY,
        params=params,
        flops=decision,
        module=_HERE,
        kv_cache=kv_cache,
    )


def cached_mha_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """CachedMultiHeadAttention runs Keras's attention; called by a block, with a mask."""
    derived = mha_flops(layer, batch_size)
    if "attention_mask" not in layer.input_names or derived.formula is None:
        return derived
    query = layer.input_shapes[0]
    named = dict(zip(layer.input_names, layer.input_shapes, strict=False))
    value = named.get("value", query)
    if len(query) != 3 or len(value) != 3 or query[1] is None or value[1] is None:
        return derived
    # One comparison per element of the mask as the block passes it: (T, S) for a causal
    # self-attention mask, (1, S) for an encoder's padding mask broadcast over the queries.
    rows, columns = int(query[1]), int(value[1])
    given = named.get("attention_mask", ())
    if len(given) == 3 and given[1] is not None and given[2] is not None:
        rows, columns = int(given[1]), int(given[2])
    mask = Term(
        "mask Greater",
        Product(
            (
                Num(rows, Symbol("T") if rows == query[1] else None),
                Num(columns, Symbol("S") if columns == value[1] else None),
            )
        ),
    )
    if batch_size != 1:
        mask = Term(mask.label, Product((*batch_factor(batch_size), mask.expr)))
    expr = derived.formula.expr
    parts = expr.terms if isinstance(expr, Sum) else (expr,)
    return formula(
        Sum((*parts, mask)),
        sentences(
            derived.explanation,
            msg("The mask is compared once per element (1 FLOP each)."),
        ),
    )


declare(
    "CachedMultiHeadAttention",
    family=FAMILY,
    params=mha_params,
    flops=cached_mha_flops,
    module=_HERE,
    kv_cache=mha_kv,
)
_declare(LLAMA, "LlamaAttention")
_declare(
    LLAMA_LIKE,
    "CachedMistralAttention",
    "CachedMixtralAttention",
    "Phi3Attention",
)
_declare(QWEN, "QwenAttention", "QwenMoeAttention")
_declare(QWEN3, "Qwen3Attention", "Qwen3MoeAttention")
_declare(GEMMA, "CachedGemmaAttention")
_declare(GEMMA3, "CachedGemma3Attention")
_declare(FALCON, "FalconAttention")
_declare(BLOOM, "BloomAttention")
_declare(GPT_NEOX, "GPTNeoXAttention")
