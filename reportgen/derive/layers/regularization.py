"""Regularization layers (``keras/src/layers/regularization/``): at work only while training."""

from __future__ import annotations

from reportgen.derive.layers.convention import counted, missing_shape, passes_through
from reportgen.derive.layers.registry import Zero, declare
from reportgen.derive.layers.shapes import batch_factor, count, dims
from reportgen.expr import Num, Product, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, msg

_HERE = __name__


def activity_regularization_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """ActivityRegularization: the penalty Keras computes in the forward pass, per L1/L2 factor."""
    out_dims = dims(layer.output_shapes)
    if out_dims is None:
        return missing_shape(layer)
    l1, l2 = float(layer.config.get("l1") or 0.0), float(layer.config.get("l2") or 0.0)
    values = count(out_dims, batch_size)
    terms: list[Term] = []
    if l1:
        terms.append(Term("L1: Sum", Num(values - 1)))
        terms.append(Term("L1: Mul, AddV2", Num(2)))
    if l2:
        terms.append(
            Term("L2: Square", Product((*(Num(d) for d in out_dims), *batch_factor(batch_size))))
        )
        terms.append(Term("L2: Sum", Num(values - 1)))
        terms.append(Term("L2: Mul, AddV2", Num(2)))
    if not terms:
        return counted(
            [],
            msg(
                "With l1 = l2 = 0 there is no penalty to compute, and the values pass through "
                "unchanged."
            ),
        )
    return counted(
        terms,
        msg(
            "The values pass through unchanged, but Keras computes the penalty on every forward "
            "pass, even at inference."
        ),
        msg(
            "L1: the sum of the %(values)s absolute values (a sum of n values is n − 1 additions; "
            "Abs counts 0), multiplied by l1 and added to the penalty (2 FLOPs).",
            values=values,
        )
        if l1
        else None,
        msg(
            "L2: one Square per value and the sum of the %(values)s squares (n − 1 additions), "
            "multiplied by l2 and added to the penalty (2 FLOPs).",
            values=values,
        )
        if l2
        else None,
        msg(
            "Keras divides the penalty by the batch size with DivNoNan, which the profiler does "
            "not count."
        ),
    )


_DROPOUT = Zero(
    msg(
        "Dropout zeroes a random fraction of its inputs while training and passes them through "
        "unchanged at inference; it has no weights."
    )
)

for _kind in (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "AlphaDropout",
):
    declare(
        _kind, family="dropout", params=_DROPOUT, flops=Zero(passes_through(_kind)), module=_HERE
    )
declare(
    "GaussianDropout",
    family="dropout",
    params=Zero(
        msg(
            "Gaussian dropout multiplies by random noise while training and passes its input "
            "through at inference; it has no weights."
        )
    ),
    flops=Zero(passes_through("GaussianDropout")),
    module=_HERE,
)
declare(
    "GaussianNoise",
    family="regularization",
    params=Zero(
        msg(
            "Gaussian noise adds random noise while training and nothing at inference; it has "
            "no weights."
        )
    ),
    flops=Zero(passes_through("GaussianNoise")),
    module=_HERE,
)
declare(
    "ActivityRegularization",
    family="regularization",
    params=Zero(
        msg(
            "Activity regularization only adds a penalty on its input to the training loss; the "
            "values pass through unchanged and there are no weights."
        )
    ),
    flops=activity_regularization_flops,
    module=_HERE,
)
