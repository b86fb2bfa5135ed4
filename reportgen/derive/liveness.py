"""Peak activation memory of inference, by liveness, and the measured peak beside it.

A layer's output (the model input included) is *live* from the moment its producer runs
until its last consumer has run, in the model's execution order. While a layer runs, the
bytes live are its inputs, its own output and every output still waiting for a later
consumer; the most of them at any step is the peak a runtime that frees each tensor after
its last use must hold at once. For the MNIST LeNet at batch 1: 125,440 B while ``pool1``
runs (conv1's 100,352 B output, read by pool1, and pool1's own 25,088 B).

Execution order is the rows' order, except that a composite block (a layer made of
sub-layers) runs its sub-layers first: its own output, and its own reading of its inputs
(a residual addition), happen when its last sub-layer is done. A composite whose output is
one of its sub-layers' (``output_of``) is that one tensor. A sub-layer's output that no
row reads is read by its block's own operations (it stays live until the block ends); a
top-level output that no row reads is a model output (live until the pass ends).

A tensor a block makes with its own operations (``LayerFacts.internal_tensors``: the residual
stream ``x + attention(x)``, the attention mask it builds) is no row's output: the block may
write it a little before its first reader, while no sub-layer runs, so it is counted from
the step of its first reader (it must exist then) until its last reader, or until the block
ends when the block's own operations read it afterwards (the closing residual addition).
Where the collector could not tell whether they do (a call recorded eagerly), it is kept
until the block ends: an upper bound on its range, never a shorter one. Its bytes are its
shape's, the batch axis at the batch size, times its dtype's size.

Who reads what comes from ``LayerFacts.inbound``. Where the collector could not tell (facts
written before it, a sub-layer fed by a block's input whose row is not known), or a layer
is shared (each call writes its own output at its own time), the peak is unknown and says
why: it is never guessed.

The measured peak comes from the traced run's allocator records
(``MemoryMeasurement.timeline``: bytes in use after each allocation, in time order, and
``allocator_peak_bytes``); the structured notes of the collect stage say why it differs
(:func:`peak_differences`). Pure Python; no TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reportgen.derive.subclassed import is_not_called, is_own_weights
from reportgen.facts import InternalTensor, LayerFacts, MemoryMeasurement, ModelFacts
from reportgen.i18n import ByteCount, ByteSize, Names
from reportgen.model import LiveStep, PeakDifference, PeakMemory, Prose, msg, sentences
from reportgen.units import dtype_bytes

MAX_NAMES = 5


@dataclass(frozen=True)
class Tensor:
    """One output tensor: the row that writes it, and when it is written and last read."""

    row: str
    """The row that writes it, or the name of a block's own tensor (``<block>#<n>``)."""
    produced: int
    """Step at which it is written."""
    last_use: int
    """Step after which no layer reads it."""


@dataclass(frozen=True)
class Schedule:
    """The rows that run, in execution order, and every tensor's live range in steps."""

    order: tuple[str, ...]
    tensors: tuple[Tensor, ...]

    def live_bytes(self, sizes: Mapping[str, int | None]) -> tuple[int | None, ...]:
        """Bytes live at each step, for the output bytes ``sizes`` (by row); None at a step
        where a live tensor's size is unknown."""
        live: list[int | None] = [0] * len(self.order)
        for tensor in self.tensors:
            size = sizes.get(tensor.row)
            for step in range(tensor.produced, tensor.last_use + 1):
                current = live[step]
                live[step] = None if size is None or current is None else current + size
        return tuple(live)

    def live_at(self, step: int) -> tuple[str, ...]:
        """The rows whose outputs are live at ``step``."""
        return tuple(t.row for t in self.tensors if t.produced <= step <= t.last_use)


def _runs(layer: LayerFacts) -> bool:
    return not (is_own_weights(layer) or is_not_called(layer))


