"""The report model: frozen dataclasses, the only thing templates and the JSON writer see.

Everything here is computed by ``reportgen.derive`` from collected facts; templates only
choose what to show and format it, they do no arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from reportgen.budget import BudgetReport
from reportgen.expr import Formula
from reportgen.facts import Shape
from reportgen.i18n import ByteCount, ByteSize, Names, fill, format_value, join_sentences, translate

if TYPE_CHECKING:  # (reportgen.history imports this module)
    from reportgen.history import ModelHistory

LANGUAGES = ("en", "zh")
"""Site languages, in the order the pages list them. ``zh`` is Simplified Chinese."""


@dataclass(frozen=True)
class Text:
    """A sentence written out in each site language (prose specific to one formula).

    Sentences that recur (reasons, notes, assumptions) are :class:`Msg` instead: one
    English text, translated through the catalog.
    """

    en: str
    zh: str

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


Arg = Union[int, float, str, ByteCount, ByteSize, Names, tuple[str, ...], "Prose"]
"""A value for a :class:`Msg` field: numbers, byte counts and lists are formatted for the
page's language (:mod:`reportgen.i18n`), sentences (:data:`Prose`) are put in that language."""


class _InEachLanguage:
    """``en`` and ``zh`` for a sentence that is put into a language by ``get(lang)``."""

    def get(self, lang: str) -> str:
        raise NotImplementedError

    @property
    def en(self) -> str:
        return self.get("en")

    @property
    def zh(self) -> str:
        return self.get("zh")


@dataclass(frozen=True)
class Msg(_InEachLanguage):
    """A sentence from the translation catalog (``locales/*/LC_MESSAGES/messages.po``).

    ``msgid`` is the English sentence with ``%(name)s`` fields; ``args`` are the fields'
    values, as plain data. The page's language picks the translation and formats each
    value (:func:`reportgen.i18n.format_value`): derive states what it found, render says
    it in the reader's language. Make one with :func:`msg`, which the catalog extractor
    (``python -m reportgen.render.catalog``) finds in the source.
    """

    msgid: str
    args: tuple[tuple[str, Arg], ...] = ()

    def get(self, lang: str) -> str:
        template = translate(lang, self.msgid)
        if not self.args:
            return template
        return fill(template, {name: format_value(value, lang) for name, value in self.args}, lang)


def msg(msgid: str, /, **args: Arg) -> Msg:
    """A catalog sentence; ``msgid`` must be a string literal so the extractor sees it."""
    return Msg(msgid, tuple(sorted(args.items())))


@dataclass(frozen=True)
class Paragraph(_InEachLanguage):
    """Sentences said one after another; each language joins them its own way
    (:func:`reportgen.i18n.join_sentences`), so none of them is glued to the next."""

    sentences: tuple[Prose, ...]

    def get(self, lang: str) -> str:
        return join_sentences((s.get(lang) for s in self.sentences), lang)


def sentences(*said: Prose | None) -> Prose:
    """The sentences given (None: left out) as one :class:`Paragraph`; one sentence as is."""
    present = tuple(s for s in said if s is not None)
    return present[0] if len(present) == 1 else Paragraph(present)


Prose = Text | Msg | Paragraph
"""What a page shows: sentences written out per language, from the catalog, or several."""


@dataclass(frozen=True)
class Derivation:
    """How a number was obtained.

    ``method`` is ``"formula"`` (a layer-specific formula), ``"zero"`` (the layer has no
    weights, ``explanation`` says why), ``"generic"`` (Σ of the weights' shapes, for a
    layer without a dedicated formula) or ``"unknown"`` (it cannot be derived; the
    explanation says what is missing).

    With a formula, ``value`` is the formula's value: :meth:`from_formula` computes it, and
    a value given beside a formula must be that one (a printed formula and a reported
    number that disagree would be the worst bug a report can have).
    """

    value: int | None
    method: str
    explanation: Prose
    formula: Formula | None = None

    def __post_init__(self) -> None:
        if self.formula is not None and self.value != self.formula.value:
            raise ValueError(
                f"a derivation's value {self.value!r} differs from its formula's "
                f"{self.formula.text!r}"
            )

    @classmethod
    def from_formula(
        cls, formula: Formula, explanation: Prose, method: str = "formula"
    ) -> Derivation:
        """The derivation whose value is ``formula``'s."""
        return cls(formula.value, method, explanation, formula)


