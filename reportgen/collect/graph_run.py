"""Measured memory per op and layer, and TensorFlow's FLOPs count, from one graph run.

Route (chosen because it stays close to a plain forward pass in time and memory):

1. trace ``model(x, training=False)`` as a ``tf.function`` whose input signature fixes the
   batch, so every shape in the graph is static (the FLOPs profiler needs that); the
   collect worker profiles the same concrete function (:class:`TracedForward`);
2. rewrite the traced GraphDef (:mod:`reportgen.collect.graphdef`): each ``ReadVariableOp``
   of a captured variable becomes a ``Placeholder`` with the same name, so the weights are
   *fed*, not frozen into constants;
3. run the imported graph twice in a ``tf.compat.v1.Session`` with ``FULL_TRACE`` and read the
   allocator's record of every op output from the second run's ``step_stats`` (the first
   run builds the kernels, and its allocations can differ: ResNet50V2's first run put an
   AddV2 in place into another layer's buffer, which later runs do not);
4. map each op back to its Keras layer through the name scope Keras opened for that layer
   (:class:`reportgen.collect.opindex.OpIndex`);
5. count float operations with ``tf.compat.v1.profiler`` on the same imported graph.

Imports TensorFlow; only the collect worker process loads this module.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from reportgen.collect.graphdef import (
    INIT_ASSIGN,
    INIT_VALUE,
    GraphModel,
    captured_values,
    feedable_graph_def,
    import_graph,
    synthetic_value,
    with_input_shapes,
)
from reportgen.collect.log import CollectFailure, one_line, phase
from reportgen.collect.opindex import INVALID_SCOPE_CHARS, OpIndex, scope_name
from reportgen.facts import FlopsMeasurement, InUse, MemoryMeasurement, MemoryNote, OpMemory

METHOD = "session-full-trace (variables fed as placeholders)"


# ---------------------------------------------------------------------------------------------
# Layers and their name scopes


def _top_level_layers(model: Any) -> list[Any]:
    """The model's InputLayers (Sequential hides them in ``model.layers``) then its layers."""
    seen: dict[int, Any] = {}
    for tensor in getattr(model, "inputs", None) or []:
        history = getattr(tensor, "_keras_history", None)
        if history is not None:
            seen.setdefault(id(history.operation), history.operation)
    for layer in model.layers:
        seen.setdefault(id(layer), layer)
    return list(seen.values())


@contextlib.contextmanager
def _recording_layer_scopes(names: dict[int, str]) -> Iterator[dict[str, str]]:
    """Record the graph name scope TensorFlow actually opens for each call of the layers
    ``names`` names (``id`` of the layer → its row's name).

    Keras opens ``tf.name_scope(layer.name)`` twice per call (once around ``build``, once
    around ``call``) and the graph makes repeated scope names unique, so LeNet's ``conv1``
    runs in ``lenet_1/conv1_1``; a layer named ``conv1_1`` would then run in ``conv1_1_2``.
    Guessing from names is ambiguous, so we hook the Keras name scope while tracing and note
    the scope each layer call got: {full scope: row name}, in call order. A composite
    layer's sub-layers are rows too: their calls open scopes inside the composite's, and
    the innermost recorded scope holding an op is its row.

    The same hook makes names like ``d<1>'q`` traceable: Keras allows them, a graph name
    scope does not (eager mode never checks), so their scope is opened with the offending
    characters replaced by ``_`` (:func:`reportgen.collect.opindex.scope_name`). If the hook
    point is missing (a future Keras), the dict stays empty and the index reads the names.
    """
    recorded: dict[str, str] = {}
    try:
        from keras.src import backend as keras_backend

        scope_class = keras_backend.name_scope
        original_enter = scope_class.__enter__
    except (ImportError, AttributeError):
        yield recorded
        return

    def recording_enter(self: Any) -> Any:
        name_in_keras = getattr(self, "name", "")
        if hasattr(self, "_tf_name_scope") and INVALID_SCOPE_CHARS.search(name_in_keras):
            self._tf_name_scope = tf.name_scope(scope_name(name_in_keras))
        result = original_enter(self)
        name = names.get(id(getattr(self, "caller", None)))
        if name is not None and getattr(self, "_pop_on_exit", False):
            scope = tf.compat.v1.get_default_graph().get_name_scope()
            if scope:
                recorded[scope] = name
        return result

    scope_class.__enter__ = recording_enter
    try:
        yield recorded
    finally:
        scope_class.__enter__ = original_enter


# ---------------------------------------------------------------------------------------------
# Tracing and feeding


