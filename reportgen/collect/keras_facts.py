"""Facts about a Keras model: layers, configs, shapes, dtypes, weights, Keras's own counts.

Nested models (a Sequential or functional model used as a layer) are expanded into their
own layers, each listed once with the path of the model it came from; a layer the model
calls more than once (a shared layer) is listed once, with its number of calls and the
shapes of every call. A subclassed model (layers wired in ``call()``) has no graph of
layer calls to read: it is called once on a symbolic input while every layer call is
recorded (:class:`SubclassedModel`), and weights it holds itself, outside any layer, are
listed in one row of their own. Imports Keras; only the collect worker process loads this
module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import keras

from reportgen import facts as F
from reportgen.collect.log import CollectFailure, one_line
from reportgen.derive.subclassed import NOT_CALLED_KEY, OWN_WEIGHTS_KEY


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


def _bound_tensors(
    layer: Any, args: Any, kwargs: Any, is_tensor: Callable[[Any], bool]
) -> tuple[tuple[str, ...], tuple[Any, ...]] | None:
    """The call's tensors in the order of ``layer.call``'s parameters, with their names.

    None when the arguments do not bind to the signature.
    """
    try:
        bound = inspect.signature(layer.call).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    names: list[str] = []
    tensors: list[Any] = []
    for name, value in bound.arguments.items():
        found = [t for t in keras.tree.flatten(value) if is_tensor(t)]
        for i, tensor in enumerate(found):
            names.append(name if len(found) == 1 else f"{name}[{i}]")
            tensors.append(tensor)
    return tuple(names), tuple(tensors)


def _named_inputs(layer: Any, node: Any) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The node's input tensors in the order of ``layer.call``'s parameters, with their names.

    Keras flattens a call's arguments as (positional, then keyword sorted by name), so
    ``mha(q, v, key=k)`` and ``mha(query=q, value=v, key=k)`` record different orders;
    binding to the signature gives the same (query, value, key) for both.
    """
    arguments = getattr(node, "arguments", None)
    if arguments is None:
        return (), ()
    found = _bound_tensors(
        layer, arguments.args, arguments.kwargs, lambda t: isinstance(t, keras.KerasTensor)
    )
    return found if found is not None else ((), tuple(arguments.keras_tensors))


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
    called: bool = True
    """False for a layer of a subclassed model that its recorded call never used (nor the
    nested model it belongs to): it did not run in the forward pass."""


def expanded_layers(model: Any) -> list[ExpandedLayer]:
    """Every layer that owns its weights, once, in graph order; nested models are opened.

    A nested model's own InputLayers are left out: at run time they are the tensor the
    outer model passes in, which is already a row. A nested model called n times makes
    each of its layers' calls count n times.
    """
    found: dict[int, ExpandedLayer] = {}
    # A subclassed model's own layers have no graph nodes: their calls were recorded.
    recorded = model.calls if isinstance(model, SubclassedModel) else None

    def visit(
        container: Any, parent: str | None, repeat: int, top: bool, called: bool = True
    ) -> None:
        keys = _network_keys(container)
        layers = model_layers(container) if top else list(container.layers)
        for layer in layers:
            if not top and isinstance(layer, keras.layers.InputLayer):
                continue
            calls: list[_Call] | None = None
            if top and recorded is not None and not isinstance(layer, keras.layers.InputLayer):
                calls = recorded.get(id(layer), [])
                nodes = []
            else:
                nodes = _model_nodes(layer, keys)
            runs = called and (calls is None or bool(calls))
            if _is_nested_model(layer):
                path = f"{parent}/{layer.name}" if parent else str(layer.name)
                times = len(calls) if calls is not None else len(nodes)
                visit(layer, path, repeat * max(times, 1), top=False, called=runs)
                continue
            entry = found.setdefault(id(layer), ExpandedLayer(layer, parent, called=runs))
            if calls is not None:
                entry.calls.extend(calls)
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


# ---------------------------------------------------------------- subclassed models


def is_subclassed(model: Any) -> bool:
    """A ``keras.Model`` subclass wired in ``call()``: no graph of layer calls to read."""
    return (
        isinstance(model, keras.Model)
        and not isinstance(model, keras.Sequential)
        and _network_keys(model) is None
    )


