"""Derive stage: pure Python from collected facts to the report model. No TensorFlow."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from reportgen.derive.decoder import derive_decoder
from reportgen.derive.fits import derive_scaling
from reportgen.derive.layers import derive_flops, derive_params, family_of, generic_params
from reportgen.derive.layers.dispatch import config_error_note, weight_terms
from reportgen.derive.liveness import derive_peak
from reportgen.derive.measured import layer_time, measured_memory
from reportgen.derive.memory import derive_activation, open_inputs, output_of_activation
from reportgen.derive.notes import note_text
from reportgen.derive.subclassed import (
    UnknownTotal,
    is_not_called,
    is_own_weights,
    not_called_activation,
    not_called_flops,
    not_called_params,
    own_weights_activation,
    own_weights_flops,
    own_weights_params,
    unknown_total,
)
from reportgen.derive.training import derive_training
from reportgen.expr import Expr, Formula, Num, Sum, Term
from reportgen.facts import LayerFacts, ModelFacts
from reportgen.i18n import Names
from reportgen.model import (
    KERAS_COUNT,
    Derivation,
    FlopsCheck,
    LayerReport,
    Mismatch,
    ModelReport,
    Profile,
    Prose,
    RuntimeMemory,
    Text,
    Totals,
    msg,
    sentences,
)
from reportgen.units import dtype_bytes, fmt_int

MAX_NAMES = 5
"""Rows named in a sentence about an unknown total; an ellipsis stands for more."""


def _weight_split(layer: LayerFacts) -> tuple[int, int]:
    trainable = sum(math.prod(w.shape) for w in layer.weights if w.trainable)
    frozen = sum(math.prod(w.shape) for w in layer.weights if not w.trainable)
    return trainable, frozen


def _derivations(
    layer: LayerFacts, batch_size: int
) -> tuple[Derivation, Derivation, Derivation | None]:
    """Parameters, output bytes and FLOPs of one row (see :mod:`reportgen.derive.subclassed`
    for the rows of a subclassed model that are not a layer, or did not run). A composite
    row's parameters here are those of its own weights; :func:`_block_params` sums its
    sub-layers' once they are derived."""
    if is_own_weights(layer):
        return own_weights_params(layer), own_weights_activation(), own_weights_flops()
    if is_not_called(layer):
        params = not_called_params(layer, derive_params(layer))
        return params, not_called_activation(), not_called_flops()
    if layer.composite:
        return (
            generic_params(layer),  # its own weights; replaced by the block's sum
            output_of_activation(layer)
            if layer.output_of
            else derive_activation(layer, batch_size),
            _block_flops(derive_flops(layer, batch_size)),
        )
    return (
        derive_params(layer),
        derive_activation(layer, batch_size),
        derive_flops(layer, batch_size),
    )


def _block_flops(own: Derivation) -> Derivation:
    """A block's row counts the FLOPs of its own ops only (a residual addition, say): each
    sub-layer's are on the sub-layer's row."""
    return dataclasses.replace(
        own,
        explanation=sentences(
            msg(
                "This row counts only the block's own operations, outside its sub-layers; "
                "each sub-layer's FLOPs are on its own row."
            ),
            own.explanation,
        ),
    )


def derive_layer(
    index: int, layer: LayerFacts, facts: ModelFacts, blocks: Blocks | None = None
) -> LayerReport:
    """One row. A composite row's parameters are its own weights' until
    :func:`_sum_blocks` replaces them with its block's total."""
    blocks = blocks or Blocks.of(facts.layers)
    trainable, frozen = _weight_split(layer)
    batch_size = facts.batch_size
    params, activation, flops = _derivations(layer, batch_size)
    if layer.output_of:
        # The tensor is the sub-layer's: measured there, as it is counted there.
        measured, note = None, None
    else:
        measured, note = measured_memory(layer.name, activation.value, facts.memory)
    return LayerReport(
        index=index,
        anchor=f"layer-{index}",
        name=layer.name,
        class_name=layer.class_name,
        output_shapes=layer.output_shapes,
        dtype=layer.compute_dtype,
        params=params,
        keras_params=layer.keras_params,
        trainable_params=trainable,
        non_trainable_params=frozen,
        activation=activation,
        flops=flops,
        measured_bytes=measured,
        measured_note=note,
        measured_flops=facts.flops.by_layer.get(layer.name) if facts.flops else None,
        time_us=layer_time(layer.name, facts.profile),
        parent=layer.parent,
        calls=layer.calls,
        param_bytes=_layer_param_bytes(layer),
        variable_dtype=layer.variable_dtype,
        family=family_of(layer.class_name),
        block=layer.block,
        composite=layer.composite,
        sub_layers=blocks.children.get(index, ()),
        depth=blocks.depth[index],
        config_note=config_error_note(layer),
        inbound=layer.inbound,
    )


