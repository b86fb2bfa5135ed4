"""The built-in models are a configuration file, read like a project's; "built-in" means
"listed in that file", and a page learns it from the configuration it is rendered with."""

from __future__ import annotations

import ast
import importlib
import shutil
from pathlib import Path

import pytest

from reportgen.cli import main
from reportgen.config import BUILTIN_CONFIG, builtin_config, load_config
from reportgen.pipeline import load_reports
from tests.handmade import layer, lenet_facts
from tests.sitecheck import parse

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "reportgen" / "zoo"
LENET = "reportgen.zoo.lenet:build_lenet"


def test_no_configuration_means_the_packaged_file(tmp_path: Path) -> None:
    config = load_config(cwd=tmp_path)
    assert config == load_config(BUILTIN_CONFIG) == builtin_config()
    assert config.path == BUILTIN_CONFIG and config.builtin
    assert config.builtin_sources() == {m.slug: m.source for m in config.models}
    for model in config.models:
        assert model.article_root == str(ZOO.resolve())
        assert model.article_en == str(ZOO / "articles" / f"{model.slug}.en.md")
        assert model.article_zh == str(ZOO / "articles" / f"{model.slug}.zh.md")


def test_every_factory_is_in_the_zoo() -> None:
    """Importing a factory's module needs no TensorFlow: each imports Keras when called."""
    for model in builtin_config().models:
        module, _, function = model.source.partition(":")
        assert module.startswith("reportgen.zoo."), model.source
        assert callable(getattr(importlib.import_module(module), function)), model.source


def test_a_copy_of_the_file_is_a_projects_configuration(tmp_path: Path) -> None:
    shutil.copy(BUILTIN_CONFIG, tmp_path / "reportgen.toml")
    shutil.copytree(ZOO / "articles", tmp_path / "articles")
    copy = load_config(cwd=tmp_path)
    assert [m.slug for m in copy.models] == [m.slug for m in builtin_config().models]
    assert not copy.builtin and copy.builtin_sources() == {}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_config_and_zoo_do_not_import_each_other() -> None:
    assert not {m for m in _imports(ROOT / "reportgen" / "config.py") if "zoo" in m}
    for module in ZOO.glob("*.py"):
        assert not {m for m in _imports(module) if m.startswith("reportgen.config")}, module


def _collected(tmp_path: Path, source: str) -> Path:
    model_dir = tmp_path / "collected" / "lenet"
    model_dir.mkdir(parents=True)
    facts = lenet_facts(layers=(layer("image", "InputLayer", (None, 3), (None, 3)),), source=source)
    (model_dir / "facts.json").write_text(facts.to_json(), encoding="utf-8")
    return model_dir


@pytest.mark.parametrize(
    ("source", "builtin_sources", "builtin"),
    [
        (LENET, {"lenet": LENET}, True),
        (LENET, {}, False),  # a project's configuration that lists reportgen's LeNet
        ("mine.models:lenet", {"lenet": LENET}, False),  # a project's own "lenet"
    ],
)
def test_a_report_is_builtin_when_the_configuration_says_so(
    tmp_path: Path, source: str, builtin_sources: dict[str, str], builtin: bool
) -> None:
    (report,), _ = load_reports([_collected(tmp_path, source)], builtin=builtin_sources)
    assert report.builtin is builtin


BUILT_IN = "This model is one of reportgen’s built-in reference models."
PROJECT = "Run this in the directory that holds the project’s reportgen configuration"


@pytest.mark.parametrize("builtin", [True, False])
def test_the_rebuild_command_follows_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builtin: bool
) -> None:
    _collected(tmp_path, LENET)
    if not builtin:  # the project's own configuration lists reportgen's LeNet
        project = f"[[models]]\nslug = 'lenet'\nsource = '{LENET}'\n"
        (tmp_path / "reportgen.toml").write_text(project)
    monkeypatch.chdir(tmp_path)
    assert main(["render", "collected/lenet", "--out", "site", "--quiet"]) == 0
    said = parse(tmp_path / "site" / "en" / "lenet.html").select_one("#reproduce p").get_text()
    assert said.startswith(BUILT_IN if builtin else PROJECT), said
