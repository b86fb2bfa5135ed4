"""Facts about a TensorFlow graph without Keras: a ``tf.function``/``tf.Module``, or a frozen .pb.

Such a graph has no layers, only ops and name scopes. Following the classic TensorFlow
examples (``mnist_with_summaries``, a ``LeNet_mnist.pb`` exported from a TF1 project), a
*layer* here is a top-level name scope (below any scope that holds every op, such as a
Keras model's own scope in a frozen Keras model): ``conv1/Conv2D``, ``conv1/add`` and
``conv1/Relu`` are the layer ``conv1``. Each layer is described with the same facts as a
Keras layer, so that the derive stage applies the same formulas:

- its ops are classified (one Conv2D with a bias add and an activation is a ``Conv2D``
  layer; a MatMul is ``Dense``; a MaxPool ``MaxPooling2D``; a lone Reshape to rank 2 is
  ``Flatten``...), and the configuration the formulas need (``filters``,
  ``kernel_size``, ``strides``, ``padding``, ``use_bias``, ``units``, ``data_format``,
  ``activation``) is read from the op attributes and the weights' shapes; a scope whose
  ops do not form a known pattern is a ``NameScope``, derived generically;
- its weights are the variables it reads (a frozen graph has no variables: then its
  floating-point constants of rank ≥ 1; scalars are hyper-parameters such as an epsilon),
  each counted once, in the scope of the first op that uses it;
- its reference parameter count (``keras_params``) is the summed size of those weights:
  what the formula is checked against, as Keras's ``count_params()`` is for a Keras layer;
- its input and output shapes are the static shapes of the tensors that cross the scope's
  boundary, with the batch dimension unknown;
- the layers it reads (``inbound``) are those whose ops made the data tensors entering it
  (control inputs, weights and constants are no data), looked through an unscoped
  ``Identity``; one made by an op of no layer leaves that layer's ``inbound`` unknown.

Imports TensorFlow; only the collect worker process loads this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from reportgen import facts as F
from reportgen.collect.graphdef import (
    GraphInput,
    GraphModel,
    GraphWeight,
    captured_values,
    feedable_graph_def,
    import_graph,
    with_input_shapes,
)
from reportgen.collect.log import CollectFailure, one_line
from reportgen.collect.opindex import OpIndex

TENSOR_NAME_RE = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/>]*:\d+$")

# Ops that pass a tensor on unchanged: never a layer of their own, never "the" computation.
PASS_THROUGH = frozenset(
    {"Identity", "IdentityN", "Snapshot", "StopGradient", "PreventGradient", "NoOp"}
)
ACTIVATION_OPS = {
    "Relu": "relu",
    "Relu6": "relu6",
    "Elu": "elu",
    "Selu": "selu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Softmax": "softmax",
    "LogSoftmax": "log_softmax",
    "Softplus": "softplus",
    "Softsign": "softsign",
    "LeakyRelu": "leaky_relu",
}
BIAS_OPS = frozenset({"BiasAdd", "Add", "AddV2"})
CONV_OPS = {"Conv2D": 2, "Conv3D": 3}
POOL_OPS = {
    "MaxPool": "MaxPooling2D",
    "MaxPoolV2": "MaxPooling2D",
    "AvgPool": "AveragePooling2D",
    "MaxPool3D": "MaxPooling3D",
    "AvgPool3D": "AveragePooling3D",
}
VARIABLE_OPS = frozenset({"VariableV2", "Variable", "VarHandleOp"})
DROPOUT_OPS = frozenset({"RandomUniform", "GreaterEqual", "Floor", "SelectV2", "Select"})


# ---------------------------------------------------------------------------------------------
# From a factory's object: tf.Module / tf.function / ConcreteFunction


def _concrete_function(obj: Any) -> tuple[Any, Any, str] | None:
    """(concrete function, the tf.function to profile or None, a name) for a graph object."""
    concrete_type = tf.types.experimental.ConcreteFunction
    function_type = tf.types.experimental.PolymorphicFunction
    if isinstance(obj, concrete_type):
        return obj, obj, str(getattr(obj, "name", "function"))
    # A tf.Module's __call__ is looked up on the object: that is where tf.function binds it.
    call = obj if isinstance(obj, function_type) else getattr(obj, "__call__", None)  # noqa: B004
    if not isinstance(call, function_type):
        return None
    if call.input_signature is None:
        raise CollectFailure(
            f"the tf.function {getattr(call, '__name__', '__call__')} has no input_signature; "
            "give it one (e.g. @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1])])) "
            "so that its graph can be traced without data"
        )
    name = getattr(obj, "name", None) or getattr(call, "__name__", None) or "function"
    try:
        concrete = call.get_concrete_function()
    except Exception as exc:
        raise CollectFailure(f"the tf.function cannot be traced: {one_line(exc)}") from exc
    return concrete, call, str(name)


def graph_model_from_object(obj: Any, source: str) -> GraphModel:
    """The traced forward pass of a ``tf.Module``/``tf.function``/``ConcreteFunction``."""
    found = _concrete_function(obj)
    if found is None:
        what = f"{source}() returned {type(obj).__name__}, not a Keras model"
        if callable(obj) or isinstance(obj, tf.Module):
            # Callable, so perhaps meant as a graph: say what kind of graph object works.
            what += (
                " nor a tf.function with an input_signature (or a tf.Module whose __call__ is one)"
            )
        raise CollectFailure(what)
    concrete, forward, name = found
    func_graph = concrete.graph
    variables, constants = captured_values(func_graph, obj)
    graph_def, reads, resident = feedable_graph_def(func_graph.as_graph_def(), variables)
    inputs = tuple(
        GraphInput(
            node=tensor.op.name,
            dtype=tensor.dtype.name,
            dims=tuple(tensor.shape.as_list()[1:]) if tensor.shape.rank else (),
        )
        for tensor in concrete.inputs
        if tensor.dtype != tf.resource and tensor.op.name not in constants
    )
    by_variable: dict[int, GraphWeight] = {}
    for node, variable in [*reads.items(), *resident.items()]:
        known = by_variable.get(id(variable))
        if known is None:
            known = by_variable[id(variable)] = GraphWeight(
                name=_variable_name(variable),
                nodes=(),
                shape=tuple(int(d) for d in variable.shape),
                dtype=variable.dtype.name,
                trainable=bool(variable.trainable),
                value=np.asarray(variable.read_value()),
                is_variable=True,
            )
        if node in resident:
            known.resident = node
        else:
            known.nodes += (node,)
    weights = list(by_variable.values())
    constant_feeds: dict[str, np.ndarray] = {}
    for node, value in constants.items():
        array = np.asarray(value)
        if not array.shape or not np.issubdtype(array.dtype, np.floating):
            # Like a frozen graph's constants, only float tensors of rank ≥ 1 are weights.
            constant_feeds[f"{node}:0"] = array
            continue
        weights.append(
            GraphWeight(
                name=node,
                nodes=(node,),
                shape=tuple(int(d) for d in array.shape),
                dtype=tf.as_dtype(array.dtype).name,
                trainable=False,
                value=array,
            )
        )
    return GraphModel(
        name=name,
        kind="tf.function",
        graph_def=graph_def,
        inputs=inputs,
        outputs=tuple(t.name for t in concrete.outputs),
        weights=tuple(weights),
        forward=forward,
        constant_feeds=constant_feeds,
    )


def _variable_name(variable: Any) -> str:
    name = str(getattr(variable, "name", "variable"))
    return name[:-2] if name.endswith(":0") else name


# ---------------------------------------------------------------------------------------------
# From a frozen graph (.pb)


def read_graph_def(path: Path, shown: str) -> Any:
    """Parse a binary GraphDef; a file that is not one is a one-line failure."""
    data = path.read_bytes()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as exc:  # google.protobuf's DecodeError, or a RuntimeError from C++
        raise CollectFailure(
            f"{shown}: not a TensorFlow GraphDef (the file is corrupt or is not a frozen "
            f"graph: {one_line(exc)})"
        ) from exc
    if not graph_def.node:
        raise CollectFailure(f"{shown}: not a TensorFlow GraphDef (it holds no graph nodes)")
    return graph_def


def _const_shape(node: Any) -> tuple[int, ...] | None:
    proto = node.attr["value"].tensor.tensor_shape
    if proto.unknown_rank:
        return None
    return tuple(int(d.size) for d in proto.dim)


def _is_float(dtype_enum: int) -> bool:
    try:
        return bool(tf.as_dtype(dtype_enum).is_floating)
    except TypeError:
        return False


def _frozen_weights(graph_def: Any) -> tuple[GraphWeight, ...]:
    """Variables left in the graph, or (the usual case) its floating constants of rank ≥ 1."""
    weights: list[GraphWeight] = []
    for node in graph_def.node:
        if node.op in VARIABLE_OPS:
            shape = tuple(int(d.size) for d in node.attr["shape"].shape.dim)
            weights.append(
                GraphWeight(
                    name=node.name,
                    nodes=(node.name,),
                    shape=shape,
                    dtype=tf.as_dtype(node.attr["dtype"].type).name,
                    trainable=True,
                    is_variable=True,
                )
            )
        elif node.op == "Const" and _is_float(node.attr["dtype"].type):
            # Rank ≥ 1 only: a scalar is a hyper-parameter (an epsilon, a scale), not a weight.
            const_shape = _const_shape(node)
            if const_shape:
                weights.append(
                    GraphWeight(
                        name=node.name,
                        nodes=(node.name,),
                        shape=const_shape,
                        dtype=tf.as_dtype(node.attr["dtype"].type).name,
                        trainable=True,
                    )
                )
    return tuple(weights)


def load_frozen_graph(
    path: Path,
    shown: str,
    inputs: Iterable[str],
    outputs: Iterable[str],
    input_shape: tuple[int, ...] | None,
) -> GraphModel:
    """A frozen GraphDef with its named input placeholders and output tensors."""
    graph_def = read_graph_def(path, shown)
    nodes = {node.name: node for node in graph_def.node}
    graph_inputs: list[GraphInput] = []
    input_names = list(inputs)
    for tensor_name in input_names:
        node = nodes.get(tensor_name.rpartition(":")[0])
        if node is None:
            placeholders = [n.name for n in graph_def.node if n.op == "Placeholder"]
            raise CollectFailure(
                f"{shown}: has no input tensor {tensor_name!r} (its placeholders: "
                f"{', '.join(placeholders[:8]) or 'none'})"
            )
        if node.op not in ("Placeholder", "PlaceholderWithDefault"):
            raise CollectFailure(
                f"{shown}: the input {tensor_name!r} is a {node.op} op, not a placeholder"
            )
        graph_inputs.append(_frozen_input(node, input_shape, len(input_names), shown))
    for tensor_name in outputs:
        if tensor_name.rpartition(":")[0] not in nodes:
            raise CollectFailure(f"{shown}: has no output tensor {tensor_name!r}")
    model = GraphModel(
        name=path.stem,
        kind="frozen graph",
        graph_def=graph_def,
        inputs=tuple(graph_inputs),
        outputs=tuple(outputs),
        weights=_frozen_weights(graph_def),
    )
    if not any(w.is_variable for w in model.weights):
        model.notes.append(F.CollectNote("frozen_constants"))
    return model


def _frozen_input(
    node: Any, input_shape: tuple[int, ...] | None, count: int, shown: str
) -> GraphInput:
    dtype = tf.as_dtype(node.attr["dtype"].type).name
    proto = node.attr["shape"].shape
    dims: tuple[int | None, ...] | None = None
    if "shape" in node.attr and not proto.unknown_rank and proto.dim:
        dims = tuple(None if d.size < 0 else int(d.size) for d in proto.dim[1:])
    if input_shape is not None and count == 1:
        if dims is not None and len(dims) != len(input_shape):
            raise CollectFailure(
                f"{shown}: input_shape {list(input_shape)} has {len(input_shape)} dimensions, "
                f"the placeholder {node.name} has {len(dims)} (without the batch)"
            )
        dims = tuple(input_shape)
    if dims is None or any(d is None for d in dims):
        raise CollectFailure(
            f"{shown}: the shape of the input {node.name} is not fully known; give "
            "input_shape in the model's configuration (without the batch dimension)"
        )
    return GraphInput(node=node.name, dtype=dtype, dims=dims)


# ---------------------------------------------------------------------------------------------
# Layers: top-level name scopes


@dataclass
class GraphLayer:
    name: str
    scope: str
    """Full scope prefix, e.g. ``conv1`` or ``sequential_1/conv1_1``."""
    class_name: str
    config: dict[str, Any]
    input_shapes: tuple[F.Shape, ...]
    output_shapes: tuple[F.Shape, ...]
    compute_dtype: str
    weights: list[tuple[GraphWeight, str]]
    """The layer's weights, each with its display name."""
    is_input: bool = False
    entering: tuple[str, ...] = ()
    """Node names of the ops whose outputs enter the scope from outside (its inputs)."""
    inbound: tuple[str, ...] | None = ()
    """The layers whose outputs it reads (:attr:`reportgen.facts.LayerFacts.inbound`); None
    when an input comes from an op outside every layer that is not a pass-through."""

    @property
    def params(self) -> int:
        return sum(weight.size for weight, _ in self.weights)


