"""Core layers (``keras/src/layers/core/``): the input, Identity, Masking, Lambda."""

from __future__ import annotations

from reportgen.derive.layers.convention import batch_note, counted, missing_shape
from reportgen.derive.layers.registry import GENERIC, NotDerived, Zero, declare
from reportgen.derive.layers.shapes import dims, elements
from reportgen.expr import Product, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, msg

_HERE = __name__


def masking_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Masking: one NotEqual per input value; Any and the SelectV2 that zeroes steps count 0."""
    in_dims = dims(layer.input_shapes)
    if in_dims is None:
        return missing_shape(layer)
    return counted(
        [Term("NotEqual", Product(tuple(elements(in_dims, batch_size))))],
        msg(
            "Masking compares every input value with mask_value (a NotEqual op, 1 FLOP per "
            "value); finding the steps to mask (Any) and zeroing them (SelectV2) count 0."
        ),
        batch_note(batch_size),
    )


declare(
    "InputLayer",
    family="input",
    params=Zero(
        msg("An input layer only declares the shape of the data fed in; it has no weights.")
    ),
    flops=Zero(
        msg("An input layer only declares the shape of the data fed in; it computes nothing.")
    ),
    module=_HERE,
)
declare(
    "Identity",
    family="passthrough",
    params=Zero(msg("Identity returns its input unchanged; it has no weights.")),
    flops=Zero(msg("Identity returns its input unchanged; it computes nothing.")),
    module=_HERE,
)
declare(
    "Masking",
    family="passthrough",
    params=Zero(
        msg("Masking marks time steps equal to a fixed value as padding; it has no weights.")
    ),
    flops=masking_flops,
    module=_HERE,
)
declare(
    "Lambda",
    family="lambda",
    params=Zero(msg("A Lambda layer wraps a Python function; Keras tracks no weights for it.")),
    flops=NotDerived(
        msg(
            "A Lambda layer runs an arbitrary Python function, which its configuration does not "
            "describe, so reportgen cannot derive its FLOPs."
        )
    ),
    module=_HERE,
)
declare(
    "TFSMLayer",
    family="other",
    params=GENERIC,
    flops=NotDerived(
        msg(
            "TFSMLayer runs the graph of a saved TensorFlow model, which its configuration does "
            "not describe, so reportgen cannot derive its FLOPs."
        )
    ),
    module=_HERE,
)