@dataclass(frozen=True)
class LayerReport:
    index: int
    anchor: str
    name: str
    class_name: str
    output_shapes: tuple[Shape, ...]
    dtype: str
    params: Derivation
    keras_params: int
    trainable_params: int
    non_trainable_params: int
    activation: Derivation
    flops: Derivation | None = None
    """Derived floating-point operations of one forward pass (a multiply-add is two)."""
    measured_bytes: int | None = None
    """Bytes the TensorFlow allocator recorded for the output; None when none was allocated."""
    measured_note: Prose | None = None
    """How the measured bytes came about, and why they differ from the derived ones."""
    measured_flops: int | None = None
    """TensorFlow's profiler float-op count for this layer's ops."""
    time_us: float | None = None
    """Median time of the layer's ops over the profiled steps, in microseconds."""
    parent: str | None = None
    """The nested model(s) this layer belongs to, outermost first, joined by ``/``
    (``"encoder"``, ``"encoder/block1"``); None for a layer of the model itself."""
    calls: int = 1
    """How many times the model calls this layer; more than 1 means it is shared: its
    weights are counted once, its outputs and FLOPs once per call."""
    param_bytes: int = 0
    """Σ over the layer's weights of elements × bytes of each weight's own dtype."""
    variable_dtype: str = ""
    """The dtype the layer keeps its weights in (``float32`` under ``mixed_float16``)."""
    family: str = "other"
    """The family whose prose explains this kind of layer on the model page (``convolution``,
    ``pooling``…; ``other`` for a kind reportgen does not know), as the registry declares it
    (:mod:`reportgen.derive.layers`)."""
    block: str | None = None
    """The name of the composite row (a layer made of sub-layers) this row is a sub-layer
    of; None for a layer of the model (or of a nested model) itself."""
    composite: bool = False
    """A layer made of sub-layers: its ``params`` (and ``trainable_params``,
    ``non_trainable_params``, ``param_bytes``) are its whole block's, the sum of its
    sub-layers' rows and of the weights it owns directly; the model's totals count each
    weight once, on the row that owns it."""
    sub_layers: tuple[int, ...] = ()
    """For a composite row: the indices of its direct sub-layers' rows, in model order."""
    depth: int = 0
    """How many blocks this row sits inside (0: a layer of the model itself)."""
    config_note: Prose | None = None
    """Said when Keras could not give the layer's configuration (its ``get_config()``
    raised): the figures that need it are unknown."""
    inbound: tuple[str, ...] | None = None
    """The rows whose outputs this layer's (first) call reads, by ``name`` (a block's own
    tensor as ``<block>#<n>``), as collected (:attr:`reportgen.facts.LayerFacts.inbound`);
    ``()`` for an input, None when not recorded."""

    @property
    def params_match(self) -> bool:
        return self.params.value == self.keras_params

    @property
    def measured_bytes_match(self) -> bool:
        """The allocator recorded exactly the derived output bytes."""
        return self.measured_bytes is not None and self.measured_bytes == self.activation.value

    @property
    def measured_flops_match(self) -> bool:
        """TensorFlow's profiler counts exactly the derived FLOPs."""
        return (
            self.measured_flops is not None
            and self.flops is not None
            and self.measured_flops == self.flops.value
        )

    @property
    def other_output_shapes(self) -> tuple[Shape, ...]:
        """The shapes of every output after the first (a layer with several outputs)."""
        return self.output_shapes[1:]

    @property
    def shared(self) -> bool:
        """True when the model calls this layer more than once (weights counted once)."""
        return self.calls > 1

    @property
    def output_shape(self) -> Shape:
        """The first output's shape (the one a table row shows)."""
        return self.output_shapes[0] if self.output_shapes else ()

    @property
    def short_name(self) -> str:
        """The name within its block (``self_attention`` of ``transformer_layer_0``)."""
        prefix = f"{self.block}/"
        return (
            self.name[len(prefix) :] if self.block and self.name.startswith(prefix) else self.name
        )


