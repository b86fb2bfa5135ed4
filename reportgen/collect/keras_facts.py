"""Facts about a Keras model: layers, configs, shapes, dtypes, weights, Keras's own counts.

Nested models (a Sequential or functional model used as a layer) are expanded into their
own layers, each listed once with the path of the model it came from; a layer the model
calls more than once (a shared layer) is listed once, with its number of calls and the
shapes of every call. Imports Keras; only the collect worker process loads this module.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any

import keras

from reportgen import facts as F
from reportgen.collect.source import CollectFailure


def json_safe(value: Any) -> Any:
    """A layer config as plain JSON: tuples become lists, unknown objects their ``str``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


def _shape(shape: Any) -> F.Shape:
    return tuple(None if d is None else int(d) for d in shape)


def _tensor_shapes(tensors: Any) -> tuple[F.Shape, ...]:
    if tensors is None:
        return ()
    if isinstance(tensors, dict):
        tensors = list(tensors.values())
    if not isinstance(tensors, list | tuple):
        tensors = [tensors]
    return tuple(_shape(t.shape) for t in tensors)


def _io_shapes(layer: Any) -> tuple[tuple[F.Shape, ...], tuple[F.Shape, ...]]:
    """Input and output shapes of a layer in its (first) call, when no graph node is known."""
    if isinstance(layer, keras.layers.InputLayer):
        out = _tensor_shapes(layer.output)
        return out, out
    try:
        return _tensor_shapes(layer.input), _tensor_shapes(layer.output)
    except (AttributeError, ValueError):
        return (), ()


def _weight_facts(weight: Any) -> F.WeightFacts:
    return F.WeightFacts(
        name=str(weight.path),
        shape=tuple(int(d) for d in weight.shape),
        dtype=str(weight.dtype),
        trainable=bool(weight.trainable),
    )


# ---------------------------------------------------------------- one call of a layer


@dataclass(frozen=True)
class _Call:
    """One call of a layer in the model's graph: its named inputs and its outputs."""

    input_names: tuple[str, ...]
    input_shapes: tuple[F.Shape, ...]
    output_shapes: tuple[F.Shape, ...]
    output_dtypes: tuple[str, ...]


def _named_inputs(layer: Any, node: Any) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The node's input tensors in the order of ``layer.call``'s parameters, with their names.

    Keras flattens a call's arguments as (positional, then keyword sorted by name), so
    ``mha(q, v, key=k)`` and ``mha(query=q, value=v, key=k)`` record different orders;
    binding to the signature gives the same (query, value, key) for both.
    """
    arguments = getattr(node, "arguments", None)
    if arguments is None:
        return (), ()
    try:
        bound = inspect.signature(layer.call).bind_partial(*arguments.args, **arguments.kwargs)
    except (TypeError, ValueError):
        return (), tuple(arguments.keras_tensors)
    names: list[str] = []
    tensors: list[Any] = []
    for name, value in bound.arguments.items():
        found = [t for t in keras.tree.flatten(value) if isinstance(t, keras.KerasTensor)]
        for i, tensor in enumerate(found):
            names.append(name if len(found) == 1 else f"{name}[{i}]")
            tensors.append(tensor)
    return tuple(names), tuple(tensors)


def _node_call(layer: Any, node: Any) -> _Call:
    outputs = tuple(getattr(node, "outputs", ()) or ())
    if isinstance(layer, keras.layers.InputLayer):
        shapes = tuple(_shape(t.shape) for t in outputs)
        return _Call((), shapes, shapes, tuple(str(t.dtype) for t in outputs))
    names, tensors = _named_inputs(layer, node)
    return _Call(
        input_names=names,
        input_shapes=tuple(_shape(t.shape) for t in tensors),
        output_shapes=tuple(_shape(t.shape) for t in outputs),
        output_dtypes=tuple(str(t.dtype) for t in outputs),
    )


# ---------------------------------------------------------------- walking the model


def _network_keys(model: Any) -> set[str] | None:
    """Keys (``"<id(layer)>_ib-<node index>"``) of the graph nodes that belong to ``model``.

    A layer's ``_inbound_nodes`` hold every call ever made, also in other models (or in a
    Sequential's earlier builds); only these keys are calls of this model. None when the
    model has no graph of its own (a subclassed model).
    """
    graph = model
    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
    keys = getattr(graph, "_nodes", None)
    return {str(k) for k in keys} if isinstance(keys, set | frozenset) else None


def _model_nodes(layer: Any, keys: set[str] | None) -> list[Any]:
    nodes = list(getattr(layer, "_inbound_nodes", None) or [])
    if keys is None:
        return nodes[:1]
    return [node for i, node in enumerate(nodes) if f"{id(layer)}_ib-{i}" in keys]


def _is_nested_model(layer: Any) -> bool:
    """A Sequential or functional model used as a layer (a subclassed model is not expanded)."""
    return isinstance(layer, keras.Model) and _network_keys(layer) is not None


def model_layers(model: Any) -> list[Any]:
    """The model's layers in graph order, its InputLayers first (Sequential hides them)."""
    seen: dict[int, Any] = {}
    for tensor in getattr(model, "inputs", None) or []:
        history = getattr(tensor, "_keras_history", None)
        if history is not None:
            seen.setdefault(id(history.operation), history.operation)
    for layer in model.layers:
        seen.setdefault(id(layer), layer)
    return list(seen.values())


