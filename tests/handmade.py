"""Hand-made collected facts (no TensorFlow): the LeNet of DESIGN.md, layer by layer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from reportgen.facts import InternalTensor, LayerFacts, ModelFacts, Shape, WeightFacts


def layer(
    name: str,
    class_name: str,
    inp: Shape,
    out: Shape,
    weights: tuple[tuple[str, tuple[int, ...]], ...] = (),
    keras_params: int | None = None,
    dtype: str = "float32",
    **config: Any,
) -> LayerFacts:
    shapes = tuple(shape for _, shape in weights)
    count = sum(_prod(s) for s in shapes)
    return LayerFacts(
        name=name,
        class_name=class_name,
        config=config,
        input_shapes=(inp,),
        output_shapes=(out,),
        compute_dtype=dtype,
        variable_dtype=dtype,
        weights=tuple(
            WeightFacts(f"lenet/{name}/{wname}", shape, dtype, True) for wname, shape in weights
        ),
        keras_params=count if keras_params is None else keras_params,
    )


def _prod(shape: tuple[int, ...]) -> int:
    result = 1
    for d in shape:
        result *= d
    return result


def lenet_layers() -> tuple[LayerFacts, ...]:
    return (
        layer("image", "InputLayer", (None, 28, 28, 1), (None, 28, 28, 1)),
        layer(
            "conv1",
            "Conv2D",
            (None, 28, 28, 1),
            (None, 28, 28, 32),
            (("kernel", (5, 5, 1, 32)), ("bias", (32,))),
            filters=32,
            kernel_size=[5, 5],
            padding="same",
            use_bias=True,
            groups=1,
            activation="relu",
            data_format="channels_last",
            strides=[1, 1],
        ),
        layer(
            "pool1",
            "MaxPooling2D",
            (None, 28, 28, 32),
            (None, 14, 14, 32),
            pool_size=[2, 2],
            strides=[2, 2],
            padding="valid",
        ),
        layer(
            "conv2",
            "Conv2D",
            (None, 14, 14, 32),
            (None, 14, 14, 64),
            (("kernel", (5, 5, 32, 64)), ("bias", (64,))),
            filters=64,
            kernel_size=[5, 5],
            padding="same",
            use_bias=True,
            groups=1,
            activation="relu",
            data_format="channels_last",
            strides=[1, 1],
        ),
        layer(
            "pool2",
            "MaxPooling2D",
            (None, 14, 14, 64),
            (None, 7, 7, 64),
            pool_size=[2, 2],
            strides=[2, 2],
            padding="valid",
        ),
        layer("flatten", "Flatten", (None, 7, 7, 64), (None, 3136)),
        layer(
            "fc1",
            "Dense",
            (None, 3136),
            (None, 1024),
            (("kernel", (3136, 1024)), ("bias", (1024,))),
            units=1024,
            use_bias=True,
            activation="relu",
        ),
        layer("dropout", "Dropout", (None, 1024), (None, 1024), rate=0.5),
        layer(
            "fc2",
            "Dense",
            (None, 1024),
            (None, 10),
            (("kernel", (1024, 10)), ("bias", (10,))),
            units=10,
            use_bias=True,
            activation="softmax",
        ),
    )


def wider_fc2_layers() -> tuple[LayerFacts, ...]:
    """The LeNet with 11 classes instead of 10: fc2 gains 1,025 parameters (+0.03 %)."""
    layers = list(lenet_layers())
    layers[-1] = layer(
        "fc2",
        "Dense",
        (None, 1024),
        (None, 11),
        (("kernel", (1024, 11)), ("bias", (11,))),
        units=11,
        use_bias=True,
        activation="softmax",
    )
    return tuple(layers)


def sequential(layers: tuple[LayerFacts, ...]) -> tuple[LayerFacts, ...]:
    """The rows as a Sequential model: each reads the row before it (``inbound``), where it
    does not say otherwise; rows of composite blocks are left as they are."""
    if any(item.block is not None or item.composite for item in layers):
        return layers
    return tuple(
        item
        if item.inbound is not None
        else replace(item, inbound=(layers[i - 1].name,) if i else ())
        for i, item in enumerate(layers)
    )


def lenet_facts(
    batch_size: int = 1,
    layers: tuple[LayerFacts, ...] | None = None,
    slug: str = "lenet",
    title_en: str = "LeNet",
    title_zh: str = "LeNet 网络",
    **overrides: Any,
) -> ModelFacts:
    layers = sequential(lenet_layers() if layers is None else layers)
    total = sum(item.keras_params for item in layers)
    data: dict[str, Any] = dict(
        slug=slug,
        title={"en": title_en, "zh": title_zh},
        source="tests.handmade:lenet",
        batch_size=batch_size,
        framework={"tensorflow": "0.0", "keras": "0.0"},
        keras_params=total,
        keras_trainable_params=total,
        keras_non_trainable_params=0,
        layers=layers,
    )
    data.update(overrides)
    return ModelFacts(**data)


def previous_site(site: Path, text: str = "the previous site") -> Path:
    """A site as an earlier build published it: one page and reportgen's manifest."""
    from reportgen.publish import MANIFEST, manifest_text

    site.mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_text(text)
    (site / MANIFEST).write_text(manifest_text(["index.html"]))
    return site


