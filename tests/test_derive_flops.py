"""Derived FLOPs on hand-made facts (no TensorFlow).

The expected numbers are TensorFlow's: tf.compat.v1.profiler with float_operation() on the
frozen Keras LeNet (TF 2.21, Keras 3.15) gives 27,844,156 at batch 1, and the per-layer
figures below are the sums of its per-op counts within each layer's name scope.
"""

from __future__ import annotations

from typing import Any

import pytest

from reportgen.derive.layers import derive_flops
from reportgen.derive.layers.convention import CONVENTION
from reportgen.facts import LayerFacts, Shape
from tests.arithmetic import printed_value

LENET_TF_TOTAL = 27_844_156


def layer(
    class_name: str,
    inputs: Shape,
    outputs: Shape,
    name: str | None = None,
    **config: Any,
) -> LayerFacts:
    return LayerFacts(
        name=name or class_name.lower(),
        class_name=class_name,
        config=config,
        input_shapes=(inputs,),
        output_shapes=(outputs,),
        compute_dtype="float32",
        variable_dtype="float32",
        weights=(),
        keras_params=0,
    )


def lenet() -> list[LayerFacts]:
    conv = {"kernel_size": [5, 5], "padding": "same", "activation": "relu", "use_bias": True}
    pool = {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}
    return [
        layer("InputLayer", (None, 28, 28, 1), (None, 28, 28, 1), "image"),
        layer("Conv2D", (None, 28, 28, 1), (None, 28, 28, 32), "conv1", filters=32, **conv),
        layer("MaxPooling2D", (None, 28, 28, 32), (None, 14, 14, 32), "pool1", **pool),
        layer("Conv2D", (None, 14, 14, 32), (None, 14, 14, 64), "conv2", filters=64, **conv),
        layer("MaxPooling2D", (None, 14, 14, 64), (None, 7, 7, 64), "pool2", **pool),
        layer("Flatten", (None, 7, 7, 64), (None, 3136), "flatten"),
        layer("Dense", (None, 3136), (None, 1024), "fc1", units=1024, activation="relu"),
        layer("Dropout", (None, 1024), (None, 1024), "dropout", rate=0.5),
        layer("Dense", (None, 1024), (None, 10), "fc2", units=10, activation="softmax"),
    ]


LENET_EXPECTED = {
    "image": (0, "0"),
    "conv1": (1_254_400 + 25_088, "Conv2D 2×5×5×1×32×28×28 + BiasAdd 28×28×32 = 1,279,488"),
    "pool1": (25_088, "MaxPool 2×2×14×14×32 = 25,088"),
    "conv2": (20_070_400 + 12_544, "Conv2D 2×5×5×32×64×14×14 + BiasAdd 14×14×64 = 20,082,944"),
    "pool2": (12_544, "MaxPool 2×2×7×7×64 = 12,544"),
    "flatten": (0, "0"),
    "fc1": (6_422_528 + 1_024, "MatMul 2×3136×1024 + BiasAdd 1024 = 6,423,552"),
    "dropout": (0, "0"),
    "fc2": (20_480 + 10 + 50, "MatMul 2×1024×10 + BiasAdd 10 + Softmax 5×10 = 20,540"),
}


@pytest.mark.parametrize("facts", lenet(), ids=lambda f: f.name)
def test_lenet_layer(facts: LayerFacts) -> None:
    derived = derive_flops(facts, 1)
    value, text = LENET_EXPECTED[facts.name]
    assert derived.value == value
    assert derived.formula is not None
    assert derived.formula.text == text
    assert printed_value(text) == value  # the printed arithmetic gives TensorFlow's count


def test_lenet_total_is_tensorflows() -> None:
    assert sum(derive_flops(f, 1).value or 0 for f in lenet()) == LENET_TF_TOTAL


def test_batch_multiplies() -> None:
    for facts in lenet():
        assert derive_flops(facts, 8).value == 8 * (derive_flops(facts, 1).value or 0)
    assert sum(derive_flops(f, 8).value or 0 for f in lenet()) == 8 * LENET_TF_TOTAL


def test_batch_shows_in_formula() -> None:
    derived = derive_flops(lenet()[6], 8)
    assert derived.formula is not None
    assert derived.formula.text == "MatMul 2×3136×1024×8 + BiasAdd 1024×8 = 51,388,416"
    assert derived.formula.symbolic_text == "MatMul 2×n_in×n_out×N + BiasAdd n_out×N"
    assert "N = 8" in derived.explanation.en


