"""keras-hub's embeddings (``keras_hub/src/layers/modeling/``): token tables that double as
the output projection, learned and sinusoidal position embeddings, rotary embeddings.

Each FLOPs rule follows the ops keras-hub 0.32 builds on TensorFlow 2.21 and counts them as
the profiler does (:mod:`.convention`); ``tests/test_tf_hub_layers.py`` checks every one.
"""

from __future__ import annotations

from reportgen.derive.layers.convention import batch_note, counted, missing_shape, per_value
from reportgen.derive.layers.registry import (
    NotDerived,
    Zero,
    declare,
    formula,
    unknown,
)
from reportgen.derive.layers.shapes import batch_factor, count, dims, elements
from reportgen.expr import Expr, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts, Shape
from reportgen.model import Derivation, Text, msg, sentences
from reportgen.units import fmt_int

_HERE = __name__
POSITION = "position"


# ---------------------------------------------------------------- ReversibleEmbedding


def _table(vocab: int, dim: int) -> Product:
    return Product((Num(vocab, Symbol("V")), Num(dim, Symbol("d"))))


def reversible_embedding_params(layer: LayerFacts) -> Derivation:
    """ReversibleEmbedding: the V×d table, plus a d×V output kernel when the weights are untied."""
    vocab = int(layer.config["input_dim"])
    dim = int(layer.config["output_dim"])
    tied = bool(layer.config.get("tie_weights", True))
    table = Text(
        f"The token embedding is a lookup table of {fmt_int(vocab)} rows (one per token id) of "
        f"{dim} learned values each.",
        f"词元嵌入是一张查找表：{fmt_int(vocab)} 行（每个词元编号一行），"
        f"每行 {dim} 个可学习的数值。",
    )
    if tied:
        return formula(
            _table(vocab, dim),
            sentences(
                table,
                Text(
                    "Its weights are tied (tie_weights=True): called in reverse, the layer turns "
                    "hidden vectors back into logits over the vocabulary with the transposed "
                    "table, so the output projection costs no parameters of its own.",
                    "它的权重是共享的（tie_weights=True）：反向调用时，这一层用同一张表的转置把"
                    "隐藏向量变回词表上的 logits，所以输出投影不另占参数。",
                ),
            ),
        )
    reverse = Product((Num(dim, Symbol("d")), Num(vocab, Symbol("V"))))
    return formula(
        Sum((Term("table", _table(vocab, dim)), Term("reverse kernel", reverse))),
        sentences(
            table,
            Text(
                "Its weights are not tied (tie_weights=False): the reverse call, which turns "
                f"hidden vectors into logits over the vocabulary, has its own {dim}×"
                f"{fmt_int(vocab)} kernel, which doubles the layer's parameters.",
                "它的权重不共享（tie_weights=False）：把隐藏向量变回词表 logits 的反向调用有自己"
                f"的 {dim}×{fmt_int(vocab)} 矩阵，参数因此翻倍。",
            ),
        ),
    )


def _is_reverse_call(layer: LayerFacts) -> bool:
    """A reverse call maps (…, d) to (…, V): its input and output have the same rank, where a
    lookup adds an axis."""
    return bool(
        layer.input_shapes
        and layer.output_shapes
        and len(layer.input_shapes[0]) == len(layer.output_shapes[0])
    )


def lookup_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """A token lookup: Less + AddV2 on every id (negative ids wrap), the gather itself 0."""
    in_dims = dims(layer.input_shapes)
    if in_dims is None:
        return missing_shape(layer)
    ids = elements(in_dims, batch_size)
    return counted(
        [Term("Less, AddV2", Product((Num(2), *ids)))],
        _lookup_prose(count(in_dims, batch_size)),
        batch_note(batch_size),
    )


def _lookup_prose(ids: int) -> Text:
    return Text(
        "The lookup (GatherV2) copies one row per token and counts 0. Before it, Keras makes "
        "negative token ids wrap around (id < 0 → id + input_dim): a comparison and an addition "
        f"for each of the {fmt_int(ids)} ids, which TensorFlow counts.",
        "查表（GatherV2）只是为每个词元复制一行，计为 0。在此之前 Keras 会让负的词元编号回绕"
        f"（id < 0 时加上 input_dim）：对 {fmt_int(ids)} 个编号各做一次比较和一次加法，"
        "TensorFlow 会计入。",
    )


