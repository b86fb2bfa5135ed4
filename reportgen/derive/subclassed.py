"""Parameters reportgen cannot derive: said so in every language, never counted as zero.

Two things leave the derived parameter total unknown:

- a layer whose count cannot be derived (its row says why: a shape the formula needs was
  not collected, for example);
- weights a subclassed ``keras.Model`` holds itself, created in its own ``build()`` or
  ``__init__`` and used by the code of its ``call()`` rather than through a layer. The
  collect stage lists them in one row of their own, marked with :data:`OWN_WEIGHTS_KEY` in
  its config, so that the parameter memory and the training estimate count them; there is
  no layer configuration to derive them from.

Either way the model's total is Keras's count, the derived total is None (``null`` in the
JSON), and :func:`unknown_total` says why, once, for the page and for the warning line.
"""

from __future__ import annotations

from dataclasses import dataclass

from reportgen.facts import LayerFacts
from reportgen.i18n import Names, fmt_names
from reportgen.model import Derivation, LayerReport, Prose, msg, sentences
from reportgen.units import fmt_int

OWN_WEIGHTS_KEY = "reportgen_model_own_weights"
"""Config key (value ``True``) of the row holding the weights a subclassed model owns itself."""

NOT_CALLED_KEY = "reportgen_not_called"
"""Config key (value ``True``) added to a subclassed model's layer that the call reportgen
recorded never used (a layer only used in training, say): it did not run in the forward
pass, so no shape of it is known."""

MAX_NAMES = 5
"""Layers named in a sentence; more are counted."""


def is_own_weights(layer: LayerFacts) -> bool:
    """The row of weights a subclassed model holds itself (not a layer)."""
    return layer.config.get(OWN_WEIGHTS_KEY) is True


def is_not_called(layer: LayerFacts) -> bool:
    """A layer of a subclassed model that did not run in the recorded forward pass."""
    return layer.config.get(NOT_CALLED_KEY) is True


_NOT_CALLED = msg(
    "The model's call() did not use this layer when reportgen called the model once, at "
    "inference, to record its layers (a layer used only in training, for example), so no "
    "shape of it is known."
)


def not_called_params(layer: LayerFacts, derived: Derivation) -> Derivation:
    """A layer that did not run: 0 when it was never built (it holds no weights yet),
    else whatever its formula gives without shapes, said to be about a layer that did not
    run."""
    if not layer.weights and layer.keras_params == 0:
        return Derivation(
            0,
            "zero",
            sentences(
                _NOT_CALLED,
                msg(
                    "Never called, it was never built either: it holds no weights yet, and "
                    "Keras counts 0 for it too."
                ),
            ),
            derived.formula if derived.value == 0 else None,
        )
    return Derivation(
        derived.value,
        derived.method,
        sentences(_NOT_CALLED, derived.explanation),
        derived.formula,
    )


def not_called_activation() -> Derivation:
    return Derivation(
        0,
        "zero",
        sentences(
            _NOT_CALLED,
            msg("It does not run in the forward pass, so it writes no output."),
        ),
    )


def not_called_flops() -> Derivation:
    return Derivation(
        0,
        "zero",
        sentences(
            _NOT_CALLED,
            msg("It does not run in the forward pass, so it costs no FLOPs."),
        ),
    )


def own_weights_params(layer: LayerFacts) -> Derivation:
    return Derivation(
        None,
        "unknown",
        msg(
            "These %(count)s parameters are weights that the subclassed model %(model)s "
            "creates itself and uses in the code of its own call(), not through a layer. "
            "reportgen derives a count from a layer's configuration and shapes, and these "
            "weights have neither, so their count cannot be derived. They are listed here so "
            "that the parameter memory and the training estimate include them.",
            count=layer.keras_params,
            model=layer.class_name,
        ),
    )


