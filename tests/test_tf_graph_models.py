"""Models without Keras (the raw-TensorFlow LeNet, a frozen .pb) and Keras files (.keras, .h5).

Each must give the same numbers as the Keras LeNet: parameters per layer, totals, output
bytes and FLOPs. Files that are missing, empty, corrupt or would run code are one line.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from reportgen.config import ModelSpec
from reportgen.derive import derive_model
from reportgen.facts import CollectNote, ModelFacts
from reportgen.model import ModelReport

pytestmark = pytest.mark.tf

LENET_PARAMS = [832, 51_264, 3_212_288, 10_250]
LENET_FLOPS = 27_844_156
LENET_LAYERS = [
    ("conv1", "Conv2D"),
    ("pool1", "MaxPooling2D"),
    ("conv2", "Conv2D"),
    ("pool2", "MaxPooling2D"),
    ("flatten", "Flatten"),
    ("fc1", "Dense"),
    ("dropout", "Dropout"),
    ("fc2", "Dense"),
]
LENET_INBOUND = {
    "x": (),
    "conv1": ("x",),
    "pool1": ("conv1",),
    "conv2": ("pool1",),
    "pool2": ("conv2",),
    "flatten": ("pool2",),
    "fc1": ("flatten",),
    "dropout": ("fc1",),
    "fc2": ("dropout",),
}


def spec(slug: str, source: str, **extra: Any) -> ModelSpec:
    return ModelSpec(slug=slug, source=source, title_en=slug, title_zh=slug, **extra)


def round_trip(facts: ModelFacts) -> ModelFacts:
    """Through JSON, as render reads them."""
    return ModelFacts.from_dict(json.loads(facts.to_json()))


@pytest.fixture(scope="module")
def keras_lenet(lenet_model: Any) -> ModelReport:
    from reportgen.collect.keras_facts import model_facts

    return derive_model(round_trip(model_facts(lenet_model, spec("lenet", "x:y"))))


def graph_report(model: Any, slug: str) -> tuple[ModelFacts, ModelReport]:
    """Facts, runtime memory and TensorFlow's FLOPs of a graph model, then its report."""
    import dataclasses

    from reportgen.collect.graph_facts import graph_layout, graph_model_facts
    from reportgen.collect.graph_run import measure_graph_model

    layout = graph_layout(model)
    facts = graph_model_facts(model, layout, spec(slug, "x:y"))
    memory, flops = measure_graph_model(model, layout.index, 1)
    facts = round_trip(dataclasses.replace(facts, memory=memory, flops=flops))
    return facts, derive_model(facts)


@pytest.fixture(scope="module")
def lenet_tf_module() -> Any:
    from reportgen.zoo.lenet_tf import build_lenet_tf

    return build_lenet_tf()


@pytest.fixture(scope="module")
def lenet_tf(lenet_tf_module: Any) -> tuple[ModelFacts, ModelReport]:
    from reportgen.collect.graph_facts import graph_model_from_object

    return graph_report(graph_model_from_object(lenet_tf_module, "lenet_tf"), "lenet-tf")