def reversible_embedding_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Forward: a lookup. Reverse (logits): a MatMul, 2·d per logit, plus the soft cap if set."""
    if not _is_reverse_call(layer):
        return lookup_flops(layer, batch_size)
    in_dims, out_dims = dims(layer.input_shapes), dims(layer.output_shapes)
    if in_dims is None or out_dims is None:
        return missing_shape(layer)
    dim, vocab = in_dims[-1], out_dims[-1]
    rows = [Num(d) for d in in_dims[:-1]]
    d, v = Num(dim, Symbol("d")), Num(vocab, Symbol("V"))
    n = batch_factor(batch_size)
    terms = [Term("MatMul", Product((Num(2), d, v, *rows, *n)))]
    cap = layer.config.get("logit_soft_cap")
    if cap:
        terms.append(Term("RealDiv, Mul (soft cap)", Product((Num(2), v, *rows, *n))))
    return counted(
        terms,
        Text(
            "Called in reverse, the layer computes logits over the vocabulary: a matrix product "
            f"of each hidden vector ({dim} values) with the {dim}×{fmt_int(vocab)} output "
            "kernel, 2 FLOPs per multiply-add.",
            f"反向调用时，这一层计算词表上的 logits：每个隐藏向量（{dim} 个数值）与 "
            f"{dim}×{fmt_int(vocab)} 的输出矩阵做矩阵乘法，每次乘加计 2 次浮点运算。",
        ),
        msg(
            "The logit soft cap, cap·tanh(logits/cap), adds a division and a multiplication per "
            "logit (the tanh counts 0)."
        )
        if cap
        else None,
        batch_note(batch_size),
    )


# ---------------------------------------------------------------- position embeddings


def position_embedding_params(layer: LayerFacts) -> Derivation:
    """PositionEmbedding: one learned vector per position, sequence_length × d."""
    length = int(layer.config["sequence_length"])
    if not layer.input_shapes or layer.input_shapes[0][-1] is None:
        return unknown(
            msg(
                "The formula needs the size of the input's last axis, which the collected facts "
                "do not give."
            )
        )
    dim = int(layer.input_shapes[0][-1] or 0)
    return formula(
        Product((Num(length, Symbol("L")), Num(dim, Symbol("d")))),
        Text(
            f"A learned position embedding keeps one vector of {dim} values for each of the "
            f"{fmt_int(length)} positions a sequence may have (sequence_length): the model learns "
            "what being at position i means. Longer inputs than that cannot be embedded.",
            f"可学习的位置嵌入为序列可能出现的 {fmt_int(length)} 个位置（sequence_length）各保存"
            f"一个 {dim} 维向量：模型自己学习“处在第 i 个位置”意味着什么。比它更长的输入无法嵌入。",
        ),
    )


POSITION_EMBEDDING_FLOPS = Zero(
    msg(
        "A learned position embedding slices the rows of the positions in use and broadcasts "
        "them over the batch; it computes nothing (adding them to the tokens is the next "
        "layer's work)."
    )
)


def token_and_position_params(layer: LayerFacts) -> Derivation:
    """TokenAndPositionEmbedding: V×d token table (+ d×V untied) + L×d position table."""
    vocab = int(layer.config["vocabulary_size"])
    length = int(layer.config["sequence_length"])
    dim = int(layer.config["embedding_dim"])
    tied = bool(layer.config.get("tie_weights", True))
    terms: list[Expr] = [Term("tokens", _table(vocab, dim))]
    if not tied:
        terms.append(
            Term("reverse kernel", Product((Num(dim, Symbol("d")), Num(vocab, Symbol("V")))))
        )
    terms.append(Term("positions", Product((Num(length, Symbol("L")), Num(dim, Symbol("d"))))))
    return formula(
        Sum(tuple(terms)),
        sentences(
            Text(
                f"The layer adds two lookup tables of {dim} values per row: one row per token id "
                f"({fmt_int(vocab)} ids) and one per position ({fmt_int(length)} positions).",
                f"这一层把两张每行 {dim} 个数值的查找表相加：每个词元编号一行（{fmt_int(vocab)} "
                f"个），每个位置一行（{fmt_int(length)} 个）。",
            ),
            None
            if tied
            else Text(
                f"The token table is not tied to the output projection (tie_weights=False), so "
                f"it also holds a {dim}×{fmt_int(vocab)} reverse kernel.",
                f"词元表不与输出投影共享（tie_weights=False），所以还另有一个 "
                f"{dim}×{fmt_int(vocab)} 的反向矩阵。",
            ),
        ),
    )


def token_and_position_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Lookup (Less + AddV2 per id) and the sum of token and position vectors (1 per value)."""
    in_dims, out_dims = dims(layer.input_shapes), dims(layer.output_shapes)
    if in_dims is None or out_dims is None:
        return missing_shape(layer)
    return counted(
        [
            Term("Less, AddV2", Product((Num(2), *elements(in_dims, batch_size)))),
            Term("Add", Product(tuple(elements(out_dims, batch_size)))),
        ],
        _lookup_prose(count(in_dims, batch_size)),
        msg("Adding the position vectors to the token vectors costs 1 FLOP per output value."),
        batch_note(batch_size),
    )


