"""Collected facts and diff inputs are untrusted: every fault is one line, never a traceback.

``collected/<slug>/facts.json`` comes from other CI jobs (downloaded artifacts) and
``reportgen diff`` reads sites built elsewhere. A hostile file (nested 100,000 deep, a
list at the top, a dimension of 1e308 or 10**400, negative counts, wrong types, missing
fields, too large) makes ``render`` and ``diff`` exit 1 with one line naming the file and
the field, and ``render`` writes no site. Real and hand-made facts still validate.
No TensorFlow here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import random
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import reportgen.diff
import reportgen.facts
import tests.test_derive_flops
import tests.test_derive_layers
from reportgen.cli import main
from reportgen.config import SLUG_RE
from reportgen.derive import derive_model
from reportgen.diff import (
    check_output_path,
    check_report,
    load_data,
    run_diff,
    write_markdown,
)
from reportgen.errors import ReportgenError
from reportgen.facts import (
    FlopsMeasurement,
    LayerFacts,
    MemoryMeasurement,
    MemoryNote,
    ModelFacts,
    OpMemory,
    OpTime,
    OptimizerFacts,
    ProfileMeasurement,
    read_facts,
)
from reportgen.jsonfile import field_path, nesting_depth, schema, validator
from reportgen.render.data import report_data
from tests.handmade import layer, lenet_facts, lenet_layers

GOLD = Path(__file__).parent / "gold" / "site" / "data" / "lenet.json"


def gold_report() -> dict[str, Any]:
    """The golden site's LeNet report (``tests/test_gold.py``), measured times and all."""
    data: dict[str, Any] = json.loads(GOLD.read_text(encoding="utf-8"))
    return data


EVIL = '<script>alert("x")</script>\'&'
CONTROL = "tab\tbell\x07del\x7fnel\x85 ls\u2028"


def measured_facts() -> ModelFacts:
    """The hand-made LeNet with every optional part: memory, profile, FLOPs, optimizer."""
    ops = (
        OpMemory(
            "lenet/conv1/Relu",
            "Relu",
            0,
            100_352,
            100_352,
            "cpu",
            (1, 28, 28, 32),
            "float32",
            "conv1",
        ),
        OpMemory("lenet/flatten/Reshape", "Reshape", 0, 0, None, "cpu", None, None, None, True),
    )
    notes = {
        "conv1": (MemoryNote("fused", op_type="_FusedConv2D", fused_ops=("Conv2D", "Relu")),),
        "dropout": (MemoryNote("no_op"),),
        "image": (MemoryNote("fed_input", nbytes=3136),),
    }
    memory = MemoryMeasurement(
        method="session-full-trace",
        ops=ops,
        layer_bytes={"conv1": 100_352, "dropout": None},
        layer_notes=notes,
        allocator_peak_bytes=1 << 20,
        allocator_total_bytes=None,
    )
    profile = ProfileMeasurement(
        steps=3,
        device="CPU",
        ops=(OpTime("lenet/conv1/Conv2D", "Conv2D", "conv1", (10.5, 11.0, 9.75)),),
        layer_time_us={"conv1": 10.5},
        step_time_us=120.25,
        trace_file=None,
        profile_dir=None,
    )
    flops = FlopsMeasurement(total=27_844_156, by_op_type={"Conv2D": 1}, by_layer={"conv1": 1})
    optimizer = OptimizerFacts("Adam", {"learning_rate": 0.001, "beta_1": 0.9, "name": "adam"})
    return lenet_facts(
        memory=memory, profile=profile, flops=flops, optimizer=optimizer, notes=("a note",)
    )


def facts_data(facts: ModelFacts | None = None) -> dict[str, Any]:
    """A facts file's content, as the collect stage writes it."""
    data: dict[str, Any] = json.loads((facts or lenet_facts()).to_json())
    return data


def validate_facts(data: dict[str, Any], tmp_path: Path) -> ModelFacts:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return read_facts(path)


# --- render ----------------------------------------------------------------------------