@dataclass(frozen=True)
class Totals:
    params: int | None
    """Σ derived parameters over the rows; None when any row's count cannot be derived
    (``ModelReport.params_note`` says why): an unknown is never added up as zero."""
    trainable_params: int
    non_trainable_params: int
    param_bytes: int
    activation_bytes: int | None
    """Σ derived output bytes over every row (a composite's own output included); None
    when any row's cannot be derived (``ModelReport.activation_note`` says why)."""
    keras_params: int
    keras_trainable_params: int
    keras_non_trainable_params: int
    layers: int
    """Rows that are layers (the row of weights a subclassed model holds itself is not)."""
    flops: int | None = None
    """Σ derived FLOPs over the rows that have a FLOPs derivation; None when any of them
    cannot be derived (``ModelReport.flops_note`` says why)."""
    peak_activation_bytes: int | None = None
    """The most output bytes live at once during one inference forward pass, by liveness
    (:mod:`reportgen.derive.liveness`); None when it cannot be derived
    (``ModelReport.peak.explanation`` says why)."""
    peak_layer: str | None = None
    """The row that runs when the derived peak is reached (the first, on a tie)."""
    measured_peak_bytes: int | None = None
    """The most bytes the step's ops held at once, replaying the TensorFlow allocator's
    records of the traced run; None when nothing was measured."""

    @property
    def params_match(self) -> bool:
        return (
            self.params is not None
            and self.params == self.keras_params
            and self.trainable_params == self.keras_trainable_params
            and self.non_trainable_params == self.keras_non_trainable_params
        )


@dataclass(frozen=True)
class RuntimeMemory:
    """The forward pass as the TensorFlow allocator saw it."""

    method: str
    peak_bytes: int | None
    total_bytes: int | None
    measured_layers: int
    equal_layers: int


@dataclass(frozen=True)
class FlopsCheck:
    """Derived FLOPs of the whole model against TensorFlow's profiler count."""

    derived: int | None
    """The derived total; None when a layer's FLOPs cannot be derived (``unknown_layers``):
    a partial sum compared with the profiler's would compare unlike with unlike."""
    measured: int
    unknown_layers: tuple[str, ...]
    by_op_type: tuple[tuple[str, int], ...]

    @property
    def difference(self) -> int | None:
        return None if self.derived is None else self.derived - self.measured

    @property
    def relative_difference(self) -> float | None:
        difference = self.difference
        if difference is None:
            return None
        if not self.measured:
            return 0.0
        return abs(difference) / self.measured

    @property
    def agrees(self) -> bool:
        """Within 1 %, and no layer left underived."""
        relative = self.relative_difference
        return relative is not None and relative <= 0.01 and not self.unknown_layers


@dataclass(frozen=True)
class Profile:
    """The profiled forward passes and where their trace is published."""

    steps: int
    device: str
    step_time_us: float
    trace_href: str | None
    """Site-relative path of the Chrome-trace JSON (gzip), or None."""
    profile_href: str | None
    """Site-relative path of the raw profile directory (for TensorBoard / xprof)."""
    profile_zip_href: str | None
    timed_layers: int
    trace_source: str | None = None
    """Where the trace lies in the collected model directory (copied into the site)."""
    profile_source: str | None = None
    events_href: str | None = None
    """Site-relative path of the TensorBoard events file inside ``profile_href`` (the
    graph and the RunMetadata of the traced session run, tagged with the slug), or None."""
    events_source: str | None = None
    """Where the events file lies in the collected model directory (inside the profile)."""


@dataclass(frozen=True)
class TrainingPart:
    """One term of the training-memory estimate: its bytes, formula and why."""

    key: str
    """``parameters``, ``gradients``, ``optimizer_state`` or ``activations``."""
    label: Prose
    bytes: Derivation
    """Bytes, with a formula whose unit is ``B`` and a bilingual explanation."""


@dataclass(frozen=True)
class TrainingMemory:
    """What one training step must hold: weights, gradients, optimizer state, activations.

    An estimate from the collected facts, not a measurement: ``assumptions`` says what is
    assumed (the optimizer when the model was not compiled, that every layer output is
    kept for the backward pass, what is left out).
    """

    optimizer: str
    """Optimizer class name, e.g. ``Adam``."""
    optimizer_assumed: bool
    """True when the model was not compiled and the optimizer is the assumed default."""
    slots_per_weight: int | None
    """Optimizer state tensors kept per trainable weight (Adam 2, SGD with momentum 1,
    plain SGD 0); None for an optimizer reportgen does not know."""
    batch_size: int
    parts: tuple[TrainingPart, ...]
    total: Derivation
    """Σ of the parts, in bytes (None when a part cannot be derived)."""
    assumptions: tuple[Prose, ...]

    def part(self, key: str) -> TrainingPart:
        return next(p for p in self.parts if p.key == key)