@dataclass
class _FeedableGraph:
    """The traced forward pass as a GraphDef whose weights are placeholders, and its feeds."""

    graph_def: Any
    feeds: dict[str, np.ndarray]
    """Tensor name → value, for the model inputs and every variable read."""
    fetches: list[str]
    input_nodes: list[str]
    """Placeholder node names of the model inputs, in ``model.inputs`` order."""
    input_bytes: dict[str, int]
    """Bytes of the fed batch per input placeholder node."""
    index: OpIndex
    init_feeds: dict[str, np.ndarray] = field(default_factory=dict)
    """Values of the variables the graph holds itself, fed once to their assign ops."""

    @property
    def init_ops(self) -> list[str]:
        return [INIT_ASSIGN.format(name.rsplit("/", 1)[0]) for name in self.init_feeds]


class TraceFailure(CollectFailure):
    """The forward pass could not be traced: there is nothing to measure, nor to profile.

    The message says so for the memory measurement; ``unprofiled`` says it in the
    profiler's words, for its own note (the collect worker profiles this trace).
    """

    def __init__(self, message: str, unprofiled: str) -> None:
        super().__init__(message)
        self.unprofiled = unprofiled


def _input_specs(model: Any, batch_size: int) -> list[Any]:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise TraceFailure(
            "the model has no symbolic inputs; build it before measuring",
            "the model has no inputs to profile with (is it built?)",
        )
    specs = []
    for position, tensor in enumerate(inputs):
        dims = tuple(tensor.shape)[1:]
        if any(d is None for d in dims):
            fix = "set sequence_length (or input_shapes) in the model's configuration"
            raise TraceFailure(
                f"input {position} ({tensor.name}) has an unknown dimension {tuple(tensor.shape)}; "
                f"the memory measurement needs a fixed input shape: {fix}",
                f"input {tensor.name!r} has unknown dimensions {dims}; "
                f"cannot build a fixed input to profile: {fix}",
            )
        # The spec name becomes the placeholder's node name, which must be a valid op name.
        name = re.sub(r"[^A-Za-z0-9_.\-]", "_", str(tensor.name))
        if not re.match(r"[A-Za-z0-9.]", name):
            name = f"input_{position}_{name}"
        specs.append(tf.TensorSpec((batch_size, *dims), tf.as_dtype(tensor.dtype), name=name))
    return specs


def _sample_value(
    spec: Any, rng: np.random.Generator, name: str = "", vocabulary: int | None = None
) -> np.ndarray:
    """A value for one input that means what it means (:func:`synthetic_value`): random
    floats, masks of ones, segment ids of zeros, token ids inside ``vocabulary``."""
    return synthetic_value(tuple(spec.shape), spec.dtype, name, vocabulary, rng)


def _sample_values(
    model: Any, specs: list[Any], vocabularies: list[int | None] | None
) -> list[np.ndarray]:
    """One value per input spec, seeded: the measurement and the profiler feed the same."""
    rng = np.random.default_rng(0)
    tensors = list(getattr(model, "inputs", None) or [])
    names = [_input_name(t) for t in tensors] + [""] * len(specs)
    sizes = list(vocabularies or []) + [None] * len(specs)
    return [_sample_value(spec, rng, names[i], sizes[i]) for i, spec in enumerate(specs)]


def _input_name(tensor: Any) -> str:
    """The input's name: its InputLayer's (what ``mask`` and ``segment`` are read from)."""
    operation = getattr(getattr(tensor, "_keras_history", None), "operation", None)
    return str(getattr(operation, "name", None) or getattr(tensor, "name", ""))


def _trace_forward(
    model: Any, specs: list[Any], names: dict[int, str]
) -> tuple[Any, dict[str, str]]:
    """The concrete function of one inference forward pass, and the layer scopes it opened."""
    import keras

    structure = _input_structure(model, len(specs))

    def forward(*xs: Any) -> Any:
        if structure is None:
            return model(xs[0] if len(xs) == 1 else list(xs), training=False)
        return model(keras.tree.pack_sequence_as(structure, list(xs)), training=False)

    with _recording_layer_scopes(names) as scopes:
        try:
            concrete = tf.function(forward, input_signature=specs).get_concrete_function()
        except Exception as exc:
            cause = one_line(exc, typed=True)
            raise TraceFailure(
                f"the forward pass cannot be traced as a TensorFlow graph: {cause}",
                f"the forward pass failed: {cause}",
            ) from exc
    return concrete, dict(scopes)


def _input_structure(model: Any, count: int) -> Any:
    """The list or dict of inputs a multi-input functional model was built with, if known."""
    if count == 1:
        return None
    try:
        return model.input
    except (AttributeError, ValueError):
        return None  # a subclassed model never called symbolically: pass a plain list