@pytest.fixture(scope="module")
def frozen_pb(lenet_tf_module: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The raw-TensorFlow LeNet frozen to constants and written as a binary GraphDef."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    frozen = convert_variables_to_constants_v2(lenet_tf_module.__call__.get_concrete_function())
    directory = tmp_path_factory.mktemp("frozen")
    tf.io.write_graph(frozen.graph.as_graph_def(), str(directory), "LeNet_mnist.pb", as_text=False)
    return directory / "LeNet_mnist.pb"


@pytest.fixture(scope="module")
def frozen_model(frozen_pb: Path) -> Any:
    from reportgen.collect.graph_facts import load_frozen_graph

    return load_frozen_graph(frozen_pb, "LeNet_mnist.pb", ["x:0"], ["fc2/Softmax:0"], (28, 28, 1))


@pytest.fixture(scope="module")
def frozen(frozen_model: Any) -> tuple[ModelFacts, ModelReport]:
    return graph_report(frozen_model, "lenet-pb")


def assert_same_numbers_as_keras_lenet(report: ModelReport, keras: ModelReport) -> None:
    layers = report.layers[1:]
    assert report.layers[0].class_name == "InputLayer"
    assert [(layer.name, layer.class_name) for layer in layers] == LENET_LAYERS
    assert [layer.params.value for layer in layers if layer.params.value] == LENET_PARAMS
    for layer in report.layers:
        assert layer.params.value == layer.keras_params, layer.name
        assert layer.params.method in ("formula", "zero"), layer.name
    assert report.mismatches == ()
    assert report.totals.params == report.totals.keras_params == 3_274_634
    # Derived totals only: whether a run was measured differs between the two fixtures.
    unmeasured = {"measured_peak_bytes": None}
    assert dataclasses.replace(report.totals, **unmeasured) == dataclasses.replace(
        keras.totals, **unmeasured
    )
    # Output bytes and FLOPs, layer by layer (the input layer is named x, not image).
    assert [layer.activation.value for layer in report.layers] == [
        layer.activation.value for layer in keras.layers
    ]
    assert [layer.flops.value if layer.flops else None for layer in report.layers] == [
        layer.flops.value if layer.flops else None for layer in keras.layers
    ]
    assert report.flops is not None
    assert report.flops.derived == report.flops.measured == LENET_FLOPS


def test_lenet_tf_derives_the_keras_lenet_numbers(
    lenet_tf: tuple[ModelFacts, ModelReport], keras_lenet: ModelReport
) -> None:
    assert_same_numbers_as_keras_lenet(lenet_tf[1], keras_lenet)


def test_lenet_tf_layers_are_its_name_scopes(lenet_tf: tuple[ModelFacts, ModelReport]) -> None:
    facts, report = lenet_tf
    conv1 = facts.layers[1]
    assert conv1.config["kernel_size"] == [5, 5] and conv1.config["filters"] == 32
    assert (conv1.config["padding"], conv1.config["strides"]) == ("same", [1, 1])
    assert conv1.config["activation"] == "relu" and conv1.config["use_bias"]
    assert [(w.name, w.shape, w.trainable) for w in conv1.weights] == [
        ("conv1/weights", (5, 5, 1, 32), True),
        ("conv1/biases", (32,), True),
    ]
    assert conv1.input_shapes == ((None, 28, 28, 1),)
    assert conv1.output_shapes == ((None, 28, 28, 32),)
    assert facts.layers[-1].config["activation"] == "softmax"
    assert facts.framework["tensorflow"]
    assert facts.notes[0] == CollectNote("graph_origin", {"kind": "tf.function"})
    assert "not a Keras model" in report.notes[0].en
    assert "不是 Keras 模型" in report.notes[0].zh


def test_lenet_tf_runtime_memory(lenet_tf: tuple[ModelFacts, ModelReport]) -> None:
    facts, _ = lenet_tf
    assert facts.memory is not None
    measured = facts.memory.layer_bytes
    # The seed's figures: 28×28×32×4, 14×14×64×4 and 1024×4 bytes for conv1, conv2, fc1.
    assert (measured["conv1"], measured["conv2"], measured["fc1"]) == (100_352, 50_176, 4_096)
    assert (measured["pool1"], measured["pool2"], measured["fc2"]) == (25_088, 12_544, 40)
    assert measured["x"] is None and measured["flatten"] is None
    # Written as relu(conv + b) (not bias_add), the Relu is not fused into the convolution,
    # and Grappler moves it after the max pooling: the page says so.
    (moved,) = [n for n in facts.memory.layer_notes["conv1"] if n.kind == "moved"]
    assert (moved.op, moved.op_type, moved.owner_layer) == ("conv1/Relu", "Relu", "pool1")
    weight_reads = [op for op in facts.memory.ops if op.op == "conv1/Conv2D"]
    assert weight_reads and weight_reads[0].layer == "conv1"


def test_graph_rows_record_what_they_read(
    lenet_tf: tuple[ModelFacts, ModelReport],
    frozen: tuple[ModelFacts, ModelReport],
    keras_lenet: ModelReport,
) -> None:
    """Who reads what comes from the graph's data edges, so liveness finds the peak the
    Keras LeNet has: conv1's output and pool1's, live together while pool1 runs."""
    for facts, report in (lenet_tf, frozen):
        assert {layer.name: layer.inbound for layer in facts.layers} == LENET_INBOUND
        assert report.totals.peak_activation_bytes is not None
        assert report.totals.peak_activation_bytes == keras_lenet.totals.peak_activation_bytes
        assert report.totals.peak_layer == keras_lenet.totals.peak_layer == "pool1"


def test_branching_function_records_who_reads_what() -> None:
    """Two scopes read the input, an unscoped tf.identity passes one on, an add scope reads
    both and the head reads the add and the input again: the peak is the hand-computed one."""
    import tensorflow as tf

    from reportgen.collect.graph_facts import (
        graph_layout,
        graph_model_facts,
        graph_model_from_object,
    )

    class Branchy(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(name="branchy")
            with tf.name_scope("left"):
                self.kernel = tf.Variable(tf.ones([4, 4]), name="kernel")

        @tf.function(  # type: ignore[untyped-decorator]
            input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")]
        )
        def __call__(self, x: Any) -> Any:
            with tf.name_scope("left"):
                left = tf.nn.relu(tf.matmul(x, self.kernel))
            with tf.name_scope("right"):
                right = tf.tanh(x)
            right = tf.identity(right)  # of no row: it only passes right's output on
            with tf.name_scope("add"):
                total = left + right
            with tf.name_scope("head"):
                return tf.nn.softmax(total + x)

    model = graph_model_from_object(Branchy(), "pkg:branchy")
    facts = graph_model_facts(model, graph_layout(model), spec("branchy", "pkg:branchy"))
    assert {layer.name: layer.inbound for layer in facts.layers} == {
        "x": (),
        "left": ("x",),
        "right": ("x",),
        "add": ("left", "right"),
        "head": ("add", "x"),
    }
    report = derive_model(round_trip(facts))
    # Every output is 4 float32 = 16 B per example (batch 1). While add runs, x (read again
    # by head), left, right and add are live: 64 B; at head only x, add and head: 48 B.
    assert report.totals.peak_activation_bytes == 4 * 16
    assert report.totals.peak_layer == "add"


def test_row_fed_by_an_op_of_no_row_reads_unknown_rows() -> None:
    """An op outside the model's scope belongs to no row: the row reading it has unknown
    inputs (never guessed), every other row keeps its own."""
    import tensorflow as tf

    from reportgen.collect.graph_facts import graph_layout, graph_model_from_object

    @tf.function(  # type: ignore[untyped-decorator]
        input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")]
    )
    def forward(x: Any) -> Any:
        with tf.name_scope("model"), tf.name_scope("a"):
            a = tf.tanh(x)
        squared = tf.square(a)
        with tf.name_scope("model/"):  # the same scope again, not model_1
            with tf.name_scope("c"):
                c = tf.nn.relu(squared)
            with tf.name_scope("d"):
                return a + c

    layout = graph_layout(graph_model_from_object(forward, "pkg:forward"))
    assert {layer.name: layer.inbound for layer in layout.layers if not layer.is_input} == {
        "a": ("x",),
        "c": None,
        "d": ("a", "c"),
    }


def test_frozen_graph_round_trip(
    frozen: tuple[ModelFacts, ModelReport], keras_lenet: ModelReport
) -> None:
    facts, report = frozen
    assert_same_numbers_as_keras_lenet(report, keras_lenet)
    assert [w.name for w in facts.layers[1].weights] == ["conv1/kernel", "conv1/bias"]
    assert facts.notes[0] == CollectNote("graph_origin", {"kind": "frozen graph"})
    assert "frozen" in report.notes[0].en and "冻结" in report.notes[0].zh


def test_frozen_graph_profile(frozen_model: Any, tmp_path: Path) -> None:
    from reportgen.collect.graph_facts import graph_layout
    from reportgen.collect.graphdef import graph_forward, sample_inputs
    from reportgen.collect.profiler import profile_forward

    layout = graph_layout(frozen_model)
    profile = profile_forward(
        graph_forward(frozen_model),
        sample_inputs(frozen_model, 2),
        tmp_path,
        layout.index,
        steps=2,
        warmup=1,
    )
    assert {"conv1", "conv2", "fc1"} <= set(profile.layer_time_us)
    assert (tmp_path / profile.trace_file).is_file() if profile.trace_file else False


def test_worker_collects_a_frozen_graph(frozen_pb: Path, tmp_path: Path) -> None:
    from reportgen.collect.worker import collect_into

    model = spec(
        "lenet-pb",
        frozen_pb.name,
        source_path=str(frozen_pb),
        inputs=("x:0",),
        outputs=("Identity:0",),
        input_shape=(28, 28, 1),
    )
    collect_into({"spec": model.to_dict(), "profile": False}, tmp_path)
    facts = ModelFacts.from_dict(json.loads((tmp_path / "facts.json").read_text("utf-8")))
    report = derive_model(facts)
    assert report.totals.params == 3_274_634 and report.mismatches == ()
    assert facts.memory is not None and facts.flops is not None
    assert facts.flops.total == LENET_FLOPS


# ---------------------------------------------------------------------------- Keras files


@pytest.fixture(scope="module")
def saved_lenet(lenet_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keras-files")
    lenet_model.save(directory / "lenet.keras")
    lenet_model.save(directory / "lenet.h5")
    return directory


@pytest.mark.parametrize("name", ["lenet.keras", "lenet.h5"])
def test_keras_files_load_with_the_same_numbers(
    saved_lenet: Path, name: str, keras_lenet: ModelReport
) -> None:
    from reportgen.collect.keras_facts import model_facts
    from reportgen.collect.source import load_keras_file

    model = load_keras_file(saved_lenet / name, name)
    report = derive_model(round_trip(model_facts(model, spec("lenet", name))))
    assert report.totals == keras_lenet.totals
    assert [layer.params.value for layer in report.layers] == [
        layer.params.value for layer in keras_lenet.layers
    ]


@pytest.fixture(scope="module")
def lambda_keras(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    inputs = keras.Input((4,), name="values")
    outputs = keras.layers.Dense(2, name="dense")(
        keras.layers.Lambda(lambda x: x * 2, name="double")(inputs)
    )
    path = tmp_path_factory.mktemp("lambda") / "double.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def test_lambda_file_is_refused_naming_the_flag(lambda_keras: Path, tmp_path: Path) -> None:
    from reportgen.collect.log import CollectFailure
    from reportgen.collect.worker import collect_into

    model = spec("lam", "models/double.keras", source_path=str(lambda_keras))
    with pytest.raises(CollectFailure) as info:
        collect_into({"spec": model.to_dict(), "profile": False}, tmp_path)
    message = str(info.value)
    assert message == (
        "models/double.keras: refused to load: the file contains a Python lambda in a Lambda "
        "layer, and loading it would run code from the file; if you trust it, build with "
        "--unsafe-load"
    )
    assert not (tmp_path / "facts.json").exists()


def test_lambda_file_loads_with_unsafe_load(lambda_keras: Path, tmp_path: Path) -> None:
    from reportgen.collect.worker import collect_into

    model = spec("lam", "double.keras", source_path=str(lambda_keras))
    collect_into({"spec": model.to_dict(), "profile": False, "unsafe_load": True}, tmp_path)
    facts = json.loads((tmp_path / "facts.json").read_text("utf-8"))
    assert [layer["class_name"] for layer in facts["layers"]] == ["InputLayer", "Lambda", "Dense"]
    assert facts["keras_params"] == 10


# ---------------------------------------------------------------------------- bad files


def _make(directory: Path, name: str, content: bytes | None) -> Path:
    path = directory / name
    if content is not None:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "cause"),
    [
        ("missing.keras", None, "no such file"),
        ("missing.h5", None, "no such file"),
        ("missing.pb", None, "no such file"),
        ("empty.keras", b"", "the file is empty"),
        ("empty.h5", b"", "the file is empty"),
        ("empty.pb", b"", "the file is empty"),
        (
            "corrupt.keras",
            b"PK not really a zip",
            "not a Keras file (a .keras file is a zip archive; this one is corrupt or has "
            "another format)",
        ),
        (
            "corrupt.h5",
            b"\x00garbage" * 100,
            "not an HDF5 file (no HDF5 signature: the file is corrupt or has another format)",
        ),
        ("corrupt.pb", b"\xff\xff\xff\xff garbage", "not a TensorFlow GraphDef"),
    ],
)
def test_bad_files_are_one_line(
    tmp_path: Path, name: str, content: bytes | None, cause: str
) -> None:
    from reportgen.collect.log import CollectFailure
    from reportgen.collect.worker import collect_into

    path = _make(tmp_path, name, content)
    extra: dict[str, Any] = {"source_path": str(path)}
    if name.endswith(".pb"):
        extra.update(inputs=("x:0",), outputs=("y:0",))
    model = spec("bad", f"models/{name}", **extra)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CollectFailure) as info:
        collect_into({"spec": model.to_dict(), "profile": False}, out)
    message = str(info.value)
    # Where the file was looked for is named when it is not there.
    where = f"models/{name} ({path})" if content is None else f"models/{name}"
    assert message.startswith(f"{where}: {cause}"), message
    assert "\n" not in message


def test_a_keras_zip_without_a_model(tmp_path: Path) -> None:
    import zipfile

    from reportgen.collect.log import CollectFailure
    from reportgen.collect.source import check_model_file

    path = tmp_path / "other.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    with pytest.raises(CollectFailure, match=r"other\.keras: not a Keras file \(the archive has"):
        check_model_file(path, "other.keras")


def test_pb_with_unknown_tensor_names(frozen_pb: Path) -> None:
    from reportgen.collect.graph_facts import load_frozen_graph
    from reportgen.collect.log import CollectFailure

    with pytest.raises(CollectFailure, match=r"net\.pb: has no input tensor 'image:0' \("):
        load_frozen_graph(frozen_pb, "net.pb", ["image:0"], ["fc2/Softmax:0"], None)
    with pytest.raises(CollectFailure, match=r"net\.pb: has no output tensor 'logits:0'"):
        load_frozen_graph(frozen_pb, "net.pb", ["x:0"], ["logits:0"], None)


def test_graph_object_without_signature_is_one_line() -> None:
    import tensorflow as tf

    from reportgen.collect.graph_facts import graph_model_from_object
    from reportgen.collect.log import CollectFailure

    with pytest.raises(CollectFailure, match="has no input_signature; give it one"):
        graph_model_from_object(tf.function(lambda x: x), "pkg:build")
    with pytest.raises(CollectFailure, match=r"^pkg:build\(\) returned int, not a Keras model$"):
        graph_model_from_object(3, "pkg:build")
    with pytest.raises(CollectFailure, match=r"returned Module, not a Keras model nor a tf\.func"):
        graph_model_from_object(tf.Module(), "pkg:build")


def test_frozen_keras_model_layers_are_recognised(tmp_path: Path) -> None:
    """A Keras model frozen to a .pb: its scopes sit under the model's own scope, batch
    normalisation is written out as Mul/Add, and padding, depthwise convolution, residual
    Add and pooling each become the Keras layer they were."""
    import keras
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    from reportgen.collect.graph_facts import graph_layout, graph_model_facts, load_frozen_graph

    layers = keras.layers
    inputs = keras.Input((8, 8, 3), name="image")
    x = layers.ZeroPadding2D(1, name="pad")(inputs)
    x = layers.Conv2D(8, 3, use_bias=False, name="conv")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(6.0, name="relu6")(x)
    y = layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = layers.Add(name="residual")([x, y])
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, layers.Dense(4, name="head")(x), name="small")
    forward = tf.function(
        lambda t: model(t, training=False), input_signature=[tf.TensorSpec([None, 8, 8, 3])]
    )
    frozen = convert_variables_to_constants_v2(forward.get_concrete_function())
    tf.io.write_graph(frozen.graph.as_graph_def(), str(tmp_path), "small.pb", as_text=False)

    graph = load_frozen_graph(tmp_path / "small.pb", "small.pb", ["t:0"], ["Identity:0"], None)
    facts = graph_model_facts(graph, graph_layout(graph), spec("small", "small.pb"))
    report = derive_model(round_trip(facts))
    assert [(layer.name, layer.class_name) for layer in facts.layers] == [
        ("t", "InputLayer"),
        ("pad_1", "ZeroPadding2D"),
        ("conv_1", "Conv2D"),
        ("bn_1", "BatchNormalization"),
        ("relu6_1", "Activation"),
        ("depthwise_1", "DepthwiseConv2D"),
        ("residual_1", "Add"),
        ("pool_1", "GlobalAveragePooling2D"),
        ("head_1", "Dense"),
    ]
    assert report.mismatches == ()
    assert facts.layers[6].inbound == ("relu6_1", "depthwise_1")
    assert report.totals.params == model.count_params()
    # The moving mean and variance are recognised by where they go (into the Rsqrt, and
    # subtracted from β), so the non-trainable count is Keras's too.
    assert report.totals.non_trainable_params == 16
    bn = facts.layers[3]
    assert [w.name for w in bn.weights] == [
        "bn_1/gamma",
        "bn_1/beta",
        "bn_1/moving_mean",
        "bn_1/moving_variance",
    ]
    assert bn.config["epsilon"] == pytest.approx(0.001)


def test_lambda_file_through_the_cli_keeps_the_site(lambda_keras: Path, tmp_path: Path) -> None:
    """The refusal as a user meets it: one line, exit status 1, the previous site intact."""
    import shutil
    import subprocess
    import sys

    from tests.handmade import previous_site

    shutil.copy(lambda_keras, tmp_path / "double.keras")
    (tmp_path / "reportgen.toml").write_text('[[models]]\nslug = "lam"\nsource = "double.keras"\n')
    previous_site(tmp_path / "site")
    result = subprocess.run(
        [sys.executable, "-m", "reportgen", "build", "--no-profile"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "reportgen: error: lam: double.keras: refused to load: the file contains a Python "
        "lambda in a Lambda layer, and loading it would run code from the file; if you trust "
        "it, build with --unsafe-load"
    )
    assert (tmp_path / "site" / "index.html").read_text() == "the previous site"
