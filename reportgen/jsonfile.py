"""JSON from elsewhere: read it within limits, check it against a schema, one line per fault.

Collected facts come from other CI jobs (downloaded artifacts) and ``reportgen diff`` reads
sites built elsewhere, so neither is trusted. Before parsing, a file is checked for size
and for nesting depth, without recursion (``json.loads`` recurses once per level: a file
nested 100,000 deep would raise ``RecursionError``); after parsing, it is validated against
a JSON Schema. Every fault is a :class:`ReportgenError` whose one line names the file, the
field (``layers[3].keras_params``) and the cause.
"""

from __future__ import annotations

import functools
import json
import math
import re
from array import array
from collections.abc import Iterable, Mapping
from importlib import resources
from itertools import accumulate, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.errors import ReportgenError

if TYPE_CHECKING:  # (no stubs for jsonschema unless types-jsonschema is installed)
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped, unused-ignore]
    from jsonschema.protocols import Validator  # type: ignore[import-untyped, unused-ignore]

MiB = 1024 * 1024

_KEEP_QUOTES_AND_BRACKETS = bytes(b for b in range(256) if b not in b'"[]{}')
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
"""Opening brackets to +1, closing ones to -1 (as signed bytes); quotes stay."""
_QUOTED = re.compile(rb'"[^"]*+(?:"|\Z)')
"""What is left of a string that holds brackets; an unterminated one runs to the end."""
_PAIR = b"\x01\xff"
_OPEN = b"\x01"

_SHORT = 80
"""Longest value quoted in a message; longer ones are cut (a message is one line)."""
_LONGEST_MESSAGE = 400
_COUNTED_ERRORS = 100
"""Faults counted beyond the first one reported ("and 99+ more")."""


def nesting_depth(data: bytes, limit: int | None = None) -> int:
    """How deep arrays and objects nest in JSON text (brackets inside strings ignored).

    No recursion, no parsing, and no Python loop over the bytes: escaped backslashes
    and escaped quotes are dropped (what is left of an escape cannot end a string), then
    every byte but a quote or a bracket. Two quotes in a row now enclose no bracket (an
    empty string, or one string's end and the next one's start), so they go too; the few
    quotes left enclose brackets inside strings, which go with them. Innermost pairs
    ``[]`` are then peeled off while that shrinks the text well (each pass lowers the
    depth by exactly one) and the depth of what is left is a running sum. Exact for
    well-formed JSON; for malformed text, at least the depth a parser reaches before it
    fails. With a ``limit``, a depth beyond it may be reported as just ``limit + 1``
    (a run of ``limit + 1`` opening brackets answers at once).
    """
    marks = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = marks.translate(_STEPS, _KEEP_QUOTES_AND_BRACKETS).replace(b'""', b"")
    if b'"' in marks:
        marks = _QUOTED.sub(b"", marks)
    peeled = 0
    while marks:
        shorter = marks.replace(_PAIR, b"")
        if len(shorter) > len(marks) * 3 // 4:
            break  # few leaves left: summing what remains is cheaper than more passes
        marks, peeled = shorter, peeled + 1
    if not marks:
        return peeled
    if limit is not None and _OPEN * (limit - peeled + 1) in marks:
        return limit + 1
    return peeled + max(0, max(accumulate(array("b", marks)), default=0))


def read_limited(path: Path, max_bytes: int, what: str) -> bytes:
    """The bytes of a file of at most ``max_bytes`` (a pipe or a device is read no further)."""
    try:
        with path.open("rb") as stream:
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise ReportgenError(f"{path}: cannot read the {what}: {_os_cause(exc)}") from exc
    if len(data) > max_bytes:
        raise ReportgenError(f"{path}: the {what} is larger than the limit of {_size(max_bytes)}")
    return data


def load_json(path: Path, max_bytes: int, max_depth: int, what: str = "JSON file") -> Any:
    """Parse a JSON file of at most ``max_bytes`` nested at most ``max_depth`` deep.

    ``what`` names the file in messages (``collected-facts file``). The values are
    Python's usual ones; ``NaN`` and ``Infinity``, which Python writes and reads but JSON
    does not define, parse as floats (a schema's ``number`` refuses them, see
    :func:`validator`).
    """
    data = read_limited(path, max_bytes, what)
    if nesting_depth(data, max_depth) > max_depth:
        raise ReportgenError(
            f"{path}: the {what} nests arrays and objects more than {max_depth} deep (the limit)"
        )
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ReportgenError(
            f"{path}: not a readable {what}: not UTF-8 text (byte {exc.start:,})"
        ) from exc
    except ValueError as exc:  # JSONDecodeError, and an integer of over 4,300 digits
        raise ReportgenError(f"{path}: not a readable {what}: {_one_line(str(exc))}") from exc
    except RecursionError as exc:  # not reached: the depth is checked above
        raise ReportgenError(f"{path}: the {what} nests too deep") from exc


# --- schemas ---------------------------------------------------------------------------


@functools.cache
def schema(name: str) -> dict[str, Any]:
    """A schema shipped in ``reportgen/schema`` (``facts.schema.json``), parsed once."""
    text = resources.files("reportgen.schema").joinpath(name).read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


@functools.cache
def validator(name: str) -> Validator:
    """A compiled draft 2020-12 validator for a shipped schema, built once per process.

    Types are exact: an ``integer`` is a JSON integer (not ``3.0``, not ``true``) and a
    ``number`` is finite (not ``NaN`` nor ``Infinity``). ``$ref`` to ``$defs`` are
    inlined first: the same checks, several times faster with ``jsonschema``.
    """
    import jsonschema  # type: ignore[import-untyped, unused-ignore]

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine_many({"integer": _is_integer, "number": _is_finite_number})
    exact = jsonschema.validators.extend(base, type_checker=checker)
    compiled: Validator = exact(_inline_refs(schema(name)))
    return compiled