@dataclass
class GraphLayout:
    """The graph's layers in order, and which layer each node belongs to."""

    layers: list[GraphLayer]
    node_layer: dict[str, str]
    """Node name → layer name, for every node of a layer (ops and their weights)."""
    notes: list[F.CollectNote]

    @property
    def scopes(self) -> dict[str, str]:
        """Full scope → layer name, one scope per layer (input layers have none)."""
        return {layer.scope: layer.name for layer in self.layers if not layer.is_input}

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    @property
    def input_layers(self) -> list[str]:
        return [layer.name for layer in self.layers if layer.is_input]

    @cached_property
    def index(self) -> OpIndex:
        """Which layer each node belongs to: by node, else by the innermost scope holding it
        (an op the optimizer renamed or added inside a scope)."""
        return OpIndex(layer_names=self.layer_names, calls=self.scopes, nodes=self.node_layer)


def _shape_of(tensor: Any) -> F.Shape:
    if tensor.shape.rank is None:
        return ()
    dims = tensor.shape.as_list()
    return tuple([None, *dims[1:]]) if dims else ()


@dataclass
class _Analysis:
    graph: Any
    ops: list[Any]
    order: dict[str, int]
    data: set[str]
    """Ops that depend on a fed input (the forward computation proper)."""
    weight_of_node: dict[str, GraphWeight]
    derived: dict[str, frozenset[int]]
    """Non-data op → ids of the weights it is computed from (reads, reshapes, casts...)."""
    weights_by_id: dict[int, GraphWeight]

    def weights_of(self, tensor: Any) -> list[GraphWeight]:
        ids = self.derived.get(tensor.op.name, frozenset())
        return [self.weights_by_id[i] for i in sorted(ids, key=lambda i: self._first_use(i))]

    def _first_use(self, weight_id: int) -> int:
        return min(self.order.get(n, 0) for n in self.weights_by_id[weight_id].all_nodes)

    def is_data(self, tensor: Any) -> bool:
        return bool(tensor.op.name in self.data)


