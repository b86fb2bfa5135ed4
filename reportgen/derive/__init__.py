"""Derive stage: pure Python from collected facts to the report model. No TensorFlow."""

from __future__ import annotations

import math

from reportgen.derive.flops import derive_flops
from reportgen.derive.measured import layer_time, measured_memory
from reportgen.derive.memory import derive_activation
from reportgen.derive.params import derive_params
from reportgen.derive.training import derive_training
from reportgen.facts import LayerFacts, ModelFacts
from reportgen.model import (
    FlopsCheck,
    LayerReport,
    Mismatch,
    ModelReport,
    Profile,
    RuntimeMemory,
    Text,
    Totals,
)
from reportgen.units import dtype_bytes


def _weight_split(layer: LayerFacts) -> tuple[int, int]:
    trainable = sum(math.prod(w.shape) for w in layer.weights if w.trainable)
    frozen = sum(math.prod(w.shape) for w in layer.weights if not w.trainable)
    return trainable, frozen


def derive_layer(index: int, layer: LayerFacts, facts: ModelFacts) -> LayerReport:
    trainable, frozen = _weight_split(layer)
    batch_size = facts.batch_size
    activation = derive_activation(layer, batch_size)
    measured, note = measured_memory(layer.name, activation.value, facts.memory)
    return LayerReport(
        index=index,
        anchor=f"layer-{index}",
        name=layer.name,
        class_name=layer.class_name,
        output_shapes=layer.output_shapes,
        dtype=layer.compute_dtype,
        params=derive_params(layer),
        keras_params=layer.keras_params,
        trainable_params=trainable,
        non_trainable_params=frozen,
        activation=activation,
        flops=derive_flops(layer, batch_size),
        measured_bytes=measured,
        measured_note=note,
        measured_flops=facts.flops.by_layer.get(layer.name) if facts.flops else None,
        time_us=layer_time(layer.name, facts.profile),
        parent=layer.parent,
        calls=layer.calls,
        param_bytes=_layer_param_bytes(layer),
        variable_dtype=layer.variable_dtype,
    )


def _layer_param_bytes(layer: LayerFacts) -> int:
    """Bytes of the layer's weights, each at its own dtype (float32 under mixed_float16)."""
    return sum(math.prod(w.shape) * (dtype_bytes(w.dtype) or 0) for w in layer.weights)


def _param_bytes(facts: ModelFacts) -> int:
    return sum(_layer_param_bytes(layer) for layer in facts.layers)


REFERENCES = {
    "keras": Text("Keras count_params()", "Keras 的 count_params()"),
    "variables": Text("the size of the scope's variables", "该作用域中变量的总大小"),
    "constants": Text("the size of the scope's constants", "该作用域中常量的总大小"),
}
"""What a derived parameter count is checked against, by ``ModelFacts.reference``."""


def find_mismatches(
    layers: tuple[LayerReport, ...], totals: Totals, reference: Text = REFERENCES["keras"]
) -> tuple[Mismatch, ...]:
    found = [
        Mismatch(layer.name, "parameters", layer.params.value, layer.keras_params, reference.en)
        for layer in layers
        if not layer.params_match
    ]
    for quantity, derived, count in (
        ("parameters (model total)", totals.params, totals.keras_params),
        ("trainable parameters", totals.trainable_params, totals.keras_trainable_params),
        (
            "non-trainable parameters",
            totals.non_trainable_params,
            totals.keras_non_trainable_params,
        ),
    ):
        if derived != count:
            found.append(Mismatch("(model)", quantity, derived, count, reference.en))
    return tuple(found)


def _flops_mismatch(check: FlopsCheck | None) -> tuple[Mismatch, ...]:
    """A model total more than 1 % away from TensorFlow's profiler count is a disagreement."""
    if check is None or check.relative_difference <= 0.01:
        return ()
    return (Mismatch("(model)", "FLOPs", check.derived, check.measured, "TensorFlow profiler"),)


def derive_model(facts: ModelFacts, article: Text | None = None) -> ModelReport:
    layers = tuple(derive_layer(i, layer, facts) for i, layer in enumerate(facts.layers))
    totals = Totals(
        params=sum(layer.params.value or 0 for layer in layers),
        trainable_params=sum(layer.trainable_params for layer in layers),
        non_trainable_params=sum(layer.non_trainable_params for layer in layers),
        param_bytes=_param_bytes(facts),
        activation_bytes=sum(layer.activation.value or 0 for layer in layers),
        keras_params=facts.keras_params,
        keras_trainable_params=facts.keras_trainable_params,
        keras_non_trainable_params=facts.keras_non_trainable_params,
        layers=len(layers),
        flops=sum(layer.flops.value or 0 for layer in layers if layer.flops),
    )
    flops = _flops_check(facts, layers, totals)
    reference = REFERENCES.get(facts.reference, REFERENCES["keras"])
    return ModelReport(
        slug=facts.slug,
        title=Text(facts.title.get("en", facts.slug), facts.title.get("zh", facts.slug)),
        source=facts.source,
        batch_size=facts.batch_size,
        framework=dict(facts.framework),
        layers=layers,
        totals=totals,
        mismatches=find_mismatches(layers, totals, reference) + _flops_mismatch(flops),
        article=article,
        runtime=_runtime_memory(facts, layers),
        flops=flops,
        profile=_profile(facts, layers),
        notes=facts.notes,
        reference=reference,
        training=derive_training(facts, layers),
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
