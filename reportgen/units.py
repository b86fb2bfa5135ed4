"""Number formatting shared by formulas, pages and charts (one place, every locale)."""

from __future__ import annotations

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
    return f"{value:,}"


_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB")


def fmt_bytes(value: int) -> str:
    """Binary units with up to two decimals: 40 B, 98 KiB, 24.5 KiB, 12.25 KiB, 3.06 MiB."""
    if value < 1024:
        return f"{value} B"
    scaled = float(value)
    for unit in _BINARY_UNITS:
        scaled /= 1024
        if scaled < 1024 or unit == _BINARY_UNITS[-1]:
            text = f"{scaled:.2f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    raise AssertionError("unreachable")


def fmt_shape(shape: tuple[int | None, ...]) -> str:
    """``(None, 28, 28, 32)`` → ``"(None, 28, 28, 32)"``, the way Keras prints it."""
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    if len(shape) == 1:
        inner += ","
    return f"({inner})"


def fmt_us(value: float) -> str:
    """Microseconds with three significant digits: 840 µs, 1.25 ms, 2.5 s."""
    scaled, unit = value, "µs"
    for next_unit in ("ms", "s"):
        if abs(float(f"{scaled:.3g}")) < 1000:
            break
        scaled, unit = scaled / 1000, next_unit
    return f"{float(f'{scaled:.3g}'):g} {unit}"


def fmt_percent(fraction: float) -> str:
    """``0.0123`` → ``"1.23%"`` (two decimals: a 1 % tolerance needs them)."""
    return f"{fraction * 100:.2f}%"