def _analyse(model: GraphModel) -> _Analysis:
    graph = import_graph(with_input_shapes(model.graph_def, model.inputs, None))
    ops = list(graph.get_operations())  # the importer creates ops in topological order
    order = {op.name: i for i, op in enumerate(ops)}
    weight_of_node = {node: w for w in model.weights for node in w.all_nodes}
    weights_by_id = {id(w): w for w in model.weights}
    data = {i.node for i in model.inputs}
    derived: dict[str, frozenset[int]] = {}
    for op in ops:
        if op.name in data:
            continue
        if any(t.op.name in data for t in op.inputs):
            data.add(op.name)
            continue
        if op.name in weight_of_node:
            derived[op.name] = frozenset({id(weight_of_node[op.name])})
        else:
            sources: set[int] = set()
            for tensor in op.inputs:
                sources |= derived.get(tensor.op.name, frozenset())
            derived[op.name] = frozenset(sources)
    return _Analysis(graph, ops, order, data, weight_of_node, derived, weights_by_id)


def _common_prefix(names: list[str]) -> list[str]:
    """Scope parts every op shares, as long as each op keeps a scope of its own below them."""
    split = [name.split("/") for name in names]
    prefix: list[str] = []
    while split and all(len(parts) > len(prefix) + 2 for parts in split):
        part = split[0][len(prefix)]
        if any(parts[len(prefix)] != part for parts in split):
            break
        prefix.append(part)
    return prefix


