"""The arithmetic a reader does with a printed formula, done without ``reportgen.expr``.

A page prints ``(5×5×1+1)×32 = 832`` or ``MatMul 2×3136×1024 + BiasAdd 1024 = 6,423,552``.
:func:`printed_value` evaluates the left-hand side as a reader would (labels such as
``MatMul``, ``Conv2D`` or ``Mul (scale)`` are words, not numbers) with Python's own
integers, so a test can hold the printed arithmetic against an independent number
(Keras's ``count_params()``, TensorFlow's profiler) instead of against the expression tree
that printed it.
"""

from __future__ import annotations

import ast
import re

_ASIDE = re.compile(r"\([^()\d]*\)")
"""Words in parentheses (``Mul (scale)``): part of a label."""
_WORD = re.compile(r"[^\W\d]\w*")
"""A label's word (``MatMul``, ``Conv2D``, ``LoRA``, ``α``) or the unit ``B``."""
_NOT_ARITHMETIC = re.compile(r"[^\d×+()]")
"""What is left of a label (``Less, AddV2``, ``query·key``)."""


def printed_value(text: str) -> int:
    """The value of the printed formula's left-hand side; its right-hand side must agree."""
    left, _, right = text.partition(" = ")
    for pattern in (_ASIDE, _WORD, _NOT_ARITHMETIC):
        left = pattern.sub(" ", left)
    value = _evaluate(ast.parse(left.replace("×", "*").strip(), mode="eval").body)
    if right:
        stated = int(right.split(" B")[0].replace(",", ""))
        assert stated == value, f"{text!r}: the printed result is not the printed arithmetic"
    return value


def _evaluate(node: ast.expr) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
        left, right = _evaluate(node.left), _evaluate(node.right)
        return left + right if isinstance(node.op, ast.Add) else left * right
    raise ValueError(f"not a printed formula's arithmetic: {ast.unparse(node)!r}")
