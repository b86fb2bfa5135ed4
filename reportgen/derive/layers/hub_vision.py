"""keras-hub's vision embeddings: an image cut into patches, each patch a token.

ViT-style models embed every p×p patch with one strided convolution (a linear projection of
the patch's p·p·c values to d features), prepend a learned class token and add a learned
position embedding per token; the encoder then sees a sequence like a text model's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from reportgen.derive.layers.applications import layer_scale_flops
from reportgen.derive.layers.convention import batch_note, counted, missing_shape, per_value
from reportgen.derive.layers.registry import COMPOSITE, NotDerived, Zero, declare, formula
from reportgen.derive.layers.shapes import (
    batch_factor,
    channels_first,
    dims,
    input_channels,
    ints,
    no_input_channels,
)
from reportgen.expr import Expr, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts, Shape
from reportgen.model import Derivation, Paragraph, Text, msg, sentences
from reportgen.units import fmt_int

FAMILY = "patch_embedding"
_HERE = __name__


def _vit_sizes(layer: LayerFacts) -> tuple[tuple[int, int], int, int, int] | None:
    """(patch size, input channels, hidden dim, positions) of a ViTPatchingAndEmbedding."""
    patch = ints(layer.config["patch_size"])
    if len(patch) == 1:
        patch = (patch[0], patch[0])
    channels = int(layer.config.get("num_channels") or 0)
    if layer.input_shapes and layer.input_shapes[0]:
        found = layer.input_shapes[0][1 if channels_first(layer) else -1]
        channels = int(found) if found is not None else channels
    if not channels:
        return None
    image = ints(layer.config["image_size"])
    patches = (image[0] // patch[0]) * (image[1] // patch[1])
    positions = patches + int(bool(layer.config.get("use_class_token", True)))
    return (patch[0], patch[1]), channels, int(layer.config["hidden_dim"]), positions


def has_patch_bias(layer: LayerFacts) -> bool:
    """``use_patch_bias``: keras-hub 0.32's get_config() leaves it out, so without it the
    layer's weight names say whether the patch projection has a bias (only whether: every
    number still comes from the configuration and shapes)."""
    if "use_patch_bias" in layer.config:
        return bool(layer.config["use_patch_bias"])
    if not layer.weights:
        return True
    return any(w.name.rsplit("/", 1)[-1] == "bias" for w in layer.weights)


def vit_patching_params(layer: LayerFacts) -> Derivation:
    """p_h×p_w×c×d kernel (+ d bias) + d class token + positions × d position table."""
    sizes = _vit_sizes(layer)
    if sizes is None:
        return no_input_channels()
    (ph, pw), channels, dim, positions = sizes
    d = Num(dim, Symbol("d"))
    kernel: Expr = Product(
        (Num(ph, Symbol("p", "h")), Num(pw, Symbol("p", "w")), Num(channels, Symbol("c")), d)
    )
    bias = has_patch_bias(layer)
    cls = bool(layer.config.get("use_class_token", True))
    terms: list[Expr] = [Term("patch kernel", kernel)]
    if bias:
        terms.append(Term("patch bias", d))
    if cls:
        terms.append(Term("class token", d))
    terms.append(Term("positions", Product((Num(positions, Symbol("P")), d))))
    patches = positions - int(cls)
    return formula(
        Sum(tuple(terms)),
        sentences(
            Text(
                f"The image is cut into {fmt_int(patches)} patches of {ph}×{pw} pixels; one "
                f"strided convolution projects each patch's {ph}×{pw}×{channels} values to "
                f"{dim} features"
                + (" (with a bias)" if bias else " (without a bias)")
                + ", the same learned matrix for every patch.",
                f"图像被切成 {fmt_int(patches)} 个 {ph}×{pw} 像素的图块；一个步长等于图块大小的"
                f"卷积把每个图块的 {ph}×{pw}×{channels} 个数值投影成 {dim} 维特征"
                + ("（带偏置）" if bias else "（不带偏置）")
                + "，所有图块共用这一个可学习的矩阵。",
            ),
            Text(
                f"A learned class token of {dim} values is put in front of the patches; its "
                "output is what a classifier reads.",
                f"在图块前面加一个可学习的 {dim} 维类别标记（class token），"
                "分类器读取的就是它的输出。",
            )
            if cls
            else None,
            Text(
                f"Each of the {fmt_int(positions)} tokens then gets a learned position vector "
                f"of {dim} values added, so the model knows where each patch came from.",
                f"然后给 {fmt_int(positions)} 个标记各加上一个可学习的 {dim} 维位置向量，"
                "让模型知道每个图块来自哪里。",
            ),
        ),
    )


def vit_patching_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Conv2D (2·p²·c per output value) + BiasAdd + position lookup (2 per id) + Add."""
    sizes = _vit_sizes(layer)
    if sizes is None:
        return missing_shape(layer)
    (ph, pw), channels, dim, positions = sizes
    cls = bool(layer.config.get("use_class_token", True))
    patches = positions - int(cls)
    n = batch_factor(batch_size)
    d = Num(dim, Symbol("d"))
    p_n, big_p = Num(patches, Symbol("n", "patches")), Num(positions, Symbol("P"))
    terms = [
        Term(
            "Conv2D",
            Product(
                (
                    Num(2),
                    Num(ph, Symbol("p", "h")),
                    Num(pw, Symbol("p", "w")),
                    Num(channels, Symbol("c")),
                    d,
                    p_n,
                    *n,
                )
            ),
        )
    ]
    if has_patch_bias(layer):
        terms.append(Term("BiasAdd", Product((d, p_n, *n))))
    terms.append(Term("Less, AddV2 (position ids)", Product((Num(2), big_p))))
    terms.append(Term("Add (positions)", Product((big_p, d, *n))))
    return counted(
        terms,
        Text(
            f"The patch projection is a convolution with a {ph}×{pw} kernel and stride: 2 FLOPs "
            f"per multiply-add, {ph}×{pw}×{channels} of them for each of the {dim} features of "
            f"each of the {fmt_int(patches)} patches. Adding the position vectors costs 1 FLOP "
            "per value; looking the positions up costs 2 per position id (once, whatever the "
            "batch). Copying the class token in front counts 0.",
            f"图块投影是一个 {ph}×{pw} 卷积核、步长相同的卷积：{fmt_int(patches)} 个图块的 "
            f"{dim} 个特征各需 {ph}×{pw}×{channels} 次乘加，每次乘加计 2 次浮点运算。加上位置向量"
            "每个数值 1 次；查位置表每个位置编号 2 次（与批大小无关，只算一次）。把类别标记拼在"
            "前面计为 0。",
        ),
        batch_note(batch_size),
    )


