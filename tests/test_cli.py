"""The command line without a collect worker: one-line errors, ``list`` and ``--help``.

Real builds, and errors that only a worker can find, are in ``tests/test_tf_cli.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reportgen.cli import main


def test_unknown_model_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--models", "nope", "--out", str(tmp_path / "site")]) == 1
    err = capsys.readouterr().err
    assert err == (
        "reportgen: error: unknown model 'nope' in --models (known: lenet, lenet-tf, "
        "mobilenet-v2, resnet50, text-classifier, transformer, gpt2-tiny, llama-tiny, "
        "bert-tiny)\n"
    )
    assert not (tmp_path / "site").exists()


def test_bad_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "r.toml"
    config.write_text("[[models]]\nslug = 'a'\nsource = 'x:y'\nbatch = 2\n")
    assert main(["list", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"reportgen: error: {config}: models[0].batch is not a known key")
    assert err.count("\n") == 1


def test_list_and_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0] == "# built-in reference models"
    assert "lenet\treportgen.zoo.lenet:build_lenet\tLeNet for MNIST (Keras)" in listed
    for command in ("build", "collect", "render", "list", "serve"):
        assert main([command, "--help"]) == 0
        assert "Usage: reportgen" in capsys.readouterr().out