# ---------------------------------------------------------------- composite blocks


@dataclass(frozen=True)
class Blocks:
    """Which rows are a composite's sub-layers: the collect stage lists them right after
    their block, each with ``block`` = the block's name (a block may hold blocks)."""

    children: dict[int, tuple[int, ...]]
    """Composite row index → its direct sub-layers' row indices, in model order."""
    depth: tuple[int, ...]
    """Per row: how many blocks it sits inside."""

    @classmethod
    def of(cls, layers: tuple[LayerFacts, ...]) -> Blocks:
        by_name = {layer.name: i for i, layer in enumerate(layers) if layer.composite}
        children: dict[int, list[int]] = {i: [] for i in by_name.values()}
        depth: list[int] = []
        for i, layer in enumerate(layers):
            owner = by_name.get(layer.block) if layer.block is not None else None
            if owner is None or owner >= i:
                depth.append(0)  # no such block before it: shown as a layer of the model
                continue
            children[owner].append(i)
            depth.append(depth[owner] + 1)
        return cls({i: tuple(c) for i, c in children.items()}, tuple(depth))

    def members(self, index: int) -> list[int]:
        """Every row inside the block at ``index``, sub-blocks' rows included."""
        found: list[int] = []
        for child in self.children.get(index, ()):
            found.append(child)
            found.extend(self.members(child))
        return found


def _block_params(layer: LayerFacts, subs: list[LayerReport]) -> Derivation:
    """A block's parameters: Σ its sub-layers' rows + the weights it owns directly (counted
    generically: no sub-layer's formula covers them)."""
    underived = [sub for sub in subs if sub.params.value is None]
    if underived:
        return Derivation(
            None,
            "unknown",
            msg(
                "%(kind)s is made of sub-layers, and the count of %(names)s cannot be "
                "derived, so the block's total is unknown (it is not counted as zero).",
                kind=layer.class_name,
                names=Names(tuple(sub.short_name for sub in underived), MAX_NAMES),
            ),
        )
    terms: list[Expr] = [Term(sub.short_name, Num(sub.params.value or 0)) for sub in subs]
    terms = [t for t, sub in zip(terms, subs, strict=True) if sub.params.value]
    own = list(weight_terms(layer))
    terms += own
    expr: Expr = Num(0) if not terms else terms[0] if len(terms) == 1 else Sum(tuple(terms))
    summed = msg(
        "%(kind)s is a block of sub-layers, each derived on its own row: the block's count "
        "is the sum of theirs (a sub-layer without weights adds nothing).",
        kind=layer.class_name,
    )
    if not own:
        return Derivation.from_formula(Formula(expr), summed)
    owned = msg(
        "It also owns weights directly, outside its sub-layers (%(names)s): no sub-layer's "
        "formula covers them, so they are counted generically, the product of each weight's "
        "shape.",
        names=Names(tuple(w.name.rsplit("/", 1)[-1] for w in layer.weights), MAX_NAMES),
    )
    return Derivation.from_formula(Formula(expr), sentences(summed, owned), "generic")


def _sum_blocks(
    rows: list[LayerReport], facts: tuple[LayerFacts, ...], blocks: Blocks
) -> tuple[LayerReport, ...]:
    """Each composite row with its block's totals. Sub-layers follow their block, so from
    the last row up every sub-block is summed before the block that holds it."""
    for index in sorted(blocks.children, reverse=True):
        whole = [facts[i] for i in (index, *blocks.members(index))]
        splits = [_weight_split(layer) for layer in whole]
        rows[index] = dataclasses.replace(
            rows[index],
            params=_block_params(facts[index], [rows[i] for i in blocks.children[index]]),
            trainable_params=sum(trainable for trainable, _ in splits),
            non_trainable_params=sum(frozen for _, frozen in splits),
            param_bytes=sum(_layer_param_bytes(layer) for layer in whole),
        )
    return tuple(rows)


def _layer_param_bytes(layer: LayerFacts) -> int:
    """Bytes of the layer's weights, each at its own dtype (float32 under mixed_float16)."""
    return sum(math.prod(w.shape) * (dtype_bytes(w.dtype) or 0) for w in layer.weights)


def _param_bytes(facts: ModelFacts) -> int:
    return sum(_layer_param_bytes(layer) for layer in facts.layers)


REFERENCES: dict[str, Prose] = {
    "keras": KERAS_COUNT,
    "variables": msg("the size of the scope's variables"),
    "constants": msg("the size of the scope's constants"),
}
"""What a derived parameter count is checked against, by ``ModelFacts.reference``."""


