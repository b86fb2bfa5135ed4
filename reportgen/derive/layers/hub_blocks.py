"""keras-hub's transformer blocks, feed-forward and mixture-of-experts layers.

A block (a decoder or encoder layer) is ``COMPOSITE``: the collect stage opens it, its
attention, norms and feed-forward Dense layers are rows under it, each counted by its own
rule. The block's own FLOPs rule counts only the ops that run in the block's scope outside
every sub-layer, as TensorFlow's profiler counts them: the causal/padding mask it builds,
the two residual additions and, for a gated feed-forward (SwiGLU, GeGLU), the activation
and the element-wise gate multiply between the gate, up and down projections (which are
Dense / EinsumDense sub-layers). The op breakdowns were read off TF 2.21's traced graphs of
keras-hub 0.32 blocks (``tests/test_tf_hub_attention.py`` compares them with the profiler).

Mixture-of-experts: the router is a Dense sub-layer; the experts' stacked kernels are one
layer (``MixtralMoeExperts``, ``QwenMoeExperts``) whose parameters count every expert.
"""

from __future__ import annotations

from reportgen.derive.layers.convention import batch_note, counted, missing_shape
from reportgen.derive.layers.registry import (
    COMPOSITE,
    NotDerived,
    Zero,
    declare,
    formula,
    unknown,
)
from reportgen.derive.layers.shapes import batch_factor
from reportgen.expr import Expr, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Msg, msg

FAMILY = "transformer"
_HERE = __name__


def _sequence(layer: LayerFacts) -> tuple[int, int] | None:
    """(s, d) of the block's first input (batch, s, d), or None when not known."""
    if not layer.input_shapes or len(layer.input_shapes[0]) != 3:
        return None
    _, s, d = layer.input_shapes[0]
    if s is None or d is None:
        return None
    return int(s), int(d)


def _mask_and_residual_terms(s: Num, d: Num, n: list[Expr], sliding_window: bool) -> list[Term]:
    """The causal mask merged with the padding mask (GreaterEqual and Minimum per pair, an
    AddV2 per position) and the two residual additions (one per value each)."""
    # keras-hub builds the causal mask once, from aranges ((s, s), no batch axis), then
    # broadcasts it and merges it with each example's padding mask.
    causal = Product((s, s))
    pairs = Product((s, s, *n))
    terms = [Term("mask AddV2", Product((Num(3 if sliding_window else 1), s)))]
    terms.append(Term("mask GreaterEqual", causal))
    if sliding_window:
        terms.append(Term("sliding-window Less", causal))
    terms.append(
        Term("mask Minimum", Product((Num(2), *pairs.factors)) if sliding_window else pairs)
    )
    terms.append(Term("residual AddV2", Product((Num(2), s, d, *n))))
    return terms


BLOCK_NOTE = msg(
    "The block's sub-layers (attention, norms, the feed-forward projections) are counted on "
    "their own rows; this row counts only the ops the block runs itself."
)


FF_FROM_WEIGHTS = msg(
    "This block's configuration could not be read (its get_config() fails in this keras-hub "
    "version), so the feed-forward width f is read from the shape of its gate projection's "
    "kernel."
)

GATE_KERNELS = ("feedforward_gate_dense", "ffw_gating", "gate_proj")
"""Names of the gate projection sub-layer in keras-hub's gated blocks (kernel (d, f))."""


def _feedforward_width(layer: LayerFacts, gate: str) -> tuple[int, bool] | None:
    """(f, read from the weights) of a gated feed-forward: ``intermediate_dim`` from the
    configuration (Gemma halves it: ``gate_dim_reduction``), else the last axis of the gate
    projection's kernel (a ``get_config()`` that raised); None when neither says."""
    width = layer.config.get("intermediate_dim")
    if isinstance(width, int) and not isinstance(width, bool) and width > 0:
        if gate == "geglu":
            return width // int(layer.config.get("gate_dim_reduction") or 2), False
        return width, False
    for weight in layer.weights:
        parts = weight.name.split("/")
        gate_kernel = len(parts) >= 2 and parts[-1] == "kernel" and parts[-2] in GATE_KERNELS
        if gate_kernel and len(weight.shape) == 2:
            return int(weight.shape[-1]), True
    return None