def _shared_value(variable: Any) -> np.ndarray:
    """The variable's value as an array *sharing* its buffer, for feeding without a copy.

    ``variable.numpy()`` copies (VGG16: +0.5 GiB peak RSS); ``np.asarray`` of the eager
    tensor a read returns does not (the read aliases the variable's buffer on CPU), and the
    session feeds a 64-byte-aligned array without copying it either.
    """
    return np.asarray(variable.read_value())


@dataclass
class TracedForward:
    """One inference forward pass of a Keras model, traced once as a graph function.

    The same concrete function is measured here (imported into a Session) and profiled
    (:func:`reportgen.collect.profiler.profile_forward`, called eagerly), so the model is
    traced once, and both see the same node names, which :attr:`index` maps to layers.
    """

    function: Any
    """The concrete function: ``function(*inputs)`` with one tensor per spec."""
    specs: list[Any]
    """Input ``TensorSpec``s with the batch dimension fixed, in ``model.inputs`` order."""
    layers: list[Any]
    """The top-level layers, InputLayers first (:func:`_top_level_layers`)."""
    index: OpIndex
    """Node name → row name, from the name scopes recorded while tracing."""
    values: list[np.ndarray] = field(default_factory=list)
    """The input values fed to measure and to profile (:func:`_sample_values`), per spec."""

    @property
    def layer_names(self) -> list[str]:
        """Every row's name (sub-layers of composites too), and any top-level layer that is
        not a row itself (a nested model)."""
        return list(self.index.layer_names)

    def sample_inputs(self) -> list[Any]:
        """The measured input values as tensors: what the profiler feeds."""
        return [tf.constant(value) for value in self.values]

    def zero_inputs(self) -> list[Any]:
        """Zeros for each input: valid for every dtype, including an Embedding's token ids."""
        return [tf.zeros(spec.shape, spec.dtype) for spec in self.specs]


def trace_model_forward(
    model: Any,
    batch_size: int,
    row_names: dict[int, str] | None = None,
    vocabularies: list[int | None] | None = None,
) -> TracedForward:
    """Trace ``model(x, training=False)`` at ``batch_size``, recording each row's scope.

    ``row_names`` (``id`` of a layer → its row's name, from the facts) names every row,
    sub-layers of composite layers included; without it the top-level layers are the rows.
    ``vocabularies`` (per input) keeps synthetic token ids inside their embedding.
    Raises :class:`TraceFailure` with a one-line cause when the model cannot be traced.
    """
    if batch_size < 1:
        message = f"batch size must be at least 1, not {batch_size}"
        raise TraceFailure(message, message)
    layers = _top_level_layers(model)
    names = {id(layer): str(layer.name) for layer in layers}
    names.update(row_names or {})
    specs = _input_specs(model, batch_size)
    with phase("trace tf.function"):
        concrete, scopes = _trace_forward(model, specs, names)
    return TracedForward(
        function=concrete,
        specs=specs,
        layers=layers,
        index=OpIndex(
            layer_names=list(dict.fromkeys(names.values())),
            calls=scopes,
            model_scope=str(model.name),
        ),
        values=_sample_values(model, specs, vocabularies),
    )


def _feedable_graph(model: Any, traced: TracedForward) -> _FeedableGraph:
    concrete, specs = traced.function, traced.specs
    with phase("rewrite graph (weights fed)"):
        func_graph = concrete.graph
        variables, constants = captured_values(func_graph, model)
        graph_def, reads, resident = feedable_graph_def(func_graph.as_graph_def(), variables)

    input_nodes = [t.op.name for t in concrete.inputs[: len(specs)]]
    feeds: dict[str, np.ndarray] = {
        f"{node}:0": value for node, value in zip(input_nodes, traced.values, strict=True)
    }
    feeds.update({f"{node}:0": _shared_value(variable) for node, variable in reads.items()})
    feeds.update({f"{node}:0": np.asarray(value) for node, value in constants.items()})
    return _FeedableGraph(
        graph_def=graph_def,
        feeds=feeds,
        fetches=[t.name for t in concrete.outputs],
        input_nodes=input_nodes,
        input_bytes={node: feeds[f"{node}:0"].nbytes for node in input_nodes},
        index=traced.index,
        init_feeds={
            f"{INIT_VALUE.format(node)}:0": _shared_value(variable)
            for node, variable in resident.items()
        },
    )


