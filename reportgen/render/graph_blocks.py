"""Which rows of a large model the collapsed graph draws as one box: its blocks.

A model with more rows than the page's graph shows (:data:`reportgen.render.graph.INLINE_MAX_ROWS`)
is drawn with each block as one box carrying its totals. The blocks, in order:

1. **Structure first.** A composite row (a keras-hub transformer block, a user layer made
   of layers) and its sub-layers are one block; so are the layers of a nested model of at
   most :data:`MAX_BLOCK_ROWS` rows. A larger nested model is grouped inside by the rules
   below, and no block reaches across its boundary.
2. **Names.** Flat models (``keras.applications``) name their layers after the block they
   build, and the block can be read back from the name, token by token (``_``-separated):

   - a *block token* ends the block's name: ``block``, ``stage``, ``mixed`` or ``cell`` with
     a number (``block1``, ``block2a``, ``mixed5``, ``block35``) or followed by a number
     token (``block_1``, ``stage_0``, ``mixed_5b``); the last one in the name counts:
     ``conv2_block1_1_conv`` → ``conv2_block1`` (ResNet), ``conv3_block7_0_bn`` →
     ``conv3_block7`` (DenseNet), ``block2a_expand_conv`` → ``block2a`` (EfficientNet),
     ``mixed9_0`` → ``mixed9`` (Inception), ``convnext_tiny_stage_0_block_0_gelu`` →
     ``convnext_tiny_stage_0_block_0``;
   - else one of two readings, the same for a whole stretch of rows, whichever makes
     fewer blocks of it (the first on a tie): *up to the first number*, the name up to
     its first token with a digit, or its first token when none has one (``conv1_pad`` →
     ``conv1``, ``pool2_conv`` → ``pool2``, ``expanded_conv_3_expand`` →
     ``expanded_conv_3``, ``stem_bn`` → ``stem``); or a *cell suffix*, a name's ending
     ``_<n>``, ``_stem_<n>`` or ``_reduce_<n>`` (NASNet's cells: ``normal_add_1_9`` →
     ``…_9``, ``reduction_concat_reduce_4`` → ``…_reduce_4``; a name without one is read
     up to its first number).
3. **Keras's own names.** A layer named by Keras after its class (``conv2d_15``,
   ``activation``, ``batch_normalization_3``: the class name in snake case, maybe with a
   number) says nothing of its block. It joins the block of the next row in model order
   that has a name of its own: Inception's branches join the ``mixed`` concatenation they
   lead to, Inception-ResNet's the ``block35_1`` they feed.
4. **Runs.** A block is a run of consecutive rows with the same key; the same key later on
   starts another block. A run of more than :data:`MAX_BLOCK_ROWS` rows is split by one
   more token of its names (Inception-ResNet's ten ``block35`` blocks become
   ``block35_1`` … ``block35_10``), as often as that helps.
5. **Enough.** If the blocks are still more than the graph can show, consecutive blocks
   are merged, evenly, until they fit.

The rule only groups; it never drops or reorders a row: every row is in exactly one block.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from reportgen.model import LayerReport

MAX_BLOCK_ROWS = 64
"""The most rows a block made by names holds before it is split by one more token; also the
largest nested model drawn as one block."""

_BLOCK_TOKEN = re.compile(r"(?:block|stage|mixed|cell)(\d+[a-z]?)?", re.IGNORECASE)
_NUMBER_TOKEN = re.compile(r"\d+[a-z]?")
_CELL_SUFFIX = re.compile(r"_((?:stem_|reduce_)?\d+)$")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Block:
    """Consecutive rows drawn as one box in the collapsed graph."""

    label: str
    rows: tuple[int, ...]
    """Indices of its rows, in model order."""


def snake_case(class_name: str) -> str:
    """A class name as Keras writes it in the names it makes (``Conv2D`` → ``conv2d``,
    ``BatchNormalization`` → ``batch_normalization``, ``ReLU`` → ``re_lu``)."""
    words = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", words).lower()


def is_keras_name(name: str, class_name: str) -> bool:
    """Whether ``name`` is the one Keras gives a layer of ``class_name`` (``conv2d_15``)."""
    return re.fullmatch(re.escape(snake_case(class_name)) + r"(?:_\d+)?", name) is not None


def name_key(name: str, extra: int = 0, cells: bool = False) -> str:
    """The block a layer's name says it belongs to (rule 2 of the module): by its block
    token, else up to its first number or (``cells``) by its cell suffix; with ``extra``
    more tokens when a block of that key is too long."""
    tokens = name.split("_")
    end = 0
    i = 0
    while i < len(tokens):
        match = _BLOCK_TOKEN.fullmatch(tokens[i])
        if match and match.group(1):
            end = i + 1
        elif match and i + 1 < len(tokens) and _NUMBER_TOKEN.fullmatch(tokens[i + 1]):
            end = i + 2
            i += 1
        i += 1
    if not end and cells and not extra:
        suffix = _CELL_SUFFIX.search(name)
        if suffix:
            return "…_" + suffix.group(1)
    if not end:
        end = next((i + 1 for i, token in enumerate(tokens) if _DIGIT.search(token)), 1)
    return "_".join(tokens[: min(len(tokens), end + extra)])


def _keys(names: Sequence[str | None], extra: int, cells: bool) -> list[str | None]:
    """Each row's key; a row named by Keras (None) takes the next named row's key, or the
    last one's at the end."""
    keys: list[str | None] = [
        None if name is None else name_key(name, extra, cells) for name in names
    ]
    following: str | None = None
    for i in range(len(keys) - 1, -1, -1):
        if keys[i] is None:
            keys[i] = following
        else:
            following = keys[i]
    preceding: str | None = None
    for i, key in enumerate(keys):
        if key is None:
            keys[i] = preceding
        else:
            preceding = key
    return keys