def graph_layout(model: GraphModel) -> GraphLayout:
    """Group the graph's ops into layers (top-level name scopes) and describe each one."""
    analysis = _analyse(model)
    input_nodes = {i.node for i in model.inputs}
    compute = [
        op
        for op in analysis.ops
        if op.name in analysis.data and op.name not in input_nodes and op.type != "NoOp"
    ]
    scoped = [op.name for op in compute if "/" in op.name]
    prefix = _common_prefix(scoped)
    depth = len(prefix)

    def key_of(name: str) -> str | None:
        """The layer key of a node: prefix + first scope part below it (or the bare op)."""
        parts = name.split("/")
        if parts[:depth] != prefix or len(parts) == depth:
            return None
        return "/".join(parts[: depth + 1])

    members: dict[str, list[Any]] = {}
    for op in compute:
        key = key_of(op.name)
        if key is None:
            continue
        if key == op.name and op.type in PASS_THROUGH:
            continue  # an unscoped Identity, such as the function's output: not a layer
        members.setdefault(key, []).append(op)

    layer_weights = _assign_weights(analysis, members, key_of)
    notes = list(model.notes)
    unused = [w for w in model.weights if id(w) not in layer_weights]
    if unused:
        notes.append(F.CollectNote("unused_weights", {"names": [w.name for w in unused]}))

    layers: list[GraphLayer] = [_input_layer(analysis, i) for i in model.inputs]
    node_layer: dict[str, str] = {i.node: i.node for i in model.inputs}
    fetched = {name.rpartition(":")[0] for name in model.outputs}
    described: list[tuple[GraphLayer, list[Any]]] = []
    for key, ops in members.items():
        name = key.rsplit("/", 1)[-1]
        weights = [w for w in model.weights if layer_weights.get(id(w)) == key]
        layer = _describe(name, key, ops, weights, analysis, fetched)
        layers.append(layer)
        described.append((layer, ops))
    _check_unique_names(layers)
    # After the renaming, so that every node names its layer as the report does.
    for layer, ops in described:
        for op in ops:
            node_layer[op.name] = layer.name
        for weight, _ in layer.weights:
            for node in weight.all_nodes:
                node_layer.setdefault(node, layer.name)
    for layer, _ in described:
        layer.inbound = _rows_read(layer.entering, node_layer, analysis)
    return GraphLayout(layers=layers, node_layer=node_layer, notes=notes)


def _rows_read(
    entering: tuple[str, ...], node_layer: dict[str, str], analysis: _Analysis
) -> tuple[str, ...] | None:
    """The rows a row reads, in the order its ops first read them (``entering`` is in op
    order, each op's inputs in argument order); None when one comes from an op of no row.

    Only data tensors enter a row (weights and constants never do), so every entering op
    should be a row's or an input's; one that is not is an unknown reader, never guessed."""
    rows: list[str] = []
    for node in entering:
        row = _producing_row(node, node_layer, analysis)
        if row is None:
            return None
        rows.append(row)
    return tuple(dict.fromkeys(rows))


def _producing_row(node: str, node_layer: dict[str, str], analysis: _Analysis) -> str | None:
    """The row whose output a node's tensor is: its own row, or, through ops of no row that
    pass one tensor on unchanged (an unscoped ``tf.identity`` between two scopes), the row
    of that tensor. Any other op of no row: None."""
    while node not in node_layer:
        op = analysis.graph.get_operation_by_name(node)
        data = [tensor for tensor in op.inputs if analysis.is_data(tensor)]
        if op.type not in PASS_THROUGH or len(data) != 1:
            return None
        node = data[0].op.name
    return node_layer[node]


