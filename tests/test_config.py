"""Configuration: files found in the right order, every mistake named precisely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reportgen.config import BUILTIN_CONFIG, ModelSpec, load_config
from reportgen.errors import ConfigError

GOOD = """
[[models]]
slug = "mine"
source = "pkg.models:build"
input_shape = [32, 32, 3]
batch_size = 4
title.en = "Mine"
title.zh = "我的模型"
"""


def write(tmp_path: Path, text: str, name: str = "reportgen.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_models_without_configuration(tmp_path: Path) -> None:
    config = load_config(cwd=tmp_path)
    assert config.builtin and config.path == BUILTIN_CONFIG
    assert [m.slug for m in config.models] == [
        "lenet",
        "lenet-tf",
        "mobilenet-v2",
        "resnet50",
        "text-classifier",
        "transformer",
        "gpt2-tiny",
        "llama-tiny",
        "bert-tiny",
    ]
    assert config.builtin_sources()["lenet"] == "reportgen.zoo.lenet:build_lenet"


def test_reportgen_toml(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    (model,) = load_config(cwd=tmp_path).models
    assert (model.slug, model.source, model.input_shape, model.batch_size) == (
        "mine",
        "pkg.models:build",
        (32, 32, 3),
        4,
    )
    assert (model.title_en, model.title_zh) == ("Mine", "我的模型")


def test_pyproject_tool_table(tmp_path: Path) -> None:
    text = GOOD.replace("[[models]]", "[[tool.reportgen.models]]")
    write(tmp_path, "[project]\nname='x'\n" + text, "pyproject.toml")
    assert load_config(cwd=tmp_path).models[0].slug == "mine"


def test_pyproject_without_tool_table_means_builtins(tmp_path: Path) -> None:
    write(tmp_path, "[project]\nname='x'\n", "pyproject.toml")
    assert load_config(cwd=tmp_path).builtin


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[models]\n", "not valid TOML"),
        (GOOD + "colour = 1\n", r"models\[0\]\.colour is not a known key"),
        ("out = 3\n" + GOOD, "out must be a non-empty string, got 3"),
        (
            GOOD.replace("batch_size = 4", 'batch_size = "4"'),
            r"models\[0\]\.batch_size must be a positive integer, got '4'",
        ),
        (GOOD.replace("[32, 32, 3]", "[32, -1]"), r"input_shape must be a list of positive"),
        (GOOD.replace('"pkg.models:build"', '"pkg.models"'), "source must be a string 'package"),
        (GOOD.replace('slug = "mine"', 'slug = "../etc"'), "slug must be"),
        (GOOD + GOOD, "has the slug 'mine' twice"),
        ("[[models]]\nslug = 'x'\n", "missing the key 'source'"),
        ("speed = 1\n", "speed is not a known key"),
        (
            GOOD.replace('title.zh = "我的模型"', 'title.fr = "Le mien"'),
            r"title\.fr is not a known key",
        ),
        (GOOD + "sequence_length = 0\n", r"models\[0\]\.sequence_length must be a positive"),
        (GOOD + 'sequence_length = "16"\n', r"sequence_length must be a positive integer"),
        (GOOD + "sequence_length = true\n", r"sequence_length must be a positive integer"),
        (GOOD + "input_shapes = [16]\n", r"models\[0\]\.input_shapes must be a table"),
        (GOOD + "input_shapes = {}\n", r"models\[0\]\.input_shapes must be a table"),
        (
            GOOD + "input_shapes = { token_ids = [0] }\n",
            r"input_shapes\.token_ids must be a non-empty list of positive integers",
        ),
        (
            GOOD + "input_shapes = { token_ids = [] }\n",
            r"input_shapes\.token_ids must be a non-empty list",
        ),
        (
            GOOD + 'input_shapes = { token_ids = ["a"] }\n',
            r"input_shapes\.token_ids must be a non-empty list",
        ),
    ],
)
def test_mistakes_name_file_key_and_expectation(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(cwd=tmp_path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_explicit_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml")


def test_select_models(tmp_path: Path) -> None:
    config = load_config(cwd=tmp_path)
    assert [m.slug for m in config.select(["lenet"])] == ["lenet"]
    with pytest.raises(ConfigError, match="unknown model 'nope' in --models"):
        config.select(["nope"])


def test_sequence_length_and_input_shapes(tmp_path: Path) -> None:
    text = GOOD + "sequence_length = 16\ninput_shapes = { token_ids = [128], mask = [128] }\n"
    write(tmp_path, text)
    (model,) = load_config(cwd=tmp_path).models
    assert model.sequence_length == 16
    assert model.input_shapes == {"token_ids": (128,), "mask": (128,)}
    # The worker receives the spec as JSON: it comes back the same.
    assert ModelSpec.from_dict(json.loads(json.dumps(model.to_dict()))) == model


def test_sequence_length_is_optional(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    (model,) = load_config(cwd=tmp_path).models
    assert (model.sequence_length, model.input_shapes) == (None, None)
    assert ModelSpec.from_dict(json.loads(json.dumps(model.to_dict()))) == model
