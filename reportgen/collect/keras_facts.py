"""Facts about a Keras model: layers, configs, shapes, dtypes, weights, Keras's own counts.

Nested models (a Sequential or functional model used as a layer) are expanded into their
own layers, each listed once with the path of the model it came from; a layer the model
calls more than once (a shared layer) is listed once, with its number of calls and the
shapes of every call. A subclassed model (layers wired in ``call()``) has no graph of
layer calls to read: it is called once on a symbolic input while every layer call is
recorded (:class:`SubclassedModel`), and weights it holds itself, outside any layer, are
listed in one row of their own.

A composite layer (one made of sub-layers, such as keras-hub's ``TransformerDecoder``,
unless its class has a rule of its own: :func:`~reportgen.derive.layers.registry.opens_up`)
is a row holding only the weights it owns directly, followed by its sub-layers' rows, named
by path (``transformer_layer_0/self_attention``); their shapes come from one graph-mode call
of the model that records every layer call (:func:`record_forward`). A model whose inputs
Keras leaves open (keras-hub's ``(None, None)`` token ids) is viewed with the configured
``sequence_length`` / ``input_shapes`` (:func:`configured_model`). A ``get_config()`` or
``count_params()`` that raises costs that field, never the model. Imports Keras; only the
collect worker process loads this module.
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
import numpy as np

from reportgen import facts as F
from reportgen.collect.graphdef import synthetic_value
from reportgen.collect.log import CollectFailure, one_line
from reportgen.derive.layers.registry import opens_up  # imports every family: all kinds declared
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
    input_dtypes: tuple[str, ...] = ()
    """The dtype of each input, in the order of ``input_shapes`` (recorded calls only)."""
    sources: tuple[tuple[Any, int], ...] | None = field(default=None, compare=False)
    """For a call in a model's graph: (producing layer, output index) of each input tensor,
    in the order of ``input_shapes``; None when some input's producer is not recorded."""


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
        sources=_sources(tensors),
    )


def _sources(tensors: tuple[Any, ...]) -> tuple[tuple[Any, int], ...] | None:
    """(producing layer, output index) of each symbolic tensor, from its Keras history."""
    found = []
    for tensor in tensors:
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return None
        found.append((history.operation, int(history.tensor_index)))
    return tuple(found)


Feeds = dict[int, tuple[str, ...]]
"""``id`` of a nested model's InputLayer → the rows whose outputs its call was given."""


def _producer_rows(operation: Any, index: int, feeds: Feeds) -> tuple[str, ...] | None:
    """The row(s) whose output a tensor is: the layer that made it, the layer inside a
    nested model that made the model's output, or, for a nested model's own input, the
    rows the outer model fed it. None when that cannot be told."""
    for _ in range(64):  # nested models nest a few levels, never this deep
        if isinstance(operation, keras.layers.InputLayer):
            return feeds.get(id(operation), (str(operation.name),))
        if not _is_nested_model(operation):
            return (str(operation.name),)
        outputs = list(getattr(operation, "outputs", None) or [])
        history = getattr(outputs[index], "_keras_history", None) if index < len(outputs) else None
        if history is None:
            return None
        operation, index = history.operation, int(history.tensor_index)
    return None


def _call_inbound(call: _Call | None, feeds: Feeds) -> tuple[str, ...] | None:
    """The rows a call reads, in argument order; None when any producer is unknown."""
    if call is None or call.sources is None:
        return None
    names: list[str] = []
    for operation, index in call.sources:
        rows = _producer_rows(operation, index, feeds)
        if rows is None:
            return None
        names.extend(rows)
    return tuple(names)


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
    inbound: tuple[str, ...] | None = None
    """The rows its first call reads (:attr:`reportgen.facts.LayerFacts.inbound`)."""


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
        container: Any,
        parent: str | None,
        repeat: int,
        top: bool,
        called: bool = True,
        feeds: Feeds | None = None,
    ) -> None:
        feeds = feeds or {}
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
                inner = _nested_feeds(layer, nodes[0], feeds) if nodes else {}
                visit(layer, path, repeat * max(times, 1), top=False, called=runs, feeds=inner)
                continue
            entry = found.setdefault(id(layer), ExpandedLayer(layer, parent, called=runs))
            if calls is not None:
                entry.calls.extend(calls)
            entry.calls.extend(_node_call(layer, node) for node in nodes for _ in range(repeat))
            if isinstance(layer, keras.layers.InputLayer):
                entry.inbound = ()
            elif nodes and calls is None:
                entry.inbound = _call_inbound(_node_call(layer, nodes[0]), feeds)

    visit(model, None, 1, top=True)
    return list(found.values())