def _decoder_flops(
    layer: LayerFacts,
    batch_size: int,
    gate: str | None,
    sliding_window: bool = False,
    cross_attention: bool = False,
) -> Derivation:
    """A decoder block's own ops; ``gate``: ``"swiglu"``, ``"geglu"``, ``"gelu"`` (a plain
    feed-forward whose GELU the block applies between its two Dense sub-layers) or None (the
    feed-forward is a sub-layer of its own, e.g. a mixture of experts). ``cross_attention``:
    a third residual addition, around the attention to the encoder's output."""
    found = _sequence(layer)
    if found is None:
        return missing_shape(layer)
    s_, d_ = found
    s, d = Num(s_, Symbol("s")), Num(d_, Symbol("d"))
    n = batch_factor(batch_size)
    terms = _mask_and_residual_terms(s, d, n, sliding_window)
    if cross_attention:
        terms.append(Term("cross-attention residual AddV2", Product((s, d, *n))))
    if layer.class_name == "FalconTransformerDecoder":
        terms.extend(_alibi_terms(layer, s, n))
    note: Msg | None = None
    width_note: Msg | None = None
    if gate is not None:
        found_f = _feedforward_width(layer, gate)
        if found_f is None:
            raise KeyError("intermediate_dim")
        f_, from_weights = found_f
        width_note = FF_FROM_WEIGHTS if from_weights else None
    if gate == "swiglu":
        f = Num(f_, Symbol("f"))
        terms.append(Term("SiLU", Product((Num(2), s, f, *n))))
        terms.append(Term("gate Mul", Product((s, f, *n))))
        note = msg(
            "Gated feed-forward (SwiGLU): gate, up and down projections (3·d·f = %(params)s "
            "parameters, on their own rows); the block applies SiLU to the gate (2 FLOPs per "
            "value) and multiplies it with the up projection (1 FLOP per value), over s×f = "
            "%(values)s values.",
            params=3 * d_ * f_,
            values=s_ * f_ * batch_size,
        )
    elif gate == "geglu":
        f = Num(f_, Symbol("f"))
        terms.append(Term("GELU (tanh)", Product((Num(7), s, f, *n))))
        terms.append(Term("gate Mul", Product((s, f, *n))))
        note = msg(
            "Gated feed-forward (GeGLU): gate, up and down projections (3·d·f = %(params)s "
            "parameters, on their own rows); the block applies the tanh approximation of GELU "
            "to the gate (7 FLOPs per value) and multiplies it with the up projection (1 FLOP "
            "per value), over s×f = %(values)s values.",
            params=3 * d_ * f_,
            values=s_ * f_ * batch_size,
        )
    elif gate == "gelu":
        f = Num(f_, Symbol("f"))
        terms.append(Term("GELU (tanh)", Product((Num(7), s, f, *n))))
        note = msg(
            "Between its two feed-forward projections the block applies the tanh "
            "approximation of GELU itself (7 FLOPs per value, over s×f = %(values)s values).",
            values=s_ * f_ * batch_size,
        )
    return counted(
        terms,
        BLOCK_NOTE,
        width_note,
        msg(
            "It builds the causal attention mask and merges it with the padding mask (one "
            "comparison and one minimum per query–key pair), and adds the residual around "
            "the attention and around the feed-forward (one addition per value each)."
        ),
        msg("The sliding-window mask adds another comparison and minimum per query–key pair.")
        if sliding_window
        else None,
        CROSS_RESIDUAL if cross_attention else None,
        ALIBI_NOTE if layer.class_name == "FalconTransformerDecoder" else None,
        note,
        batch_note(batch_size),
    )


