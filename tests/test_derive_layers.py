"""Every layer family on hand-made facts (no TensorFlow): parameters, FLOPs, memory.

The parameter counts are Keras 3.15's ``count_params()`` for the same layer; the FLOPs are
what ``tf.compat.v1.profiler`` (TF 2.21, float_operation) counted on a one-layer model of
each kind, batch 1. ``tests/test_tf_applications.py`` re-checks both against TensorFlow.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from reportgen.derive import derive_model
from reportgen.derive.layers import KINDS, derive_flops, derive_params
from reportgen.derive.layers.convention import normalize_einsum
from reportgen.derive.layers.dense import einsum_output_shape
from reportgen.derive.layers.registry import Zero
from reportgen.derive.memory import derive_activation
from reportgen.facts import LayerFacts, Shape, WeightFacts
from tests.arithmetic import printed_value
from tests.handmade import lenet_facts

CJK = re.compile(r"[\u4e00-\u9fff]")
PARAM_RULES = {name for name, kind in KINDS.items() if callable(kind.params)}
ZERO_PARAM_REASONS = {name for name, kind in KINDS.items() if isinstance(kind.params, Zero)}
FLOPS_RULES = {name for name, kind in KINDS.items() if callable(kind.flops)}


def facts(
    class_name: str,
    inputs: Shape | tuple[Shape, ...],
    outputs: Shape,
    weights: tuple[tuple[int, ...], ...] = (),
    keras_params: int | None = None,
    input_names: tuple[str, ...] = (),
    **config: Any,
) -> LayerFacts:
    """One layer's facts; ``inputs`` is a shape, or a tuple of shapes for several inputs."""
    input_shapes = inputs if inputs and isinstance(inputs[0], tuple) else (inputs,)
    count = sum(_prod(s) for s in weights)
    return LayerFacts(
        name=class_name.lower(),
        class_name=class_name,
        config=config,
        input_shapes=input_shapes,  # type: ignore[arg-type]
        output_shapes=(outputs,),
        compute_dtype="float32",
        variable_dtype="float32",
        weights=tuple(WeightFacts(f"w{i}", s, "float32", True) for i, s in enumerate(weights)),
        keras_params=count if keras_params is None else keras_params,
        input_names=input_names,
    )


def _prod(shape: tuple[int, ...]) -> int:
    result = 1
    for d in shape:
        result *= d
    return result


LSTM4 = {"class_name": "LSTM", "config": {"name": "fwd", "units": 4, "unroll": True}}
SRNN4 = {"class_name": "SimpleRNN", "config": {"name": "fwd", "units": 4, "unroll": True}}
LSTM4_LOOP = {"class_name": "LSTM", "config": {"name": "fwd", "units": 4}}

