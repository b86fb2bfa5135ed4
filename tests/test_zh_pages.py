"""No Chinese page carries an English sentence. Hand-made facts, no TensorFlow.

The site is rendered from models built to reach every sentence derive and the collect
stage can put on a page: a derived count and a FLOPs total that disagree with their
references, an unknown parameter total, every kind of runtime memory remark, every note of
the collect stage (and the English sentences older collectors wrote instead), an optimizer
the model was compiled with, a layer the recorded call never used. The golden site's
Chinese pages (``tests/gold/site``, from facts a real collection wrote) are checked too.

The rule, for each ``zh/`` page (:func:`english_runs`):

1. Drop what is not prose: ``<math>``, ``<pre>`` (commands), ``<kbd>``, ``<samp>``,
   ``<svg>``, ``<script>``, ``<style>``, and any element marked ``lang="en"`` (the
   language switch names English in English on purpose). ``<code>`` stays: pages once
   showed English sentences inside it (the list of disagreements), and what it rightly
   holds (names, shapes, a command line) never makes a run below.
2. Drop every name the facts hold: layer, class, op and optimizer names, model titles,
   the measurement method, the text of an exception a note quotes. A name is data, shown
   as it was given.
3. Find runs of three or more Latin words (letters, apostrophes, hyphens) separated only
   by spaces and light punctuation (``, ; : ( )``). Digits, ``/``, ``.``, ``_`` and any
   Chinese character end a run, so numbers, units, paths, ``tf.function`` and
   ``count_params`` never make one.
4. A run is English prose when at least two of its words are lower-case words of two
   letters or more: English sentences cannot do without ``the``, ``is``, ``of``, ``not``;
   the names a Chinese sentence legitimately keeps in Latin letters (``TensorFlow``,
   ``Chrome trace JSON``, ``JSON Schema``) are capitalised.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from reportgen.derive import derive_model
from reportgen.derive.subclassed import NOT_CALLED_KEY, OWN_WEIGHTS_KEY
from reportgen.facts import (
    CollectNote,
    FlopsMeasurement,
    LayerFacts,
    MemoryMeasurement,
    MemoryNote,
    ModelFacts,
    OptimizerFacts,
    WeightFacts,
    read_facts,
)
from reportgen.model import ModelReport
from reportgen.render.site import render_site
from tests.handmade import layer, lenet_facts

NOT_PROSE = ("math", "pre", "kbd", "samp", "svg", "script", "style")
WORD = r"[A-Za-z][A-Za-z'’\-]*"
RUN = re.compile(rf"{WORD}(?:[ \t\r\n,;:()]+{WORD}){{2,}}")
LOWER_WORD = re.compile(r"[a-z][a-z'’\-]+")

ERROR = "ValueError: boom"
"""An exception's own text, quoted by a note: data, like a name."""

LEGACY_NOTES = (
    "This model is not a Keras model but a plain TensorFlow graph, traced from its "
    "tf.function: each layer is a top-level name scope of the graph, and the reference "
    "parameter count that each formula is checked against is the summed size of the "
    "variables (in a frozen graph: the constants) that the scope's ops use.",
    "This model is a frozen TensorFlow graph (.pb), not a Keras model: each layer is a "
    "top-level name scope of the graph, and the reference parameter count that each formula "
    "is checked against is the summed size of the variables (in a frozen graph: the "
    "constants) that the scope's ops use.",
    "A frozen graph does not record which constants were trainable weights; every "
    "floating-point constant of rank ≥ 1 is counted as a trainable parameter, except the "
    "moving mean and variance of a recognised batch normalisation.",
    "4 weight tensor(s) of the graph are not used by the forward pass and are not counted "
    "(w_a, w_b, w_c, …).",
    "1 weight tensor(s) of the graph are not used by the forward pass and are not counted (w_a).",
    "TensorFlow's FLOPs profiler does not look inside While loops, so its count leaves out "
    "the work done in the loop of rnn_a, rnn_b (a recurrent layer runs its cell there once "
    "per time step); the derived figure counts it.",
    f"runtime memory and FLOPs were not measured: {ERROR}",
    f"the profiler did not run: {ERROR}",
)
"""The English notes collectors wrote into ``facts.json`` before notes had keys."""

