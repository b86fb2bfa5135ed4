"""A forward pass as a GraphDef: what feeds it, rewriting it so it can be fed, importing it.

Both routes to a graph without Keras's layers end here, and so does the memory measurement
of a Keras model (:mod:`reportgen.collect.graph_run`):

- :class:`GraphModel` is the forward pass as a GraphDef with its inputs, outputs and
  weights, from a traced ``tf.function`` or a frozen .pb
  (:mod:`reportgen.collect.graph_facts`);
- :func:`feedable_graph_def` turns each ``ReadVariableOp`` of a captured variable into a
  ``Placeholder`` of the same name, so the weights are *fed*, not frozen into constants
  (freezing VGG16 costs about 98 s and 13 GiB; feeding costs almost nothing), and
  :func:`captured_values` says which captures are variables;
- :func:`with_input_shapes` fixes the batch at the input placeholders, so every tensor
  gets a static shape on import;
- :func:`import_graph` imports a GraphDef into a ``tf.Graph`` (to analyse it, or to run it
  in a Session), :func:`graph_forward` as an eager-callable function (to profile it); an
  import that fails is one line either way.

Imports TensorFlow; only the collect worker process loads this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from reportgen.collect.log import CollectFailure, one_line
from reportgen.facts import CollectNote

INIT_VALUE = "{}/reportgen_value"
"""Placeholder fed with a resident variable's value (see :func:`_resident_variable`)."""
INIT_ASSIGN = "{}/reportgen_assign"
"""The op that sets a resident variable from that placeholder."""


# ---------------------------------------------------------------------------------------------
# The forward pass as a GraphDef


@dataclass(frozen=True)
class GraphInput:
    """One fed input: its placeholder node, dtype and shape without the batch dimension."""

    node: str
    dtype: str
    dims: tuple[int | None, ...]


@dataclass
class GraphWeight:
    """One parameter tensor: a variable (read by fed placeholders) or a constant in the graph."""

    name: str
    nodes: tuple[str, ...]
    """Graph nodes holding it: the placeholders standing for its reads, or the Const node."""
    shape: tuple[int, ...]
    dtype: str
    trainable: bool
    value: np.ndarray | None = None
    """Value fed to each of ``nodes``; None when the graph holds the value (a Const)."""
    is_variable: bool = False
    resident: str | None = None
    """The variable's handle node when an op uses the handle itself (a While loop): the
    graph then holds the variable, set once from the value before running."""

    @property
    def all_nodes(self) -> tuple[str, ...]:
        return (*self.nodes, self.resident) if self.resident else self.nodes

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass
class GraphModel:
    """A forward pass as a GraphDef, with what is needed to feed it and to name its parts."""

    name: str
    kind: str
    """``"tf.function"`` (traced from a factory's object) or ``"frozen graph"`` (a .pb)."""
    graph_def: Any
    inputs: tuple[GraphInput, ...]
    outputs: tuple[str, ...]
    weights: tuple[GraphWeight, ...]
    forward: Any | None = None
    """The callable to profile (the tf.function); None: built from ``graph_def``."""
    notes: list[CollectNote] = field(default_factory=list)
    constant_feeds: dict[str, np.ndarray] = field(default_factory=dict)
    """Captured constants that are not weights (integer tables, scalars), fed by tensor name."""

    def feeds(self) -> dict[str, np.ndarray]:
        """Placeholder tensor name → value, for every fed weight read and captured constant."""
        feeds = dict(self.constant_feeds)
        for weight in self.weights:
            if weight.value is not None:
                feeds.update({f"{node}:0": weight.value for node in weight.nodes})
        return feeds

    def init_feeds(self) -> dict[str, np.ndarray]:
        """Values of the variables the graph holds itself (see ``GraphWeight.resident``)."""
        return {
            f"{INIT_VALUE.format(w.resident)}:0": w.value
            for w in self.weights
            if w.resident and w.value is not None
        }


# ---------------------------------------------------------------------------------------------
# Rewriting: weights fed, input shapes fixed


