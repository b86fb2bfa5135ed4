"""Counts reportgen cannot derive (a subclassed model's own weights, a layer without the
shapes its formula needs, a layer the recorded call never used): said so in both
languages, never added up as zero, one warning line. Hand-made facts, no TensorFlow."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest

from reportgen.derive import derive_model
from reportgen.derive.subclassed import NOT_CALLED_KEY, OWN_WEIGHTS_KEY
from reportgen.facts import LayerFacts, ModelFacts, WeightFacts
from reportgen.model import ModelReport
from reportgen.pipeline import check_reports
from reportgen.render.site import render_site
from tests.handmade import layer, lenet_facts
from tests.sitecheck import parse

INPUT = layer("input_layer", "InputLayer", (None, 5), (None, 5))
DENSE = layer("dense", "Dense", (None, 5), (None, 4), (("kernel", (5, 4)), ("bias", (4,))), units=4)


def own_weights(name: str, class_name: str, *shapes: tuple[int, ...]) -> LayerFacts:
    """The row the collect stage writes for weights a subclassed model holds itself."""
    weights = tuple(
        WeightFacts(f"{name}/w{i}", shape, "float32", True) for i, shape in enumerate(shapes)
    )
    count = sum(_size(shape) for shape in shapes)
    return LayerFacts(
        name=name,
        class_name=class_name,
        config={"name": name, OWN_WEIGHTS_KEY: True},
        input_shapes=(),
        output_shapes=(),
        compute_dtype="float32",
        variable_dtype="float32",
        weights=weights,
        keras_params=count,
    )


def _size(shape: tuple[int, ...]) -> int:
    size = 1
    for d in shape:
        size *= d
    return size


def facts(*layers: LayerFacts, slug: str = "raw") -> ModelFacts:
    return lenet_facts(layers=layers, slug=slug, title_en="Raw", title_zh="原始模型")


@pytest.fixture(scope="module")
def raw() -> ModelReport:
    """A subclassed model whose weights are all its own (``tf.matmul(x, self.w) + self.b``)."""
    return derive_model(facts(INPUT, own_weights("raw", "Raw", (5, 3), (3,))))


def test_own_weights_leave_the_total_unknown_never_zero(raw: ModelReport) -> None:
    assert raw.totals.params is None
    assert raw.totals.keras_params == 18
    assert not raw.totals.params_match
    assert raw.totals.layers == 1  # the input; the row of the model's own weights is no layer
    # The weights still count where counting them needs no derivation.
    assert (raw.totals.trainable_params, raw.totals.param_bytes) == (18, 72)
    assert raw.training is not None and raw.training.part("parameters").bytes.value == 72
    row = raw.layers[1]
    assert (row.params.value, row.params.method, row.keras_params) == (None, "unknown", 18)
    assert row.activation.value is None and row.flops is not None and row.flops.value is None
    assert "subclassed model Raw creates itself" in row.params.explanation.en
    assert "子类模型 Raw 自己创建" in row.params.explanation.zh


def test_own_weights_explained_in_both_languages(raw: ModelReport) -> None:
    assert raw.params_note is not None
    assert raw.params_note.en == (
        "Raw is a subclassed keras.Model, and all 18 of its parameters are weights it creates "
        "itself and uses in the code of its own call() instead of through a layer. They are "
        "listed together in the row raw; with no layer configuration to derive them from, they "
        "cannot be derived. What cannot be derived is not counted as zero: the derived total "
        "is unknown, and the total shown is the one from Keras count_params()."
    )
    assert raw.params_note.zh == (
        "Raw 是继承 keras.Model 编写的子类模型，全部 18 个参数都是它自己创建、并在自己的 "
        "call() 代码中直接使用的权重，不经过任何层。它们合并列在 raw 这一行；没有层配置可供"
        "推导，因此无法推导。无法推导的部分不会按 0 计入：推导总数未知，这里显示的总数取自 "
        "Keras 的 count_params()。"
    )


def test_one_clear_warning_line(raw: ModelReport) -> None:
    assert [m.describe() for m in raw.mismatches] == [
        "the derived parameter total is unknown: all 18 parameters are weights of the "
        "subclassed model Raw itself, not of a layer; Keras count_params() counts 18"
    ]
    assert check_reports([raw], strict=False) == [f"raw: {raw.mismatches[0].describe()}"]
    with pytest.raises(Exception, match="derived parameter total is unknown"):
        check_reports([raw], strict=True)


def test_some_own_weights_beside_derived_layers() -> None:
    report = derive_model(facts(INPUT, DENSE, own_weights("partial", "Partial", (4,))))
    assert report.totals.params is None and report.totals.keras_params == 28
    assert report.layers[1].params.value == 24  # the Dense is derived as usual
    assert report.params_note is not None
    assert "4 of its 28 parameters are weights" in report.params_note.en
    assert "28 个参数中有 4 个是它自己创建" in report.params_note.zh
    assert [m.describe() for m in report.mismatches] == [
        "the derived parameter total is unknown: 4 parameters are weights of the subclassed "
        "model Partial itself, not of a layer; Keras count_params() counts 28"
    ]


def test_a_layer_that_cannot_be_derived_is_one_line_not_none_versus_a_count() -> None:
    blind = dataclasses.replace(DENSE, input_shapes=(), output_shapes=())
    report = derive_model(facts(INPUT, blind, dataclasses.replace(DENSE, name="dense_1")))
    assert report.totals.params is None
    described = [m.describe() for m in report.mismatches]
    assert described == [
        "the derived parameter total is unknown: 1 layer cannot be derived (dense); "
        "Keras count_params() counts 48"
    ]
    assert not any("None" in line for line in described)
    assert report.params_note is not None
    assert "1 of the 3 layers cannot be derived (dense)" in report.params_note.en
    assert "3 个层中有 1 个无法推导（dense）" in report.params_note.zh


def test_layer_the_call_never_used() -> None:
    unbuilt = dataclasses.replace(
        DENSE,
        name="aux",
        input_shapes=(),
        output_shapes=(),
        weights=(),
        keras_params=0,
        config={"units": 7, NOT_CALLED_KEY: True},
    )
    built = dataclasses.replace(
        DENSE,
        name="head",
        input_shapes=(),
        output_shapes=(),
        config={"units": 4, NOT_CALLED_KEY: True},
    )
    report = derive_model(facts(INPUT, DENSE, unbuilt))
    aux = report.layers[2]
    assert (aux.params.value, aux.params.method) == (0, "zero")
    assert aux.activation.value == 0 and aux.flops is not None and aux.flops.value == 0
    assert "did not use this layer" in aux.params.explanation.en
    assert "没有用到这一层" in aux.params.explanation.zh
    assert report.totals.params == 24 and report.mismatches == ()

    report = derive_model(facts(INPUT, DENSE, built))
    head = report.layers[2]
    assert head.params.value is None
    assert head.params.explanation.en.startswith("The model's call() did not use this layer")
    assert report.totals.params is None


def test_flops_of_the_models_own_code_leave_the_flops_total_unknown() -> None:
    """Not 0 against the profiler's 33, reported as a disagreement: unknown, and why."""
    from reportgen.facts import FlopsMeasurement

    measured = FlopsMeasurement(total=33, by_op_type={"MatMul": 30, "AddV2": 3}, by_layer={})
    report = derive_model(
        dataclasses.replace(facts(INPUT, own_weights("raw", "Raw", (5, 3), (3,))), flops=measured)
    )
    assert report.totals.flops is None
    assert report.flops is not None and report.flops.derived is None
    assert report.flops.unknown_layers == ("raw",)
    assert [m.quantity for m in report.mismatches] == ["parameter total"]
    assert report.flops_note is not None and "raw" in report.flops_note.en


