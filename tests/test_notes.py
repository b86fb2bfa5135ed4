"""The collect stage's notes, disagreements and the i18n helpers that say them in each
language. Hand-made facts, no TensorFlow."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reportgen.derive import derive_model
from reportgen.derive.notes import legacy_note, note_text
from reportgen.facts import CollectNote, FlopsMeasurement, ModelFacts, read_facts
from reportgen.i18n import ByteCount, ByteSize, Names, fill, fmt_names, format_value
from reportgen.model import Mismatch, Text, msg, sentences
from tests.handmade import lenet_facts
from tests.test_zh_pages import LEGACY_NOTES

ORIGIN = (
    "This model is not a Keras model but a plain TensorFlow graph, traced from its "
    "tf.function: each layer is a top-level name scope of the graph, and the reference "
    "parameter count that each formula is checked against is the summed size of the "
    "variables (in a frozen graph: the constants) that the scope's ops use."
)
LOOP = (
    "TensorFlow's FLOPs profiler does not look inside While loops, so its count leaves out "
    "the work done in the loop of bidirectional_lstm (a recurrent layer runs its cell there "
    "once per time step); the derived figure counts it."
)


@pytest.mark.parametrize(
    ("note", "en", "zh"),
    [
        (CollectNote("graph_origin", {"kind": "tf.function"}), ORIGIN, "不是 Keras 模型"),
        (
            CollectNote("graph_origin", {"kind": "frozen graph"}),
            "This model is a frozen TensorFlow graph (.pb), not a Keras model",
            "冻结的 TensorFlow 计算图（.pb）",
        ),
        (CollectNote("frozen_constants"), "every floating-point constant of rank", "秩 ≥ 1"),
        (
            CollectNote("unused_weights", {"names": ["a", "b", "c", "d"]}),
            "4 weight tensors of the graph are not used by the forward pass and are not counted "
            "(a, b, c, …).",
            "图中有 4 个权重张量没有被前向计算用到，未计入（a、b、c、…）。",
        ),
        (
            CollectNote("unused_weights", {"names": ["w"]}),
            "1 weight tensor of the graph is not used by the forward pass and is not counted (w).",
            "（w）",
        ),
        (CollectNote("loop_flops", {"layers": ["bidirectional_lstm"]}), LOOP, "While 循环"),
        (
            CollectNote("loop_flops", {"layers": ["a", "b"]}),
            "the work done in the loops of a and b (a recurrent",
            "漏掉了 a 和 b 各自循环中的计算",
        ),
        (
            CollectNote("memory_not_measured", {"error": "OSError: disk"}),
            "runtime memory and FLOPs were not measured: OSError: disk",
            "未能测量运行时内存和 FLOPs：OSError: disk",
        ),
        (
            CollectNote("profiler_failed", {"error": "the forward pass was not traced"}),
            "the profiler did not run: the forward pass was not traced",
            "性能分析器没有运行：the forward pass was not traced",
        ),
        (
            CollectNote("from_the_future", {"layers": ["x", "y"], "count": 2}),
            "A note of the collect stage that this reportgen does not know: from_the_future "
            "(count: 2; layers: x, y).",
            "不认识的备注：from_the_future（count: 2; layers: x, y）。",
        ),
    ],
)
def test_each_note_is_a_sentence_in_each_language(note: CollectNote, en: str, zh: str) -> None:
    text = note_text(note)
    assert en in text.en
    assert zh in text.zh


def test_notes_older_collectors_wrote_read_as_the_same_notes() -> None:
    assert legacy_note(ORIGIN) == CollectNote("graph_origin", {"kind": "tf.function"})
    assert legacy_note(LOOP) == CollectNote("loop_flops", {"layers": ["bidirectional_lstm"]})
    assert note_text(ORIGIN).en == ORIGIN and note_text(LOOP).en == LOOP
    keys = [legacy_note(text) for text in LEGACY_NOTES]
    assert all(keys), [text for text, key in zip(LEGACY_NOTES, keys, strict=True) if not key]
    truncated = legacy_note(LEGACY_NOTES[3])
    assert truncated == CollectNote("unused_weights", {"count": 4, "names": ["w_a", "w_b", "w_c"]})
    assert note_text(LEGACY_NOTES[3]).en.endswith("(w_a, w_b, w_c, …).")


def test_a_note_no_collector_wrote_is_shown_as_written() -> None:
    assert note_text("Something new.") == Text("Something new.", "Something new.")


def test_structured_notes_round_trip_through_facts_json(tmp_path: Path) -> None:
    notes = (
        CollectNote("graph_origin", {"kind": "frozen graph"}),
        CollectNote("unused_weights", {"names": ["a/kernel", "b/bias"]}),
        CollectNote("memory_not_measured", {"error": "ValueError: boom"}),
        "An English note from an older collector.",
    )
    path = tmp_path / "facts.json"
    path.write_text(lenet_facts(notes=notes).to_json(), encoding="utf-8")
    assert read_facts(path).notes == notes
    report = derive_model(read_facts(path))
    assert [n.en for n in report.notes][3] == "An English note from an older collector."


def test_the_schema_refuses_a_note_without_a_key(tmp_path: Path) -> None:
    import json

    from reportgen.errors import ReportgenError

    data = json.loads(lenet_facts().to_json())
    data["notes"] = [{"values": {"error": "x"}}]
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReportgenError, match=r"notes\[0\]"):
        read_facts(path)


def _flops_mismatch(facts: ModelFacts) -> Mismatch:
    report = derive_model(facts)
    (found,) = [m for m in report.mismatches if m.quantity == "FLOPs"]
    return found


def test_a_disagreement_is_a_log_line_and_a_sentence_per_language() -> None:
    layers = list(lenet_facts().layers)
    layers[1] = dataclasses.replace(layers[1], keras_params=833)
    report = derive_model(lenet_facts(layers=tuple(layers)))
    conv1 = report.mismatches[0]
    assert conv1.describe() == "layer 'conv1': derived parameters 832 != Keras count_params() 833"
    assert conv1.sentence.en == (
        "Layer conv1: the derived parameter count is 832; Keras count_params() gives 833."
    )
    assert conv1.sentence.zh == "层 conv1：推导出的参数量为 832；Keras 的 count_params() 给出 833。"
    names = tuple(f"odd{i}" for i in range(7))
    flops = _flops_mismatch(lenet_facts(flops=FlopsMeasurement(1_000, {}, {})))
    flops = dataclasses.replace(flops, leaves_out=names)
    assert flops.describe().endswith(
        "!= TensorFlow profiler 1000 (the derived total leaves out what has no FLOPs formula: "
        "odd0, odd1, odd2, odd3, odd4, …)"
    )
    assert flops.sentence.zh.endswith(
        "相差超过 1%。推导总数没有计入缺少 FLOPs 公式的部分：odd0、odd1、odd2、odd3、odd4、…。"
    )


@pytest.mark.parametrize(
    ("template", "value", "zh"),
    [
        ("取自 %(x)s。", "Keras 的 count_params()", "取自 Keras 的 count_params()。"),
        ("取自 %(x)s。", "该作用域中变量的总大小", "取自该作用域中变量的总大小。"),
        ("与 %(x)s 的计数", "TensorFlow 性能分析器", "与 TensorFlow 性能分析器的计数"),
        ("层 %(x)s 的输出", "conv1", "层 conv1 的输出"),
        ("相差 %(x)s 超过 1%%。", "卷积", "相差卷积超过 1%。"),
    ],
)
def test_chinese_drops_the_space_only_between_chinese_text(
    template: str, value: str, zh: str
) -> None:
    assert fill(template, {"x": value}, "zh") == zh
    assert fill(template, {"x": value}, "en") == template % {"x": value}


def test_values_are_formatted_per_language() -> None:
    assert format_value(ByteCount(100_352), "zh") == "100,352 B"
    assert format_value(ByteCount(None), "en") == "?"
    assert format_value(ByteSize(100_352), "en") == "98 KiB"
    assert format_value(("a", "b", "c"), "en") == "a, b and c"
    assert format_value(("a", "b", "c"), "zh") == "a、b 和 c"
    assert format_value(Names(("a", "b", "c"), 2), "en") == "a, b, …"
    assert fmt_names(["a"], "zh", total=3) == "a、…"
    said = sentences(msg("Keras count_params()"), None, Text("Two.", "二。"))
    assert (said.en, said.zh) == ("Keras count_params() Two.", "Keras 的 count_params()二。")
    assert sentences(Text("One.", "一。"), None) == Text("One.", "一。")
