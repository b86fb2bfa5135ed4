"""Output memory per layer: elements × bytes per element, for the configured batch size."""

from __future__ import annotations

import math

from reportgen.expr import Expr, Formula, Num, Product, Sum
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Text
from reportgen.units import dtype_bytes, fmt_int, fmt_shape


def derive_activation(layer: LayerFacts, batch_size: int) -> Derivation:
    """Bytes of the layer's output tensors (what a forward pass must hold for this layer)."""
    width = dtype_bytes(layer.compute_dtype)
    if width is None:
        return Derivation(
            None,
            "unknown",
            Text(
                f"The size of a {layer.compute_dtype} value is not known to reportgen.",
                f"reportgen 不知道 {layer.compute_dtype} 类型的每个数值占多少字节。",
            ),
        )
    if not layer.output_shapes or any(
        d is None for shape in layer.output_shapes for d in shape[1:]
    ):
        shapes = ", ".join(fmt_shape(s) for s in layer.output_shapes) or "?"
        return Derivation(
            None,
            "unknown",
            Text(
                f"The output shape {shapes} has a dimension that is only known at run time.",
                f"输出形状 {shapes} 中有维度要到运行时才能确定。",
            ),
        )
    products: list[Expr] = []
    for shape in layer.output_shapes:
        factors: list[Expr] = []
        if batch_size != 1:
            factors.append(Num(batch_size))
        factors.extend(Num(int(d)) for d in shape[1:] if d is not None)
        factors.append(Num(width))
        products.append(Product(tuple(factors)))
    formula = Formula(products[0] if len(products) == 1 else Sum(tuple(products)), unit="B")
    per_example = sum(
        math.prod(int(d) for d in s[1:] if d is not None) for s in layer.output_shapes
    )
    shapes = " + ".join(fmt_shape(s) for s in layer.output_shapes)
    batch_en = f"a batch of {batch_size} examples" if batch_size != 1 else "one example"
    batch_zh = f"批大小为 {batch_size}" if batch_size != 1 else "批大小为 1"
    explanation = Text(
        f"The output {shapes} holds {fmt_int(per_example)} values per example; for "
        f"{batch_en} at {width} bytes per {layer.compute_dtype} value that is "
        f"{fmt_int(formula.value)} bytes.",
        f"输出 {shapes} 每个样本有 {fmt_int(per_example)} 个数值；{batch_zh}，"
        f"每个 {layer.compute_dtype} 数值占 {width} 字节，合计 {fmt_int(formula.value)} 字节。",
    )
    return Derivation(formula.value, "formula", explanation, formula)
