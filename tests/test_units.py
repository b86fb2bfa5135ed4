from __future__ import annotations

import pytest

from reportgen.expr import Formula, Num, Product, Sum, Symbol, Term
from reportgen.render.math import formula_mathml, symbolic_mathml
from reportgen.units import dtype_bytes, fmt_bytes, fmt_int, fmt_percent, fmt_shape, fmt_us


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (40, "40 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (25_088, "24.5 KiB"),
        (12_544, "12.25 KiB"),
        (100_352, "98 KiB"),
        (3_211_264, "3.06 MiB"),
        (2**30, "1 GiB"),
    ],
)
def test_fmt_bytes(value, text):  # type: ignore[no-untyped-def]
    assert fmt_bytes(value) == text


def test_fmt_int_and_shape():
    assert fmt_int(3_212_288) == "3,212,288"
    assert fmt_shape((None, 28, 28, 32)) == "(None, 28, 28, 32)"
    assert fmt_shape((None,)) == "(None,)"
    assert dtype_bytes("float16") == 2 and dtype_bytes("mystery") is None


CONV = Formula(
    Product(
        (
            Sum(
                (
                    Product(
                        (
                            Num(5, Symbol("k", "h")),
                            Num(5, Symbol("k", "w")),
                            Num(1, Symbol("c", "in")),
                        )
                    ),
                    Num(1),
                )
            ),
            Num(32, Symbol("c", "out")),
        )
    )
)


def test_formula_text_and_value():
    assert CONV.value == 832
    assert CONV.text == "(5×5×1+1)×32 = 832"
    assert CONV.symbolic_text == "(k_h×k_w×c_in+1)×c_out"


def test_mathml_has_parentheses_numbers_and_result():
    markup = str(formula_mathml(CONV))
    assert markup.startswith('<math display="block" alttext="(5×5×1+1)×32 = 832">')
    assert "<mo>(</mo>" in markup and "<mo>)</mo>" in markup
    assert markup.count("<mn>5</mn>") == 2
    assert markup.endswith("<mo>=</mo><mn>832</mn></mrow></math>")
    symbolic = str(symbolic_mathml(CONV))
    assert "<msub><mi>k</mi><mtext>h</mtext></msub>" in symbolic


def test_byte_formula_mathml_has_units():
    formula = Formula(Product((Num(28), Num(28), Num(32), Num(4))), unit="B")
    markup = str(formula_mathml(formula))
    assert "<mn>100,352</mn>" in markup and "<mn>98</mn>" in markup
    assert 'mathvariant="normal">KiB</mi>' in markup


def test_labels_in_formulas_are_escaped():
    formula = Formula(Sum((Term("<k>", Num(3)), Term("b&", Num(1)))))
    markup = str(formula_mathml(formula))
    assert "&lt;k&gt;" in markup and "b&amp;" in markup and "<k>" not in markup


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (4.2, "4.2 µs"),
        (850.0, "850 µs"),
        (999.7, "1 ms"),
        (1250.0, "1.25 ms"),
        (2.5e6, "2.5 s"),
        (0.0, "0 µs"),
    ],
)
def test_fmt_us(value, text):  # type: ignore[no-untyped-def]
    assert fmt_us(value) == text


def test_fmt_percent():
    assert fmt_percent(0.0123) == "1.23%"


def _fmt_bytes_before(value: int) -> str:
    """fmt_bytes as it was before huge integers were handled: the reference for all others."""
    if value < 1024:
        return f"{value} B"
    scaled = float(value)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "TiB":
            text = f"{scaled:.2f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    raise AssertionError("unreachable")


def test_fmt_bytes_is_unchanged_below_the_float_range():
    import random

    rng = random.Random(7)
    values = [rng.randrange(2 ** rng.randrange(1, 200)) for _ in range(5000)]
    values += [2**k + d for k in range(0, 1023, 7) for d in (-1, 0, 1)]
    values += [-5, 0, 1023, 1024, 1025, 10**308]
    for value in values:
        assert fmt_bytes(value) == _fmt_bytes_before(value), value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (10**400, "9.09e+387 TiB"),
        (2**1024, "1.63e+296 TiB"),
        (10**5000, "9.09e+4987 TiB"),
        (-(10**5000), "-1e+5000 B"),
    ],
    ids=["10**400", "2**1024", "10**5000", "-10**5000"],  # (no str() past 4,300 digits)
)
def test_fmt_bytes_of_a_huge_integer(value, text):  # type: ignore[no-untyped-def]
    assert fmt_bytes(value) == text


def test_formatters_never_raise_on_a_huge_integer():
    huge = 10**5000
    assert fmt_int(huge) == "1e+5000"
    assert fmt_int(10**400) == f"{10**400:,}"
    assert fmt_shape((None, huge, 3)) == "(None, 1e+5000, 3)"
    assert fmt_us(10**400) == "1e+394 s"
    assert fmt_us(float("inf")) == "inf s"
    assert fmt_percent(10**400) == "1e+402%"
