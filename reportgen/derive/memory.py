"""Output memory per layer: elements × bytes per element, for the configured batch size.

Bytes per element come from each output tensor's own dtype as collected (so an integer
input, or a ``mixed_float16`` layer computing in float16, is counted right), falling back
to the layer's compute dtype. A shared layer holds one output per call.
"""

from __future__ import annotations

import math

from reportgen.derive.layers import resolved_output_shapes
from reportgen.expr import Expr, Formula, Num, Product, Sum, evaluate
from reportgen.facts import LayerFacts, ModelFacts, Shape
from reportgen.i18n import Names
from reportgen.model import Derivation, Prose, msg, sentences
from reportgen.units import dtype_bytes, fmt_shape


def output_dtypes(layer: LayerFacts) -> tuple[str, ...]:
    """The dtype of each output: as collected, else the layer's compute dtype."""
    return tuple(
        layer.output_dtypes[i] if i < len(layer.output_dtypes) else layer.compute_dtype
        for i in range(len(layer.output_shapes))
    )


def call_output_shapes(layer: LayerFacts) -> tuple[tuple[Shape, ...], ...]:
    """Output shapes of every call of the layer (one entry unless the layer is shared)."""
    return layer.call_output_shapes or (resolved_output_shapes(layer),)


def _unknown(why: Prose) -> Derivation:
    return Derivation(None, "unknown", why)


def _call_product(shapes: tuple[Shape, ...], widths: tuple[int, ...], batch: int) -> list[Expr]:
    products: list[Expr] = []
    for shape, width in zip(shapes, widths, strict=False):
        factors: list[Expr] = [Num(batch)] if batch != 1 else []
        factors.extend(Num(int(d)) for d in shape[1:] if d is not None)
        factors.append(Num(width))
        products.append(Product(tuple(factors)))
    return products


def output_of_activation(layer: LayerFacts) -> Derivation:
    """A composite whose output tensor is one of its sub-layers' (``output_of``): it writes
    nothing of its own, and counting the tensor on both rows would count it twice."""
    return Derivation(
        0,
        "zero",
        msg(
            "Its output is %(layer)s's output, counted there.",
            layer=layer.output_of or "?",
        ),
    )


def open_inputs(facts: ModelFacts) -> tuple[Prose, ...]:
    """For each input of the model whose length is unknown: which key would fix it.

    Without a length, no size that grows with it (output memory, FLOPs) can be derived;
    the configuration's ``sequence_length`` fills every unknown axis of every input, its
    ``input_shapes`` one input's (without the batch axis).
    """
    said: list[Prose] = []
    for layer in facts.layers:
        if layer.class_name != "InputLayer" or layer.parent or layer.block:
            continue  # an input of a nested model is fed by the layers before it
        shape = layer.output_shapes[0] if layer.output_shapes else ()
        if not any(d is None for d in shape[1:]):
            continue
        example = ", ".join("N" if d is None else str(d) for d in shape[1:])
        said.append(
            msg(
                "The input %(input)s has an unknown length (shape %(shape)s): set "
                "sequence_length = N, or input_shapes = { %(input)s = [%(example)s] }, in the "
                "model's table to derive its memory and FLOPs.",
                input=layer.name,
                shape=fmt_shape(shape),
                example=example,
            )
        )
    return tuple(said)


def derive_activation(layer: LayerFacts, batch_size: int) -> Derivation:
    """Bytes of the layer's output tensors (what a forward pass must hold for this layer)."""
    dtypes = output_dtypes(layer) or (layer.compute_dtype,)
    widths_or_none = [dtype_bytes(d) for d in dtypes]
    if any(w is None for w in widths_or_none):
        unknown = next(d for d, w in zip(dtypes, widths_or_none, strict=True) if w is None)
        return _unknown(
            msg("The size of a %(dtype)s value is not known to reportgen.", dtype=unknown)
        )
    widths = tuple(int(w or 0) for w in widths_or_none)
    calls = call_output_shapes(layer)
    if not layer.output_shapes or any(
        d is None for shapes in calls for shape in shapes for d in shape[1:]
    ):
        shapes = ", ".join(fmt_shape(s) for s in layer.output_shapes) or "?"
        return _unknown(
            msg(
                "The output shape %(shapes)s has a dimension that is only known at run time.",
                shapes=shapes,
            )
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
    shared = (
        msg(
            "The layer is shared: the model calls it %(calls)s times and every call produces "
            "an output of its own, so all of them count: %(bytes)s bytes in all.",
            calls=len(calls),
            bytes=formula.value,
        )
        if len(calls) > 1
        else None
    )
    explanation = sentences(
        _output_sentence(
            " + ".join(fmt_shape(s) for s in calls[0]),
            per_example,
            batch_size,
            dtypes,
            widths,
            sum(evaluate(p) for p in per_call[0]),
        ),
        shared,
    )
    return Derivation(formula.value, "formula", explanation, formula)


def _output_sentence(
    shapes: str,
    per_example: int,
    batch_size: int,
    dtypes: tuple[str, ...],
    widths: tuple[int, ...],
    nbytes: int,
) -> Prose:
    """How many values the output holds, at how many bytes each: the bytes of one call."""
    if len(set(dtypes)) == 1:
        if batch_size == 1:
            return msg(
                "The output %(shape)s holds %(values)s values per example; for one example at "
                "%(width)s bytes per %(dtype)s value that is %(bytes)s bytes.",
                shape=shapes,
                values=per_example,
                width=widths[0],
                dtype=dtypes[0],
                bytes=nbytes,
            )
        return msg(
            "The output %(shape)s holds %(values)s values per example; for a batch of "
            "%(batch)s examples at %(width)s bytes per %(dtype)s value that is %(bytes)s bytes.",
            shape=shapes,
            values=per_example,
            batch=batch_size,
            width=widths[0],
            dtype=dtypes[0],
            bytes=nbytes,
        )
    if batch_size == 1:
        return msg(
            "The output %(shape)s holds %(values)s values per example; for one example at the "
            "bytes of each output's dtype (%(dtypes)s) that is %(bytes)s bytes.",
            shape=shapes,
            values=per_example,
            dtypes=Names(dtypes),
            bytes=nbytes,
        )
    return msg(
        "The output %(shape)s holds %(values)s values per example; for a batch of %(batch)s "
        "examples at the bytes of each output's dtype (%(dtypes)s) that is %(bytes)s bytes.",
        shape=shapes,
        values=per_example,
        batch=batch_size,
        dtypes=Names(dtypes),
        bytes=nbytes,
    )
