"""What fits: inference and training memory over batch sizes, and the largest batch that
fits in common memory sizes (and in the model's ``memory_budget_gib``).

Every layer output is the batch size times the bytes of one example (the derived formula
is ``b × Π dims × bytes``), so activations grow exactly linearly with the batch, and so
does the liveness peak: the same outputs are live at every step, each ``b`` times larger.
A decoder's key/value cache at the configured length grows linearly too. The weights,
their gradients and the optimizer's state do not grow at all. So each total is
``fixed + b × per example``, and the largest batch that fits ``M`` bytes is
``⌊(M − fixed) / per example⌋``: exact, without re-running anything.

Inference holds the weights, the activation peak (where it is known; else the sum of
every output, an upper bound, and the page says so) and a decoder's cache. Training holds
the weights, a gradient for each trainable one, the optimizer's state and every output,
kept for the backward pass (:mod:`reportgen.derive.training`).

Pure Python; no TensorFlow.
"""

from __future__ import annotations

from reportgen.derive.decoder import caching_layers, configured_length, kv_expr
from reportgen.expr import evaluate
from reportgen.facts import ModelFacts
from reportgen.i18n import ByteSize
from reportgen.model import (
    MemoryFit,
    MemoryScaling,
    PeakMemory,
    Prose,
    ScalingRow,
    TrainingMemory,
    msg,
    sentences,
)

GiB = 1024**3
BATCH_SIZES = tuple(2**k for k in range(11))
"""1, 2, 4 … 1024."""
MEMORY_SIZES_GIB = (8, 16, 24, 40, 80)
"""Common accelerator memory sizes, the chart's horizontal lines."""


def _per_example(value: int | None, batch: int) -> int | None:
    """Bytes of one example, when ``value`` is ``batch`` of them exactly."""
    if value is None or value % batch:
        return None
    return value // batch


def _kv_per_example(facts: ModelFacts) -> tuple[int | None, int | None, bool]:
    """(cache bytes of one sequence at the configured length, that length, is a decoder)."""
    caches = caching_layers(facts)
    if not caches:
        return 0, None, False
    length = configured_length(facts, caches)
    if length is None or any(c.heads is None or c.width is None for c in caches):
        return None, length, True
    return evaluate(kv_expr(caches, length, 1)), length, True


def largest_batch(memory: int, fixed: int | None, per_example: int | None) -> int | None:
    """The largest batch whose ``fixed + b × per_example`` fits ``memory`` bytes (0: not
    even one); None when a part is unknown or nothing grows with the batch."""
    if fixed is None or per_example is None or per_example <= 0:
        return None
    return max(0, (memory - fixed) // per_example)


def _fit(
    gib: float,
    budget: bool,
    inference: tuple[int, int | None],
    training: tuple[int | None, int | None],
) -> MemoryFit:
    memory = int(gib * GiB)
    infer = largest_batch(memory, *inference)
    train = largest_batch(memory, *training)
    size = ByteSize(memory)
    if infer is None or train is None:
        said: Prose = msg(
            "In %(memory)s: the largest batch cannot be derived, as a part of the memory is "
            "unknown.",
            memory=size,
        )
    elif infer == 0 and train == 0:
        said = msg(
            "In %(memory)s: not even one example fits, for inference or for training.",
            memory=size,
        )
    elif train == 0:
        said = msg(
            "In %(memory)s: inference fits up to batch size %(inference)s; training does not "
            "fit even one example.",
            memory=size,
            inference=infer,
        )
    else:
        said = msg(
            "In %(memory)s: inference fits up to batch size %(inference)s, training up to "
            "batch size %(training)s.",
            memory=size,
            inference=infer,
            training=train,
        )
    return MemoryFit(memory, float(gib), budget, infer, train, said)


def derive_scaling(
    facts: ModelFacts,
    param_bytes: int,
    peak: PeakMemory | None,
    activation_sum: int | None,
    training: TrainingMemory | None,
) -> MemoryScaling:
    """Memory over batch sizes 1 … 1024 and the largest batch that fits each size."""
    batch = facts.batch_size
    basis = "peak" if peak is not None and peak.bytes is not None else "sum"
    acts = peak.bytes if peak is not None and basis == "peak" else activation_sum
    acts_each = _per_example(acts, batch)
    kv_each, length, decoder = _kv_per_example(facts)
    infer_each = None if acts_each is None or kv_each is None else acts_each + kv_each
    fixed_training: int | None = None
    train_each: int | None = None
    if training is not None and training.total.value is not None:
        kept = training.part("activations").bytes.value
        train_each = _per_example(kept, batch)
        fixed_training = training.total.value - (kept or 0)
    rows = tuple(
        ScalingRow(
            batch_size=b,
            activation_bytes=None if acts_each is None else acts_each * b,
            kv_cache_bytes=(None if kv_each is None else kv_each * b) if decoder else None,
            inference_bytes=None if infer_each is None else param_bytes + infer_each * b,
            training_activation_bytes=None if train_each is None else train_each * b,
            training_bytes=(
                None
                if train_each is None or fixed_training is None
                else fixed_training + train_each * b
            ),
            configured=b == batch,
        )
        for b in sorted({*BATCH_SIZES, batch})
    )
    sizes = [(float(g), False) for g in MEMORY_SIZES_GIB]
    if facts.memory_budget_gib is not None:
        sizes.append((facts.memory_budget_gib, True))
    fits = tuple(
        _fit(gib, budget, (param_bytes, infer_each), (fixed_training, train_each))
        for gib, budget in sorted(sizes, key=lambda item: (item[0], item[1]))
    )
    return MemoryScaling(
        basis=basis,
        sequence_length=length,
        rows=rows,
        fits=fits,
        explanation=_explanation(basis, decoder, length),
        inference_fixed=param_bytes,
        inference_per_example=infer_each,
        training_fixed=fixed_training,
        training_per_example=train_each,
    )


def _explanation(basis: str, decoder: bool, length: int | None) -> Prose:
    linear = msg(
        "Every layer output holds the batch size times one example's values, so the "
        "activations grow exactly linearly with the batch, while the weights, their "
        "gradients and the optimizer's state stay the same: each total is a fixed part plus "
        "the batch size times the bytes of one example, and the largest batch that fits is "
        "exact, computed from the formulas without running the model again."
    )
    inference = (
        msg(
            "Inference holds the weights and the activation peak (the most outputs live at "
            "once); training holds the weights, their gradients, the optimizer's state and "
            "every output, kept for the backward pass."
        )
        if basis == "peak"
        else msg(
            "The activation peak is unknown, so inference is counted with the sum of every "
            "output, an upper bound; training holds the weights, their gradients, the "
            "optimizer's state and every output, kept for the backward pass."
        )
    )
    cache = (
        msg(
            "Inference also holds the key/value cache of every sequence, at the configured "
            "length of %(length)s tokens; the decoder table gives other lengths.",
            length=length,
        )
        if decoder and length is not None
        else None
    )
    return sentences(
        linear,
        inference,
        cache,
        msg(
            "The sizes are what the model needs, not what a framework adds on top (its own "
            "runtime, kernels' workspace, the allocator's rounding and fragmentation)."
        ),
    )
