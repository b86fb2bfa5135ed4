"""Derived numbers against Keras and TensorFlow on real architectures (marked ``tf``).

- ``keras.applications`` VGG16, ResNet50, MobileNetV2 and EfficientNetB0 (``weights=None``):
  every layer's derived parameters equal its ``count_params()``, none generic.
- FLOPs: the derived model total agrees with TensorFlow's profiler within 1 % on LeNet,
  ResNet50 and MobileNetV2 (it is exact on all three).
- One model with a layer of every kind reportgen has a FLOPs rule for: every layer's FLOPs
  equal the profiler's count of that layer's ops.
- A functional model with a nested Sequential and a nested functional model, a shared
  layer, Embedding + Bidirectional(LSTM) + GRU, MultiHeadAttention with and without bias,
  LayerNormalization and a mixed_float16 Dense.

Each model is built once (module scope) and dropped once its numbers are taken.
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass
from typing import Any

import pytest

from reportgen.config import ModelSpec
from reportgen.derive import derive_model
from reportgen.facts import ModelFacts
from reportgen.model import ModelReport

pytestmark = pytest.mark.tf

APPLICATIONS = ("VGG16", "ResNet50", "MobileNetV2", "EfficientNetB0")
FLOPS_CHECKED = ("ResNet50", "MobileNetV2")


def spec(slug: str, batch_size: int = 1) -> ModelSpec:
    return ModelSpec(slug=slug, source="tests", title_en=slug, title_zh=slug, batch_size=batch_size)


def collect(model: Any, slug: str, batch_size: int = 1) -> ModelFacts:
    """Facts as the worker would write and the renderer read them (through JSON)."""
    from reportgen.collect.keras_facts import model_facts

    facts = model_facts(model, spec(slug, batch_size))
    return ModelFacts.from_dict(json.loads(facts.to_json()))


@dataclass
class Collected:
    facts: ModelFacts
    report: ModelReport
    count_params: int
    profiler_flops: int | None


@pytest.fixture(scope="module")
def applications() -> dict[str, Collected]:
    import keras

    from reportgen.collect.graph_run import measure_graph

    found = {}
    for name in APPLICATIONS:
        model = getattr(keras.applications, name)(weights=None)
        facts = collect(model, name.lower())
        profiler = measure_graph(model, 1)[1].total if name in FLOPS_CHECKED else None
        found[name] = Collected(facts, derive_model(facts), int(model.count_params()), profiler)
        del model
        keras.backend.clear_session()
        gc.collect()
    return found


@pytest.mark.parametrize("name", APPLICATIONS)
def test_every_layer_equals_keras_and_none_is_generic(
    applications: dict[str, Collected], name: str
) -> None:
    collected = applications[name]
    report = collected.report
    for layer in report.layers:
        assert layer.params.value == layer.keras_params, (name, layer.name, layer.class_name)
        assert layer.params.method in ("formula", "zero"), (name, layer.name, layer.class_name)
    assert report.totals.params == collected.count_params
    assert report.totals.params_match
    assert report.mismatches == ()


def test_batch_norm_statistics_are_non_trainable(applications: dict[str, Collected]) -> None:
    report = applications["ResNet50"].report
    bn = next(layer for layer in report.layers if layer.class_name == "BatchNormalization")
    assert bn.trainable_params == bn.non_trainable_params == bn.params.value // 2
    assert report.totals.non_trainable_params == 53_120


def flops_total(report: ModelReport) -> int:
    assert all(layer.flops is not None and layer.flops.value is not None for layer in report.layers)
    return report.totals.flops or 0


@pytest.mark.parametrize("name", FLOPS_CHECKED)
def test_flops_within_one_percent_of_the_profiler(
    applications: dict[str, Collected], name: str
) -> None:
    collected = applications[name]
    profiler = collected.profiler_flops
    assert profiler
    assert abs(flops_total(collected.report) - profiler) <= 0.01 * profiler


def test_lenet_flops_equal_the_profiler(lenet_model: Any) -> None:
    from reportgen.collect.graph_run import measure_graph

    report = derive_model(collect(lenet_model, "lenet"))
    assert flops_total(report) == measure_graph(lenet_model, 1)[1].total == 27_844_156


# ---------------------------------------------------------------- one layer of every kind


def kitchen_sink() -> Any:
    """A layer of every kind with a FLOPs rule (recurrences both unrolled and in a loop)."""
    import keras
    from keras import layers as L

    img = keras.Input((8, 8, 4), name="img")
    seq = keras.Input((6, 5), name="seq")
    tok = keras.Input((6,), dtype="int32", name="tok")
    outs = []

    def add(tensor: Any) -> None:
        outs.append(L.Flatten()(tensor) if len(tensor.shape) > 2 else tensor)

    add(L.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu", name="ct")(img))
    add(L.Conv2DTranspose(3, 3, strides=2, padding="valid", name="ct_valid")(img))
    add(L.Conv1DTranspose(3, 3, strides=2, name="ct1d")(seq))
    add(L.Conv3DTranspose(2, 2, name="ct3d")(L.Reshape((2, 4, 8, 4), name="r3")(img)))
    add(L.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(img))
    add(L.DepthwiseConv1D(3, use_bias=False, name="dw1")(seq))
    add(L.SeparableConv2D(5, 3, depth_multiplier=2, activation="swish", name="sep")(img))
    add(L.SeparableConv1D(4, 2, name="sep1")(seq))
    add(L.EinsumDense("abc,cd->abd", output_shape=(None, 7), bias_axes="d", name="ein")(seq))
    add(L.EinsumDense("abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de", name="e2")(seq))
    add(L.EinsumDense("...b,bc->...c", output_shape=4, bias_axes="c", name="ein_ell")(seq))
    add(L.Embedding(50, 3, name="emb")(tok))
    add(L.BatchNormalization(name="bn")(img))
    add(L.BatchNormalization(scale=False, name="bn_c")(img))
    add(L.BatchNormalization(center=False, name="bn_s")(img))
    add(L.LayerNormalization(name="ln")(seq))
    add(L.LayerNormalization(center=False, name="ln_s")(seq))
    add(L.LayerNormalization(axis=(1, 2), name="ln_12")(seq))
    add(L.GroupNormalization(groups=2, name="gn")(img))
    add(L.GroupNormalization(groups=2, center=False, name="gn_s")(img))
    add(L.GroupNormalization(groups=2, scale=False, name="gn_c")(img))
    add(L.UnitNormalization(name="un")(seq))
    add(L.Normalization(name="norm")(seq))
    add(L.Normalization(mean=0.5, variance=2.0, name="norm_c")(seq))
    add(L.Rescaling(1 / 255.0, name="resc")(img))
    add(L.PReLU(shared_axes=[1], name="prelu")(seq))
    add(L.ReLU(max_value=6.0, name="relu6")(seq))
    add(L.LeakyReLU(name="lrelu")(seq))
    add(L.ELU(name="elu")(seq))
    add(L.Activation("hard_swish", name="hswish")(seq))
    add(L.Average(name="avg")([seq, seq, seq]))
    add(L.Maximum(name="max")([seq, seq]))
    add(L.Minimum(name="min")([seq, seq, seq]))
    add(L.Subtract(name="sub")([seq, seq]))
    add(L.Dot(axes=2, name="dot")([seq, seq]))
    flat = L.Flatten(name="f1")(seq)
    add(L.Dot(axes=1, normalize=True, name="dotn")([flat, flat]))
    add(L.UpSampling2D(2, name="up2")(img))
    add(L.UpSampling2D(2, interpolation="bilinear", name="up2b")(img))
    add(L.UpSampling1D(2, name="up1")(seq))
    add(L.RepeatVector(3, name="rep")(flat))
    add(L.SimpleRNN(4, unroll=True, name="srnn")(seq))
    add(L.LSTM(4, unroll=True, return_sequences=True, name="lstm")(seq))
    add(L.GRU(4, unroll=True, name="gru")(seq))
    add(L.LSTM(4, name="lstm_loop")(seq))
    add(L.GRU(4, return_sequences=True, name="gru_loop")(seq))
    add(L.GRU(4, unroll=True, reset_after=False, use_bias=False, name="gru_f")(seq))
    add(L.Bidirectional(L.LSTM(3, unroll=True), name="bi")(seq))
    add(L.Bidirectional(L.GRU(3, unroll=True), merge_mode="ave", name="bi_ave")(seq))
    add(L.TimeDistributed(L.Dense(3, activation="softmax"), name="td")(seq))
    add(L.TimeDistributed(L.Conv2D(2, 3), name="td_conv")(L.Reshape((2, 8, 4, 4), name="r5")(img)))
    add(L.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")(seq, seq))
    kv = L.Dense(4, name="kv")(seq)
    add(
        L.MultiHeadAttention(
            num_heads=2, key_dim=3, value_dim=2, use_bias=False, output_shape=7, name="mha_nb"
        )(seq, kv)
    )
    add(L.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.1, name="mha_drop")(seq, seq))
    add(
        L.MultiHeadAttention(num_heads=2, key_dim=3, use_gate=True, name="mha_gate")(
            query=seq, value=kv, key=seq
        )
    )
    from keras.src.applications.convnext import LayerScale
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    add(CustomScaleLayer(0.17, name="cscale")([seq, seq]))
    add(LayerScale(1e-6, 5, name="lscale")(seq))
    add(L.AveragePooling1D(2, name="ap1")(seq))
    add(L.GlobalMaxPooling2D(name="gmp")(img))
    shared = L.Dense(5, name="shared")
    add(shared(shared(seq)))
    return keras.Model([img, seq, tok], L.Concatenate(name="cat")(outs))


@pytest.fixture(scope="module")
def sink() -> tuple[ModelReport, dict[str, int], int]:
    import keras

    from reportgen.collect.graph_run import measure_graph

    model = kitchen_sink()
    report = derive_model(collect(model, "sink", batch_size=2))
    flops = measure_graph(model, 2)[1]
    del model
    keras.backend.clear_session()
    return report, flops.by_layer, flops.total


def test_every_kind_of_layer_costs_what_the_profiler_counts(
    sink: tuple[ModelReport, dict[str, int], int],
) -> None:
    report, by_layer, total = sink
    wrong = [
        (layer.name, layer.flops.value if layer.flops else None, by_layer.get(layer.name, 0))
        for layer in report.layers
        if layer.flops is None or layer.flops.value != by_layer.get(layer.name, 0)
    ]
    assert wrong == []
    assert flops_total(report) == total


def test_every_kind_of_layer_has_keras_parameters(
    sink: tuple[ModelReport, dict[str, int], int],
) -> None:
    report = sink[0]
    assert [layer.name for layer in report.layers if not layer.params_match] == []
    assert [layer.name for layer in report.layers if layer.params.method == "generic"] == []
    assert report.totals.params_match


# ---------------------------------------------------------------- nested, shared, mixed


@pytest.fixture(scope="module")
def nested() -> tuple[ModelFacts, ModelReport, int, int]:
    import keras
    from keras import layers as L

    tokens = keras.Input((12,), dtype="int32", name="tokens")
    x = L.Embedding(100, 16, name="emb")(tokens)
    x = L.Bidirectional(L.LSTM(8, return_sequences=True), name="bilstm")(x)
    x = L.GRU(8, return_sequences=True, name="gru")(x)
    att = L.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(query=x, value=x, key=x)
    plain = L.MultiHeadAttention(num_heads=2, key_dim=4, use_bias=False, name="mha_nb")(x, att)
    luong = L.Attention(use_scale=True, score_mode="concat", name="luong")([x, x])
    bahdanau = L.AdditiveAttention(name="bahdanau")([x, x])
    x = L.LayerNormalization(name="ln")(L.Add(name="add")([att, plain, luong, bahdanau]))
    inner = keras.Sequential(
        [L.Dense(6, activation="relu", name="seq_d1"), L.Dense(4, name="seq_d2")], name="inner_seq"
    )
    shared = L.Dense(4, name="shared")
    y = shared(shared(inner(x)))
    f_in = keras.Input((12, 4))
    func = keras.Model(f_in, L.Dense(3, name="func_d")(f_in), name="inner_func")
    z = L.Flatten(name="flat")(func(y))
    out = L.Dense(2, dtype="mixed_float16", name="mixed")(z)
    model = keras.Model(tokens, out)
    facts = collect(model, "nested", batch_size=3)
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    count = int(model.count_params())
    del model
    keras.backend.clear_session()
    return facts, derive_model(facts), count, trainable


def test_nested_models_are_expanded_and_counted_once(
    nested: tuple[ModelFacts, ModelReport, int, int],
) -> None:
    facts, report, count_params, trainable = nested
    classes = {layer.class_name for layer in report.layers}
    assert not classes & {"Sequential", "Functional"}
    parents = {layer.name: layer.parent for layer in report.layers}
    assert parents["seq_d1"] == parents["seq_d2"] == "inner_seq"
    assert parents["func_d"] == "inner_func" and parents["emb"] is None
    assert [layer.name for layer in report.layers if layer.params.method == "generic"] == []
    assert all(layer.params_match for layer in report.layers)
    assert report.totals.params == count_params == facts.keras_params
    assert report.totals.trainable_params == trainable
    assert report.mismatches == ()


def test_shared_layer_is_counted_once_and_said_to_be_shared(
    nested: tuple[ModelFacts, ModelReport, int, int],
) -> None:
    report = nested[1]
    shared = next(layer for layer in report.layers if layer.name == "shared")
    assert shared.shared and shared.calls == 2 and shared.params.value == 20
    assert shared.activation.value == 2 * 3 * 12 * 4 * 4
    assert sum(1 for layer in report.layers if layer.name == "shared") == 1
    assert not any(layer.shared for layer in report.layers if layer.name != "shared")


def test_attention_inputs_are_named(nested: tuple[ModelFacts, ModelReport, int, int]) -> None:
    facts = nested[0]
    by_name = {layer.name: layer for layer in facts.layers}
    assert by_name["mha"].input_names == ("query", "value", "key")
    assert by_name["mha_nb"].input_names == ("query", "value")
    assert by_name["tokens"].output_dtypes == ("int32",)


def test_mixed_float16_layer_bytes(nested: tuple[ModelFacts, ModelReport, int, int]) -> None:
    report = nested[1]
    mixed = next(layer for layer in report.layers if layer.name == "mixed")
    assert (mixed.dtype, mixed.variable_dtype) == ("float16", "float32")
    assert mixed.activation.value == 3 * 2 * 2  # batch 3, 2 float16 outputs
    assert mixed.param_bytes == (36 * 2 + 2) * 4  # float32 weights
    assert report.training is not None
    assert report.training.part("gradients").bytes.value == report.totals.trainable_params * 4
