"""Training-memory estimate: weights + gradients + optimizer state + kept activations.

Pure arithmetic on the collected facts. Each part is a :class:`Derivation` in bytes with a
formula, and the assumptions behind the estimate are written out as sentences, so
the page can say exactly what the figure includes and what it does not.

What Keras 3.15 allocates, checked by building each optimizer on a few variables
(``tests/test_tf_training.py`` checks the Adam figure against a real model):

- one state tensor per slot and trainable weight, in the weight's own dtype (``float32``
  under ``mixed_float16``): Adam/AdamW/Nadam/Adamax 2 (Adam with ``amsgrad`` 3), SGD 0,
  or 1 with momentum, RMSprop 1, +1 with momentum, +1 centered, Adagrad 1, Adadelta 2,
  Lion 1, Ftrl 2; ``use_ema`` and ``gradient_accumulation_steps`` each add one more;
- scalars: the iteration counter (int64, 8 B), the learning rate (float32, 4 B, unless it
  is a schedule), Nadam's running product (4 B); a LossScaleOptimizer adds its own counter,
  learning rate, step counter and loss scale (24 B) around the inner optimizer's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reportgen.expr import Expr, Formula, Num, Product, Sum, Symbol, Term
from reportgen.facts import ModelFacts, OptimizerFacts, WeightFacts
from reportgen.i18n import ByteSize, Names
from reportgen.model import (
    Derivation,
    LayerReport,
    Prose,
    TrainingMemory,
    TrainingPart,
    msg,
    sentences,
)
from reportgen.units import dtype_bytes

DEFAULT_OPTIMIZER = OptimizerFacts("Adam", {"learning_rate": 0.001, "amsgrad": False})
"""Assumed when the model was not compiled: Keras's most common choice, at its defaults."""


def _momentum(config: dict[str, Any]) -> int:
    return 1 if float(config.get("momentum") or 0.0) > 0.0 else 0


# Slots per trainable weight, by optimizer class, from its config.
SLOTS: dict[str, Callable[[dict[str, Any]], int]] = {
    "Adam": lambda c: 3 if c.get("amsgrad") else 2,
    "AdamW": lambda c: 3 if c.get("amsgrad") else 2,
    "Nadam": lambda c: 2,
    "Adamax": lambda c: 2,
    "SGD": _momentum,
    "RMSprop": lambda c: 1 + _momentum(c) + (1 if c.get("centered") else 0),
    "Adagrad": lambda c: 1,
    "Adadelta": lambda c: 2,
    "Lion": lambda c: 1,
    "Ftrl": lambda c: 2,
}

_MOMENTS = msg("the first and second moments m and v")
_SLOT_NAMES: dict[str, Prose] = {
    "Adam": _MOMENTS,
    "AdamW": _MOMENTS,
    "Nadam": _MOMENTS,
    "Adamax": msg("the first moment and the infinity norm"),
    "SGD": msg("the momentum (velocity)"),
    "RMSprop": msg("the running mean of squared gradients"),
    "Adagrad": msg("the accumulated squared gradients"),
    "Adadelta": msg("the accumulated gradients and updates"),
    "Lion": msg("the momentum"),
    "Ftrl": msg("the accumulator and the linear term"),
}
"""What each optimizer keeps per trainable weight, named inside a sentence."""


@dataclass(frozen=True)
class OptimizerState:
    """How much state an optimizer keeps: slots per trainable weight and scalar bytes."""

    name: str
    slots: int | None
    scalar_bytes: int
    wrapped_by: str | None = None
    extra_slots: int = 0
    """Of ``slots``, those its configuration adds (``use_ema``, gradient accumulation)."""


def optimizer_state(optimizer: OptimizerFacts) -> OptimizerState:
    """Slots and scalar bytes of ``optimizer`` (a LossScaleOptimizer is opened)."""
    wrapped_by = None
    scalar_bytes = 0
    config = optimizer.config
    name = optimizer.class_name
    if name == "LossScaleOptimizer":
        inner = config.get("inner_optimizer")
        wrapped_by = name
        scalar_bytes += 8 + 4 + 8 + 4  # its iteration, learning rate, step counter, scale
        if isinstance(inner, dict):
            name = str(inner.get("class_name", "?"))
            config = dict(inner.get("config") or {})
        else:
            name = "?"
    rule = SLOTS.get(name)
    slots = None if rule is None else rule(config)
    extra = (1 if config.get("use_ema") else 0) + (
        1 if config.get("gradient_accumulation_steps") else 0
    )
    if slots is not None:
        slots += extra
    scalar_bytes += 8  # the iteration counter, int64
    if not isinstance(config.get("learning_rate"), dict):
        scalar_bytes += 4  # a float learning rate is a variable; a schedule is not
    if name == "Nadam":
        scalar_bytes += 4  # the running product of momentum decays
    return OptimizerState(name, slots, scalar_bytes, wrapped_by, extra if slots else 0)


