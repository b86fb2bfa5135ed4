"""Merging layers (``keras/src/layers/merging/``): several inputs combined by a fixed rule."""

from __future__ import annotations

import math

from reportgen.derive.layers.convention import batch_note, counted, missing_shape
from reportgen.derive.layers.registry import Zero, declare
from reportgen.derive.layers.shapes import batch_factor, count, dims, elements, ints
from reportgen.expr import Expr, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Msg, msg

FAMILY = "merge"
_HERE = __name__


def _elementwise(kind: str, inputs: int) -> tuple[str, Msg]:
    """The op an elementwise merge of ``inputs`` tensors runs, and the sentence that counts it."""
    n, ops = str(inputs), str(inputs - 1)
    if kind == "Add":
        return "AddV2", msg(
            "To add %(n)s inputs element by element takes %(ops)s AddV2 op(s), each one FLOP per "
            "output value (broadcasting does not add to the count).",
            n=n,
            ops=ops,
        )
    if kind == "Subtract":
        return "Sub", msg(
            "To subtract %(n)s inputs element by element takes %(ops)s Sub op(s), each one FLOP "
            "per output value (broadcasting does not add to the count).",
            n=n,
            ops=ops,
        )
    return "Mul", msg(
        "To multiply %(n)s inputs element by element takes %(ops)s Mul op(s), each one FLOP per "
        "output value (broadcasting does not add to the count).",
        n=n,
        ops=ops,
    )


def merge_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Add/Subtract/Multiply of n inputs: n−1 elementwise ops, one FLOP per output value."""
    out_dims = dims(layer.output_shapes)
    if out_dims is None or not layer.input_shapes:
        return missing_shape(layer)
    n = len(layer.input_shapes)
    op, main = _elementwise(layer.class_name, n)
    values = elements(out_dims, batch_size)
    factors = (Num(n - 1), *values) if n > 2 else tuple(values)
    return counted([Term(op, Product(factors))], main, batch_note(batch_size))


def average_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Average of n inputs: n − 1 AddV2 + 1 RealDiv per output value."""
    out_dims = dims(layer.output_shapes)
    if out_dims is None or not layer.input_shapes:
        return missing_shape(layer)
    n = len(layer.input_shapes)
    terms = [Term("AddV2, RealDiv", Product((Num(n), *elements(out_dims, batch_size))))]
    main = msg(
        "Averaging %(n)s inputs takes %(adds)s addition(s) and one division per output value.",
        n=str(n),
        adds=str(n - 1),
    )
    return counted(terms, main, batch_note(batch_size))


def min_max_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Maximum/Minimum of n inputs: n − 1 elementwise ops, one FLOP per output value."""
    out_dims = dims(layer.output_shapes)
    if out_dims is None or not layer.input_shapes:
        return missing_shape(layer)
    n = len(layer.input_shapes)
    op = layer.class_name
    values = elements(out_dims, batch_size)
    factors = (Num(n - 1), *values) if n > 2 else tuple(values)
    main = msg(
        "%(op)s of %(n)s inputs takes %(ops)s elementwise %(op)s op(s), one FLOP per output value "
        "each.",
        op=op,
        n=str(n),
        ops=str(n - 1),
    )
    return counted([Term(op, Product(factors))], main, batch_note(batch_size))


def dot_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Dot: a BatchMatMul, 2 × (contracted size) × output values (+ L2 normalization)."""
    if len(layer.input_shapes) != 2:
        return missing_shape(layer)
    first, second = layer.input_shapes
    out_dims = dims(layer.output_shapes)
    if out_dims is None or any(d is None for d in (*first[1:], *second[1:])):
        return missing_shape(layer)
    axis = ints(layer.config.get("axes", -1))[0]
    rank = len(first)
    k = int(first[axis % rank] or 0)
    outputs = max(math.prod(out_dims), 1)
    n = batch_factor(batch_size)
    contracted: Expr = (
        Product((Num(2), Num(k, Symbol("k")), *(Num(d) for d in out_dims if d != 1), *n))
        if outputs > 1
        else Product((Num(2), Num(k, Symbol("k")), *n))
    )
    terms = [Term("BatchMatMulV2", contracted)]
    notes: list[Msg | None] = [
        msg(
            "Each output value is a dot product over %(k)s values: 2 FLOPs per multiply-add.",
            k=str(k),
        )
    ]
    if layer.config.get("normalize"):
        for label, shape in (("first", first), ("second", second)):
            sizes = tuple(int(d or 0) for d in shape[1:])
            size = sizes[axis % rank - 1]
            rows = count(sizes, batch_size) // size
            terms.append(
                Term(
                    f"normalize {label}",
                    Sum(
                        (
                            Product((Num(3), *elements(sizes, batch_size))),
                            Product((Num(2), Num(rows))),
                        )
                    ),
                )
            )
        notes.append(
            msg(
                "With normalize=True both inputs are first scaled to unit length, like "
                "UnitNormalization: 3 FLOPs per value and 2 per vector."
            )
        )
    return counted(terms, *notes, batch_note(batch_size))


def _combines(kind: str) -> Zero:
    return Zero(
        msg("%(kind)s combines its inputs element by element; it has no weights.", kind=kind)
    )


declare(
    "Add",
    family=FAMILY,
    params=Zero(msg("Add sums its inputs element by element; it has no weights.")),
    flops=merge_flops,
    module=_HERE,
)
declare(
    "Multiply",
    family=FAMILY,
    params=Zero(msg("Multiply multiplies its inputs element by element; it has no weights.")),
    flops=merge_flops,
    module=_HERE,
)
declare("Subtract", family=FAMILY, params=_combines("Subtract"), flops=merge_flops, module=_HERE)
declare("Average", family=FAMILY, params=_combines("Average"), flops=average_flops, module=_HERE)
declare("Maximum", family=FAMILY, params=_combines("Maximum"), flops=min_max_flops, module=_HERE)
declare("Minimum", family=FAMILY, params=_combines("Minimum"), flops=min_max_flops, module=_HERE)
declare(
    "Concatenate",
    family=FAMILY,
    params=Zero(msg("Concatenate joins its inputs along one axis; it has no weights.")),
    flops=Zero(msg("Concatenate only copies its inputs side by side; no arithmetic is done.")),
    module=_HERE,
)
declare(
    "Dot",
    family=FAMILY,
    params=Zero(
        msg(
            "Dot takes dot products between its two inputs; both are data, so there are no weights."
        )
    ),
    flops=dot_flops,
    module=_HERE,
)
