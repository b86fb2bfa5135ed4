"""How the FLOPs rules count: the way TensorFlow's profiler counts, in one place.

One multiply-add is 2 FLOPs, and every other operation is counted exactly as
``tf.compat.v1.profiler`` with ``float_operation()`` counts it, so that the sum over the
layers can be checked against TensorFlow's own total. Its rules are the ``"flops"``
statistics registered in TensorFlow (verified against TF 2.21):

- ``Conv2D``/``Conv3D`` (``nn_ops._calc_conv_flops``, ``_calc_conv3d_flops``): 2 × kernel
  window × filter input depth × output elements; TensorFlow runs Conv1D as a Conv2D.
- ``MatMul``/``BatchMatMul`` (``flops_registry._calc_mat_mul_flops``): 2 × k × output
  elements; ``BiasAdd`` (``nn_ops._calc_bias_add_flops``): one per element.
- ``MaxPool``/``AvgPool`` (``flops_registry._pool_flops``): window size × output elements;
  there is no rule for ``MaxPool3D``/``AvgPool3D``, nor for ``Max`` (global max pooling).
- ``Mean``: one per input element; ``Sum``: input elements − output elements (a sum of n
  values is n − 1 additions); ``Softmax``: 5 per element; ``Add``/``AddV2``/``Sub``/``Mul``/
  ``RealDiv``/``Maximum``/``Minimum``, the comparisons and ``Square``/``Neg``: one per
  output element.
- Ops without a registered rule count 0: ``Relu``, ``Sigmoid``, ``Tanh``, ``Elu``,
  ``Reshape``, ``Transpose``, ``Pad``, ``Einsum``, resizing, the ``While`` loop's body…
  Unregistered is not free, but following the profiler keeps the cross-check exact; the
  explanations say where this happens.

Every count comes from the layer's configuration and its input/output shapes (strides,
padding and dilation act only through the output shape), multiplied by the batch size.
The op breakdowns the rules follow were read off the traced graphs of TF 2.21 / Keras 3.15
on CPU, and each rule was checked against the profiler (``tests/test_tf_applications.py``
compares every layer of a model with one of each kind).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reportgen.derive.layers.registry import formula, unknown, zero
from reportgen.derive.layers.shapes import batch_factor, dims, elements
from reportgen.expr import Expr, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Msg, Prose, msg, sentences

CONVENTION = msg(
    "Convention: one multiply-add counts as 2 FLOPs, and every operation is counted the way "
    "TensorFlow's profiler (tf.compat.v1.profiler, float_operation) counts it, so the model "
    "total can be checked against TensorFlow's own figure."
)


def batch_note(batch_size: int) -> Msg | None:
    if batch_size == 1:
        return None
    return msg(
        "Everything is counted for a batch of N = %(batch)s examples.", batch=str(batch_size)
    )


def counted(terms: Sequence[Term], *explanation: Prose | None) -> Derivation:
    """Terms (one per TensorFlow op kind) → formula; none means 0 FLOPs. The explanation's
    sentences are followed by the convention."""
    prose = sentences(*explanation, CONVENTION)
    if not terms:
        return zero(prose)
    return formula(Sum(tuple(terms)) if len(terms) > 1 else terms[0], prose)


def missing_shape(layer: LayerFacts) -> Derivation:
    return unknown(
        msg(
            "FLOPs need every non-batch dimension of %(kind)s's input and output shapes, and "
            "one of them is missing or only known at run time.",
            kind=layer.class_name,
        )
    )


def per_value(layer: LayerFacts, batch_size: int, ops: str, each: int, why: Prose) -> Derivation:
    """An elementwise layer: ``each`` FLOPs (the ops ``ops``) for every output value."""
    out_dims = dims(layer.output_shapes)
    if out_dims is None:
        return missing_shape(layer)
    values = elements(out_dims, batch_size)
    product = Product(tuple(values)) if each == 1 else Product((Num(each), *values))
    return counted([Term(ops, product)], why, batch_note(batch_size))


def one_uncounted_op(op: str) -> Derivation:
    """A layer that runs a single op the profiler has no rule for: 0, and why."""
    return zero(
        msg(
            "The layer runs one %(op)s op; TensorFlow's profiler has no FLOPs rule for it, so it "
            "counts 0, and reportgen follows it so the totals can be compared.",
            op=op,
        )
    )


# ---------------------------------------------------------------- activations

ACTIVATION_FLOPS_PER_VALUE: dict[str, int] = {
    "softmax": 5,
    "silu": 2,
    "swish": 2,
    "gelu": 4,
    "keras_hub>gelu_approximate": 7,
    "mish": 1,
    "hard_sigmoid": 2,
    "hard_silu": 3,
    "hard_swish": 3,
}
"""FLOPs per output value that the profiler counts for the ops Keras 3 builds each
activation from. Softmax is TensorFlow's own rule (2 to shift the logits, 1 exp, 2 to
normalise); the composite ones were measured with the profiler on TF 2.21 / Keras 3.15
(silu: x·sigmoid(βx) = 2 Mul; gelu: 3 Mul + Neg around Erfc; keras-hub's registered
``gelu_approximate``, GPT-2's and BERT's, the tanh form 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))):
4 Mul, 2 AddV2 and a Pow; mish: x·tanh(softplus(x)));
a Keras version that composes them differently would show up as a cross-check mismatch."""

UNCOUNTED_ACTIVATIONS = frozenset(
    {
        "relu",
        "relu6",
        "sigmoid",
        "tanh",
        "elu",
        "selu",
        "softplus",
        "softsign",
        "leaky_relu",
        "exponential",
        "log_softmax",
    }
)
"""Activations that run one TensorFlow op without a FLOPs rule (or none at all): 0."""


def activation_name(value: Any) -> str:
    """The activation named by a Keras config value (a string, or a serialized function)."""
    if value is None:
        return "linear"
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("config"), str):
        return str(value["config"])
    return str(value)


def known_activation(name: str) -> bool:
    return name == "linear" or name in UNCOUNTED_ACTIVATIONS or name in ACTIVATION_FLOPS_PER_VALUE


def activation_term(name: str, values: Sequence[Expr]) -> tuple[Term | None, Msg | None]:
    """The FLOPs an activation adds over ``values`` output values, and the sentence why."""
    if name == "linear":
        return None, None
    if name == "softmax":
        return Term("Softmax", Product((Num(5), *values))), msg(
            "The softmax costs 5 FLOPs per output value (TensorFlow's rule: 2 to shift the "
            "logits, 1 for exp, 2 to normalise)."
        )
    per_value = ACTIVATION_FLOPS_PER_VALUE.get(name)
    if per_value is not None:
        return Term(name, Product((Num(per_value), *values))), msg(
            "Keras builds the %(name)s activation from elementwise TensorFlow ops, of which "
            "the profiler counts %(per_value)s per output value.",
            name=name,
            per_value=per_value,
        )
    if name in UNCOUNTED_ACTIVATIONS:
        return None, msg(
            "The %(name)s activation adds 0: TensorFlow's profiler has no FLOPs rule for its "
            "op, and reportgen follows it.",
            name=name,
        )
    return None, msg(
        "reportgen has no FLOPs rule for the %(name)s activation; it is left out, so this "
        "figure may be below TensorFlow's count.",
        name=name,
    )


def bias_and_activation(
    layer: LayerFacts, values: Sequence[Expr], terms: list[Term], use_bias: bool | None = None
) -> list[Msg | None]:
    """Append the BiasAdd and activation terms of a layer with a bias and an activation
    (``use_bias`` defaults to its configuration's); return their sentences."""
    notes: list[Msg | None] = []
    if layer.config.get("use_bias", True) if use_bias is None else use_bias:
        terms.append(Term("BiasAdd", Product(tuple(values))))
        notes.append(msg("Adding the bias costs 1 FLOP per output value."))
    else:
        notes.append(msg("There is no bias (use_bias=False)."))
    term, note = activation_term(activation_name(layer.config.get("activation")), values)
    if term is not None:
        terms.append(term)
    notes.append(note)
    return notes


# ---------------------------------------------------------------- einsum as matrix products

MATMUL_EINSUMS = frozenset(
    {
        "a,b->ab",
        "ab,b->a",
        "ab,bc->ac",
        "ab,cb->ac",
        "abc,cd->abd",
        "abc,dc->abd",
        "abcd,abde->abce",
        "abcd,abed->abce",
        "abcd,acbe->adbe",
        "abcd,adbe->acbe",
        "abcd,aecd->acbe",
        "abcd,aecd->aceb",
        "abc,cde->abde",
        "abc,dce->abde",
        "abc,dec->abde",
        "abcd,cde->abe",
        "abcd,ced->abe",
        "abcd,ecd->abe",
        "abcde,aebf->adbcf",
        "abcde,afce->acdbf",
    }
)
"""Einsum equations that Keras's TensorFlow backend (keras.src.backend.tensorflow.numpy.einsum,
Keras 3.15) rewrites as MatMul/BatchMatMul, which the profiler counts; any other equation
runs as an Einsum op, which it does not. Letters are normalized to first-appearance order."""


def normalize_einsum(equation: str) -> str:
    """Letters renamed a, b, c… in order of first appearance, as Keras does before matching."""
    mapping: dict[str, str] = {}
    out = []
    for ch in equation:
        if ch.isalpha():
            mapping.setdefault(ch, "abcdefghijklmnopqrstuvwxyz"[len(mapping)])
            out.append(mapping[ch])
        else:
            out.append(ch)
    return "".join(out)


def einsum_matmul_flops(
    equation: str, sizes: dict[str, int], batch_size: int
) -> tuple[Expr | None, Msg]:
    """FLOPs the profiler counts for an einsum (None when it runs as an uncounted Einsum op).

    ``sizes`` maps each letter to its size, the batch letter excluded (it is ``batch_size``).
    A MatMul/BatchMatMul counts 2 × (contracted size) × output elements.
    """
    inputs, output = equation.split("->")
    left, right = inputs.split(",")
    contracted = [c for c in right if c in left and c not in output]
    if normalize_einsum(equation) not in MATMUL_EINSUMS:
        return None, msg(
            "Keras runs the contraction %(equation)s as an Einsum op, for which TensorFlow's "
            "profiler has no FLOPs rule, so it counts 0; reportgen follows it.",
            equation=equation,
        )
    factors: list[Expr] = [Num(2)]
    factors += [Num(sizes[c], Symbol(c)) for c in contracted]
    factors += [Num(sizes[c], Symbol(c)) for c in output if c in sizes]
    factors += batch_factor(batch_size)
    return Product(tuple(factors)), msg(
        "Keras runs %(equation)s as a matrix product: 2 FLOPs per multiply-add, %(contracted)s "
        "of them for each output value.",
        equation=equation,
        contracted="×".join(contracted) or "1",
    )


def passes_through(kind: str) -> Msg:
    """Why a layer that only acts while training costs nothing at inference."""
    return msg(
        "At inference %(kind)s passes its input through unchanged; it computes nothing.",
        kind=kind,
    )