CROSS_RESIDUAL = msg(
    "It also attends to the encoder's output (cross-attention) and adds the residual around "
    "that attention too (one more addition per value); the encoder's padding mask is only "
    "cast and reshaped (no FLOPs)."
)

ALIBI_NOTE = msg(
    "It builds the ALiBi position bias from the padding mask: each position's index (a "
    "cumulative sum, minus 1, times the mask: 2 FLOPs per position) times each head's slope "
    "(1 FLOP per head and position)."
)


def _alibi_terms(layer: LayerFacts, s: Num, n: list[Expr]) -> list[Term]:
    """Falcon's ALiBi bias: (cumsum(mask) − 1)·mask per position (TF's profiler counts no
    Cumsum), then × the h slopes (constants)."""
    heads = layer.config.get("num_attention_heads")
    if not isinstance(heads, int) or isinstance(heads, bool):
        raise KeyError("num_attention_heads")
    h = Num(heads, Symbol("h"))
    return [
        Term("ALiBi Sub, Mul", Product((Num(2), s, *n))),
        Term("ALiBi slopes Mul", Product((h, s, *n))),
    ]


def plain_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    return _decoder_flops(layer, batch_size, None)


def cross_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    return _decoder_flops(layer, batch_size, None, cross_attention=True)


def gelu_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    return _decoder_flops(layer, batch_size, "gelu")


def swiglu_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    return _decoder_flops(layer, batch_size, "swiglu")


def mistral_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    return _decoder_flops(layer, batch_size, "swiglu", sliding_window=True)


def mixtral_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    return _decoder_flops(layer, batch_size, None, sliding_window=True)


def geglu_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    return _decoder_flops(layer, batch_size, "geglu")


def residual_block_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """An encoder block's own ops (keras-hub's TransformerEncoder, ViT's encoder block): the
    two residual additions, one FLOP per value each. The padding mask it merges is only cast
    and reshaped (no FLOPs)."""
    found = _sequence(layer)
    if found is None:
        return missing_shape(layer)
    s, d = Num(found[0], Symbol("s")), Num(found[1], Symbol("d"))
    n = batch_factor(batch_size)
    return counted(
        [Term("residual AddV2", Product((Num(2), s, d, *n)))],
        BLOCK_NOTE,
        msg(
            "It adds the residual around the attention and around the feed-forward (one "
            "addition per value each)."
        ),
        batch_note(batch_size),
    )


def transformer_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """keras-hub's TransformerDecoder (GPT-2's block): the causal mask merged with the
    padding mask, and two residual additions; with cross-attention (BART's), a third."""
    cross = "encoder_sequence" in layer.input_names
    return _decoder_flops(layer, batch_size, None, cross_attention=cross)


def _mask_terms(length: Num, n: list[Expr], name: str) -> list[Term]:
    return [Term(f"{name} Sub, Mul", Product((Num(2), length, *n)))]


ADDITIVE_MASK = msg(
    "It turns the padding mask into an additive mask, (1 − mask)·(−10⁹): a subtraction and "
    "a multiplication per key position and example."
)


def t5gemma_encoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """T5Gemma's encoder layer: the additive padding mask (1 − mask)·(−1e9) per key
    position, and two residual additions."""
    found = _sequence(layer)
    if found is None:
        return missing_shape(layer)
    s, d = Num(found[0], Symbol("s")), Num(found[1], Symbol("d"))
    n = batch_factor(batch_size)
    terms = [Term("residual AddV2", Product((Num(2), s, d, *n)))]
    if "padding_mask" in layer.input_names:
        terms = _mask_terms(s, n, "padding mask") + terms
    return counted(
        terms,
        BLOCK_NOTE,
        ADDITIVE_MASK if "padding_mask" in layer.input_names else None,
        msg(
            "It adds the residual around the attention and around the feed-forward (one "
            "addition per value each)."
        ),
        batch_note(batch_size),
    )


