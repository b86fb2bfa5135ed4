"""Wrappers (``keras/src/layers/rnn/bidirectional.py``, ``core/``): a layer inside a layer.

A wrapper's numbers are its inner layer's, derived through the registry like any other
layer's: Bidirectional holds two of them, TimeDistributed applies one at every time step.
"""

from __future__ import annotations

from reportgen.derive.layers.convention import missing_shape
from reportgen.derive.layers.dispatch import derive_flops, derive_params, generic_params
from reportgen.derive.layers.registry import GENERIC, NO_RULE_YET, declare, formula
from reportgen.derive.layers.shapes import dims, drop_time, elements, inner_layer_facts
from reportgen.expr import Expr, Formula, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Text, sentences

_HERE = __name__


def _wrapped(derivation: Derivation) -> bool:
    return derivation.method in ("formula", "zero") and derivation.formula is not None


# ---------------------------------------------------------------- Bidirectional


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
    return formula(
        Sum((Term("forward", fwd.formula.expr), Term("backward", bwd.formula.expr))),
        sentences(
            Text(
                f"Bidirectional runs two independent copies of {forward.class_name}, one reading "
                "the sequence forwards and one backwards, each with weights of its own, so the "
                f"count is the sum of both. Merging their outputs (merge_mode={merge!r}) adds no "
                "weights. Each copy:",
                f"Bidirectional 运行两份相互独立的 {forward.class_name}，一份正向读序列，"
                "一份反向读，各有自己的权重，所以参数量是两者之和。合并两者的输出"
                f"（merge_mode={merge!r}）不增加权重。每一份：",
            ),
            fwd.explanation,
        ),
    )


_MERGE = {
    "concat": (0, ""),
    "sum": (1, "AddV2"),
    "mul": (1, "Mul"),
    "ave": (2, "AddV2, RealDiv"),
}
"""FLOPs per output value of merging the two directions, and the ops that cost them."""


def bidirectional_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Bidirectional: the forward and backward layers, plus merging their outputs."""
    merge = layer.config.get("merge_mode", "concat")
    out_dims = dims(layer.output_shapes)
    if out_dims is None or (merge is not None and merge not in _MERGE):
        return missing_shape(layer)
    backward_spec = layer.config.get("backward_layer") or layer.config.get("layer")
    halves = []
    for spec in (layer.config.get("layer"), backward_spec):
        inner = inner_layer_facts(layer, spec, layer.input_shapes, ())
        if inner is None:
            return missing_shape(layer)
        derived = derive_flops(inner, batch_size)
        if derived.value is None or derived.formula is None:
            return derived
        halves.append(derived)
    exprs = [h.formula.expr for h in halves if h.formula is not None]
    terms = [Term("forward", exprs[0]), Term("backward", exprs[1])]
    per_value, op = _MERGE.get(merge or "concat", (0, ""))
    if per_value:
        values = elements(out_dims, batch_size)
        factors = (Num(per_value), *values) if per_value > 1 else tuple(values)
        terms.append(Term(op, Product(factors)))
    return formula(
        Sum(tuple(terms)),
        sentences(
            Text(
                f"Both directions cost the same; merging them (merge_mode={merge!r}) adds "
                f"{per_value} FLOP(s) per output value. Each direction:",
                f"两个方向的运算量相同；合并（merge_mode={merge!r}）每个输出值另加 {per_value} 次。"
                "每个方向：",
            ),
            halves[0].explanation,
        ),
    )


# ---------------------------------------------------------------- TimeDistributed


def time_distributed_params(layer: LayerFacts) -> Derivation:
    """TimeDistributed: the wrapped layer's count; its weights are shared by every step."""
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
    if steps is not None:
        lead = Text(
            f"TimeDistributed applies one {inner.class_name} to each of the {steps} time steps "
            "with the same weights, so the count is the wrapped layer's:",
            f"TimeDistributed 用同一个 {inner.class_name}（同一组权重）处理 {steps} 个时间步中的"
            "每一步，所以参数量就是被包装层的参数量：",
        )
    else:
        lead = Text(
            f"TimeDistributed applies one {inner.class_name} to every time step with the same "
            "weights, so the count is the wrapped layer's:",
            f"TimeDistributed 用同一个 {inner.class_name}（同一组权重）处理每一个时间步，"
            "所以参数量就是被包装层的参数量：",
        )
    return Derivation(
        derived.value, derived.method, sentences(lead, derived.explanation), derived.formula
    )


def time_distributed_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """TimeDistributed: the wrapped layer once per time step (Keras loops over the steps)."""
    if not layer.input_shapes or len(layer.input_shapes[0]) < 2:
        return missing_shape(layer)
    steps = layer.input_shapes[0][1]
    inner = inner_layer_facts(
        layer,
        layer.config.get("layer"),
        drop_time(layer.input_shapes),
        drop_time(layer.output_shapes),
    )
    if steps is None or inner is None:
        return missing_shape(layer)
    derived = derive_flops(inner, batch_size)
    if derived.value is None or derived.formula is None:
        return derived
    expr: Expr = Product((Num(int(steps), Symbol("T")), derived.formula.expr))
    found = Formula(expr)
    return Derivation(
        found.value,
        "formula",
        sentences(
            Text(
                f"TimeDistributed runs the wrapped {inner.class_name} once for each of the "
                f"{steps} time steps, so its FLOPs are {steps} times one step's:",
                f"TimeDistributed 对 {steps} 个时间步逐一运行被包装的 {inner.class_name}，"
                f"所以浮点运算量是单步的 {steps} 倍：",
            ),
            derived.explanation,
        ),
        found,
    )


declare(
    "Bidirectional",
    family="recurrent",
    params=bidirectional_params,
    flops=bidirectional_flops,
    module=_HERE,
)
declare(
    "TimeDistributed",
    family="wrapper",
    params=time_distributed_params,
    flops=time_distributed_flops,
    module=_HERE,
)
# Normalizes the wrapped layer's kernel by its spectral norm while training; its weights
# (the wrapped layer's and the power iteration's vector) are counted as Keras holds them.
declare("SpectralNormalization", family="wrapper", params=GENERIC, flops=NO_RULE_YET, module=_HERE)