def _by_dtype(weights: list[WeightFacts]) -> list[tuple[str, int, int | None]]:
    """(dtype, elements, bytes per element) for each dtype among ``weights``, largest first."""
    counts: dict[str, int] = {}
    for weight in weights:
        counts[weight.dtype] = counts.get(weight.dtype, 0) + math.prod(weight.shape)
    return sorted(
        ((d, n, dtype_bytes(d)) for d, n in counts.items()), key=lambda item: (-item[1], item[0])
    )


def _bytes_expr(groups: list[tuple[str, int, int | None]], symbol: Symbol, factor: int = 1) -> Expr:
    parts: list[Expr] = []
    for dtype, count, width in groups:
        factors: list[Expr] = [Num(factor)] if factor != 1 else []
        factors += [Num(count, symbol), Num(width or 0)]
        product = Product(tuple(factors))
        parts.append(Term(dtype, product) if len(groups) > 1 else product)
    if not parts:
        return Num(0)
    return parts[0] if len(parts) == 1 else Sum(tuple(parts))


def _unknown_width(groups: list[tuple[str, int, int | None]]) -> Derivation | None:
    for dtype, _, width in groups:
        if width is None:
            return Derivation(
                None,
                "unknown",
                msg("The size of a %(dtype)s weight is not known to reportgen.", dtype=dtype),
            )
    return None


def _derivation(expr: Expr, explanation: Prose) -> Derivation:
    formula = Formula(expr, unit="B")
    return Derivation(formula.value, "formula", explanation, formula)


def _parameters(weights: list[WeightFacts]) -> Derivation:
    groups = _by_dtype(weights)
    unknown = _unknown_width(groups)
    if unknown is not None:
        return unknown
    total = sum(n for _, n, _ in groups)
    dtypes = tuple(d for d, _, _ in groups) or ("—",)
    return _derivation(
        _bytes_expr(groups, Symbol("P")),
        msg(
            "All %(count)s weights (trainable or not) at the bytes of their own dtype "
            "(%(dtypes)s).",
            count=total,
            dtypes=Names(dtypes),
        ),
    )


def _gradients(trainable: list[WeightFacts]) -> Derivation:
    groups = _by_dtype(trainable)
    unknown = _unknown_width(groups)
    if unknown is not None:
        return unknown
    total = sum(n for _, n, _ in groups)
    return _derivation(
        _bytes_expr(groups, Symbol("P", "train")),
        msg(
            "One gradient value for each of the %(count)s trainable weights, in the weight's "
            "dtype. Non-trainable weights (such as batch normalization's moving statistics) "
            "get no gradient.",
            count=total,
        ),
    )


def _optimizer_part(trainable: list[WeightFacts], state: OptimizerState) -> Derivation:
    groups = _by_dtype(trainable)
    unknown = _unknown_width(groups)
    if unknown is not None:
        return unknown
    if state.slots is None:
        return Derivation(
            None,
            "unknown",
            msg(
                "reportgen does not know how much state the %(optimizer)s optimizer keeps.",
                optimizer=state.name,
            ),
        )
    scalars = Term("scalars", Num(state.scalar_bytes))
    slot_expr = _bytes_expr(groups, Symbol("P", "train"), state.slots) if state.slots else None
    expr: Expr = Sum((slot_expr, scalars)) if slot_expr is not None else scalars
    wrapper = (
        msg(
            "The %(wrapper)s around it adds a step counter and the loss scale.",
            wrapper=state.wrapped_by,
        )
        if state.wrapped_by
        else None
    )
    return _derivation(expr, sentences(_state_sentence(state), wrapper))


def _state_sentence(state: OptimizerState) -> Prose:
    """What the optimizer keeps per trainable weight, and its scalars."""
    name, slots, scalars = state.name, state.slots or 0, state.scalar_bytes
    if not slots:
        return msg(
            "%(optimizer)s without momentum keeps no value per weight, and a few scalars "
            "(%(scalars)s B: the int64 iteration counter and the learning rate).",
            optimizer=name,
            scalars=scalars,
        )
    kept = _SLOT_NAMES.get(name, msg("its state"))
    extras = state.extra_slots > 0
    if extras and slots == 1:
        return msg(
            "%(optimizer)s keeps 1 value per trainable weight (%(kept)s, plus the configured "
            "extras), in the weight's dtype, and a few scalars (%(scalars)s B: the int64 "
            "iteration counter and the learning rate).",
            optimizer=name,
            kept=kept,
            scalars=scalars,
        )
    if extras:
        return msg(
            "%(optimizer)s keeps %(slots)s values per trainable weight (%(kept)s, plus the "
            "configured extras), in the weight's dtype, and a few scalars (%(scalars)s B: the "
            "int64 iteration counter and the learning rate).",
            optimizer=name,
            slots=slots,
            kept=kept,
            scalars=scalars,
        )
    if slots == 1:
        return msg(
            "%(optimizer)s keeps 1 value per trainable weight (%(kept)s), in the weight's "
            "dtype, and a few scalars (%(scalars)s B: the int64 iteration counter and the "
            "learning rate).",
            optimizer=name,
            kept=kept,
            scalars=scalars,
        )
    return msg(
        "%(optimizer)s keeps %(slots)s values per trainable weight (%(kept)s), in the weight's "
        "dtype, and a few scalars (%(scalars)s B: the int64 iteration counter and the "
        "learning rate).",
        optimizer=name,
        slots=slots,
        kept=kept,
        scalars=scalars,
    )