# (id, facts, Keras count_params, formula text)
PARAMS = [
    (
        "Conv2DTranspose",
        facts("Conv2DTranspose", (None, 5, 5, 3), (None, 10, 10, 8), filters=8, kernel_size=[3, 3]),
        224,
        "(3×3×3+1)×8 = 224",
    ),
    (
        "Conv1DTranspose",
        facts("Conv1DTranspose", (None, 5, 3), (None, 11, 8), filters=8, kernel_size=[3]),
        80,
        "(3×3+1)×8 = 80",
    ),
    (
        "Conv3DTranspose",
        facts(
            "Conv3DTranspose",
            (None, 4, 4, 4, 2),
            (None, 9, 9, 9, 4),
            filters=4,
            kernel_size=[3, 3, 3],
        ),
        220,
        "(3×3×3×2+1)×4 = 220",
    ),
    (
        "DepthwiseConv2D",
        facts(
            "DepthwiseConv2D",
            (None, 5, 5, 3),
            (None, 3, 3, 6),
            kernel_size=[3, 3],
            depth_multiplier=2,
        ),
        60,
        "(3×3+1)×3×2 = 60",
    ),
    (
        "DepthwiseConv1D",
        facts("DepthwiseConv1D", (None, 5, 3), (None, 3, 6), kernel_size=[3], depth_multiplier=2),
        24,
        "(3+1)×3×2 = 24",
    ),
    (
        "DepthwiseConv2D no bias",
        facts(
            "DepthwiseConv2D",
            (None, 5, 5, 32),
            (None, 5, 5, 32),
            kernel_size=[3, 3],
            use_bias=False,
        ),
        288,
        "3×3×32×1 = 288",
    ),
    (
        "SeparableConv2D",
        facts(
            "SeparableConv2D",
            (None, 5, 5, 3),
            (None, 3, 3, 8),
            filters=8,
            kernel_size=[3, 3],
            depth_multiplier=2,
        ),
        110,
        "depthwise 3×3×3×2 + pointwise 3×2×8 + bias 8 = 110",
    ),
    (
        "SeparableConv1D",
        facts("SeparableConv1D", (None, 5, 3), (None, 3, 8), filters=8, kernel_size=[3]),
        41,
        "depthwise 3×3×1 + pointwise 3×1×8 + bias 8 = 41",
    ),
    (
        "Dense rank 3",
        facts("Dense", (None, 7, 5), (None, 7, 3), units=3),
        18,
        "5×3+3 = 18",
    ),
    (
        "Dense LoRA",
        facts("Dense", (None, 3), (None, 5), units=5, lora_rank=2),
        36,
        "3×5 + 5 + LoRA 2×(3+5) = 36",
    ),
    (
        "EinsumDense",
        facts(
            "EinsumDense",
            (None, 7, 5),
            (None, None, 16),
            equation="abc,cd->abd",
            output_shape=[None, 16],
            bias_axes="d",
        ),
        96,
        "kernel 5×16 + bias 16 = 96",
    ),
    (
        "EinsumDense two output axes",
        facts(
            "EinsumDense",
            (None, 7, 5),
            (None, 7, 2, 3),
            equation="abc,cde->abde",
            output_shape=[None, 2, 3],
            bias_axes="de",
        ),
        36,
        "kernel 5×2×3 + bias 2×3 = 36",
    ),
    (
        "EinsumDense ellipsis",
        facts(
            "EinsumDense",
            (None, 7, 5),
            (None, 7, 16),
            equation="...b,bc->...c",
            output_shape=16,
            bias_axes="c",
        ),
        96,
        "kernel 5×16 + bias 16 = 96",
    ),
    (
        "Embedding",
        facts("Embedding", (None, 7), (None, 7, 8), input_dim=100, output_dim=8),
        800,
        "100×8 = 800",
    ),
    (
        "Embedding LoRA",
        facts("Embedding", (None, 7), (None, 7, 4), input_dim=10, output_dim=4, lora_rank=2),
        68,
        "10×4 + LoRA 2×(10+4) = 68",
    ),
    (
        "BatchNormalization",
        facts("BatchNormalization", (None, 5, 5, 3), (None, 5, 5, 3), axis=-1),
        12,
        "trainable 2×3 + non-trainable 2×3 = 12",
    ),
    (
        "BatchNormalization renorm",
        facts("BatchNormalization", (None, 4, 3), (None, 4, 3), axis=-1, renorm=True),
        21,
        "trainable 2×3 + non-trainable 5×3 = 21",
    ),
    (
        "BatchNormalization no scale",
        facts("BatchNormalization", (None, 5, 5, 3), (None, 5, 5, 3), axis=-1, scale=False),
        9,
        "trainable 1×3 + non-trainable 2×3 = 9",
    ),
    (
        "BatchNormalization channels_first",
        facts("BatchNormalization", (None, 16, 8, 8), (None, 16, 8, 8), axis=1),
        64,
        "trainable 2×16 + non-trainable 2×16 = 64",
    ),
    (
        "LayerNormalization",
        facts("LayerNormalization", (None, 7, 5), (None, 7, 5), axis=[-1]),
        10,
        "2×5 = 10",
    ),
    (
        "LayerNormalization rms",
        facts("LayerNormalization", (None, 4, 3), (None, 4, 3), axis=[-1], rms_scaling=True),
        3,
        "3",
    ),
    (
        "LayerNormalization two axes",
        facts("LayerNormalization", (None, 6, 5), (None, 6, 5), axis=[1, 2]),
        60,
        "2×30 = 60",
    ),
    (
        "GroupNormalization",
        facts("GroupNormalization", (None, 5, 5, 4), (None, 5, 5, 4), groups=2, axis=-1),
        8,
        "2×4 = 8",
    ),
    (
        "Normalization",
        facts("Normalization", (None, 7, 5), (None, 7, 5), axis=[-1]),
        11,
        "mean 5 + variance 5 + count 1 = 11",
    ),
    (
        "Normalization axis None",
        facts("Normalization", (None, 4, 3), (None, 4, 3), axis=None),
        3,
        "mean 1 + variance 1 + count 1 = 3",
    ),
    (
        "Normalization two axes",
        facts("Normalization", (None, 4, 3), (None, 4, 3), axis=[1, 2]),
        25,
        "mean 12 + variance 12 + count 1 = 25",
    ),
    (
        "SimpleRNN",
        facts("SimpleRNN", (None, 7, 5), (None, 4), units=4),
        40,
        "5×4+4×4+4 = 40",
    ),
    (
        "LSTM",
        facts("LSTM", (None, 20, 100), (None, 64), units=64),
        42_240,
        "4×(100×64+64×64+64) = 42,240",
    ),
    (
        "GRU reset_after",
        facts("GRU", (None, 7, 5), (None, 4), units=4, reset_after=True),
        132,
        "3×(5×4+4×4+2×4) = 132",
    ),
    (
        "GRU reset_before",
        facts("GRU", (None, 7, 5), (None, 4), units=4, reset_after=False),
        120,
        "3×(5×4+4×4+4) = 120",
    ),
    (
        "GRU no bias",
        facts("GRU", (None, 7, 5), (None, 4), units=4, use_bias=False),
        108,
        "3×(5×4+4×4) = 108",
    ),
    (
        "Bidirectional",
        facts("Bidirectional", (None, 7, 5), (None, 8), layer=LSTM4, merge_mode="concat"),
        320,
        "forward 4×(5×4+4×4+4) + backward 4×(5×4+4×4+4) = 320",
    ),
    (
        "Bidirectional sum",
        facts("Bidirectional", (None, 7, 5), (None, 4), layer=SRNN4, merge_mode="sum"),
        80,
        "forward 5×4+4×4+4 + backward 5×4+4×4+4 = 80",
    ),
    (
        "TimeDistributed",
        facts(
            "TimeDistributed",
            (None, 7, 5),
            (None, 7, 3),
            layer={"class_name": "Dense", "config": {"name": "d", "units": 3}},
        ),
        18,
        "5×3+3 = 18",
    ),
    (
        "MultiHeadAttention",
        facts(
            "MultiHeadAttention",
            ((None, 7, 5), (None, 6, 4)),
            (None, 7, 5),
            num_heads=2,
            key_dim=3,
            value_dim=3,
        ),
        131,
        "query 5×2×3+2×3 + key 4×2×3+2×3 + value 4×2×3+2×3 + output 2×3×5+5 = 131",
    ),
    (
        "MultiHeadAttention no bias, key given",
        facts(
            "MultiHeadAttention",
            ((None, 7, 5), (None, 6, 4), (None, 6, 3)),
            (None, 7, 5),
            num_heads=2,
            key_dim=3,
            value_dim=4,
            use_bias=False,
        ),
        120,
        "query 5×2×3 + key 3×2×3 + value 4×2×4 + output 2×4×5 = 120",
    ),
    (
        "MultiHeadAttention gate and output_shape",
        facts(
            "MultiHeadAttention",
            ((None, 7, 5), (None, 6, 4)),
            (None, 7, 9),
            num_heads=2,
            key_dim=3,
            use_gate=True,
            output_shape=[9],
        ),
        36 + 30 + 30 + 36 + 63,
        "query 5×2×3+2×3 + key 4×2×3+2×3 + value 4×2×3+2×3 + gate 5×2×3+2×3 + output 2×3×9+9 = 195",
    ),
    ("PReLU", facts("PReLU", (None, 7, 5), (None, 7, 5)), 35, "7×5 = 35"),
    (
        "PReLU shared axes",
        facts("PReLU", (None, 4, 3), (None, 4, 3), shared_axes=[1]),
        3,
        "1×3 = 3",
    ),
    ("LayerScale", facts("LayerScale", (None, 7, 7, 8), (None, 7, 7, 8), projection_dim=8), 8, "8"),
    (
        "Attention",
        facts(
            "Attention",
            ((None, 7, 5), (None, 6, 5)),
            (None, 7, 5),
            use_scale=True,
            score_mode="concat",
        ),
        2,
        "scale 1 + concat score weight 1 = 2",
    ),
    (
        "AdditiveAttention",
        facts("AdditiveAttention", ((None, 7, 5), (None, 6, 5)), (None, 7, 5), use_scale=True),
        5,
        "5",
    ),
]


