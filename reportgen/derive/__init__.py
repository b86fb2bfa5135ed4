"""Derive stage: pure Python from collected facts to the report model. No TensorFlow."""

from __future__ import annotations

import math

from reportgen.derive.layers import derive_flops, derive_params, family_of
from reportgen.derive.measured import layer_time, measured_memory
from reportgen.derive.memory import derive_activation
from reportgen.derive.notes import note_text
from reportgen.derive.subclassed import (
    UnknownTotal,
    is_not_called,
    is_own_weights,
    not_called_activation,
    not_called_flops,
    not_called_params,
    own_weights_activation,
    own_weights_flops,
    own_weights_params,
    unknown_total,
)
from reportgen.derive.training import derive_training
from reportgen.facts import LayerFacts, ModelFacts
from reportgen.model import (
    KERAS_COUNT,
    Derivation,
    FlopsCheck,
    LayerReport,
    Mismatch,
    ModelReport,
    Profile,
    Prose,
    RuntimeMemory,
    Text,
    Totals,
    msg,
)
from reportgen.units import dtype_bytes


def _weight_split(layer: LayerFacts) -> tuple[int, int]:
    trainable = sum(math.prod(w.shape) for w in layer.weights if w.trainable)
    frozen = sum(math.prod(w.shape) for w in layer.weights if not w.trainable)
    return trainable, frozen


def _derivations(
    layer: LayerFacts, batch_size: int
) -> tuple[Derivation, Derivation, Derivation | None]:
    """Parameters, output bytes and FLOPs of one row (see :mod:`reportgen.derive.subclassed`
    for the rows of a subclassed model that are not a layer, or did not run)."""
    if is_own_weights(layer):
        return own_weights_params(layer), own_weights_activation(), own_weights_flops()
    if is_not_called(layer):
        params = not_called_params(layer, derive_params(layer))
        return params, not_called_activation(), not_called_flops()
    return (
        derive_params(layer),
        derive_activation(layer, batch_size),
        derive_flops(layer, batch_size),
    )


def derive_layer(index: int, layer: LayerFacts, facts: ModelFacts) -> LayerReport:
    trainable, frozen = _weight_split(layer)
    batch_size = facts.batch_size
    params, activation, flops = _derivations(layer, batch_size)
    measured, note = measured_memory(layer.name, activation.value, facts.memory)
    return LayerReport(
        index=index,
        anchor=f"layer-{index}",
        name=layer.name,
        class_name=layer.class_name,
        output_shapes=layer.output_shapes,
        dtype=layer.compute_dtype,
        params=params,
        keras_params=layer.keras_params,
        trainable_params=trainable,
        non_trainable_params=frozen,
        activation=activation,
        flops=flops,
        measured_bytes=measured,
        measured_note=note,
        measured_flops=facts.flops.by_layer.get(layer.name) if facts.flops else None,
        time_us=layer_time(layer.name, facts.profile),
        parent=layer.parent,
        calls=layer.calls,
        param_bytes=_layer_param_bytes(layer),
        variable_dtype=layer.variable_dtype,
        family=family_of(layer.class_name),
    )


def _layer_param_bytes(layer: LayerFacts) -> int:
    """Bytes of the layer's weights, each at its own dtype (float32 under mixed_float16)."""
    return sum(math.prod(w.shape) * (dtype_bytes(w.dtype) or 0) for w in layer.weights)


def _param_bytes(facts: ModelFacts) -> int:
    return sum(_layer_param_bytes(layer) for layer in facts.layers)


REFERENCES: dict[str, Prose] = {
    "keras": KERAS_COUNT,
    "variables": msg("the size of the scope's variables"),
    "constants": msg("the size of the scope's constants"),
}
"""What a derived parameter count is checked against, by ``ModelFacts.reference``."""


def find_mismatches(
    layers: tuple[LayerReport, ...],
    totals: Totals,
    reference: Prose = REFERENCES["keras"],
    unknown: UnknownTotal | None = None,
) -> tuple[Mismatch, ...]:
    """Each derived count that disagrees with its reference, and at most one line for an
    unknown total: a count that cannot be derived is not a disagreement, and is not
    reported layer by layer (``unknown`` says which and why)."""
    found = [
        Mismatch(layer.name, "parameters", layer.params.value, layer.keras_params, reference)
        for layer in layers
        if layer.params.value is not None and not layer.params_match
    ]
    if totals.params is None:
        found.append(
            Mismatch(
                "(model)",
                "parameter total",
                None,
                totals.keras_params,
                reference,
                detail=unknown.detail if unknown is not None else "",
            )
        )
    for quantity, derived, count in (
        ("parameters (model total)", totals.params, totals.keras_params),
        ("trainable parameters", totals.trainable_params, totals.keras_trainable_params),
        (
            "non-trainable parameters",
            totals.non_trainable_params,
            totals.keras_non_trainable_params,
        ),
    ):
        if derived is not None and derived != count:
            found.append(Mismatch("(model)", quantity, derived, count, reference))
    return tuple(found)