def t5gemma_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """T5Gemma's decoder layer: the causal comparison (s, s) once, the additive mask
    (1 − mask)·(−1e9) per query–key pair and example, the encoder's additive padding mask,
    three residual additions. A sliding-window layer adds ops not checked: unknown."""
    if layer.config.get("layer_type") != "full_attention":
        return unknown(
            msg(
                "This decoder layer uses sliding-window attention, whose mask ops were not "
                "checked against the profiler, so no figure is given."
            )
        )
    found = _sequence(layer)
    if found is None:
        return missing_shape(layer)
    s_, d_ = found
    s, d = Num(s_, Symbol("s")), Num(d_, Symbol("d"))
    n = batch_factor(batch_size)
    terms = [
        Term("causal LessEqual", Product((s, s))),
        Term("mask Sub, Mul", Product((Num(2), s, s, *n))),
    ]
    if "cross_attention_padding_mask" in layer.input_names:
        shape = layer.input_shapes[layer.input_names.index("cross_attention_padding_mask")]
        if len(shape) != 2 or shape[1] is None:
            return missing_shape(layer)
        t = Num(int(shape[1]), Symbol("t"))
        terms += _mask_terms(t, n, "encoder padding mask")
    terms.append(Term("residual AddV2", Product((Num(3), s, d, *n))))
    return counted(
        terms,
        BLOCK_NOTE,
        msg(
            "It compares key and query positions once for the causal mask (one comparison "
            "per query–key pair, no batch axis), merges it with the padding mask and turns "
            "it into an additive mask, (1 − mask)·(−10⁹): a subtraction and a multiplication "
            "per query–key pair and example; the encoder's padding mask (t key positions) "
            "gets the same two ops per position. It adds the residual around the "
            "self-attention, the cross-attention and the feed-forward (one addition per "
            "value each)."
        ),
        batch_note(batch_size),
    )


def t5_layer_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """T5's encoder or decoder layer: two residual additions (three in a decoder), the
    gated feed-forward's multiply (its activation runs in the input projection, a Dense
    sub-layer), and in the first decoder layer (the one not handed the position bias) the
    causal mask: an AddV2 per position and a comparison per query–key pair, once; its merge
    with the padding mask is a logical AND, which TF's profiler does not count."""
    found = _sequence(layer)
    if found is None:
        return missing_shape(layer)
    s_, d_ = found
    s, d = Num(s_, Symbol("s")), Num(d_, Symbol("d"))
    n = batch_factor(batch_size)
    decoder = bool(layer.config.get("is_decoder"))
    builds_mask = decoder and "position_bias" not in layer.input_names
    terms: list[Term] = []
    if builds_mask:
        terms += [Term("mask AddV2", s), Term("mask GreaterEqual", Product((s, s)))]
    terms.append(Term("residual AddV2", Product((Num(3 if decoder else 2), s, d, *n))))
    gated = bool(layer.config.get("use_gated_activation"))
    if gated:
        width = layer.config.get("intermediate_dim")
        if not isinstance(width, int) or isinstance(width, bool):
            raise KeyError("intermediate_dim")
        terms.append(Term("gate Mul", Product((Num(width, Symbol("f")), s, *n))))
    return counted(
        terms,
        BLOCK_NOTE,
        msg(
            "It adds the residual around the self-attention, around the cross-attention (in "
            "a decoder) and around the feed-forward (one addition per value each)."
        ),
        msg(
            "The feed-forward is gated: the activation runs inside the input projection (a "
            "sub-layer), and the block multiplies it with the gate projection (1 FLOP per "
            "value, over s×f values)."
        )
        if gated
        else None,
        msg(
            "As the first layer of the decoder it builds the causal mask, once for all "
            "examples (one addition per position, one comparison per query–key pair); the "
            "later layers receive it folded into the position bias. Its merge with the "
            "padding mask is a logical AND, which TensorFlow's profiler does not count."
        )
        if builds_mask
        else None,
        batch_note(batch_size),
    )