@pytest.mark.parametrize(
    ("layer", "keras", "text"), [p[1:] for p in PARAMS], ids=[p[0] for p in PARAMS]
)
def test_parameter_formula(layer: LayerFacts, keras: int, text: str) -> None:
    derived = derive_params(layer)
    assert derived.value == keras
    assert derived.method == "formula"
    assert derived.formula is not None and derived.formula.text == text
    assert printed_value(text) == keras  # the printed arithmetic, done by hand, is Keras's
    explanation = derived.explanation
    assert explanation.en and CJK.search(explanation.zh) and explanation.zh != explanation.en
    assert str(keras) in text.replace(",", "")


def hub_kinds_tested() -> set[str]:
    """Kinds whose rules the keras-hub test modules check (each exports ``TESTED``)."""
    from tests import test_derive_hub_attention, test_derive_hub_blocks, test_derive_hub_layers

    modules = (test_derive_hub_attention, test_derive_hub_blocks, test_derive_hub_layers)
    return set().union(*(module.TESTED for module in modules))


def test_every_rule_is_tested() -> None:
    tested = {p[1].class_name for p in PARAMS} | hub_kinds_tested()
    assert set(PARAM_RULES) - tested <= {"Conv1D", "Conv2D", "Conv3D"}  # in test_derive.py


def test_every_flops_rule_is_tested() -> None:
    tested = {f[1].class_name for f in FLOPS} | hub_kinds_tested()
    # LeNet's kinds, the convolutions and the pooling layers are in test_derive_flops.py.
    elsewhere = {"Conv1D", "Conv2D", "Conv3D", "Dense", "Activation", "Softmax", "Add"}
    elsewhere |= {f"{kind}{d}D" for kind in ("MaxPooling", "AveragePooling") for d in "123"}
    elsewhere |= {f"GlobalAveragePooling{d}D" for d in "123"} | {"GlobalMaxPooling2D"}
    assert FLOPS_RULES - tested <= elsewhere