def _nested_feeds(model: Any, node: Any, feeds: Feeds) -> Feeds:
    """What the outer model's call ``node`` of the nested ``model`` gives each of its
    InputLayers: the rows that made those tensors."""
    _, tensors = _named_inputs(model, node)
    sources = _sources(tuple(keras.tree.flatten(tensors)))
    inputs = list(getattr(model, "inputs", None) or [])
    if sources is None or len(sources) != len(inputs):
        return {}
    inner: Feeds = {}
    for tensor, (operation, index) in zip(inputs, sources, strict=True):
        history = getattr(tensor, "_keras_history", None)
        rows = _producer_rows(operation, index, feeds)
        if history is not None and rows is not None:
            inner[id(history.operation)] = rows
    return inner


def _count_params(layer: Any) -> int:
    """Keras's own count; an unbuilt layer owns no weights yet (Keras raises ValueError), and
    a ``count_params()`` that raises for another reason is replaced by its weights' sizes."""
    try:
        return int(layer.count_params())
    except ValueError:
        return 0
    except Exception:
        return sum(_size(w) for w in layer.weights)


def _layer_config(layer: Any) -> tuple[dict[str, Any], str | None]:
    """The layer's config, and None; or, when its ``get_config()`` raises (a library's bug,
    such as keras-hub's ``LlamaTransformerDecoder``), what its attributes still tell
    (:func:`_config_from_attributes`) and the error as one line: one layer's config never
    costs the model."""
    try:
        config = json_safe(layer.get_config())
    except Exception as exc:
        return _config_from_attributes(layer), one_line(exc, typed=True)
    if not isinstance(config, dict):
        error = f"get_config() returned {type(config).__name__}"
        return _config_from_attributes(layer), error
    return config, None


_MISSING = object()


def _config_from_attributes(layer: Any) -> dict[str, Any]:
    """The arguments of the layer's ``__init__`` read back from its attributes (``x`` or
    ``_x``), as ``get_config()`` would have given them.

    Layers keep their constructor arguments as attributes of the same name (keras-hub's
    ``LlamaAttention`` keeps ``num_query_heads``, ``num_key_value_heads``, ...). When every
    argument is found, the config is whole and is marked :data:`F.CONFIG_FROM_ATTRIBUTES`
    (derive runs the layer's rules on it, and says where it came from); otherwise it holds
    only its name: a rule must not fill the rest with defaults.
    """
    config: dict[str, Any] = {"name": str(layer.name)}
    try:
        parameters = inspect.signature(type(layer).__init__).parameters.values()
    except (TypeError, ValueError):
        return config
    found: dict[str, Any] = {}
    for parameter in parameters:
        if parameter.name in ("self", "name") or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        ):
            continue
        value = _MISSING
        for attribute in (parameter.name, f"_{parameter.name}"):
            try:
                value = getattr(layer, attribute, _MISSING)
            except Exception:  # a property that raises is no better than a missing one
                value = _MISSING
            if value is not _MISSING:
                break
        if value is _MISSING:
            return config
        found[parameter.name] = _attribute_value(value)
    return {**config, **found, F.CONFIG_FROM_ATTRIBUTES: True}


def _attribute_value(value: Any) -> Any:
    """An attribute as ``get_config()`` would give it: an activation or initializer by its
    serialized form, never ``str()`` (which would carry a memory address into the facts)."""
    plain = (type(None), bool, int, float, str, list, tuple, dict)
    if isinstance(value, plain):
        return json_safe(value)
    if inspect.isfunction(value):  # an activation: by name, as layers' configs give it
        try:
            return json_safe(keras.activations.serialize(value))
        except Exception:
            return str(value.__name__)
    try:
        return json_safe(keras.saving.serialize_keras_object(value))
    except Exception:
        return getattr(value, "__name__", type(value).__name__)


def layer_facts(
    layer: Any, parent: str | None = None, calls: list[_Call] | None = None
) -> F.LayerFacts:
    keras_params = _count_params(layer)
    config, config_error = _layer_config(layer)
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
        config=config,
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
        config_error=config_error,
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
        self,
        model: Any,
        inputs: list[Any],
        layers: list[Any],
        calls: dict[int, list[_Call]],
        log: CallLog | None = None,
    ) -> None:
        self.model = model
        self.inputs = inputs
        self.layers = layers
        self.calls = calls
        self.log = log
        """Every layer call of the recorded call, sub-layers' too (composite layers)."""

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
        input_dtypes=tuple(keras.backend.standardize_dtype(t.dtype) for t in tensors),
    )


