"""A decoder's inference memory from hand-made facts: the key/value cache formula, the table
over lengths and batch sizes, the prose in both languages and the chart.

The attention kinds here are declared by the test (``FakeCachedAttention``), with the
registry's ``kv_cache`` rule: what matters is the rule, not which keras-hub class has it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from reportgen.derive import derive_model
from reportgen.derive.decoder import DEFAULT_MAX_LENGTH, table_lengths
from reportgen.derive.layers.registry import KINDS, NO_RULE_YET, KvHeads, LayerKind, Zero
from reportgen.facts import LayerFacts, ModelFacts, Shape, WeightFacts
from reportgen.model import DecoderMemory, ModelReport, Text
from reportgen.render.charts import chart_kinds, decoder_chart, model_charts
from tests.handmade import lenet_facts

CJK = re.compile(r"[\u4e00-\u9fff]")
ATTENTION = "FakeCachedAttention"
SCORES = "FakeScores"
HIDDEN = 64
VOCAB = 100


def kv_rule(layer: LayerFacts) -> KvHeads | None:
    heads = layer.config.get("num_key_value_heads", layer.config.get("num_heads"))
    if heads is None:
        return None
    dim = int(layer.config["key_dim"])
    return KvHeads(int(heads), dim, int(heads), dim)


@pytest.fixture(autouse=True)
def fake_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached attention kind and a weightless one that writes attention scores (L²)."""
    monkeypatch.setitem(
        KINDS,
        ATTENTION,
        LayerKind(ATTENTION, "attention", Zero(Text("", "")), NO_RULE_YET, kv_cache=kv_rule),
    )
    monkeypatch.setitem(
        KINDS, SCORES, LayerKind(SCORES, "attention", Zero(Text("", "")), NO_RULE_YET)
    )


def row(
    name: str,
    class_name: str,
    out: Shape,
    open_out: Shape,
    weights: tuple[tuple[int, ...], ...] = (),
    dtype: str = "float32",
    **config: Any,
) -> LayerFacts:
    count = 0
    for shape in weights:
        n = 1
        for d in shape:
            n *= d
        count += n
    return LayerFacts(
        name=name,
        class_name=class_name,
        config=config,
        input_shapes=((out[0], out[1], HIDDEN),),
        output_shapes=(out,),
        compute_dtype=dtype,
        variable_dtype="float32",
        weights=tuple(
            WeightFacts(f"{name}/w{i}", shape, "float32", True) for i, shape in enumerate(weights)
        ),
        keras_params=count,
        open_output_shapes=(open_out,),
    )


def decoder_facts(
    length: int = 16,
    batch: int = 1,
    query_heads: int = 4,
    kv_heads: int | None = None,
    max_length: int | None = 32,
    open_shapes: bool = True,
) -> ModelFacts:
    """Two blocks of [attention → scores], after token ids and an embedding."""
    s, b = length, None
    layers = [
        row("token_ids", "InputLayer", (b, s), (b, None), dtype="int32"),
        row("embedding", "Embedding", (b, s, HIDDEN), (b, None, HIDDEN), ((VOCAB, HIDDEN),)),
    ]
    if max_length is not None:
        layers.append(
            row(
                "position_embedding",
                "PositionEmbedding",
                (b, s, HIDDEN),
                (b, None, HIDDEN),
                ((max_length, HIDDEN),),
                sequence_length=max_length,
            )
        )
    heads = {"num_heads": query_heads} if kv_heads is None else {"num_query_heads": query_heads}
    if kv_heads is not None:
        heads["num_key_value_heads"] = kv_heads
    for i in range(2):
        layers += [
            row(
                f"block_{i}/attention",
                ATTENTION,
                (b, s, HIDDEN),
                (b, None, HIDDEN),
                ((HIDDEN, HIDDEN), (HIDDEN, HIDDEN)),
                key_dim=16,
                **heads,
            ),
            row(f"block_{i}/scores", SCORES, (b, query_heads, s, s), (b, query_heads, None, None)),
        ]
    if not open_shapes:
        layers = [LayerFacts(**{**layer.__dict__, "open_output_shapes": ()}) for layer in layers]
    return ModelFacts(
        slug="tiny-decoder",
        title={"en": "Tiny decoder", "zh": "小解码器"},
        source="tests",
        batch_size=batch,
        framework={},
        keras_params=sum(layer.keras_params for layer in layers),
        keras_trainable_params=sum(layer.keras_params for layer in layers),
        keras_non_trainable_params=0,
        layers=tuple(layers),
        sequence_length=length,
    )