def _check_unique_names(layers: list[GraphLayer]) -> None:
    seen: set[str] = set()
    for layer in layers:
        if layer.name in seen:
            # Two scopes with one last part (a/x, b/x) under different prefixes cannot
            # happen with one prefix; an input placeholder named like a scope can.
            layer.name = f"{layer.name} ({layer.scope})"
        seen.add(layer.name)


def _assign_weights(
    analysis: _Analysis, members: dict[str, list[Any]], key_of: Callable[[str], str | None]
) -> dict[int, str]:
    """Weight id → layer key: the layer of the first forward op that uses it, else its own."""
    layer_of_op = {op.name: key for key, ops in members.items() for op in ops}
    found: dict[int, tuple[int, str]] = {}
    for op in analysis.ops:
        key = layer_of_op.get(op.name)
        if key is None:
            continue
        for tensor in op.inputs:
            for weight_id in analysis.derived.get(tensor.op.name, frozenset()):
                position = analysis.order[op.name]
                if weight_id not in found or position < found[weight_id][0]:
                    found[weight_id] = (position, key)
    assigned = {weight_id: key for weight_id, (_, key) in found.items()}
    for weight in analysis.weights_by_id.values():
        if id(weight) in assigned:
            continue
        own = key_of(weight.all_nodes[0])
        if own is not None and own in members:
            assigned[id(weight)] = own
    return assigned


def _input_layer(analysis: _Analysis, spec: GraphInput) -> GraphLayer:
    tensor = analysis.graph.get_tensor_by_name(f"{spec.node}:0")
    shape = _shape_of(tensor)
    return GraphLayer(
        name=spec.node,
        scope=spec.node,
        class_name="InputLayer",
        config={"name": spec.node, "batch_shape": list(shape), "dtype": spec.dtype},
        input_shapes=(shape,),
        output_shapes=(shape,),
        compute_dtype=spec.dtype,
        weights=[],
        is_input=True,
    )


def _boundary(
    ops: list[Any], analysis: _Analysis, fetched: set[str]
) -> tuple[list[Any], list[Any]]:
    """Data tensors entering the scope from outside, and those it hands on (or the model's)."""
    inside = {op.name for op in ops}
    entering: dict[str, Any] = {}
    for op in ops:
        for tensor in op.inputs:
            if analysis.is_data(tensor) and tensor.op.name not in inside:
                entering.setdefault(tensor.name, tensor)
    leaving: dict[str, Any] = {}
    for op in ops:
        for tensor in op.outputs:
            consumers = [c for c in tensor.consumers() if c.name in analysis.data]
            if op.name in fetched or any(c.name not in inside for c in consumers):
                leaving.setdefault(tensor.name, tensor)
    return list(entering.values()), list(leaving.values())


def _describe(
    name: str,
    scope: str,
    ops: list[Any],
    weights: list[GraphWeight],
    analysis: _Analysis,
    fetched: set[str],
) -> GraphLayer:
    entering, leaving = _boundary(ops, analysis, fetched)
    # Ops that only compute integers (Shape, StridedSlice, Pack for a Reshape's target)
    # handle shapes and indices, not values: they do not change what a layer is.
    core = [op for op in ops if op.type not in PASS_THROUGH and not _integer_only(op)]
    pattern = _classify(name, core, analysis, entering)
    class_name, config, roles = pattern if pattern else _name_scope(core)
    config = {"name": name, **config}
    ordered = _ordered_weights(name, weights, roles)
    out_dtype = leaving[0].dtype.name if leaving else (entering[0].dtype.name if entering else "")
    return GraphLayer(
        name=name,
        scope=scope,
        class_name=class_name,
        config=config,
        input_shapes=tuple(_shape_of(t) for t in entering),
        output_shapes=tuple(_shape_of(t) for t in leaving),
        compute_dtype=out_dtype or "float32",
        weights=ordered,
        entering=tuple(dict.fromkeys(t.op.name for t in entering)),
    )


Pattern = tuple[str, dict[str, Any], dict[int, tuple[str, bool]]]
"""(class name, config, {weight id: (role, trainable)})."""


def _ordered_weights(
    layer: str, weights: list[GraphWeight], roles: dict[int, tuple[str, bool]]
) -> list[tuple[GraphWeight, str]]:
    """Weights with a known role first, in role order (kernel, bias...), each named.

    A variable keeps its own name (``conv1/weights``); a frozen constant is named by its
    role (``conv1/kernel``), or keeps its node name when its role is unknown.
    """
    role_order = list(dict.fromkeys(role for role, _ in roles.values()))
    known = sorted(
        (w for w in weights if id(w) in roles),
        key=lambda w: role_order.index(roles[id(w)][0]),
    )
    rest = [w for w in weights if id(w) not in roles]
    named: list[tuple[GraphWeight, str]] = []
    for weight in known:
        role, trainable = roles[id(weight)]
        if not weight.is_variable and weight.value is None:
            weight.trainable = trainable
        named.append((weight, weight.name if weight.is_variable else f"{layer}/{role}"))
    named.extend((weight, weight.name) for weight in rest)
    return named