def collected(tmp_path: Path, content: str | dict[str, Any] | list[Any]) -> Path:
    folder = tmp_path / "collected" / "lenet"
    folder.mkdir(parents=True)
    text = content if isinstance(content, str) else json.dumps(content)
    (folder / "facts.json").write_text(text, encoding="utf-8")
    return folder


def render_fails(
    tmp_path: Path,
    content: str | dict[str, Any] | list[Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """``reportgen render`` on the content: exit 1, one error line, no site. The line."""
    folder = collected(tmp_path, content)
    monkeypatch.chdir(tmp_path)  # no reportgen.toml or pyproject.toml of ours
    assert main(["render", str(folder), "--out", str(tmp_path / "site")]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"reportgen: error: {folder / 'facts.json'}: "), lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "site").exists()
    return lines[0]


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data


def _drop(data: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return data


BASE = facts_data()
MEASURED = facts_data(measured_facts())

# (id, content, what the one line says after the file name)
HOSTILE_FACTS: list[tuple[str, Callable[[], str | dict[str, Any] | list[Any]], str]] = [
    (
        "nested 100,000 deep",
        lambda: "[" * 100_000 + "]" * 100_000,
        "the collected-facts file nests arrays and objects more than 64 deep (the limit)",
    ),
    (
        "nested deep inside a layer config",
        lambda: _set(BASE, ("layers", 1, "config", "deep"), json.loads("[" * 70 + "]" * 70)),
        "nests arrays and objects more than 64 deep",
    ),
    ("top-level list", lambda: [1, 2], "top level: [1, 2] is not an object"),
    ("top-level string", lambda: '"facts"', "top level: 'facts' is not an object"),
    (
        "top-level long list",
        lambda: list(range(100_000)),
        "top level: an array of 100,000 items is not an object",
    ),
    (
        "weight shape 1e308",
        lambda: _set(BASE, ("layers", 1, "weights", 0, "shape"), [1e308]),
        "layers[1].weights[0].shape[0]: 1e+308 is not of type 'integer'",
    ),
    (
        "dimension 10**400",
        lambda: _set(BASE, ("layers", 1, "output_shapes", 0, 1), 10**400),
        "layers[1].output_shapes[0][1]: an integer of about 401 digits is greater than the "
        "maximum of 1099511627776",
    ),
    (
        "an integer of 5,000 digits",
        lambda: json.dumps(BASE).replace('"batch_size": 1', '"batch_size": 1' + "0" * 5000),
        "not a readable collected-facts file: Exceeds the limit (4300 digits)",
    ),
    (
        "dimensions whose product is too large",
        lambda: _set(BASE, ("layers", 1, "output_shapes", 0), [None, 2**40, 2**40, 2**40]),
        "layers[1].output_shapes[0]: the shape [None, 1099511627776, 1099511627776, "
        "1099511627776] holds more than 2**62 elements",
    ),
    (
        "weights whose product is too large",
        lambda: _set(BASE, ("layers", 1, "weights", 0, "shape"), [2**40, 2**40, 2**40]),
        "layers[1].weights[0].shape: the shape",
    ),
    (
        "batch_size -3",
        lambda: _set(BASE, ("batch_size",), -3),
        "batch_size: -3 is less than the minimum of 1",
    ),
    (
        "batch_size 0",
        lambda: _set(BASE, ("batch_size",), 0),
        "batch_size: 0 is less than the minimum of 1",
    ),
    (
        "negative keras_params",
        lambda: _set(BASE, ("keras_params",), -1),
        "keras_params: -1 is less than the minimum of 0",
    ),
    (
        "negative layer keras_params",
        lambda: _set(BASE, ("layers", 3, "keras_params"), -5),
        "layers[3].keras_params: -5 is less than the minimum of 0",
    ),
    (
        "negative dimension",
        lambda: _set(BASE, ("layers", 1, "input_shapes", 0, 1), -28),
        "layers[1].input_shapes[0][1]: -28 is less than the minimum of 0",
    ),
    (
        "negative weight dimension",
        lambda: _set(BASE, ("layers", 1, "weights", 1, "shape", 0), -32),
        "layers[1].weights[1].shape[0]: -32 is less than the minimum of 0",
    ),
    (
        "negative measured bytes",
        lambda: _set(MEASURED, ("memory", "layer_bytes", "conv1"), -4),
        "memory.layer_bytes.conv1: -4 is less than the minimum of 0",
    ),
    (
        "negative op bytes",
        lambda: _set(MEASURED, ("memory", "ops", 0, "requested_bytes"), -1),
        "memory.ops[0].requested_bytes: -1 is less than the minimum of 0",
    ),
    (
        "negative FLOPs",
        lambda: _set(MEASURED, ("flops", "total"), -7),
        "flops.total: -7 is less than the minimum of 0",
    ),
    (
        "NaN time",
        lambda: json.dumps(_set(MEASURED, ("profile", "step_time_us"), float("nan"))),
        "profile.step_time_us: nan is not of type 'number'",
    ),
    (
        "infinite time",
        lambda: json.dumps(_set(MEASURED, ("profile", "layer_time_us", "conv/1"), float("inf"))),
        "profile.layer_time_us[\"conv/1\"]: inf is not of type 'number'",
    ),
    (
        "negative time",
        lambda: _set(MEASURED, ("profile", "ops", 0, "times_us", 1), -1.5),
        "profile.ops[0].times_us[1]: -1.5 is less than the minimum of 0",
    ),
    (
        "zero profiled steps",
        lambda: _set(MEASURED, ("profile", "steps"), 0),
        "profile.steps: 0 is less than the minimum of 1",
    ),
    (
        "count as a string",
        lambda: _set(BASE, ("layers", 1, "keras_params"), "832"),
        "layers[1].keras_params: '832' is not of type 'integer'",
    ),
    (
        "count as a boolean",
        lambda: _set(BASE, ("batch_size",), True),
        "batch_size: True is not of type 'integer'",
    ),
    (
        "layers as an object",
        lambda: _set(BASE, ("layers",), {"conv1": {}}),
        "layers: {'conv1': {}} is not of type 'array'",
    ),
    (
        "layers of numbers",
        lambda: _set(BASE, ("layers",), [1, 2]),
        "layers[0]: 1 is not of type 'object'",
    ),
    (
        "name as a number",
        lambda: _set(BASE, ("layers", 2, "name"), 5),
        "layers[2].name: 5 is not of type 'string'",
    ),
    (
        "config as a list",
        lambda: _set(BASE, ("layers", 1, "config"), [1]),
        "layers[1].config: [1] is not of type 'object'",
    ),
    (
        "trainable as a string",
        lambda: _set(BASE, ("layers", 1, "weights", 0, "trainable"), "yes"),
        "layers[1].weights[0].trainable: 'yes' is not of type 'boolean'",
    ),
    (
        "title as a string",
        lambda: _set(BASE, ("title",), "LeNet"),
        "title: 'LeNet' is not of type 'object'",
    ),
    (
        "shape as a string",
        lambda: _set(BASE, ("layers", 0, "output_shapes", 0), "(None, 28)"),
        "layers[0].output_shapes[0]: '(None, 28)' is not of type 'array'",
    ),
    (
        "op shape with null",
        lambda: _set(MEASURED, ("memory", "ops", 0, "shape", 0), None),
        "memory.ops[0].shape[0]: None is not of type 'integer'",
    ),
    (
        "missing layer name",
        lambda: _drop(BASE, ("layers", 0, "name")),
        "layers[0]: 'name' is a required property",
    ),
    ("missing layers", lambda: _drop(BASE, ("layers",)), "top level: 'layers' is a required"),
    (
        "missing batch_size",
        lambda: _drop(BASE, ("batch_size",)),
        "top level: 'batch_size' is a required property",
    ),
    (
        "missing op field",
        lambda: _drop(MEASURED, ("memory", "ops", 1, "allocator")),
        "memory.ops[1]: 'allocator' is a required property",
    ),
    (
        "missing profile field",
        lambda: _drop(MEASURED, ("profile", "step_time_us")),
        "profile: 'step_time_us' is a required property",
    ),
    (
        "wrong facts_version",
        lambda: _set(BASE, ("facts_version",), 99),
        "facts_version: the collected facts have format version 99, this reportgen reads 1",
    ),
    (
        "missing facts_version",
        lambda: _drop(BASE, ("facts_version",)),
        "top level: 'facts_version' is a required property",
    ),
    (
        "slug with a newline",
        lambda: _set(BASE, ("slug",), "lenet\n"),
        "slug: invalid slug 'lenet\\n'",
    ),
    ("slug leaving the site", lambda: _set(BASE, ("slug",), "../x"), "slug: invalid slug '../x'"),
    (
        "name too long",
        lambda: _set(BASE, ("layers", 1, "name"), "x" * 5000),
        "layers[1].name: 'xxxxxxxx",
    ),
    ("not JSON", lambda: "{'facts_version': 1}", "not a readable collected-facts file"),
    ("empty", lambda: "", "not a readable collected-facts file"),
    ("unterminated string", lambda: '{"slug": "lenet', "not a readable collected-facts file"),
]


@pytest.mark.parametrize(
    ("content", "expected"),
    [pytest.param(make, expected, id=name) for name, make, expected in HOSTILE_FACTS],
)
def test_render_refuses_hostile_facts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    content: Callable[[], str | dict[str, Any] | list[Any]],
    expected: str,
) -> None:
    line = render_fails(tmp_path, content(), capsys, monkeypatch)
    assert expected in line
    assert len(line) < 600


def test_render_refuses_an_oversize_facts_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reportgen.facts, "MAX_FACTS_BYTES", 1000)
    line = render_fails(tmp_path, BASE, capsys, monkeypatch)
    assert "the collected-facts file is larger than the limit of 1,000 bytes" in line