def decoder_of(facts: ModelFacts) -> tuple[ModelReport, DecoderMemory]:
    report = derive_model(facts)
    assert report.decoder is not None
    return report, report.decoder


def activations(length: int, batch: int, query_heads: int = 4) -> int:
    """The tiny decoder's layer outputs by hand: ids (int32), 2 + 2 hidden-wide rows, and
    two L² attention-score rows, 4 bytes a value."""
    linear = length * (1 + 4 * HIDDEN)  # token ids, embedding, position, 2 attentions
    scores = 2 * query_heads * length * length
    return batch * 4 * (linear + scores)


def test_gpt2_like_cache_formula() -> None:
    report, dec = decoder_of(decoder_facts())
    # 2 (keys and values) × 2 layers × 4 heads × 16 × 16 tokens × batch 1 × 4 bytes
    assert dec.kv_cache.value == 2 * 2 * 4 * 16 * 16 * 1 * 4 == 16_384
    assert dec.kv_cache.formula is not None
    assert dec.kv_cache.formula.text == "2×2×4×16×16×1×4 B = 16,384 B = 16 KiB"
    assert dec.kv_cache.formula.symbolic_text == "2×n_layers×h_kv×d_head×s×b×4 B"
    assert (dec.caching_layers, dec.query_heads, dec.kv_heads) == (2, 4, 4)
    assert dec.sequence_length == 16 and dec.batch_size == 1
    # the position embedding's length is the model's longest sequence
    assert dec.max_sequence_length == 32
    assert "position_embedding" in dec.max_source.en
    assert dec.lengths == (16, 32)
    # inference memory = weights + cache + activations (the page's output-memory total)
    assert dec.weights_bytes == report.totals.param_bytes
    assert dec.activation_bytes == report.totals.activation_bytes == activations(16, 1)
    assert dec.total.value == dec.weights_bytes + 16_384 + dec.activation_bytes
    assert dec.total.formula is not None and "KV cache 2×2×4×16×16×1×4" in dec.total.formula.text


def test_llama_like_grouped_query_cache() -> None:
    _, dec = decoder_of(decoder_facts(query_heads=4, kv_heads=2, max_length=None))
    assert dec.kv_cache.value == 2 * 2 * 2 * 16 * 16 * 1 * 4 == 8_192
    assert dec.kv_cache.formula is not None
    assert dec.kv_cache.formula.text == "2×2×2×16×16×1×4 B = 8,192 B = 8 KiB"
    assert (dec.query_heads, dec.kv_heads) == (4, 2)
    # no layer states a longest sequence: the table goes to 32k
    assert dec.max_sequence_length == DEFAULT_MAX_LENGTH
    assert dec.lengths == tuple(2**k for k in range(4, 16))
    gqa = dec.grouped_query
    assert "4 query heads share 2" in gqa.en and "2 times smaller" in gqa.en
    assert "16 KiB" in gqa.en and "8 KiB" in gqa.en  # what it would be without GQA
    assert CJK.search(gqa.zh) and "分组查询注意力" in gqa.zh and "2" in gqa.zh


def test_multi_head_attention_says_what_grouped_query_would_do() -> None:
    _, dec = decoder_of(decoder_facts())
    assert "all 4 are cached" in dec.grouped_query.en
    assert "Grouped-query attention" in dec.grouped_query.en
    assert CJK.search(dec.grouped_query.zh)