class SubclassedModel:
    """A subclassed model as one call on a symbolic input showed it.

    Keras keeps no graph for a subclassed model: its layers are attributes, wired by the
    Python code of ``call()``, so no layer has a recorded input or output. Calling the
    model once on ``keras.Input`` while every layer call is watched
    (:func:`_recording_calls`) gives each layer's calls, with their shapes, in call order.

    It stands in for the model wherever the collect stage needs one with inputs (the facts,
    the graph run, the profiler): ``inputs`` is the symbolic input it was called on,
    ``layers`` the model's layers in the order of their first call (then any layer the
    call never used), ``calls`` what each layer's calls were (by ``id`` of the layer);
    every other attribute is the model's, and calling it calls the model.
    """

    def __init__(
        self, model: Any, inputs: list[Any], layers: list[Any], calls: dict[int, list[_Call]]
    ) -> None:
        self.model = model
        self.inputs = inputs
        self.layers = layers
        self.calls = calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)


def _is_tensor(value: Any) -> bool:
    return isinstance(value, keras.KerasTensor) or bool(keras.ops.is_tensor(value))


def _static_shape(tensor: Any) -> F.Shape:
    try:
        return _shape(tensor.shape)
    except (TypeError, ValueError):  # a tensor of unknown rank
        return ()


def _recorded_call(layer: Any, args: Any, kwargs: Any, outputs: Any) -> _Call:
    bound = _bound_tensors(layer, args, kwargs, _is_tensor)
    if bound is None:
        names: tuple[str, ...] = ()
        tensors = tuple(t for t in keras.tree.flatten((args, kwargs)) if _is_tensor(t))
    else:
        names, tensors = bound
    results = [t for t in keras.tree.flatten(outputs) if _is_tensor(t)]
    return _Call(
        input_names=names,
        input_shapes=tuple(_static_shape(t) for t in tensors),
        output_shapes=tuple(_static_shape(t) for t in results),
        output_dtypes=tuple(keras.backend.standardize_dtype(t.dtype) for t in results),
    )


@contextlib.contextmanager
def _recording_calls() -> Iterator[dict[int, tuple[Any, list[_Call]]]]:
    """Record every layer call made inside the block: {id(layer): (layer, calls)}.

    Every layer, not only the model's own, because a model may create its layers in
    ``build()``, during the very call that is watched. Keras's ``Layer.__call__`` is
    wrapped for the duration (a subclass that overrides it still calls it).
    """
    recorded: dict[int, tuple[Any, list[_Call]]] = {}
    layer_class: Any = keras.layers.Layer
    original = layer_class.__call__

    def recording_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        outputs = original(self, *args, **kwargs)
        try:
            call = _recorded_call(self, args, kwargs, outputs)
        except Exception:  # a call that cannot be described is left out, never fatal
            return outputs
        recorded.setdefault(id(self), (self, []))[1].append(call)
        return outputs

    layer_class.__call__ = recording_call
    try:
        yield recorded
    finally:
        layer_class.__call__ = original


def _without_batch(call: _Call) -> _Call:
    """An eager call's shapes with the batch dimension open, as a symbolic call gives them."""

    def open_batch(shapes: tuple[F.Shape, ...]) -> tuple[F.Shape, ...]:
        return tuple((None, *shape[1:]) if shape else shape for shape in shapes)

    return _Call(
        call.input_names,
        open_batch(call.input_shapes),
        open_batch(call.output_shapes),
        call.output_dtypes,
    )


def trace_subclassed(model: Any, input_shape: tuple[int, ...]) -> SubclassedModel:
    """Call a subclassed model once on ``keras.Input(input_shape)``, recording layer calls.

    A model not built yet is called once before that, unrecorded: to build it, Keras may
    run ``call()`` an extra time, which would count every layer call twice. A ``call()``
    that only runs on real values (Python control flow on a tensor's value) is called
    eagerly on one example of zeros instead (built the same way), and the batch dimension
    of every recorded shape is opened again. Raises CollectFailure when neither works.
    """
    inputs = keras.Input(shape=input_shape)
    eager = False
    try:
        if not model.built:
            model(inputs)
        with _recording_calls() as recorded:
            model(inputs)
    except Exception:
        eager = True
        try:
            model(keras.ops.zeros((1, *input_shape)))
            with _recording_calls() as recorded:
                model(keras.ops.zeros((1, *input_shape)))
        except Exception as exc:
            raise CollectFailure(
                f"calling the subclassed model {type(model).__name__} on an input of shape "
                f"{(None, *input_shape)} failed: {one_line(exc, typed=True)}"
            ) from exc
    own = {id(layer) for layer in model.layers}
    calls = {
        key: [_without_batch(c) for c in layer_calls] if eager else layer_calls
        for key, (_, layer_calls) in recorded.items()
        if key in own
    }
    called = [layer for key, (layer, _) in recorded.items() if key in own]
    uncalled = [layer for layer in model.layers if id(layer) not in calls]
    return SubclassedModel(model, [inputs], called + uncalled, calls)


