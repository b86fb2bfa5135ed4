"""Every reference model of the zoo builds, and every derived parameter count equals the
reference count (Keras's ``count_params()``, or the variables of a raw TensorFlow graph)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reportgen.config import builtin_config
from reportgen.derive import derive_model
from reportgen.facts import ModelFacts

pytestmark = pytest.mark.tf

BUILTIN_MODELS = builtin_config().models

# Parameter totals, from Keras's summary of each model (and the LeNet table for lenet-tf).
EXPECTED_TOTALS = {
    "lenet": 3_274_634,
    "lenet-tf": 3_274_634,
    "mobilenet-v2": 3_538_984,
    "resnet50": 25_636_712,
    "text-classifier": 714_369,
    "transformer": 686_337,
    "gpt2-tiny": 172_288,
    "llama-tiny": 220_480,
    "bert-tiny": 176_576,
}


def collected_facts(spec: Any) -> ModelFacts:
    """The worker's facts (without the runtime measurements), through JSON."""
    import keras

    from reportgen.collect.source import call_factory, load_factory

    built = call_factory(spec.source, load_factory(spec.source))
    if isinstance(built, keras.Model):
        from reportgen.collect.keras_facts import ensure_built, model_facts

        ensure_built(built, spec.slug, spec.input_shape)
        facts = model_facts(built, spec)
    else:
        from reportgen.collect.graph_facts import (
            graph_layout,
            graph_model_facts,
            graph_model_from_object,
        )

        graph = graph_model_from_object(built, spec.source)
        facts = graph_model_facts(graph, graph_layout(graph), spec)
    return ModelFacts.from_dict(json.loads(facts.to_json()))


def test_zoo_is_complete() -> None:
    assert [spec.slug for spec in BUILTIN_MODELS] == list(EXPECTED_TOTALS)


@pytest.mark.parametrize("spec", BUILTIN_MODELS, ids=lambda spec: spec.slug)
def test_zoo_model_derives_every_parameter(spec: Any) -> None:
    facts = collected_facts(spec)
    report = derive_model(facts)
    assert report.totals.keras_params == EXPECTED_TOTALS[spec.slug]
    wrong = [
        (layer.name, layer.params.value, layer.keras_params)
        for layer in report.layers
        if layer.params.value != layer.keras_params
    ]
    assert wrong == []
    assert report.totals.params == report.totals.keras_params
    assert report.totals.trainable_params == report.totals.keras_trainable_params
    assert report.totals.non_trainable_params == report.totals.keras_non_trainable_params
    assert not [m for m in report.mismatches if m.quantity.startswith(("param", "train", "non"))]