def _execution_order(layers: tuple[LayerFacts, ...]) -> list[str]:
    """Row names in the order they finish: a composite after its sub-layers."""
    blocks = {layer.name: layer.block for layer in layers}
    order: list[str] = []
    open_blocks: list[str] = []
    for layer in layers:
        ancestors = set()
        block = layer.block
        while block is not None and block not in ancestors:
            ancestors.add(block)
            block = blocks.get(block)
        while open_blocks and open_blocks[-1] not in ancestors:
            order.append(open_blocks.pop())  # this row is past the block: it is done
        if not _runs(layer):
            continue
        if layer.composite:
            open_blocks.append(layer.name)
        else:
            order.append(layer.name)
    order.extend(reversed(open_blocks))
    return order


def schedule(layers: tuple[LayerFacts, ...]) -> Schedule | Prose:
    """The execution order and live ranges; a sentence instead when who reads what is not
    known for every row that runs."""
    running = [layer for layer in layers if _runs(layer)]
    unknown = tuple(
        layer.name
        for layer in running
        if layer.inbound is None and layer.class_name != "InputLayer"
    )
    if unknown:
        return msg(
            "The collected facts do not say which outputs %(layers)s read, so the peak "
            "cannot be derived (it is not guessed).",
            layers=Names(unknown, MAX_NAMES),
        )
    shared = tuple(layer.name for layer in running if layer.calls > 1)
    if shared:
        return msg(
            "%(layers)s is shared: each call writes an output of its own at its own time, "
            "which the liveness of one output per layer does not describe, so the peak is "
            "not derived.",
            layers=Names(shared, MAX_NAMES),
        )
    by_name = {layer.name: layer for layer in running}
    order = _execution_order(layers)
    step = {name: i for i, name in enumerate(order)}
    end = len(order) - 1

    def canonical(name: str) -> str:
        """The row that writes the tensor ``name`` stands for (a block's output that is a
        sub-layer's is that sub-layer's)."""
        seen: set[str] = set()
        while name in by_name and by_name[name].output_of and name not in seen:
            seen.add(name)
            name = by_name[name].output_of or name
        return name

    def returned_by(name: str) -> str:
        """The outermost block that hands the tensor on as its own output, or itself."""
        layer = by_name[name]
        while layer.block in by_name and by_name[layer.block].output_of == layer.name:
            layer = by_name[layer.block]
        return layer.name

    last: dict[str, int] = {}
    for layer in running:
        for source in layer.inbound or ():
            tensor = canonical(source)
            if tensor in step:
                last[tensor] = max(last.get(tensor, -1), step[layer.name])
    tensors = []
    for name in order:
        layer = by_name[name]
        if layer.composite and layer.output_of:
            continue  # its tensor is its sub-layer's
        if name in last:
            until = last[name]
        else:
            # No row reads it: its block's own operations do (it is live until the block
            # ends), or, outside every block, it is a model output.
            outer = by_name[returned_by(name)]
            until = step.get(outer.block, end) if outer.block is not None else end
        tensors.append(Tensor(name, step[name], max(until, step[name])))
    tensors.extend(_block_tensors(running, step))
    return Schedule(tuple(order), tuple(tensors))


def _block_tensors(running: list[LayerFacts], step: Mapping[str, int]) -> list[Tensor]:
    """The live ranges of the tensors blocks make with their own operations: from their
    first reader's step to their last reader's, or to the block's own step (its end) when
    the block reads them afterwards or that is not known."""
    readers: dict[str, list[int]] = {}
    for layer in running:
        for source in layer.inbound or ():
            readers.setdefault(source, []).append(step[layer.name])
    found = []
    for block in running:
        for tensor in block.internal_tensors:
            steps = readers.get(tensor.name)
            if not steps or block.name not in step:
                continue  # read by no row that runs: never live
            until = max(steps) if tensor.read_by_block is False else step[block.name]
            found.append(Tensor(tensor.name, min(steps), max(until, max(steps))))
    return found


