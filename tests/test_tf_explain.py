"""``reportgen.explain`` and ``reportgen.compare`` in the calling process, and the example
notebooks run headless.

The notebooks (``examples/*.ipynb``) run once, both in one IPython kernel started from this
venv's Python through a kernelspec in a temporary folder (nothing is fetched, the user's
Jupyter and IPython folders are not touched); the tests read their saved outputs. The
other tests call the API here, on LeNet.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import reportgen
from reportgen.errors import CollectError, ConfigError

pytestmark = pytest.mark.tf

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EPOCH = "1700000000"
LENET_SOURCE = "reportgen.zoo.lenet:build_lenet"
KERNEL = "reportgen-test"


# ------------------------------------------------------------------ the notebooks


def _kernelspec(folder: Path) -> None:
    """A kernelspec named :data:`KERNEL` that starts this venv's Python."""
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "reportgen test", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Every example notebook, executed in order in one kernel: {name: notebook}."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    home = tmp_path_factory.mktemp("jupyter")
    _kernelspec(home)
    env = {
        "JUPYTER_PATH": str(home),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "IPYTHONDIR": str(home / "ipython"),
        "MPLCONFIGDIR": str(home / "matplotlib"),
        "KERAS_HOME": str(home / "keras"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    manager = KernelManager(kernel_name=KERNEL)
    try:
        manager.start_kernel(cwd=str(EXAMPLES), env={**os.environ})
        executed = {}
        for path in sorted(EXAMPLES.glob("*.ipynb")):
            notebook = nbformat.read(path, as_version=4)
            NotebookClient(notebook, km=manager, timeout=300).execute()
            executed[path.stem] = notebook
        yield executed
    finally:
        manager.shutdown_kernel(now=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _outputs(notebook: Any, kind: str) -> list[str]:
    return [
        str(output["data"][kind])
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if kind in output.get("data", {})
    ]


def test_the_notebooks_run_without_an_error(notebooks: dict[str, Any]) -> None:
    assert set(notebooks) == {"lenet", "gpt2"}
    for name, notebook in notebooks.items():
        errors = [
            o for c in notebook.cells for o in c.get("outputs", ()) if o.output_type == "error"
        ]
        assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"


def test_the_lenet_notebook_shows_the_table_in_both_languages(notebooks: dict[str, Any]) -> None:
    tables = _outputs(notebooks["lenet"], "text/html")
    english, chinese = tables[0], tables[1]
    for html in (english, chinese):
        assert "(5×5×1+1)×32 = 832" in html
        assert 'class="reportgen-nb"' in html
        assert '<div class="rg-panel rg-panel-zh" lang="zh-Hans">' in html
        assert "参数量" in html and "Parameters" in html  # both languages are there
    assert re.search(
        r'class="rg-pick rg-pick-en" name="rg\d+-lang" id="rg\d+-pick-en" checked>', english
    )
    assert re.search(r'id="rg\d+-pick-zh" checked>', chinese)  # lang="zh": Chinese shown first
    printed = [o.get("text", "") for c in notebooks["lenet"].cells for o in c.get("outputs", ())]
    assert any("3,274,634 (= Keras count_params())" in text for text in printed)
    comparison = tables[-1]
    assert '<tr class="mismatch rg-changed">' in comparison  # fc1 with 512 units


def test_the_gpt2_notebook_explains_the_decoder(notebooks: dict[str, Any]) -> None:
    html = _outputs(notebooks["gpt2"], "text/html")[0]
    assert "TransformerDecoder" in html and "(None, 128, 64)" in html
    assert any(text.startswith("(True, ") for text in _outputs(notebooks["gpt2"], "text/plain"))


# ------------------------------------------------------------------ one implementation


def _build_site(folder: Path) -> Path:
    """``reportgen build --no-profile`` of LeNet, as a project configures it."""
    (folder / "reportgen.toml").write_text(
        f'[[models]]\nslug = "lenet"\nsource = "{LENET_SOURCE}"\n'
        'title = { en = "lenet", zh = "lenet" }\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "reportgen", "build", "--no-profile", "--out", "site", "--quiet"],
        cwd=folder,
        env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return folder / "site"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_explain_gives_the_sites_numbers_and_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LeNet both ways: ``reportgen build`` and ``explain``, the same JSON and site."""
    site = _build_site(tmp_path)
    report = reportgen.explain(LENET_SOURCE, measure=True, profile=False)
    assert report.to_json() == (site / "data" / "lenet.json").read_text(encoding="utf-8")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.chdir(tmp_path)  # the build's history records the commit of its folder
    saved = report.save(tmp_path / "saved")
    assert _tree(saved) == _tree(site)
    # Unmeasured, every derived figure is the same; only the measurements are missing.
    unmeasured = reportgen.explain(LENET_SOURCE).to_dict()
    measured = report.to_dict()
    for key in ("params", "param_bytes", "activation_bytes", "flops", "keras_params"):
        assert unmeasured["totals"][key] == measured["totals"][key]
    derived = ("params_formula", "activation_formula", "flops_formula", "keras_params")
    for before, after in zip(unmeasured["layers"], measured["layers"], strict=True):
        assert {k: before[k] for k in derived} == {k: after[k] for k in derived}
    assert unmeasured["runtime_memory"] is None and measured["runtime_memory"] is not None


# ------------------------------------------------------------------ in the user's process


def _state(model: Any) -> dict[str, Any]:
    """What measuring must leave as it was: the model, Keras's and TensorFlow's globals."""
    import keras
    import tensorflow as tf
    from keras.src.backend.common import global_state

    return {
        "layers": [id(layer) for layer in model.layers],
        "weights": [id(weight) for weight in model.weights],
        "keras": {k: repr(v) for k, v in vars(global_state.GLOBAL_STATE_TRACKER).items()},
        "floatx": keras.backend.floatx(),
        "image_data_format": keras.backend.image_data_format(),
        "eager": tf.executing_eagerly(),
        "graph": id(tf.compat.v1.get_default_graph()),
        "functions_run_eagerly": tf.config.functions_run_eagerly(),
    }


def test_measuring_leaves_the_model_and_the_globals_as_they_were(lenet_model: Any) -> None:
    import numpy as np

    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    before, predicted = _state(lenet_model), np.asarray(lenet_model(x, training=False))
    report = reportgen.explain(lenet_model, measure=True)
    assert report.model.runtime is not None and report.model.profile is not None
    assert _state(lenet_model) == before
    np.testing.assert_array_equal(np.asarray(lenet_model(x, training=False)), predicted)


def test_without_measure_nothing_is_traced(
    lenet_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tensorflow as tf

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("explain() without measure traced a graph")

    monkeypatch.setattr(tf, "function", refuse)
    monkeypatch.setattr("reportgen.collect.graph_run.trace_model_forward", refuse)
    report = reportgen.explain(lenet_model)
    assert report.totals.params == lenet_model.count_params() < 5e6
    assert report.layers[1].params.formula.text == "(5×5×1+1)×32 = 832"
    assert "(5×5×1+1)×32 = 832" in str(report) and "```text\n" in report._repr_markdown_()


def test_compare_highlights_the_changed_rows(lenet_model: Any) -> None:
    one, two = reportgen.explain(lenet_model), reportgen.explain(lenet_model, batch_size=2)
    comparison = reportgen.compare(one, two)
    assert comparison.changed
    html = comparison._repr_html_()
    assert html.count('<tr class="mismatch rg-changed">') == 2 * len(two.layers)  # en and zh
    assert "100,352 B → 200,704 B" in html
    assert "lenet" in comparison.to_markdown()


class _Unbuilt:
    """A subclassed model never called: its input shape is unknown."""

    @staticmethod
    def make() -> Any:
        import keras

        class Tiny(keras.Model):
            def __init__(self) -> None:
                super().__init__(name="tiny")
                self.dense = keras.layers.Dense(3)

            def call(self, x: Any) -> Any:
                return self.dense(x)

        return Tiny()


@pytest.mark.parametrize(
    ("make", "kwargs", "error", "message"),
    [
        (
            _Unbuilt.make,
            {},
            CollectError,
            "tiny: the model's input shape is unknown; give input_shape in its configuration "
            "(without the batch dimension, e.g. input_shape = [28, 28, 1])",
        ),
        (
            None,
            {"input_shapes": {"tokens": [8]}},
            CollectError,
            "lenet: input_shapes: no input named 'tokens'; the model's inputs are image",
        ),
        (
            lambda: object(),
            {},
            ConfigError,
            "explain(): got object, not a Keras model, a tf.Module, a tf.function with an "
            "input_signature, nor a path to a .keras or .h5 file",
        ),
        (
            None,
            {"batch_size": 0},
            ConfigError,
            "explain(): batch_size must be a positive integer, got 0",
        ),
        (None, {"lang": "fr"}, ConfigError, "explain(): lang must be 'en' or 'zh', got 'fr'"),
    ],
)
def test_bad_input_is_one_line(
    lenet_model: Any, make: Any, kwargs: dict[str, Any], error: type, message: str
) -> None:
    with pytest.raises(error) as caught:
        reportgen.explain(make() if make else lenet_model, **kwargs)
    assert str(caught.value) == message
    assert caught.value._render_traceback_() == [f"{error.__name__}: {message}"]