def test_conv_symbols() -> None:
    derived = derive_flops(lenet()[1], 1)
    assert derived.formula is not None
    assert derived.formula.symbolic_text == (
        "Conv2D 2×k_h×k_w×c_in×c_out×H_out×W_out + BiasAdd H_out×W_out×c_out"
    )


def test_explanations_state_the_convention() -> None:
    for facts in lenet()[1:5:1]:
        explanation = derive_flops(facts, 1).explanation
        assert explanation.en.endswith(CONVENTION.en)
        assert explanation.zh.endswith(CONVENTION.zh)
    assert "2 FLOPs" in CONVENTION.en and "2 次浮点运算" in CONVENTION.zh


def test_relu_is_not_counted_and_says_so() -> None:
    explanation = derive_flops(lenet()[1], 1).explanation
    assert "relu activation adds 0" in explanation.en
    assert "relu 激活记为 0" in explanation.zh


def test_zero_layers_have_reasons() -> None:
    for facts in (lenet()[0], lenet()[5], lenet()[7]):
        derived = derive_flops(facts, 1)
        assert (derived.value, derived.method) == (0, "zero")
        assert derived.explanation.en and derived.explanation.zh


def test_dense_on_rank3_input() -> None:
    # Keras applies Dense to the last axis: 7 rows of 5 → 3 (TF: MatMul 210 + BiasAdd 21).
    facts = layer("Dense", (None, 7, 5), (None, 7, 3), units=3, activation="relu")
    derived = derive_flops(facts, 1)
    assert derived.value == 2 * 5 * 3 * 7 + 7 * 3 == 231
    assert derived.formula is not None
    assert derived.formula.text == "MatMul 2×5×3×7 + BiasAdd 7×3 = 231"
    assert derive_flops(facts, 3).value == 3 * 231


def test_dense_rank4_softmax_without_bias() -> None:
    facts = layer(
        "Dense", (None, 2, 7, 5), (None, 2, 7, 3), units=3, use_bias=False, activation="softmax"
    )
    assert derive_flops(facts, 1).value == 2 * 5 * 3 * 14 + 5 * 42 == 630


def test_conv_with_groups_and_without_bias() -> None:
    # 9×9×4 input, 6 filters of 3×2 in 2 groups (2 input channels each), strides (2, 1),
    # valid padding → 4×8×6 output.
    facts = layer(
        "Conv2D",
        (None, 9, 9, 4),
        (None, 4, 8, 6),
        filters=6,
        kernel_size=[3, 2],
        strides=[2, 1],
        padding="valid",
        groups=2,
        use_bias=False,
        activation="linear",
    )
    derived = derive_flops(facts, 1)
    assert derived.value == 2 * 3 * 2 * 2 * 6 * 4 * 8 == 4608
    assert derived.formula is not None
    assert derived.formula.symbolic_text == "Conv2D 2×k_h×k_w×c_in/g×c_out×H_out×W_out"
    assert "2 groups" in derived.explanation.en and "use_bias=False" in derived.explanation.en


def test_conv1d_and_conv3d() -> None:
    conv1d = layer(
        "Conv1D",
        (None, 20, 6),
        (None, 9, 8),
        filters=8,
        kernel_size=[3],
        strides=[2],
        activation="tanh",
    )
    assert derive_flops(conv1d, 1).value == 2 * 3 * 6 * 8 * 9 + 9 * 8 == 2664
    conv3d = layer(
        "Conv3D",
        (None, 5, 6, 7, 2),
        (None, 4, 4, 5, 4),
        filters=4,
        kernel_size=[2, 3, 3],
        activation="sigmoid",
    )
    derived = derive_flops(conv3d, 1)
    assert derived.value == 2 * 2 * 3 * 3 * 2 * 320 + 320 == 23360
    assert derived.formula is not None and derived.formula.text.startswith("Conv3D ")


def test_conv_channels_first() -> None:
    facts = layer(
        "Conv2D",
        (None, 3, 9, 9),
        (None, 4, 7, 7),
        filters=4,
        kernel_size=[3, 3],
        data_format="channels_first",
        use_bias=False,
    )
    assert derive_flops(facts, 1).value == 2 * 3 * 3 * 3 * 4 * 7 * 7


def test_composite_activation_counts() -> None:
    for name, per_value in (
        ("silu", 2),
        ("gelu", 4),
        ("keras_hub>gelu_approximate", 7),
        ("mish", 1),
        ("tanh", 0),
        ("linear", 0),
    ):
        facts = layer("Dense", (None, 5), (None, 6), units=6, activation=name)
        assert derive_flops(facts, 1).value == 2 * 5 * 6 + 6 + per_value * 6, name