def test_why_the_cache_grows_in_both_languages() -> None:
    _, dec = decoder_of(decoder_facts())
    grows = dec.why_it_grows
    assert "later token" in grows.en and "1 KiB per token" in grows.en  # 16,384 B / 16
    assert "键值缓存" in grows.zh or "缓存" in grows.zh
    assert "1 KiB" in grows.zh
    for prose in (dec.kv_cache.explanation, dec.total.explanation, dec.max_source):
        assert prose.en and CJK.search(prose.zh)


@pytest.mark.parametrize("batch", [1, 2])
def test_table_scales_exactly(batch: int) -> None:
    _, dec = decoder_of(decoder_facts(batch=batch, kv_heads=2, max_length=1024))
    assert tuple(g.batch_size for g in dec.batches) == tuple(sorted({1, 8, 32, batch}))
    assert dec.lengths == (16, 32, 64, 128, 256, 512, 1024)
    per_token = 2 * 2 * 2 * 16 * 4  # bytes per token and sequence
    configured = [r for r in dec.rows if r.configured]
    assert len(configured) == 1 and configured[0].sequence_length == 16
    assert configured[0].batch_size == batch
    assert configured[0].kv_cache_bytes == dec.kv_cache.value
    assert configured[0].total_bytes == dec.total.value
    for r in dec.rows:
        L, b = r.sequence_length, r.batch_size
        assert r.kv_cache_bytes == per_token * L * b  # linear in length and in batch
        assert r.weights_bytes == dec.weights_bytes  # the same at every length
        assert r.activation_bytes == activations(L, b)  # the scores grow as L²
        assert r.total_bytes == r.weights_bytes + per_token * L * b + activations(L, b)


def test_activations_unknown_at_other_lengths_without_open_shapes() -> None:
    _, dec = decoder_of(decoder_facts(open_shapes=False))
    assert dec.activations_note is not None and CJK.search(dec.activations_note.zh)
    for r in dec.rows:
        assert r.kv_cache_bytes is not None
        if r.configured:
            assert r.activation_bytes == activations(16, 1)
        else:
            assert r.activation_bytes is None and r.total_bytes is None


def test_not_a_decoder() -> None:
    report = derive_model(lenet_facts())
    assert report.decoder is None
    assert "decoder" not in chart_kinds(report)
    assert decoder_chart(report) is None


def test_unknown_heads_make_the_cache_unknown() -> None:
    facts = decoder_facts()
    layers = tuple(
        LayerFacts(**{**layer.__dict__, "config": {"key_dim": 16}})
        if layer.class_name == ATTENTION
        else layer
        for layer in facts.layers
    )
    _, dec = decoder_of(ModelFacts(**{**facts.__dict__, "layers": layers}))
    assert dec.kv_cache.value is None and dec.kv_cache.method == "unknown"
    assert "block_0/attention" in dec.kv_cache.explanation.en
    assert dec.total.value is None
    assert all(r.kv_cache_bytes is None and r.total_bytes is None for r in dec.rows)


def test_table_lengths() -> None:
    assert table_lengths(32, 16) == (16, 32)
    assert table_lengths(77, 20) == (16, 20, 32, 64, 77)
    assert table_lengths(8, 8) == (8,)


def test_chart_is_deterministic_and_wordless() -> None:
    report, _ = decoder_of(decoder_facts(kv_heads=2, max_length=None))
    assert "decoder" in chart_kinds(report)
    first = decoder_chart(report)
    assert first is not None and first == decoder_chart(report)
    assert model_charts(report)["decoder"] == first
    assert "<dc:date>" not in first and "Date" not in first
    root = ET.fromstring(first)
    texts = ["".join(t.itertext()).strip() for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "b=1" in texts and "b=32" in texts and "32,768" in texts
    tick = re.compile(r"^(b=\d+|[\d,.]+( (B|KiB|MiB|GiB|TiB))?)$")
    assert all(tick.match(t) for t in texts if t), texts
