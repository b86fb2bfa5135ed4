"""A decoder's memory at inference: the key/value cache, and weights + cache + activations
over sequence lengths and batch sizes.

A decoder (a model with attention layers whose registry kind has a ``kv_cache`` rule,
:class:`reportgen.derive.layers.registry.KvHeads`) generates one token at a time and keeps
every past token's keys and values, so that later tokens can attend to them without
computing them again. That cache is exact arithmetic on the configuration:

    Σ over caching layers of (key_heads·key_dim + value_heads·value_dim) × s × b × bytes

which for identical layers with as many key as value heads is the familiar
``2 × layers × kv_heads × head_dim × s × b × bytes``. One expression tree
(:mod:`reportgen.expr`) gives the printed formula, its MathML and the number, at the
configured length and at every length of the table, so they cannot disagree.

Activations at another length ``L`` are each row's output bytes with every axis that grows
with the length (``LayerFacts.open_output_shapes``: None) set to ``L``; an output with two
such axes (attention scores) grows as L². Each row's rescaled bytes must reproduce its
derived bytes at the configured length first; when the facts do not say which axes grow,
or a row does not reproduce, activations at other lengths are unknown, not guessed.

Pure Python; no TensorFlow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from reportgen.derive.layers import kind_of
from reportgen.derive.layers.registry import NO_TOKEN_CACHE, KvHeads
from reportgen.derive.liveness import Schedule, find_peak, schedule
from reportgen.derive.memory import output_dtypes
from reportgen.derive.subclassed import is_not_called, is_own_weights
from reportgen.expr import Expr, Formula, Num, Product, Sum, Symbol, Term, evaluate
from reportgen.facts import LayerFacts, ModelFacts, Shape
from reportgen.i18n import ByteSize, Names
from reportgen.model import (
    DecoderBatch,
    DecoderMemory,
    DecoderRow,
    Derivation,
    LayerReport,
    PeakMemory,
    Prose,
    msg,
    sentences,
)
from reportgen.units import dtype_bytes

DEFAULT_MAX_LENGTH = 32_768
"""The longest sequence of the table when no layer states the model's maximum (32k)."""
SHORTEST_LENGTH = 16
"""The table's first sequence length (then every power of two up to the maximum)."""
BATCH_SIZES = (1, 8, 32)
"""The table's batch sizes (the configured one is added when it is not among them)."""
MAX_LENGTH_KEYS = ("max_sequence_length", "max_position_embeddings")
"""Config keys of a layer that state the longest sequence the model takes."""
QUERY_HEAD_KEYS = ("num_query_heads", "num_heads", "num_attention_heads")
"""Config keys of an attention layer that give its number of query heads."""
MAX_NAMES = 5

_BROKEN = (KeyError, TypeError, ValueError, IndexError, ArithmeticError)
"""What a kind's kv_cache rule raises on a configuration without a field it needs."""


@dataclass(frozen=True)
class CachingLayer:
    """One attention layer that keeps keys and values while decoding."""

    name: str
    heads: KvHeads | None
    """What it keeps per token; None when its configuration does not say."""
    dtype: str
    width: int | None
    """Bytes per cached value (its compute dtype); None for a dtype reportgen does not know."""
    calls: int
    """A shared layer keeps a cache for each call."""
    query_heads: int | None


# ---------------------------------------------------------------- what the facts say


def _kv_heads(layer: LayerFacts) -> tuple[bool, KvHeads | None]:
    """(whether the layer's kind caches keys and values, what it keeps per token)."""
    kind = kind_of(layer.class_name)
    if kind is None or kind.kv_cache is None:
        return False, None
    try:
        found = kind.kv_cache(layer)
    except _BROKEN:  # a configuration without the fields the rule reads
        return True, None
    if found == NO_TOKEN_CACHE:  # cross-attention: nothing grows with the generated tokens
        return False, None
    if found is None or min(found.key_heads, found.key_dim, found.value_heads, found.value_dim) < 1:
        return True, None  # the rule could not tell, or a doctored configuration
    return True, found


def _query_heads(layer: LayerFacts, heads: KvHeads | None) -> int | None:
    """The layer's query heads: from the kv_cache rule when it says (a ``query_heads`` field),
    else the configuration, else the query kernel's shape ``(width, heads, head size)``
    (keras-hub's LlamaAttention, whose get_config() raises)."""
    said = getattr(heads, "query_heads", None)
    if isinstance(said, int) and said > 0:
        return said
    for key in QUERY_HEAD_KEYS:
        value = layer.config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    for weight in layer.weights:
        if weight.name.endswith("query/kernel") and len(weight.shape) == 3:
            return weight.shape[1]
    return None