def _consumer_count(tensor: Any) -> int | None:
    """How many ops of its graph read a graph tensor so far; None for any other tensor
    (eager, symbolic Keras), whose readers cannot be told."""
    try:
        return len(tensor.consumers())
    except Exception:
        return None


@dataclass
class _Recorded:
    """One recorded layer call: which layer, which layer's call made it, what it was."""

    layer: Any
    caller: int | None
    """``id`` of the layer whose call made this one (None: called from outside every layer)."""
    call: _Call | None = None
    """None while the call runs, or when it could not be described."""
    outputs: tuple[int, ...] = ()
    """``id`` of each output tensor (to tell which sub-layer's output a block returns)."""
    inputs: tuple[int, ...] = ()
    """``id`` of each input tensor, in the order of ``call.input_shapes`` (to tell which
    row's output a sub-layer reads)."""
    readers: tuple[int | None, ...] = ()
    """For each input, how many graph ops read it when this call returned (None: not a
    graph tensor): compared with :attr:`CallLog.readers`, whether anything read it later."""


@dataclass
class CallLog:
    """Every layer call made while recording, in the order the calls started."""

    records: list[_Recorded] = field(default_factory=list)
    eager: bool = False
    """Recorded from an eager call at batch 1: the shapes have their batch opened again."""
    readers: dict[int, int] = field(default_factory=dict)
    """``id`` of each recorded input tensor that is a graph tensor → how many ops read it
    once the whole pass was recorded."""

    def calls_of(self, layer: Any) -> list[_Call]:
        return [r.call for r in self.records if r.layer is layer and r.call is not None]

    def callees(self, caller: Any) -> list[Any]:
        """The layers ``caller``'s calls called, in the order of their first call."""
        found: dict[int, Any] = {}
        for record in self.records:
            if record.caller == id(caller) and record.call is not None:
                found.setdefault(id(record.layer), record.layer)
        return list(found.values())

    def outputs_of(self, layer: Any) -> tuple[int, ...] | None:
        """The output tensors (ids) of the layer's first recorded call."""
        for record in self.records:
            if record.layer is layer and record.call is not None:
                return record.outputs
        return None


@contextlib.contextmanager
def _recording_calls() -> Iterator[CallLog]:
    """Record every layer call made inside the block, with the layer whose call made it.

    Every layer, not only the model's own, because a model may create its layers in
    ``build()``, during the very call that is watched; and the sub-layers a layer calls in
    its own ``call()``, which is how a composite layer (a transformer block) is opened.
    Keras's ``Layer.__call__`` is wrapped for the duration (a subclass that overrides it
    still calls it). Output tensors are held until the block ends, so that their ids stay
    unique while they are compared.
    """
    log = CallLog()
    held: list[Any] = []
    given_tensors: dict[int, Any] = {}
    stack: list[int] = []
    layer_class: Any = keras.layers.Layer
    original = layer_class.__call__

    def recording_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        record = _Recorded(self, stack[-1] if stack else None)
        log.records.append(record)
        stack.append(id(self))
        try:
            outputs = original(self, *args, **kwargs)
        finally:
            stack.pop()
        try:
            record.call = _recorded_call(self, args, kwargs, outputs)
            flat = [t for t in keras.tree.flatten(outputs) if _is_tensor(t)]
            bound = _bound_tensors(self, args, kwargs, _is_tensor)
            given = (
                bound[1]
                if bound is not None
                else tuple(t for t in keras.tree.flatten((args, kwargs)) if _is_tensor(t))
            )
        except Exception:  # a call that cannot be described is left out, never fatal
            return outputs
        held.append(flat)
        held.append(list(given))  # alive until the end, so that no id is reused
        record.outputs = tuple(id(t) for t in flat)
        record.inputs = tuple(id(t) for t in given)
        record.readers = tuple(_consumer_count(t) for t in given)
        given_tensors.update((id(t), t) for t in given)
        return outputs

    layer_class.__call__ = recording_call
    try:
        yield log
        counts = {key: _consumer_count(t) for key, t in given_tensors.items()}
        log.readers = {key: n for key, n in counts.items() if n is not None}
    finally:
        layer_class.__call__ = original
        held.clear()
        given_tensors.clear()


