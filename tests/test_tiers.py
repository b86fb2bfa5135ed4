"""Two tiers of tests, told apart by the file name alone.

``tests/test_tf_*.py`` is the TensorFlow tier, exactly: the tests that import TensorFlow or
Keras, or run a collect worker (the process that does). Each such module is marked as a
whole (``pytestmark = pytest.mark.tf``), so ``pytest -m "not tf"`` leaves out exactly
those files. Every other test module is the fast tier: pure Python on hand-made or
committed facts (derive, render, publish, the command line up to the point where it
would start a worker).

Checked here by reading the test files (their syntax tree, nothing is imported):

1. a ``test_tf_*`` module sets ``pytestmark`` to ``pytest.mark.tf`` at its top level;
2. any other test module never names ``pytest.mark.tf``, never asks for the ``lenet_model``
   fixture (a Keras model), and imports, at any depth, neither TensorFlow, Keras, xprof nor
   a reportgen module that imports one of them when it loads (computed from reportgen's
   own sources, so a new TensorFlow-facing module is covered), nor the collect worker;
3. nor does it run ``python -m reportgen`` in a subprocess with anything but a literal
   command other than ``build`` and ``collect``;
4. a helper module (``tests/*.py`` that is not a test module) imports none of those at its
   top level: both tiers import helpers.

What reading cannot see, ``tests/conftest.py`` checks while the fast tier runs: a fast test
that starts a collect worker (``main(["build", ...])`` that gets that far) fails, and so
does one that imports TensorFlow or Keras (noticed whenever no TensorFlow-tier test loaded
them earlier in the session; always under ``pytest -m "not tf"``).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TF_TIER_PREFIX

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
TF_PACKAGES = {"tensorflow", "keras", "tf_keras", "keras_hub", "xprof"}
WORKER = "reportgen.collect.worker"
CLI_COMMANDS_WITH_WORKERS = {"build", "collect"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported(node: ast.AST) -> list[str]:
    """The modules an import statement names (``from a import b``: ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return []


def _imports(tree: ast.Module, top_level_only: bool) -> Iterator[tuple[int, str]]:
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        for name in _imported(node):
            yield getattr(node, "lineno", 0), name


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def tf_facing_modules() -> frozenset[str]:
    """reportgen's modules that import TensorFlow, Keras or xprof when they are loaded,
    directly or through another such module."""
    top_imports = {
        _module_name(path): {name for _, name in _imports(_tree(path), top_level_only=True)}
        for path in (ROOT / "reportgen").rglob("*.py")
    }
    facing: set[str] = set()
    changed = True
    while changed:
        changed = False
        for module, names in top_imports.items():
            if module not in facing and any(_is_tf(name, facing) for name in names):
                facing.add(module)
                changed = True
    return frozenset(facing)


def _is_tf(name: str, facing: frozenset[str] | set[str]) -> bool:
    return name.split(".")[0] in TF_PACKAGES or name in facing


def _test_modules() -> list[Path]:
    return sorted(TESTS.glob("test_*.py"))


def _fast(path: Path) -> bool:
    return not path.name.startswith(TF_TIER_PREFIX)


def _is_mark_tf(node: ast.AST) -> bool:
    """``pytest.mark.tf``."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "tf"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
    )


def tf_tier_problems(path: Path) -> list[str]:
    for node in _tree(path).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
            and any(_is_mark_tf(n) for n in ast.walk(node.value))
        ):
            return []
    return ["sets no `pytestmark = pytest.mark.tf` at its top level"]


def fast_tier_problems(path: Path, facing: frozenset[str]) -> list[str]:
    problems = []
    tree = _tree(path)
    for line, name in _imports(tree, top_level_only=False):
        if _is_tf(name, facing) or name == WORKER:
            problems.append(f"line {line} imports {name}")
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if _is_mark_tf(node):
            problems.append(f"line {line} marks a test with pytest.mark.tf")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            arg.arg == "lenet_model" for arg in node.args.args
        ):
            problems.append(f"line {line} uses the lenet_model fixture (a Keras model)")
        if isinstance(node, ast.List | ast.Tuple):
            problem = _subprocess_command_problem(node.elts)
            if problem:
                problems.append(f"line {line} runs `python -m reportgen` {problem}")
    return problems


def _subprocess_command_problem(elements: list[ast.expr]) -> str | None:
    """Why an argv list such as ``[sys.executable, "-m", "reportgen", "build"]`` may start a
    worker; None if it is not such a list or its command is a literal that starts none."""
    values = [e.value if isinstance(e, ast.Constant) else None for e in elements]
    for i in range(len(values) - 1):
        if values[i] == "-m" and values[i + 1] == "reportgen":
            command = values[i + 2] if i + 2 < len(values) else None
            if not isinstance(command, str):
                return "with a command that is not a literal"
            if command in CLI_COMMANDS_WITH_WORKERS:
                return f"{command} (a collect worker)"
    return None


def helper_problems(path: Path, facing: frozenset[str]) -> list[str]:
    return [
        f"line {line} imports {name} at its top level"
        for line, name in _imports(_tree(path), top_level_only=True)
        if _is_tf(name, facing) or name == WORKER
    ]


def test_both_tiers_exist() -> None:
    names = [path.name for path in _test_modules()]
    assert any(name.startswith(TF_TIER_PREFIX) for name in names)
    assert any(not name.startswith(TF_TIER_PREFIX) for name in names)


def test_the_tf_facing_modules_are_found() -> None:
    facing = tf_facing_modules()
    assert {"reportgen.collect.keras_facts", "reportgen.collect.graph_run"} <= facing
    assert not {"reportgen.derive", "reportgen.render.site", "reportgen.cli"} & facing


@pytest.mark.parametrize("path", _test_modules(), ids=lambda path: path.name)
def test_module_is_in_the_tier_its_name_says(path: Path) -> None:
    if _fast(path):
        problems = fast_tier_problems(path, tf_facing_modules())
        where = f"rename it {TF_TIER_PREFIX}{path.name[len('test_') :]}, or move those tests there"
    else:
        problems = tf_tier_problems(path)
        where = "mark the module: pytestmark = pytest.mark.tf"
    assert not problems, f"{path.name}: " + "; ".join(problems) + f" ({where})"


@pytest.mark.parametrize(
    "path",
    sorted(p for p in TESTS.glob("*.py") if not p.name.startswith("test_")),
    ids=lambda path: path.name,
)
def test_helpers_load_without_tensorflow(path: Path) -> None:
    assert not helper_problems(path, tf_facing_modules()), path.name


@pytest.mark.parametrize(
    ("source", "fast_problems"),
    [
        ("import keras\n", 1),
        ("def test_x():\n    from reportgen.collect.graph_run import measure_graph\n", 1),
        ("from reportgen.collect import worker\n", 1),
        ("import pytest\n@pytest.mark.tf\ndef test_x(): pass\n", 1),
        ("def test_x(lenet_model): pass\n", 1),
        ("import sys\nARGV = [sys.executable, '-m', 'reportgen', 'build']\n", 1),
        ("def run(*a):\n    return [sys.executable, '-m', 'reportgen', *a]\n", 1),
        ("ARGV = [sys.executable, '-m', 'reportgen', 'render', 'collected']\n", 0),
        ("from reportgen.collect.profiler import plan_passes\n", 0),
        ("from reportgen.cli import main\nmain(['build', '--out', '.'])\n", 0),  # conftest
    ],
)
def test_the_rule_itself(tmp_path: Path, source: str, fast_problems: int) -> None:
    path = tmp_path / "test_example.py"
    path.write_text(source, encoding="utf-8")
    assert len(fast_tier_problems(path, tf_facing_modules())) == fast_problems
    assert tf_tier_problems(path)
    path.write_text("import pytest\npytestmark = pytest.mark.tf\n", encoding="utf-8")
    assert tf_tier_problems(path) == []