def find_mismatches(
    layers: tuple[LayerReport, ...],
    totals: Totals,
    reference: Prose = REFERENCES["keras"],
    unknown: UnknownTotal | None = None,
) -> tuple[Mismatch, ...]:
    """Each derived count that disagrees with its reference, and at most one line for an
    unknown total: a count that cannot be derived is not a disagreement, and is not
    reported layer by layer (``unknown`` says which and why)."""
    found = [
        Mismatch(layer.name, "parameters", layer.params.value, layer.keras_params, reference)
        for layer in layers
        if layer.params.value is not None and not layer.params_match
    ]
    if totals.params is None:
        found.append(
            Mismatch(
                "(model)",
                "parameter total",
                None,
                totals.keras_params,
                reference,
                detail=unknown.detail if unknown is not None else "",
            )
        )
    for quantity, derived, count in (
        ("parameters (model total)", totals.params, totals.keras_params),
        ("trainable parameters", totals.trainable_params, totals.keras_trainable_params),
        (
            "non-trainable parameters",
            totals.non_trainable_params,
            totals.keras_non_trainable_params,
        ),
    ):
        if derived is not None and derived != count:
            found.append(Mismatch("(model)", quantity, derived, count, reference))
    return tuple(found)


def _flops_mismatch(check: FlopsCheck | None) -> tuple[Mismatch, ...]:
    """A model total more than 1 % away from TensorFlow's profiler count is a disagreement.

    A derived total that is unknown (some layer has no FLOPs formula) is none: a partial
    sum would be compared with a count of every op, and the page says what is missing."""
    relative = check.relative_difference if check is not None else None
    if check is None or relative is None or relative <= 0.01:
        return ()
    return (
        Mismatch("(model)", "FLOPs", check.derived, check.measured, msg("TensorFlow profiler")),
    )


def _params_total(facts: tuple[LayerFacts, ...], layers: tuple[LayerReport, ...]) -> int | None:
    """Σ the rows that are not blocks + each block's own weights: every weight counted
    once, on the row that owns it. None when any count cannot be derived (an unknown is
    never added up as zero)."""
    total = 0
    for fact, layer in zip(facts, layers, strict=True):
        if fact.composite:
            total += sum(math.prod(w.shape) for w in fact.weights)
        elif layer.params.value is None:
            return None
        else:
            total += layer.params.value
    return total


def _sum_or_unknown(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v or 0 for v in values)


def _unknown_sum_note(underived: list[LayerReport], rows: int, quantity: str) -> Prose | None:
    """Why a model total is unknown: which rows it would need, and that it is no partial sum."""
    if not underived:
        return None
    names = Names(tuple(layer.name for layer in underived), MAX_NAMES)
    if quantity == "bytes":
        first = msg(
            "The output size of %(count)s of the %(total)s rows cannot be derived "
            "(%(names)s); the derivation of each says why.",
            count=len(underived),
            total=rows,
            names=names,
        )
    else:
        first = msg(
            "The FLOPs of %(count)s of the %(total)s rows cannot be derived (%(names)s); the "
            "derivation of each says why.",
            count=len(underived),
            total=rows,
            names=names,
        )
    return sentences(
        first,
        msg("What cannot be derived is not counted as zero, so the total is unknown."),
    )


def _totals(facts: ModelFacts, layers: tuple[LayerReport, ...]) -> Totals:
    splits = [_weight_split(layer) for layer in facts.layers]  # each weight once
    with_flops = [layer for layer in layers if layer.flops is not None]
    return Totals(
        params=_params_total(facts.layers, layers),
        trainable_params=sum(trainable for trainable, _ in splits),
        non_trainable_params=sum(frozen for _, frozen in splits),
        param_bytes=_param_bytes(facts),
        # A block's row counts its own output only (0 when it is a sub-layer's): no
        # tensor is counted twice, and every row takes part.
        activation_bytes=_sum_or_unknown([layer.activation.value for layer in layers]),
        keras_params=facts.keras_params,
        keras_trainable_params=facts.keras_trainable_params,
        keras_non_trainable_params=facts.keras_non_trainable_params,
        layers=sum(1 for layer in facts.layers if not is_own_weights(layer)),
        flops=_sum_or_unknown([layer.flops.value for layer in with_flops if layer.flops]),
    )