def internal_sizes(facts: ModelFacts) -> dict[str, int | None]:
    """Bytes of each tensor a block makes with its own operations, at the facts' batch
    size; None where a dimension other than the batch, or its dtype's size, is unknown."""
    return {
        tensor.name: _tensor_bytes(tensor, facts.batch_size)
        for layer in facts.layers
        for tensor in layer.internal_tensors
    }


def _tensor_bytes(tensor: InternalTensor, batch: int) -> int | None:
    width = dtype_bytes(tensor.dtype)
    dims = [batch if i == 0 and d is None else d for i, d in enumerate(tensor.shape)]
    if width is None or any(d is None for d in dims):
        return None
    return math.prod(int(d or 0) for d in dims) * width


# ---------------------------------------------------------------- the derived peak


@dataclass(frozen=True)
class Peak:
    bytes: int
    step: int
    layer: str
    live: tuple[str, ...]


def find_peak(plan: Schedule, sizes: Mapping[str, int | None]) -> Peak | None:
    """The first step with the most bytes live; None when a size is unknown."""
    live = plan.live_bytes(sizes)
    if not live or any(v is None for v in live):
        return None
    values = [v or 0 for v in live]
    top = max(values)
    step = values.index(top)
    return Peak(top, step, plan.order[step], plan.live_at(step))


TRAINING = msg(
    "Training keeps every layer's output from the forward pass until the backward pass has "
    "used it, so none is freed early: a training step holds the sum of all outputs (the "
    "training estimate below), not this peak."
)


def _explanation(peak: Peak, sizes: Mapping[str, int | None], batch: int) -> Prose:
    live = tuple(name for name in peak.live if sizes.get(name))
    return sentences(
        msg(
            "Each output is kept from the layer that writes it until the last layer that "
            "reads it has run; a runtime that frees it then holds at most %(bytes)s at once "
            "during inference at batch size %(batch)s.",
            bytes=ByteSize(peak.bytes),
            batch=batch,
        ),
        msg(
            "That peak is reached while %(layer)s runs, with the outputs of %(live)s live.",
            layer=peak.layer,
            live=Names(live, 8),
        ),
    )


def _unknown_sizes(plan: Schedule, sizes: Mapping[str, int | None]) -> Prose:
    missing = tuple(t.row for t in plan.tensors if sizes.get(t.row) is None)
    return msg(
        "The output size of %(layers)s cannot be derived, so the peak is unknown.",
        layers=Names(missing, MAX_NAMES),
    )


# ---------------------------------------------------------------- the measured peak


def measured_by_layer(memory: MemoryMeasurement | None) -> dict[str, int]:
    """Per row, the most bytes in use right after one of its ops allocated."""
    found: dict[str, int] = {}
    for point in (memory.timeline or ()) if memory is not None else ():
        if point.layer is not None:
            found[point.layer] = max(found.get(point.layer, 0), point.bytes_in_use)
    return found


def running_at_measured_peak(memory: MemoryMeasurement | None) -> tuple[str, ...]:
    """The rows whose allocations built up to the measured peak: walking back from the
    peak while the bytes in use only rose (nothing freed in between showed), in model order
    of their first such allocation. Ops of two rows may run at once (TensorFlow's inter-op
    threads), so the allocator's peak can be reached by a small output of one row while
    another row's kernel still holds its scratch; both are named here."""
    points = (memory.timeline or ()) if memory is not None else ()
    if not points:
        return ()
    top = max(range(len(points)), key=lambda i: points[i].bytes_in_use)  # first on a tie
    start = top
    while start > 0 and points[start - 1].bytes_in_use <= points[start].bytes_in_use:
        start -= 1
    rows = (p.layer for p in points[start : top + 1] if p.layer is not None)
    return tuple(dict.fromkeys(rows))


def _measured_peak(memory: MemoryMeasurement | None) -> tuple[int | None, str | None]:
    if memory is None:
        return None, None
    points = memory.timeline or ()
    if points:
        top = max(points, key=lambda p: p.bytes_in_use)  # the first on a tie
        return top.bytes_in_use, top.layer
    return memory.allocator_peak_bytes, None