def rwkv7_block_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """RWKV-7's block: two residual additions, and with a padding mask, the channel mix's
    input multiplied by it (one Mul per value)."""
    found = _sequence(layer)
    if found is None:
        return missing_shape(layer)
    s, d = Num(found[0], Symbol("s")), Num(found[1], Symbol("d"))
    n = batch_factor(batch_size)
    masked = "padding_mask" in layer.input_names
    terms = [Term("residual AddV2", Product((Num(2), s, d, *n)))]
    if masked:
        terms.append(Term("padding Mul", Product((s, d, *n))))
    return counted(
        terms,
        BLOCK_NOTE,
        msg(
            "It adds the residual around the time mix and around the channel mix (one "
            "addition per value each)."
        ),
        msg(
            "It multiplies the channel mix's input by the padding mask (one multiplication "
            "per value)."
        )
        if masked
        else None,
        batch_note(batch_size),
    )


GATED_MLP = {
    # class: (config key of f, config key of the activation, its FLOPs per value)
    "SmolLM3MLP": ("intermediate_size", None, 2),
    "T5GemmaMLP": ("intermediate_size", "hidden_activation", 7),
    "EdRecGatedFeedForward": ("intermediate_dim", "activation", 7),
}
"""Gated feed-forward layers whose activation and gate multiply run in their own scope.
SmolLM3's is SiLU (2 FLOPs per value); the others' is GELU, tanh approximation (7): T5Gemma
names it ``gelu_approximate``, EdRec calls ``gelu(approximate=True)`` for ``"gelu"``."""

TANH_GELU_NAME = {"T5GemmaMLP": "gelu_approximate", "EdRecGatedFeedForward": "gelu"}


def gated_mlp_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """act(gate(x)) · up(x): the activation and the multiply over s×f values; the three
    projections are Dense sub-layers with rows of their own."""
    width_key, act_key, per_value = GATED_MLP[layer.class_name]
    if act_key is not None and layer.config.get(act_key) != TANH_GELU_NAME[layer.class_name]:
        return unknown(
            msg(
                "This feed-forward's activation (%(activation)s) is not one whose ops "
                "reportgen checked against the profiler, so no figure is given.",
                activation=str(layer.config.get(act_key)),
            )
        )
    found = _sequence(layer)
    if found is None:
        return missing_shape(layer)
    width = layer.config.get(width_key)
    if not isinstance(width, int) or isinstance(width, bool):
        raise KeyError(width_key)
    s, f = Num(found[0], Symbol("s")), Num(width, Symbol("f"))
    n = batch_factor(batch_size)
    name = "SiLU" if per_value == 2 else "GELU (tanh)"
    return counted(
        [
            Term(name, Product((Num(per_value), s, f, *n))),
            Term("gate Mul", Product((s, f, *n))),
        ],
        msg(
            "The gate, up and down projections are Dense sub-layers with rows of their own; "
            "this row counts the activation of the gate (%(act)s, %(per)s FLOPs per value) "
            "and its element-wise product with the up projection (1 FLOP per value), over "
            "s×f = %(values)s values.",
            act=name,
            per=per_value,
            values=found[0] * width * batch_size,
        ),
        batch_note(batch_size),
    )


# ---------------------------------------------------------------- mixture of experts


def _expert_kernels(layer: LayerFacts) -> list[tuple[str, tuple[int, ...]]]:
    return [
        (w.name.rsplit("/", 1)[-1], w.shape)
        for w in layer.weights
        if len(w.shape) == 3 and "expert" in w.name
    ]


