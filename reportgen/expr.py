"""Arithmetic expressions that remember how a number was made.

A formula such as ``(5×5×1+1)×32`` is kept as a tree of :class:`Num`, :class:`Product`,
:class:`Sum` and :class:`Term` nodes. The same tree evaluates to the number, prints as
plain text with the numbers substituted, prints symbolically (``(k_h×k_w×c_in+1)×c_out``)
and is rendered as MathML by ``reportgen.render.math``. Because the printed formula and
the reported number come from one tree, they cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reportgen.units import fmt_bytes, fmt_int


@dataclass(frozen=True)
class Symbol:
    """A variable name with an optional subscript: ``Symbol("k", "h")`` is k_h."""

    name: str
    sub: str = ""

    def text(self) -> str:
        return f"{self.name}_{self.sub}" if self.sub else self.name


@dataclass(frozen=True)
class Num:
    value: int
    symbol: Symbol | None = None


@dataclass(frozen=True)
class Product:
    factors: tuple[Expr, ...]


@dataclass(frozen=True)
class Sum:
    terms: tuple[Expr, ...]


@dataclass(frozen=True)
class Term:
    """A labelled part of a sum, e.g. ``kernel 3×4`` in a generic weight count."""

    label: str
    expr: Expr


Expr = Num | Product | Sum | Term


def evaluate(expr: Expr) -> int:
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Product):
        return math.prod(evaluate(f) for f in expr.factors)
    if isinstance(expr, Sum):
        return sum(evaluate(t) for t in expr.terms)
    return evaluate(expr.expr)


def needs_parens(expr: Expr, inside_product: bool) -> bool:
    """A sum inside a product needs parentheses; nothing else does."""
    return inside_product and isinstance(expr, Sum)


def to_text(expr: Expr, symbolic: bool = False) -> str:
    """Plain-text rendering with ``×`` and ``+``; numbers, or their symbols when asked."""
    if isinstance(expr, Num):
        if symbolic and expr.symbol is not None:
            return expr.symbol.text()
        return str(expr.value)
    if isinstance(expr, Product):
        parts = []
        for factor in expr.factors:
            text = to_text(factor, symbolic)
            parts.append(f"({text})" if needs_parens(factor, True) else text)
        return "×".join(parts)
    if isinstance(expr, Sum):
        # Labelled parts ("kernel 3×4 + bias 4") read better spaced; bare numbers stay compact.
        joiner = " + " if any(isinstance(t, Term) for t in expr.terms) else "+"
        return joiner.join(to_text(t, symbolic) for t in expr.terms)
    return f"{expr.label} {to_text(expr.expr, symbolic)}"


def has_symbols(expr: Expr) -> bool:
    if isinstance(expr, Num):
        return expr.symbol is not None
    if isinstance(expr, Product):
        return any(has_symbols(f) for f in expr.factors)
    if isinstance(expr, Sum):
        return any(has_symbols(t) for t in expr.terms)
    return has_symbols(expr.expr)


@dataclass(frozen=True)
class Formula:
    """An expression, its unit (``""`` for counts, ``"B"`` for bytes) and its value."""

    expr: Expr
    unit: str = ""

    @property
    def value(self) -> int:
        return evaluate(self.expr)

    @property
    def text(self) -> str:
        """``(5×5×1+1)×32 = 832`` or ``28×28×32×4 B = 100,352 B = 98 KiB``."""
        body = to_text(self.expr)
        if self.unit == "B":
            result = f"{body} B = {fmt_int(self.value)} B"
            human = fmt_bytes(self.value)
            if human != f"{self.value} B":
                result += f" = {human}"
            return result
        if isinstance(self.expr, Num):
            return fmt_int(self.value)
        return f"{body} = {fmt_int(self.value)}"

    @property
    def symbolic_text(self) -> str | None:
        """The formula in symbols, or None when it has none (a generic count)."""
        if not has_symbols(self.expr):
            return None
        body = to_text(self.expr, symbolic=True)
        return f"{body} B" if self.unit == "B" else body