def derive_model(facts: ModelFacts, article: Text | None = None) -> ModelReport:
    blocks = Blocks.of(facts.layers)
    rows = [derive_layer(i, layer, facts, blocks) for i, layer in enumerate(facts.layers)]
    layers = _sum_blocks(rows, facts.layers, blocks)
    reference = REFERENCES.get(facts.reference, REFERENCES["keras"])
    unknown = unknown_total(facts.layers, layers, facts.keras_params, reference)
    totals = _totals(facts, layers)
    peak = derive_peak(facts, {layer.name: layer.activation.value for layer in layers})
    totals = dataclasses.replace(
        totals,
        peak_activation_bytes=peak.bytes,
        peak_layer=peak.layer,
        measured_peak_bytes=peak.measured_bytes,
    )
    flops = _flops_check(facts, layers, totals)
    training = derive_training(facts, layers)
    return ModelReport(
        slug=facts.slug,
        title=Text(facts.title.get("en", facts.slug), facts.title.get("zh", facts.slug)),
        source=facts.source,
        batch_size=facts.batch_size,
        framework=dict(facts.framework),
        layers=layers,
        totals=totals,
        mismatches=find_mismatches(layers, totals, reference, unknown) + _flops_mismatch(flops),
        article=article,
        runtime=_runtime_memory(facts, layers),
        flops=flops,
        profile=_profile(facts, layers),
        notes=tuple(note_text(note) for note in facts.notes),
        reference=reference,
        training=training,
        params_note=unknown.reason if unknown is not None else None,
        activation_note=_unknown_sum_note(
            [layer for layer in layers if layer.activation.value is None], len(layers), "bytes"
        ),
        flops_note=_unknown_sum_note(
            [layer for layer in layers if layer.flops is not None and layer.flops.value is None],
            len(layers),
            "flops",
        ),
        open_inputs=open_inputs(facts),
        repeated_blocks=repeated_blocks(facts.layers, layers),
        decoder=derive_decoder(facts, layers, totals.param_bytes, peak),
        peak=peak,
        scaling=derive_scaling(facts, totals.param_bytes, peak, totals.activation_bytes, training),
    )


def repeated_blocks(
    facts: tuple[LayerFacts, ...], layers: tuple[LayerReport, ...]
) -> tuple[Prose, ...]:
    """One sentence per group of identical blocks (same class, same configuration but for
    the name, same parameter count): a 12-layer transformer is explained once, while the
    table keeps every row."""
    groups: dict[tuple[str, str, int | None], list[LayerReport]] = {}
    for fact, layer in zip(facts, layers, strict=True):
        if not fact.composite:
            continue
        config = {k: v for k, v in fact.config.items() if k != "name"}
        key = (fact.class_name, json.dumps(config, sort_keys=True, default=str), layer.params.value)
        groups.setdefault(key, []).append(layer)
    said: list[Prose] = []
    for (kind, _, params), group in groups.items():
        if len(group) < 2 or params is None:
            continue
        formula = group[0].params.formula
        sum_text = formula.text.rsplit(" = ", 1)[0] if formula is not None else fmt_int(params)
        said.append(
            msg(
                "%(count)s identical %(kind)s blocks (%(first)s … %(last)s), each %(params)s "
                "parameters = %(formula)s.",
                count=len(group),
                kind=kind,
                first=group[0].name,
                last=group[-1].name,
                params=params,
                formula=sum_text,
            )
        )
    return tuple(said)


def _runtime_memory(facts: ModelFacts, layers: tuple[LayerReport, ...]) -> RuntimeMemory | None:
    if facts.memory is None:
        return None
    measured = [layer for layer in layers if layer.measured_bytes is not None]
    return RuntimeMemory(
        method=facts.memory.method,
        peak_bytes=facts.memory.allocator_peak_bytes,
        total_bytes=facts.memory.allocator_total_bytes,
        measured_layers=len(measured),
        equal_layers=sum(1 for layer in measured if layer.measured_bytes == layer.activation.value),
    )


def _flops_check(
    facts: ModelFacts, layers: tuple[LayerReport, ...], totals: Totals
) -> FlopsCheck | None:
    if facts.flops is None:
        return None
    unknown = tuple(
        layer.name for layer in layers if layer.flops is not None and layer.flops.value is None
    )
    return FlopsCheck(
        derived=totals.flops,
        measured=facts.flops.total,
        unknown_layers=unknown,
        by_op_type=tuple(sorted(facts.flops.by_op_type.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def _profile(facts: ModelFacts, layers: tuple[LayerReport, ...]) -> Profile | None:
    profile = facts.profile
    if profile is None:
        return None
    return Profile(
        steps=profile.steps,
        device=profile.device,
        step_time_us=profile.step_time_us,
        trace_href=f"traces/{facts.slug}.trace.json.gz" if profile.trace_file else None,
        profile_href=f"traces/{facts.slug}/" if profile.profile_dir else None,
        profile_zip_href=f"traces/{facts.slug}.profile.zip" if profile.profile_dir else None,
        timed_layers=sum(1 for layer in layers if layer.time_us is not None),
        trace_source=profile.trace_file,
        profile_source=profile.profile_dir,
        events_href=(
            f"traces/{facts.slug}/{profile.events_file.rsplit('/', 1)[-1]}"
            if profile.events_file and profile.profile_dir
            else None
        ),
        events_source=profile.events_file if profile.profile_dir else None,
    )