def _sequence_and_width(layer: LayerFacts) -> tuple[int, int] | None:
    """(sequence length, features) of a (batch, …, length, features) input."""
    in_dims = dims(layer.input_shapes)
    if in_dims is None or len(in_dims) < 2:
        return None
    return in_dims[-2], in_dims[-1]


def sine_position_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """SinePositionEncoding: one (L, d) table per call, the same for the whole batch."""
    found = _sequence_and_width(layer)
    if found is None:
        return missing_shape(layer)
    length, dim = found
    l_, d = Num(length, Symbol("L")), Num(dim, Symbol("d"))
    return counted(
        [
            Term("AddV2 (sin + cos)", Product((l_, d))),
            Term("AddV2 (positions)", l_),
            Term("Pow, RealDiv, Mul, Sub (frequencies)", Product((Num(4), d))),
        ],
        Text(
            f"The encoding is computed, not learned: for each of the {fmt_int(length)} positions "
            f"and {dim} features, sin or cos of position × frequency. Only the additions, the "
            "frequency table (4 ops per feature) and the shifted positions count; sin, cos and "
            "the two Einsum products count 0 in TensorFlow's profiler.",
            f"这种编码是算出来的，不是学出来的：对 {fmt_int(length)} 个位置、{dim} 个特征，各取"
            "位置×频率的正弦或余弦。计入的只有加法、频率表（每个特征 4 次）和平移后的位置；"
            "sin、cos 和两个 Einsum 乘积在 TensorFlow 分析器里计为 0。",
        ),
        msg(
            "The table does not depend on the batch: it is computed once and broadcast to every "
            "example."
        ),
    )


# ---------------------------------------------------------------- rotary embeddings

ROTARY_PARAMS = Zero(
    msg(
        "A rotary embedding has no weights: it rotates each pair of query or key features by an "
        "angle that grows with the position, at fixed frequencies computed from max_wavelength."
    )
)


def _rotary_axes(layer: LayerFacts) -> tuple[tuple[int, ...], int, int] | None:
    """(non-batch dims, sequence length, rotary width) from the input and the configured axes."""
    in_dims = dims(layer.input_shapes)
    if in_dims is None:
        return None
    rank = len(in_dims) + 1
    seq_axis = int(layer.config.get("sequence_axis", 1)) % rank
    feat_axis = int(layer.config.get("feature_axis", -1)) % rank
    if 0 in (seq_axis, feat_axis):
        return None
    return in_dims, in_dims[seq_axis - 1], in_dims[feat_axis - 1]


def _frequency_ops(layer: LayerFacts) -> tuple[int, Text] | None:
    """Ops per rotary feature of the frequency table, by class and rope_type (None: unverified)."""
    if layer.class_name == "LlamaRotaryEmbedding":
        if layer.config.get("low_freq_factor") is not None:
            return None
        return 3, Text(
            "The frequency table costs 3 FLOPs per pair of features (a division, a power and a "
            "reciprocal).",
            "频率表每对特征花 3 次浮点运算（一次除法、一次幂、一次取倒数）。",
        )
    rope = layer.config.get("rope_type", "linear")
    if rope == "linear":
        return 4, Text(
            "The frequency table costs 4 FLOPs per pair of features (a division, a negation, a "
            "power, and the division by scaling_factor).",
            "频率表每对特征花 4 次浮点运算（一次除法、一次取负、一次幂，再除以 scaling_factor）。",
        )
    if rope not in ("dynamic", "yarn"):
        return 3, Text(
            "The frequency table costs 3 FLOPs per pair of features (a division, a negation and "
            "a power).",
            "频率表每对特征花 3 次浮点运算（一次除法、一次取负、一次幂）。",
        )
    return None


