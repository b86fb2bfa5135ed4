"""The collect stage's notes (:class:`reportgen.facts.CollectNote`) as sentences.

The collect stage writes a key and values; this module says them in each language. Files
collected before notes had keys hold English sentences instead: those a collector wrote
are recognised and said the same way; any other is shown as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from reportgen.facts import CollectNote, NoteValue
from reportgen.i18n import Names
from reportgen.model import Prose, Text, msg

MAX_UNUSED = 3
"""Unused weights a note names; an ellipsis stands for more."""


def _text(values: dict[str, NoteValue], key: str) -> str:
    value = values.get(key, "")
    return value if isinstance(value, str) else str(value)


def _names(values: dict[str, NoteValue], key: str) -> tuple[str, ...]:
    value = values.get(key, [])
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def _graph_origin(values: dict[str, NoteValue]) -> Prose:
    if _text(values, "kind") == "frozen graph":
        return msg(
            "This model is a frozen TensorFlow graph (.pb), not a Keras model: each layer is a "
            "top-level name scope of the graph, and the reference parameter count that each "
            "formula is checked against is the summed size of the variables (in a frozen "
            "graph: the constants) that the scope's ops use."
        )
    return msg(
        "This model is not a Keras model but a plain TensorFlow graph, traced from its "
        "tf.function: each layer is a top-level name scope of the graph, and the reference "
        "parameter count that each formula is checked against is the summed size of the "
        "variables (in a frozen graph: the constants) that the scope's ops use."
    )


def _frozen_constants(values: dict[str, NoteValue]) -> Prose:
    return msg(
        "A frozen graph does not record which constants were trainable weights; every "
        "floating-point constant of rank ≥ 1 is counted as a trainable parameter, except the "
        "moving mean and variance of a recognised batch normalisation."
    )


def _unused_weights(values: dict[str, NoteValue]) -> Prose:
    names = _names(values, "names")
    count = values.get("count")
    count = count if isinstance(count, int) else len(names)
    shown = Names(names, MAX_UNUSED, count)
    if count == 1:
        return msg(
            "1 weight tensor of the graph is not used by the forward pass and is not counted "
            "(%(names)s).",
            names=shown,
        )
    return msg(
        "%(count)s weight tensors of the graph are not used by the forward pass and are not "
        "counted (%(names)s).",
        count=count,
        names=shown,
    )


def _loop_flops(values: dict[str, NoteValue]) -> Prose:
    layers = _names(values, "layers")
    if len(layers) == 1:
        return msg(
            "TensorFlow's FLOPs profiler does not look inside While loops, so its count leaves "
            "out the work done in the loop of %(layer)s (a recurrent layer runs its cell there "
            "once per time step); the derived figure counts it.",
            layer=layers[0],
        )
    return msg(
        "TensorFlow's FLOPs profiler does not look inside While loops, so its count leaves "
        "out the work done in the loops of %(layers)s (a recurrent layer runs its cell there "
        "once per time step); the derived figure counts it.",
        layers=layers,
    )


def _memory_not_measured(values: dict[str, NoteValue]) -> Prose:
    return msg(
        "runtime memory and FLOPs were not measured: %(error)s", error=_text(values, "error")
    )


def _profiler_failed(values: dict[str, NoteValue]) -> Prose:
    return msg("the profiler did not run: %(error)s", error=_text(values, "error"))


SENTENCES: dict[str, Callable[[dict[str, NoteValue]], Prose]] = {
    "graph_origin": _graph_origin,
    "frozen_constants": _frozen_constants,
    "unused_weights": _unused_weights,
    "loop_flops": _loop_flops,
    "memory_not_measured": _memory_not_measured,
    "profiler_failed": _profiler_failed,
}
"""Each key the collect stage writes, and how its note is said."""


def _values(values: dict[str, NoteValue]) -> str:
    return "; ".join(
        f"{name}: {', '.join(value) if isinstance(value, list) else value}"
        for name, value in sorted(values.items())
    )


def note_text(note: str | CollectNote) -> Prose:
    """One note of the collect stage, in each language."""
    if isinstance(note, str):
        note = legacy_note(note) or note
        if isinstance(note, str):
            return Text(note, note)  # written by a collector this reportgen does not know
    say = SENTENCES.get(note.key)
    if say is not None:
        return say(note.values)
    if not note.values:
        return msg(
            "A note of the collect stage that this reportgen does not know: %(key)s.", key=note.key
        )
    return msg(
        "A note of the collect stage that this reportgen does not know: %(key)s (%(values)s).",
        key=note.key,
        values=_values(note.values),
    )


_LEGACY: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], CollectNote]], ...] = (
    (
        re.compile(r"This model is not a Keras model but a plain TensorFlow graph, traced .*"),
        lambda m: CollectNote("graph_origin", {"kind": "tf.function"}),
    ),
    (
        re.compile(r"This model is a frozen TensorFlow graph \(\.pb\), not a Keras model: .*"),
        lambda m: CollectNote("graph_origin", {"kind": "frozen graph"}),
    ),
    (
        re.compile(r"A frozen graph does not record which constants were trainable weights; .*"),
        lambda m: CollectNote("frozen_constants"),
    ),
    (
        re.compile(
            r"(\d+) weight tensor\(s\) of the graph are not used by the forward pass and are "
            r"not counted \((.*?)(, …)?\)\."
        ),
        lambda m: CollectNote(
            "unused_weights", {"count": int(m.group(1)), "names": m.group(2).split(", ")}
        ),
    ),
    (
        re.compile(
            r"TensorFlow's FLOPs profiler does not look inside While loops, so its count leaves "
            r"out the work done in the loop of (.*) \(a recurrent layer runs its cell there "
            r"once per time step\); the derived figure counts it\."
        ),
        lambda m: CollectNote("loop_flops", {"layers": m.group(1).split(", ")}),
    ),
    (
        re.compile(r"runtime memory and FLOPs were not measured: (.*)", re.DOTALL),
        lambda m: CollectNote("memory_not_measured", {"error": m.group(1)}),
    ),
    (
        re.compile(r"the profiler did not run: (.*)", re.DOTALL),
        lambda m: CollectNote("profiler_failed", {"error": m.group(1)}),
    ),
)
"""The English sentences collectors wrote before notes had keys, as the notes they are."""


def legacy_note(text: str) -> CollectNote | None:
    """The note an older collector's English sentence stands for, or None."""
    for pattern, note in _LEGACY:
        match = pattern.fullmatch(text)
        if match is not None:
            return note(match)
    return None
