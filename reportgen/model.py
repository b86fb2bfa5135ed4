"""The report model: frozen dataclasses, the only thing templates and the JSON writer see.

Everything here is computed by ``reportgen.derive`` from collected facts; templates only
choose what to show and format it, they do no arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

from reportgen.derive.expr import Formula
from reportgen.facts import Shape

LANGUAGES = ("en", "zh")
"""Site languages, in the order the pages list them. ``zh`` is Simplified Chinese."""


@dataclass(frozen=True)
class Text:
    """A sentence in each site language."""

    en: str
    zh: str

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


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
    measured_bytes: int | None = None
    flops: int | None = None
    time_us: float | None = None

    @property
    def params_match(self) -> bool:
        return self.params.value == self.keras_params

    @property
    def output_shape(self) -> Shape:
        """The first output's shape (the one a table row shows)."""
        return self.output_shapes[0] if self.output_shapes else ()


@dataclass(frozen=True)
class Totals:
    params: int
    trainable_params: int
    non_trainable_params: int
    param_bytes: int
    activation_bytes: int
    keras_params: int
    keras_trainable_params: int
    keras_non_trainable_params: int
    layers: int

    @property
    def params_match(self) -> bool:
        return (
            self.params == self.keras_params
            and self.trainable_params == self.keras_trainable_params
            and self.non_trainable_params == self.keras_non_trainable_params
        )


@dataclass(frozen=True)
class Mismatch:
    """A derived number that disagrees with its reference; shown on the page, fatal in --strict."""

    layer: str
    quantity: str
    derived: int | None
    reference: int
    reference_name: str

    def describe(self) -> str:
        return (
            f"layer {self.layer!r}: derived {self.quantity} {self.derived} "
            f"!= {self.reference_name} {self.reference}"
        )


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