def test_fully_derived_subclassed_model_is_an_ordinary_report() -> None:
    dense_1 = layer(
        "dense_1", "Dense", (None, 4), (None, 3), (("kernel", (4, 3)), ("bias", (3,))), units=3
    )
    report = derive_model(facts(INPUT, DENSE, dense_1, slug="tiny"))
    assert report.totals.params == report.totals.keras_params == 39
    assert report.mismatches == () and report.params_note is None


def test_pages_and_json_show_the_reference_count_and_why(raw: ModelReport, tmp_path: Path) -> None:
    lenet = derive_model(lenet_facts())
    render_site([raw, lenet], tmp_path)
    data = json.loads((tmp_path / "data" / "raw.json").read_text())
    jsonschema.validate(data, json.loads((tmp_path / "data" / "report.schema.json").read_text()))
    assert data["totals"]["params"] is None
    assert data["totals"]["keras_params"] == 18 and data["totals"]["params_match"] is False
    assert data["mismatches"] == [raw.mismatches[0].describe()]
    assert data["layers"][1]["params"] is None and data["layers"][1]["params_method"] == "unknown"

    for lang in ("en", "zh"):
        assert raw.params_note is not None
        page = parse(tmp_path / lang / "raw.html")
        lede = " ".join(page.select_one("p.lede").get_text().split())
        assert " ".join(raw.params_note.get(lang).split()) in lede
        totals = page.select_one("table.totals tr").get_text()
        assert "18" in totals and "0" not in totals.replace("count_params()", "")
        assert "None !=" not in page.get_text()
        listing = parse(tmp_path / lang / "index.html").select("table.models tbody tr")[0]
        assert "18" in listing.get_text()
    en = parse(tmp_path / "en" / "raw.html")
    assert "Raw has 1 layers and 18 parameters, as Keras count_params() counts them." in (
        " ".join(en.select_one("p.lede").get_text().split())
    )
    assert "The derived parameter total is unknown." in en.select_one("div.alert").get_text()
    assert "there is no derived count to check it against" in en.get_text()
    zh = parse(tmp_path / "zh" / "raw.html")
    assert "据 Keras 的 count_params() 统计，原始模型 共有 1 层、18 个参数。" in zh.get_text()
    assert "参数总数无法推导。" in zh.select_one("div.alert").get_text()
    zh_list = parse(tmp_path / "zh" / "index.html").get_text()
    assert "总数未能推导" in zh_list
    root = parse(tmp_path / "index.html").get_text()
    assert "not derived" in root and "未推导" in root