def test_formulas_have_symbols() -> None:
    by_id = {p[0]: p[1] for p in PARAMS}
    symbolic = {
        "Conv2DTranspose": "(k_h×k_w×c_in+1)×c_out",
        "DepthwiseConv2D": "(k_h×k_w+1)×c_in×m",
        "SeparableConv2D": "depthwise k_h×k_w×c_in×m + pointwise c_in×m×c_out + bias c_out",
        "EinsumDense": "kernel c×d + bias d",
        "Embedding": "V×d",
        "LSTM": "4×(n_in×u+u×u+u)",
        "GRU reset_after": "3×(n_in×u+u×u+2×u)",
        "MultiHeadAttention": "query n_q×h×d_k+h×d_k + key n_k×h×d_k+h×d_k + value n_v×h×d_v+h×d_v"
        " + output h×d_v×n_o+n_o",
    }
    for key, text in symbolic.items():
        formula = derive_params(by_id[key]).formula
        assert formula is not None and formula.symbolic_text == text, key


def test_batch_norm_says_which_weights_are_trainable() -> None:
    derived = derive_params(facts("BatchNormalization", (None, 4, 3), (None, 4, 3), axis=-1))
    assert "moving mean" in derived.explanation.en and "non-trainable" in derived.explanation.en
    assert "不可训练" in derived.explanation.zh and "滑动均值" in derived.explanation.zh


def test_gru_explains_the_doubled_bias() -> None:
    derived = derive_params(facts("GRU", (None, 7, 5), (None, 4), units=4))
    assert "2×3×units" in derived.explanation.en and "2×3×units" in derived.explanation.zh


def test_mha_input_names_decide_query_value_key() -> None:
    # Called as mha(query=q, value=v, key=k): Keras records the tensors sorted by name.
    layer = facts(
        "MultiHeadAttention",
        ((None, 6, 3), (None, 7, 5), (None, 6, 4)),
        (None, 7, 5),
        input_names=("key", "query", "value"),
        num_heads=2,
        key_dim=3,
        value_dim=4,
        use_bias=False,
    )
    assert derive_params(layer).value == 120


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        (facts("Normalization", (None, 7, 5), (None, 7, 5), mean=0.5, variance=2.0), "constants"),
        (
            facts("LayerNormalization", (None, 7, 5), (None, 7, 5), scale=False, center=False),
            "learns nothing",
        ),
    ],
)
def test_configured_away_weights_are_zero(layer: LayerFacts, expected: str) -> None:
    derived = derive_params(layer)
    assert (derived.value, derived.method) == (0, "zero")
    assert expected in derived.explanation.en


ZERO = [
    "UnitNormalization",
    "Rescaling",
    "Dot",
    "RepeatVector",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "GlobalAveragePooling3D",
    "Cropping1D",
    "ZeroPadding3D",
    "Permute",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Subtract",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "Identity",
    "Masking",
    "ActivityRegularization",
    "RandomFlip",
    "Resizing",
    "StochasticDepth",
]


@pytest.mark.parametrize("class_name", ZERO)
def test_zero_parameter_layers_have_a_reason(class_name: str) -> None:
    derived = derive_params(facts(class_name, (None, 4, 4, 3), (None, 4, 4, 3)))
    assert (derived.value, derived.method) == (0, "zero")
    assert class_name in ZERO_PARAM_REASONS
    assert derived.explanation.en.endswith(".") and CJK.search(derived.explanation.zh)


def test_custom_layer_is_generic_never_skipped() -> None:
    derived = derive_params(facts("MyLayer", (None, 3), (None, 4), weights=((3, 4), (4,))))
    assert (derived.value, derived.method) == (16, "generic")


def test_quantized_layer_falls_back_to_generic_with_the_reason() -> None:
    layer = facts(
        "Dense",
        (None, 3),
        (None, 4),
        weights=((3, 4), (4,), (4,)),
        units=4,
        dtype={"class_name": "QuantizedDTypePolicy", "config": {}},
    )
    derived = derive_params(layer)
    assert (derived.value, derived.method) == (20, "generic")
    assert "quantized" in derived.explanation.en


def test_wrapper_of_unknown_layer_is_generic() -> None:
    layer = facts(
        "TimeDistributed",
        (None, 7, 5),
        (None, 7, 3),
        weights=((5, 3),),
        layer={"class_name": "MyLayer", "config": {"name": "x"}},
    )
    assert derive_params(layer).method == "generic"


def test_einsum_output_shape_fills_axes_from_the_input() -> None:
    assert einsum_output_shape("abc,cd->abd", (None, 7, 5), (None, None, 16)) == (None, 7, 16)
    assert normalize_einsum("aecd,abcd->acbe") == "abcd,aecd->aceb"


# ---------------------------------------------------------------- FLOPs


def _rnn(class_name: str, steps: int, unroll: bool = True, **config: Any) -> LayerFacts:
    return facts(class_name, (None, steps, 5), (None, 4), units=4, unroll=unroll, **config)