def rotary_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """x·cos + rotate_half(x)·sin: 2 Mul + AddV2 per value, Neg per half value; plus the
    positions (1 per step) and the frequency table (3 or 4 per feature pair)."""
    found = _rotary_axes(layer)
    if found is None:
        return missing_shape(layer)
    in_dims, length, width = found
    table = _frequency_ops(layer)
    if table is None:
        return unknown(
            msg(
                "reportgen has verified the FLOPs of this rotary embedding's frequency table only "
                "for rope_type linear and default (and Llama's without frequency smoothing); the "
                "rotation itself costs 3.5 FLOPs per value."
            )
        )
    per_pair, table_note = table
    values = elements(in_dims, batch_size)
    l_, pairs = Num(length, Symbol("L")), Num(width // 2, Symbol("d", "/2"))
    terms = [
        Term("Mul, AddV2 (rotation)", Product((Num(3), *values))),
        Term(
            "Neg (half of the features)",
            Product((Num(width // 2), *(Num(d) for d in in_dims[:-1]), *batch_factor(batch_size))),
        ),
        Term("AddV2 (positions)", l_),
        Term("frequency table", Product((Num(per_pair), pairs))),
    ]
    return counted(
        terms,
        Text(
            f"Each query or key vector of {width} features is rotated pair by pair by an angle "
            "proportional to its position: x·cos + rotate_half(x)·sin, two multiplications and "
            "an addition per value, and a negation of half of the values (rotate_half). The "
            "angles' cos and sin count 0 in TensorFlow's profiler.",
            f"每个 {width} 维的查询或键向量按位置成比例的角度逐对旋转：x·cos + rotate_half(x)·sin，"
            "每个数值两次乘法、一次加法，另对一半的数值取负（rotate_half）。角度的 cos、sin 在 "
            "TensorFlow 分析器里计为 0。",
        ),
        table_note,
        msg(
            "The positions and the frequency table are computed once per call, whatever the "
            "batch size."
        ),
        batch_note(batch_size),
    )


def same_shape(layer: LayerFacts) -> tuple[Shape, ...]:
    """Layers whose output has their input's shape (Keras leaves unknown axes unknown)."""
    return layer.input_shapes[:1] if layer.input_shapes else layer.output_shapes


# ---------------------------------------------------------------- declarations

declare(
    "ReversibleEmbedding",
    family="embedding",
    params=reversible_embedding_params,
    flops=reversible_embedding_flops,
    module=_HERE,
)
declare(
    "TokenAndPositionEmbedding",
    family="embedding",
    params=token_and_position_params,
    flops=token_and_position_flops,
    module=_HERE,
)
declare(
    "PositionEmbedding",
    family=POSITION,
    params=position_embedding_params,
    flops=POSITION_EMBEDDING_FLOPS,
    output_shapes=same_shape,
    module=_HERE,
)
declare(
    "SinePositionEncoding",
    family=POSITION,
    params=Zero(
        msg(
            "A sinusoidal position encoding has no weights: each position's vector is a fixed "
            "pattern of sines and cosines at geometrically spaced frequencies, computed on the "
            "fly from the position."
        )
    ),
    flops=sine_position_flops,
    output_shapes=same_shape,
    module=_HERE,
)
declare(
    "RotaryEmbedding",
    "LlamaRotaryEmbedding",
    family=POSITION,
    params=ROTARY_PARAMS,
    flops=rotary_flops,
    output_shapes=same_shape,
    module=_HERE,
)
declare(
    "ESMRotaryEmbedding",
    "Phi3SuScaledRotaryEmbedding",
    family=POSITION,
    params=ROTARY_PARAMS,
    flops=NotDerived(
        msg(
            "This rotary embedding computes its angles its own way, which reportgen has not "
            "checked against TensorFlow's profiler yet; the rotation itself costs 3.5 FLOPs per "
            "value."
        )
    ),
    output_shapes=same_shape,
    module=_HERE,
)


# ---------------------------------------------------------------- ViTDet's position embeddings


def _add_positional_grid(layer: LayerFacts) -> tuple[int, int, int, bool] | None:
    """(rows, columns, features, from the input shape) of ViTDet's position table: from
    img_size // patch_size and embed_dim, or, when the configuration lacks them, from the
    input it is added to (which has the table's shape)."""
    config = layer.config
    if all(k in config for k in ("img_size", "patch_size", "embed_dim")):
        side = int(config["img_size"]) // int(config["patch_size"])
        return side, side, int(config["embed_dim"]), False
    in_dims = dims(layer.input_shapes)
    if in_dims is None or len(in_dims) != 3:
        return None
    return in_dims[0], in_dims[1], in_dims[2], True


def add_positional_params(layer: LayerFacts) -> Derivation:
    """ViTDet's AddPositionalEmbedding: one learned vector per patch of the grid, H×W×d."""
    found = _add_positional_grid(layer)
    if found is None:
        return unknown(
            msg(
                "The configuration lacks img_size, patch_size or embed_dim, and the input shape "
                "does not give the grid either."
            )
        )
    rows, cols, dim, from_input = found
    return formula(
        Product((Num(rows, Symbol("H")), Num(cols, Symbol("W")), Num(dim, Symbol("d")))),
        sentences(
            Text(
                f"A learned position embedding for a {rows}×{cols} grid of patches: one vector "
                f"of {dim} values per patch (img_size / patch_size patches a side), added to the "
                "patch embeddings.",
                f"为 {rows}×{cols} 的图块网格学习的位置嵌入：每个图块一个 {dim} 维向量"
                "（每边 img_size / patch_size 个图块），加到图块嵌入上。",
            ),
            msg(
                "The configuration lacks img_size, patch_size or embed_dim, so the grid is read "
                "from the input it is added to, which has the table's shape."
            )
            if from_input
            else None,
        ),
    )


def add_positional_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    return per_value(
        layer,
        batch_size,
        "AddV2",
        1,
        msg("Adding the position table to the patch embeddings costs 1 FLOP per value."),
    )


def add_relative_positional_params(layer: LayerFacts) -> Derivation:
    """AddRelativePositionalEmbedding: (2·H − 1)·k + (2·W − 1)·k."""
    height, width = (int(v) for v in layer.config["input_size"][:2])
    key_dim = int(layer.config["key_dim"])
    k = Num(key_dim, Symbol("k"))
    return formula(
        Sum(
            (
                Term("rel_pos_h", Product((Num(2 * height - 1, Symbol("2H−1")), k))),
                Term("rel_pos_w", Product((Num(2 * width - 1, Symbol("2W−1")), k))),
            )
        ),
        Text(
            f"Decomposed relative positions (as in MViT and SAM): within a window of "
            f"{height}×{width} patches two patches are between −{height - 1} and +{height - 1} "
            f"rows apart, so there are {2 * height - 1} vertical offsets, and {2 * width - 1} "
            f"horizontal ones; each offset has a learned vector of {key_dim} values (the head "
            "size). The query is multiplied with the vectors of its offsets to every key, and "
            "the results are added to the attention scores.",
            f"分解的相对位置编码（与 MViT、SAM 相同）：在 {height}×{width} 个图块的窗口里，"
            f"两个图块在行方向上相差 −{height - 1} 到 +{height - 1}，共 {2 * height - 1} 种"
            f"纵向偏移，横向同理有 {2 * width - 1} 种；每种偏移有一个 {key_dim} 维（即每个头"
            "的维度）的可学习向量。查询与它到各个键的偏移向量相乘，结果加到注意力分数上。",
        ),
    )


declare(
    "AddPositionalEmbedding",
    family=POSITION,
    params=add_positional_params,
    flops=add_positional_flops,
    output_shapes=same_shape,
    module=_HERE,
)
declare(
    "AddRelativePositionalEmbedding",
    family=POSITION,
    params=add_relative_positional_params,
    flops=NotDerived(
        msg(
            "The relative position terms are added to the attention scores (2 FLOPs per "
            "query–key pair) after two Einsum products, which TensorFlow's profiler does not "
            "count; reportgen has not yet checked a formula for the index arithmetic around "
            "them against the profiler."
        )
    ),
    module=_HERE,
)
declare(
    "DINOV3RopePositionEmbedding",
    family=POSITION,
    params=Zero(
        msg(
            "DINOv3's rotary position embedding has no weights: the angles come from each "
            "patch's row and column on the image grid, at fixed frequencies (rope_theta)."
        )
    ),
    flops=NotDerived(
        msg(
            "The angle table of DINOv3's 2-D rotary embedding is computed from the patch grid "
            "on every call; reportgen has not yet checked a formula for it against TensorFlow's "
            "profiler."
        )
    ),
    module=_HERE,
)
