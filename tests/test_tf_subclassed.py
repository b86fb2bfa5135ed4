"""Subclassed Keras models, end to end: collected in-process as the worker does, rendered
by ``reportgen render``.

A subclassed model whose layers do the work is listed layer by layer, from one recorded
call on a symbolic input, and every count is derived as for a functional model. One that
does its work with weights of its own (raw TensorFlow ops in ``call()``) shows Keras's
count, says why in both languages, and leaves the derived total unknown, never 0: exit
status 0 with one warning line, 1 under ``--strict``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reportgen.derive import derive_model
from reportgen.facts import ModelFacts
from tests.sitecheck import parse

pytestmark = pytest.mark.tf

MODULE = "reportgen_test_subclassed_models"

SOURCE = """
import keras
import tensorflow as tf


class Tiny(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d1 = keras.layers.Dense(4, name="d1")
        self.d2 = keras.layers.Dense(3, name="d2")

    def call(self, x):
        return self.d2(self.d1(x))


class Raw(keras.Model):
    # Layer names are the test's own: Keras numbers automatic ones per process.
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 3), name="w")
        self.b = self.add_weight(shape=(3,), name="b", initializer="zeros")

    def call(self, x):
        return tf.matmul(x, self.w) + self.b


class Block(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.Dense(units)

    def call(self, x):
        return keras.ops.relu(self.inner(x))


def tiny():
    model = Tiny(name="tiny")
    model(keras.ops.zeros((2, 5)))  # built by a call: no input_shape needed
    return model


def raw():
    return Raw(name="raw")


def mixed():
    x = keras.Input((5,))
    return keras.Model(x, keras.layers.Dense(3, name="out")(Block(4, name="block")(x)))
"""


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny`` and ``raw`` collected (memory and FLOPs measured, no profiler)."""
    import os

    from reportgen.collect.worker import collect_into
    from reportgen.config import ModelSpec

    root = tmp_path_factory.mktemp("subclassed")
    (root / f"{MODULE}.py").write_text(SOURCE)
    specs = [
        ModelSpec(slug="tiny", source=f"{MODULE}:tiny", title_en="Tiny", title_zh="小模型"),
        ModelSpec(
            slug="raw",
            source=f"{MODULE}:raw",
            title_en="Raw",
            title_zh="裸权重模型",
            input_shape=(5,),
        ),
    ]
    cwd = os.getcwd()
    os.chdir(root)  # a factory is imported from the current directory
    try:
        for spec in specs:
            out = root / "collected" / spec.slug
            out.mkdir(parents=True)
            collect_into({"spec": spec.to_dict(), "profile": False}, out)
    finally:
        os.chdir(cwd)
    return root


def facts(root: Path, slug: str) -> ModelFacts:
    return ModelFacts.from_dict(json.loads((root / "collected" / slug / "facts.json").read_text()))


def test_subclassed_layers_are_listed_and_derived(collected: Path) -> None:
    tiny = facts(collected, "tiny")
    assert [(f.class_name, f.input_shapes, f.output_shapes) for f in tiny.layers] == [
        ("InputLayer", ((None, 5),), ((None, 5),)),
        ("Dense", ((None, 5),), ((None, 4),)),
        ("Dense", ((None, 4),), ((None, 3),)),
    ]
    assert [f.name for f in tiny.layers[1:]] == ["d1", "d2"]
    report = derive_model(tiny)
    assert [layer.params.value for layer in report.layers] == [0, 24, 15]
    assert report.totals.params == report.totals.keras_params == 39
    assert report.mismatches == () and report.params_note is None
    # The graph run measured the real model, mapped to its layers.
    assert report.flops is not None and report.flops.agrees
    assert [layer.measured_flops for layer in report.layers[1:]] == [44, 27]
    assert [layer.measured_bytes for layer in report.layers[1:]] == [16, 12]


def test_own_weights_are_one_row_and_the_total_is_unknown(collected: Path) -> None:
    raw = facts(collected, "raw")
    assert [(f.class_name, f.keras_params) for f in raw.layers] == [("InputLayer", 0), ("Raw", 18)]
    assert raw.layers[1].name == "raw"
    assert [w.name for w in raw.layers[1].weights] == ["raw/w", "raw/b"]
    report = derive_model(raw)
    assert report.totals.params is None and report.totals.keras_params == 18
    assert report.totals.param_bytes == 72
    assert report.params_note is not None
    assert "all 18 of its parameters are weights it creates itself" in report.params_note.en
    assert "全部 18 个参数都是它自己创建" in report.params_note.zh
    assert report.mismatches[0].describe() == (
        "the derived parameter total is unknown: all 18 parameters are weights of the "
        "subclassed model Raw itself, not of a layer; Keras count_params() counts 18"
    )


def test_render_shows_keras_count_and_why(
    collected: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reportgen.cli import main

    dirs = [str(collected / "collected" / slug) for slug in ("tiny", "raw")]
    site = collected / "site"
    assert main(["render", *dirs, "--out", str(site)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings[0] == (
        "reportgen: warning: raw: the derived parameter total is unknown: all 18 parameters "
        "are weights of the subclassed model Raw itself, not of a layer; Keras count_params() "
        "counts 18"
    )
    assert not any("tiny" in line or "None !=" in line for line in warnings)

    data = json.loads((site / "data" / "raw.json").read_text())
    assert data["totals"]["params"] is None and data["totals"]["keras_params"] == 18
    assert json.loads((site / "data" / "tiny.json").read_text())["totals"]["params"] == 39
    en = " ".join(parse(site / "en" / "raw.html").select_one("p.lede").get_text().split())
    assert en.startswith("Raw has 1 layers and 18 parameters, as Keras count_params() counts them.")
    assert "Raw is a subclassed keras.Model, and all 18 of its parameters" in en
    zh = "".join(parse(site / "zh" / "raw.html").select_one("p.lede").get_text().split())
    assert "据Keras的count_params()统计" in zh and "推导总数未知" in zh

    assert main(["render", *dirs, "--out", str(collected / "strict"), "--strict"]) == 1


def test_a_custom_layer_made_of_keras_layers_is_opened_into_its_sub_layers() -> None:
    import importlib

    from reportgen.collect.keras_facts import model_facts
    from reportgen.config import ModelSpec

    module = importlib.import_module(MODULE)  # imported by the fixture's collection
    spec = ModelSpec(slug="mixed", source=f"{MODULE}:mixed", title_en="M", title_zh="M")
    report = derive_model(model_facts(module.mixed(), spec))
    rows = [(layer.name, layer.params.value, layer.params.method) for layer in report.layers][1:]
    # The block owns a Dense (named by Keras per process): a composite row, then the Dense
    # under it, each derived by its formula; the block's row is their sum.
    assert rows[0] == ("block", 24, "formula") and report.layers[1].composite
    assert rows[1][0].startswith("block/") and rows[1][1:] == (24, "formula")
    assert rows[2] == ("out", 15, "formula")
    assert report.totals.params == report.totals.keras_params == 39
    assert report.mismatches == ()
