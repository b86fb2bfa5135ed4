"""Training-memory estimate, from hand-made facts (``tests/test_tf_training.py`` checks it
against what Keras allocates)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from reportgen.derive import derive_model
from reportgen.derive.training import optimizer_state
from reportgen.facts import ModelFacts, OptimizerFacts, WeightFacts
from reportgen.render.data import report_data
from reportgen.schema import __file__ as schema_package
from tests.handmade import lenet_facts

LENET_PARAMS = 3_274_634
CJK = re.compile(r"[\u4e00-\u9fff]")


def training(facts: ModelFacts) -> Any:
    report = derive_model(facts)
    assert report.training is not None
    return report, report.training


def test_lenet_with_assumed_adam() -> None:
    report, est = training(lenet_facts())
    assert est.optimizer == "Adam" and est.optimizer_assumed and est.slots_per_weight == 2
    parts = {p.key: p.bytes for p in est.parts}
    assert parts["parameters"].value == LENET_PARAMS * 4
    assert parts["parameters"].formula.text.startswith("3274634×4 B = 13,098,536 B")
    assert parts["gradients"].value == LENET_PARAMS * 4
    # m and v for every trainable weight, plus the int64 iteration and float32 learning rate.
    assert parts["optimizer_state"].value == 2 * LENET_PARAMS * 4 + 8 + 4
    assert parts["optimizer_state"].formula.symbolic_text == "2×P_train×4 + scalars 12 B"
    assert parts["activations"].value == report.totals.activation_bytes
    assert est.total.value == 4 * LENET_PARAMS * 4 + 12 + report.totals.activation_bytes
    assert est.batch_size == 1


def test_assumptions_are_written_in_both_languages() -> None:
    _, est = training(lenet_facts())
    assert len(est.assumptions) >= 3
    for text in est.assumptions:
        assert text.en and CJK.search(text.zh)
    joined = " ".join(t.en for t in est.assumptions)
    assert "not compiled" in joined and "Adam" in joined and "backward pass" in joined
    for part in est.parts:
        assert part.label.en and CJK.search(part.label.zh)
        assert part.bytes.explanation.en and CJK.search(part.bytes.explanation.zh)


def test_activations_scale_with_the_batch() -> None:
    one = training(lenet_facts())[1].part("activations").bytes.value
    eight = training(lenet_facts(batch_size=8))[1].part("activations").bytes.value
    assert eight == 8 * one


@pytest.mark.parametrize(
    ("optimizer", "slots", "scalars"),
    [
        (OptimizerFacts("SGD", {"learning_rate": 0.01, "momentum": 0.0}), 0, 12),
        (OptimizerFacts("SGD", {"learning_rate": 0.01, "momentum": 0.9}), 1, 12),
        (OptimizerFacts("Adam", {"learning_rate": 0.001, "amsgrad": True}), 3, 12),
        (OptimizerFacts("RMSprop", {"momentum": 0.9, "centered": True}), 3, 12),
        (OptimizerFacts("Nadam", {"learning_rate": 0.001}), 2, 16),
        (OptimizerFacts("Adam", {"learning_rate": {"class_name": "ExponentialDecay"}}), 2, 8),
        (OptimizerFacts("Adam", {"learning_rate": 0.001, "use_ema": True}), 3, 12),
        (
            OptimizerFacts(
                "LossScaleOptimizer",
                {"inner_optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.001}}},
            ),
            2,
            36,
        ),
    ],
)
def test_optimizer_state_per_optimizer(optimizer: OptimizerFacts, slots: int, scalars: int) -> None:
    state = optimizer_state(optimizer)
    assert (state.slots, state.scalar_bytes) == (slots, scalars)
    _, est = training(lenet_facts(optimizer=optimizer))
    assert not est.optimizer_assumed
    assert est.part("optimizer_state").bytes.value == slots * LENET_PARAMS * 4 + scalars


def test_unknown_optimizer_gives_no_total() -> None:
    _, est = training(lenet_facts(optimizer=OptimizerFacts("Shampoo", {})))
    assert est.slots_per_weight is None
    assert est.part("optimizer_state").bytes.value is None
    assert est.total.value is None and est.total.method == "unknown"


def test_mixed_precision_keeps_gradients_and_state_in_float32() -> None:
    layers = list(lenet_facts().layers)
    fc2 = layers[-1]
    layers[-1] = dataclasses.replace(
        fc2,
        compute_dtype="float16",
        output_dtypes=("float16",),
        weights=tuple(dataclasses.replace(w, dtype="float32") for w in fc2.weights),
    )
    report, est = training(lenet_facts(layers=tuple(layers)))
    assert report.layers[-1].activation.value == 10 * 2
    assert est.part("gradients").bytes.value == LENET_PARAMS * 4


def test_non_trainable_weights_get_no_gradient_or_state() -> None:
    layers = list(lenet_facts().layers)
    bn = dataclasses.replace(
        layers[1],
        name="bn",
        class_name="BatchNormalization",
        config={"axis": -1},
        weights=(
            WeightFacts("bn/gamma", (32,), "float32", True),
            WeightFacts("bn/beta", (32,), "float32", True),
            WeightFacts("bn/moving_mean", (32,), "float32", False),
            WeightFacts("bn/moving_variance", (32,), "float32", False),
        ),
        keras_params=128,
    )
    facts = lenet_facts(layers=(*layers, bn))
    _, est = training(facts)
    assert est.part("parameters").bytes.value == (LENET_PARAMS + 128) * 4
    assert est.part("gradients").bytes.value == (LENET_PARAMS + 64) * 4


def test_training_is_published_and_matches_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from pathlib import Path

    schema = json.loads((Path(schema_package).parent / "report.schema.json").read_text())
    data = report_data(derive_model(lenet_facts()))
    jsonschema.validate(data, schema)
    published = data["training"]
    assert published["optimizer"] == "Adam" and published["optimizer_assumed"] is True
    assert [p["key"] for p in published["parts"]] == [
        "parameters",
        "gradients",
        "optimizer_state",
        "activations",
    ]
    assert published["total_bytes"] == sum(p["bytes"] for p in published["parts"])
    assert published["assumptions"][0]["zh"]
    layer = data["layers"][1]
    assert (layer["calls"], layer["shared"], layer["parent"]) == (1, False, None)
    assert layer["param_bytes"] == 832 * 4 and layer["variable_dtype"] == "float32"
