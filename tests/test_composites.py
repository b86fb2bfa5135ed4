"""Composite layers (blocks of sub-layers) and unknown totals, on hand-made facts (no TF).

The tiny GPT-2 of ``tests/handmade.py`` mirrors what keras-hub's ``GPT2Backbone`` is made
of: two ``TransformerDecoder`` blocks, each opened into its seven sub-layers.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reportgen.derive import derive_model
from reportgen.derive.layers import registry
from reportgen.derive.layers.registry import LayerKind
from reportgen.diff import diff_sites, load_data, to_markdown
from reportgen.facts import LayerFacts, WeightFacts
from reportgen.model import Derivation, ModelReport, Text
from reportgen.render.data import report_data
from reportgen.render.site import render_site
from tests.handmade import (
    GPT2_BLOCK_PARAMS,
    GPT2_PARAMS,
    gpt2_facts,
    layer,
    lenet_facts,
    lenet_layers,
)
from tests.sitecheck import broken_links, parse

BLOCK = 6
"""Row of ``transformer_layer_0`` in the tiny GPT-2."""


@pytest.fixture(scope="module")
def gpt2() -> ModelReport:
    return derive_model(gpt2_facts(32))


@pytest.fixture(scope="module")
def gpt2_open() -> ModelReport:
    """Without a sequence length: every length axis is None."""
    return derive_model(gpt2_facts(None))


def _by_name(report: ModelReport) -> dict[str, Any]:
    return {row.name: row for row in report.layers}


# ------------------------------------------------------------------ parameters


def test_a_block_row_sums_its_sub_layers_and_is_checked_against_keras(gpt2: ModelReport) -> None:
    block = gpt2.layers[BLOCK]
    assert block.name == "transformer_layer_0" and block.composite
    assert block.params.value == block.keras_params == GPT2_BLOCK_PARAMS
    assert block.params_match and block.params.method == "formula"
    assert block.params.formula is not None
    assert block.params.formula.text == (
        "self_attention 16640 + self_attention_layer_norm 128 + feedforward_intermediate_dense "
        "16640 + feedforward_output_dense 16448 + feedforward_layer_norm 128 = 49,984"
    )
    assert "sum of theirs" in block.params.explanation.en
    assert block.sub_layers == tuple(range(BLOCK + 1, BLOCK + 8))
    subs = [gpt2.layers[i] for i in block.sub_layers]
    assert {sub.block for sub in subs} == {"transformer_layer_0"}
    assert [sub.depth for sub in subs] == [1] * 7 and block.depth == 0
    assert subs[0].short_name == "self_attention"
    assert subs[0].name == "transformer_layer_0/self_attention"
    assert block.trainable_params == GPT2_BLOCK_PARAMS and block.param_bytes == 4 * 49_984


def test_model_totals_count_every_weight_once(gpt2: ModelReport) -> None:
    totals = gpt2.totals
    assert totals.params == totals.keras_params == GPT2_PARAMS == 166_144
    assert totals.trainable_params == GPT2_PARAMS and totals.param_bytes == 4 * GPT2_PARAMS
    assert totals.params_match and gpt2.mismatches == ()
    every_row = sum(row.params.value or 0 for row in gpt2.layers)
    assert every_row == GPT2_PARAMS + 2 * GPT2_BLOCK_PARAMS  # what a naive sum would say


def _block_with_own_weight(output_of: str | None = None) -> tuple[LayerFacts, ...]:
    """A user block owning a ``scale`` vector of its own, around one Dense sub-layer."""
    block = dataclasses.replace(
        layer("gated", "GatedBlock", (None, 4), (None, 3), (("scale", (3,)),), keras_params=18),
        composite=True,
        output_of=output_of,
    )
    dense = dataclasses.replace(
        layer(
            "gated/proj",
            "Dense",
            (None, 4),
            (None, 3),
            (("kernel", (4, 3)), ("bias", (3,))),
            units=3,
            use_bias=True,
        ),
        block="gated",
    )
    return (layer("x", "InputLayer", (None, 4), (None, 4)), block, dense)


def _model(rows: tuple[LayerFacts, ...], keras_params: int = 18, **overrides: Any) -> Any:
    """Facts of a model of ``rows`` whose Keras count is ``keras_params``, all trainable."""
    return lenet_facts(
        layers=rows,
        slug="gated",
        keras_params=keras_params,
        keras_trainable_params=keras_params,
        **overrides,
    )


def test_weights_a_block_owns_directly_are_counted_generically_once() -> None:
    report = derive_model(_model(_block_with_own_weight()))
    block = report.layers[1]
    assert block.params.value == block.keras_params == 18
    assert block.params.method == "generic"
    assert block.params.formula is not None and block.params.formula.text == (
        "proj 15 + scale 3 = 18"
    )
    assert "owns weights directly" in block.params.explanation.en
    assert "generically" in block.params.explanation.en
    assert report.totals.params == report.totals.keras_params == 18
    assert report.totals.trainable_params == 18 and report.mismatches == ()


def test_a_block_disagreeing_with_keras_is_a_mismatch_like_any_row() -> None:
    rows = list(_block_with_own_weight())
    rows[1] = dataclasses.replace(rows[1], keras_params=20)
    report = derive_model(_model(tuple(rows)))
    assert not report.layers[1].params_match
    assert [m.layer for m in report.mismatches] == ["gated"]


def test_a_block_of_blocks_sums_recursively() -> None:
    outer = dataclasses.replace(
        layer("outer", "Outer", (None, 4), (None, 3), keras_params=18), composite=True
    )
    inner = dataclasses.replace(_block_with_own_weight()[1], name="outer/gated", block="outer")
    dense = dataclasses.replace(_block_with_own_weight()[2], name="outer/gated/proj")
    dense = dataclasses.replace(dense, block="outer/gated")
    report = derive_model(_model((outer, inner, dense)))
    assert [row.depth for row in report.layers] == [0, 1, 2]
    assert report.layers[0].params.value == 18 and report.layers[1].params.value == 18
    assert report.layers[0].sub_layers == (1,) and report.layers[1].sub_layers == (2,)
    assert report.totals.params == 18 and report.mismatches == ()


def test_an_underived_sub_layer_leaves_its_block_and_the_model_unknown() -> None:
    rows = list(_block_with_own_weight())
    rows[2] = dataclasses.replace(rows[2], input_shapes=((None, None),))  # no input width
    report = derive_model(_model(tuple(rows)))
    assert report.layers[2].params.value is None
    assert report.layers[1].params.value is None
    assert "proj" in report.layers[1].params.explanation.en
    assert report.totals.params is None


# ------------------------------------------------------------------ output memory, FLOPs


def test_a_block_whose_output_is_a_sub_layers_writes_nothing_of_its_own() -> None:
    report = derive_model(_model(_block_with_own_weight("gated/proj")))
    block = report.layers[1]
    assert block.activation.value == 0 and block.activation.method == "zero"
    assert block.activation.explanation.en == "Its output is gated/proj's output, counted there."
    assert "gated/proj" in block.activation.explanation.zh
    assert report.totals.activation_bytes == 4 * 4 + 3 * 4  # the input and proj's output


def test_a_block_writes_its_own_output_otherwise(gpt2: ModelReport) -> None:
    block = gpt2.layers[BLOCK]
    assert block.activation.value == 32 * 64 * 4
    assert gpt2.totals.activation_bytes == sum(row.activation.value or 0 for row in gpt2.layers)


def test_a_block_counts_only_its_own_ops_with_its_kinds_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A block kind's FLOPs rule counts the ops outside its sub-layers (a residual add)."""

    def residual(facts: LayerFacts, batch_size: int) -> Derivation:
        return Derivation(96, "formula", Text("Two residual additions.", "两次残差相加。"))

    kind = LayerKind("GatedBlock", "other", registry.COMPOSITE, residual)
    monkeypatch.setitem(registry.KINDS, "GatedBlock", kind)
    report = derive_model(_model(_block_with_own_weight()))
    block = report.layers[1]
    assert block.flops is not None and block.flops.value == 96
    assert "only the block's own operations" in block.flops.explanation.en
    dense = report.layers[2].flops
    assert dense is not None and dense.value is not None
    assert report.totals.flops == 96 + dense.value  # the input costs none
    assert block.params.value == 18  # COMPOSITE: the sum, whatever its own weights


