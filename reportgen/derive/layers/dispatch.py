"""Apply the registry: a layer's parameters and FLOPs, by its kind's decision.

The policy that holds for every kind lives here: a formula is never applied to weights it
does not describe (quantized or LoRA weights: the generic count instead), nor to a
configuration Keras could not give (a ``get_config()`` that raised: the generic count, and
no FLOPs), a configuration that breaks a formula or yields an impossible count never
crashes the report, and a layer the registry does not know is counted generically
(parameters) or not at all (FLOPs: a guessed figure would be worse than none). A shared
layer costs its FLOPs once per call. A composite row (a block opened into sub-layers) is
summed from its sub-layers' rows by :mod:`reportgen.derive`, not here.
"""

from __future__ import annotations

import dataclasses

from reportgen.derive.layers.registry import (
    Composite,
    Generic,
    LayerKind,
    NotDerived,
    Zero,
    kind_of,
    unknown,
    zero,
)
from reportgen.expr import Expr, Formula, Num, Product, Sum, Term
from reportgen.facts import CONFIG_FROM_ATTRIBUTES, LayerFacts, Shape
from reportgen.model import Derivation, Msg, Prose, msg, sentences

MAX_DERIVED = 2**62
"""The largest count a formula may yield (as the facts schema bounds every count)."""

_BROKEN = (KeyError, TypeError, ValueError, IndexError, ArithmeticError, AttributeError)
"""What a rule raises on a configuration without a field it needs (or holding it in
another form, e.g. from a newer Keras)."""


def config_error_note(layer: LayerFacts) -> Msg | None:
    """What the page says of a layer whose ``get_config()`` raised (a library's bug), when
    its configuration could not be rebuilt either: its rules do not run."""
    if layer.config_error is None or config_from_attributes(layer):
        return None
    return msg(
        "Keras could not give this layer's configuration: its get_config() raised "
        "%(error)s; figures that need it are unknown.",
        error=layer.config_error,
    )


def config_from_attributes(layer: LayerFacts) -> bool:
    """The layer's ``get_config()`` raised, and its whole configuration was read from its
    attributes instead (every ``__init__`` argument was found): its rules run on it."""
    return layer.config_error is not None and layer.config.get(CONFIG_FROM_ATTRIBUTES) is True


def attributes_note(layer: LayerFacts) -> Msg:
    """Why a layer's figures come from a configuration rebuilt from its attributes."""
    return msg(
        "Its get_config() raised %(error)s (a bug of the library that defines it), so "
        "reportgen read every argument of its constructor from the layer's own attributes "
        "instead.",
        error=layer.config_error or "",
    )


def _with_attributes_note(layer: LayerFacts, derived: Derivation) -> Derivation:
    """A rule's result, saying where its configuration came from when not get_config()."""
    if not config_from_attributes(layer):
        return derived
    return dataclasses.replace(
        derived, explanation=sentences(attributes_note(layer), derived.explanation)
    )


def resolved_output_shapes(layer: LayerFacts) -> tuple[Shape, ...]:
    """The layer's output shapes, with axes Keras leaves unknown but the config fixes
    (as Keras gives them when the configuration lacks what the rule reads)."""
    kind = kind_of(layer.class_name)
    if kind is not None and kind.output_shapes is not None:
        try:
            return kind.output_shapes(layer)
        except _BROKEN:
            return layer.output_shapes
    return layer.output_shapes


# ---------------------------------------------------------------- parameters


def derive_params(layer: LayerFacts) -> Derivation:
    """The layer's parameter count: its kind's formula, 0 with a reason, or the generic count."""
    kind = kind_of(layer.class_name)
    if kind is None or isinstance(kind.params, Generic | Composite):
        # A composite kind whose layer was not opened (it owned no sub-layers when
        # collected) has only its own weights to count.
        return generic_params(layer)
    if isinstance(kind.params, Zero):
        return zero(kind.params.reason)
    reason = config_error_note(layer) or _needs_generic(layer, kind)
    if reason is not None:
        return generic_params(layer, reason)
    try:
        derived = kind.params(layer)
        if derived.value is not None and not 0 <= derived.value <= MAX_DERIVED:
            # A doctored or broken configuration (a negative or astronomically large field):
            # the weights' own shapes are the better witness.
            return generic_params(layer, _impossible_params(layer.class_name, derived.value))
        return _with_attributes_note(layer, derived)
    except _BROKEN:
        return generic_params(
            layer,
            msg(
                "The %(kind)s configuration lacks a field its formula needs.",
                kind=layer.class_name,
            ),
        )


