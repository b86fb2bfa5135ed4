"""The real Keras LeNet: collected facts, every derived count equal to Keras's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reportgen.config import ModelSpec
from reportgen.derive import derive_model
from reportgen.facts import ModelFacts

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def facts(lenet_model: Any) -> ModelFacts:
    from reportgen.collect.keras_facts import model_facts

    spec = ModelSpec(
        slug="lenet", source="reportgen.zoo.lenet:build_lenet", title_en="LeNet", title_zh="LeNet"
    )
    collected = model_facts(lenet_model, spec)
    return ModelFacts.from_dict(__import__("json").loads(collected.to_json()))


def test_collected_layers(facts: ModelFacts) -> None:
    assert [layer.class_name for layer in facts.layers] == [
        "InputLayer",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]
    conv1 = facts.layers[1]
    assert conv1.input_shapes == ((None, 28, 28, 1),)
    assert conv1.output_shapes == ((None, 28, 28, 32),)
    assert [(w.shape, w.trainable) for w in conv1.weights] == [((5, 5, 1, 32), True), ((32,), True)]
    assert conv1.config["kernel_size"] == [5, 5] and conv1.config["padding"] == "same"
    assert facts.keras_params == 3_274_634
    # What the collect stage writes to facts.json validates against the shipped schema.
    from reportgen.jsonfile import validator

    assert not list(validator("facts.schema.json").iter_errors(json.loads(facts.to_json())))


def test_every_derived_count_equals_keras(facts: ModelFacts) -> None:
    report = derive_model(facts)
    for layer in report.layers:
        assert layer.params.value == layer.keras_params, layer.name
        assert layer.params.method in ("formula", "zero"), layer.name
    assert report.mismatches == ()
    assert report.totals.params == 3_274_634
    assert [layer.params.value for layer in report.layers if layer.params.value] == [
        832,
        51_264,
        3_212_288,
        10_250,
    ]