# ------------------------------------------------------------------ unknown totals


def test_an_unknown_output_makes_the_memory_totals_unknown_not_smaller() -> None:
    rows = list(lenet_layers())
    rows[7] = dataclasses.replace(rows[7], output_shapes=((None, None),))  # the Dropout
    report = derive_model(lenet_facts(layers=tuple(rows)))
    assert report.totals.activation_bytes is None
    assert report.totals.flops == 27_844_156  # the Dropout's FLOPs are still known: 0
    assert report.activation_note is not None and "dropout" in report.activation_note.en
    assert report.flops_note is None
    assert report.training is not None
    assert report.training.part("activations").bytes.value is None
    assert report.training.total.value is None
    data = report_data(report)
    assert data["totals"]["activation_bytes"] is None
    assert data["training"]["total_bytes"] is None
    assert data["unknown_totals"]["activation_bytes"]["en"] == report.activation_note.en


def test_an_unknown_flops_count_makes_the_flops_total_and_check_unknown() -> None:
    from reportgen.facts import FlopsMeasurement

    rows = (*lenet_layers(), layer("mystery", "Mystery", (None, 10), (None, 10)))
    measured = FlopsMeasurement(total=27_844_256, by_op_type={"MatMul": 1}, by_layer={})
    report = derive_model(lenet_facts(layers=rows, flops=measured))
    assert report.totals.flops is None and report.totals.activation_bytes is not None
    assert report.flops is not None and report.flops.derived is None
    assert report.flops.difference is None and not report.flops.agrees
    assert report.flops.unknown_layers == ("mystery",)
    assert report.mismatches == ()  # unknown is no disagreement
    assert report.flops_note is not None and "mystery" in report.flops_note.en
    data = report_data(report)
    assert data["totals"]["flops"] is None and data["flops_check"]["derived"] is None
    assert data["flops_check"]["relative_difference"] is None