def test_unknown_activation_is_left_out_and_said() -> None:
    custom = {"module": "builtins", "class_name": "function", "config": "my_act"}
    facts = layer("Dense", (None, 5), (None, 6), units=6, activation=custom)
    derived = derive_flops(facts, 1)
    assert derived.value == 2 * 5 * 6 + 6
    assert "my_act" in derived.explanation.en and "below" in derived.explanation.en


@pytest.mark.parametrize(
    ("class_name", "inputs", "outputs", "config", "expected"),
    [
        ("MaxPooling1D", (None, 20, 3), (None, 10, 3), {"pool_size": [3]}, 90),
        ("AveragePooling1D", (None, 10, 3), (None, 5, 3), {"pool_size": [2]}, 30),
        ("AveragePooling2D", (None, 9, 9, 3), (None, 9, 9, 3), {"pool_size": [3, 3]}, 2187),
        ("MaxPooling2D", (None, 9, 9, 3), (None, 4, 3, 3), {"pool_size": [2, 3]}, 216),
        # TensorFlow has no FLOPs rule for MaxPool3D/AvgPool3D nor Max: it counts 0.
        ("MaxPooling3D", (None, 4, 6, 6, 3), (None, 2, 3, 3, 3), {"pool_size": [2, 2, 2]}, 0),
        ("AveragePooling3D", (None, 2, 3, 3, 3), (None, 2, 1, 1, 3), {"pool_size": [1, 2, 2]}, 0),
        ("GlobalAveragePooling2D", (None, 6, 6, 3), (None, 3), {}, 108),
        ("GlobalAveragePooling1D", (None, 6, 3), (None, 1, 3), {"keepdims": True}, 18),
        ("GlobalAveragePooling3D", (None, 2, 6, 6, 3), (None, 3), {}, 216),
        ("GlobalMaxPooling2D", (None, 6, 6, 3), (None, 3), {}, 0),
        ("Activation", (None, 4, 5), (None, 4, 5), {"activation": "softmax"}, 100),
        ("Activation", (None, 4, 5), (None, 4, 5), {"activation": "relu"}, 0),
        ("Softmax", (None, 4, 5), (None, 4, 5), {"axis": -1}, 100),
        ("ReLU", (None, 4, 5), (None, 4, 5), {}, 0),
        ("Reshape", (None, 4, 5), (None, 20), {}, 0),
    ],
)
def test_pooling_and_elementwise(
    class_name: str, inputs: Shape, outputs: Shape, config: dict[str, Any], expected: int
) -> None:
    derived = derive_flops(layer(class_name, inputs, outputs, **config), 1)
    assert derived.value == expected
    assert derived.formula is not None and printed_value(derived.formula.text) == expected
    assert derived.explanation.en and derived.explanation.zh


def test_pool3d_explains_what_tensorflow_misses() -> None:
    facts = layer("MaxPooling3D", (None, 4, 6, 6, 3), (None, 2, 3, 3, 3), pool_size=[2, 2, 2])
    explanation = derive_flops(facts, 1).explanation
    assert "MaxPool3D" in explanation.en and "432" in explanation.en  # 8 × 2×3×3×3


def test_add_of_three_inputs() -> None:
    facts = LayerFacts(
        "add", "Add", {}, ((None, 4, 5),) * 3, ((None, 4, 5),), "float32", "float32", (), 0
    )
    assert derive_flops(facts, 1).value == 2 * 20


def test_unknown_layer_kind_gets_no_number() -> None:
    facts = layer("ConvLSTM2D", (None, 10, 8, 8, 3), (None, 8, 8, 16), filters=16)
    derived = derive_flops(facts, 1)
    assert derived.value is None
    assert derived.method == "unknown"
    assert derived.formula is None
    assert "not derived" in derived.explanation.en and "ConvLSTM2D" in derived.explanation.zh


def test_unknown_dimension_gets_no_number() -> None:
    facts = layer("Dense", (None, None, 5), (None, None, 3), units=3)
    assert derive_flops(facts, 1).value is None


def test_missing_config_field_gets_no_number() -> None:
    facts = layer("Conv2D", (None, 9, 9, 3), (None, 7, 7, 4), filters=4)  # no kernel_size
    assert derive_flops(facts, 1).method == "unknown"
