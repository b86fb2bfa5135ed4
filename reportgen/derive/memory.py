"""Output memory per layer: elements × bytes per element, for the configured batch size.

Bytes per element come from each output tensor's own dtype as collected (so an integer
input, or a ``mixed_float16`` layer computing in float16, is counted right), falling back
to the layer's compute dtype. A shared layer holds one output per call.
"""

from __future__ import annotations

import math

from reportgen.derive.params import resolved_output_shapes
from reportgen.expr import Expr, Formula, Num, Product, Sum, evaluate
from reportgen.facts import LayerFacts, Shape
from reportgen.model import Derivation, Text
from reportgen.units import dtype_bytes, fmt_int, fmt_shape


def output_dtypes(layer: LayerFacts) -> tuple[str, ...]:
    """The dtype of each output: as collected, else the layer's compute dtype."""
    return tuple(
        layer.output_dtypes[i] if i < len(layer.output_dtypes) else layer.compute_dtype
        for i in range(len(layer.output_shapes))
    )


def call_output_shapes(layer: LayerFacts) -> tuple[tuple[Shape, ...], ...]:
    """Output shapes of every call of the layer (one entry unless the layer is shared)."""
    return layer.call_output_shapes or (resolved_output_shapes(layer),)


def _unknown(en: str, zh: str) -> Derivation:
    return Derivation(None, "unknown", Text(en, zh))


def _call_product(shapes: tuple[Shape, ...], widths: tuple[int, ...], batch: int) -> list[Expr]:
    products: list[Expr] = []
    for shape, width in zip(shapes, widths, strict=False):
        factors: list[Expr] = [Num(batch)] if batch != 1 else []
        factors.extend(Num(int(d)) for d in shape[1:] if d is not None)
        factors.append(Num(width))
        products.append(Product(tuple(factors)))
    return products


def derive_activation(layer: LayerFacts, batch_size: int) -> Derivation:
    """Bytes of the layer's output tensors (what a forward pass must hold for this layer)."""
    dtypes = output_dtypes(layer) or (layer.compute_dtype,)
    widths_or_none = [dtype_bytes(d) for d in dtypes]
    if any(w is None for w in widths_or_none):
        unknown = next(d for d, w in zip(dtypes, widths_or_none, strict=True) if w is None)
        return _unknown(
            f"The size of a {unknown} value is not known to reportgen.",
            f"reportgen 不知道 {unknown} 类型的每个数值占多少字节。",
        )
    widths = tuple(int(w or 0) for w in widths_or_none)
    calls = call_output_shapes(layer)
    if not layer.output_shapes or any(
        d is None for shapes in calls for shape in shapes for d in shape[1:]
    ):
        shapes = ", ".join(fmt_shape(s) for s in layer.output_shapes) or "?"
        return _unknown(
            f"The output shape {shapes} has a dimension that is only known at run time.",
            f"输出形状 {shapes} 中有维度要到运行时才能确定。",
        )
    per_call = [_call_product(shapes, widths, batch_size) for shapes in calls]
    if len(calls) > 1 and all(shapes == calls[0] for shapes in calls):
        one: Expr = per_call[0][0] if len(per_call[0]) == 1 else Sum(tuple(per_call[0]))
        expr: Expr = Product((Num(len(calls)), one))
    else:
        flat = [p for products in per_call for p in products]
        expr = flat[0] if len(flat) == 1 else Sum(tuple(flat))
    formula = Formula(expr, unit="B")
    per_example = sum(math.prod(int(d) for d in s[1:] if d is not None) for s in calls[0])
    shapes = " + ".join(fmt_shape(s) for s in calls[0])
    batch_en = f"a batch of {batch_size} examples" if batch_size != 1 else "one example"
    batch_zh = f"批大小为 {batch_size}" if batch_size != 1 else "批大小为 1"
    if len(set(dtypes)) == 1:
        width_en = f"{widths[0]} bytes per {dtypes[0]} value"
        width_zh = f"每个 {dtypes[0]} 数值占 {widths[0]} 字节"
    else:
        width_en = "the bytes of each output's dtype (" + ", ".join(dtypes) + ")"
        width_zh = "按各输出自身的数据类型（" + "、".join(dtypes) + "）计字节"
    first = sum(evaluate(p) for p in per_call[0])
    shared_en = shared_zh = ""
    if len(calls) > 1:
        shared_en = (
            f" The layer is shared: the model calls it {len(calls)} times and every call "
            f"produces an output of its own, so all of them count: {fmt_int(formula.value)} "
            "bytes in all."
        )
        shared_zh = (
            f"该层是共享层：模型调用它 {len(calls)} 次，每次调用都产生各自的输出，全部计入，"
            f"共 {fmt_int(formula.value)} 字节。"
        )
    explanation = Text(
        f"The output {shapes} holds {fmt_int(per_example)} values per example; for "
        f"{batch_en} at {width_en} that is {fmt_int(first)} bytes.{shared_en}",
        f"输出 {shapes} 每个样本有 {fmt_int(per_example)} 个数值；{batch_zh}，"
        f"{width_zh}，合计 {fmt_int(first)} 字节。{shared_zh}",
    )
    return Derivation(formula.value, "formula", explanation, formula)