def _run_with_full_trace(
    graph: Any,
    feeds: dict[str, np.ndarray],
    fetches: list[str],
    init_ops: list[str] | None = None,
    init_feeds: dict[str, np.ndarray] | None = None,
) -> Any:
    """RunMetadata of the second of two traced runs (the first builds kernels and caches).

    ``init_ops`` (fed ``init_feeds``) run once before, untraced: they set the variables
    the graph holds itself.
    """
    options = tf.compat.v1.RunOptions(
        trace_level=tf.compat.v1.RunOptions.FULL_TRACE, output_partition_graphs=True
    )
    metadata = tf.compat.v1.RunMetadata()
    with tf.compat.v1.Session(graph=graph) as session:
        if init_ops:
            try:
                session.run(init_ops, feed_dict=init_feeds)
            except tf.errors.OpError as exc:
                message = f"the graph's variables could not be set: {one_line(exc, typed=True)}"
                raise CollectFailure(message) from exc
        for run in range(2):
            metadata = tf.compat.v1.RunMetadata()
            try:
                with phase(f"session run {run + 1} (full trace)"):
                    session.run(fetches, feed_dict=feeds, options=options, run_metadata=metadata)
            except tf.errors.OpError as exc:
                cause = one_line(exc, typed=True)
                raise CollectFailure(f"the traced graph failed to run: {cause}") from exc
    return metadata


# ---------------------------------------------------------------------------------------------
# Reading step_stats


@dataclass
class _Output:
    slot: int
    requested_bytes: int
    allocated_bytes: int | None
    allocator: str
    ptr: int
    shape: tuple[int, ...] | None
    dtype: str | None
    forwarded: bool = False
    source: tuple[str, int] | None = None
    """For a forwarded output: the input (node, slot) whose buffer it reuses."""


@dataclass
class _NodeRun:
    """One executed node: its outputs as the allocator saw them, and its memory records."""

    name: str
    op_type: str
    inputs: list[tuple[str, int]]
    outputs: dict[int, _Output]
    allocation_count: int
    temp_bytes: int


def _dtype_name(enum: int) -> str | None:
    try:
        return str(tf.as_dtype(enum).name)
    except TypeError:
        return None


def _output_of(record: Any) -> _Output:
    description = record.tensor_description
    allocation = description.allocation_description
    shape = None
    if not description.shape.unknown_rank:
        shape = tuple(int(d.size) for d in description.shape.dim)
    return _Output(
        slot=int(record.slot),
        requested_bytes=int(allocation.requested_bytes),
        allocated_bytes=int(allocation.allocated_bytes) if allocation.allocated_bytes else None,
        allocator=str(allocation.allocator_name),
        ptr=int(allocation.ptr),
        shape=shape,
        dtype=_dtype_name(description.dtype),
    )


def _executed_nodes(metadata: Any) -> dict[str, Any]:
    """Node definitions of the graph that actually ran (after Grappler's rewrites)."""
    return {node.name: node for graph in metadata.partition_graphs for node in graph.node}


def _parse_input(name: str) -> tuple[str, int] | None:
    if name.startswith("^"):
        return None
    node, _, slot = name.partition(":")
    return node, int(slot) if slot else 0


def _node_runs(metadata: Any) -> list[_NodeRun]:
    executed = _executed_nodes(metadata)
    runs: list[_NodeRun] = []
    for device in metadata.step_stats.dev_stats:
        for stats in device.node_stats:
            node_def = executed.get(stats.node_name)
            inputs = [p for p in map(_parse_input, node_def.input if node_def else []) if p]
            positive = [
                r.alloc_bytes
                for memory in stats.memory
                for r in memory.allocation_records
                if r.alloc_bytes > 0
            ]
            runs.append(
                _NodeRun(
                    name=str(stats.node_name),
                    op_type=str(node_def.op) if node_def else _op_type_from_label(stats),
                    inputs=inputs,
                    outputs={o.slot: _output_of(o) for o in stats.output},
                    allocation_count=len(positive),
                    temp_bytes=int(stats.memory_stats.temp_memory_size),
                )
            )
    return runs


def _op_type_from_label(stats: Any) -> str:
    # timeline_label reads "name = OpType(inputs)"; used only for nodes missing from the
    # partition graphs (_SOURCE and the like).
    match = re.search(r"= ([\w.]+)\(", stats.timeline_label)
    return match.group(1) if match else ""