# (id, facts, TensorFlow profiler float ops at batch 1)
FLOPS = [
    (
        "Conv2DTranspose same s2",
        facts(
            "Conv2DTranspose",
            (None, 5, 5, 3),
            (None, 10, 10, 8),
            filters=8,
            kernel_size=[3, 3],
            strides=[2, 2],
        ),
        11_600,
    ),
    (
        "Conv2DTranspose valid s2",
        facts(
            "Conv2DTranspose",
            (None, 5, 5, 3),
            (None, 11, 11, 8),
            filters=8,
            kernel_size=[3, 3],
            strides=[2, 2],
        ),
        14_036,
    ),
    (
        "Conv1DTranspose",
        facts(
            "Conv1DTranspose", (None, 5, 3), (None, 11, 8), filters=8, kernel_size=[3], strides=[2]
        ),
        880,
    ),
    (
        "Conv3DTranspose",
        facts(
            "Conv3DTranspose",
            (None, 4, 4, 4, 2),
            (None, 9, 9, 9, 4),
            filters=4,
            kernel_size=[3, 3, 3],
            strides=[2, 2, 2],
        ),
        2_916,
    ),
    (
        "DepthwiseConv2D",
        facts(
            "DepthwiseConv2D",
            (None, 5, 5, 3),
            (None, 3, 3, 6),
            kernel_size=[3, 3],
            depth_multiplier=2,
        ),
        1_026,
    ),
    (
        "DepthwiseConv1D",
        facts("DepthwiseConv1D", (None, 5, 3), (None, 3, 6), kernel_size=[3], depth_multiplier=2),
        126,
    ),
    (
        "SeparableConv2D",
        facts(
            "SeparableConv2D",
            (None, 5, 5, 3),
            (None, 3, 3, 8),
            filters=8,
            kernel_size=[3, 3],
            depth_multiplier=2,
        ),
        1_908,
    ),
    (
        "SeparableConv1D",
        facts("SeparableConv1D", (None, 5, 3), (None, 3, 8), filters=8, kernel_size=[3]),
        222,
    ),
    (
        "EinsumDense matmul",
        facts(
            "EinsumDense",
            (None, 7, 5),
            (None, None, 16),
            equation="abc,cd->abd",
            output_shape=[None, 16],
            bias_axes="d",
        ),
        1_232,
    ),
    (
        "EinsumDense 2D relu",
        facts(
            "EinsumDense",
            (None, 5),
            (None, 16),
            equation="ab,bc->ac",
            output_shape=16,
            bias_axes="c",
            activation="relu",
        ),
        176,
    ),
    (
        "EinsumDense ellipsis",
        facts(
            "EinsumDense",
            (None, 7, 5),
            (None, 7, 16),
            equation="...b,bc->...c",
            output_shape=16,
            bias_axes="c",
        ),
        112,
    ),
    (
        "EinsumDense Einsum op",
        facts(
            "EinsumDense",
            (None, 4, 7, 5),
            (None, 4, 7, 3),
            equation="abcd,de->abce",
            output_shape=[None, None, 3],
        ),
        0,
    ),
    ("Embedding", facts("Embedding", (None, 7), (None, 7, 8), input_dim=100, output_dim=8), 14),
    ("BatchNormalization", facts("BatchNormalization", (None, 5, 5, 3), (None, 5, 5, 3)), 168),
    (
        "BatchNormalization plain",
        facts("BatchNormalization", (None, 5, 5, 3), (None, 5, 5, 3), center=False, scale=False),
        165,
    ),
    (
        "BatchNormalization center only",
        facts("BatchNormalization", (None, 5, 5, 3), (None, 5, 5, 3), scale=False),
        165,
    ),
    (
        "BatchNormalization scale only",
        facts("BatchNormalization", (None, 5, 5, 3), (None, 5, 5, 3), center=False),
        168,
    ),
    ("LayerNormalization", facts("LayerNormalization", (None, 7, 5), (None, 7, 5)), 343),
    (
        "LayerNormalization scale only",
        facts("LayerNormalization", (None, 7, 5), (None, 7, 5), center=False),
        308,
    ),
    (
        "LayerNormalization center only",
        facts("LayerNormalization", (None, 7, 5), (None, 7, 5), scale=False),
        280,
    ),
    (
        "LayerNormalization plain",
        facts("LayerNormalization", (None, 7, 5), (None, 7, 5), scale=False, center=False),
        245,
    ),
    (
        "LayerNormalization rms",
        facts("LayerNormalization", (None, 7, 5), (None, 7, 5), rms_scaling=True),
        231,
    ),
    (
        "GroupNormalization",
        facts("GroupNormalization", (None, 5, 5, 4), (None, 5, 5, 4), groups=2),
        620,
    ),
    (
        "GroupNormalization plain",
        facts(
            "GroupNormalization",
            (None, 5, 5, 4),
            (None, 5, 5, 4),
            groups=2,
            center=False,
            scale=False,
        ),
        610,
    ),
    ("UnitNormalization", facts("UnitNormalization", (None, 7, 5), (None, 7, 5)), 119),
    ("Normalization", facts("Normalization", (None, 7, 5), (None, 7, 5), axis=[-1]), 75),
    ("Rescaling", facts("Rescaling", (None, 5, 5, 3), (None, 5, 5, 3), scale=1 / 255), 150),
    ("PReLU", facts("PReLU", (None, 7, 5), (None, 7, 5)), 140),
    ("ReLU6", facts("ReLU", (None, 7, 5), (None, 7, 5), max_value=6.0), 0),
    ("LeakyReLU", facts("LeakyReLU", (None, 7, 5), (None, 7, 5)), 0),
    ("ELU", facts("ELU", (None, 7, 5), (None, 7, 5), alpha=1.0), 0),
    ("hard_swish", facts("Activation", (None, 7, 5), (None, 7, 5), activation="hard_swish"), 105),
    ("SimpleRNN", _rnn("SimpleRNN", 7), 560),
    ("LSTM", _rnn("LSTM", 7), 2_352),
    ("GRU", _rnn("GRU", 7), 1_904),
    ("GRU reset_before", _rnn("GRU", 7, reset_after=False), 1_820),
    ("SimpleRNN no bias", _rnn("SimpleRNN", 3, use_bias=False), 228),
    ("LSTM no bias", _rnn("LSTM", 3, use_bias=False), 960),
    ("GRU no bias", _rnn("GRU", 3, use_bias=False), 744),
    ("GRU reset_before no bias", _rnn("GRU", 3, use_bias=False, reset_after=False), 744),
    # Without unroll the profiler sees only the one step Keras computes before its While loop.
    ("SimpleRNN loop", _rnn("SimpleRNN", 7, unroll=False), 80),
    ("LSTM loop", _rnn("LSTM", 7, unroll=False), 336),
    ("GRU loop", _rnn("GRU", 7, unroll=False), 272),
    (
        "Bidirectional LSTM loop",
        facts("Bidirectional", (None, 7, 5), (None, 8), layer=LSTM4_LOOP, merge_mode="concat"),
        672,
    ),
    (
        "Bidirectional LSTM",
        facts("Bidirectional", (None, 7, 5), (None, 8), layer=LSTM4, merge_mode="concat"),
        4_704,
    ),
    (
        "Bidirectional sum",
        facts("Bidirectional", (None, 3, 5), (None, 4), layer=SRNN4, merge_mode="sum"),
        484,
    ),
    (
        "Bidirectional ave",
        facts("Bidirectional", (None, 3, 5), (None, 4), layer=SRNN4, merge_mode="ave"),
        488,
    ),
    (
        "TimeDistributed Dense",
        facts(
            "TimeDistributed",
            (None, 7, 5),
            (None, 7, 3),
            layer={"class_name": "Dense", "config": {"name": "d", "units": 3}},
        ),
        231,
    ),
    (
        "TimeDistributed Conv2D",
        facts(
            "TimeDistributed",
            (None, 2, 5, 5, 2),
            (None, 2, 3, 3, 3),
            layer={
                "class_name": "Conv2D",
                "config": {"name": "c", "filters": 3, "kernel_size": [3, 3]},
            },
        ),
        1_998,
    ),
    (
        "MultiHeadAttention self",
        facts(
            "MultiHeadAttention", ((None, 7, 5), (None, 7, 5)), (None, 7, 5), num_heads=2, key_dim=3
        ),
        2_429,
    ),
    (
        "MultiHeadAttention no bias",
        facts(
            "MultiHeadAttention",
            ((None, 7, 5), (None, 6, 4), (None, 6, 3)),
            (None, 7, 5),
            num_heads=2,
            key_dim=3,
            value_dim=4,
            use_bias=False,
        ),
        2_084,
    ),
    (
        "MultiHeadAttention dropout",
        facts(
            "MultiHeadAttention",
            ((None, 7, 5), (None, 6, 4)),
            (None, 7, 5),
            num_heads=2,
            key_dim=3,
            dropout=0.1,
        ),
        3_035,
    ),
    (
        "MultiHeadAttention gate",
        facts(
            "MultiHeadAttention",
            ((None, 7, 5), (None, 6, 4)),
            (None, 7, 5),
            num_heads=2,
            key_dim=3,
            use_gate=True,
        ),
        2_573,
    ),
    (
        "MultiHeadAttention output_shape",
        facts(
            "MultiHeadAttention",
            ((None, 7, 5), (None, 6, 4)),
            (None, 7, 9),
            num_heads=2,
            key_dim=3,
            output_shape=[9],
        ),
        2_433,
    ),
    ("Average", facts("Average", ((None, 7, 5),) * 3, (None, 7, 5)), 105),
    ("Maximum", facts("Maximum", ((None, 7, 5),) * 3, (None, 7, 5)), 70),
    ("Minimum", facts("Minimum", ((None, 7, 5),) * 2, (None, 7, 5)), 35),
    ("Dot", facts("Dot", ((None, 7, 5), (None, 6, 5)), (None, 7, 6), axes=2), 420),
    ("Dot vectors", facts("Dot", ((None, 5), (None, 5)), (None, 1), axes=1), 10),
    ("Dot normalize", facts("Dot", ((None, 5), (None, 5)), (None, 1), axes=1, normalize=True), 44),
    ("UpSampling2D", facts("UpSampling2D", (None, 5, 5, 3), (None, 10, 10, 3), size=[2, 2]), 2),
    (
        "UpSampling2D bilinear",
        facts(
            "UpSampling2D",
            (None, 5, 5, 3),
            (None, 10, 10, 3),
            size=[2, 2],
            interpolation="bilinear",
        ),
        0,
    ),
    ("UpSampling1D", facts("UpSampling1D", (None, 5, 3), (None, 10, 3), size=2), 1),
    (
        "UpSampling3D",
        facts("UpSampling3D", (None, 3, 3, 3, 2), (None, 6, 6, 6, 2), size=[2, 2, 2]),
        3,
    ),
    ("RepeatVector", facts("RepeatVector", (None, 5), (None, 3, 5), n=3), 1),
    ("AveragePooling1D", facts("AveragePooling1D", (None, 6, 3), (None, 3, 3), pool_size=[2]), 18),
    ("Attention", facts("Attention", ((None, 7, 5), (None, 6, 5)), (None, 7, 5)), 1_050),
    (
        "Attention scale",
        facts("Attention", ((None, 7, 5), (None, 6, 5)), (None, 7, 5), use_scale=True),
        1_092,
    ),
    (
        "Attention concat",
        facts("Attention", ((None, 7, 5), (None, 6, 5)), (None, 7, 5), score_mode="concat"),
        1_050,
    ),
    (
        "Attention concat scale",
        facts(
            "Attention",
            ((None, 7, 5), (None, 6, 5)),
            (None, 7, 5),
            use_scale=True,
            score_mode="concat",
        ),
        1_260,
    ),
    (
        "Attention query value key",
        facts("Attention", ((None, 7, 5), (None, 6, 4), (None, 6, 5)), (None, 7, 4)),
        966,
    ),
    (
        "AdditiveAttention",
        facts("AdditiveAttention", ((None, 7, 5), (None, 6, 5)), (None, 7, 5), use_scale=True),
        1_218,
    ),
    (
        "AdditiveAttention no scale",
        facts("AdditiveAttention", ((None, 7, 5), (None, 6, 5)), (None, 7, 5), use_scale=False),
        1_218,
    ),
    (
        "AdditiveAttention query value key",
        facts("AdditiveAttention", ((None, 7, 5), (None, 6, 4), (None, 6, 5)), (None, 7, 4)),
        1_134,
    ),
    ("Masking", facts("Masking", (None, 7, 5), (None, 7, 5), mask_value=0.0), 35),
    (
        "ActivityRegularization l1",
        facts("ActivityRegularization", (None, 7, 5), (None, 7, 5), l1=0.01, l2=0.0),
        36,
    ),
    (
        "ActivityRegularization l2",
        facts("ActivityRegularization", (None, 7, 5), (None, 7, 5), l1=0.0, l2=0.01),
        71,
    ),
    (
        "ActivityRegularization l1 l2",
        facts("ActivityRegularization", (None, 7, 5), (None, 7, 5), l1=0.01, l2=0.02),
        107,
    ),
    (
        "ActivityRegularization none",
        facts("ActivityRegularization", (None, 7, 5), (None, 7, 5), l1=0.0, l2=0.0),
        0,
    ),
    ("Resizing", facts("Resizing", (None, 8, 6, 3), (None, 4, 3, 3), height=4, width=3), 0),
    ("Subtract", facts("Subtract", ((None, 7, 5),) * 2, (None, 7, 5)), 35),
    ("Multiply", facts("Multiply", ((None, 7, 5),) * 3, (None, 7, 5)), 70),
    ("GlobalMaxPooling1D", facts("GlobalMaxPooling1D", (None, 6, 3), (None, 3)), 0),
    ("GlobalMaxPooling3D", facts("GlobalMaxPooling3D", (None, 2, 6, 6, 3), (None, 3)), 0),
    ("LayerScale", facts("LayerScale", (None, 7, 5), (None, 7, 5), projection_dim=5), 35),
    (
        "CustomScaleLayer",
        facts("CustomScaleLayer", ((None, 7, 5),) * 2, (None, 7, 5), scale=0.17),
        70,
    ),
]