def _without_batch(call: _Call) -> _Call:
    """An eager call's shapes with the batch dimension open, as a symbolic call gives them."""

    def open_batch(shapes: tuple[F.Shape, ...]) -> tuple[F.Shape, ...]:
        return tuple((None, *shape[1:]) if shape else shape for shape in shapes)

    return _Call(
        call.input_names,
        open_batch(call.input_shapes),
        open_batch(call.output_shapes),
        call.output_dtypes,
        call.input_dtypes,
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
        with _recording_calls() as log:
            model(inputs)
    except Exception:
        eager = True
        try:
            model(keras.ops.zeros((1, *input_shape)))
            with _recording_calls() as log:
                model(keras.ops.zeros((1, *input_shape)))
        except Exception as exc:
            raise CollectFailure(
                f"calling the subclassed model {type(model).__name__} on an input of shape "
                f"{(None, *input_shape)} failed: {one_line(exc, typed=True)}"
            ) from exc
    if eager:
        log = _opened_batch(log)
    own = {id(layer) for layer in model.layers}
    calls: dict[int, list[_Call]] = {}
    for record in log.records:
        if id(record.layer) in own and record.call is not None:
            calls.setdefault(id(record.layer), []).append(record.call)
    called = [layer for layer in model.layers if id(layer) in calls]
    called.sort(key=lambda layer: _first_call(log, layer))
    uncalled = [layer for layer in model.layers if id(layer) not in calls]
    return SubclassedModel(model, [inputs], called + uncalled, calls, log)


def _first_call(log: CallLog, layer: Any) -> int:
    return next(i for i, r in enumerate(log.records) if r.layer is layer and r.call is not None)


def _opened_batch(log: CallLog) -> CallLog:
    """An eager log's calls with the batch dimension opened again (:func:`_without_batch`)."""
    records = [
        dataclasses.replace(r, call=_without_batch(r.call) if r.call is not None else None)
        for r in log.records
    ]
    return CallLog(records, eager=True)  # eager tensors: no readers to count


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
    except Exception:  # a library's bug costs the optimizer's settings, not the model
        config = {}
    return F.OptimizerFacts(class_name=type(optimizer).__name__, config=config)


def _size(weight: Any) -> int:
    # From the shape, not ``weight.numpy().size``: that would copy every weight.
    return math.prod(int(d) for d in weight.shape)


# ---------------------------------------------------------------- configured input shapes


def _input_name(tensor: Any) -> str:
    """An input's name as the configuration names it: its InputLayer's."""
    history = getattr(tensor, "_keras_history", None)
    operation = getattr(history, "operation", None)
    return str(getattr(operation, "name", None) or tensor.name)


def input_names(model: Any) -> list[str]:
    return [_input_name(t) for t in getattr(model, "inputs", None) or []]


def _filled_dims(
    name: str, dims: F.Shape, configured: tuple[int, ...] | None, length: int | None
) -> F.Shape:
    """An input's dimensions (without the batch) as the configuration fills them."""
    if configured is None:
        return tuple(length if d is None and length is not None else d for d in dims)
    shown = "(None, " + ", ".join("None" if d is None else str(d) for d in dims) + ")"
    if len(configured) != len(dims):
        raise CollectFailure(
            f"input_shapes: {name} has {len(dims)} dimensions besides the batch {shown}, "
            f"{list(configured)} has {len(configured)}"
        )
    if any(d is not None and d != c for d, c in zip(dims, configured, strict=True)):
        raise CollectFailure(
            f"input_shapes: {list(configured)} does not fit {name}, whose shape is {shown}"
        )
    return tuple(configured)


def configured_model(model: Any, spec: Any) -> Any | None:
    """The model with every unknown input dimension filled from the configuration
    (``sequence_length``, ``input_shapes``), or None when the configuration fills nothing.

    keras-hub's inputs are ``(None, None)`` token ids: without a length no output has a
    size. The model's graph is run again on new ``keras.Input``s of the configured shapes
    (same names, dtypes and structure) with ``model.call``, which calls the same layer
    objects (the model is not nested as one layer), and the result is a functional model of
    the same name: its layers' shapes are concrete, and measuring it feeds fixed inputs.
    Raises CollectFailure for an ``input_shapes`` name the model does not have.
    """
    length = getattr(spec, "sequence_length", None)
    shapes: dict[str, tuple[int, ...]] = getattr(spec, "input_shapes", None) or {}
    tensors = (
        [] if isinstance(model, SubclassedModel) else list(getattr(model, "inputs", None) or [])
    )
    names = [_input_name(t) for t in tensors]
    unknown = [name for name in shapes if name not in names]
    if unknown:
        real = ", ".join(sorted(names)) or "not named"
        raise CollectFailure(
            f"input_shapes: no input named {unknown[0]!r}; the model's inputs are {real}"
        )
    if not tensors or (length is None and not shapes):
        return None
    filled: dict[int, F.Shape] = {}
    for tensor, name in zip(tensors, names, strict=True):
        dims = _shape(tensor.shape)[1:]
        filled[id(tensor)] = _filled_dims(name, dims, shapes.get(name), length)
    if all(filled[id(t)] == _shape(t.shape)[1:] for t in tensors):
        return None
    new_inputs = {
        id(t): keras.Input(shape=filled[id(t)], dtype=t.dtype, name=name)
        for t, name in zip(tensors, names, strict=True)
    }
    structure = keras.tree.map_structure(lambda t: new_inputs[id(t)], _input_structure(model))
    try:
        outputs = model.call(structure)
        return keras.Model(structure, outputs, name=model.name)
    except Exception as exc:
        given = ", ".join(
            f"{n} {(None, *filled[id(t)])}" for t, n in zip(tensors, names, strict=True)
        )
        raise CollectFailure(
            f"the model cannot be called on inputs of the configured shapes ({given}): "
            f"{one_line(exc, typed=True)}"
        ) from exc


# ---------------------------------------------------------------- synthetic inputs


def _vocabulary_of(layer: Any) -> int | None:
    """The vocabulary size of the embedding that is, or is inside, ``layer``."""
    try:
        inner = list(layer._flatten_layers(include_self=True, recursive=True))
    except Exception:
        inner = [layer]
    sizes = []
    for candidate in inner:
        size = getattr(candidate, "vocabulary_size", None)
        if size is None and isinstance(candidate, keras.layers.Embedding):
            size = getattr(candidate, "input_dim", None)
        if isinstance(size, int) and not isinstance(size, bool) and size > 0:
            sizes.append(size)
    return min(sizes) if sizes else None


def input_vocabularies(model: Any) -> list[int | None]:
    """For each of ``model.inputs``: the vocabulary its integer ids must stay inside.

    The smallest vocabulary of the embeddings that read the input (its InputLayer's
    consumers, or the embeddings inside a block that reads it); where no consumer is
    known, the smallest of the model's embeddings, which every id then fits.
    """
    target = model.model if isinstance(model, SubclassedModel) else model
    everywhere = _vocabulary_of(target)
    found: list[int | None] = []
    for tensor in getattr(model, "inputs", None) or []:
        operation = getattr(getattr(tensor, "_keras_history", None), "operation", None)
        nodes = getattr(operation, "_outbound_nodes", None) or []
        sizes = [v for node in nodes if (v := _vocabulary_of(node.operation)) is not None]
        found.append(min(sizes) if sizes else everywhere)
    return found


def _synthetic_structure(model: Any, batch_size: int) -> Any:
    """Values for the model's inputs (:func:`synthetic_value`), in its input structure."""
    rng = np.random.default_rng(0)
    values = {}
    for tensor, vocabulary in zip(model.inputs, input_vocabularies(model), strict=True):
        dims = [d for d in _shape(tensor.shape)[1:] if d is not None]
        if len(dims) != len(tensor.shape) - 1:
            raise ValueError(f"input {_input_name(tensor)} has an unknown dimension")
        shape = (batch_size, *dims)
        values[id(tensor)] = synthetic_value(
            shape, tensor.dtype, _input_name(tensor), vocabulary, rng
        )
    return keras.tree.map_structure(lambda t: values[id(t)], _input_structure(model))


def _input_structure(model: Any) -> Any:
    inputs = list(model.inputs)
    if isinstance(model, SubclassedModel) or len(inputs) == 1:
        return inputs[0] if len(inputs) == 1 else inputs
    try:
        return model.input
    except (AttributeError, ValueError):
        return inputs


# ---------------------------------------------------------------- composite layers


def sub_layers(layer: Any) -> list[Any]:
    """The layers a composite layer is made of (its direct sub-layers), or [] for a layer
    shown whole: one with no sub-layers, or whose class has a rule of its own
    (MultiHeadAttention, Bidirectional: :func:`reportgen.derive.layers.registry.opens_up`)."""
    if isinstance(layer, keras.layers.InputLayer):
        return []
    if _is_nested_model(layer):  # a Sequential a block is built from: its layers
        return [sub for sub in layer.layers if not isinstance(sub, keras.layers.InputLayer)]
    if not opens_up(type(layer).__name__):
        return []
    try:
        found = layer._flatten_layers(include_self=False, recursive=False)
    except Exception:  # a layer that cannot list its sub-layers is shown whole
        return []
    return [sub for sub in found if isinstance(sub, keras.layers.Layer)]


def _composite_tree(layers: list[Any]) -> dict[int, list[Any]]:
    """Composite layer (by id) → its sub-layers; each layer opened once in the whole model
    (a sub-layer that is also a row elsewhere stays that row)."""
    seen = {id(layer) for layer in layers}
    tree: dict[int, list[Any]] = {}

    def holds_nothing_new(sub: Any, siblings: set[int]) -> bool:
        # keras-hub's ViTDet MLP keeps its Dense layers and also the Sequential made of
        # them: the Sequential's weights are already rows.
        inner = sub_layers(sub) if _is_nested_model(sub) else []
        return bool(inner) and all(id(layer) in seen | siblings for layer in inner)

    def visit(layer: Any) -> None:
        subs = [sub for sub in sub_layers(layer) if id(sub) not in seen]
        siblings = {id(sub) for sub in subs}
        subs = [sub for sub in subs if not holds_nothing_new(sub, siblings)]
        if not subs:
            return
        seen.update(id(sub) for sub in subs)
        tree[id(layer)] = subs
        for sub in subs:
            visit(sub)

    for layer in layers:
        visit(layer)
    return tree


def row_names(model: Any) -> dict[int, str]:
    """``id`` of each row's layer → the row's ``name``: a layer of the model (or of a nested
    model) by its own name, a sub-layer of a composite by its path
    (``transformer_layer_0/self_attention``). The measurements key their layers by it."""
    layers = [entry.layer for entry in expanded_layers(model)]
    tree = _composite_tree(layers)
    names: dict[int, str] = {}

    def name_subs(layer: Any, block: str) -> None:
        for sub in tree.get(id(layer), []):
            names.setdefault(id(sub), f"{block}/{sub.name}")
            name_subs(sub, names[id(sub)])

    for layer in layers:
        names.setdefault(id(layer), str(layer.name))
        name_subs(layer, str(layer.name))
    return names


def record_forward(model: Any) -> CallLog | None:
    """Every layer call of one forward pass, sub-layers' too, or None when none runs.

    The model is called in graph mode on placeholders shaped like its inputs (what Keras
    does to infer shapes, so it costs no computation): a layer then runs its ``call()``
    and calls its sub-layers, whose shapes are recorded. A model that only runs on real
    values is called eagerly once, at batch 1, on synthetic inputs, its batch opened again.
    """
    from keras.src import backend as keras_backend

    structure = _input_structure(model)
    traced: CallLog | None = None
    try:
        with _recording_calls() as log:
            keras_backend.compute_output_spec(lambda x: model(x, training=False), structure)
        traced = log
    except Exception:
        pass
    if traced is not None and not (_inputs_fixed(model) and _loses_axes(traced)):
        return traced
    # A layer that reshapes with a computed shape (keras-hub's ESM and RoFormer attention)
    # loses static axes in graph mode although the inputs fix every one: real values tell.
    try:
        values = _synthetic_structure(model, 1)
        with _recording_calls() as log:
            model(values, training=False)
    except Exception:
        return traced
    return _opened_batch(log)


def _inputs_fixed(model: Any) -> bool:
    """Every non-batch axis of every model input is known."""
    inputs = getattr(model, "inputs", None) or []
    return bool(inputs) and all(None not in tuple(t.shape)[1:] for t in inputs)


def _loses_axes(log: CallLog) -> bool:
    """Some recorded call has an unknown non-batch axis."""
    return any(
        None in shape[1:]
        for record in log.records
        if record.call is not None
        for shape in (*record.call.input_shapes, *record.call.output_shapes)
    )


@dataclass
class _Rows:
    """What turns the model's layers into rows: the composites and their recorded calls."""

    tree: dict[int, list[Any]]
    log: CallLog | None
    open_log: CallLog | None
    open_calls: dict[int, list[_Call]] | None
    """The calls as Keras gave them before the configuration filled the inputs (top-level
    and nested-model layers, by id); None when the configuration filled nothing."""
    produced: dict[int, str] = field(default_factory=dict)
    """``id`` of each recorded output tensor of a sub-layer row → the row's name."""

    def open_shapes(self, layer: Any, calls: list[_Call] | None) -> tuple[F.Shape, ...]:
        if self.open_calls is None:
            return ()
        if calls is None:
            calls = self.open_log.calls_of(layer) if self.open_log is not None else []
        return calls[0].output_shapes if calls else ()

    def facts(
        self,
        layer: Any,
        name: str,
        parent: str | None,
        block: str | None,
        calls: list[_Call],
        called: bool,
        inbound: tuple[str, ...] | None = None,
        record: _Recorded | None = None,
    ) -> list[F.LayerFacts]:
        """The layer's row, and for a composite its sub-layers' rows right after it.

        ``inbound`` are the rows the layer reads; ``record`` is its recorded call (a
        sub-layer's, or a composite's), whose tensors tell its sub-layers' inbound."""
        facts = layer_facts(layer, parent, calls)
        top_open = None if block is not None else (self.open_calls or {}).get(id(layer), [])
        changes: dict[str, Any] = {
            "name": name,
            "block": block,
            "open_output_shapes": self.open_shapes(layer, top_open),
            "inbound": inbound,
        }
        if record is None and self.log is not None:
            record = next((r for r in self.log.records if r.layer is layer), None)
        if record is not None:
            self.produced.update(dict.fromkeys(record.outputs, name))
        if not called:
            # Not run in the forward pass: derive says so instead of guessing at its shapes.
            changes["config"] = {**facts.config, NOT_CALLED_KEY: True}
        subs = self.tree.get(id(layer))
        if not subs:
            return [dataclasses.replace(facts, **changes)]
        inside = {id(w) for sub in subs for w in sub.weights}
        own = {id(w): w for w in layer.weights if id(w) not in inside}
        changes.update(composite=True, weights=tuple(_weight_facts(w) for w in own.values()))
        rows: list[F.LayerFacts] = []
        sub_names: dict[int, str] = {}
        given = self._given(record, inbound)
        internal = _BlockTensors(name, frozenset(record.inputs) if record else None)
        for sub in self._in_call_order(layer, subs):
            sub_names[id(sub)] = f"{name}/{sub.name}"
            sub_calls = self.log.calls_of(sub) if self.log is not None else []
            runs = called and (self.log is None or bool(sub_calls))
            sub_record = self._record(sub, layer)
            rows.extend(
                self.facts(
                    sub,
                    sub_names[id(sub)],
                    parent,
                    name,
                    sub_calls,
                    runs,
                    self._sub_inbound(sub_record, given, internal),
                    sub_record,
                )
            )
        changes["output_of"] = self._output_of(layer, sub_names)
        changes["internal_tensors"] = internal.facts(self.log)
        return [dataclasses.replace(facts, **changes), *rows]

    def _record(self, sub: Any, block: Any) -> _Recorded | None:
        """The sub-layer's first call made by its block's call."""
        if self.log is None:
            return None
        return next(
            (
                r
                for r in self.log.records
                if r.layer is sub and r.caller == id(block) and r.call is not None
            ),
            None,
        )

    @staticmethod
    def _given(record: _Recorded | None, inbound: tuple[str, ...] | None) -> dict[int, str]:
        """``id`` of each tensor a block's call was given → the row that wrote it."""
        if record is None or inbound is None or len(record.inputs) != len(inbound):
            return {}
        return dict(zip(record.inputs, inbound, strict=True))

    def _sub_inbound(
        self, record: _Recorded | None, given: dict[int, str], internal: _BlockTensors
    ) -> tuple[str, ...] | None:
        """The rows a sub-layer reads: other sub-layers' outputs or its block's inputs, and
        the tensors its block's own operations made (a residual addition), by the name
        ``internal`` gives them. None when the row of one of its block's inputs is not
        known."""
        if record is None or record.call is None:
            return None
        rows = []
        for index, tensor in enumerate(record.inputs):
            row = self.produced.get(tensor) or given.get(tensor) or internal.read(record, index)
            if row is None:
                return None
            rows.append(row)
        return tuple(rows)

    def _in_call_order(self, layer: Any, subs: list[Any]) -> list[Any]:
        """Sub-layers in the order the composite's call first called them, then the others."""
        if self.log is None:
            return subs
        mine = {id(sub) for sub in subs}
        called = [sub for sub in self.log.callees(layer) if id(sub) in mine]
        done = {id(sub) for sub in called}
        return called + [sub for sub in subs if id(sub) not in done]

    def _output_of(self, layer: Any, sub_names: dict[int, str]) -> str | None:
        """The sub-layer whose output tensor the composite returns as its own: the first to
        return it, which wrote it (a Dropout after it passes the same tensor on)."""
        if self.log is None:
            return None
        outputs = self.log.outputs_of(layer)
        if not outputs:
            return None
        for record in self.log.records:
            if (
                record.caller == id(layer)
                and id(record.layer) in sub_names
                and record.outputs == outputs
            ):
                return sub_names[id(record.layer)]
        return None


@dataclass
class _BlockTensors:
    """The tensors a composite block's own operations make that its sub-layers read
    (:class:`reportgen.facts.InternalTensor`), named ``<block>#<n>`` by first use."""

    block: str
    inputs: frozenset[int] | None
    """``id`` of each tensor the block's call was given: never one of its own (None: its
    call was not recorded, so none can be told apart)."""
    names: dict[int, str] = field(default_factory=dict)
    found: list[tuple[int, F.InternalTensor]] = field(default_factory=list)
    read_last: dict[int, int | None] = field(default_factory=dict)
    """``id`` of each → how many ops read it when its last sub-layer reader returned."""

    def read(self, record: _Recorded, index: int) -> str | None:
        """The name of the ``index``-th input of the sub-layer call ``record``, as a tensor
        of the block's own; None when it is one of the block's inputs (whose row is not
        known) or its shape and dtype were not recorded."""
        tensor = record.inputs[index]
        call = record.call
        if self.inputs is None or tensor in self.inputs:
            return None
        if call is None or index >= len(call.input_dtypes):
            return None
        if tensor not in self.names:
            self.names[tensor] = f"{self.block}#{len(self.names)}"
            shape, dtype = call.input_shapes[index], call.input_dtypes[index]
            self.found.append((tensor, F.InternalTensor(self.names[tensor], shape, dtype)))
        self.read_last[tensor] = record.readers[index] if index < len(record.readers) else None
        return self.names[tensor]

    def facts(self, log: CallLog | None) -> tuple[F.InternalTensor, ...]:
        """The tensors found, each saying whether anything read it after its last sub-layer
        reader returned: the block's own operations then (a closing residual addition)."""
        final = log.readers if log is not None else {}
        tensors = []
        for key, tensor in self.found:
            last, now = self.read_last.get(key), final.get(key)
            later = None if last is None or now is None else now > last
            tensors.append(dataclasses.replace(tensor, read_by_block=later))
        return tuple(tensors)


def _layer_rows(model: Any, open_model: Any | None) -> list[F.LayerFacts]:
    entries = expanded_layers(model)
    tree = _composite_tree([entry.layer for entry in entries])
    log = open_log = None
    if tree:
        log = model.log if isinstance(model, SubclassedModel) else record_forward(model)
        if open_model is not None:
            open_log = record_forward(open_model)
    open_calls = None
    if open_model is not None:
        before = expanded_layers(open_model)
        open_calls = {id(entry.layer): entry.calls for entry in before}
        # The configured view has InputLayers of its own, named as the model's.
        inputs = {
            str(e.layer.name): e.calls
            for e in before
            if isinstance(e.layer, keras.layers.InputLayer)
        }
        for entry in entries:
            if isinstance(entry.layer, keras.layers.InputLayer):
                open_calls[id(entry.layer)] = inputs.get(str(entry.layer.name), [])
    rows = _Rows(tree, log, open_log, open_calls)
    facts: list[F.LayerFacts] = []
    for entry in entries:
        name = str(entry.layer.name)
        facts.extend(
            rows.facts(
                entry.layer, name, entry.parent, None, entry.calls, entry.called, entry.inbound
            )
        )
    return facts


def model_facts(model: Any, spec: Any, open_model: Any | None = None) -> F.ModelFacts:
    """The model's facts. ``open_model`` is the model as built, when ``model`` is the view
    of it with the configured input shapes (:func:`configured_model`): the rows then keep
    the shapes Keras gave before (``open_output_shapes``)."""
    import tensorflow as tf

    layers = _layer_rows(model, open_model)
    target = model.model if isinstance(model, SubclassedModel) else model
    own = own_weights_facts(target) if is_subclassed(target) else None
    if own is not None:
        layers.append(own)
    trainable = sum(_size(w) for w in model.trainable_weights)
    non_trainable = sum(_size(w) for w in model.non_trainable_weights)
    input_shapes = getattr(spec, "input_shapes", None)
    return F.ModelFacts(
        slug=spec.slug,
        title={"en": spec.title_en, "zh": spec.title_zh},
        source=spec.source,
        batch_size=spec.batch_size,
        framework={"tensorflow": tf.__version__, "keras": keras.__version__},
        keras_params=_count_params(model),
        keras_trainable_params=trainable,
        keras_non_trainable_params=non_trainable,
        layers=tuple(layers),
        optimizer=optimizer_facts(open_model if open_model is not None else model),
        sequence_length=getattr(spec, "sequence_length", None),
        input_shapes=dict(input_shapes) if input_shapes else None,
        memory_budget_gib=getattr(spec, "memory_budget_gib", None),
    )
