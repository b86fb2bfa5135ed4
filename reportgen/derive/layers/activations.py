"""Activation layers (``keras/src/layers/activations/``): a fixed function of each value."""

from __future__ import annotations

import math

from reportgen.derive.layers.convention import (
    UNCOUNTED_ACTIVATIONS,
    activation_name,
    activation_term,
    batch_note,
    counted,
    missing_shape,
    one_uncounted_op,
)
from reportgen.derive.layers.registry import Zero, declare, formula, unknown
from reportgen.derive.layers.shapes import dims, elements
from reportgen.expr import Expr, Num, Product, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Text, msg, sentences

FAMILY = "activation"
_HERE = __name__

NO_WEIGHTS = Zero(msg("An activation applies a fixed function to each value; it has no weights."))


def activation_layer_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Activation and Softmax layers: the activation's cost over the output values."""
    out_dims = dims(layer.output_shapes)
    if out_dims is None:
        return missing_shape(layer)
    if layer.class_name == "Softmax":
        if not isinstance(layer.config.get("axis", -1), int):
            return unknown(
                msg(
                    "A softmax over several axes is built from separate ops; reportgen has no "
                    "FLOPs rule for it."
                )
            )
        name = "softmax"
    else:
        name = activation_name(layer.config.get("activation"))
    term, note = activation_term(name, elements(out_dims, batch_size))
    if term is None and name not in UNCOUNTED_ACTIVATIONS and name != "linear":
        return unknown(msg("reportgen has no FLOPs rule for the %(name)s activation.", name=name))
    return counted(
        [term] if term else [],
        note or msg("The linear activation returns its input unchanged."),
        batch_note(batch_size),
    )


def relu_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """ReLU layer: Relu, Relu6 or LeakyRelu ops, which the profiler counts 0; else no rule."""
    max_value = layer.config.get("max_value")
    slope = float(layer.config.get("negative_slope") or 0.0)
    threshold = float(layer.config.get("threshold") or 0.0)
    simple = threshold == 0.0 and (max_value is None or (float(max_value) == 6.0 and slope == 0.0))
    if not simple:
        return unknown(
            msg(
                "This ReLU (threshold, or a slope with a cap) is built from several ops; "
                "reportgen has no FLOPs rule for it."
            )
        )
    return one_uncounted_op(
        "LeakyRelu" if slope else ("Relu6" if max_value is not None else "Relu")
    )


def elu_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """ELU layer: one Elu op (0) when alpha is 1; Keras composes other alphas from several."""
    if float(layer.config.get("alpha", 1.0)) != 1.0:
        return unknown(
            msg(
                "An ELU with alpha other than 1 is built from several ops; reportgen has no FLOPs "
                "rule for it."
            )
        )
    return one_uncounted_op("Elu")


def prelu_params(layer: LayerFacts) -> Derivation:
    """PReLU: one learned slope α per input position, except along shared_axes."""
    if not layer.input_shapes or any(d is None for d in layer.input_shapes[0][1:]):
        return unknown(
            msg(
                "The formula needs every non-batch dimension of the input, which the collected "
                "facts do not give."
            )
        )
    shared = {int(a) for a in (layer.config.get("shared_axes") or ())}
    sizes = [1 if i in shared else int(d or 0) for i, d in enumerate(layer.input_shapes[0]) if i]
    expr: Expr = Product(tuple(Num(d) for d in sizes)) if len(sizes) > 1 else Num(sizes[0])
    return formula(
        expr,
        sentences(
            msg(
                "PReLU is a ReLU whose slope for negative inputs, α, is learned: one α for each "
                "position of the input."
            ),
            msg(
                "The axes %(axes)s share one slope (shared_axes), so they count as 1.",
                axes=str(sorted(shared)),
            )
            if shared
            else None,
        ),
    )


def prelu_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """PReLU: relu(x) − α·relu(−x): Neg, Mul, AddV2 per value + Neg per α."""
    out_dims = dims(layer.output_shapes)
    if out_dims is None:
        return missing_shape(layer)
    shared = {int(a) for a in (layer.config.get("shared_axes") or ())}
    alphas = math.prod(1 if i + 1 in shared else d for i, d in enumerate(out_dims))
    terms = [
        Term("Neg, Mul, AddV2", Product((Num(3), *elements(out_dims, batch_size)))),
        Term("Neg α", Num(alphas)),
    ]
    main = Text(
        "Keras computes PReLU as relu(x) + (−α)·relu(−x): a negation, a multiplication and an "
        f"addition per value (the Relus count 0), and the negation of the {alphas} slopes α "
        "once per pass.",
        "Keras 把 PReLU 计算为 relu(x) + (−α)·relu(−x)：每个数值一次取负、一次乘法、一次加法"
        f"（Relu 计 0），外加每次前向对 {alphas} 个斜率 α 取负一次。",
    )
    return counted(terms, main, batch_note(batch_size))


declare(
    "Activation",
    "Softmax",
    family=FAMILY,
    params=NO_WEIGHTS,
    flops=activation_layer_flops,
    module=_HERE,
)
declare("ReLU", family=FAMILY, params=NO_WEIGHTS, flops=relu_flops, module=_HERE)
declare("ELU", family=FAMILY, params=NO_WEIGHTS, flops=elu_flops, module=_HERE)
declare(
    "LeakyReLU",
    family=FAMILY,
    params=NO_WEIGHTS,
    flops=Zero(
        msg(
            "TensorFlow's profiler has no FLOPs rule for the op %(kind)s runs, so it counts 0; "
            "reportgen follows it so the totals can be compared.",
            kind="LeakyReLU",
        )
    ),
    module=_HERE,
)
declare("PReLU", family=FAMILY, params=prelu_params, flops=prelu_flops, module=_HERE)