@pytest.mark.parametrize(("layer", "expected"), [f[1:] for f in FLOPS], ids=[f[0] for f in FLOPS])
def test_flops_equal_tensorflows_profiler(layer: LayerFacts, expected: int) -> None:
    derived = derive_flops(layer, 1)
    assert derived.value == expected
    if derived.formula is not None:
        assert printed_value(derived.formula.text) == expected
    assert derived.explanation.en and CJK.search(derived.explanation.zh)


def test_flops_scale_with_batch() -> None:
    for _, layer, expected in FLOPS:
        if layer.class_name in ("UpSampling1D", "UpSampling2D", "UpSampling3D", "RepeatVector"):
            continue  # the profiler's one scalar Mul per axis does not grow with the batch
        derived = derive_flops(layer, 2)
        assert derived.value is not None and expected <= derived.value <= 2 * expected, layer.name


def test_batch_independent_terms_do_not_double() -> None:
    # Batch norm folds its statistics once per pass: 2×75 per value doubles, 18 does not.
    layer = facts("BatchNormalization", (None, 5, 5, 3), (None, 5, 5, 3))
    assert derive_flops(layer, 2).value == 2 * 150 + 18


def test_recurrent_flops_say_what_the_profiler_misses() -> None:
    derived = derive_flops(_rnn("LSTM", 7, unroll=False), 1)
    assert "While" in derived.explanation.en and "While" in derived.explanation.zh
    assert "2,352 FLOPs of real work" in derived.explanation.en  # 7 steps × 336
    assert "2,352" in derived.explanation.zh
    unrolled = derive_flops(_rnn("LSTM", 7), 1)
    assert "counts every one" in unrolled.explanation.en


