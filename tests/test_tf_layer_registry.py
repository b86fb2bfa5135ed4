"""The layer registry against the installed Keras and TensorFlow's profiler (marked ``tf``).

- Every layer class ``keras.layers`` exports has an explicit decision in the registry
  (``reportgen/derive/layers/``): a parameter rule, a reason for 0 or the generic count,
  and a FLOPs rule, a reason for 0 or a reason for giving no figure; or it is in
  :data:`NOT_LAYER_KINDS`, with the reason it can never be a row of a model's report.
- The kinds whose FLOPs were decided with the registry (Attention, AdditiveAttention,
  Masking, ActivityRegularization, the pass-through and augmentation layers…) cost what
  TensorFlow's profiler counts for their ops, layer by layer, at batch 2.
"""

from __future__ import annotations

import gc
import inspect
import json
import warnings
from typing import Any

import pytest

from reportgen.config import ModelSpec
from reportgen.derive import derive_model
from reportgen.derive.layers import KINDS
from reportgen.facts import ModelFacts
from reportgen.model import ModelReport

pytestmark = pytest.mark.tf

NOT_LAYER_KINDS = {
    "Layer": "the base class of every layer; a model's rows are its subclasses",
    "Wrapper": "the base class of Bidirectional, TimeDistributed and SpectralNormalization",
    "SimpleRNNCell": "a cell runs inside an RNN layer, which is the model's row",
    "LSTMCell": "a cell runs inside an RNN layer, which is the model's row",
    "GRUCell": "a cell runs inside an RNN layer, which is the model's row",
    "StackedRNNCells": "cells stacked inside an RNN layer, which is the model's row",
    "JaxLayer": "wraps JAX code and runs with the JAX backend only, never under TensorFlow",
    "FlaxLayer": "wraps a Flax module and runs with the JAX backend only",
    "TorchModuleWrapper": "wraps a PyTorch module and runs with the torch backend only",
}
"""Classes ``keras.layers`` exports that need no decision, and why. Aliases
(``Convolution2D``, ``MaxPool2D``, ``GroupQueryAttention``) are the same classes as the
names the registry declares, so they need no entry."""


def keras_layer_classes() -> dict[str, type]:
    """Each layer class exported by ``keras.layers``, by its own class name."""
    import keras

    found = {}
    for name in dir(keras.layers):
        value = getattr(keras.layers, name)
        is_layer = inspect.isclass(value) and issubclass(value, keras.layers.Layer)
        if is_layer and not name.startswith("_"):
            found[value.__name__] = value
    return found


HUB_NOT_LAYER_KINDS = {
    "ImageConverter": "resizes and rescales images before the backbone, in the data pipeline",
    "AudioConverter": "turns audio into features before the backbone, in the data pipeline",
    "VideoConverter": "turns video frames into inputs before the backbone, in the data pipeline",
    "PreprocessingLayer": "packs, masks or edits token sequences before the backbone",
    "AnchorGenerator": "makes a detector's anchor boxes outside the backbone's forward pass",
    "BoxMatcher": "matches boxes to labels for training a detector, outside the backbone",
    "NonMaxSuppression": "filters a detector's boxes after the backbone",
}
"""Base classes of the layers ``keras_hub.layers`` exports that are never a backbone's row,
and why: a class deriving from one of them needs no decision."""


def hub_layer_classes() -> dict[str, type]:
    """Each layer class exported by ``keras_hub.layers``, by its own class name, less those
    deriving from a class in :data:`HUB_NOT_LAYER_KINDS`."""
    import keras
    import keras_hub

    found = {}
    for name in dir(keras_hub.layers):
        value = getattr(keras_hub.layers, name)
        if not (inspect.isclass(value) and issubclass(value, keras.layers.Layer)):
            continue
        bases = {base.__name__ for base in value.__mro__}
        if not bases & set(HUB_NOT_LAYER_KINDS):
            found[value.__name__] = value
    return found


def test_every_keras_hub_layer_has_a_decision() -> None:
    classes = hub_layer_classes()
    assert len(classes) > 10  # the walk found the layers, not an empty namespace
    undecided = sorted(name for name in classes if name not in KINDS)
    assert undecided == [], "declare them in reportgen/derive/layers/hub_*.py"


def test_every_keras_layer_has_a_decision() -> None:
    classes = keras_layer_classes()
    assert len(classes) > 100  # the walk found the layers, not an empty namespace
    undecided = sorted(name for name in classes if name not in KINDS | NOT_LAYER_KINDS)
    assert undecided == [], "declare them in reportgen/derive/layers/, or say why not here"