def _integer_only(op: Any) -> bool:
    return bool(op.outputs) and all(t.dtype.is_integer for t in op.outputs)


def _name_scope(core: list[Any]) -> Pattern:
    counts: dict[str, int] = {}
    for op in core:
        counts[op.type] = counts.get(op.type, 0) + 1
    return "NameScope", {"op_types": dict(sorted(counts.items()))}, {}


def _attr(op: Any, name: str, default: Any = None) -> Any:
    try:
        value = op.get_attr(name)
    except (ValueError, TypeError):
        return default
    return value.decode() if isinstance(value, bytes) else value


def _data_format(op: Any) -> str:
    fmt = str(_attr(op, "data_format", "NHWC"))
    return "channels_first" if fmt.startswith("NC") else "channels_last"


def _spatial(values: Any, data_format: str, rank: int) -> list[int]:
    """The spatial entries of an NHWC/NCHW-ordered attribute such as strides or ksize."""
    values = list(values or [])
    if len(values) != rank + 2:
        return [int(v) for v in values[:rank]] or [1] * rank
    inner = values[2:] if data_format == "channels_first" else values[1:-1]
    return [int(v) for v in inner]


def _padding(op: Any) -> str | None:
    padding = str(_attr(op, "padding", ""))
    return {"SAME": "same", "VALID": "valid"}.get(padding)


def _single_weight(analysis: _Analysis, tensor: Any, rank: int | None = None) -> GraphWeight | None:
    """The one weight a non-data operand is made of, if it is exactly one of that rank."""
    if analysis.is_data(tensor):
        return None
    found = analysis.weights_of(tensor)
    if len(found) != 1:
        return None
    if rank is not None and len(found[0].shape) != rank:
        return None
    return found[0]


def _classify(
    name: str, core: list[Any], analysis: _Analysis, entering: list[Any]
) -> Pattern | None:
    types = [op.type for op in core]
    if not core:
        if "dropout" in name.lower():
            return "Dropout", {}, {}
        return "Identity", {}, {}
    if set(types) & DROPOUT_OPS and "dropout" in name.lower():
        return "Dropout", {}, {}
    main = [op for op in core if op.type in CONV_OPS or op.type in ("MatMul",)]
    main += [op for op in core if op.type == "DepthwiseConv2dNative"]
    if len(main) == 1:
        return _weighted(main[0], core, analysis)
    if len(core) == 1:
        return _single_op(core[0], analysis, entering)
    return _decomposed_batch_norm(core, analysis, entering)


def _bias_and_activation(
    main: Any, core: list[Any], analysis: _Analysis, size: int
) -> tuple[dict[str, Any], dict[int, tuple[str, bool]]] | None:
    """use_bias and activation of the ops around a conv/matmul; None if anything else runs."""
    config: dict[str, Any] = {"use_bias": False, "activation": "linear"}
    roles: dict[int, tuple[str, bool]] = {}
    for op in core:
        if op is main:
            continue
        if op.type in BIAS_OPS and not config["use_bias"]:
            operands = [t for t in op.inputs if not analysis.is_data(t)]
            if len(operands) != 1 or len(op.inputs) != 2:
                return None
            bias = _single_weight(analysis, operands[0])
            if bias is None or bias.size != size:
                return None
            config["use_bias"] = True
            roles[id(bias)] = ("bias", True)
        elif op.type in ACTIVATION_OPS and config["activation"] == "linear":
            config["activation"] = ACTIVATION_OPS[op.type]
        else:
            return None
    return config, roles


def _weighted(main: Any, core: list[Any], analysis: _Analysis) -> Pattern | None:
    if main.type == "MatMul":
        return _dense(main, core, analysis)
    kernel = _single_weight(analysis, main.inputs[1])
    data_format = _data_format(main)
    if kernel is None or not analysis.is_data(main.inputs[0]):
        return None
    if main.type == "DepthwiseConv2dNative":
        if len(kernel.shape) != 4:
            return None
        multiplier = kernel.shape[3]
        extra = _bias_and_activation(main, core, analysis, kernel.shape[2] * multiplier)
        if extra is None:
            return None
        config, roles = extra
        roles[id(kernel)] = ("depthwise_kernel", True)
        return (
            "DepthwiseConv2D",
            {
                "kernel_size": list(kernel.shape[:2]),
                "depth_multiplier": multiplier,
                "strides": _spatial(_attr(main, "strides"), data_format, 2),
                "padding": _padding(main),
                "data_format": data_format,
                "dilation_rate": _spatial(_attr(main, "dilations"), data_format, 2),
                **config,
            },
            _kernel_first(roles, kernel),
        )
    rank = CONV_OPS[main.type]
    if len(kernel.shape) != rank + 2:
        return None
    filters = kernel.shape[-1]
    extra = _bias_and_activation(main, core, analysis, filters)
    if extra is None:
        return None
    config, roles = extra
    roles[id(kernel)] = ("kernel", True)
    channels = _shape_of(main.inputs[0])
    c_in = channels[1 if data_format == "channels_first" else -1] if channels else None
    groups = c_in // kernel.shape[-2] if c_in and kernel.shape[-2] else 1
    return (
        f"Conv{rank}D",
        {
            "filters": filters,
            "kernel_size": list(kernel.shape[:rank]),
            "strides": _spatial(_attr(main, "strides"), data_format, rank),
            "padding": _padding(main),
            "data_format": data_format,
            "dilation_rate": _spatial(_attr(main, "dilations"), data_format, rank),
            "groups": groups,
            **config,
        },
        _kernel_first(roles, kernel),
    )