def vit_patching_shapes(layer: LayerFacts) -> tuple[Shape, ...]:
    sizes = _vit_sizes(layer)
    if sizes is None:
        return layer.output_shapes
    return ((None, sizes[3], sizes[2]),)


declare(
    "ViTPatchingAndEmbedding",
    family=FAMILY,
    params=vit_patching_params,
    flops=vit_patching_flops,
    output_shapes=vit_patching_shapes,
    module=_HERE,
)


# ---------------------------------------------------------------- patch embeddings with tokens
#
# CLIP, SigLIP, PaliGemma, DeiT and DINOv2/v3 embed an image the way ViT does, each with its
# own set of learned vectors around the patch projection: class, distillation, mask and
# register tokens, a learned position table (looked up through an Embedding sub-layer, or
# held as a weight), DINOv2's frozen original table beside the resized one. Each of these
# layers holds weights of its own next to its projection, so it is counted whole: one
# formula from its configuration, instead of a block whose own weights only get the
# generic count.


@dataclass(frozen=True)
class TokenLayout:
    """What one patch-embedding layer holds and runs, read from its configuration."""

    patch: tuple[int, int]
    channels: int
    dim: int
    patches: int
    bias: bool
    """The patch projection has a bias."""
    tokens: tuple[tuple[str, int], ...] = ()
    """Learned vectors of ``dim`` values it holds: (what, how many)."""
    positions: int = 0
    """Rows of the learned position table added to the tokens (0: none here)."""
    position_ids: int = 0
    """Integer position ids held as a (non-trainable) weight, which Keras counts."""
    frozen_positions: int = 0
    """Rows of a frozen table the trainable one was resized from (DINOv2)."""
    lookup: bool = False
    """The position table is an Embedding sub-layer looked up by id (Less + AddV2 per id)."""