def _runs(keys: Sequence[object]) -> list[tuple[int, int]]:
    """(start, end) of each run of equal consecutive keys."""
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            runs.append((start, i))
            start = i
    return runs


def _by_names(names: Sequence[str | None], extra: int = 0) -> list[tuple[int, int, str]]:
    """(start, end, key) of each block of a flat stretch of rows (rules 2 to 4)."""
    readings = [_keys(names, extra, cells) for cells in (False, True)]
    keys = min(readings, key=lambda keys: len(_runs(keys)))
    blocks: list[tuple[int, int, str]] = []
    for start, end in _runs(keys):
        key = keys[start] or ""
        if end - start > MAX_BLOCK_ROWS and extra < 8:
            inner = _by_names(names[start:end], extra + 1)
            if len(inner) > 1:
                blocks += [(start + a, start + b, k) for a, b, k in inner]
                continue
        blocks.append((start, end, key))
    return blocks


def _outermost_composite(layer: LayerReport, by_name: dict[str, LayerReport]) -> str | None:
    """The outermost composite row around ``layer`` (itself, if it is one), by name."""
    found = layer.name if layer.composite else None
    seen = 0
    while layer.block is not None and layer.block in by_name and seen < 64:
        layer = by_name[layer.block]
        found = layer.name
        seen += 1
    return found


def _top_model(layer: LayerReport) -> str | None:
    return layer.parent.split("/", 1)[0] if layer.parent else None


def model_blocks(layers: Sequence[LayerReport], most: int) -> list[Block]:
    """The blocks of a model's rows, in model order, at most ``most`` of them (rules 1-5)."""
    by_name: dict[str, LayerReport] = {}
    for layer in layers:
        by_name.setdefault(layer.name, layer)
    model_rows: dict[str, int] = {}
    for layer in layers:
        top = _top_model(layer)
        if top is not None:
            model_rows[top] = model_rows.get(top, 0) + 1

    # rule 1: each row's structural unit; None where names decide
    units: list[tuple[str, str] | None] = []
    for layer in layers:
        composite = _outermost_composite(layer, by_name)
        top = _top_model(layer)
        if top is not None and model_rows[top] <= MAX_BLOCK_ROWS:
            units.append(("model", top))
        elif composite is not None:
            units.append(("composite", composite))
        else:
            units.append(None)

    blocks: list[Block] = []
    i = 0
    while i < len(layers):
        unit = units[i]
        end = i + 1
        if unit is not None:
            while end < len(layers) and units[end] == unit:
                end += 1
            blocks.append(Block(unit[1], tuple(range(i, end))))
            i = end
            continue
        # a flat stretch: rows named by rules 2-4, inside one nested model (or none)
        scope = _top_model(layers[i])
        while end < len(layers) and units[end] is None and _top_model(layers[end]) == scope:
            end += 1
        stretch = layers[i:end]
        names = [
            None if is_keras_name(layer.name, layer.class_name) else layer.name for layer in stretch
        ]
        for start, stop, key in _by_names(names):
            rows = tuple(range(i + start, i + stop))
            label = key if len(rows) > 1 else layers[rows[0]].name
            blocks.append(Block(f"{scope}/{label}" if scope else label, rows))
        i = end
    return _merged(blocks, most)


def _merged(blocks: list[Block], most: int) -> list[Block]:
    """Rule 5: consecutive blocks merged evenly until at most ``most`` remain."""
    if len(blocks) <= most or most < 1:
        return blocks
    size = math.ceil(len(blocks) / most)
    merged = []
    for start in range(0, len(blocks), size):
        group = blocks[start : start + size]
        rows = tuple(row for block in group for row in block.rows)
        label = group[0].label if len(group) == 1 else f"{group[0].label} … {group[-1].label}"
        merged.append(Block(label, rows))
    return merged
