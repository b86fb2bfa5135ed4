"""Reshaping layers (``keras/src/layers/reshaping/``): values moved, padded, cut or repeated."""

from __future__ import annotations

from reportgen.derive.layers.convention import counted
from reportgen.derive.layers.registry import Zero, declare
from reportgen.derive.layers.shapes import ints
from reportgen.expr import Num, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, msg

_HERE = __name__
_DIMS = ("1D", "2D", "3D")


def upsampling_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """UpSampling (nearest) and RepeatVector: one scalar Mul per repeated axis, nothing else."""
    if layer.class_name == "RepeatVector":
        axes = 1
    else:
        if layer.config.get("interpolation", "nearest") != "nearest":
            return counted(
                [],
                msg(
                    "Interpolating upsampling runs a Resize op, for which TensorFlow's profiler "
                    "has no FLOPs rule, so it counts 0; reportgen follows it."
                ),
            )
        axes = len(ints(layer.config.get("size", 2)))
    return counted(
        [Term("Mul (shape)", Num(axes))],
        msg(
            "Repeating values costs no arithmetic (ExpandDims, Tile, Reshape count 0); the "
            "profiler counts only the scalar Mul that computes the new size, once for each of the "
            "%(axes)s repeated axes, whatever the batch size.",
            axes=str(axes),
        ),
    )


declare(
    "Flatten",
    family="reshape",
    params=Zero(
        msg(
            "Flatten only reshapes its input into one vector per example; no value changes and "
            "there are no weights."
        )
    ),
    flops=Zero(msg("Flatten only reshapes its input (a Reshape op); no arithmetic is done.")),
    module=_HERE,
)
declare(
    "Reshape",
    family="reshape",
    params=Zero(msg("Reshape rearranges the same values into a new shape; it has no weights.")),
    flops=Zero(
        msg("Reshape only rearranges the same values into a new shape; no arithmetic is done.")
    ),
    module=_HERE,
)
declare(
    "Permute",
    family="reshape",
    params=Zero(msg("Permute reorders the axes of its input; it has no weights.")),
    flops=Zero(msg("Permute only reorders axes (a Transpose op); no arithmetic is done.")),
    module=_HERE,
)
declare(
    *(f"ZeroPadding{d}" for d in _DIMS),
    family="padding",
    params=Zero(msg("Zero padding adds a border of zeros around the input; it has no weights.")),
    flops=Zero(
        msg("Zero padding only copies the input into a larger zero-filled tensor; no arithmetic.")
    ),
    module=_HERE,
)
declare(
    *(f"Cropping{d}" for d in _DIMS),
    family="padding",
    params=Zero(msg("Cropping cuts a border off the input; it has no weights.")),
    flops=Zero(msg("Cropping only cuts a border off the input; no arithmetic is done.")),
    module=_HERE,
)
declare(
    *(f"UpSampling{d}" for d in _DIMS),
    family="upsampling",
    params=Zero(
        msg(
            "Upsampling repeats (or interpolates) the input's values to enlarge it; it has no "
            "weights."
        )
    ),
    flops=upsampling_flops,
    module=_HERE,
)
declare(
    "RepeatVector",
    family="upsampling",
    params=Zero(msg("RepeatVector repeats its input a fixed number of times; it has no weights.")),
    flops=upsampling_flops,
    module=_HERE,
)