NOTES = (
    CollectNote("graph_origin", {"kind": "tf.function"}),
    CollectNote("graph_origin", {"kind": "frozen graph"}),
    CollectNote("frozen_constants"),
    CollectNote("unused_weights", {"names": ["w_a", "w_b", "w_c", "w_d"]}),
    CollectNote("unused_weights", {"names": ["w_a"]}),
    CollectNote("loop_flops", {"layers": ["rnn_a"]}),
    CollectNote("loop_flops", {"layers": ["rnn_a", "rnn_b"]}),
    CollectNote("memory_not_measured", {"error": ERROR}),
    CollectNote("profiler_failed", {"error": ERROR}),
    CollectNote("from_a_newer_collector", {"layers": ["rnn_a"]}),
)
"""Every note the collect stage writes, and one this reportgen does not know."""

MEMORY_NOTES = {
    "image": (MemoryNote("fed_input", nbytes=3136),),
    "conv1": (
        MemoryNote("fused", op_type="_FusedConv2D", fused_ops=("Conv2D", "BiasAdd", "Relu")),
        MemoryNote("padding", nbytes=100_416, expected_bytes=100_352),
        MemoryNote("scratch", op_type="_FusedConv2D", nbytes=4096),
    ),
    "pool1": (
        MemoryNote("workspace", op_type="MaxPoolWithArgmax", nbytes=25_088),
        MemoryNote("other_outputs", op_type="MaxPoolWithArgmax", nbytes=64),
    ),
    "conv2": (
        MemoryNote("in_place_same_layer", op_type="Relu", owner_op_type="Conv2D"),
        MemoryNote("moved", op_type="Relu", op="lenet/conv2/Relu", owner_layer="pool2"),
    ),
    "pool2": (MemoryNote("not_run", op="lenet/pool2/MaxPool"),),
    "flatten": (
        MemoryNote("view", op_type="Reshape", owner_layer="pool2", nbytes=12_544),
        MemoryNote("view", op_type="Reshape", nbytes=12_544),
    ),
    "fc1": (
        MemoryNote("in_place", op_type="Relu", owner_layer="fc1", nbytes=4096),
        MemoryNote("in_place", op_type="Relu", nbytes=4096),
        MemoryNote("multiple_outputs", count=2),
        MemoryNote("shared_calls", count=3),
    ),
    "dropout": (MemoryNote("no_op"),),
}
MEASURED = {
    "image": None,
    "conv1": 100_416,
    "pool1": 25_088,
    "conv2": 50_176,
    "pool2": None,
    "flatten": None,
    "fc1": 4000,
}
"""Bytes the allocator recorded: more, exactly, none, less; fc2 has no record at all."""


def _disagreeing() -> ModelFacts:
    """LeNet whose conv1 disagrees with Keras, whose FLOPs disagree with TensorFlow's
    profiler while one layer has no FLOPs formula, with every memory remark and note."""
    layers = list(lenet_facts().layers)
    layers[1] = dataclasses.replace(layers[1], keras_params=999)
    layers.append(layer("mystery", "MysteryLayer", (None, 10), (None, 10)))
    memory = MemoryMeasurement(
        method="session-full-trace",
        ops=(),
        layer_bytes=MEASURED,
        layer_notes=MEMORY_NOTES,
        allocator_peak_bytes=1 << 20,
        allocator_total_bytes=2 << 20,
    )
    wrapped = OptimizerFacts(
        "LossScaleOptimizer",
        {"inner_optimizer": {"class_name": "SGD", "config": {"momentum": 0.9}}},
    )
    return lenet_facts(
        layers=tuple(layers),
        slug="disagree",
        title_en="Disagree",
        title_zh="不一致",
        batch_size=2,
        memory=memory,
        flops=FlopsMeasurement(total=1_000, by_op_type={"Conv2D": 1_000}, by_layer={}),
        optimizer=wrapped,
        notes=(*NOTES, *LEGACY_NOTES),
    )


def _own_weights(name: str, class_name: str, *shapes: tuple[int, ...]) -> LayerFacts:
    weights = tuple(
        WeightFacts(f"{name}/w{i}", shape, "float32", True) for i, shape in enumerate(shapes)
    )
    return LayerFacts(
        name=name,
        class_name=class_name,
        config={"name": name, OWN_WEIGHTS_KEY: True},
        input_shapes=(),
        output_shapes=(),
        compute_dtype="float32",
        variable_dtype="float32",
        weights=weights,
        keras_params=sum(s[0] * (s[1] if len(s) > 1 else 1) for s in shapes),
    )