def _grid(image: tuple[int, ...], patch: tuple[int, int]) -> int:
    return (image[0] // patch[0]) * (image[-1] // patch[1])


def _square(value: object) -> tuple[int, int]:
    found = ints(value)
    return (found[0], found[0]) if len(found) == 1 else (found[0], found[1])


def _input_channels(layer: LayerFacts, fallback: object = None) -> int | None:
    found = input_channels(layer)
    if found is not None:
        return int(found)
    return int(fallback) if isinstance(fallback, int) and fallback > 0 else None


def _projection(
    layer: LayerFacts, *, bias: bool, channels_fallback: object = None
) -> TokenLayout | None:
    """The patch projection of a layer configured by ``patch_size``, ``image_size`` and
    ``hidden_dim`` (CLIP, SigLIP, PaliGemma, DeiT), before its tokens and positions; None
    when the input's channels are not known."""
    patch = _square(layer.config["patch_size"])
    channels = _input_channels(layer, channels_fallback)
    if channels is None:
        return None
    patches = _grid(_square(layer.config["image_size"]), patch)
    return TokenLayout(patch, channels, int(layer.config["hidden_dim"]), patches, bias=bias)


def _clip_layout(layer: LayerFacts) -> TokenLayout | None:
    """CLIPVisionEmbedding: no-bias projection, class token, (P+1) positions and their ids."""
    base = _projection(layer, bias=False)
    if base is None:
        return None
    rows = base.patches + 1
    return replace(
        base, tokens=(("class token", 1),), positions=rows, position_ids=rows, lookup=True
    )


def _siglip_layout(layer: LayerFacts) -> TokenLayout | None:
    """SigLIPVisionEmbedding: projection with bias, P positions and their ids, no class token."""
    base = _projection(layer, bias=True)
    if base is None:
        return None
    return replace(base, positions=base.patches, position_ids=base.patches, lookup=True)


def _pali_gemma_layout(layer: LayerFacts) -> TokenLayout | None:
    """PaliGemmaVitEmbeddings: projection with bias, P positions (ids are a constant)."""
    base = _projection(layer, bias=True, channels_fallback=layer.config.get("num_channels"))
    if base is None:
        return None
    return replace(base, positions=base.patches, lookup=True)


def _deit_layout(layer: LayerFacts) -> TokenLayout | None:
    """DeiTEmbeddings: class and distillation tokens (and a mask token), P+2 positions."""
    base = _projection(layer, bias=True, channels_fallback=layer.config.get("num_channels"))
    if base is None:
        return None
    tokens = [("class token", 1), ("distillation token", 1)]
    if layer.config.get("use_mask_token"):
        tokens.append(("mask token", 1))
    return replace(base, tokens=tuple(tokens), positions=base.patches + 2)


def _dino_tokens(layer: LayerFacts) -> list[tuple[str, int]]:
    tokens = [("class token", 1)]
    if layer.config.get("use_mask_token", True):
        tokens.append(("mask token", 1))
    registers = int(layer.config.get("num_register_tokens") or 0)
    if registers:
        tokens.append(("register tokens", registers))
    return tokens


def _dinov2_layout(layer: LayerFacts) -> TokenLayout | None:
    """DINOV2Embedding: class, mask and register tokens; the positions of the training grid
    (frozen) and the same resized to this image (trainable), one more row each for the
    class token."""
    patch = _square(layer.config["patch_size"])
    channels = _input_channels(layer)
    if channels is None:
        return None
    patches = _grid(ints(layer.config["image_shape"]), patch)
    trained = ints(layer.config.get("position_embedding_shape") or (518, 518))
    return TokenLayout(
        patch,
        channels,
        int(layer.config["hidden_dim"]),
        patches,
        bias=True,
        tokens=tuple(_dino_tokens(layer)),
        positions=patches + 1,
        frozen_positions=_grid(trained, patch) + 1,
    )


def _dinov3_layout(layer: LayerFacts) -> TokenLayout | None:
    """DINOV3Embedding: class, mask and register tokens; positions are rotary (no table)."""
    patch = _square(layer.config["patch_size"])
    channels = _input_channels(layer)
    in_dims = dims(layer.input_shapes)
    if channels is None or in_dims is None:
        return None
    spatial = in_dims[1:] if channels_first(layer) else in_dims[:-1]
    return TokenLayout(
        patch,
        channels,
        int(layer.config["hidden_dim"]),
        _grid(spatial, patch),
        bias=True,
        tokens=tuple(_dino_tokens(layer)),
    )


LAYOUTS = {
    "CLIPVisionEmbedding": _clip_layout,
    "SigLIPVisionEmbedding": _siglip_layout,
    "PaliGemmaVitEmbeddings": _pali_gemma_layout,
    "DeiTEmbeddings": _deit_layout,
    "DINOV2Embedding": _dinov2_layout,
    "DINOV3Embedding": _dinov3_layout,
}
"""How to read each class's layout (config fields read in keras-hub 0.32's sources)."""


def _layout(layer: LayerFacts) -> TokenLayout | None:
    return LAYOUTS[layer.class_name](layer)


def token_embedding_params(layer: LayerFacts) -> Derivation:
    """p_h×p_w×c×d (+ d) + Σ tokens × d + positions × d (+ ids) (+ frozen positions × d)."""
    found = _layout(layer)
    if found is None:
        return no_input_channels()
    (ph, pw), c, dim = found.patch, found.channels, found.dim
    d = Num(dim, Symbol("d"))
    terms: list[Expr] = [
        Term(
            "patch kernel",
            Product((Num(ph, Symbol("p", "h")), Num(pw, Symbol("p", "w")), Num(c, Symbol("c")), d)),
        )
    ]
    if found.bias:
        terms.append(Term("patch bias", d))
    for what, many in found.tokens:
        terms.append(Term(what, d if many == 1 else Product((Num(many), d))))
    if found.positions:
        terms.append(Term("positions", Product((Num(found.positions, Symbol("P")), d))))
    if found.position_ids:
        terms.append(Term("position ids", Num(found.position_ids, Symbol("P"))))
    if found.frozen_positions:
        terms.append(
            Term("trained positions", Product((Num(found.frozen_positions, Symbol("P", "0")), d)))
        )
    return formula(Sum(tuple(terms)), _token_prose(found))


def _token_prose(found: TokenLayout) -> Paragraph | Text:
    (ph, pw), c, dim = found.patch, found.channels, found.dim
    patches = fmt_int(found.patches)
    bias_en, bias_zh = ("with a bias", "带偏置") if found.bias else ("without a bias", "不带偏置")
    said: list[Text | None] = [
        Text(
            f"The image is cut into {patches} patches of {ph}×{pw} pixels; one strided "
            f"convolution ({bias_en}) projects each patch's {ph}×{pw}×{c} values to {dim} "
            "features, the same learned matrix for every patch.",
            f"图像被切成 {patches} 个 {ph}×{pw} 像素的图块；一个步长等于图块大小的卷积"
            f"（{bias_zh}）把每个图块的 {ph}×{pw}×{c} 个数值投影成 {dim} 维特征，"
            "所有图块共用这一个可学习的矩阵。",
        )
    ]
    names = {
        "class token": (
            "a class token, whose output a classifier reads",
            "类别标记（分类器读它的输出）",
        ),
        "distillation token": (
            "a distillation token, trained to match a teacher model",
            "蒸馏标记（训练时去拟合教师模型）",
        ),
        "mask token": (
            "a mask token, which replaces masked patches in self-supervised training",
            "掩码标记（自监督训练时替换被遮住的图块）",
        ),
        "register tokens": (
            "register tokens, extra slots the attention may use as scratch space",
            "寄存器标记（供注意力当作暂存空间的额外位置）",
        ),
    }
    if found.tokens:
        listed_en = "; ".join(
            f"{many}× " * (many > 1) + names[what][0] for what, many in found.tokens
        )
        listed_zh = "；".join(
            f"{many} 个" * (many > 1) + names[what][1] for what, many in found.tokens
        )
        said.append(
            Text(
                f"It also learns vectors of {dim} values of its own: {listed_en}.",
                f"它还自带若干个 {dim} 维的可学习向量：{listed_zh}。",
            )
        )
    if found.positions:
        said.append(
            Text(
                f"A learned table of {fmt_int(found.positions)} position vectors of {dim} values "
                "is added to the tokens, so the model knows where each patch came from.",
                f"一张可学习的位置表（{fmt_int(found.positions)} 个 {dim} 维向量）加到各个标记上，"
                "让模型知道每个图块来自哪里。",
            )
        )
    else:
        said.append(
            Text(
                "It holds no position table: this model encodes positions with rotary "
                "embeddings inside its attention.",
                "它没有位置表：这个模型在注意力内部用旋转位置编码表示位置。",
            )
        )
    if found.position_ids:
        said.append(
            Text(
                f"The {fmt_int(found.position_ids)} position ids are kept as an integer, "
                "non-trainable weight, which Keras's count_params() counts as well.",
                f"{fmt_int(found.position_ids)} 个位置编号存成一个不可训练的整数权重，"
                "Keras 的 count_params() 也把它算进去。",
            )
        )
    if found.frozen_positions:
        said.append(
            Text(
                f"The table it was trained with ({fmt_int(found.frozen_positions)} rows, for "
                "position_embedding_shape) is kept frozen beside it; the trainable table is that "
                "one resized to this image size.",
                f"训练时用的位置表（{fmt_int(found.frozen_positions)} 行，对应 "
                "position_embedding_shape）冻结保存在旁边；可训练的那张是把它缩放到当前图像尺寸得到的。",
            )
        )
    return sentences(*said)  # type: ignore[return-value]


def token_embedding_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """Conv2D (2·p²·c per output value) + BiasAdd + position lookup (2 per id) + Add."""
    found = _layout(layer)
    if found is None:
        return missing_shape(layer)
    (ph, pw), c, dim = found.patch, found.channels, found.dim
    n = batch_factor(batch_size)
    d = Num(dim, Symbol("d"))
    p_n = Num(found.patches, Symbol("n", "patches"))
    kernel = (Num(ph, Symbol("p", "h")), Num(pw, Symbol("p", "w")), Num(c, Symbol("c")))
    terms = [Term("Conv2D", Product((Num(2), *kernel, d, p_n, *n)))]
    if found.bias:
        terms.append(Term("BiasAdd", Product((d, p_n, *n))))
    big_p = Num(found.positions, Symbol("P"))
    if found.positions and found.lookup:
        terms.append(Term("Less, AddV2 (position ids)", Product((Num(2), big_p))))
    if found.positions:
        terms.append(Term("Add (positions)", Product((big_p, d, *n))))
    return counted(
        terms,
        Text(
            f"The patch projection is a convolution with a {ph}×{pw} kernel and stride: 2 FLOPs "
            f"per multiply-add, {ph}×{pw}×{c} of them for each of the {dim} features of each of "
            f"the {fmt_int(found.patches)} patches.",
            f"图块投影是一个 {ph}×{pw} 卷积核、步长相同的卷积：{fmt_int(found.patches)} 个图块的 "
            f"{dim} 个特征各需 {ph}×{pw}×{c} 次乘加，每次乘加计 2 次浮点运算。",
        ),
        msg(
            "Adding the position vectors costs 1 FLOP per value; looking them up costs 2 per "
            "position id, once whatever the batch."
        )
        if found.lookup
        else msg("Adding the position vectors costs 1 FLOP per value.")
        if found.positions
        else None,
        msg("Copying the learned tokens in front of the patches counts 0.")
        if found.tokens
        else None,
        batch_note(batch_size),
    )


def token_embedding_shapes(layer: LayerFacts) -> tuple[Shape, ...]:
    found = _layout(layer)
    if found is None:
        return layer.output_shapes
    extra = sum(many for what, many in found.tokens if what != "mask token")
    return ((None, found.patches + extra, found.dim),)


declare(
    *LAYOUTS,
    family=FAMILY,
    params=token_embedding_params,
    flops=token_embedding_flops,
    output_shapes=token_embedding_shapes,
    module=_HERE,
)


# ---------------------------------------------------------------- layer scale


def dino_layer_scale_params(layer: LayerFacts) -> Derivation:
    """DINOV2LayerScale/DINOV3LayerScale: one learned factor per feature (``lambda1``)."""
    size = int(layer.config["hidden_dim"])
    return formula(
        Num(size, Symbol("d")),
        Text(
            f"LayerScale multiplies each of the {size} features of a residual branch by a "
            "learned factor of its own (lambda1) before the branch is added back.",
            f"LayerScale 在残差分支加回之前，给 {size} 个特征各乘一个可学习的系数（lambda1）。",
        ),
    )


declare(
    "DINOV2LayerScale",
    "DINOV3LayerScale",
    family="scale",
    params=dino_layer_scale_params,
    flops=layer_scale_flops,
    module=_HERE,
)


# ---------------------------------------------------------------- blocks of vision models

BLOCK_OPS_NOT_DERIVED = NotDerived(
    msg(
        "The block's own operations (residual additions, reshapes, window shifts) are not "
        "derived for this block kind yet; each sub-layer's row carries its own FLOPs."
    )
)
ATTENTION_OPS_NOT_DERIVED = NotDerived(
    msg(
        "The attention's own operations (the scores, the softmax and the weighted sum, which "
        "run outside its projection sub-layers) are not derived for this attention kind yet; "
        "each projection's row carries its own FLOPs."
    )
)


def residual_adds_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """A pre-norm transformer block: two residual AddV2, one per output value each."""
    return per_value(
        layer,
        batch_size,
        "AddV2 (residuals)",
        2,
        msg(
            "The block adds its input back after the attention and after the feed-forward "
            "(two residual connections): 2 FLOPs per output value; its sub-layers' FLOPs are "
            "on their own rows."
        ),
    )


def one_add_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """A block that adds two of its sub-layers' outputs (patches and their positions)."""
    return per_value(
        layer,
        batch_size,
        "AddV2",
        1,
        msg(
            "The block adds the position vectors (from its Embedding sub-layer) to the "
            "projected patches: 1 FLOP per output value."
        ),
    )


NOTHING_OF_ITS_OWN = Zero(
    msg(
        "The block only calls its sub-layers and reshapes between them (reshapes cost no "
        "FLOPs); every FLOP is on a sub-layer's row."
    )
)

# Blocks whose own ops (outside sub-layers) are only reshapes.
declare(
    "ViTDetPatchingAndEmbedding",
    "DINOV2PatchEmbedding",
    "DINOV3PatchEmbedding",
    "DINOV2Encoder",
    "DINOV3Encoder",
    "DeiTEncoder",
    "VideoPrismEncoder",
    "HGNetV2Encoder",
    "HGNetV2Embeddings",
    "HGNetV2ConvLayer",
    "SwinTransformerStage",
    "OverlappingPatchingAndEmbedding",
    "ConvBnActBlock",
    "DINOV2Attention",
    "DINOV2MLP",
    "DeiTIntermediate",
    "DeiTOutput",
    family="transformer",
    params=COMPOSITE,
    flops=NOTHING_OF_ITS_OWN,
    module=_HERE,
)
# Pre-norm encoder blocks: two residual additions of their own.
declare(
    "DINOV2Layer",
    "DINOV3Layer",
    "DeiTEncoderBlock",
    "VideoPrismEncoderBlock",
    "HierarchicalTransformerEncoder",
    family="transformer",
    params=COMPOSITE,
    flops=residual_adds_flops,
    module=_HERE,
)
declare(
    "VideoPrismPatchingAndEmbedding",
    "VideoPrismTemporalEmbedding",
    family=FAMILY,
    params=COMPOSITE,
    flops=one_add_flops,
    module=_HERE,
)
declare(
    "WindowedTransformerEncoder",
    "SwinTransformerBlock",
    "HGNetV2Stage",
    "HGNetV2BasicLayer",
    "DepthwiseConvBlock",
    "InvertedResidualBlock",
    "SqueezeAndExcite2D",
    "PatchMerging",
    "PatchEmbedding",
    "MixFFN",
    "Mlp",
    "DINOV3MLP",
    "VideoPrismMLP",
    "CLIPEncoderLayer",
    "SigLIPEncoderLayer",
    "SigLIPMLP",
    "PaliGemmaVitEncoderBlock",
    "PaliGemmaVitEncoder",
    family="transformer",
    params=COMPOSITE,
    flops=BLOCK_OPS_NOT_DERIVED,
    module=_HERE,
)
declare(
    "MultiHeadAttentionWithRelativePE",
    "SegFormerMultiheadAttention",
    "VideoPrismAttention",
    "PaliGemmaVitAttention",
    family="attention",
    params=COMPOSITE,
    flops=ATTENTION_OPS_NOT_DERIVED,
    module=_HERE,
)


# ---------------------------------------------------------------- layers without weights

declare(
    "WindowPartitioning",
    family="reshape",
    params=Zero(
        msg(
            "Window partitioning has no weights: it pads the feature map to a multiple of the "
            "window and regroups it into windows (and back), so that attention runs within "
            "each window."
        )
    ),
    flops=Zero(
        msg(
            "Padding, reshaping and transposing cost no FLOPs (TensorFlow's profiler has no "
            "rule for them). Its methods are called by the encoder block, so their ops run in "
            "the block's scope."
        )
    ),
    module=_HERE,
)
declare(
    "VideoPrismFactorizedReshape",
    "VideoPrismFactorizedDecoding",
    family="reshape",
    params=Zero(
        msg(
            "The layer has no weights: it regroups a video's frames and patches between the "
            "spatial and the temporal encoder."
        )
    ),
    flops=Zero(
        msg("Reshaping and transposing cost no FLOPs (TensorFlow's profiler has no rule for them).")
    ),
    module=_HERE,
)
declare(
    "DropPath",
    family="dropout",
    params=Zero(msg("Stochastic depth (DropPath) has no weights.")),
    flops=Zero(
        msg(
            "At inference DropPath returns its input unchanged; only while training does it "
            "drop a whole residual branch for some examples (stochastic depth)."
        )
    ),
    module=_HERE,
)


# ---------------------------------------------------------------- Swin's window attention


def window_attention_params(layer: LayerFacts) -> Derivation:
    """Swin WindowAttention: qkv d×3d (+3d) + projection d×d + d + a relative position bias
    table of (2·w_h − 1)(2·w_w − 1) rows, one bias per head."""
    dim = int(layer.config["dim"])
    heads = int(layer.config["num_heads"])
    wh, ww = _square(layer.config["window_size"])
    qkv_bias = bool(layer.config.get("qkv_bias", True))
    d, h = Num(dim, Symbol("d")), Num(heads, Symbol("h"))
    qkv: Expr = Product((d, Num(3), d))
    terms: list[Expr] = [Term("qkv kernel", qkv)]
    if qkv_bias:
        terms.append(Term("qkv bias", Product((Num(3), d))))
    terms += [Term("projection kernel", Product((d, d))), Term("projection bias", d)]
    rows = Product((Num(2 * wh - 1), Num(2 * ww - 1)))
    terms.append(Term("relative position bias", Product((rows, h))))
    return formula(
        Sum(tuple(terms)),
        sentences(
            Text(
                f"Attention runs inside windows of {wh}×{ww} patches. One Dense layer makes the "
                f"queries, keys and values together ({dim}→3×{dim}"
                + (", with biases" if qkv_bias else ", without biases")
                + f"), another projects the {heads} heads' output back to {dim} features.",
                f"注意力只在 {wh}×{ww} 个图块的窗口内计算。一个 Dense 层一次算出查询、键和值"
                f"（{dim}→3×{dim}，"
                + ("带偏置" if qkv_bias else "不带偏置")
                + f"），另一个把 {heads} 个头的输出投影回 {dim} 维。",
            ),
            Text(
                f"Two patches of a window are at most {wh - 1} rows and {ww - 1} columns apart, "
                f"in either direction: ({2 * wh - 1})×({2 * ww - 1}) relative offsets, each with "
                f"a learned bias per head that is added to the attention scores. The layer holds "
                "this table itself, outside its Dense sub-layers.",
                f"同一窗口中两个图块在行、列方向上最多相差 {wh - 1} 行、{ww - 1} 列"
                "（正负两个方向），"
                f"共 ({2 * wh - 1})×({2 * ww - 1}) 种相对位置，每种位置每个头有一个可学习的偏置，"
                "加到注意力分数上。这张表由该层自己持有，不在它的 Dense 子层里。",
            ),
        ),
    )


declare(
    "WindowAttention",
    family="attention",
    params=window_attention_params,
    flops=NotDerived(
        msg(
            "The FLOPs of Swin's window attention (projections, scores with the relative "
            "position bias, softmax, weighted sum, and the shifted-window mask) are not derived "
            "yet: it is counted whole, and reportgen has not checked a formula for it against "
            "TensorFlow's profiler."
        )
    ),
    module=_HERE,
)


# ---------------------------------------------------------------- DINOv3's attention


def dinov3_attention_params(layer: LayerFacts) -> Derivation:
    """DINOV3Attention: query, key, value and output projections, each d×d (+ d per bias).

    Counted whole from its configuration: the shapes inside it are only known at run time
    (the rotary position tables come in as inputs), so its Dense sub-layers' own rules could
    not read their input widths."""
    dim = int(layer.config["hidden_dim"])
    d = Num(dim, Symbol("d"))
    flags = (
        ("query", "query_bias"),
        ("key", "key_bias"),
        ("value", "value_bias"),
        ("output", "proj_bias"),
    )
    terms: list[Expr] = []
    biased = []
    for what, key in flags:
        terms.append(Term(f"{what} kernel", Product((d, d))))
        if layer.config.get(key, True):
            terms.append(Term(f"{what} bias", d))
            biased.append(what)
    return formula(
        Sum(tuple(terms)),
        Text(
            f"Four {dim}×{dim} projections: queries, keys and values from the tokens, and the "
            f"heads' output back to {dim} features"
            + (f"; biases on: {', '.join(biased)}." if biased else ", none with a bias.")
            + " Positions enter as 2-D rotary embeddings, which have no weights.",
            f"四个 {dim}×{dim} 的投影：由标记算出查询、键、值，再把各头的输出投影回 {dim} 维"
            + (f"；带偏置的有：{', '.join(biased)}。" if biased else "，都不带偏置。")
            + "位置信息来自二维旋转位置编码，它没有权重。",
        ),
    )


declare(
    "DINOV3Attention",
    family="attention",
    params=dinov3_attention_params,
    flops=NotDerived(
        msg(
            "DINOv3's attention is counted whole (its inner shapes are only known at run time), "
            "and reportgen has not checked a FLOPs formula for it against TensorFlow's profiler "
            "yet."
        )
    ),
    module=_HERE,
)