def caching_layers(facts: ModelFacts) -> tuple[CachingLayer, ...]:
    """Every layer of the model that keeps a key/value cache when it decodes."""
    found = []
    for layer in facts.layers:
        if is_own_weights(layer) or is_not_called(layer):
            continue
        caches, heads = _kv_heads(layer)
        if caches:
            found.append(
                CachingLayer(
                    name=layer.name,
                    heads=heads,
                    dtype=layer.compute_dtype,
                    width=dtype_bytes(layer.compute_dtype),
                    calls=max(layer.calls, 1),
                    query_heads=_query_heads(layer, heads),
                )
            )
    return tuple(found)


def configured_length(facts: ModelFacts, caches: tuple[CachingLayer, ...]) -> int | None:
    """The sequence length the model was collected at: ``sequence_length``, else the length
    ``input_shapes`` gives (``token_ids``' when the inputs differ), else the length the
    first caching layer's input has (a model built with a fixed length)."""
    if facts.sequence_length:
        return facts.sequence_length
    shapes = facts.input_shapes or {}
    lengths = {name: shape[0] for name, shape in shapes.items() if shape}
    if "token_ids" in lengths:
        return lengths["token_ids"]
    if lengths and len(set(lengths.values())) == 1:
        return next(iter(lengths.values()))
    by_name = {layer.name: layer for layer in facts.layers}
    for cache in caches:
        inputs = by_name[cache.name].input_shapes
        if inputs and len(inputs[0]) == 3 and isinstance(inputs[0][1], int):
            return inputs[0][1]
    return None


def max_length(facts: ModelFacts) -> tuple[int, Prose]:
    """The longest sequence the model takes, and where that figure comes from: the smallest
    a layer states (a learned position embedding has no row past its own length), else
    32k."""
    found: list[tuple[int, Prose]] = []
    for layer in facts.layers:
        for key in MAX_LENGTH_KEYS:
            value = layer.config.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                found.append(
                    (
                        value,
                        msg(
                            "the %(key)s of the layer %(layer)s",
                            key=key,
                            layer=layer.name,
                        ),
                    )
                )
        value = layer.config.get("sequence_length")
        if (
            layer.class_name.endswith("PositionEmbedding")
            and isinstance(value, int)
            and not isinstance(value, bool)
            and value > 0
        ):
            found.append(
                (value, msg("the length of the position embedding %(layer)s", layer=layer.name))
            )
    if found:
        return min(found, key=lambda item: item[0])
    return DEFAULT_MAX_LENGTH, msg("32k, as no layer states a longest sequence")


def table_lengths(longest: int, configured: int | None) -> tuple[int, ...]:
    """Powers of two from 16 up to ``longest``, then ``longest`` and the configured length."""
    lengths = {longest}
    length = SHORTEST_LENGTH
    while length < longest:
        lengths.add(length)
        length *= 2
    if configured:
        lengths.add(configured)
    return tuple(sorted(lengths))


# ---------------------------------------------------------------- the key/value cache


S = Symbol("s")
B = Symbol("b")
LAYERS = Symbol("n", "layers")


def _groups(caches: tuple[CachingLayer, ...]) -> list[tuple[KvHeads, int, int]]:
    """(heads, bytes per value, layer calls) of alike layers, in model order."""
    counts: dict[tuple[KvHeads, int], int] = {}
    for cache in caches:
        assert cache.heads is not None and cache.width is not None
        key = (cache.heads, cache.width)
        counts[key] = counts.get(key, 0) + cache.calls
    return [(heads, width, n) for (heads, width), n in counts.items()]


def _group_expr(heads: KvHeads, width: int, layers: int, length: int, batch: int) -> Expr:
    tail = (Num(length, S), Num(batch, B), Num(width))
    if heads.key_heads == heads.value_heads and heads.key_dim == heads.value_dim:
        return Product(
            (
                Num(2),
                Num(layers, LAYERS),
                Num(heads.key_heads, Symbol("h", "kv")),
                Num(heads.key_dim, Symbol("d", "head")),
                *tail,
            )
        )
    per_token = Sum(
        (
            Product((Num(heads.key_heads, Symbol("h", "k")), Num(heads.key_dim, Symbol("d", "k")))),
            Product(
                (Num(heads.value_heads, Symbol("h", "v")), Num(heads.value_dim, Symbol("d", "v")))
            ),
        )
    )
    return Product((Num(layers, LAYERS), per_token, *tail))