def experts_params(layer: LayerFacts) -> Derivation:
    """Stacked expert kernels: every expert's gate, up and down projections count."""
    kernels = _expert_kernels(layer)
    if not kernels:
        return unknown(
            msg("The experts' kernels are not among the collected weights of this layer.")
        )
    experts = kernels[0][1][0]
    e = Num(experts, Symbol("E"))
    terms: list[Expr] = [
        Term(
            name.replace("expert_feedforward_", "").replace("_", " "),
            Product((e, *map(Num, shape[1:]))),
        )
        for name, shape in kernels
    ]
    d = layer.input_shapes[0][-1] if layer.input_shapes and layer.input_shapes[0] else None
    width = max(shape[2] for _, shape in kernels) if d is None else d
    f = sum(shape[1] * shape[2] for _, shape in kernels) // (3 * int(width or 1))
    return formula(
        Sum(tuple(terms)),
        msg(
            "A mixture of %(experts)s experts, each a gated feed-forward (gate, up and down "
            "projections: 3·d·f = %(each)s parameters); every expert's parameters count, "
            "although only the router's top-k experts serve each token. The shapes are read "
            "from the stacked expert kernels (this layer's configuration cannot be read).",
            experts=experts,
            each=3 * int(width or 0) * f,
        ),
    )


EXPERTS_FLOPS = NotDerived(
    msg(
        "keras-hub runs every expert on every token through Einsum ops (the router's top-k "
        "weights zero out the rest afterwards), and TensorFlow's profiler counts no Einsum op, "
        "so no figure here would compare with it. Per token, a top-k mixture really needs "
        "only top_k × 2 × 3·d·f FLOPs for its experts."
    )
)

NOT_YET = NotDerived(
    msg(
        "The block's own ops (residual additions, masks) are not derived for this block kind "
        "yet; its sub-layers' rows carry their own FLOPs."
    )
)


declare(
    "LlamaTransformerDecoder",
    "QwenTransformerDecoder",
    "Phi3Decoder",
    "Qwen3TransformerDecoder",
    family=FAMILY,
    params=COMPOSITE,
    flops=swiglu_decoder_flops,
    module=_HERE,
)
declare(
    "MistralTransformerDecoder",
    family=FAMILY,
    params=COMPOSITE,
    flops=mistral_decoder_flops,
    module=_HERE,
)
declare(
    "MixtralTransformerDecoder",
    family=FAMILY,
    params=COMPOSITE,
    flops=mixtral_decoder_flops,
    module=_HERE,
)
declare(
    "GemmaDecoderBlock",
    "Gemma3DecoderBlock",
    family=FAMILY,
    params=COMPOSITE,
    flops=geglu_decoder_flops,
    module=_HERE,
)
declare(
    "TransformerEncoder",
    "ViTEncoderBlock",
    family=FAMILY,
    params=COMPOSITE,
    flops=residual_block_flops,
    module=_HERE,
)
declare(
    "TransformerDecoder",
    family=FAMILY,
    params=COMPOSITE,
    flops=transformer_decoder_flops,
    module=_HERE,
)
declare(
    "ViTEncoder",
    "MLP",
    family=FAMILY,
    params=COMPOSITE,
    flops=Zero(
        msg(
            "It only calls its sub-layers one after the other (its own code runs no "
            "arithmetic), so its own FLOPs are 0; each sub-layer's row carries its own."
        )
    ),
    module=_HERE,
)
declare(
    "FalconTransformerDecoder",
    "GPTNeoXDecoder",
    "QwenMoeTransformerDecoder",
    "Qwen3MoeTransformerDecoder",
    family=FAMILY,
    params=COMPOSITE,
    flops=plain_decoder_flops,
    module=_HERE,
)
declare("BloomDecoder", family=FAMILY, params=COMPOSITE, flops=gelu_decoder_flops, module=_HERE)
declare(
    "MixtralSparseMoeBlock",
    "QwenSparseMoeBlock",
    "Qwen3SparseMoeBlock",
    "QwenMoeMLP",
    "Qwen3MoeMLP",
    family=FAMILY,
    params=COMPOSITE,
    flops=NOT_YET,
    module=_HERE,
)
declare(
    "MixtralMoeExperts",
    "QwenMoeExperts",
    "Qwen3MoeExperts",
    family=FAMILY,
    params=experts_params,
    flops=EXPERTS_FLOPS,
    module=_HERE,
)