MAX_LEFT_OUT = 5
"""Layers a FLOPs disagreement names; an ellipsis stands for more."""


@dataclass(frozen=True)
class Mismatch:
    """A derived number that disagrees with its reference: a sentence on the page in its
    language (:attr:`sentence`), one English line in the log and in ``data/<slug>.json``
    (:meth:`describe`), fatal in --strict."""

    layer: str
    """The layer's name, or ``(model)`` for a figure of the whole model."""
    quantity: str
    """``parameters`` (one layer's), ``parameters (model total)``, ``trainable parameters``,
    ``non-trainable parameters``, ``parameter total`` (the unknown one) or ``FLOPs``."""
    derived: int | None
    """None: the derived number is unknown (``detail`` says why), not a different one."""
    reference: int
    reference_name: Prose
    detail: str = ""
    """Why the number is unknown, in a few English words, for the log line; the page says
    it in full sentences (``ModelReport.params_note``)."""
    leaves_out: tuple[str, ...] = ()
    """Layers without a FLOPs formula, left out of a derived FLOPs total (the likely cause)."""

    @property
    def unknown(self) -> bool:
        """The number could not be derived at all (rather than derived and different)."""
        return self.derived is None

    def describe(self) -> str:
        reference_name = self.reference_name.en
        detail = self.detail
        if self.leaves_out:
            names = Names(self.leaves_out, MAX_LEFT_OUT)
            detail = "the derived total leaves out what has no FLOPs formula: " + format_value(
                names, "en"
            )
        if self.derived is None:
            why = f": {detail}" if detail else ""
            return (
                f"the derived {self.quantity} is unknown{why}; "
                f"{reference_name} counts {self.reference}"
            )
        text = (
            f"layer {self.layer!r}: derived {self.quantity} {self.derived} "
            f"!= {reference_name} {self.reference}"
        )
        return f"{text} ({detail})" if detail else text

    @property
    def sentence(self) -> Prose:
        """What the page says about the disagreement, in the page's language."""
        count, reference = self.reference, self.reference_name
        derived = self.derived
        if derived is None:  # only a total is ever unknown: an unknown layer is no mismatch
            return msg(
                "The derived parameter total is unknown; %(reference)s gives %(count)s.",
                reference=reference,
                count=count,
            )
        if self.quantity == "FLOPs":
            left_out = (
                msg(
                    "The derived total leaves out what has no FLOPs formula: %(layers)s.",
                    layers=Names(self.leaves_out, MAX_LEFT_OUT),
                )
                if self.leaves_out
                else None
            )
            return sentences(
                msg(
                    "The derived FLOPs total is %(derived)s; TensorFlow's profiler counts "
                    "%(count)s, more than 1%% away.",
                    derived=derived,
                    count=count,
                ),
                left_out,
            )
        if self.quantity == "trainable parameters":
            return msg(
                "The derived count of trainable parameters is %(derived)s; %(reference)s "
                "gives %(count)s.",
                derived=derived,
                reference=reference,
                count=count,
            )
        if self.quantity == "non-trainable parameters":
            return msg(
                "The derived count of non-trainable parameters is %(derived)s; %(reference)s "
                "gives %(count)s.",
                derived=derived,
                reference=reference,
                count=count,
            )
        if self.layer == "(model)":
            return msg(
                "The derived parameter total is %(derived)s; %(reference)s gives %(count)s.",
                derived=derived,
                reference=reference,
                count=count,
            )
        return msg(
            "Layer %(layer)s: the derived parameter count is %(derived)s; %(reference)s "
            "gives %(count)s.",
            layer=self.layer,
            derived=derived,
            reference=reference,
            count=count,
        )


KERAS_COUNT = msg("Keras count_params()")
"""The reference of a Keras model's parameter counts."""