# ------------------------------------------------------------------ a tiny GPT-2


GPT2_BLOCK_PARAMS = 49_984
"""One block of the tiny GPT-2: attention 16,640 + two norms 2×128 + MLP 16,640 + 16,448."""
GPT2_PARAMS = 64_000 + 2_048 + 2 * GPT2_BLOCK_PARAMS + 128
"""keras_hub.models.GPT2Backbone(vocabulary_size=1000, num_layers=2, num_heads=4,
hidden_dim=64, intermediate_dim=256, max_sequence_length=32).count_params()."""


def _sub(block: str, item: LayerFacts) -> LayerFacts:
    """``item`` as a sub-layer of ``block``: named ``<block>/<name>``, weights under it."""
    name = f"{block}/{item.name}"
    weights = tuple(replace(w, name=w.name.replace("lenet/", f"{block}/", 1)) for w in item.weights)
    return replace(item, name=name, block=block, weights=weights)


def gpt2_block(name: str, length: int | None) -> tuple[LayerFacts, ...]:
    """A keras-hub TransformerDecoder as the collect stage opens it: the block's row (it
    owns no weight itself), then its sub-layers, each named ``<block>/<own name>``."""
    seq: Shape = (None, length, 64)
    heads = 4
    attention = replace(
        layer(
            "self_attention",
            "CachedMultiHeadAttention",
            seq,
            seq,
            (
                ("query/kernel", (64, heads, 16)),
                ("query/bias", (heads, 16)),
                ("key/kernel", (64, heads, 16)),
                ("key/bias", (heads, 16)),
                ("value/kernel", (64, heads, 16)),
                ("value/bias", (heads, 16)),
                ("attention_output/kernel", (heads, 16, 64)),
                ("attention_output/bias", (64,)),
            ),
            num_heads=heads,
            key_dim=16,
            value_dim=16,
            use_bias=True,
        ),
        input_shapes=(seq, seq),  # query, value (the key is the value)
        input_names=("query", "value"),
    )
    subs = (
        attention,
        layer(
            "self_attention_layer_norm",
            "LayerNormalization",
            seq,
            seq,
            (("gamma", (64,)), ("beta", (64,))),
            axis=[-1],
            center=True,
            scale=True,
            epsilon=1e-5,
        ),
        layer("self_attention_dropout", "Dropout", seq, seq, rate=0.1),
        layer(
            "feedforward_intermediate_dense",
            "Dense",
            seq,
            (None, length, 256),
            (("kernel", (64, 256)), ("bias", (256,))),
            units=256,
            use_bias=True,
            activation="gelu",
        ),
        layer(
            "feedforward_output_dense",
            "Dense",
            (None, length, 256),
            seq,
            (("kernel", (256, 64)), ("bias", (64,))),
            units=64,
            use_bias=True,
            activation="linear",
        ),
        layer(
            "feedforward_layer_norm",
            "LayerNormalization",
            seq,
            seq,
            (("gamma", (64,)), ("beta", (64,))),
            axis=[-1],
            center=True,
            scale=True,
            epsilon=1e-5,
        ),
        layer("feedforward_dropout", "Dropout", seq, seq, rate=0.1),
    )
    block = replace(
        layer(
            name,
            "TransformerDecoder",
            seq,
            seq,
            keras_params=GPT2_BLOCK_PARAMS,
            intermediate_dim=256,
            num_heads=heads,
            dropout=0.1,
            activation="gelu",
            layer_norm_epsilon=1e-5,
            normalize_first=True,
        ),
        composite=True,
    )
    return (block, *(_sub(name, item) for item in subs))


