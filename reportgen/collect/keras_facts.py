"""Facts about a Keras model: layers, configs, shapes, dtypes, weights, Keras's own counts.

Imports Keras; only the collect worker process loads this module.
"""

from __future__ import annotations

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
    """Input and output shapes of a layer in its (first) call inside the model graph."""
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


def layer_facts(layer: Any) -> F.LayerFacts:
    inputs, outputs = _io_shapes(layer)
    try:
        keras_params = int(layer.count_params())
    except ValueError:
        keras_params = 0  # an unbuilt layer owns no weights yet
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
    )


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


def model_facts(model: Any, spec: Any) -> F.ModelFacts:
    import tensorflow as tf

    layers = [layer_facts(layer) for layer in model_layers(model)]
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    non_trainable = sum(int(w.numpy().size) for w in model.non_trainable_weights)
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
    )
