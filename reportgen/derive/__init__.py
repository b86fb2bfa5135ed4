"""Derive stage: pure Python from collected facts to the report model. No TensorFlow."""

from __future__ import annotations

import math

from reportgen.derive.memory import derive_activation
from reportgen.derive.params import derive_params
from reportgen.facts import LayerFacts, ModelFacts
from reportgen.model import LayerReport, Mismatch, ModelReport, Text, Totals
from reportgen.units import dtype_bytes


def _weight_split(layer: LayerFacts) -> tuple[int, int]:
    trainable = sum(math.prod(w.shape) for w in layer.weights if w.trainable)
    frozen = sum(math.prod(w.shape) for w in layer.weights if not w.trainable)
    return trainable, frozen


def derive_layer(index: int, layer: LayerFacts, batch_size: int) -> LayerReport:
    trainable, frozen = _weight_split(layer)
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
        activation=derive_activation(layer, batch_size),
    )


def _param_bytes(facts: ModelFacts) -> int:
    total = 0
    for layer in facts.layers:
        for weight in layer.weights:
            total += math.prod(weight.shape) * (dtype_bytes(weight.dtype) or 0)
    return total


def find_mismatches(layers: tuple[LayerReport, ...], totals: Totals) -> tuple[Mismatch, ...]:
    found = [
        Mismatch(
            layer.name, "parameters", layer.params.value, layer.keras_params, "Keras count_params()"
        )
        for layer in layers
        if not layer.params_match
    ]
    for quantity, derived, reference in (
        ("parameters (model total)", totals.params, totals.keras_params),
        ("trainable parameters", totals.trainable_params, totals.keras_trainable_params),
        (
            "non-trainable parameters",
            totals.non_trainable_params,
            totals.keras_non_trainable_params,
        ),
    ):
        if derived != reference:
            found.append(Mismatch("(model)", quantity, derived, reference, "Keras"))
    return tuple(found)


def derive_model(facts: ModelFacts, article: Text | None = None) -> ModelReport:
    layers = tuple(derive_layer(i, layer, facts.batch_size) for i, layer in enumerate(facts.layers))
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
    )
    return ModelReport(
        slug=facts.slug,
        title=Text(facts.title.get("en", facts.slug), facts.title.get("zh", facts.slug)),
        source=facts.source,
        batch_size=facts.batch_size,
        framework=dict(facts.framework),
        layers=layers,
        totals=totals,
        mismatches=find_mismatches(layers, totals),
        article=article,
    )
