"""Configuration of model sources: factories, Keras files, frozen graphs with tensor names."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportgen.config import ModelSpec, load_config, source_kind
from reportgen.errors import ConfigError

PB_MODEL = """
[[models]]
slug = "lenet-pb"
source = "models/LeNet_mnist.pb"
inputs = ["x:0"]
outputs = ["fc2/Softmax:0"]
input_shape = [28, 28, 1]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reportgen.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("pkg.models:build", "factory"),
        ("models/net.keras", "keras_file"),
        ("net.h5", "keras_file"),
        ("/abs/net.HDF5", "keras_file"),
        ("frozen/LeNet_mnist.pb", "frozen_graph"),
        ("pkg.models", None),
        ("net.onnx", None),
        ("saved_model/", None),
        ("", None),
    ],
)
def test_source_kinds(source: str, kind: str | None) -> None:
    assert source_kind(source) == kind


def test_frozen_graph_with_tensor_names(tmp_path: Path) -> None:
    write(tmp_path, PB_MODEL)
    (model,) = load_config(cwd=tmp_path).models
    assert model.kind == "frozen_graph"
    assert model.source == "models/LeNet_mnist.pb"  # shown as written
    assert model.source_path == str(tmp_path / "models" / "LeNet_mnist.pb")
    assert (model.inputs, model.outputs, model.input_shape) == (
        ("x:0",),
        ("fc2/Softmax:0",),
        (28, 28, 1),
    )


def test_file_sources_resolve_against_the_config_directory(tmp_path: Path) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    config = sub / "r.toml"
    config.write_text(
        '[[models]]\nslug = "a"\nsource = "../m/net.keras"\n'
        '[[models]]\nslug = "b"\nsource = "/abs/net.h5"\n'
        '[[models]]\nslug = "c"\nsource = "pkg:build"\n',
        encoding="utf-8",
    )
    a, b, c = load_config(config, cwd=tmp_path / "elsewhere").models
    assert Path(a.source_path or "") == sub / ".." / "m" / "net.keras"
    assert (a.kind, b.kind, c.kind) == ("keras_file", "keras_file", "factory")
    assert b.source_path == "/abs/net.h5"
    assert c.source_path is None


def test_spec_round_trips_through_the_worker_request() -> None:
    spec = ModelSpec(
        slug="g",
        source="g.pb",
        title_en="G",
        title_zh="G",
        input_shape=(28, 28, 1),
        source_path="/x/g.pb",
        inputs=("x:0",),
        outputs=("y:0", "z:1"),
    )
    data = spec.to_dict()
    assert data["inputs"] == ["x:0"] and data["outputs"] == ["y:0", "z:1"]
    assert ModelSpec.from_dict(data) == spec
    plain = ModelSpec(slug="k", source="p:f", title_en="K", title_zh="K")
    assert ModelSpec.from_dict(plain.to_dict()) == plain


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            PB_MODEL.replace('source = "models/LeNet_mnist.pb"', 'source = "net.onnx"'),
            r"models\[0\]\.source must be a string 'package\.module:function' or a path to a "
            r"\.keras, \.h5 or \.pb file, got 'net\.onnx'",
        ),
        (
            PB_MODEL.replace('inputs = ["x:0"]\n', ""),
            r"models\[0\] is missing the key 'inputs': a frozen graph \(\.pb\) needs the names "
            r"of its input tensors, e\.g\. inputs = \[\"x:0\"\]",
        ),
        (
            PB_MODEL.replace('outputs = ["fc2/Softmax:0"]\n', ""),
            r"missing the key 'outputs'.*outputs = \[\"fc2/Softmax:0\"\]",
        ),
        (
            PB_MODEL.replace('["x:0"]', '["x"]'),
            r"models\[0\]\.inputs must be a non-empty list of input tensor names such as "
            r"'x:0', got \['x'\]",
        ),
        (PB_MODEL.replace('["x:0"]', "[]"), r"models\[0\]\.inputs must be a non-empty list"),
        (PB_MODEL.replace('["x:0"]', '"x:0"'), r"models\[0\]\.inputs must be a non-empty list"),
        (PB_MODEL.replace('["x:0"]', "[1]"), r"models\[0\]\.inputs must be a non-empty list"),
        (
            PB_MODEL.replace('["fc2/Softmax:0"]', '["a:0", "a:0"]'),
            r"models\[0\]\.outputs names a tensor twice",
        ),
        (
            PB_MODEL.replace('"models/LeNet_mnist.pb"', '"models/net.keras"'),
            r"models\[0\]\.inputs is only for a frozen graph source \(\.pb\)",
        ),
        (
            '[[models]]\nslug = "f"\nsource = "pkg:build"\noutputs = ["y:0"]\n',
            r"models\[0\]\.outputs is only for a frozen graph source \(\.pb\)",
        ),
        (
            '[[models]]\nslug = "f"\nsource = 3\n',
            r"models\[0\]\.source must be a string 'package\.module:function' or a path",
        ),
    ],
)
def test_source_mistakes_name_file_key_and_expectation(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(cwd=tmp_path)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


def test_builtin_zoo_order_and_articles(tmp_path: Path) -> None:
    config = load_config(cwd=tmp_path)
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
    for model in config.models:
        assert model.kind == "factory"
        for article in (model.article_en, model.article_zh):
            assert article is not None
            text = Path(article).read_text(encoding="utf-8")
            assert text.startswith("## ") and len(text) > 500, article