@dataclass
class ExpandedLayer:
    """A layer of the model with nested models expanded: where it sits and how it is called."""

    layer: Any
    parent: str | None
    calls: list[_Call] = field(default_factory=list)


def expanded_layers(model: Any) -> list[ExpandedLayer]:
    """Every layer that owns its weights, once, in graph order; nested models are opened.

    A nested model's own InputLayers are left out: at run time they are the tensor the
    outer model passes in, which is already a row. A nested model called n times makes
    each of its layers' calls count n times.
    """
    found: dict[int, ExpandedLayer] = {}

    def visit(container: Any, parent: str | None, repeat: int, top: bool) -> None:
        keys = _network_keys(container)
        layers = model_layers(container) if top else list(container.layers)
        for layer in layers:
            if not top and isinstance(layer, keras.layers.InputLayer):
                continue
            nodes = _model_nodes(layer, keys)
            if _is_nested_model(layer):
                path = f"{parent}/{layer.name}" if parent else str(layer.name)
                visit(layer, path, repeat * max(len(nodes), 1), top=False)
                continue
            entry = found.setdefault(id(layer), ExpandedLayer(layer, parent))
            entry.calls.extend(_node_call(layer, node) for node in nodes for _ in range(repeat))

    visit(model, None, 1, top=True)
    return list(found.values())


def layer_facts(
    layer: Any, parent: str | None = None, calls: list[_Call] | None = None
) -> F.LayerFacts:
    try:
        keras_params = int(layer.count_params())
    except ValueError:
        keras_params = 0  # an unbuilt layer owns no weights yet
    calls = calls or []
    if calls:
        first = calls[0]
        inputs, outputs = first.input_shapes, first.output_shapes
        names, dtypes = first.input_names, first.output_dtypes
    else:
        inputs, outputs = _io_shapes(layer)
        names, dtypes = (), ()
    shared = len(calls) > 1
    return F.LayerFacts(
        name=str(layer.name),
        class_name=type(layer).__name__,
        config=json_safe(layer.get_config()),
        input_shapes=inputs,
        output_shapes=outputs,
        compute_dtype=str(layer.compute_dtype),
        variable_dtype=str(layer.variable_dtype),
        weights=tuple(_weight_facts(w) for w in layer.weights),
        keras_params=keras_params,
        parent=parent,
        calls=max(len(calls), 1),
        call_input_shapes=tuple(c.input_shapes for c in calls) if shared else (),
        call_output_shapes=tuple(c.output_shapes for c in calls) if shared else (),
        input_names=names,
        output_dtypes=dtypes,
    )


def ensure_built(model: Any, slug: str, input_shape: tuple[int, ...] | None) -> None:
    """Give the model a graph: from its own Input, or from ``input_shape`` in the config."""
    if getattr(model, "inputs", None):
        return
    if input_shape is None:
        raise CollectFailure(
            "the model's input shape is unknown; give input_shape in its configuration "
            "(without the batch dimension, e.g. input_shape = [28, 28, 1])"
        )
    model.build((None, *input_shape))
    if not getattr(model, "inputs", None):
        model(keras.Input(shape=input_shape))


def optimizer_facts(model: Any) -> F.OptimizerFacts | None:
    """The optimizer the model was compiled with, or None (not compiled)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    try:
        config = json_safe(optimizer.get_config())
    except (NotImplementedError, TypeError, ValueError):
        config = {}
    return F.OptimizerFacts(class_name=type(optimizer).__name__, config=config)


def _size(weight: Any) -> int:
    # From the shape, not ``weight.numpy().size``: that would copy every weight.
    return math.prod(int(d) for d in weight.shape)


def model_facts(model: Any, spec: Any) -> F.ModelFacts:
    import tensorflow as tf

    layers = [layer_facts(e.layer, e.parent, e.calls) for e in expanded_layers(model)]
    trainable = sum(_size(w) for w in model.trainable_weights)
    non_trainable = sum(_size(w) for w in model.non_trainable_weights)
    return F.ModelFacts(
        slug=spec.slug,
        title={"en": spec.title_en, "zh": spec.title_zh},
        source=spec.source,
        batch_size=spec.batch_size,
        framework={"tensorflow": tf.__version__, "keras": keras.__version__},
        keras_params=int(model.count_params()),
        keras_trainable_params=trainable,
        keras_non_trainable_params=non_trainable,
        layers=tuple(layers),
        optimizer=optimizer_facts(model),
    )