def kv_expr(caches: tuple[CachingLayer, ...], length: int, batch: int) -> Expr:
    """The cache's bytes for ``length`` tokens of ``batch`` sequences, as a formula: one
    product when all caching layers are alike, else a sum with a product per kind."""
    parts = [_group_expr(h, w, n, length, batch) for h, w, n in _groups(caches)]
    return parts[0] if len(parts) == 1 else Sum(tuple(parts))


def _unknown_cache(caches: tuple[CachingLayer, ...]) -> Prose | None:
    """Why the cache cannot be derived, or None when it can."""
    unread = tuple(c.name for c in caches if c.heads is None)
    if unread:
        return msg(
            "The configuration of %(layers)s does not say how many key/value heads it keeps, "
            "so the size of the key/value cache cannot be derived.",
            layers=Names(unread, MAX_NAMES),
        )
    dtypes = tuple(sorted({c.dtype for c in caches if c.width is None}))
    if dtypes:
        return msg("The size of a %(dtype)s value is not known to reportgen.", dtype=Names(dtypes))
    return None


def _cache_sentence(
    caches: tuple[CachingLayer, ...], formula: Formula, length: int, batch: int
) -> Prose:
    groups = _groups(caches)
    layers = sum(n for _, _, n in groups)
    if len(groups) == 1:
        heads, width, _ = groups[0]
        if heads.key_heads == heads.value_heads and heads.key_dim == heads.value_dim:
            return msg(
                "Each of the %(layers)s attention layers keeps, for every token, a key and a "
                "value for each of its %(heads)s key/value heads, %(dim)s numbers each, at "
                "%(width)s bytes per %(dtype)s value: for %(tokens)s tokens and a batch of "
                "%(batch)s that is %(bytes)s.",
                layers=layers,
                heads=heads.key_heads,
                dim=heads.key_dim,
                width=width,
                dtype=caches[0].dtype,
                tokens=length,
                batch=batch,
                bytes=ByteSize(formula.value),
            )
    return msg(
        "Each of the %(layers)s attention layers keeps, for every token, its keys (key heads × "
        "key size numbers) and its values (value heads × value size numbers), at the bytes of "
        "its compute dtype: summed over the layers, for %(tokens)s tokens and a batch of "
        "%(batch)s that is %(bytes)s.",
        layers=layers,
        tokens=length,
        batch=batch,
        bytes=ByteSize(formula.value),
    )


def why_it_grows(per_token: int | None, batch: int) -> Prose:
    """Why the cache grows with every generated token."""
    reason = msg(
        "A decoder generates text one token at a time, and every new token attends to all "
        "the tokens before it. Rather than compute their keys and values again at every step, "
        "each attention layer keeps them: every token adds its keys and values to the cache "
        "and they stay there until the sequence ends, so that every later token can attend "
        "to it."
    )
    if per_token is None:
        return reason
    return sentences(
        reason,
        msg(
            "So the cache grows by the same amount with every token, %(bytes)s per token at "
            "batch size %(batch)s: linearly with the length of the text and with the batch "
            "size, while the weights stay the same.",
            bytes=ByteSize(per_token),
            batch=batch,
        ),
    )


def grouped_query(caches: tuple[CachingLayer, ...], cache_bytes: int | None) -> Prose:
    """What grouped-query attention does to the cache, with this model's heads when it uses
    it; the general idea when its layers have a key/value head per query head."""
    general = msg(
        "Grouped-query attention lets several query heads share one key/value head: only "
        "the key/value heads are cached, so with a quarter as many key/value heads as query "
        "heads the cache is four times smaller, at the same number of query heads."
    )
    known = {(c.query_heads, c.heads.key_heads) for c in caches if c.heads is not None}
    if len(known) != 1:
        return general
    query, kv = next(iter(known))
    if query is None:
        return general
    if kv == query:
        return sentences(
            msg(
                "Here every one of the %(heads)s query heads has a key/value head of its own "
                "(plain multi-head attention), so all %(heads)s are cached.",
                heads=query,
            ),
            general,
        )
    if kv > query or query % kv:
        return general
    ratio = query // kv
    full = ByteSize(cache_bytes * ratio) if cache_bytes is not None else None
    if kv == 1:
        said = msg(
            "This model uses multi-query attention: all %(query)s query heads share a single "
            "key/value head, and only that one is cached, so the cache is %(ratio)s times "
            "smaller than with a key/value head per query head.",
            query=query,
            ratio=ratio,
        )
    else:
        said = msg(
            "This model uses grouped-query attention: its %(query)s query heads share %(kv)s "
            "key/value heads, %(ratio)s query heads to each, and only the key/value heads are "
            "cached, so the cache is %(query)s / %(kv)s = %(ratio)s times smaller than with a "
            "key/value head per query head.",
            query=query,
            kv=kv,
            ratio=ratio,
        )
    if full is None or cache_bytes is None:
        return said
    return sentences(
        said,
        msg(
            "At the configured length that is %(bytes)s instead of %(full)s.",
            bytes=ByteSize(cache_bytes),
            full=full,
        ),
    )