@functools.cache
def fast_validator(name: str) -> Any:
    """The same schema compiled by ``jsonschema_rs`` (Rust): it only says yes or no.

    It is some hundred times faster than ``jsonschema`` on a large collected-facts file
    (8 MB: 0.02 s against 2 s), so a valid file costs next to nothing; a file it refuses
    is checked again by :func:`validator`, whose messages name the field. It refuses
    ``NaN`` and ``Infinity`` as numbers too, and takes ``832.0`` as the integer 832, as the
    JSON Schema specification does. None when the package is missing.
    """
    try:
        import jsonschema_rs
    except ImportError:
        return None
    return jsonschema_rs.Draft202012Validator(_inline_refs(schema(name)))


def _is_integer(checker: object, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_finite_number(checker: object, instance: object) -> bool:
    if isinstance(instance, bool):
        return False
    if isinstance(instance, int):
        return True
    return isinstance(instance, float) and math.isfinite(instance)


def _inline_refs(root: dict[str, Any]) -> dict[str, Any]:
    """The schema with every ``{"$ref": "#/$defs/x", ...}`` replaced by the definition;
    beside a reference, ``minimum`` and ``maximum`` combine (the tighter bound), any other
    keyword both set makes an ``allOf``; descriptions dropped. The schemas are not
    recursive (a reference cycle is a bug, reported as such)."""
    defs: dict[str, Any] = root.get("$defs", {})

    def inline(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        rest = {
            key: inline(value, seen)
            for key, value in node.items()
            if key not in ("$ref", "description")
        }
        ref = node.get("$ref")
        if ref is None:
            return rest
        name = ref.removeprefix("#/$defs/")
        if name == ref or name not in defs or name in seen:
            raise AssertionError(f"schema: cannot inline the reference {ref!r}")
        target = inline(defs[name], (*seen, name))
        merged = {**target, **rest}
        for key, tighter in (("minimum", max), ("maximum", min)):
            if key in target and key in rest:  # {"$ref": "#/$defs/count", "minimum": 1}
                merged[key] = tighter(target[key], rest[key])
        if set(rest) & set(target) - {"minimum", "maximum"}:
            return {"allOf": [target, rest]}
        return merged

    inlined: dict[str, Any] = inline({k: v for k, v in root.items() if k != "$defs"}, ())
    return inlined


def check(instance: Any, name: str, path: Path) -> None:
    """Validate against the shipped schema ``name``; the first fault as one line."""
    if not isinstance(instance, dict):  # (before jsonschema quotes all of it)
        raise ReportgenError(f"{path}: top level: {short(instance)} is not an object")
    fast = fast_validator(name)
    if fast is not None:
        try:
            if fast.is_valid(instance):
                return
        except Exception:  # e.g. an integer beyond 64 bits: the full check below explains
            pass
    errors = list(islice(validator(name).iter_errors(instance), _COUNTED_ERRORS + 1))
    if not errors:
        return
    first = errors[0]
    more = len(errors) - 1
    suffix = ""
    if more:
        count = f"{more}+" if more >= _COUNTED_ERRORS else f"{more}"
        suffix = f" (and {count} more problem{'s' if more != 1 else ''})"
    raise ReportgenError(f"{path}: {field_path(first.absolute_path)}: {message(first)}{suffix}")


def field_path(parts: Iterable[str | int]) -> str:
    """``["layers", 3, "keras_params"]`` → ``layers[3].keras_params``; a key that is not
    an identifier is quoted: ``layer_bytes["conv/1"]``; the document itself: ``top level``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier() and part.isascii() and len(part) <= _SHORT:
            text += f".{part}" if text else part
        else:
            text += f"[{quote(part)}]"
    return text or "top level"


def quote(text: str) -> str:
    """A string as JSON would quote it, cut when long, on one printable line."""
    if len(text) > _SHORT:
        text = text[: _SHORT - 1] + "…"
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in quoted)


def short(value: Any) -> str:
    """``repr`` of a value for a message: cut when long (a list of a million items, an
    integer of 400 digits), never more than one line."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        digits = math.floor(value.bit_length() * math.log10(2)) + 1
        sign = "a negative" if value < 0 else "an"
        return f"{sign} integer of about {digits:,} digits"
    if isinstance(value, list | dict):
        kind = "array" if isinstance(value, list) else "object"
        if len(value) > 8 or _deep(value):
            return f"an {kind} of {len(value):,} item{'s' if len(value) != 1 else ''}"
    text = repr(value)
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"


def _deep(value: list[Any] | Mapping[str, Any]) -> bool:
    items = value.values() if isinstance(value, Mapping) else value
    return any(isinstance(item, list | dict) and item for item in items)


def message(error: ValidationError) -> str:
    """jsonschema's message with the offending value shortened."""
    text = error.message
    instance = error.instance
    full = _safe_repr(instance)
    if full is not None and full in text and len(full) > _SHORT:
        text = text.replace(full, short(instance), 1)
    elif full is None:
        text = f"{short(instance)}: {error.validator} {short(error.validator_value)}"
    text = _one_line(text)
    if len(text) > _LONGEST_MESSAGE:
        text = text[: _LONGEST_MESSAGE - 1] + "…"
    return text


def _safe_repr(value: Any) -> str | None:
    try:
        return repr(value)
    except ValueError:  # an integer past the digit limit of int → str
        return None


def _one_line(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in " ".join(text.split()))


def _os_cause(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _size(nbytes: int) -> str:
    if nbytes >= MiB and nbytes % MiB == 0:
        return f"{nbytes // MiB:,} MiB ({nbytes:,} bytes)"
    return f"{nbytes:,} bytes"
