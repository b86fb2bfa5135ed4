"""The TensorBoard events file of a collected model: the graph that ran in the traced
session, and that run's RunMetadata tagged with the slug, as TensorBoard reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reportgen.config import ModelSpec
from reportgen.errors import ReportgenError
from reportgen.facts import EVENTS_PREFIX, ModelFacts, check_events_file

pytestmark = pytest.mark.tf

SLUG = "lenet"


@pytest.fixture(scope="module")
def collected(lenet_model: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """LeNet collected in this process, with the profiler (which the events file joins)."""
    from reportgen.collect.worker import collect_object

    out = tmp_path_factory.mktemp("lenet_tensorboard")
    spec = ModelSpec(slug=SLUG, source="tests", title_en="LeNet", title_zh="LeNet")
    facts = collect_object(lenet_model, spec, out, profile=True)
    (out / "facts.json").write_text(facts.to_json(), encoding="utf-8")
    return facts, out


def _events(path: Path) -> list[Any]:
    import tensorflow as tf

    return list(tf.compat.v1.train.summary_iterator(str(path)))


def test_events_file_lies_next_to_the_raw_profile(collected: tuple[Any, Path]) -> None:
    facts, out = collected
    assert facts.profile is not None
    events_file = facts.profile.events_file
    assert events_file == f"{facts.profile.profile_dir}/{EVENTS_PREFIX}0.reportgen"
    assert (out / events_file).is_file()
    assert (out / facts.profile.profile_dir / "plugins").is_dir()
    # The field survives the facts file, and an older file without it still reads.
    reread = ModelFacts.from_dict(json.loads((out / "facts.json").read_text(encoding="utf-8")))
    assert reread.profile is not None and reread.profile.events_file == events_file
    data = json.loads(facts.to_json())
    del data["profile"]["events_file"]
    older = ModelFacts.from_dict(data)
    assert older.profile is not None and older.profile.events_file is None


def test_events_hold_the_graph_that_ran_and_its_tagged_run_metadata(
    collected: tuple[Any, Path],
) -> None:
    import tensorflow as tf

    facts, out = collected
    events = _events(out / facts.profile.events_file)
    assert events[0].file_version == "brain.Event:2"
    graphs = [e.graph_def for e in events if e.HasField("graph_def")]
    tagged = [e.tagged_run_metadata for e in events if e.HasField("tagged_run_metadata")]
    assert len(graphs) == 1 and len(tagged) == 1 and tagged[0].tag == SLUG

    graph = tf.compat.v1.GraphDef.FromString(graphs[0])
    nodes = {node.name: node for node in graph.node}
    convs = [name for name, node in nodes.items() if node.op == "Conv2D"]
    # Keras opens each layer's scope twice while tracing: conv1 runs in lenet_1/conv1_1.
    assert len(convs) == 2 and all(name.split("/")[-2] in ("conv1_1", "conv2_1") for name in convs)
    assert all("_output_shapes" in nodes[name].attr for name in convs)

    metadata = tf.compat.v1.RunMetadata.FromString(tagged[0].run_metadata)
    stats = [n for dev in metadata.step_stats.dev_stats for n in dev.node_stats]
    assert not metadata.partition_graphs
    # Every node that ran is a node of the written graph: TensorBoard pairs them by name.
    assert {n.node_name for n in stats if n.node_name in nodes}
    measured = {op.op for op in facts.memory.ops}
    assert measured <= {n.node_name for n in stats}
    # The convolutions ran fused with their bias and ReLU, under the ReLU node's name
    # (_FusedConv2D, or _MklNativeFusedConv2D with oneDNN): that graph node gets their stats.
    convolutions = [op for op in facts.memory.ops if op.op_type.endswith("FusedConv2D")]
    assert sorted(op.layer for op in convolutions) == ["conv1", "conv2"]
    for op in convolutions:
        assert op.op in nodes
        node = next(n for n in stats if n.node_name == op.op)
        assert node.all_end_rel_micros > 0  # compute time
        allocated = node.output[op.slot].tensor_description.allocation_description
        assert allocated.requested_bytes == op.requested_bytes  # memory
        assert sum(record.total_bytes for record in node.memory) >= op.requested_bytes
    assert facts.memory.layer_bytes["conv1"] == 28 * 28 * 32 * 4
    assert facts.memory.layer_bytes["conv2"] == 14 * 14 * 64 * 4


def test_tensorboards_own_loader_lists_the_graph_and_the_run(
    collected: tuple[Any, Path],
) -> None:
    accumulator_module = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator"
    )
    facts, out = collected
    accumulator = accumulator_module.EventAccumulator(str(out / facts.profile.profile_dir))
    accumulator.Reload()
    tags = accumulator.Tags()
    assert tags["graph"] is True
    assert tags["run_metadata"] == [SLUG]
    assert any(node.op == "Conv2D" for node in accumulator.Graph().node)
    assert accumulator.RunMetadata(SLUG).step_stats.dev_stats


def test_a_frozen_graph_gets_its_events_file_without_its_weights(tmp_path: Path) -> None:
    """The graph route (no Keras) writes the events file too; the frozen weights, large
    constants, stay out of it."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    from reportgen.collect.graph_facts import load_frozen_graph
    from reportgen.collect.tensorboard import LARGE_ATTRS_KEY
    from reportgen.collect.worker import collect_object

    class Tiny(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            self.kernel = tf.Variable(tf.ones((64, 32)))

        @tf.function(input_signature=[tf.TensorSpec((None, 64), tf.float32, name="x")])  # type: ignore[untyped-decorator]
        def __call__(self, x: Any) -> Any:
            with tf.name_scope("dense"):
                return tf.nn.relu(tf.matmul(x, self.kernel))

    tiny = Tiny()  # held: the traced method refers to it weakly
    frozen = convert_variables_to_constants_v2(tiny.__call__.get_concrete_function())
    tf.io.write_graph(frozen.graph.as_graph_def(), str(tmp_path), "tiny.pb", as_text=False)
    model = load_frozen_graph(tmp_path / "tiny.pb", "tiny.pb", ["x:0"], ["dense/Relu:0"], (64,))
    spec = ModelSpec(slug="tiny", source="tests", title_en="tiny", title_zh="tiny")
    facts = collect_object(model, spec, tmp_path / "out", profile=True)
    assert facts.profile is not None and facts.profile.events_file
    events = _events(tmp_path / "out" / facts.profile.events_file)
    graph = tf.compat.v1.GraphDef.FromString(next(e.graph_def for e in events if e.graph_def))
    stripped = [n for n in graph.node if LARGE_ATTRS_KEY in n.attr]
    assert stripped and all("value" not in n.attr for n in stripped)
    assert graph.ByteSize() < 64 * 32 * 4
    (tagged,) = [e.tagged_run_metadata for e in events if e.HasField("tagged_run_metadata")]
    assert tagged.tag == "tiny"
    metadata = tf.compat.v1.RunMetadata.FromString(tagged.run_metadata)
    ran = {n.node_name for dev in metadata.step_stats.dev_stats for n in dev.node_stats}
    assert "dense/Relu" in ran or "dense/MatMul" in ran


def test_the_graph_keeps_large_attributes_out(tmp_path: Path) -> None:
    import numpy as np
    import tensorflow as tf

    from reportgen.collect.tensorboard import LARGE_ATTRS_KEY, graph_for_tensorboard

    graph = tf.Graph()
    with graph.as_default():
        tf.constant(np.ones((64, 64), np.float32), name="big")
        tf.constant(1.0, name="small")
    nodes = {node.name: node for node in graph_for_tensorboard(graph).node}
    assert "value" not in nodes["big"].attr
    assert list(nodes["big"].attr[LARGE_ATTRS_KEY].list.s) == [b"value"]
    assert "value" in nodes["small"].attr and LARGE_ATTRS_KEY not in nodes["small"].attr


def test_a_failure_costs_the_events_file_not_the_profile(tmp_path: Path) -> None:
    from reportgen.collect.tensorboard import TracedRun
    from reportgen.facts import ProfileMeasurement

    profile = ProfileMeasurement(
        steps=1,
        device="CPU",
        ops=(),
        layer_time_us={},
        step_time_us=1.0,
        trace_file=None,
        profile_dir="profile",
    )
    run = TracedRun(SLUG)
    run.keep(object(), object())  # not a graph: kept nothing, said why
    assert run.error and run.graph_def is None
    assert run.publish(profile, tmp_path) == profile
    assert not (tmp_path / "profile").exists()


@pytest.mark.parametrize(
    "events_file",
    [
        "../events.out.tfevents.0.x",
        "profile/../../events.out.tfevents.0.x",
        "profile/../events.out.tfevents.0.x",
        "/tmp/profile/events.out.tfevents.0.x",
        "profile/plugins/events.out.tfevents.0.x",
        "profile/facts.json",
        "profile\\..\\events.out.tfevents.0.x",
        "elsewhere/events.out.tfevents.0.x",
    ],
)
def test_an_events_file_outside_the_profile_folder_is_refused(events_file: str) -> None:
    with pytest.raises(ReportgenError, match="refusing"):
        check_events_file(events_file, "profile")
    check_events_file("profile/events.out.tfevents.0.reportgen", "profile")
    check_events_file(None, "profile")


def test_the_site_publishes_the_events_file_and_refuses_a_link_or_a_missing_one(
    tmp_path: Path,
) -> None:
    from reportgen.errors import RenderError
    from reportgen.model import Profile
    from reportgen.render.site import copy_trace_files

    name = f"{EVENTS_PREFIX}0.reportgen"
    model_dir = tmp_path / "collected"
    (model_dir / "profile" / "plugins").mkdir(parents=True)
    profile = Profile(
        steps=1,
        device="CPU",
        step_time_us=1.0,
        trace_href=None,
        profile_href=f"traces/{SLUG}/",
        profile_zip_href=None,
        timed_layers=0,
        profile_source="profile",
        events_href=f"traces/{SLUG}/{name}",
        events_source=f"profile/{name}",
    )
    secret = tmp_path / "secret"
    secret.write_text("not for the site", encoding="utf-8")
    (model_dir / "profile" / name).symlink_to(secret)
    with pytest.raises(RenderError, match="leads outside"):
        copy_trace_files(model_dir, profile, tmp_path / "site1")
    published = f"traces/{SLUG}/{name}"
    assert not (tmp_path / "site1" / published).exists()

    (model_dir / "profile" / name).unlink()
    with pytest.raises(RenderError, match="is missing"):
        copy_trace_files(model_dir, profile, tmp_path / "site2")

    (model_dir / "profile" / name).write_bytes(b"events")
    copy_trace_files(model_dir, profile, tmp_path / "site3")
    assert (tmp_path / "site3" / published).read_bytes() == b"events"


def test_collected_facts_naming_an_events_file_elsewhere_are_refused(tmp_path: Path) -> None:
    from reportgen.facts import read_facts

    gold = Path(__file__).parent / "gold" / "facts" / "lenet" / "facts.json"
    data = json.loads(gold.read_text(encoding="utf-8"))
    data["profile"]["events_file"] = "profile/../../../home/events.out.tfevents.0.x"
    doctored = tmp_path / "facts.json"
    doctored.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReportgenError, match=r"facts\.json: profile\.events_file: refusing"):
        read_facts(doctored)
    data["profile"]["events_file"] = f"profile/{EVENTS_PREFIX}0.reportgen"
    doctored.write_text(json.dumps(data), encoding="utf-8")
    profile = read_facts(doctored).profile
    assert profile is not None and profile.events_file == data["profile"]["events_file"]