def _kernel_first(
    roles: dict[int, tuple[str, bool]], kernel: GraphWeight
) -> dict[int, tuple[str, bool]]:
    return {id(kernel): roles[id(kernel)], **{k: v for k, v in roles.items() if k != id(kernel)}}


def _dense(main: Any, core: list[Any], analysis: _Analysis) -> Pattern | None:
    if _attr(main, "transpose_a", False) or not analysis.is_data(main.inputs[0]):
        return None
    kernel = _single_weight(analysis, main.inputs[1], rank=2)
    if kernel is None:
        return None
    units = kernel.shape[0] if _attr(main, "transpose_b", False) else kernel.shape[1]
    extra = _bias_and_activation(main, core, analysis, units)
    if extra is None:
        return None
    config, roles = extra
    roles[id(kernel)] = ("kernel", True)
    return "Dense", {"units": units, **config}, _kernel_first(roles, kernel)


def _single_op(op: Any, analysis: _Analysis, entering: list[Any]) -> Pattern | None:
    data_format = _data_format(op)
    if op.type in POOL_OPS:
        rank = 3 if op.type.endswith("3D") else 2
        if op.type == "MaxPoolV2":
            return None  # ksize and strides are tensors, not attributes
        return (
            POOL_OPS[op.type],
            {
                "pool_size": _spatial(_attr(op, "ksize"), data_format, rank),
                "strides": _spatial(_attr(op, "strides"), data_format, rank),
                "padding": _padding(op),
                "data_format": data_format,
            },
            {},
        )
    if op.type == "Reshape":
        out = _shape_of(op.outputs[0])
        if len(out) == 2 and entering and len(_shape_of(entering[0])) > 2:
            return "Flatten", {"data_format": "channels_last"}, {}
        return "Reshape", {"target_shape": list(out[1:])}, {}
    if op.type == "Softmax":
        return "Softmax", {"axis": -1}, {}
    if op.type in ACTIVATION_OPS:
        return "Activation", {"activation": ACTIVATION_OPS[op.type]}, {}
    if op.type in ("Add", "AddV2") and all(analysis.is_data(t) for t in op.inputs):
        return "Add", {}, {}
    if op.type == "Mean" and not _attr(op, "keep_dims", False):
        axes = tf.get_static_value(op.inputs[1])
        rank = op.inputs[0].shape.rank
        if axes is not None and rank == 4 and sorted(np.ravel(axes).tolist()) == [1, 2]:
            return "GlobalAveragePooling2D", {"data_format": "channels_last"}, {}
    if op.type in ("FusedBatchNorm", "FusedBatchNormV3") and not _attr(op, "is_training", True):
        return _batch_norm(op, analysis, data_format)
    if op.type in ("Pad", "PadV2", "MirrorPad"):
        return _padding_layer(op, analysis)
    return None


def _padding_layer(op: Any, analysis: _Analysis) -> Pattern | None:
    """A constant zero Pad of the spatial axes of an NHWC tensor: ZeroPadding1D/2D/3D."""
    paddings = tf.get_static_value(op.inputs[1])
    rank = op.inputs[0].shape.rank
    if op.type == "MirrorPad" or paddings is None or rank is None or rank < 3:
        return None
    if op.type == "PadV2" and tf.get_static_value(op.inputs[2]) not in (0, 0.0):
        return None
    pairs = [[int(a), int(b)] for a, b in np.asarray(paddings).tolist()]
    if pairs[0] != [0, 0] or pairs[-1] != [0, 0]:
        return None  # padding the batch or the channels is no Keras padding layer
    spatial = pairs[1:-1]
    return (
        f"ZeroPadding{len(spatial)}D",
        {"padding": spatial, "data_format": "channels_last"},
        {},
    )


def _decomposed_batch_norm(
    core: list[Any], analysis: _Analysis, entering: list[Any]
) -> Pattern | None:
    """Inference batch normalisation written out, as ``tf.nn.batch_normalization`` does:
    ``x·γ·rsqrt(var+ε) + (β − mean·γ·rsqrt(var+ε))`` — the data ops are a Mul and an Add,
    and four per-channel weights feed them. Roles are read from where each weight goes:
    the variance into the Rsqrt, γ multiplied by it, the mean subtracted from β."""
    if not 1 <= len(core) <= 3 or any(op.type not in ("Mul", "Add", "AddV2", "Sub") for op in core):
        return None
    weights = {
        id(w): w
        for op in core
        for tensor in op.inputs
        if not analysis.is_data(tensor)
        for w in analysis.weights_of(tensor)
    }
    shape = _shape_of(entering[0]) if len(entering) == 1 else ()
    channels = shape[-1] if shape else None
    if len(weights) != 4 or any(w.shape != (channels,) for w in weights.values()):
        return None
    roles, epsilon = _batch_norm_roles(analysis, set(weights))
    config: dict[str, Any] = {"axis": -1, "center": True, "scale": True}
    if epsilon is not None:
        config["epsilon"] = epsilon
    return "BatchNormalization", config, roles