def _activations(layers: tuple[LayerReport, ...], batch_size: int) -> Derivation:
    missing = sum(1 for layer in layers if layer.activation.value is None)
    if missing:
        # Outputs that cannot be derived are not kept as zero bytes: the part is unknown.
        return Derivation(None, "unknown", _left_out(missing))
    total = sum(layer.activation.value or 0 for layer in layers)
    return _derivation(
        Term("Σ layer outputs", Num(total)),
        msg(
            "The outputs of all %(count)s layers at batch size %(batch)s, as derived layer "
            "by layer, summed: %(total)s.",
            count=len(layers),
            batch=batch_size,
            total=ByteSize(total),
        ),
    )


def _left_out(missing: int) -> Prose:
    if missing == 1:
        return msg(
            "1 layer has an output size that cannot be derived, so the activations kept "
            "for the backward pass are unknown."
        )
    return msg(
        "%(count)s layers have an output size that cannot be derived, so the activations "
        "kept for the backward pass are unknown.",
        count=missing,
    )


def _assumptions(
    optimizer_assumed: bool, state: OptimizerState, batch_size: int
) -> tuple[Prose, ...]:
    if optimizer_assumed:
        first = msg(
            "The model was not compiled, so the optimizer is assumed to be Adam at its "
            "defaults: two state values per trainable weight and an iteration counter."
        )
    elif state.wrapped_by:
        first = msg(
            "The optimizer is the one the model was compiled with: %(optimizer)s inside a "
            "%(wrapper)s.",
            optimizer=state.name,
            wrapper=state.wrapped_by,
        )
    else:
        first = msg(
            "The optimizer is the one the model was compiled with: %(optimizer)s.",
            optimizer=state.name,
        )
    return (
        first,
        msg(
            "Every layer's output at batch size %(batch)s is assumed to be kept from the "
            "forward pass for the backward pass. Frameworks free some outputs early or "
            "recompute them (gradient checkpointing keeps far less), and keep some inputs "
            "besides.",
            batch=batch_size,
        ),
        msg(
            "Gradients and optimizer state are kept in each weight's own dtype, so under "
            "mixed_float16 they are float32 like the weights, while activations are float16."
        ),
        msg(
            "Not included: the gradients of the activations during the backward pass, "
            "temporary workspace of the kernels, the input pipeline and the allocator's own "
            "overhead. Treat the total as a floor for one training step, not a measurement."
        ),
    )


_LABELS: dict[str, Prose] = {
    "parameters": msg("parameters"),
    "gradients": msg("gradients"),
    "optimizer_state": msg("optimizer state"),
    "activations": msg("activations kept for the backward pass"),
}


def derive_training(facts: ModelFacts, layers: tuple[LayerReport, ...]) -> TrainingMemory:
    """The training-memory estimate of one model at its configured batch size."""
    assumed = facts.optimizer is None
    state = optimizer_state(facts.optimizer or DEFAULT_OPTIMIZER)
    weights = [w for layer in facts.layers for w in layer.weights]
    trainable = [w for w in weights if w.trainable]
    parts = (
        TrainingPart("parameters", _LABELS["parameters"], _parameters(weights)),
        TrainingPart("gradients", _LABELS["gradients"], _gradients(trainable)),
        TrainingPart(
            "optimizer_state", _LABELS["optimizer_state"], _optimizer_part(trainable, state)
        ),
        TrainingPart("activations", _LABELS["activations"], _activations(layers, facts.batch_size)),
    )
    if any(part.bytes.value is None for part in parts):
        total = Derivation(
            None,
            "unknown",
            msg("At least one part of the estimate cannot be derived, so there is no total."),
        )
    else:
        expr = Sum(tuple(Term(part.label.en, Num(part.bytes.value or 0)) for part in parts))
        formula = Formula(expr, unit="B")
        total = Derivation(
            formula.value,
            "formula",
            msg(
                "Parameters, gradients, optimizer state and kept activations, added up: "
                "%(total)s for one training step.",
                total=ByteSize(formula.value),
            ),
            formula,
        )
    return TrainingMemory(
        optimizer=state.name if state.wrapped_by is None else f"{state.wrapped_by}({state.name})",
        optimizer_assumed=assumed,
        slots_per_weight=state.slots,
        batch_size=facts.batch_size,
        parts=parts,
        total=total,
        assumptions=_assumptions(assumed, state, facts.batch_size),
    )