@dataclass(frozen=True)
class ModelReport:
    slug: str
    title: Text
    source: str
    batch_size: int
    framework: dict[str, str]
    layers: tuple[LayerReport, ...]
    totals: Totals
    mismatches: tuple[Mismatch, ...]
    article: Text | None = None
    """The model's own article, as Markdown per language (rendered to HTML by render)."""
    runtime: RuntimeMemory | None = None
    flops: FlopsCheck | None = None
    profile: Profile | None = None
    notes: tuple[Prose, ...] = ()
    """What could not be measured, and why (the collect stage's notes, as sentences)."""
    reference: Prose = KERAS_COUNT
    """What each derived parameter count is checked against."""
    training: TrainingMemory | None = None
    """Estimated memory of one training step (weights, gradients, optimizer, activations)."""
    params_note: Prose | None = None
    """Why the derived parameter total is unknown (``totals.params`` is None), in each
    language; None when every count was derived."""
    activation_note: Prose | None = None
    """Why the derived output-memory total is unknown (``totals.activation_bytes`` is None)."""
    flops_note: Prose | None = None
    """Why the derived FLOPs total is unknown (``totals.flops`` is None)."""
    open_inputs: tuple[Prose, ...] = ()
    """One sentence per model input whose length is unknown: which key of the model's
    configuration fixes it (``sequence_length``, ``input_shapes``)."""
    repeated_blocks: tuple[Prose, ...] = ()
    """One sentence per group of identical composite blocks (same class, configuration
    and parameter count), said once for the group."""
    builtin: bool = False
    """One of reportgen's built-in reference models: listed by the configuration the site
    is made with, when that is reportgen's own (:attr:`reportgen.config.Config.builtin`),
    with the same source. Its page tells how to rebuild it from a checkout of reportgen."""
    decoder: DecoderMemory | None = None
    """A decoder's inference memory (key/value cache, weights, activations by length);
    None for a model without attention that caches keys and values."""
    peak: PeakMemory | None = None
    """Peak activation memory of inference by liveness, its timeline, and the measured
    peak beside it with each difference explained."""
    scaling: MemoryScaling | None = None
    """Inference and training memory over batch sizes, and the largest batch that fits."""
    budget: BudgetReport | None = None
    """The model's configured budget, checked against its totals (:mod:`reportgen.budget`);
    set when rendering with a configuration that gives one, never derived from facts."""
    history: ModelHistory | None = None
    """The model's builds so far with this one (:mod:`reportgen.history`); set by a build
    or render from the command line, never derived from facts."""


@dataclass(frozen=True)
class LiveStep:
    """One row of the liveness timeline: a layer as it runs, in execution order."""

    layer: str
    live_bytes: int | None
    """Bytes of every output live while it runs (its inputs and its own output included);
    None when one of them cannot be derived."""
    measured_bytes: int | None = None
    """The most bytes the allocator had in use while this layer's ops allocated; None when
    its ops allocated nothing, or nothing was recorded."""


@dataclass(frozen=True)
class PeakDifference:
    """One reason why the measured peak differs from the derived one, with its bytes."""

    kind: str
    """``fed_input``, ``no_op``, ``view``, ``not_run``, ``workspace``, ``padding``,
    ``scratch`` or ``other`` (the remainder no structured note explains)."""
    layer: str | None
    bytes: int
    """Signed: what it adds to the derived peak to reach the measured one."""
    sentence: Prose


@dataclass(frozen=True)
class PeakMemory:
    """Peak activation memory of inference: derived by liveness and measured."""

    bytes: int | None
    """The derived peak (``totals.peak_activation_bytes``)."""
    layer: str | None
    live_layers: tuple[str, ...]
    """Rows whose outputs are live at the derived peak."""
    steps: tuple[LiveStep, ...]
    """The timeline: one step per layer that runs, in execution order."""
    explanation: Prose
    """How the peak is found, or why it cannot be."""
    training: Prose
    """Why training holds more: every output is kept for the backward pass."""
    measured_bytes: int | None = None
    measured_layer: str | None = None
    """The row whose op allocated when the measured peak was reached."""
    differences: tuple[PeakDifference, ...] = ()
    measured_note: Prose | None = None
    """Why there is no measured peak, or what it counts."""

    @property
    def explained_bytes(self) -> int | None:
        """The derived peak plus every explained difference (but the remainder)."""
        if self.bytes is None:
            return None
        return self.bytes + sum(d.bytes for d in self.differences if d.kind != "other")

    @property
    def measured_steps(self) -> bool:
        return any(step.measured_bytes is not None for step in self.steps)