def test_without_a_length_every_total_that_grows_with_it_is_unknown(
    gpt2_open: ModelReport,
) -> None:
    totals = gpt2_open.totals
    assert totals.params == GPT2_PARAMS  # parameters do not depend on the length
    assert totals.activation_bytes is None and totals.flops is None
    assert gpt2_open.training is not None and gpt2_open.training.total.value is None
    assert [s.en for s in gpt2_open.open_inputs] == [
        "The input token_ids has an unknown length (shape (None, None)): set sequence_length "
        "= N, or input_shapes = { token_ids = [N] }, in the model's table to derive its "
        "memory and FLOPs.",
        "The input padding_mask has an unknown length (shape (None, None)): set "
        "sequence_length = N, or input_shapes = { padding_mask = [N] }, in the model's table "
        "to derive its memory and FLOPs.",
    ]
    zh = gpt2_open.open_inputs[0].zh
    assert "token_ids" in zh and "sequence_length = N" in zh and "input_shapes" in zh
    assert zh != gpt2_open.open_inputs[0].en


def test_with_a_length_no_input_is_said_to_lack_one(gpt2: ModelReport) -> None:
    assert gpt2.open_inputs == ()
    assert gpt2.totals.activation_bytes is not None


# ------------------------------------------------------------------ config_error


ERROR = "AttributeError: 'Dense' object has no attribute 'units'"


def test_a_layer_whose_config_raised_gets_the_generic_count_and_no_flops() -> None:
    rows = list(lenet_layers())
    rows[6] = dataclasses.replace(rows[6], config={}, config_error=ERROR)  # fc1
    report = derive_model(lenet_facts(layers=tuple(rows)))
    fc1 = report.layers[6]
    assert fc1.params.value == fc1.keras_params == 3_212_288
    assert fc1.params.method == "generic"
    said = (
        "Keras could not give this layer's configuration: its get_config() raised "
        f"{ERROR}; figures that need it are unknown."
    )
    assert fc1.config_note is not None and fc1.config_note.en == said
    assert said in fc1.params.explanation.en
    assert fc1.flops is not None and fc1.flops.value is None
    assert fc1.activation.value == 4096  # from the shapes, which need no configuration
    assert report.totals.params == 3_274_634 and report.totals.flops is None
    assert "get_config()" in fc1.config_note.zh and fc1.config_note.zh != said