# ---------------------------------------------------------------- activations by length


def _counted(layer: LayerFacts) -> bool:
    """Whether a row writes an output of its own (a composite whose output is one of its
    sub-layers' writes none; its sub-layer's row counts it)."""
    return not (layer.composite and layer.output_of is not None)


def _row_bytes(
    shapes: tuple[Shape, ...], widths: tuple[int, ...], calls: int, length: int, batch: int
) -> int:
    total = 0
    for shape, width in zip(shapes, widths, strict=False):
        values = batch
        for d in shape[1:]:
            values *= length if d is None else int(d)
        total += values * width
    return total * calls


@dataclass(frozen=True)
class Activations:
    """The derived layer outputs of one forward pass, by sequence length and batch size."""

    at_configured: int | None
    """The page's output-memory total; None when a row's bytes cannot be derived."""
    rows: tuple[tuple[tuple[Shape, ...], tuple[int, ...], int], ...]
    """(open shapes, bytes per value, calls) of each counted row with outputs; empty when
    other lengths are unknown."""
    note: Prose | None
    """Why activations at other lengths are unknown, or None."""
    names: tuple[str, ...] = ()
    """The row of each entry of ``rows``."""
    plan: Schedule | None = None
    """The liveness schedule, when the peak is known: the column is then the peak."""
    peak_configured: int | None = None

    def at(self, length: int, batch: int, configured: tuple[int | None, int]) -> int | None:
        if (length, batch) == configured:
            return self.peak_configured if self.plan is not None else self.at_configured
        if self.note is not None or self.at_configured is None:
            return None
        sizes = [_row_bytes(s, w, c, length, batch) for s, w, c in self.rows]
        if self.plan is None:
            return sum(sizes)
        by_row: dict[str, int | None] = dict.fromkeys(self.plan.order, 0)
        by_row.update(zip(self.names, sizes, strict=True))
        peak = find_peak(self.plan, by_row)
        return peak.bytes if peak is not None else None


def activations(
    facts: ModelFacts, layers: tuple[LayerReport, ...], configured: int | None
) -> Activations:
    """What each row's output costs at any length, checked against its derived bytes."""
    reports = {r.name: r for r in layers}
    pairs = [(f, reports[f.name]) for f in facts.layers if f.name in reports and _counted(f)]
    unknown = [r.name for _, r in pairs if r.activation.value is None]
    if unknown:
        return Activations(
            None,
            (),
            msg(
                "The output size of %(layers)s cannot be derived, so the activations are "
                "unknown at every length.",
                layers=Names(tuple(unknown), MAX_NAMES),
            ),
        )
    total = sum(r.activation.value or 0 for _, r in pairs)
    if configured is None:
        return Activations(
            total, (), msg("The sequence length the model was collected at is not known.")
        )
    if not any(f.open_output_shapes for f, _ in pairs):
        return Activations(
            total,
            (),
            msg(
                "The collected facts do not say which output axes grow with the sequence "
                "length (collect with sequence_length or input_shapes set), so the "
                "activations at other lengths are not derived."
            ),
        )
    rows = []
    names = []
    differ = []
    for layer, row in pairs:
        value = row.activation.value or 0
        if not value:
            continue  # writes nothing at any length
        shapes = layer.open_output_shapes or layer.output_shapes
        widths = tuple(dtype_bytes(d) or 0 for d in output_dtypes(layer))
        calls = max(layer.calls, 1)
        if _row_bytes(shapes, widths, calls, configured, facts.batch_size) != value:
            differ.append(row.name)
        rows.append((shapes, widths, calls))
        names.append(row.name)
    if differ:
        return Activations(
            total,
            (),
            msg(
                "The output of %(layers)s does not grow with the sequence length in a way the "
                "collected shapes explain, so the activations at other lengths are not derived.",
                layers=Names(tuple(differ), MAX_NAMES),
            ),
        )
    return Activations(total, tuple(rows), None, tuple(names))