@dataclass(frozen=True)
class ScalingRow:
    """Inference and training memory at one batch size."""

    batch_size: int
    activation_bytes: int | None
    """Activations of inference: the peak (or the sum of outputs, ``basis``)."""
    kv_cache_bytes: int | None
    """A decoder's key/value cache at the configured length; None for other models."""
    inference_bytes: int | None
    training_activation_bytes: int | None
    training_bytes: int | None
    configured: bool


@dataclass(frozen=True)
class MemoryFit:
    """The largest batch that fits in one memory size, for inference and for training."""

    memory_bytes: int
    memory_gib: float
    budget: bool
    """The size the model's configuration set (``memory_budget_gib``)."""
    inference_batch: int | None
    """0: not even one example fits; None: unknown."""
    training_batch: int | None
    sentence: Prose


@dataclass(frozen=True)
class MemoryScaling:
    """Inference memory (weights + activations, + the KV cache of a decoder) and training
    memory (weights + gradients + optimizer state + every output) over batch sizes."""

    basis: str
    """``peak`` (inference activations are the liveness peak) or ``sum`` (the peak is
    unknown: the sum of every output, an upper bound)."""
    sequence_length: int | None
    rows: tuple[ScalingRow, ...]
    fits: tuple[MemoryFit, ...]
    explanation: Prose
    inference_fixed: int
    """Bytes that do not grow with the batch: the weights."""
    inference_per_example: int | None
    training_fixed: int | None
    """Weights, gradients and optimizer state."""
    training_per_example: int | None


@dataclass(frozen=True)
class DecoderRow:
    """Inference memory at one sequence length and batch size (one row of the table)."""

    sequence_length: int
    batch_size: int
    kv_cache_bytes: int | None
    weights_bytes: int
    activation_bytes: int | None
    """The layer outputs of one forward pass at this length; None where the facts do not
    say how they grow with the length."""
    total_bytes: int | None
    configured: bool
    """The row of the configured length and batch size (the page's other figures)."""


@dataclass(frozen=True)
class DecoderBatch:
    """The table's rows of one batch size, shortest sequence first."""

    batch_size: int
    rows: tuple[DecoderRow, ...]


@dataclass(frozen=True)
class DecoderMemory:
    """What a decoder holds at inference: its weights, the key/value cache of every token so
    far, and the layer outputs of a forward pass, at the configured length and over a table
    of lengths and batch sizes (:mod:`reportgen.derive.decoder`)."""

    kv_cache: Derivation
    """Bytes of the key/value cache at the configured length and batch size, with its
    formula (unit ``B``); unknown when the length or a layer's heads are not known."""
    caching_layers: int
    """Attention layers (calls of them) that keep keys and values."""
    query_heads: int | None
    """Query heads per layer, when all caching layers agree and their config says."""
    kv_heads: int | None
    """Key/value heads per layer, when all caching layers agree."""
    sequence_length: int | None
    batch_size: int
    max_sequence_length: int
    max_source: Prose
    """Where ``max_sequence_length`` comes from (a layer's configuration, or 32k)."""
    weights_bytes: int
    activation_bytes: int | None
    """The page's output-memory total at the configured length (None: unknown)."""
    total: Derivation
    """Weights + key/value cache + activations at the configured length."""
    batches: tuple[DecoderBatch, ...]
    activations_note: Prose | None
    """Why activations at other lengths are unknown; None when they are derived."""
    why_it_grows: Prose
    grouped_query: Prose
    activation_basis: str = "sum"
    """``peak``: the activation column is the liveness peak at each length and batch size
    (:mod:`reportgen.derive.liveness`); ``sum``: the peak is unknown, the column is the sum
    of every output."""

    @property
    def rows(self) -> tuple[DecoderRow, ...]:
        return tuple(row for batch in self.batches for row in batch.rows)

    @property
    def lengths(self) -> tuple[int, ...]:
        return tuple(row.sequence_length for row in self.batches[0].rows) if self.batches else ()