def test_render_refuses_facts_that_are_not_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "collected" / "lenet"
    (folder / "facts.json").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert main(["render", str(tmp_path / "collected"), "--out", str(tmp_path / "site")]) == 1
    assert capsys.readouterr().err.startswith("reportgen: error: ")
    assert not (tmp_path / "site").exists()


def test_one_line_names_the_first_fault_and_counts_the_others(tmp_path: Path) -> None:
    data = _set(BASE, ("layers", 1, "keras_params"), -1)
    data = _set(data, ("layers", 3, "keras_params"), -2)
    data = _set(data, ("layers", 3, "name"), None)
    with pytest.raises(ReportgenError) as info:
        validate_facts(data, tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'facts.json'}: layers[1].keras_params: -1 is less than the minimum of 0"
        " (and 2 more problems)"
    )


def test_a_million_faults_are_counted_not_listed(tmp_path: Path) -> None:
    data = _set(BASE, ("notes",), [-1] * 300_000)
    with pytest.raises(
        ReportgenError, match=r"notes\[0\]: -1 is not valid under any .* \(and 100\+"
    ):
        validate_facts(data, tmp_path)


def test_names_in_field_paths_are_quoted_on_one_line() -> None:
    assert field_path(["layers", 3, "keras_params"]) == "layers[3].keras_params"
    assert field_path([]) == "top level"
    assert field_path(["memory", "layer_bytes", "conv/1"]) == 'memory.layer_bytes["conv/1"]'
    assert field_path(["x", "a\nb\u2028"]) == 'x["a\\nb\\u2028"]'
    assert field_path(["x", "名字"]) == 'x["名字"]'
    assert len(field_path(["x", "y" * 10_000])) < 100


