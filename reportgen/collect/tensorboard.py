"""A TensorBoard events file of the traced session run: the graph, and its RunMetadata.

TensorBoard's Graph dashboard shows a node's inputs and outputs and, given the RunMetadata
of a ``FULL_TRACE`` run tagged in the same events file, its memory and compute time (Node
Stats). The memory measurement (:mod:`reportgen.collect.graph_run`) performs exactly such a
run, so its graph and RunMetadata are written next to the raw profile: ``tensorboard
--logdir`` on the published profile folder then opens both the Profile and the Graph views.

An events file is a TFRecord file of ``Event`` protos, the first one naming the format
(``brain.Event:2``). ``tf.compat.v1.summary.FileWriter`` refuses eager mode and the
``tf.summary`` writers cannot write a ``graph_def`` event, so the three events are built
here and written with :class:`tf.io.TFRecordWriter`, which frames records the same way.

Only written with the profiler: the file belongs to the published profile folder, and its
RunMetadata carries the wall-clock times of the run, which ``--no-profile`` builds (the
deterministic ones) must not publish.

Imports TensorFlow; only the collect worker process loads this module.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from reportgen.collect.log import PHASE_LOGGER, one_line, phase
from reportgen.facts import EVENTS_PREFIX, ProfileMeasurement

EVENTS_HOST = "reportgen"
"""The host part of the file name: fixed, so the same collection names the same file."""
FILE_VERSION = "brain.Event:2"
"""The first event of every events file says which format follows."""
LARGE_ATTR_BYTES = 1024
"""Attribute values larger than this are left out of the written graph (a frozen graph's
weights are constants): TensorBoard's Graph view drops them too, and names them under
:data:`LARGE_ATTRS_KEY`."""
LARGE_ATTRS_KEY = "_too_large_attrs"

_log = logging.getLogger(PHASE_LOGGER)


def events_file_name() -> str:
    """``events.out.tfevents.<time>.reportgen``: TensorBoard reads files named so.

    The time part is ``SOURCE_DATE_EPOCH`` when set (repeatable builds), else 0: the
    file's name depends on nothing but the build's settings.
    """
    return f"{EVENTS_PREFIX}{_timestamp()}.{EVENTS_HOST}"


def _timestamp() -> int:
    try:
        return max(0, int(os.environ.get("SOURCE_DATE_EPOCH", "0")))
    except ValueError:
        return 0


class TracedRun:
    """The graph and RunMetadata of the traced session run, kept until they are written.

    :meth:`keep` is handed to the graph run, which calls it with the imported graph and the
    RunMetadata of its traced run; :meth:`publish` writes them into the profile folder once
    the profiler has made it. Neither raises: a failure here costs the events file, never
    the model's measurements.
    """

    def __init__(self, tag: str) -> None:
        self.tag = tag
        """The RunMetadata's tag: the Graph dashboard lists the run under it."""
        self.graph_def: bytes | None = None
        self.run_metadata: bytes | None = None
        self.error: str | None = None

    def keep(self, graph: Any, run_metadata: Any) -> None:
        """Serialise the graph (with its output shapes, as TensorBoard draws them on the
        edges) and the run's step stats now, so the graph and session can be freed."""
        try:
            with phase("keep graph and run metadata (TensorBoard)"):
                self.graph_def = graph_for_tensorboard(graph).SerializeToString()
                self.run_metadata = step_stats_only(run_metadata).SerializeToString()
        except Exception as exc:  # a library fault costs the events file, not the model
            self.error = one_line(exc, typed=True)
            self.graph_def = self.run_metadata = None

    def publish(self, profile: ProfileMeasurement, out: Path) -> ProfileMeasurement:
        """``profile`` naming the events file written into its folder, or ``profile``
        unchanged (and a line in the worker's log) when there is nothing to write or
        writing failed."""
        if profile.profile_dir is None:
            return profile
        if self.graph_def is None or self.run_metadata is None:
            _log.warning("no TensorBoard events file: %s", self.error or "the graph did not run")
            return profile
        relative = f"{profile.profile_dir}/{events_file_name()}"
        try:
            with phase("write TensorBoard events file"):
                write_events(out / relative, self.events())
        except Exception as exc:
            _log.warning("no TensorBoard events file: %s", one_line(exc, typed=True))
            (out / relative).unlink(missing_ok=True)
            return profile
        return replace(profile, events_file=relative)

    def events(self) -> list[Any]:
        """The events in file order: the format, the graph, the tagged RunMetadata."""
        from tensorflow.core.util import event_pb2

        wall_time = float(_timestamp())
        tagged = event_pb2.TaggedRunMetadata(tag=self.tag, run_metadata=self.run_metadata)
        return [
            event_pb2.Event(wall_time=wall_time, step=0, file_version=FILE_VERSION),
            event_pb2.Event(wall_time=wall_time, step=0, graph_def=self.graph_def),
            event_pb2.Event(wall_time=wall_time, step=0, tagged_run_metadata=tagged),
        ]


def graph_for_tensorboard(graph: Any) -> Any:
    """The GraphDef that ran, with output shapes, and without attribute values that are too
    large to draw (a frozen graph's weights), each node naming those it lost."""
    graph_def = graph.as_graph_def(add_shapes=True)
    for node in graph_def.node:
        _drop_large_attrs(node)
    for function in graph_def.library.function:
        for node in function.node_def:
            _drop_large_attrs(node)
    return graph_def


def _drop_large_attrs(node: Any) -> None:
    large = sorted(key for key, value in node.attr.items() if value.ByteSize() > LARGE_ATTR_BYTES)
    for key in large:
        del node.attr[key]
    if large:
        node.attr[LARGE_ATTRS_KEY].list.s.extend(key.encode() for key in large)


def step_stats_only(run_metadata: Any) -> Any:
    """The RunMetadata as a plain ``FULL_TRACE`` run gives it: the step stats (per node:
    memory and times) without the partition graphs the measurement asked for."""
    import tensorflow as tf

    kept = tf.compat.v1.RunMetadata()
    kept.step_stats.CopyFrom(run_metadata.step_stats)
    return kept


def write_events(path: Path, events: list[Any]) -> None:
    """Write ``events`` as an events file (TFRecord framing: length, data, checksums)."""
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for event in events:
            writer.write(event.SerializeToString())