def test_a_rule_that_trips_over_its_configuration_falls_back_to_the_generic_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(facts: LayerFacts) -> Derivation:
        return facts.config["missing"].lower()  # type: ignore[no-any-return]

    monkeypatch.setitem(
        registry.KINDS, "Fragile", LayerKind("Fragile", "other", broken, registry.NotDerived())
    )
    fragile = dataclasses.replace(
        layer("f", "Fragile", (None, 2), (None, 2), (("w", (2, 2)),)), config={"missing": None}
    )
    report = derive_model(lenet_facts(layers=(fragile,), slug="fragile"))
    assert report.layers[0].params.value == 4 and report.layers[0].params.method == "generic"
    assert "lacks a field" in report.layers[0].params.explanation.en


# ------------------------------------------------------------------ repeated blocks


def test_identical_blocks_are_summarised_once(gpt2: ModelReport) -> None:
    assert [s.en for s in gpt2.repeated_blocks] == [
        "2 identical TransformerDecoder blocks (transformer_layer_0 … transformer_layer_1), "
        "each 49,984 parameters = self_attention 16640 + self_attention_layer_norm 128 + "
        "feedforward_intermediate_dense 16640 + feedforward_output_dense 16448 + "
        "feedforward_layer_norm 128."
    ]
    zh = gpt2.repeated_blocks[0].zh
    assert "TransformerDecoder" in zh and "49,984" in zh and zh != gpt2.repeated_blocks[0].en


def test_blocks_configured_differently_are_not_summarised() -> None:
    facts = gpt2_facts(32)
    rows = list(facts.layers)
    second = next(i for i, row in enumerate(rows) if row.name == "transformer_layer_1")
    rows[second] = dataclasses.replace(rows[second], config={**rows[second].config, "dropout": 0.2})
    report = derive_model(dataclasses.replace(facts, layers=tuple(rows)))
    assert report.repeated_blocks == ()


# ------------------------------------------------------------------ JSON and pages


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    with_error = list(gpt2_facts(None).layers)
    with_error[BLOCK] = dataclasses.replace(
        with_error[BLOCK], config_error="AttributeError: no attribute 'rope_<b>'"
    )
    render_site(
        [
            derive_model(gpt2_facts(32)),
            derive_model(
                dataclasses.replace(gpt2_facts(None), slug="gpt2-open", layers=tuple(with_error))
            ),
        ],
        out,
    )
    return out