def _mark_forwarded(runs: list[_NodeRun]) -> None:
    """Mark outputs that got no new buffer from their op.

    step_stats has no explicit "forwarded" flag. What shows it: ``allocation_description.ptr``
    of the output equals the ptr of one of the op's *data inputs* (taken from the executed
    partition graph), as for Flatten's Reshape, Identity, or an in-place AddV2/Softmax that
    reused its input buffer. An input is alive while its consumer runs, so an equal address
    cannot be a recycled buffer. Fed tensors (``_Arg``) carry no ptr; an output that has no
    ptr either, while its op recorded no allocation at all (``node_stats.memory`` has no
    positive ``allocation_records``), is a view of such a fed buffer (e.g. Flatten of the
    model input), so it is marked forwarded too.
    """
    ptrs = {(run.name, slot): out.ptr for run in runs for slot, out in run.outputs.items()}
    for run in runs:
        by_ptr = {ptrs[source]: source for source in run.inputs if ptrs.get(source)}
        for out in run.outputs.values():
            if out.ptr:
                out.source = by_ptr.get(out.ptr)
            elif run.inputs and run.allocation_count == 0:
                out.source = run.inputs[0]
            out.forwarded = out.source is not None


def _allocator_totals(
    metadata: Any, index: OpIndex | None = None
) -> tuple[int | None, int | None, tuple[InUse, ...]]:
    """(peak, total, timeline) of the bytes ops allocated during the step, over all
    allocators.

    total: the sum of ``node_stats.memory[*].total_bytes`` — every byte each op allocated
    (outputs and scratch), counted once when allocated. peak: the highest number of those
    bytes alive at once, replaying every op's ``allocation_records`` (+bytes on allocation,
    −bytes on free) in time order; records within one microsecond keep their op's order.
    Fed inputs and weights are allocated by the session outside any op, so neither number
    includes them. timeline: the bytes in use right after each allocation (a positive
    record), with the node that allocated and its row (``index``): the same replay, read
    once, so the timeline costs no further run.
    """
    total = 0
    records: list[tuple[int, int, int, str]] = []
    for device in metadata.step_stats.dev_stats:
        for stats in device.node_stats:
            for memory in stats.memory:
                total += int(memory.total_bytes)
                for record in memory.allocation_records:
                    when = int(record.alloc_micros)
                    records.append(
                        (when, len(records), int(record.alloc_bytes), str(stats.node_name))
                    )
    if not records and total == 0:
        return None, None, ()
    live = peak = 0
    timeline: list[InUse] = []
    for _, _, delta, node in sorted(records):
        live += delta
        peak = max(peak, live)
        if delta > 0:
            layer = index.layer_of(node) if index is not None else None
            timeline.append(InUse(op=node, layer=layer, bytes_in_use=live))
    return peak, total, tuple(timeline)


# ---------------------------------------------------------------------------------------------
# Layer outputs


def _call_output_tensors(
    graph_def: Any, index: OpIndex, fetches: list[str]
) -> dict[str, list[tuple[str, int]]]:
    """For each layer call (name scope), the tensors it hands on: made inside, used outside.

    That is what the next layer consumes (e.g. Conv2D's Relu, not its BiasAdd), plus any
    tensor fetched as a model output. Control edges carry no data and are ignored. Calls,
    not layers, so that a shared layer's first output (used by its own second call) counts.
    """
    used_by: dict[tuple[str, int], set[str | None]] = {}
    # A composite layer's call holds its sub-layers' calls: a tensor it hands to one of
    # them stays inside it (its scope is a prefix of theirs).
    for node in graph_def.node:
        consumer = index.call_of(node.name)
        for name in node.input:
            source = _parse_input(name)
            if source is not None:
                used_by.setdefault(source, set()).add(consumer)
    fetched = {p for p in map(_parse_input, fetches) if p}
    outputs: dict[str, list[tuple[str, int]]] = {}
    for tensor in sorted(used_by.keys() | fetched):
        call = index.call_of(tensor[0])
        if call is None:
            continue
        if tensor in fetched or any(
            _outside(consumer, call) for consumer in used_by.get(tensor, set())
        ):
            outputs.setdefault(call, []).append(tensor)
    return outputs


def _outside(consumer: str | None, call: str) -> bool:
    """Whether a consumer's call scope is outside ``call`` (not it, nor a call inside it)."""
    return consumer is None or (consumer != call and not consumer.startswith(call + "/"))


def _nbytes(shape: tuple[int, ...] | None, dtype: str | None) -> int | None:
    if shape is None or dtype is None:
        return None
    try:
        return int(math.prod(shape) * tf.as_dtype(dtype).size)
    except TypeError:
        return None


_NOT_COMPUTE = {"Const", "Placeholder", "NoOp", "ReadVariableOp"}
_VIEW_OPS = {"Reshape", "Identity", "Squeeze", "ExpandDims", "Snapshot"}