def _called_shape(model: Any) -> tuple[int, ...] | None:
    """The input shape (without the batch) of the call that built a subclassed model, when
    that call had a single tensor argument: the factory already ran the model once."""
    shapes = getattr(model, "_build_shapes_dict", None)
    if not isinstance(shapes, dict) or len(shapes) != 1:
        return None
    shape = next(iter(shapes.values()))
    if not isinstance(shape, list | tuple) or len(shape) < 2:
        return None
    dims = tuple(shape)[1:]
    if not all(isinstance(d, int) and d > 0 for d in dims):
        return None
    return tuple(int(d) for d in dims)


def own_weights(model: Any) -> list[Any]:
    """The weights a model holds itself (created in its own ``build()`` or ``__init__``),
    not through any of its layers."""
    in_layers = {id(w) for layer in model.layers for w in layer.weights}
    own: dict[int, Any] = {}
    for weight in model.weights:
        if id(weight) not in in_layers:
            own.setdefault(id(weight), weight)
    return list(own.values())


def own_weights_facts(model: Any) -> F.LayerFacts | None:
    """One row for the weights a subclassed model holds itself, or None when it holds none.

    The row carries the weights (so parameter bytes and the training estimate count them)
    and Keras's count of them; ``config[OWN_WEIGHTS_KEY]`` tells derive that it is not a
    layer: there is no configuration to derive them from.
    """
    weights = own_weights(model)
    if not weights:
        return None
    return F.LayerFacts(
        name=str(model.name),
        class_name=type(model).__name__,
        config={"name": str(model.name), OWN_WEIGHTS_KEY: True},
        input_shapes=(),
        output_shapes=(),
        compute_dtype=str(model.compute_dtype),
        variable_dtype=str(model.variable_dtype),
        weights=tuple(_weight_facts(w) for w in weights),
        keras_params=sum(_size(w) for w in weights),
    )


def ensure_built(model: Any, slug: str, input_shape: tuple[int, ...] | None) -> Any:
    """Give the model a graph: from its own Input, or from ``input_shape`` in the config.

    Returns the model to describe and measure: ``model`` itself, or for a subclassed model
    the :class:`SubclassedModel` that stands for it (its input shape may also come from
    the call that built it, when the factory already called it on a single tensor).
    """
    if getattr(model, "inputs", None):
        return model
    if is_subclassed(model):
        input_shape = input_shape or _called_shape(model)
    if input_shape is None:
        raise CollectFailure(
            "the model's input shape is unknown; give input_shape in its configuration "
            "(without the batch dimension, e.g. input_shape = [28, 28, 1])"
        )
    if is_subclassed(model):
        return trace_subclassed(model, input_shape)
    model.build((None, *input_shape))
    if not getattr(model, "inputs", None):
        model(keras.Input(shape=input_shape))
    return model


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


def _expanded_facts(entry: ExpandedLayer) -> F.LayerFacts:
    facts = layer_facts(entry.layer, entry.parent, entry.calls)
    if entry.called:
        return facts
    # Not run in the forward pass: derive says so instead of guessing at its shapes.
    return dataclasses.replace(facts, config={**facts.config, NOT_CALLED_KEY: True})


def model_facts(model: Any, spec: Any) -> F.ModelFacts:
    import tensorflow as tf

    layers = [_expanded_facts(e) for e in expanded_layers(model)]
    target = model.model if isinstance(model, SubclassedModel) else model
    own = own_weights_facts(target) if is_subclassed(target) else None
    if own is not None:
        layers.append(own)
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