def with_peak(acts: Activations, facts: ModelFacts, peak: PeakMemory | None) -> Activations:
    """The activations column as the liveness peak, where the peak is known."""
    if peak is None or peak.bytes is None:
        return acts
    plan = schedule(facts.layers)
    if not isinstance(plan, Schedule):
        return acts
    return dataclasses.replace(acts, plan=plan, peak_configured=peak.bytes)


# ---------------------------------------------------------------- the whole estimate


def _inference_total(
    param_bytes: int, cache: Formula | None, acts: int | None, peak: bool = False
) -> Derivation:
    if cache is None or acts is None:
        return Derivation(
            None,
            "unknown",
            msg("The key/value cache or the activations cannot be derived, so there is no total."),
        )
    formula = Formula(
        Sum(
            (
                Term("weights", Num(param_bytes)),
                Term("KV cache", cache.expr),
                Term("activations", Num(acts)),
            )
        ),
        unit="B",
    )
    if peak:
        return Derivation.from_formula(
            formula,
            msg(
                "The weights, the key/value cache and the peak of the layer outputs live at "
                "once during one forward pass over the whole sequence, added up: %(total)s.",
                total=ByteSize(formula.value),
            ),
        )
    return Derivation.from_formula(
        formula,
        msg(
            "The weights, the key/value cache and the layer outputs of one forward pass over "
            "the whole sequence, added up: %(total)s.",
            total=ByteSize(formula.value),
        ),
    )


def _rows(
    caches: tuple[CachingLayer, ...],
    cache_known: bool,
    acts: Activations,
    param_bytes: int,
    lengths: tuple[int, ...],
    batches: tuple[int, ...],
    configured: tuple[int | None, int],
) -> tuple[DecoderBatch, ...]:
    groups = []
    for batch in batches:
        rows = []
        for length in lengths:
            kv = evaluate(kv_expr(caches, length, batch)) if cache_known else None
            act = acts.at(length, batch, configured)
            rows.append(
                DecoderRow(
                    sequence_length=length,
                    batch_size=batch,
                    kv_cache_bytes=kv,
                    weights_bytes=param_bytes,
                    activation_bytes=act,
                    total_bytes=None if kv is None or act is None else param_bytes + kv + act,
                    configured=(length, batch) == configured,
                )
            )
        groups.append(DecoderBatch(batch, tuple(rows)))
    return tuple(groups)


def derive_decoder(
    facts: ModelFacts,
    layers: tuple[LayerReport, ...],
    param_bytes: int,
    peak: PeakMemory | None = None,
) -> DecoderMemory | None:
    """A decoder's inference memory; None for a model with no layer that caches keys and
    values (not a decoder)."""
    caches = caching_layers(facts)
    if not caches:
        return None
    length = configured_length(facts, caches)
    batch = facts.batch_size
    cannot = _unknown_cache(caches)
    formula = None
    if cannot is not None:
        kv_cache = Derivation(None, "unknown", cannot)
    elif length is None:
        kv_cache = Derivation(
            None,
            "unknown",
            msg(
                "The sequence length is not known: set sequence_length (or input_shapes) in "
                "the model's configuration to size the key/value cache."
            ),
        )
    else:
        formula = Formula(kv_expr(caches, length, batch), unit="B")
        kv_cache = Derivation.from_formula(formula, _cache_sentence(caches, formula, length, batch))
    per_token = evaluate(kv_expr(caches, 1, batch)) if cannot is None else None
    longest, longest_source = max_length(facts)
    acts = with_peak(activations(facts, layers, length), facts, peak)
    at_configured = None if length is None else acts.at(length, batch, (length, batch))
    query = {c.query_heads for c in caches}
    kv_heads = {c.heads.key_heads for c in caches if c.heads is not None}
    return DecoderMemory(
        kv_cache=kv_cache,
        caching_layers=sum(c.calls for c in caches),
        query_heads=next(iter(query)) if len(query) == 1 else None,
        kv_heads=next(iter(kv_heads)) if len(kv_heads) == 1 and cannot is None else None,
        sequence_length=length,
        batch_size=batch,
        max_sequence_length=longest,
        max_source=longest_source,
        weights_bytes=param_bytes,
        activation_bytes=at_configured,
        total=_inference_total(param_bytes, formula, at_configured, acts.plan is not None),
        batches=_rows(
            caches,
            cannot is None,
            acts,
            param_bytes,
            table_lengths(longest, length),
            tuple(sorted({*BATCH_SIZES, batch})),
            (length, batch),
        ),
        activations_note=acts.note,
        activation_basis="peak" if acts.plan is not None else "sum",
        why_it_grows=why_it_grows(per_token, batch),
        grouped_query=grouped_query(caches, kv_cache.value),
    )