@dataclass
class _LayerReader:
    """Finds the allocation that holds a layer's output and explains how it came about."""

    runs: dict[str, _NodeRun]
    graph_nodes: dict[str, Any]
    index: OpIndex

    def read(
        self, layer: str, tensors: list[tuple[str, int]]
    ) -> tuple[int | None, list[MemoryNote]]:
        """Requested bytes of the buffer(s) this layer allocated for its output(s), and notes.

        A forwarded output is followed back to the op that allocated its buffer: if that op
        is in this layer (fc2's Softmax computed in place in the buffer its fused
        MatMul+BiasAdd allocated), that buffer is the layer's output allocation; if it is in
        another layer or was fed (Flatten's Reshape of pool2's output), the layer allocated
        nothing and gets None.
        """
        measured: int | None = None
        notes: list[MemoryNote] = []
        for tensor in tensors:
            node, slot = self._unmoved(layer, tensor, notes)
            run = self.runs.get(node)
            out = run.outputs.get(slot) if run else None
            if run is None or out is None:
                notes.append(MemoryNote("not_run", op=node))
                continue
            owner = self._buffer_owner(node, slot)
            owner_layer = self.index.layer_of(owner[0].name) if owner else None
            if owner is None or owner_layer != layer:
                notes.append(self._forward_note(run, out, owner_layer))
                continue
            owner_run, owner_out = owner
            measured = (measured or 0) + owner_out.requested_bytes
            if owner_run is not run:
                notes.append(
                    MemoryNote(
                        "in_place_same_layer", op_type=run.op_type, owner_op_type=owner_run.op_type
                    )
                )
            notes.extend(self._allocation_notes(owner_run, owner_out, layer))
        if len(tensors) > 1:
            notes.append(MemoryNote("multiple_outputs", count=len(tensors)))
        return measured, notes

    def _unmoved(
        self, layer: str, tensor: tuple[str, int], notes: list[MemoryNote]
    ) -> tuple[str, int]:
        """The layer's output as computed in this layer, if the optimizer moved its last op.

        Grappler may move an elementwise op across a layer boundary: ``MaxPool(Relu(x))``
        becomes ``Relu(MaxPool(x))`` (max pooling commutes with a monotonic function, and
        the Relu then runs on a quarter of the values), so ``conv1/Relu`` runs on ``pool1``'s
        output. The conv layer's result is then its op's input in the graph as written
        (``conv1/add``); a ``moved`` note names the op and where it went.
        """
        node, slot = tensor
        for _ in range(len(self.graph_nodes)):
            run, graph_node = self.runs.get(node), self.graph_nodes.get(node)
            if run is None or graph_node is None or slot != 0:
                return node, slot
            written = [p for p in map(_parse_input, graph_node.input) if p]
            # Moved, not fused: the same op ran, on another layer's tensor, while the input
            # it was written with was still computed (a fused op changes its type instead).
            if (
                not written
                or not run.inputs
                or run.op_type != graph_node.op
                or run.inputs[0] == written[0]
                or written[0][0] not in self.runs
                or self.index.layer_of(written[0][0]) != layer
            ):
                return node, slot
            moved_to = self.index.layer_of(run.inputs[0][0])
            if moved_to is None or moved_to == layer:
                return node, slot
            notes.append(MemoryNote("moved", op_type=run.op_type, op=node, owner_layer=moved_to))
            node, slot = written[0]
        return node, slot

    def _buffer_owner(self, node: str, slot: int) -> tuple[_NodeRun, _Output] | None:
        """The op output that was allocated for the buffer holding (node, slot), if any ran."""
        for _ in range(len(self.runs) + 1):  # a chain of forwards cannot be longer
            run = self.runs.get(node)
            out = run.outputs.get(slot) if run else None
            if run is None or out is None:
                return None
            if not out.forwarded or out.source is None:
                return run, out
            node, slot = out.source
        return None

    def _forward_note(self, run: _NodeRun, out: _Output, owner_layer: str | None) -> MemoryNote:
        return MemoryNote(
            "view" if run.op_type in _VIEW_OPS else "in_place",
            op_type=run.op_type,
            nbytes=out.requested_bytes,
            owner_layer=owner_layer,
        )

    def _allocation_notes(self, run: _NodeRun, out: _Output, layer: str) -> list[MemoryNote]:
        notes: list[MemoryNote] = []
        expected = _nbytes(out.shape, out.dtype)
        if expected is not None and expected != out.requested_bytes:
            notes.append(MemoryNote("padding", nbytes=out.requested_bytes, expected_bytes=expected))
        fused = self._fused_op_types(run.name, layer)
        if len(fused) > 1:
            notes.append(MemoryNote("fused", op_type=run.op_type, fused_ops=tuple(fused)))
        extra = [o for o in run.outputs.values() if o is not out and not o.forwarded]
        if extra:
            notes.append(
                MemoryNote(
                    "workspace" if "Mkl" in run.op_type else "other_outputs",
                    op_type=run.op_type,
                    nbytes=sum(o.requested_bytes for o in extra),
                )
            )
        if run.temp_bytes:
            notes.append(MemoryNote("scratch", op_type=run.op_type, nbytes=run.temp_bytes))
        return notes

    def _fused_op_types(self, node: str, layer: str) -> list[str]:
        """Graph op types that ran inside ``node``'s op: its ancestors in this layer that
        compute something but did not run under their own name (Conv2D, BiasAdd for a
        fused Conv2D+BiasAdd+Relu named after the Relu)."""
        merged: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            graph_node = self.graph_nodes.get(name)
            if name in seen or graph_node is None or self.index.layer_of(name) != layer:
                return
            seen.add(name)
            if graph_node.op in _NOT_COMPUTE:
                return
            if name != node and name in self.runs:
                return  # ran as its own op: not part of the fusion
            for source in map(_parse_input, graph_node.input):
                if source is not None:
                    visit(source[0])
            merged.append(graph_node.op)

        visit(node)
        return merged


