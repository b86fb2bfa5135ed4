"""derive on hand-made facts: the LeNet numbers of DESIGN.md, no TensorFlow."""

from __future__ import annotations

import dataclasses

import pytest

from reportgen.derive import derive_model
from reportgen.derive.layers import derive_params
from tests.handmade import layer, lenet_facts


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return derive_model(lenet_facts())


def by_name(report, name):  # type: ignore[no-untyped-def]
    return next(item for item in report.layers if item.name == name)


@pytest.mark.parametrize(
    ("name", "params", "formula"),
    [
        ("conv1", 832, "(5×5×1+1)×32 = 832"),
        ("conv2", 51_264, "(5×5×32+1)×64 = 51,264"),
        ("fc1", 3_212_288, "3136×1024+1024 = 3,212,288"),
        ("fc2", 10_250, "1024×10+10 = 10,250"),
    ],
)
def test_parameter_formulas(report, name, params, formula):  # type: ignore[no-untyped-def]
    item = by_name(report, name)
    assert item.params.value == params
    assert item.params.method == "formula"
    assert item.params.formula.text == formula
    assert item.params_match


@pytest.mark.parametrize("name", ["image", "pool1", "pool2", "flatten", "dropout"])
def test_zero_parameter_layers_give_a_reason(report, name):  # type: ignore[no-untyped-def]
    item = by_name(report, name)
    assert item.params.value == 0
    assert item.params.method == "zero"
    assert "weight" in item.params.explanation.en or "learn" in item.params.explanation.en
    assert item.params.explanation.zh and item.params.explanation.zh != item.params.explanation.en


def test_symbolic_conv_formula(report):  # type: ignore[no-untyped-def]
    assert by_name(report, "conv1").params.formula.symbolic_text == "(k_h×k_w×c_in+1)×c_out"
    assert by_name(report, "fc1").params.formula.symbolic_text == "n_in×n_out+n_out"


def test_totals(report):  # type: ignore[no-untyped-def]
    totals = report.totals
    assert totals.params == 3_274_634
    assert totals.trainable_params == 3_274_634
    assert totals.non_trainable_params == 0
    assert totals.param_bytes == 3_274_634 * 4
    assert totals.params_match
    assert report.mismatches == ()


@pytest.mark.parametrize(
    ("name", "nbytes", "formula"),
    [
        ("conv1", 100_352, "28×28×32×4 B = 100,352 B = 98 KiB"),
        ("pool1", 25_088, "14×14×32×4 B = 25,088 B = 24.5 KiB"),
        ("conv2", 50_176, "14×14×64×4 B = 50,176 B = 49 KiB"),
        ("pool2", 12_544, "7×7×64×4 B = 12,544 B = 12.25 KiB"),
        ("flatten", 12_544, "3136×4 B = 12,544 B = 12.25 KiB"),
        ("fc1", 4_096, "1024×4 B = 4,096 B = 4 KiB"),
        ("dropout", 4_096, "1024×4 B = 4,096 B = 4 KiB"),
        ("fc2", 40, "10×4 B = 40 B"),
    ],
)
def test_output_memory(report, name, nbytes, formula):  # type: ignore[no-untyped-def]
    item = by_name(report, name)
    assert item.activation.value == nbytes
    assert item.activation.formula.text == formula


def test_batch_of_eight_multiplies_activations(report):  # type: ignore[no-untyped-def]
    batched = derive_model(lenet_facts(batch_size=8))
    for one, eight in zip(report.layers, batched.layers, strict=True):
        assert eight.activation.value == 8 * one.activation.value
        assert eight.params.value == one.params.value
    assert by_name(batched, "conv1").activation.formula.text.startswith(
        "8×28×28×32×4 B = 802,816 B"
    )
    assert batched.totals.activation_bytes == 8 * report.totals.activation_bytes


def test_mismatch_with_keras_is_reported():
    layers = list(lenet_facts().layers)
    layers[1] = dataclasses.replace(layers[1], keras_params=833)
    report = derive_model(lenet_facts(layers=tuple(layers)))
    assert not by_name(report, "conv1").params_match
    described = [m.describe() for m in report.mismatches]
    assert "layer 'conv1': derived parameters 832 != Keras count_params() 833" in described


def test_conv_without_bias_and_with_groups():
    facts = layer(
        "g",
        "Conv2D",
        (None, 8, 8, 16),
        (None, 8, 8, 32),
        (("kernel", (3, 3, 4, 32)),),
        filters=32,
        kernel_size=[3, 3],
        use_bias=False,
        groups=4,
        data_format="channels_last",
    )
    derived = derive_params(facts)
    assert derived.value == 3 * 3 * 4 * 32 == facts.keras_params
    assert derived.formula.text == "3×3×4×32 = 1,152"
    assert "4 groups" in derived.explanation.en


def test_unknown_layer_with_weights_uses_the_generic_count():
    facts = layer("custom", "MyLayer", (None, 3), (None, 4), (("kernel", (3, 4)), ("bias", (4,))))
    derived = derive_params(facts)
    assert derived.method == "generic"
    assert derived.value == 16
    assert derived.formula.text == "kernel 3×4 + bias 4 = 16"


def test_unknown_layer_without_weights_is_generic_zero():
    derived = derive_params(layer("odd", "Mystery", (None, 3), (None, 3)))
    assert (derived.value, derived.method) == (0, "generic")


def test_unknown_input_channels_cannot_be_derived():
    facts = layer(
        "c",
        "Conv2D",
        (None, 8, 8, None),
        (None, 8, 8, 4),
        (("kernel", (3, 3, 2, 4)), ("bias", (4,))),
        filters=4,
        kernel_size=[3, 3],
        data_format="channels_last",
    )
    derived = derive_params(facts)
    assert derived.value is None and derived.method == "unknown"


def test_dynamic_output_shape_has_no_derived_memory():
    facts = layer(
        "seq",
        "Dense",
        (None, None, 8),
        (None, None, 4),
        (("kernel", (8, 4)), ("bias", (4,))),
        units=4,
    )
    report = derive_model(lenet_facts(layers=(facts,)))
    assert report.layers[0].activation.value is None
    assert report.layers[0].params.value == 36