def test_attention_einsums_are_named_as_uncounted() -> None:
    layer = facts(
        "MultiHeadAttention", ((None, 7, 5), (None, 7, 5)), (None, 7, 5), num_heads=2, key_dim=3
    )
    explanation = derive_flops(layer, 1).explanation
    assert "Einsum" in explanation.en and "Einsum" in explanation.zh


@pytest.mark.parametrize(
    "layer",
    [
        facts("ReLU", (None, 7, 5), (None, 7, 5), threshold=0.5),
        facts("ELU", (None, 7, 5), (None, 7, 5), alpha=0.5),
        facts(
            "MultiHeadAttention",
            ((None, 2, 7, 5), (None, 2, 7, 5)),
            (None, 2, 7, 5),
            num_heads=2,
            key_dim=3,
        ),
        facts(
            "Conv2DTranspose",
            (None, 3, 5, 5),
            (None, 8, 7, 7),
            filters=8,
            kernel_size=[3, 3],
            data_format="channels_first",
        ),
        facts("LSTM", (None, None, 5), (None, 4), units=4),
        facts("Attention", ((None, 2, 7, 5), (None, 2, 6, 5)), (None, 2, 7, 5)),
        facts(
            "Resizing",
            (None, 8, 6, 3),
            (None, 4, 4, 3),
            height=4,
            width=4,
            crop_to_aspect_ratio=True,
        ),
        facts("Lambda", (None, 7, 5), (None, 7, 5)),
        facts("RandomHue", (None, 8, 6, 3), (None, 8, 6, 3), factor=0.5),
    ],
    ids=[
        "relu-threshold",
        "elu-alpha",
        "mha-rank4",
        "channels-first",
        "unknown-steps",
        "attention-rank4",
        "resizing-crop",
        "lambda",
        "random-settings",
    ],
)
def test_underivable_flops_are_none_with_a_reason(layer: LayerFacts) -> None:
    derived = derive_flops(layer, 1)
    assert derived.value is None and derived.method == "unknown"
    assert derived.explanation.en and CJK.search(derived.explanation.zh)