def _subclassed() -> ModelFacts:
    """A subclassed model with weights of its own, a layer the call never used, a layer
    whose shapes were not collected and a value type of unknown size: an unknown total."""
    dense = layer(
        "dense", "Dense", (None, 5), (None, 4), (("kernel", (5, 4)), ("bias", (4,))), units=4
    )
    blind = dataclasses.replace(dense, name="blind", input_shapes=(), output_shapes=())
    unused = dataclasses.replace(
        dense,
        name="aux",
        input_shapes=(),
        output_shapes=(),
        weights=(),
        keras_params=0,
        config={"units": 7, NOT_CALLED_KEY: True},
    )
    head = dataclasses.replace(
        dense,
        name="head",
        input_shapes=(),
        output_shapes=(),
        config={"units": 4, NOT_CALLED_KEY: True},
    )
    odd = dataclasses.replace(dense, name="odd", output_dtypes=("float8_e4m3",))
    return lenet_facts(
        layers=(
            layer("input_layer", "InputLayer", (None, 5), (None, 5)),
            dense,
            blind,
            unused,
            head,
            odd,
            _own_weights("raw", "Raw", (5, 3), (3,)),
        ),
        slug="raw",
        title_en="Raw",
        title_zh="原始模型",
    )


def _names(facts: ModelFacts) -> set[str]:
    """Every name the facts hold: data, shown on a page as given."""
    names = {facts.title["en"], facts.title["zh"], facts.slug, ERROR}
    for item in facts.layers:
        names |= {item.name, item.class_name} | {w.name for w in item.weights}
    if facts.memory is not None:
        for notes in facts.memory.layer_notes.values():
            for note in notes:
                names |= {n for n in (note.op, note.op_type, note.owner_op_type) if n}
                names |= set(note.fused_ops)
        names.add(facts.memory.method)
    if facts.optimizer is not None:
        names.add(facts.optimizer.class_name)
    return names


def english_runs(html: str, names: set[str]) -> list[str]:
    """Runs of English prose in a page's text (see the module's docstring for the rule)."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(NOT_PROSE):
        tag.decompose()
    for tag in soup.find_all(attrs={"lang": re.compile(r"^en\b")}):
        tag.decompose()
    text = (soup.body or soup).get_text(" ")
    for name in sorted(names, key=len, reverse=True):  # "conv1" before "conv"
        text = text.replace(name, " 0 ")
    runs = []
    for match in RUN.finditer(text):
        words = re.findall(WORD, match.group(0))
        if sum(1 for w in words if LOWER_WORD.fullmatch(w)) >= 2:
            runs.append(" ".join(match.group(0).split()))
    return runs


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ModelFacts]]:
    out = tmp_path_factory.mktemp("zh-site")
    facts = [_disagreeing(), _subclassed()]
    reports: list[ModelReport] = [derive_model(f) for f in facts]
    assert reports[0].mismatches and reports[1].params_note is not None
    render_site(reports, out)
    return out, facts


@pytest.mark.parametrize("slug", ["disagree", "raw", "index"])
def test_no_english_sentence_on_a_chinese_page(
    site: tuple[Path, list[ModelFacts]], slug: str
) -> None:
    out, facts = site
    names = set().union(*(_names(f) for f in facts))
    runs = english_runs((out / "zh" / f"{slug}.html").read_text("utf-8"), names)
    assert runs == []


GOLD = Path(__file__).parent / "gold"


@pytest.mark.parametrize("page", sorted(p.name for p in (GOLD / "site" / "zh").glob("*.html")))
def test_no_english_sentence_on_a_golden_chinese_page(page: str) -> None:
    facts = [read_facts(path) for path in sorted((GOLD / "facts").glob("*/facts.json"))]
    names = set().union(*(_names(f) for f in facts))
    assert english_runs((GOLD / "site" / "zh" / page).read_text("utf-8"), names) == []


def test_the_rule_finds_english_and_spares_names() -> None:
    page = (
        "<body><p>TensorFlow 的 Chrome trace JSON；<code>count_params()</code>；"
        "层 the big layer 的输出；见 data/report.schema.json 和 tf.function。</p>"
        "<p>运行时内存：the profiler did not run。<code>the derived total is unknown</code></p>"
        '<a lang="en" href="x">Read this in English</a></body>'
    )
    assert english_runs(page, {"the big layer"}) == [
        "the profiler did not run",
        "the derived total is unknown",
    ]