def test_the_allow_list_names_real_undeclared_classes() -> None:
    classes = keras_layer_classes()
    assert sorted(name for name in NOT_LAYER_KINDS if name not in classes) == []
    assert sorted(name for name in NOT_LAYER_KINDS if name in KINDS) == []


# ---------------------------------------------------------------- against the profiler


def decided_kinds() -> Any:
    """A layer of each kind whose FLOPs the registry decided (rules and zero reasons)."""
    import keras
    from keras import layers as L
    from keras.src.applications.convnext import StochasticDepth

    img = keras.Input((8, 6, 3), name="img")
    seq = keras.Input((7, 5), name="seq")
    keys = keras.Input((6, 5), name="keys")
    values = keras.Input((6, 4), name="values")
    outs = []

    def add(tensor: Any) -> None:
        outs.append(L.Flatten()(tensor) if len(tensor.shape) > 2 else tensor)

    add(L.Attention(name="att")([seq, keys]))
    add(L.Attention(use_scale=True, name="att_scale")([seq, keys]))
    add(L.Attention(use_scale=True, score_mode="concat", name="att_concat")([seq, keys]))
    add(L.Attention(score_mode="concat", name="att_concat_plain")([seq, values, keys]))
    add(L.Attention(name="att_qvk")([seq, values, keys]))
    add(L.AdditiveAttention(name="additive")([seq, keys]))
    add(L.AdditiveAttention(use_scale=False, name="additive_plain")([seq, values, keys]))
    add(L.Masking(name="masking")(seq))
    add(L.ActivityRegularization(l1=0.01, name="act_l1")(seq))
    add(L.ActivityRegularization(l2=0.01, name="act_l2")(seq))
    add(L.ActivityRegularization(l1=0.01, l2=0.02, name="act_l1_l2")(seq))
    add(L.ActivityRegularization(name="act_none")(seq))
    add(L.Identity(name="identity")(seq))
    add(StochasticDepth(0.1, name="stochastic_depth")(seq))
    add(L.Resizing(4, 3, name="resizing")(img))
    add(L.Resizing(16, 12, interpolation="nearest", name="resizing_nearest")(img))
    add(L.CenterCrop(4, 4, name="center_crop")(img))
    add(L.CenterCrop(10, 10, name="center_crop_up")(img))
    add(L.RandomCrop(4, 4, name="random_crop")(img))
    for cls, args in (
        ("RandomFlip", ()),
        ("RandomRotation", (0.1,)),
        ("RandomZoom", (0.1,)),
        ("RandomContrast", (0.1,)),
        ("RandomTranslation", (0.1, 0.1)),
        ("RandomBrightness", (0.1,)),
        ("AugMix", ()),
        ("CutMix", ()),
        ("RandAugment", ()),
        ("RandomColorJitter", ()),
        ("RandomElasticTransform", ()),
        ("RandomErasing", ()),
        ("RandomGaussianBlur", ()),
        ("RandomInvert", ()),
        ("RandomPerspective", ()),
        ("RandomShear", (0.1, 0.1)),
        ("Solarization", (0.5,)),
    ):
        add(getattr(L, cls)(*args, name=cls.lower())(img))
    return keras.Model([img, seq, keys, values], L.Concatenate(name="cat")(outs))


@pytest.fixture(scope="module")
def decided() -> tuple[ModelReport, dict[str, int]]:
    import keras

    from reportgen.collect.graph_run import measure_graph
    from reportgen.collect.keras_facts import model_facts

    spec = ModelSpec(slug="decided", source="tests", title_en="d", title_zh="d", batch_size=2)
    with warnings.catch_warnings():
        # Flattening Masking's output drops its mask, which Keras warns about: intended here.
        warnings.filterwarnings("ignore", "Layer .* was passed an input with a mask")
        model = decided_kinds()
        facts = ModelFacts.from_dict(json.loads(model_facts(model, spec).to_json()))
        flops = measure_graph(model, 2)[1]
    del model
    keras.backend.clear_session()
    gc.collect()
    return derive_model(facts), flops.by_layer


def test_decided_kinds_cost_what_the_profiler_counts(
    decided: tuple[ModelReport, dict[str, int]],
) -> None:
    report, by_layer = decided
    wrong = [
        (layer.name, layer.flops.value if layer.flops else None, by_layer.get(layer.name, 0))
        for layer in report.layers
        if layer.flops is None or layer.flops.value != by_layer.get(layer.name, 0)
    ]
    assert wrong == []


def test_decided_kinds_have_keras_parameters_and_a_family(
    decided: tuple[ModelReport, dict[str, int]],
) -> None:
    report = decided[0]
    assert [layer.name for layer in report.layers if not layer.params_match] == []
    assert [layer.name for layer in report.layers if layer.params.method == "generic"] == []
    assert [layer.name for layer in report.layers if layer.family == "other"] == []