def gpt2_wiring(name: str, source: str, length: int | None) -> dict[str, Any]:
    """Who reads what in a GPT-2 block fed by ``source`` (norm first): ``inbound`` by row,
    and the block's own tensors, as the collect stage records them: ``#0`` the causal mask
    merged with the padding mask (read by the attention only), ``#1`` the residual stream
    x + attention(x) (read by the feed-forward norm and by the closing addition)."""
    mask = InternalTensor(f"{name}#0", (None, length, length), "int32", read_by_block=False)
    stream = InternalTensor(f"{name}#1", (None, length, 64), "float32", read_by_block=True)
    reads = {
        name: (source, "padding_mask"),
        "self_attention_layer_norm": (source,),
        "self_attention": ("self_attention_layer_norm",) * 2 + (mask.name,),
        "self_attention_dropout": ("self_attention",),
        "feedforward_layer_norm": (stream.name,),
        "feedforward_intermediate_dense": ("feedforward_layer_norm",),
        "feedforward_output_dense": ("feedforward_intermediate_dense",),
        "feedforward_dropout": ("feedforward_output_dense",),
    }
    inbound = {
        (key if key == name else f"{name}/{key}"): tuple(
            r if r in (source, "padding_mask") or "#" in r else f"{name}/{r}" for r in rows
        )
        for key, rows in reads.items()
    }
    return {"inbound": inbound, "internal": {name: (mask, stream)}}


def _wired(layers: tuple[LayerFacts, ...], length: int | None) -> tuple[LayerFacts, ...]:
    inbound: dict[str, tuple[str, ...]] = {
        "token_ids": (),
        "padding_mask": (),
        "token_embedding": ("token_ids",),
        "position_embedding": ("token_embedding",),
        "embeddings_add": ("token_embedding", "position_embedding"),
        "embeddings_dropout": ("embeddings_add",),
    }
    internal: dict[str, tuple[InternalTensor, ...]] = {}
    for name, source in (
        ("transformer_layer_0", "embeddings_dropout"),
        ("transformer_layer_1", "transformer_layer_0"),
    ):
        wiring = gpt2_wiring(name, source, length)
        inbound.update(wiring["inbound"])
        internal.update(wiring["internal"])
    inbound["layer_norm"] = ("transformer_layer_1",)
    # Rows in call order, as the collect stage lists them: each block's norm first.
    order = {name: i for i, name in enumerate(inbound)}
    rows = sorted(layers, key=lambda item: order[item.name])
    return tuple(
        replace(item, inbound=inbound[item.name], internal_tensors=internal.get(item.name, ()))
        for item in rows
    )


def gpt2_facts(length: int | None = None, wired: bool = False, **overrides: Any) -> ModelFacts:
    """The tiny GPT-2 backbone, as collected: with ``length`` as its configured
    ``sequence_length`` (every ``None`` sequence axis filled), or without one. ``wired``:
    with who reads what (``inbound``) and each block's own tensors (``internal_tensors``),
    as collectors record them since they could; without, as before (the peak unknown)."""
    seq: Shape = (None, length, 64)
    ids: Shape = (None, length)
    layers = (
        layer("token_ids", "InputLayer", ids, ids, dtype="int32"),
        layer("padding_mask", "InputLayer", ids, ids, dtype="int32"),
        layer(
            "token_embedding",
            "ReversibleEmbedding",
            ids,
            seq,
            (("embeddings", (1000, 64)),),
            input_dim=1000,
            output_dim=64,
            tie_weights=True,
        ),
        layer(
            "position_embedding",
            "PositionEmbedding",
            seq,
            seq,
            (("embeddings", (32, 64)),),
            sequence_length=32,
        ),
        replace(layer("embeddings_add", "Add", seq, seq), input_shapes=(seq, seq)),
        layer("embeddings_dropout", "Dropout", seq, seq, rate=0.1),
        *gpt2_block("transformer_layer_0", length),
        *gpt2_block("transformer_layer_1", length),
        layer(
            "layer_norm",
            "LayerNormalization",
            seq,
            seq,
            (("gamma", (64,)), ("beta", (64,))),
            axis=[-1],
            center=True,
            scale=True,
            epsilon=1e-5,
        ),
    )
    data: dict[str, Any] = dict(
        slug="gpt2",
        title={"en": "GPT-2 (tiny)", "zh": "GPT-2（小型）"},
        source="tests.handmade:gpt2",
        keras_params=GPT2_PARAMS,
        keras_trainable_params=GPT2_PARAMS,
        keras_non_trainable_params=0,
        sequence_length=length,
    )
    data.update(overrides)
    return lenet_facts(layers=_wired(layers, length) if wired else layers, **data)
