"""One home per layer kind: each module here declares its Keras layer classes once.

Laid out as Keras lays out ``keras/src/layers/``: a reader who knows where Keras keeps
Conv2D finds here, in ``convolution.py``, how reportgen counts its parameters and FLOPs and
which family of prose explains it. :mod:`.registry` holds the declarations, :mod:`.dispatch`
applies them (:func:`derive_params`, :func:`derive_flops`), :mod:`.shapes` reads sizes from
facts and :mod:`.convention` is how TensorFlow's profiler counts FLOPs.

Adding a layer kind: declare it in its family's module (a rule, or a reason why not) and
add its facts and expected numbers to ``tests/test_derive_layers.py``.
"""

from __future__ import annotations

# Each import declares its module's kinds; the order does not matter.
from reportgen.derive.layers import (  # noqa: F401
    activations,
    applications,
    attention,
    augmentation,
    convolution,
    core,
    dense,
    hub_attention,
    hub_blocks,
    hub_embeddings,
    hub_norms,
    hub_text,
    hub_vision,
    merging,
    normalization,
    pooling,
    preprocessing,
    recurrent,
    regularization,
    reshaping,
    wrappers,
)
from reportgen.derive.layers.dispatch import (
    MAX_DERIVED,
    derive_flops,
    derive_params,
    generic_params,
    resolved_output_shapes,
)
from reportgen.derive.layers.registry import KINDS, LayerKind, family_of, kind_of

__all__ = [
    "KINDS",
    "MAX_DERIVED",
    "LayerKind",
    "derive_flops",
    "derive_params",
    "family_of",
    "generic_params",
    "kind_of",
    "resolved_output_shapes",
]