def own_weights_activation() -> Derivation:
    return Derivation(
        None,
        "unknown",
        msg(
            "This row is not a layer: the model's own code in call() uses these weights, and "
            "what that code outputs belongs to no layer, so no output memory is counted here."
        ),
    )


def own_weights_flops() -> Derivation:
    return Derivation(
        None,
        "unknown",
        msg(
            "The model's own code in call() is not a layer, so reportgen has no formula for "
            "its FLOPs; TensorFlow's profiler counts them in its total for the model."
        ),
    )


@dataclass(frozen=True)
class UnknownTotal:
    """Why the derived parameter total is unknown: for the page, and for one warning line."""

    reason: Prose
    """Sentences for the page, ending with what the page shows instead."""
    detail: str
    """The same in a few English words, for the one-line warning (``Mismatch.detail``)."""


def _names(layers: list[LayerReport]) -> Names:
    return Names(tuple(layer.name for layer in layers), MAX_NAMES)


def _own_weights_sentence(fact: LayerFacts, row: str, keras_params: int) -> Prose:
    if fact.keras_params == keras_params:
        return msg(
            "%(model)s is a subclassed keras.Model, and all %(total)s of its parameters are "
            "weights it creates itself and uses in the code of its own call() instead of "
            "through a layer. They are listed together in the row %(row)s; with no layer "
            "configuration to derive them from, they cannot be derived.",
            model=fact.class_name,
            total=keras_params,
            row=row,
        )
    return msg(
        "%(model)s is a subclassed keras.Model, and %(count)s of its %(total)s parameters are "
        "weights it creates itself and uses in the code of its own call() instead of through "
        "a layer. They are listed together in the row %(row)s; with no layer configuration "
        "to derive them from, they cannot be derived.",
        model=fact.class_name,
        count=fact.keras_params,
        total=keras_params,
        row=row,
    )


def unknown_total(
    facts: tuple[LayerFacts, ...],
    layers: tuple[LayerReport, ...],
    keras_params: int,
    reference: Prose,
) -> UnknownTotal | None:
    """Why the derived parameter total is unknown, or None when every count is derived.

    ``facts`` and ``layers`` are the same rows, collected and derived.
    """
    own = [
        (fact, layer)
        for fact, layer in zip(facts, layers, strict=True)
        if is_own_weights(fact) and layer.params.value is None
    ]
    real = [layer for fact, layer in zip(facts, layers, strict=True) if not is_own_weights(fact)]
    underived = [layer for layer in real if layer.params.value is None]
    if not own and not underived:
        return None
    said: list[Prose] = []
    details: list[str] = []
    total = fmt_int(keras_params)
    for fact, layer in own:
        cls = fact.class_name
        if fact.keras_params == keras_params:
            details.append(f"all {total} parameters are weights of the subclassed model {cls}")
        else:
            n = fmt_int(fact.keras_params)
            details.append(f"{n} parameters are weights of the subclassed model {cls}")
        details[-1] += " itself, not of a layer"
        said.append(_own_weights_sentence(fact, layer.name, keras_params))
    if underived:
        k, m = len(underived), len(real)
        if m > 1:
            said.append(
                msg(
                    "%(count)s of the %(total)s layers cannot be derived (%(names)s); the "
                    "derivation of each says why.",
                    count=k,
                    total=m,
                    names=_names(underived),
                )
            )
        else:
            said.append(
                msg(
                    "The only layer, %(layer)s, cannot be derived; its derivation says why.",
                    layer=underived[0].name,
                )
            )
        layers_en = "layer cannot" if k == 1 else "layers cannot"
        names_en = fmt_names((layer.name for layer in underived), "en", MAX_NAMES)
        details.append(f"{k} {layers_en} be derived ({names_en})")
    said.append(
        msg(
            "What cannot be derived is not counted as zero: the derived total is unknown, and "
            "the total shown is the one from %(reference)s.",
            reference=reference,
        )
    )
    return UnknownTotal(sentences(*said), "; ".join(details))