def peak_differences(
    peak: Peak,
    sizes: Mapping[str, int | None],
    memory: MemoryMeasurement,
    measured: int,
    running: Sequence[str] = (),
) -> tuple[PeakDifference, ...]:
    """Why the measured peak differs from the derived one, from the collect stage's notes
    on the outputs live at the derived peak (and the scratch of the layer running then);
    what they leave is the remainder (``other``).

    The two peaks need not fall on the same layer: a kernel's scratch (oneDNN reorders a
    convolution's input and weights into buffers of its own) can make the allocator's peak
    come while an earlier layer runs. The scratch of the rows ``running`` then
    (:func:`running_at_measured_peak`) is part of the measured peak, and is named as such
    rather than left in the remainder."""
    found: list[PeakDifference] = []
    for name in peak.live:
        size = sizes.get(name) or 0
        for note in memory.layer_notes.get(name, ()):
            difference = _difference(note.kind, name, size, note.nbytes, note.expected_bytes)
            if difference is not None and (note.kind != "scratch" or name == peak.layer):
                found.append(difference)
    if peak.layer not in peak.live:  # a layer with no output of its own still has scratch
        for note in memory.layer_notes.get(peak.layer, ()):
            if note.kind == "scratch" and note.nbytes:
                found.append(_scratch(peak.layer, note.nbytes))
    for row in running:
        if row == peak.layer:  # its scratch is counted above
            continue
        for note in memory.layer_notes.get(row, ()):
            if note.kind == "scratch" and note.nbytes:
                found.append(_scratch_at_measured_peak(row, note.nbytes))
    found = _deduplicated(found)
    rest = measured - peak.bytes - sum(d.bytes for d in found)
    if rest:
        found.append(
            PeakDifference(
                "other",
                None,
                rest,
                msg(
                    "The remaining %(bytes)s are not explained by a recorded note: "
                    "intermediate results inside layers that no other layer reads, and "
                    "buffers still held from earlier ops, counted at the moment the "
                    "measured peak was reached.",
                    bytes=_signed(rest),
                ),
            )
        )
    return tuple(found)


def _signed(value: int) -> str:
    return f"+{value:,} B" if value > 0 else f"−{-value:,} B"


def _size(value: int) -> ByteCount:
    """A difference's size in its sentence, which says which way it goes."""
    return ByteCount(abs(value))


def _deduplicated(found: list[PeakDifference]) -> list[PeakDifference]:
    seen: set[tuple[str, str | None]] = set()
    kept = []
    for difference in found:
        key = (difference.kind, difference.layer)
        if difference.kind in {"fed_input", "no_op", "view", "not_run"} and key in seen:
            continue
        seen.add(key)
        kept.append(difference)
    return kept


def _scratch(layer: str, nbytes: int) -> PeakDifference:
    return PeakDifference(
        "scratch",
        layer,
        nbytes,
        msg(
            "%(layer)s's op used %(bytes)s of temporary memory while it ran: the measured "
            "peak includes it, the derived one counts only layer outputs.",
            layer=layer,
            bytes=_size(nbytes),
        ),
    )


def _scratch_at_measured_peak(layer: str, nbytes: int) -> PeakDifference:
    return PeakDifference(
        "scratch",
        layer,
        nbytes,
        msg(
            "%(layer)s's op still held %(bytes)s of temporary memory when the measured peak "
            "was reached: the measured peak includes it, the derived one counts only layer "
            "outputs.",
            layer=layer,
            bytes=_size(nbytes),
        ),
    )