def _needs_generic(layer: LayerFacts, kind: LayerKind) -> Msg | None:
    """Why a layer's dedicated formula does not apply (quantized or LoRA weights), or None."""
    dtype = layer.config.get("dtype")
    policy = dtype.get("class_name", "") if isinstance(dtype, dict) else str(dtype or "")
    if "Quantized" in policy or layer.config.get("quantization_config"):
        return msg(
            "The layer is quantized, so its weights are stored in another layout than the "
            "formula assumes."
        )
    if layer.config.get("lora_rank") and not kind.lora_aware:
        return msg("The layer has LoRA weights, which its formula does not cover.")
    return None


def _impossible_params(class_name: str, value: int) -> Msg:
    if value < 0:
        return msg(
            "The %(kind)s configuration gives an impossible count (a negative number).",
            kind=class_name,
        )
    return msg(
        "The %(kind)s configuration gives an impossible count (a number of %(digits)s digits).",
        kind=class_name,
        digits=len(str(value)),
    )


def weight_terms(layer: LayerFacts) -> tuple[Term, ...]:
    """One term per weight the layer holds: its shape's product, labelled by weight name."""
    return tuple(
        Term(
            weight.name.rsplit("/", 1)[-1],
            Product(tuple(Num(d) for d in weight.shape))
            if len(weight.shape) > 1
            else Num(weight.shape[0] if weight.shape else 1),
        )
        for weight in layer.weights
    )


def generic_params(layer: LayerFacts, reason: Prose | None = None) -> Derivation:
    """Σ over the layer's weights of the product of each shape, labelled by weight name.

    ``reason`` says why a layer that has a dedicated formula is counted generically.
    """
    if not layer.weights:
        return Derivation(
            0,
            "generic",
            msg(
                "reportgen has no dedicated rule for %(kind)s; it owns no weights, so the "
                "generic count is 0.",
                kind=layer.class_name,
            ),
            Formula(Num(0)),
        )
    terms = weight_terms(layer)
    found = Formula(Sum(terms) if len(terms) > 1 else terms[0])
    if reason is None:
        explanation: Prose = msg(
            "reportgen has no dedicated formula for %(kind)s; this is the generic count: the sum "
            "over the layer's weights of the product of each weight's shape.",
            kind=layer.class_name,
        )
    else:
        explanation = sentences(
            reason,
            msg(
                "This is the generic count: the sum over the layer's weights of the product of "
                "each weight's shape."
            ),
        )
    return Derivation(found.value, "generic", explanation, found)


# ---------------------------------------------------------------- FLOPs


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
    found = Formula(expr)
    return Derivation(
        found.value,
        "formula" if found.value else "zero",
        sentences(
            msg(
                "The layer is shared: the model calls it %(calls)s times, and each call costs "
                "its own FLOPs. One call:",
                calls=str(len(calls)),
            ),
            derived[0].explanation,
        ),
        found,
    )


def _one_call_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    kind = kind_of(layer.class_name)
    decision = kind.flops if kind is not None else NotDerived()
    if isinstance(decision, Zero):
        return zero(decision.reason)
    if isinstance(decision, NotDerived):
        return unknown(decision.reason or _no_rule(layer.class_name))
    broken = config_error_note(layer)
    if broken is not None:
        # A rule run on the part of a configuration that could be read would fill the rest
        # with defaults: a number that looks derived and is not.
        return unknown(broken)
    try:
        derived = decision(layer, batch_size)
        if derived.value is not None and not 0 <= derived.value <= MAX_DERIVED:
            return unknown(_impossible_flops(layer.class_name, derived.value))
        return _with_attributes_note(layer, derived)
    except _BROKEN:
        # A configuration that lacks a field the rule needs (or holds it in an unexpected
        # form) means "not derivable", never a crash of the whole report.
        return unknown(
            msg(
                "The %(kind)s configuration lacks a field its FLOPs formula needs.",
                kind=layer.class_name,
            )
        )


def _no_rule(class_name: str) -> Msg:
    return msg(
        "FLOPs are not derived for the layer kind %(kind)s: reportgen has no rule for it, and a "
        "guessed figure would be worse than none.",
        kind=class_name,
    )


def _impossible_flops(class_name: str, value: int) -> Msg:
    if value < 0:
        return msg(
            "The %(kind)s configuration gives an impossible FLOPs count (a negative number).",
            kind=class_name,
        )
    return msg(
        "The %(kind)s configuration gives an impossible FLOPs count (a number of %(digits)s "
        "digits).",
        kind=class_name,
        digits=len(str(value)),
    )