# --- what still validates -------------------------------------------------------------


def test_handmade_facts_validate(tmp_path: Path) -> None:
    for facts in (
        lenet_facts(),
        lenet_facts(batch_size=8),
        measured_facts(),
        lenet_facts(optimizer=OptimizerFacts("Shampoo", {})),
        lenet_facts(reference="constants"),
    ):
        assert validate_facts(facts_data(facts), tmp_path) == facts


def test_legal_hostile_strings_validate(tmp_path: Path) -> None:
    """Markup, quotes and control characters in names are data, not faults."""
    facts = lenet_facts(
        layers=(
            layer(EVIL, "Dense", (None, 3), (None, 2), (("kernel", (3, 2)),), units=2),
            layer(CONTROL, "Dropout", (None, 2), (None, 2), rate=0.1),
            layer("x" * 4000, "Mystery<Layer>", (None, 2), (None, 2), note='"\\'),
        ),
        title_en='"><img src=x onerror=alert(1)>',
        title_zh="<b>粗</b>\x00",
    )
    assert validate_facts(facts_data(facts), tmp_path) == facts


def _module_facts(module: types.ModuleType) -> Iterator[LayerFacts | ModelFacts]:
    """Every LayerFacts or ModelFacts a test module builds at import time."""
    stack: list[Any] = list(vars(module).values())
    while stack:
        item = stack.pop()
        if isinstance(item, LayerFacts | ModelFacts):
            yield item
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())


