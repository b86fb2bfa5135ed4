"""Number formatting shared by formulas, pages and charts (one place, every locale).

No formatter raises on a number, however large: an integer past the range of a float, or
past Python's limit for turning an integer into digits, is written in scientific notation
(``1.23e+400``) from integer arithmetic.
"""

from __future__ import annotations

import math

DTYPE_BYTES: dict[str, int] = {
    "float16": 2,
    "bfloat16": 2,
    "float32": 4,
    "float64": 8,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "int32": 4,
    "uint32": 4,
    "int64": 8,
    "uint64": 8,
    "bool": 1,
    "complex64": 8,
    "complex128": 16,
}


def dtype_bytes(dtype: str) -> int | None:
    """Bytes per element of a dtype name (``"float32"`` → 4); None when unknown."""
    return DTYPE_BYTES.get(dtype)


def fmt_int(value: int) -> str:
    """``3212288`` → ``"3,212,288"`` (the grouping both our locales read)."""
    try:
        return f"{value:,}"
    except ValueError:  # more digits than int → str allows (4,300 by default)
        return _scientific(value)


def _digits(value: int | float) -> str:
    """``str(value)``, or scientific notation past the digit limit of int → str."""
    try:
        return str(value)
    except ValueError:
        return _scientific(int(value))


def _scientific(value: int, digits: int = 3) -> str:
    """``1.23e+400``: ``digits`` significant digits, rounded half up, by integer arithmetic
    (no float overflow, no conversion of every digit)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(value))  # exact for an int, up to one off at 10**n
    if value < 10**exponent:
        exponent -= 1
    elif value >= 10 ** (exponent + 1):
        exponent += 1
    shift = exponent - digits  # one guard digit, for the rounding
    lead = value // 10**shift if shift >= 0 else value * 10**-shift
    lead = (lead + 5) // 10
    if lead >= 10**digits:
        lead, exponent = lead // 10, exponent + 1
    text = str(lead)
    mantissa = f"{text[0]}.{text[1:]}".rstrip("0").rstrip(".")
    return f"{sign}{mantissa}e+{exponent}" if exponent >= 0 else f"{sign}{mantissa}e{exponent}"


_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB")


def fmt_bytes(value: int) -> str:
    """Binary units with up to two decimals: 40 B, 98 KiB, 24.5 KiB, 12.25 KiB, 3.06 MiB."""
    if value < 1024:
        return f"{_digits(value)} B"
    try:
        scaled = float(value)
    except OverflowError:  # an integer past 1.8e308
        return f"{_scientific(int(value) >> 40)} {_BINARY_UNITS[-1]}"
    for unit in _BINARY_UNITS:
        scaled /= 1024
        if scaled < 1024 or unit == _BINARY_UNITS[-1]:
            text = f"{scaled:.2f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    raise AssertionError("unreachable")


def fmt_shape(shape: tuple[int | None, ...]) -> str:
    """``(None, 28, 28, 32)`` → ``"(None, 28, 28, 32)"``, the way Keras prints it."""
    inner = ", ".join("None" if d is None else _digits(d) for d in shape)
    if len(shape) == 1:
        inner += ","
    return f"({inner})"


def fmt_us(value: float) -> str:
    """Microseconds with three significant digits: 840 µs, 1.25 ms, 2.5 s."""
    try:
        scaled, unit = float(value), "µs"
    except OverflowError:  # an integer past 1.8e308
        return f"{_scientific(int(value) // 1_000_000)} s"
    for next_unit in ("ms", "s"):
        if abs(float(f"{scaled:.3g}")) < 1000:
            break
        scaled, unit = scaled / 1000, next_unit
    return f"{float(f'{scaled:.3g}'):g} {unit}"


def fmt_percent(fraction: float) -> str:
    """``0.0123`` → ``"1.23%"`` (two decimals: a 1 % tolerance needs them)."""
    try:
        return f"{float(fraction) * 100:.2f}%"
    except OverflowError:  # an integer past 1.8e308
        return f"{_scientific(int(fraction) * 100)}%"