def _batch_norm_roles(
    analysis: _Analysis, weight_ids: set[int]
) -> tuple[dict[int, tuple[str, bool]], float | None]:
    ops = [
        op
        for op in analysis.ops
        if op.name not in analysis.data and analysis.derived.get(op.name, frozenset()) <= weight_ids
    ]

    def source(tensor: Any) -> frozenset[int]:
        return analysis.derived.get(tensor.op.name, frozenset())

    rsqrt = [op for op in ops if op.type == "Rsqrt" and source(op.inputs[0])]
    if len(rsqrt) != 1:
        return {}, None
    variance = source(rsqrt[0].inputs[0])
    add = rsqrt[0].inputs[0].op
    epsilon = None
    if add.type in ("Add", "AddV2"):
        values = [tf.get_static_value(t) for t in add.inputs if not source(t)]
        if len(values) == 1 and values[0] is not None and np.ndim(values[0]) == 0:
            epsilon = float(values[0])
    scaled = [op for op in ops if op.type == "Mul" and rsqrt[0].outputs[0] in list(op.inputs)]
    gamma = source(scaled[0].outputs[0]) - variance if len(scaled) == 1 else frozenset()
    subs = [op for op in ops if op.type == "Sub"]
    beta = source(subs[0].inputs[0]) if len(subs) == 1 else frozenset()
    mean = weight_ids - variance - gamma - beta
    found = [variance, gamma, beta, mean]
    if any(len(ids) != 1 for ids in found):
        return {}, epsilon
    (v,), (g,), (b,), (m,) = found
    roles = {
        g: ("gamma", True),
        b: ("beta", True),
        m: ("moving_mean", False),
        v: ("moving_variance", False),
    }
    return roles, epsilon


def _batch_norm(op: Any, analysis: _Analysis, data_format: str) -> Pattern | None:
    roles: dict[int, tuple[str, bool]] = {}
    for index, (role, trainable) in enumerate(
        (("gamma", True), ("beta", True), ("moving_mean", False), ("moving_variance", False)),
        start=1,
    ):
        weight = _single_weight(analysis, op.inputs[index], rank=1)
        if weight is None:
            return None
        roles[id(weight)] = (role, trainable)
    return (
        "BatchNormalization",
        {
            "axis": 1 if data_format == "channels_first" else -1,
            "epsilon": float(_attr(op, "epsilon", 0.001)),
            "center": True,
            "scale": True,
        },
        roles,
    )


# ---------------------------------------------------------------------------------------------
# Facts


def graph_model_facts(model: GraphModel, layout: GraphLayout, spec: Any) -> F.ModelFacts:
    layers = tuple(_layer_facts(layer) for layer in layout.layers)
    counted = [weight for layer in layout.layers for weight, _ in layer.weights]
    trainable = sum(w.size for w in counted if w.trainable)
    total = sum(w.size for w in counted)
    return F.ModelFacts(
        slug=spec.slug,
        title={"en": spec.title_en, "zh": spec.title_zh},
        source=spec.source,
        batch_size=spec.batch_size,
        framework=_framework(),
        keras_params=total,
        keras_trainable_params=trainable,
        keras_non_trainable_params=total - trainable,
        layers=layers,
        notes=(_origin_note(model), *layout.notes),
        reference="constants" if model.kind == "frozen graph" else "variables",
    )


def _origin_note(model: GraphModel) -> F.CollectNote:
    """No Keras model: layers are name scopes, checked against their variables' size."""
    return F.CollectNote("graph_origin", {"kind": model.kind})


def _framework() -> dict[str, str]:
    """Versions in the environment that produced the report (Keras only reads no graph here)."""
    versions = {"tensorflow": str(tf.__version__)}
    try:
        import keras

        versions["keras"] = str(keras.__version__)
    except ImportError:  # pragma: no cover - TensorFlow ships Keras
        pass
    return versions


def _layer_facts(layer: GraphLayer) -> F.LayerFacts:
    variable_dtype = layer.weights[0][0].dtype if layer.weights else layer.compute_dtype
    return F.LayerFacts(
        name=layer.name,
        class_name=layer.class_name,
        config=layer.config,
        input_shapes=layer.input_shapes,
        output_shapes=layer.output_shapes,
        compute_dtype=layer.compute_dtype,
        variable_dtype=variable_dtype,
        weights=tuple(
            F.WeightFacts(name=name, shape=w.shape, dtype=w.dtype, trainable=w.trainable)
            for w, name in layer.weights
        ),
        keras_params=layer.params,
        inbound=() if layer.is_input else layer.inbound,
    )