def _layer_bytes(
    feedable: _FeedableGraph,
    layer_names: list[str],
    input_layers: list[str],
    runs: list[_NodeRun],
) -> tuple[dict[str, int | None], dict[str, tuple[MemoryNote, ...]]]:
    """Bytes holding each layer's output; ``input_layers`` pair with ``feedable.input_nodes``."""
    reader = _LayerReader(
        runs={run.name: run for run in runs},
        graph_nodes={node.name: node for node in feedable.graph_def.node},
        index=feedable.index,
    )
    call_outputs = _call_output_tensors(feedable.graph_def, feedable.index, feedable.fetches)
    input_layer_bytes = {
        name: feedable.input_bytes[node]
        for name, node in zip(input_layers, feedable.input_nodes, strict=False)
    }

    layer_bytes: dict[str, int | None] = {}
    layer_notes: dict[str, tuple[MemoryNote, ...]] = {}
    for name in layer_names:
        if name in input_layer_bytes:
            layer_bytes[name] = None
            layer_notes[name] = (MemoryNote("fed_input", nbytes=input_layer_bytes[name]),)
            continue
        calls = [call for call in feedable.index.calls_of(name) if call_outputs.get(call)]
        if not calls:
            layer_bytes[name] = None
            layer_notes[name] = (MemoryNote("no_op"),)
            continue
        # A shared layer's facts describe its first call, so its first call's output counts.
        layer_bytes[name], notes = reader.read(name, call_outputs[calls[0]])
        if len(calls) > 1:
            notes.append(MemoryNote("shared_calls", count=len(calls)))
        if notes:
            layer_notes[name] = tuple(dict.fromkeys(notes))
    return layer_bytes, layer_notes


def _input_layer_names(layers: list[Any]) -> list[str]:
    """Names of the model's InputLayers, in order (they pair with the model's inputs)."""
    import keras

    return [str(layer.name) for layer in layers if isinstance(layer, keras.layers.InputLayer)]


def _op_memories(runs: list[_NodeRun], index: OpIndex) -> tuple[OpMemory, ...]:
    return tuple(
        OpMemory(
            op=run.name,
            op_type=run.op_type,
            slot=out.slot,
            requested_bytes=out.requested_bytes,
            allocated_bytes=out.allocated_bytes,
            allocator=out.allocator,
            shape=out.shape,
            dtype=out.dtype,
            layer=index.layer_of(run.name),
            forwarded=out.forwarded,
        )
        for run in runs
        for _, out in sorted(run.outputs.items())
    )


# ---------------------------------------------------------------------------------------------
# FLOPs


@contextlib.contextmanager
def _quiet_tf_logging() -> Iterator[None]:
    # The profiler's shape helpers log a deprecation warning through TensorFlow's logger.
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _profiled_nodes(root: Any) -> Iterator[Any]:
    stack = list(root.children)
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children)