# ---------------------------------------------------------------- shared layers and dtypes


def _shared_dense() -> LayerFacts:
    base = facts("Dense", (None, 7, 4), (None, 7, 4), weights=((4, 4), (4,)), units=4)
    return dataclasses.replace(
        base,
        calls=2,
        call_input_shapes=(((None, 7, 4),), ((None, 7, 4),)),
        call_output_shapes=(((None, 7, 4),), ((None, 7, 4),)),
    )


def test_shared_layer_counts_weights_once_and_outputs_per_call() -> None:
    layer = _shared_dense()
    assert derive_params(layer).value == 20
    memory = derive_activation(layer, 1)
    assert memory.value == 2 * 7 * 4 * 4
    assert memory.formula is not None and memory.formula.text.startswith("2×7×4×4 B")
    assert "shared" in memory.explanation.en and "共享层" in memory.explanation.zh
    flops = derive_flops(layer, 1)
    assert flops.value == 2 * (2 * 4 * 4 * 7 + 7 * 4)
    assert "shared" in flops.explanation.en


def test_shared_layer_in_report() -> None:
    layers = (*lenet_facts().layers, _shared_dense())
    report = derive_model(lenet_facts(layers=layers))
    shared = report.layers[-1]
    assert shared.shared and shared.calls == 2 and shared.params_match
    assert not report.layers[1].shared


def test_output_bytes_follow_each_outputs_dtype() -> None:
    layer = dataclasses.replace(
        facts("InputLayer", (None, 12), (None, 12)),
        compute_dtype="float32",
        output_dtypes=("int64",),
    )
    assert derive_activation(layer, 1).value == 12 * 8
    mixed = dataclasses.replace(
        facts("Dense", (None, 36), (None, 2), units=2),
        compute_dtype="float16",
        variable_dtype="float32",
        output_dtypes=("float16",),
    )
    assert derive_activation(mixed, 3).value == 3 * 2 * 2


def test_mixed_precision_param_bytes_use_the_variable_dtype() -> None:
    layer = dataclasses.replace(
        facts("Dense", (None, 36), (None, 2), weights=((36, 2), (2,)), units=2),
        compute_dtype="float16",
        variable_dtype="float32",
        output_dtypes=("float16",),
    )
    report = derive_model(lenet_facts(layers=(*lenet_facts().layers, layer)))
    row = report.layers[-1]
    assert (row.param_bytes, row.variable_dtype, row.dtype) == (74 * 4, "float32", "float16")
    assert row.activation.value == 2 * 2


def test_nested_layer_keeps_its_parent() -> None:
    inner = dataclasses.replace(
        facts("Dense", (None, 8), (None, 4), weights=((8, 4), (4,)), units=4), parent="encoder"
    )
    report = derive_model(lenet_facts(layers=(*lenet_facts().layers, inner)))
    assert report.layers[-1].parent == "encoder" and report.layers[0].parent is None