def _difference(
    kind: str, layer: str, size: int, nbytes: int | None, expected: int | None
) -> PeakDifference | None:
    if kind == "fed_input" and size:
        return PeakDifference(
            kind,
            layer,
            -size,
            msg(
                "The input %(layer)s is fed from outside the graph: the session allocates it "
                "before the step, outside the allocator records of the ops, so the measured "
                "peak leaves out its %(bytes)s.",
                layer=layer,
                bytes=_size(-size),
            ),
        )
    if kind == "no_op" and size:
        return PeakDifference(
            kind,
            layer,
            -size,
            msg(
                "%(layer)s runs no op at inference: its output is its input, so the "
                "measured peak has no buffer for it (%(bytes)s).",
                layer=layer,
                bytes=_size(-size),
            ),
        )
    if kind in ("view", "in_place") and size:
        return PeakDifference(
            "view",
            layer,
            -size,
            msg(
                "The output of %(layer)s reuses the buffer of the tensor it was computed "
                "from (a view, or an op computed in place), so the measured peak holds one "
                "buffer where the derived one counts two (%(bytes)s).",
                layer=layer,
                bytes=_size(-size),
            ),
        )
    if kind == "not_run" and size:
        return PeakDifference(
            kind,
            layer,
            -size,
            msg(
                "The op writing the output of %(layer)s was fused into another by "
                "TensorFlow's optimizer and never ran on its own, so the measured peak has "
                "no buffer for it (%(bytes)s).",
                layer=layer,
                bytes=_size(-size),
            ),
        )
    if kind in ("workspace", "other_outputs") and nbytes:
        return PeakDifference(
            "workspace",
            layer,
            nbytes,
            msg(
                "The op of %(layer)s also wrote a second output that no layer reads (a "
                "oneDNN workspace, for example): %(bytes)s in the measured peak.",
                layer=layer,
                bytes=_size(nbytes),
            ),
        )
    if kind == "padding" and nbytes and expected is not None and nbytes != expected:
        return PeakDifference(
            kind,
            layer,
            nbytes - expected,
            msg(
                "The allocator rounded the output buffer of %(layer)s up for alignment: "
                "%(bytes)s in the measured peak.",
                layer=layer,
                bytes=_size(nbytes - expected),
            ),
        )
    if kind == "scratch" and nbytes:
        return _scratch(layer, nbytes)
    return None


def _measured_note(facts: ModelFacts) -> Prose | None:
    if facts.memory is None:
        return msg("No traced run was recorded, so there is no measured peak.")
    if facts.memory.timeline is None:
        return msg(
            "These facts were collected before the allocator's timeline was recorded: the "
            "measured peak is the allocator's, without the bytes in use per layer."
        )
    return None


# ---------------------------------------------------------------- the whole


def derive_peak(facts: ModelFacts, sizes: Mapping[str, int | None]) -> PeakMemory:
    """The derived peak and timeline of inference, and the measured peak beside them.

    ``sizes`` are the rows' derived output bytes (a composite with ``output_of``: 0); the
    blocks' own tensors are sized here (:func:`internal_sizes`)."""
    sizes = {**internal_sizes(facts), **sizes}
    measured, measured_layer = _measured_peak(facts.memory)
    by_layer = measured_by_layer(facts.memory)
    note = _measured_note(facts)
    plan = schedule(facts.layers)
    if not isinstance(plan, Schedule):
        return PeakMemory(None, None, (), (), plan, TRAINING, measured, measured_layer, (), note)
    live = plan.live_bytes(sizes)
    steps = tuple(
        LiveStep(name, value, by_layer.get(name))
        for name, value in zip(plan.order, live, strict=True)
    )
    peak = find_peak(plan, sizes)
    if peak is None:
        return PeakMemory(
            None,
            None,
            (),
            steps,
            _unknown_sizes(plan, sizes),
            TRAINING,
            measured,
            measured_layer,
            (),
            note,
        )
    differences: tuple[PeakDifference, ...] = ()
    if facts.memory is not None and measured is not None:
        running = running_at_measured_peak(facts.memory)
        differences = peak_differences(peak, sizes, facts.memory, measured, running)
    return PeakMemory(
        bytes=peak.bytes,
        layer=peak.layer,
        live_layers=peak.live,
        steps=steps,
        explanation=_explanation(peak, sizes, facts.batch_size),
        training=TRAINING,
        measured_bytes=measured,
        measured_layer=measured_layer,
        differences=differences,
        measured_note=note,
    )
