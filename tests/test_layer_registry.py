"""The layer registry without TensorFlow: each kind's decisions, families and their prose.

``tests/test_tf_layer_registry.py`` checks the registry against the installed Keras (every
layer class has a decision) and the newly decided kinds against TensorFlow's profiler.
"""

from __future__ import annotations

import re

import pytest

from reportgen.derive.layers import KINDS, derive_flops, derive_params
from reportgen.derive.layers.registry import NotDerived, Zero, declare
from reportgen.facts import LayerFacts, Shape
from reportgen.model import Msg
from reportgen.resources import resource_dir
from tests.test_derive_layers import facts

CJK = re.compile(r"[\u4e00-\u9fff]")
FAMILIES = resource_dir("templates") / "families"


def test_every_family_has_its_prose_and_every_prose_a_family() -> None:
    declared = {kind.family for kind in KINDS.values()} | {"other"}
    partials = {path.stem for path in FAMILIES.glob("*.html")}
    assert declared == partials


def test_reasons_are_catalog_sentences() -> None:
    """A zero or not-derived reason is one whole sentence from the catalog, in any language."""
    for kind in KINDS.values():
        for decision in (kind.params, kind.flops):
            if isinstance(decision, Zero | NotDerived) and decision.reason is not None:
                assert isinstance(decision.reason, Msg), kind.class_name
                assert CJK.search(decision.reason.zh), kind.class_name


def test_a_kind_is_declared_once() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        declare("Conv2D", family="convolution", params=Zero(Msg("x")), flops=NotDerived())


def test_each_kind_names_its_home() -> None:
    assert KINDS["Conv2D"].module == "reportgen.derive.layers.convolution"
    assert KINDS["TimeDistributed"].module == "reportgen.derive.layers.wrappers"
    assert all(kind.module.startswith("reportgen.derive.layers.") for kind in KINDS.values())


IMAGE: Shape = (None, 8, 6, 3)


@pytest.mark.parametrize(
    "class_name",
    [
        "Identity",
        "CenterCrop",
        "RandomFlip",
        "RandomRotation",
        "RandomZoom",
        "RandomContrast",
        "RandomTranslation",
        "RandomCrop",
        "RandomBrightness",
        "StochasticDepth",
    ],
)
def test_pass_through_kinds_cost_nothing_and_say_why(class_name: str) -> None:
    derived = derive_flops(facts(class_name, IMAGE, IMAGE), 2)
    assert (derived.value, derived.method) == (0, "zero")
    assert derived.explanation.en.endswith(".") and CJK.search(derived.explanation.zh)
    params = derive_params(facts(class_name, IMAGE, IMAGE))
    assert (params.value, params.method) == (0, "zero")


@pytest.mark.parametrize(
    ("layer", "why"),
    [
        (facts("Lambda", IMAGE, IMAGE), "arbitrary Python function"),
        (facts("ConvLSTM2D", (None, 4, 8, 8, 3), (None, 8, 8, 4), filters=4), "no rule"),
        (facts("RandomHue", IMAGE, IMAGE, factor=0.5), "random settings"),
    ],
    ids=["lambda", "no-rule-yet", "random-settings"],
)
def test_not_derived_kinds_say_why(layer: LayerFacts, why: str) -> None:
    derived = derive_flops(layer, 1)
    assert (derived.value, derived.method) == (None, "unknown")
    assert why in derived.explanation.en and CJK.search(derived.explanation.zh)


def test_undeclared_kind_is_generic_and_not_derived() -> None:
    layer = facts("MyOwnLayer", (None, 3), (None, 4), weights=((3, 4),))
    assert derive_params(layer).method == "generic"
    derived = derive_flops(layer, 1)
    assert derived.value is None and "MyOwnLayer" in derived.explanation.en
