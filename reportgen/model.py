"""The report model: frozen dataclasses, the only thing templates and the JSON writer see.

Everything here is computed by ``reportgen.derive`` from collected facts; templates only
choose what to show and format it, they do no arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

from reportgen.expr import Formula
from reportgen.facts import Shape
from reportgen.i18n import format_value, translate

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


Arg = Union[int, float, str, "Text", "Msg"]
"""A value for a :class:`Msg` field: numbers are formatted for the page's language,
sentences (:class:`Text`, :class:`Msg`) are put in that language."""


@dataclass(frozen=True)
class Msg:
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
        return template % {name: format_value(value, lang) for name, value in self.args}

    @property
    def en(self) -> str:
        return self.get("en")

    @property
    def zh(self) -> str:
        return self.get("zh")


def msg(msgid: str, /, **args: Arg) -> Msg:
    """A catalog sentence; ``msgid`` must be a string literal so the extractor sees it."""
    return Msg(msgid, tuple(sorted(args.items())))


Prose = Text | Msg
"""A sentence a page shows: written out per language, or from the catalog."""


@dataclass(frozen=True)
class Derivation:
    """How a number was obtained.

    ``method`` is ``"formula"`` (a layer-specific formula), ``"zero"`` (the layer has no
    weights, ``explanation`` says why), ``"generic"`` (Σ of the weights' shapes, for a
    layer without a dedicated formula) or ``"unknown"`` (it cannot be derived; the
    explanation says what is missing).
    """

    value: int | None
    method: str
    explanation: Text
    formula: Formula | None = None


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
    measured_note: Text | None = None
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

    @property
    def params_match(self) -> bool:
        return self.params.value == self.keras_params

    @property
    def shared(self) -> bool:
        """True when the model calls this layer more than once (weights counted once)."""
        return self.calls > 1

    @property
    def output_shape(self) -> Shape:
        """The first output's shape (the one a table row shows)."""
        return self.output_shapes[0] if self.output_shapes else ()


@dataclass(frozen=True)
class Totals:
    params: int | None
    """Σ derived parameters over the rows; None when any row's count cannot be derived
    (``ModelReport.params_note`` says why): an unknown is never added up as zero."""
    trainable_params: int
    non_trainable_params: int
    param_bytes: int
    activation_bytes: int
    keras_params: int
    keras_trainable_params: int
    keras_non_trainable_params: int
    layers: int
    """Rows that are layers (the row of weights a subclassed model holds itself is not)."""
    flops: int | None = None
    """Σ derived FLOPs over the layers that have a FLOPs derivation."""

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

    derived: int
    measured: int
    unknown_layers: tuple[str, ...]
    by_op_type: tuple[tuple[str, int], ...]

    @property
    def difference(self) -> int:
        return self.derived - self.measured

    @property
    def relative_difference(self) -> float:
        if not self.measured:
            return 0.0
        try:
            return abs(self.difference) / self.measured
        except OverflowError:  # a derived count beyond any float: far from the measurement
            return math.inf

    @property
    def agrees(self) -> bool:
        """Within 1 %, and no layer left underived."""
        return self.relative_difference <= 0.01 and not self.unknown_layers


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


@dataclass(frozen=True)
class TrainingPart:
    """One term of the training-memory estimate: its bytes, formula and why."""

    key: str
    """``parameters``, ``gradients``, ``optimizer_state`` or ``activations``."""
    label: Text
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
    assumptions: tuple[Text, ...]

    def part(self, key: str) -> TrainingPart:
        return next(p for p in self.parts if p.key == key)


@dataclass(frozen=True)
class Mismatch:
    """A derived number that disagrees with its reference; shown on the page, fatal in --strict."""

    layer: str
    quantity: str
    derived: int | None
    """None: the derived number is unknown (``detail`` says why), not a different one."""
    reference: int
    reference_name: str
    detail: str = ""
    """Why, in a few English words: what a derived total leaves out, or why it is unknown."""

    @property
    def unknown(self) -> bool:
        """The number could not be derived at all (rather than derived and different)."""
        return self.derived is None

    def describe(self) -> str:
        if self.derived is None:
            why = f": {self.detail}" if self.detail else ""
            return (
                f"the derived {self.quantity} is unknown{why}; "
                f"{self.reference_name} counts {self.reference}"
            )
        text = (
            f"layer {self.layer!r}: derived {self.quantity} {self.derived} "
            f"!= {self.reference_name} {self.reference}"
        )
        return f"{text} ({self.detail})" if self.detail else text


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
    notes: tuple[str, ...] = ()
    """What could not be measured, and why (from the collect stage)."""
    reference: Text = Text("Keras count_params()", "Keras 的 count_params()")
    """What each derived parameter count is checked against."""
    training: TrainingMemory | None = None
    """Estimated memory of one training step (weights, gradients, optimizer, activations)."""
    params_note: Text | None = None
    """Why the derived parameter total is unknown (``totals.params`` is None), in each
    language; None when every count was derived."""
