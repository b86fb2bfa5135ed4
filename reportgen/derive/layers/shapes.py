"""Shapes and configuration values as the layer rules read them: one place for all kinds.

Every rule takes its sizes from the layer's configuration and its input/output shapes.
A shape's first axis is the batch (``None`` until data arrives); a helper that cannot
find a size returns ``None`` and the rule says what is missing.
"""

from __future__ import annotations

import math
from typing import Any

from reportgen.derive.layers.registry import unknown
from reportgen.expr import Expr, Num, Symbol
from reportgen.facts import LayerFacts, Shape
from reportgen.model import Derivation, msg

KERNEL_SUBS = {1: ("",), 2: ("h", "w"), 3: ("d", "h", "w")}
"""Subscripts of a window's sizes by rank: ``k`` (1D), ``k_h×k_w`` (2D), ``k_d×k_h×k_w``."""

SPATIAL_SYMBOLS = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
"""Names of a tensor's spatial axes by rank."""


def ints(value: Any) -> tuple[int, ...]:
    """A Keras size setting (an int or a list) as a tuple of ints."""
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value)


def channels_first(layer: LayerFacts) -> bool:
    return layer.config.get("data_format") == "channels_first"


def input_channels(layer: LayerFacts) -> int | None:
    """The first input's channel count (its last axis, or axis 1 when channels_first)."""
    if not layer.input_shapes or not layer.input_shapes[0]:
        return None
    return layer.input_shapes[0][1 if channels_first(layer) else -1]


def last_input_dim(layer: LayerFacts) -> int | None:
    if not layer.input_shapes or not layer.input_shapes[0]:
        return None
    return layer.input_shapes[0][-1]


def axes_size(shape: Shape, axis: Any) -> int | None:
    """Product of ``shape``'s dimensions (batch axis included) along ``axis`` (int or list)."""
    axes = ints(axis)
    rank = len(shape)
    if not rank or any(not -rank <= a < rank for a in axes):
        return None
    found = [shape[a % rank] for a in axes]
    if any(d is None for d in found):
        return None
    return math.prod(int(d) for d in found if d is not None)


def axis_size(dims: tuple[int, ...], axis: Any) -> int | None:
    """Size of the non-batch ``dims`` along a Keras ``axis`` that counts the batch axis."""
    rank = len(dims) + 1
    total = 1
    for a in ints(axis):
        index = a % rank
        if index == 0 or index > len(dims):
            return None
        total *= dims[index - 1]
    return total


def dims(shapes: tuple[Shape, ...]) -> tuple[int, ...] | None:
    """Non-batch dimensions of the first tensor, or None when any is unknown."""
    if not shapes or not shapes[0]:
        return None
    rest = shapes[0][1:]
    if any(d is None for d in rest):
        return None
    return tuple(int(d) for d in rest if d is not None)


def split_channels(layer: LayerFacts, sizes: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """(spatial dims, channels) of a conv/pool tensor's non-batch ``sizes``."""
    if channels_first(layer):
        return sizes[1:], sizes[0]
    return sizes[:-1], sizes[-1]


def window_nums(window: tuple[int, ...], letter: str) -> list[Expr]:
    """A window's sizes as named factors: ``k_h×k_w`` for a 2D kernel of letter ``k``."""
    subs = KERNEL_SUBS.get(len(window), tuple(str(i + 1) for i in range(len(window))))
    return [Num(k, Symbol(letter, s)) for k, s in zip(window, subs, strict=True)]


def spatial_names(rank: int) -> tuple[str, ...]:
    return SPATIAL_SYMBOLS.get(rank, tuple(f"S{i + 1}" for i in range(rank)))


def spatial_nums(spatial: tuple[int, ...], sub: str = "out") -> list[Expr]:
    """Spatial sizes as named factors: ``H_out×W_out``."""
    names = spatial_names(len(spatial))
    return [Num(d, Symbol(n, sub)) for d, n in zip(spatial, names, strict=True)]


def batch_factor(batch_size: int) -> list[Expr]:
    """The batch factor ``N``; omitted for batch 1, as in the memory formulas."""
    return [Num(batch_size, Symbol("N"))] if batch_size != 1 else []


def elements(sizes: tuple[int, ...] | list[int], batch_size: int) -> list[Expr]:
    """Factors of a tensor's element count: its non-batch ``sizes`` and the batch."""
    return [*(Num(d) for d in sizes), *batch_factor(batch_size)]


def count(sizes: tuple[int, ...] | list[int], batch_size: int) -> int:
    return math.prod(sizes) * batch_size


def drop_time(shapes: tuple[Shape, ...]) -> tuple[Shape, ...]:
    """Shapes without their time axis (axis 1): what TimeDistributed's inner layer sees."""
    return tuple((s[0], *s[2:]) for s in shapes if len(s) >= 2)


def inner_layer_facts(
    layer: LayerFacts, spec: Any, input_shapes: tuple[Shape, ...], output_shapes: tuple[Shape, ...]
) -> LayerFacts | None:
    """Facts for the layer a wrapper (Bidirectional, TimeDistributed) holds in its config."""
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        return None
    config = spec["config"]
    return LayerFacts(
        name=str(config.get("name", layer.name)),
        class_name=str(spec.get("class_name", "")),
        config=config,
        input_shapes=input_shapes,
        output_shapes=output_shapes,
        compute_dtype=layer.compute_dtype,
        variable_dtype=layer.variable_dtype,
        weights=(),
        keras_params=0,
    )


def named_inputs(layer: LayerFacts) -> dict[str, Shape]:
    """Input shapes by call argument; without names, Keras's order (query, value, key)."""
    names = layer.input_names or ("query", "value", "key")[: len(layer.input_shapes)]
    return dict(zip(names, layer.input_shapes, strict=False))


# ---------------------------------------------------------------- what a rule cannot find


def no_input_shape() -> Derivation:
    return unknown(msg("The formula needs the input shape, which the collected facts do not give."))


def no_last_axis() -> Derivation:
    return unknown(
        msg(
            "The formula needs the size of the input's last axis, which the collected facts do "
            "not give."
        )
    )


def no_input_channels() -> Derivation:
    return unknown(
        msg(
            "The formula needs the number of input channels, which the collected facts do not give."
        )
    )