def test_every_handmade_layer_in_the_tests_validates(tmp_path: Path) -> None:
    layers: list[LayerFacts] = [*lenet_layers(), *tests.test_derive_flops.lenet()]
    layers.append(tests.test_derive_layers._shared_dense())
    for module in (tests.test_derive_layers, tests.test_derive_flops):
        for item in _module_facts(module):
            if isinstance(item, ModelFacts):
                validate_facts(facts_data(item), tmp_path)
            else:
                layers.append(item)
    assert len(layers) > 100
    facts = lenet_facts(layers=tuple(layers))
    assert validate_facts(facts_data(facts), tmp_path) == facts


def test_unknown_fields_are_ignored(tmp_path: Path) -> None:
    """A newer reportgen of the same facts_version may add fields: they are skipped."""
    data = _set(MEASURED, ("memory", "ops", 0, "added_later"), {"x": [1]})
    data = _set(data, ("profile", "added_later"), 1)
    data = _set(data, ("profile", "ops", 0, "added_later"), 1)
    data = _set(data, ("memory", "layer_notes", "conv1", 0, "added_later"), 1)
    data = _set(data, ("layers", 0, "added_later"), 1)
    data = _set(data, ("added_later",), 1)
    assert validate_facts(data, tmp_path) == measured_facts()


def test_free_form_configs_keep_any_json(tmp_path: Path) -> None:
    config = {"a": [None, True, -1, 1.5e300, "s", {"b": []}], "c": -(2**70)}
    data = _set(BASE, ("layers", 1, "config", "extra"), config)
    assert validate_facts(data, tmp_path).layers[1].config["extra"] == config


def test_the_slug_pattern_is_the_configs() -> None:
    assert schema("facts.schema.json")["properties"]["slug"]["pattern"] == SLUG_RE.pattern


def test_shipped_schemas_are_valid_schemas() -> None:
    import jsonschema

    for name in ("facts.schema.json", "report.schema.json", "report-diff.schema.json"):
        jsonschema.Draft202012Validator.check_schema(schema(name))
        assert validator(name) is validator(name)  # compiled once


def test_reports_this_reportgen_writes_validate(tmp_path: Path) -> None:
    for facts in (lenet_facts(), measured_facts()):
        check_report(report_data(derive_model(facts)), tmp_path / "lenet.json")
    check_report(gold_report(), GOLD)


# --- nesting depth, without recursion ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "]]]]]]]", "{"]', 1),
        ('["\\"[[[", "\\\\", [[]]]', 3),
        ('["\\\\\\"[", []]', 2),
        ('"unterminated [[[[', 0),
        ("[[[[", 4),
        ("]]]][[", 0),  # a parser stops at the first ]
        ("[" * 100_000, 100_000),
        ("[" * 100_000 + "]" * 100_000, 100_000),
        ("[[]]" * 1000 + "[[[[]]]]", 4),
        ('"\\' + '"\\"' * 1000, 0),
    ],
)
def test_nesting_depth(text: str, depth: int) -> None:
    assert nesting_depth(text.encode()) == depth