def captured_values(func_graph: Any, model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split the function's captures into variables (by handle placeholder) and plain tensors.

    A capture is an outside tensor the graph reads through an internal placeholder: a
    variable's resource handle, or occasionally an eager constant.
    """
    by_handle: dict[Any, Any] = {}
    for variable in list(func_graph.variables) + [
        getattr(v, "value", v) for v in getattr(model, "variables", [])
    ]:
        handle = getattr(variable, "handle", None)
        if handle is not None:
            by_handle.setdefault(handle.ref(), variable)
    variables: dict[str, Any] = {}
    constants: dict[str, Any] = {}
    for external, internal in func_graph.captures:
        node = internal.op.name
        if internal.dtype == tf.resource:
            variable = by_handle.get(external.ref())
            if variable is None:
                raise CollectFailure(
                    f"the graph reads a resource that is not a model variable ({node}); "
                    "lookup tables and other resources cannot be fed"
                )
            variables[node] = variable
        else:
            constants[node] = external
    return variables, constants


def _placeholder_for(name: str, variable: Any) -> Any:
    node = tf.compat.v1.NodeDef(name=name, op="Placeholder")
    node.attr["dtype"].type = variable.dtype.as_datatype_enum
    node.attr["shape"].shape.CopyFrom(tf.TensorShape(variable.shape).as_proto())
    return node


def _resident_variable(name: str, variable: Any) -> list[Any]:
    """A variable the graph holds itself, and the ops that set it from a fed value.

    For a variable whose handle an op takes directly (an LSTM's ``While`` loop reads it
    inside its body), a fed placeholder cannot stand in: the handle becomes a
    ``VarHandleOp`` of the same name, assigned once from ``<name>/reportgen_value``
    before the traced runs.
    """
    dtype = variable.dtype.as_datatype_enum
    shape = tf.TensorShape(variable.shape).as_proto()
    handle = tf.compat.v1.NodeDef(name=name, op="VarHandleOp")
    handle.attr["dtype"].type = dtype
    handle.attr["shape"].shape.CopyFrom(shape)
    handle.attr["shared_name"].s = name.encode()
    value = tf.compat.v1.NodeDef(name=INIT_VALUE.format(name), op="Placeholder")
    value.attr["dtype"].type = dtype
    value.attr["shape"].shape.CopyFrom(shape)
    assign = tf.compat.v1.NodeDef(name=INIT_ASSIGN.format(name), op="AssignVariableOp")
    assign.input.extend([name, value.name])
    assign.attr["dtype"].type = dtype
    return [handle, value, assign]


def feedable_graph_def(
    graph_def: Any, variables: dict[str, Any]
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Turn each read of a captured variable into a placeholder named like the read.

    Keeping the ``ReadVariableOp``'s name keeps every downstream input reference valid; the
    resource placeholders themselves are then unused and dropped, except for variables
    that an op uses other than by reading them (a ``While`` loop's body): those become
    variables of the graph (:func:`_resident_variable`). Returns the new GraphDef,
    {placeholder node name: variable} and {resident handle node name: variable}.
    """
    handles_used = {
        source.split(":")[0]
        for node in graph_def.node
        if node.op != "ReadVariableOp"
        for source in node.input
        if not source.startswith("^") and source.split(":")[0] in variables
    }
    reads: dict[str, Any] = {}
    resident: dict[str, Any] = {}
    rewritten = tf.compat.v1.GraphDef()
    rewritten.versions.CopyFrom(graph_def.versions)
    rewritten.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.name in variables:
            if node.name in handles_used:
                resident[node.name] = variables[node.name]
                rewritten.node.extend(_resident_variable(node.name, variables[node.name]))
            continue
        data_inputs = [i for i in node.input if not i.startswith("^")]
        if node.op == "ReadVariableOp" and data_inputs[0] in variables:
            reads[node.name] = variables[data_inputs[0]]
            rewritten.node.append(_placeholder_for(node.name, variables[data_inputs[0]]))
            continue
        rewritten.node.append(node)
    return rewritten, reads, resident


def with_input_shapes(graph_def: Any, inputs: Iterable[GraphInput], batch: int | None) -> Any:
    """A copy whose input placeholders have shape [batch, *dims], without stale shape attrs.

    Fixing the shapes at the placeholders lets shape inference give every tensor in the
    graph a static shape when it is imported (the FLOPs profiler needs them).
    """
    rewritten = tf.compat.v1.GraphDef()
    rewritten.CopyFrom(graph_def)
    by_node = {i.node: i for i in inputs}
    for node in rewritten.node:
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
        spec = by_node.get(node.name)
        if spec is None:
            continue
        if node.op == "PlaceholderWithDefault":
            raise CollectFailure(
                f"the input {node.name} is a PlaceholderWithDefault; only plain placeholders "
                "can be fed"
            )
        shape = tf.TensorShape([batch, *spec.dims])
        node.attr["shape"].shape.CopyFrom(shape.as_proto())
    return rewritten


# ---------------------------------------------------------------------------------------------
# Importing


def graph_forward(model: GraphModel) -> Any:
    """The model as an eager-callable function of its inputs (a frozen graph: pruned import)."""
    if model.forward is not None:
        return model.forward
    graph_def = model.graph_def

    def imports() -> None:
        _import_here(graph_def)

    wrapped = tf.compat.v1.wrap_function(imports, [])
    graph = wrapped.graph
    return wrapped.prune(
        feeds=[graph.get_tensor_by_name(f"{i.node}:0") for i in model.inputs],
        fetches=[graph.get_tensor_by_name(name) for name in model.outputs],
    )


def synthetic_value(
    shape: tuple[int, ...],
    dtype: Any,
    name: str,
    vocabulary: int | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """A value for one model input that means what the input means, for measuring.

    A mask (its name says ``mask``) is ones: every position is attended to; segment ids
    are zeros (one segment); floats are random (normal); other booleans False; integers are
    token ids drawn from ``0 … vocabulary − 1`` of the embedding that reads them, or zeros
    when no vocabulary is known (zero is an index every embedding has). ``rng`` is seeded by
    the caller, so the measurement and the profiler feed the same values.
    """
    dtype = tf.as_dtype(dtype)
    numpy_dtype = dtype.as_numpy_dtype
    lowered = name.lower()
    if "mask" in lowered:
        return np.ones(shape, dtype=numpy_dtype)
    if dtype.is_floating:
        return rng.standard_normal(shape).astype(numpy_dtype)
    if dtype.is_integer and vocabulary and "segment" not in lowered:
        return rng.integers(0, vocabulary, size=shape).astype(numpy_dtype)
    return np.zeros(shape, dtype=numpy_dtype)


def sample_inputs(model: GraphModel, batch_size: int) -> list[Any]:
    """Zeros of every input at the batch size: valid for float data and integer ids alike."""
    return [tf.zeros((batch_size, *i.dims), tf.as_dtype(i.dtype)) for i in model.inputs]


def import_graph(graph_def: Any) -> Any:
    """A new ``tf.Graph`` holding the GraphDef's nodes under their own names."""
    graph = tf.Graph()
    with graph.as_default():
        _import_here(graph_def)
    return graph


def _import_here(graph_def: Any) -> None:
    """Import into the default graph; a GraphDef TensorFlow refuses is one line."""
    try:
        tf.graph_util.import_graph_def(graph_def, name="")
    except (ValueError, tf.errors.OpError) as exc:
        raise CollectFailure(f"the graph cannot be imported: {one_line(exc)}") from exc