def _count_flops(graph: Any, index: OpIndex) -> FlopsMeasurement:
    """TensorFlow's own float-operation count, per op type and per layer.

    Uses each node's *own* ``float_ops`` (not ``total_float_ops``, which includes children in
    the scope view) so that walking every node counts each op once.
    """
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    with _quiet_tf_logging():
        profile = tf.compat.v1.profiler.profile(graph, options=options)
    by_op_type: dict[str, int] = {}
    by_layer: dict[str, int] = {}
    for node in _profiled_nodes(profile):
        if not node.float_ops:
            continue
        try:
            op_type = graph.get_operation_by_name(node.name).type
        except KeyError:
            op_type = "?"
        by_op_type[op_type] = by_op_type.get(op_type, 0) + int(node.float_ops)
        layer = index.layer_of(node.name)
        if layer is not None:
            by_layer[layer] = by_layer.get(layer, 0) + int(node.float_ops)
    return FlopsMeasurement(
        total=int(profile.total_float_ops),
        by_op_type=dict(sorted(by_op_type.items())),
        by_layer=by_layer,
    )


# ---------------------------------------------------------------------------------------------
# Entry point


OnRun = Callable[[Any, Any], None]
"""Called with the imported graph and the RunMetadata of its traced run (``on_run`` of
:func:`measure_graph`): the collect worker keeps both for TensorBoard."""


def measure_graph(
    model: Any,
    batch_size: int,
    traced: TracedForward | None = None,
    on_run: OnRun | None = None,
) -> tuple[MemoryMeasurement, FlopsMeasurement]:
    """Measure one inference forward pass of ``model`` at ``batch_size`` on random data.

    Returns the allocator's record of every op output (mapped to Keras layers), the bytes
    holding each layer's output, and TensorFlow's float-operation count of the same graph.
    ``traced`` is the pass as :func:`trace_model_forward` traced it (at this batch size),
    to share one trace with the profiler; without it, the model is traced here.
    Raises CollectFailure with a one-line cause when the model cannot be traced or fed.
    """
    if traced is None:
        traced = trace_model_forward(model, batch_size)
    elif any(spec.shape[0] != batch_size for spec in traced.specs):
        raise ValueError(f"the forward pass was traced at another batch size than {batch_size}")
    feedable = _feedable_graph(model, traced)
    return _measure(feedable, traced.layer_names, _input_layer_names(traced.layers), on_run)


def measure_graph_model(
    model: GraphModel, index: OpIndex, batch_size: int, on_run: OnRun | None = None
) -> tuple[MemoryMeasurement, FlopsMeasurement]:
    """The same measurement for a graph without Keras (a tf.function, a frozen graph).

    Its layers are name scopes, as ``index`` maps them (``GraphLayout.index``), and its
    input layers are its input placeholders; its weights are either constants in the graph
    or placeholders standing for variable reads, fed with the variables' values.
    """
    if batch_size < 1:
        raise CollectFailure(f"batch size must be at least 1, not {batch_size}")
    graph_def = with_input_shapes(model.graph_def, model.inputs, batch_size)
    rng = np.random.default_rng(0)
    feeds = model.feeds()
    input_nodes = [spec.node for spec in model.inputs]
    for spec in model.inputs:
        tensor_spec = tf.TensorSpec((batch_size, *spec.dims), tf.as_dtype(spec.dtype))
        feeds[f"{spec.node}:0"] = _sample_value(tensor_spec, rng)
    feedable = _FeedableGraph(
        graph_def=graph_def,
        feeds=feeds,
        fetches=list(model.outputs),
        input_nodes=input_nodes,
        input_bytes={node: feeds[f"{node}:0"].nbytes for node in input_nodes},
        index=index,
        init_feeds=model.init_feeds(),
    )
    return _measure(feedable, list(index.layer_names), input_nodes, on_run)


def _measure(
    feedable: _FeedableGraph,
    layer_names: list[str],
    input_layers: list[str],
    on_run: OnRun | None = None,
) -> tuple[MemoryMeasurement, FlopsMeasurement]:
    with phase("import graph"):
        graph = import_graph(feedable.graph_def)
    metadata = _run_with_full_trace(
        graph, feedable.feeds, feedable.fetches, feedable.init_ops, feedable.init_feeds
    )
    feedable.feeds.clear()  # drop our references to the weights as soon as the run is over
    feedable.init_feeds.clear()
    if on_run is not None:
        on_run(graph, metadata)

    with phase("read step stats"):
        runs = _node_runs(metadata)
        _mark_forwarded(runs)
        peak, total, timeline = _allocator_totals(metadata, feedable.index)
    with phase("layer output bytes"):
        layer_bytes, layer_notes = _layer_bytes(feedable, layer_names, input_layers, runs)
        memory = MemoryMeasurement(
            method=METHOD,
            ops=_op_memories(runs, feedable.index),
            layer_bytes=layer_bytes,
            layer_notes=layer_notes,
            allocator_peak_bytes=peak,
            allocator_total_bytes=total,
            timeline=timeline,
        )
    with phase("count FLOPs"):
        flops = _count_flops(graph, feedable.index)
    return memory, flops
