"""What the runtime measured, set beside what was derived, and explained in every language.

The collect stage records structured facts (``MemoryNote``: a fused op, a workspace, an
output that reuses another layer's buffer...); this module turns them into sentences.
"""

from __future__ import annotations

from reportgen.facts import MemoryMeasurement, MemoryNote, ProfileMeasurement
from reportgen.i18n import ByteCount
from reportgen.model import Prose, msg, sentences


def _b(value: int | None) -> ByteCount:
    return ByteCount(value)


def _owned(note: MemoryNote) -> Prose:
    """A reused buffer's sentence: whose buffer it is (a layer's, or a fed one)."""
    nbytes = _b(note.nbytes)
    if note.kind == "view":
        if note.owner_layer:
            return msg(
                "%(op_type)s only reinterprets its input: the output reuses layer %(owner)s's "
                "buffer (%(bytes)s), so no new memory is allocated.",
                op_type=note.op_type or "?",
                owner=note.owner_layer,
                bytes=nbytes,
            )
        return msg(
            "%(op_type)s only reinterprets its input: the output reuses a fed buffer "
            "(%(bytes)s), so no new memory is allocated.",
            op_type=note.op_type or "?",
            bytes=nbytes,
        )
    if note.owner_layer:
        return msg(
            "%(op_type)s computed in place: its output overwrote layer %(owner)s's buffer "
            "(%(bytes)s), so no new memory is allocated.",
            op_type=note.op_type or "?",
            owner=note.owner_layer,
            bytes=nbytes,
        )
    return msg(
        "%(op_type)s computed in place: its output overwrote a fed buffer (%(bytes)s), so no "
        "new memory is allocated.",
        op_type=note.op_type or "?",
        bytes=nbytes,
    )


def note_text(note: MemoryNote) -> Prose:
    """One sentence per structured remark."""
    kind = note.kind
    op_type = note.op_type or "?"
    if kind == "fed_input":
        return msg(
            "The input batch (%(bytes)s) is fed from outside the graph, so no op allocates it "
            "during the forward pass.",
            bytes=_b(note.nbytes),
        )
    if kind == "no_op":
        return msg(
            "The layer runs no op of its own at inference: it passes its input tensor "
            "through unchanged (Dropout does nothing when not training)."
        )
    if kind == "not_run":
        return msg(
            "The op that produces the output (%(op)s) did not run under that name: "
            "TensorFlow's graph optimizer removed it or merged it into another op.",
            op=note.op or "?",
        )
    if kind in ("view", "in_place"):
        return _owned(note)
    if kind == "in_place_same_layer":
        return msg(
            "%(op_type)s computed in place, in the buffer that %(owner_op_type)s allocated in "
            "this layer.",
            op_type=op_type,
            owner_op_type=note.owner_op_type or "?",
        )
    if kind == "padding":
        return msg(
            "The allocation holds %(bytes)s for %(expected)s of output elements.",
            bytes=_b(note.nbytes),
            expected=_b(note.expected_bytes),
        )
    if kind == "fused":
        return msg(
            "%(ops)s ran as one fused op, %(op_type)s: no separate buffer holds the "
            "intermediate results.",
            ops=" + ".join(note.fused_ops),
            op_type=op_type,
        )
    if kind == "workspace":
        return msg(
            "%(op_type)s also allocates a workspace output of %(bytes)s (where each result "
            "came from, kept for the backward pass); it is not part of the layer's output and "
            "not counted here.",
            op_type=op_type,
            bytes=_b(note.nbytes),
        )
    if kind == "other_outputs":
        return msg(
            "%(op_type)s also allocates further outputs of %(bytes)s, not counted here.",
            op_type=op_type,
            bytes=_b(note.nbytes),
        )
    if kind == "scratch":
        return msg(
            "%(op_type)s also used %(bytes)s of temporary scratch memory while it ran.",
            op_type=op_type,
            bytes=_b(note.nbytes),
        )
    if kind == "moved":
        return msg(
            "TensorFlow's optimizer moved this layer's last op, %(op_type)s (%(op)s), into "
            "layer %(owner)s, where it runs on fewer values (max pooling commutes with a "
            "monotonic function such as ReLU); the figure is this layer's output before that "
            "op.",
            op_type=op_type,
            op=note.op or "?",
            owner=note.owner_layer or "?",
        )
    if kind == "multiple_outputs":
        return msg(
            "The layer has %(count)s output tensors; their allocations are summed.",
            count=note.count if note.count is not None else "?",
        )
    if kind == "shared_calls":
        return msg(
            "The layer is called %(count)s times; these are the bytes of its first call.",
            count=note.count if note.count is not None else "?",
        )
    return msg("Runtime remark: %(kind)s.", kind=kind)


def measured_memory(
    name: str, derived: int | None, memory: MemoryMeasurement | None
) -> tuple[int | None, Prose | None]:
    """The allocator's bytes for this layer's output, and why they are what they are."""
    if memory is None:
        return None, None
    if name not in memory.layer_bytes:
        return None, msg("The runtime measurement has no record for this layer.")
    measured = memory.layer_bytes[name]
    first: Prose | None = None
    if measured is not None and derived is not None:
        if measured == derived:
            first = msg(
                "The TensorFlow allocator recorded %(bytes)s for this output: exactly the "
                "derived figure.",
                bytes=_b(measured),
            )
        elif measured > derived:
            first = msg(
                "The TensorFlow allocator recorded %(bytes)s, %(difference)s more than the "
                "derived %(derived)s.",
                bytes=_b(measured),
                difference=_b(measured - derived),
                derived=_b(derived),
            )
        else:
            first = msg(
                "The TensorFlow allocator recorded %(bytes)s, %(difference)s less than the "
                "derived %(derived)s.",
                bytes=_b(measured),
                difference=_b(derived - measured),
                derived=_b(derived),
            )
    elif measured is None:
        first = msg("The runtime allocated no new memory for this layer's output.")
    notes = [note_text(note) for note in memory.layer_notes.get(name, ())]
    return measured, sentences(first, *notes)


def layer_time(name: str, profile: ProfileMeasurement | None) -> float | None:
    """Median over the profiled steps of the summed time of the layer's ops (µs)."""
    if profile is None:
        return None
    return profile.layer_time_us.get(name)