def _flops_mismatch(check: FlopsCheck | None) -> tuple[Mismatch, ...]:
    """A model total more than 1 % away from TensorFlow's profiler count is a disagreement.

    When some layers have no FLOPs formula, it names them: the derived total leaves them
    out, which is then the likely cause."""
    if check is None or check.relative_difference <= 0.01:
        return ()
    return (
        Mismatch(
            "(model)",
            "FLOPs",
            check.derived,
            check.measured,
            msg("TensorFlow profiler"),
            leaves_out=check.unknown_layers,
        ),
    )


def derive_model(facts: ModelFacts, article: Text | None = None) -> ModelReport:
    layers = tuple(derive_layer(i, layer, facts) for i, layer in enumerate(facts.layers))
    reference = REFERENCES.get(facts.reference, REFERENCES["keras"])
    unknown = unknown_total(facts.layers, layers, facts.keras_params, reference)
    params = [layer.params.value for layer in layers]
    totals = Totals(
        # An underived count is never added up as zero: the total is then unknown.
        params=None if any(p is None for p in params) else sum(p or 0 for p in params),
        trainable_params=sum(layer.trainable_params for layer in layers),
        non_trainable_params=sum(layer.non_trainable_params for layer in layers),
        param_bytes=_param_bytes(facts),
        activation_bytes=sum(layer.activation.value or 0 for layer in layers),
        keras_params=facts.keras_params,
        keras_trainable_params=facts.keras_trainable_params,
        keras_non_trainable_params=facts.keras_non_trainable_params,
        layers=sum(1 for layer in facts.layers if not is_own_weights(layer)),
        flops=sum(layer.flops.value or 0 for layer in layers if layer.flops),
    )
    flops = _flops_check(facts, layers, totals)
    return ModelReport(
        slug=facts.slug,
        title=Text(facts.title.get("en", facts.slug), facts.title.get("zh", facts.slug)),
        source=facts.source,
        batch_size=facts.batch_size,
        framework=dict(facts.framework),
        layers=layers,
        totals=totals,
        mismatches=find_mismatches(layers, totals, reference, unknown) + _flops_mismatch(flops),
        article=article,
        runtime=_runtime_memory(facts, layers),
        flops=flops,
        profile=_profile(facts, layers),
        notes=tuple(note_text(note) for note in facts.notes),
        reference=reference,
        training=derive_training(facts, layers),
        params_note=unknown.reason if unknown is not None else None,
    )


def _runtime_memory(facts: ModelFacts, layers: tuple[LayerReport, ...]) -> RuntimeMemory | None:
    if facts.memory is None:
        return None
    measured = [layer for layer in layers if layer.measured_bytes is not None]
    return RuntimeMemory(
        method=facts.memory.method,
        peak_bytes=facts.memory.allocator_peak_bytes,
        total_bytes=facts.memory.allocator_total_bytes,
        measured_layers=len(measured),
        equal_layers=sum(1 for layer in measured if layer.measured_bytes == layer.activation.value),
    )


def _flops_check(
    facts: ModelFacts, layers: tuple[LayerReport, ...], totals: Totals
) -> FlopsCheck | None:
    if facts.flops is None:
        return None
    unknown = tuple(
        layer.name for layer in layers if layer.flops is not None and layer.flops.value is None
    )
    return FlopsCheck(
        derived=totals.flops or 0,
        measured=facts.flops.total,
        unknown_layers=unknown,
        by_op_type=tuple(sorted(facts.flops.by_op_type.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def _profile(facts: ModelFacts, layers: tuple[LayerReport, ...]) -> Profile | None:
    profile = facts.profile
    if profile is None:
        return None
    return Profile(
        steps=profile.steps,
        device=profile.device,
        step_time_us=profile.step_time_us,
        trace_href=f"traces/{facts.slug}.trace.json.gz" if profile.trace_file else None,
        profile_href=f"traces/{facts.slug}/" if profile.profile_dir else None,
        profile_zip_href=f"traces/{facts.slug}.profile.zip" if profile.profile_dir else None,
        timed_layers=sum(1 for layer in layers if layer.time_us is not None),
        trace_source=profile.trace_file,
        profile_source=profile.profile_dir,
    )