def _random_json(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 7 or roll < 0.3:
        return rng.choice([1, None, "s[", "]]}", '\\"[', "x\\\\", "{", 2.5, True])
    if roll < 0.65:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{i}[": _random_json(rng, depth + 1) for i in range(rng.randrange(4))}


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@pytest.mark.parametrize(
    ("text", "limit", "depth"),
    [
        ("[" * 100_000, 64, 65),
        ("[" * 64 + "]" * 64, 64, 64),
        ("[" * 65 + "]" * 65, 64, 65),
        ('[[1, "[[[[[["], [[2]]]', 3, 3),
        ('[[1, "]]"], [[[2]]]]', 3, 4),
    ],
)
def test_nesting_depth_with_a_limit(text: str, limit: int, depth: int) -> None:
    assert nesting_depth(text.encode(), limit) == depth


def test_nesting_depth_agrees_with_the_parsed_value() -> None:
    rng = random.Random(1234)
    for _ in range(500):
        value = _random_json(rng, 0)
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
        assert nesting_depth(text.encode()) == _depth(value), text


def test_escaped_quotes_cost_linear_time() -> None:
    """A string of escaped quotes that never ends must not make stripping quadratic."""
    assert nesting_depth(b'["' + b'\\"' * 2_000_000) == 1


# --- diff ------------------------------------------------------------------------------


def lenet_report() -> dict[str, Any]:
    return report_data(derive_model(lenet_facts()))


def write_site(root: Path, report: dict[str, Any] | str | list[Any]) -> Path:
    (root / "data").mkdir(parents=True)
    text = report if isinstance(report, str) else json.dumps(report)
    (root / "data" / "lenet.json").write_text(text, encoding="utf-8")
    (root / "data" / "report.schema.json").write_text(
        json.dumps(schema("report.schema.json")), encoding="utf-8"
    )
    return root


def diff_fails(
    tmp_path: Path, new: dict[str, Any] | str | list[Any], capsys: pytest.CaptureFixture[str]
) -> str:
    old = write_site(tmp_path / "old", lenet_report())
    site = write_site(tmp_path / "new", new)
    assert main(["diff", str(old), str(site)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("reportgen: error: "), lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert captured.out == ""
    return lines[0]


REPORT = lenet_report()
HOSTILE_REPORTS: list[tuple[str, Callable[[], dict[str, Any] | str | list[Any]], str]] = [
    (
        "layers of numbers",
        lambda: _set(REPORT, ("layers",), [1, 2]),
        "data/lenet.json: layers[0]: 1 is not of type 'object'",
    ),
    (
        "layer without a name",
        lambda: _drop(REPORT, ("layers", 2, "name")),
        "data/lenet.json: layers[2]: 'name' is a required property",
    ),
    (
        "layer name as a number",
        lambda: _set(REPORT, ("layers", 2, "name"), 7),
        "data/lenet.json: layers[2].name: 7 is not of type 'string'",
    ),
    (
        "layer without a class",
        lambda: _drop(REPORT, ("layers", 2, "class_name")),
        "data/lenet.json: layers[2]: 'class_name' is a required property",
    ),
    (
        "nested 100,000 deep",
        lambda: '{"schema_version": 2, "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "data/lenet.json: the JSON report nests arrays and objects more than 64 deep",
    ),
    (
        "negative params",
        lambda: _set(REPORT, ("layers", 1, "params"), -5),
        "data/lenet.json: layers[1].params: -5 is less than the minimum of 0",
    ),
    (
        "params of 10**400",
        lambda: _set(REPORT, ("totals", "params"), 10**400),
        "data/lenet.json: totals.params: an integer of about 401 digits is greater than",
    ),
    (
        "time as a string",
        lambda: _set(REPORT, ("layers", 1, "time_us"), "fast"),
        "data/lenet.json: layers[1].time_us: 'fast' is not of type 'number', 'null'",
    ),
    (
        "infinite time",
        lambda: json.dumps(_set(REPORT, ("layers", 1, "time_us"), float("inf"))),
        "data/lenet.json: layers[1].time_us: inf is not of type 'number', 'null'",
    ),
    (
        "slug leaving the site",
        lambda: _set(REPORT, ("slug",), "../x"),
        "data/lenet.json: slug: '../x' does not match",
    ),
    (
        "schema_version as a string",
        lambda: _set(REPORT, ("schema_version",), "2"),
        "data/lenet.json: schema_version: '2' is not of type 'integer'",
    ),
    (
        "an older report with bad layers",
        lambda: _set(_set(REPORT, ("schema_version",), 1), ("layers", 0), {"name": "x"}),
        "data/lenet.json: layers[0]: 'class_name' is a required property",
    ),
    ("a list at the top", lambda: [1, 2], "new: holds no model report"),
    ("not JSON", lambda: "{", "data/lenet.json: not a readable JSON report"),
]


@pytest.mark.parametrize(
    ("content", "expected"),
    [pytest.param(make, expected, id=name) for name, make, expected in HOSTILE_REPORTS],
)
def test_diff_refuses_hostile_reports(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: Callable[[], dict[str, Any] | str | list[Any]],
    expected: str,
) -> None:
    line = diff_fails(tmp_path, content(), capsys)
    assert expected in line
    assert len(line) < 600


def test_diff_refuses_an_oversize_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reportgen.diff, "MAX_REPORT_BYTES", 1000)
    line = diff_fails(tmp_path, REPORT, capsys)
    assert "data/lenet.json: the JSON report is larger than the limit of 1,000 bytes" in line


def test_diff_skips_json_that_is_not_a_report(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", REPORT)
    (site / "data" / "other.json").write_text('[1, {"layers": [1, 2]}]', encoding="utf-8")
    (site / "data" / "folder.json").mkdir()
    assert list(load_data(site)) == ["lenet"]


def test_diff_reads_an_older_site(tmp_path: Path) -> None:
    """A report of another schema_version: only what diff compares is checked."""
    old = {
        "schema_version": 1,
        "slug": "lenet",
        "totals": {"params": 3_274_634, "activation_bytes": 212_072},
        "profile": None,
        "layers": [
            {"name": item["name"], "class_name": item["class_name"], "params": item["params"]}
            for item in REPORT["layers"]
        ],
        "something_old": {"x": 1},
    }
    old_site = write_site(tmp_path / "old", old)
    new_site = write_site(tmp_path / "new", REPORT)
    markdown, failures = run_diff(old_site, new_site, fail_on="params")
    assert failures == []
    assert "1 model, 1 changed" in markdown  # FLOPs appear: the old site had none


def test_diff_accepts_the_gold_report(tmp_path: Path) -> None:
    assert list(load_data(GOLD)) == ["lenet"]
    scrubbed = gold_report()
    scrubbed["layers"][1]["time_us"] = "*"  # as tests/test_tf_cli.py scrubs it to compare
    (tmp_path / "lenet.json").write_text(json.dumps(scrubbed), encoding="utf-8")
    with pytest.raises(ReportgenError, match=r"lenet.json: layers\[1\].time_us: '\*' is not"):
        load_data(tmp_path / "lenet.json")


def test_output_path_is_checked_before_any_work(tmp_path: Path) -> None:
    check_output_path(tmp_path / "diff.md")
    check_output_path(Path("diff.md"))
    with pytest.raises(ReportgenError) as missing:
        check_output_path(tmp_path / "nowhere" / "diff.md")
    assert str(missing.value) == (
        f"{tmp_path / 'nowhere' / 'diff.md'}: cannot write the Markdown there: the folder "
        f"{tmp_path / 'nowhere'} does not exist"
    )
    with pytest.raises(ReportgenError, match="it is a directory"):
        check_output_path(tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(ReportgenError, match="is not a directory"):
        check_output_path(tmp_path / "file" / "diff.md")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_output_path_in_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ReportgenError, match="is not writable"):
            check_output_path(folder / "diff.md")
    finally:
        folder.chmod(0o755)


def test_write_markdown_fails_in_one_line(tmp_path: Path) -> None:
    write_markdown(tmp_path / "diff.md", "# x\n")
    assert (tmp_path / "diff.md").read_text(encoding="utf-8") == "# x\n"
    with pytest.raises(ReportgenError) as info:
        write_markdown(tmp_path, "# x\n")
    assert str(info.value) == f"{tmp_path}: cannot write the Markdown: Is a directory"


def test_hostile_values_never_break_the_formatters() -> None:
    from reportgen.units import fmt_bytes, fmt_int, fmt_percent, fmt_shape, fmt_us

    for value in (10**400, -(10**400), 10**5000, 2**1024, 2**1024 - 1):
        for fmt in (fmt_bytes, fmt_int, fmt_us, fmt_percent):
            assert "\n" not in fmt(value)
        assert fmt_shape((None, value))
    assert fmt_bytes(10**400) == "9.09e+387 TiB"
    assert fmt_int(10**5000) == "1e+5000"


def test_diffing_a_changed_layer_name_is_not_confused(tmp_path: Path) -> None:
    """A layer renamed to a number-like or hostile string is compared as text."""
    new = copy.deepcopy(REPORT)
    new["layers"][1]["name"] = EVIL
    old_site = write_site(tmp_path / "old", REPORT)
    new_site = write_site(tmp_path / "new", new)
    markdown, _ = run_diff(old_site, new_site)
    assert "(added)" in markdown and "(removed)" in markdown


def test_dataclass_fields_match_the_schema() -> None:
    """Every field of the facts dataclasses is in the schema, and only those are required
    that have no default (a field added to a dataclass must be added to the schema)."""
    defs = schema("facts.schema.json")["$defs"]
    classes = {
        "layer": LayerFacts,
        "weight": reportgen.facts.WeightFacts,
        "op_memory": OpMemory,
        "memory_note": MemoryNote,
        "memory": MemoryMeasurement,
        "op_time": OpTime,
        "profile": ProfileMeasurement,
        "flops": FlopsMeasurement,
        "optimizer": OptimizerFacts,
    }
    top = schema("facts.schema.json")
    for name, cls, where in [(k, v, defs[k]) for k, v in classes.items()] + [
        ("model", ModelFacts, top)
    ]:
        fields = dataclasses.fields(cls)
        assert set(where["properties"]) == {f.name for f in fields}, name
        no_default = {
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        optional_in_reader = {"allocator_peak_bytes", "allocator_total_bytes"}
        required_in_reader = {"facts_version"} if cls is ModelFacts else set()
        expected = (no_default - optional_in_reader) | required_in_reader
        assert set(where["required"]) == expected, name


def test_an_integral_float_is_the_integer_json_schema_says_it_is(tmp_path: Path) -> None:
    """JSON Schema's ``integer`` is any number without a fractional part: 832.0 is 832."""
    folder = collected(tmp_path, _set(BASE, ("layers", 1, "keras_params"), 832.0))
    facts = read_facts(folder / "facts.json")
    assert facts.layers[1].keras_params == 832
    assert isinstance(facts.layers[1].keras_params, int)


@pytest.mark.parametrize("value", [10**400, 1e308, float("inf"), 10**30, -5])
def test_an_impossible_config_value_costs_the_formula_not_the_model(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: float,
) -> None:
    """``config`` is free-form Keras data: a doctored field falls back to the weights."""
    data = json.loads(json.dumps(BASE))
    for item in data["layers"]:
        if item["class_name"] == "Dense":
            item["config"]["units"] = value
    folder = collected(tmp_path, data)
    monkeypatch.chdir(tmp_path)
    assert main(["render", str(folder), "--out", str(tmp_path / "site"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    report = json.loads((tmp_path / "site" / "data" / "lenet.json").read_text())
    assert report["totals"]["params"] == report["totals"]["keras_params"]
    dense = [layer for layer in report["layers"] if layer["class_name"] == "Dense"]
    assert all(layer["params"] == layer["keras_params"] for layer in dense)