def test_json_has_blocks_and_null_totals_and_validates(site: Path) -> None:
    schema = json.loads((site / "data" / "report.schema.json").read_text())
    for slug in ("gpt2", "gpt2-open"):
        data = json.loads((site / "data" / f"{slug}.json").read_text())
        jsonschema.validate(data, schema)
        assert data["schema_version"] == 4
        block = data["layers"][BLOCK]
        assert block["composite"] is True and block["block"] is None
        assert block["params"] == GPT2_BLOCK_PARAMS
        assert data["layers"][BLOCK + 1]["block"] == "transformer_layer_0"
        assert data["layers"][BLOCK + 1]["composite"] is False
        assert data["totals"]["params"] == GPT2_PARAMS
    open_data = json.loads((site / "data" / "gpt2-open.json").read_text())
    assert open_data["totals"]["activation_bytes"] is None
    assert open_data["totals"]["flops"] is None
    assert open_data["training"]["total_bytes"] is None
    assert len(open_data["unknown_totals"]["open_inputs"]) == 2
    assert open_data["layers"][BLOCK]["config_error"]["en"].startswith("Keras could not give")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_page_says_unknown_and_how_to_fix_it_never_zero_bytes(site: Path, lang: str) -> None:
    page = parse(site / lang / "gpt2-open.html")
    header = " ".join(page.select_one("header.report-header").get_text().split())
    assert "0 B" not in header and "0 字节" not in header
    assert "sequence_length = N" in header and "input_shapes = { token_ids = [N] }" in header
    totals = page.select_one("table.totals").get_text()
    assert totals.count("cannot be derived" if lang == "en" else "无法推导") >= 2
    training = page.select_one("table.training").get_text()
    assert "0 B" not in training


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sub_layers_are_indented_under_their_block_and_linked(site: Path, lang: str) -> None:
    page = parse(site / lang / "gpt2.html")
    rows = page.select("table.layers tbody tr")
    assert "block" in rows[BLOCK]["class"]
    sub = rows[BLOCK + 1]
    assert sub["class"] == ["sub-layer", "depth-1"]
    link = sub.select_one("th a")
    assert link.get_text() == "self_attention" and link["href"] == f"#layer-{BLOCK + 1}"
    assert page.select_one(f"#layer-{BLOCK + 1}") is not None
    listed = page.select_one(f"#layer-{BLOCK}").select("p.method a")
    assert [a["href"] for a in listed] == [f"#layer-{i}" for i in range(BLOCK + 1, BLOCK + 8)]
    prose = page.select_one("#architecture").get_text()
    assert "TransformerDecoder" in prose and "49,984" in prose


def test_every_link_of_the_block_pages_resolves(site: Path) -> None:
    assert broken_links(site) == []


def test_a_config_error_is_said_and_its_markup_stays_text(site: Path) -> None:
    for lang in ("en", "zh"):
        page = parse(site / lang / "gpt2-open.html")
        derivation = page.select_one(f"#layer-{BLOCK}")
        assert "rope_<b>" in derivation.get_text()
        assert derivation.select("b") == []


# ------------------------------------------------------------------ diff


def test_diff_compares_null_totals_as_unknown() -> None:
    known = report_data(derive_model(gpt2_facts(32)))
    unknown = report_data(derive_model(dataclasses.replace(gpt2_facts(None), slug="gpt2")))
    older = json.loads(json.dumps(known))
    older["schema_version"] = 2  # an older site: a partial sum where the new one says null
    diff = diff_sites({"gpt2": older}, {"gpt2": unknown})
    model = diff.models[0]
    assert model.totals["bytes"].old == known["totals"]["activation_bytes"]
    assert model.totals["bytes"].text().endswith("→ unknown")
    assert model.changed("bytes") and diff.gate_failures(["bytes"])
    same = diff_sites({"gpt2": unknown}, {"gpt2": unknown})
    assert same.models[0].status == "same" and same.gate_failures(["bytes", "flops"]) == []
    markdown = to_markdown(diff)
    assert "unknown" in markdown


def test_diff_reads_reports_of_both_schema_versions(tmp_path: Path) -> None:
    new = report_data(derive_model(gpt2_facts(None)))
    old = json.loads(json.dumps(new))
    old["schema_version"] = 2
    for name, data in (("old", old), ("new", new)):
        (tmp_path / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    diff = diff_sites(load_data(tmp_path / "old.json"), load_data(tmp_path / "new.json"))
    assert diff.models[0].status == "same"
    assert diff.models[0].totals["flops"].text() == "unknown"


def test_weights_in_facts_are_not_changed_by_the_builders() -> None:
    """The hand-made sub-layers' weights sit under their block, as Keras names them."""
    names = [w.name for row in gpt2_facts(32).layers for w in row.weights]
    assert "transformer_layer_0/self_attention/query/kernel" in names
    assert all(isinstance(w, WeightFacts) for row in gpt2_facts(32).layers for w in row.weights)


@pytest.mark.parametrize("slug", ["gpt2", "gpt2-open"])
def test_no_english_sentence_on_a_chinese_block_page(site: Path, slug: str) -> None:
    from tests.test_zh_pages import _names, english_runs

    facts = gpt2_facts(32)
    names = _names(facts) | {"AttributeError: no attribute 'rope_<b>'"}
    assert english_runs((site / "zh" / f"{slug}.html").read_text("utf-8"), names) == []
