"""MathML for formulas: rendered by every current browser, no JavaScript, no CDN."""

from __future__ import annotations

from markupsafe import Markup, escape

from reportgen.expr import Expr, Formula, Num, Product, Sum, Symbol, Term, needs_parens
from reportgen.units import fmt_bytes, fmt_int


def _symbol(symbol: Symbol) -> str:
    name = f"<mi>{escape(symbol.name)}</mi>"
    if not symbol.sub:
        return name
    return f"<msub>{name}<mtext>{escape(symbol.sub)}</mtext></msub>"


def _mo(op: str) -> str:
    return f"<mo>{escape(op)}</mo>"


def expr_mathml(expr: Expr, symbolic: bool = False) -> str:
    if isinstance(expr, Num):
        if symbolic and expr.symbol is not None:
            return _symbol(expr.symbol)
        return f"<mn>{expr.value}</mn>"
    if isinstance(expr, Product):
        parts = []
        for factor in expr.factors:
            inner = expr_mathml(factor, symbolic)
            if needs_parens(factor, True):
                inner = f"<mrow>{_mo('(')}{inner}{_mo(')')}</mrow>"
            parts.append(inner)
        return f"<mrow>{_mo('×').join(parts)}</mrow>"
    if isinstance(expr, Sum):
        return f"<mrow>{_mo('+').join(expr_mathml(t, symbolic) for t in expr.terms)}</mrow>"
    assert isinstance(expr, Term)
    return (
        f"<mrow><mtext>{escape(expr.label)}&#xA0;</mtext>{expr_mathml(expr.expr, symbolic)}</mrow>"
    )


def _unit(unit: str) -> str:
    return f'<mspace width="0.2em"/><mi mathvariant="normal">{escape(unit)}</mi>' if unit else ""


def formula_mathml(formula: Formula) -> Markup:
    """``(5×5×1+1)×32 = 832`` as a display-mode ``<math>`` element, with an alt text."""
    value = formula.value
    pieces = []
    if not isinstance(formula.expr, Num):
        pieces += [expr_mathml(formula.expr) + _unit(formula.unit), _mo("=")]
    pieces.append(f"<mn>{fmt_int(value)}</mn>{_unit(formula.unit)}")
    human = fmt_bytes(value)
    if formula.unit == "B" and human != f"{value} B":
        number, unit = human.split(" ")
        pieces.append(f"{_mo('=')}<mn>{number}</mn>{_unit(unit)}")
    alt = escape(formula.text)
    return Markup(f'<math display="block" alttext="{alt}"><mrow>{"".join(pieces)}</mrow></math>')


def symbolic_mathml(formula: Formula) -> Markup | None:
    """The formula in symbols (``(k_h×k_w×c_in+1)×c_out``), or None without symbols."""
    if formula.symbolic_text is None:
        return None
    alt = escape(formula.symbolic_text)
    body = expr_mathml(formula.expr, symbolic=True) + _unit(formula.unit)
    return Markup(f'<math display="block" alttext="{alt}"><mrow>{body}</mrow></math>')
