"""The registry: one entry per Keras layer class, declared once in its family's module.

An entry (:class:`LayerKind`) says everything reportgen decides about a kind of layer:
the family whose section of prose explains it on the model page
(``templates/families/<family>.html``), how its parameters are counted and how its FLOPs
are counted. Each decision is explicit: a rule (a function of the layer's facts), a
:class:`Zero` with the reason, :data:`GENERIC` (count the weights Keras holds) or a
:class:`NotDerived` that says why no figure is given. PyTorch's
``torch/utils/flop_counter.py`` keeps its formulas the same way: one registry, filled beside
the formulas, so adding a kind is one entry next to its rules.

This module knows nothing of any particular kind; the modules beside it declare them with
:func:`declare`, and :mod:`reportgen.derive.layers` imports every one of those modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reportgen.expr import Expr, Formula, Num
from reportgen.facts import LayerFacts, Shape
from reportgen.model import Derivation, Prose

ParamRule = Callable[[LayerFacts], Derivation]
"""The layer's parameter count from its configuration and shapes, never from its weights."""

FlopsRule = Callable[[LayerFacts, int], Derivation]
"""The FLOPs of one forward pass of ``batch_size`` examples, TensorFlow-profiler style."""

ShapeRule = Callable[[LayerFacts], tuple[Shape, ...]]
"""The layer's output shapes with axes Keras leaves unknown but the configuration fixes."""


@dataclass(frozen=True)
class Zero:
    """Nothing to count (no weights, or no arithmetic at inference), and why."""

    reason: Prose


@dataclass(frozen=True)
class NotDerived:
    """No FLOPs figure for this kind, on purpose. ``reason`` None: reportgen has no rule for
    it yet (a guessed figure would be worse than none)."""

    reason: Prose | None = None


@dataclass(frozen=True)
class Generic:
    """Count the weights the layer holds (Σ over its weights of each shape's product)."""


GENERIC = Generic()
"""The parameter decision of a kind without a dedicated formula."""


@dataclass(frozen=True)
class Composite:
    """A layer made of sub-layers (a transformer block): the collect stage opens it, its
    sub-layers become rows under it, each derived by its own rule, and the block's row
    sums them (checked against the block's ``count_params()``). A class reportgen does not
    know that owns sub-layers is opened the same way; declaring it says so explicitly."""


COMPOSITE = Composite()

NO_RULE_YET = NotDerived()
"""The FLOPs decision of a kind reportgen has no rule for yet."""


@dataclass(frozen=True)
class KvHeads:
    """What one attention layer keeps per token in a decoder's key/value cache: the keys
    (``key_heads`` × ``key_dim`` values) and the values (``value_heads`` × ``value_dim``)."""

    key_heads: int
    key_dim: int
    value_heads: int
    value_dim: int


NO_TOKEN_CACHE = KvHeads(0, 0, 0, 0)
"""What a cross-attention layer keeps per generated token: nothing. Its keys and values are
the encoder's output, projected once; that cache has the encoder's length, not the decoder's,
so the decoder memory leaves the layer out."""

KvCacheRule = Callable[[LayerFacts], "KvHeads | None"]
"""For an attention kind that can cache keys and values while decoding: what it caches per
token, from its configuration or weights (None when they do not say)."""

ParamDecision = ParamRule | Zero | Generic | Composite
FlopsDecision = FlopsRule | Zero | NotDerived


@dataclass(frozen=True)
class LayerKind:
    """What reportgen decides about one Keras layer class."""

    class_name: str
    family: str
    """Key of the family whose prose explains this kind (``templates/families/<key>.html``)."""
    params: ParamDecision
    flops: FlopsDecision
    lora_aware: bool = False
    """The parameter rule counts LoRA weights (``lora_rank``); otherwise they make the
    count generic."""
    output_shapes: ShapeRule | None = None
    """Resolves output axes Keras reports as unknown (used by the output-memory formula)."""
    module: str = ""
    """The module that declares the kind (its home)."""
    kv_cache: KvCacheRule | None = None
    """For attention that caches keys and values when it decodes (a decoder's
    self-attention): what it keeps per token. None for every other kind."""


KINDS: dict[str, LayerKind] = {}
"""Every declared kind, by Keras class name."""


def declare(
    *class_names: str,
    family: str,
    params: ParamDecision,
    flops: FlopsDecision,
    lora_aware: bool = False,
    output_shapes: ShapeRule | None = None,
    module: str = "",
    kv_cache: KvCacheRule | None = None,
) -> None:
    """Declare kinds that share a family and decisions. A class is declared once only."""
    for name in class_names:
        if name in KINDS:
            raise ValueError(f"layer kind {name} is declared twice ({KINDS[name].module})")
        KINDS[name] = LayerKind(
            name, family, params, flops, lora_aware, output_shapes, module, kv_cache
        )


def kind_of(class_name: str) -> LayerKind | None:
    return KINDS.get(class_name)


OTHER_FAMILY = "other"
"""The family of a class reportgen does not know: its section has only the derivations."""


def opens_up(class_name: str) -> bool:
    """Whether a layer of this class that owns sub-layers is shown opened (its sub-layers as
    rows): yes unless a rule of its own counts it whole (MultiHeadAttention, Bidirectional)."""
    found = KINDS.get(class_name)
    return found is None or isinstance(found.params, Composite)


def family_of(class_name: str) -> str:
    found = KINDS.get(class_name)
    return found.family if found is not None else OTHER_FAMILY


# ---------------------------------------------------------------- what a rule returns


def formula(expr: Expr, explanation: Prose) -> Derivation:
    """A count from a formula, with the prose that explains it."""
    found = Formula(expr)
    return Derivation(found.value, "formula", explanation, found)


def zero(reason: Prose) -> Derivation:
    """Nothing to count, and why (0 as its own formula)."""
    return Derivation(0, "zero", reason, Formula(Num(0)))


def unknown(reason: Prose) -> Derivation:
    """No figure, and why: what is missing, or why a figure would mislead."""
    return Derivation(None, "unknown", reason)
