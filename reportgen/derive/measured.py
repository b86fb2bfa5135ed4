"""What the runtime measured, set beside what was derived, and explained in both languages.

The collect stage records structured facts (``MemoryNote``: a fused op, a workspace, an
output that reuses another layer's buffer...); this module turns them into sentences.
"""

from __future__ import annotations

from reportgen.facts import MemoryMeasurement, MemoryNote, ProfileMeasurement
from reportgen.model import Text
from reportgen.units import fmt_int


def _b(value: int | None) -> str:
    return f"{fmt_int(value)} B" if value is not None else "?"


def note_text(note: MemoryNote) -> Text:
    """One sentence per structured remark."""
    kind = note.kind
    if kind == "fed_input":
        return Text(
            f"The input batch ({_b(note.nbytes)}) is fed from outside the graph, so no op "
            "allocates it during the forward pass.",
            f"输入批数据（{_b(note.nbytes)}）从图外部送入，前向计算中没有任何算子为它分配内存。",
        )
    if kind == "no_op":
        return Text(
            "The layer runs no op of its own at inference: it passes its input tensor "
            "through unchanged (Dropout does nothing when not training).",
            "推理时该层不执行任何算子，输入张量原样传给下一层（Dropout 只在训练时起作用）。",
        )
    if kind == "not_run":
        return Text(
            f"The op that produces the output ({note.op}) did not run under that name: "
            "TensorFlow's graph optimizer removed it or merged it into another op.",
            f"产生该输出的算子（{note.op}）没有以这个名字运行：TensorFlow 的图优化器"
            "把它删掉了，或并入了别的算子。",
        )
    owner_en = f"layer {note.owner_layer}'s buffer" if note.owner_layer else "a fed buffer"
    owner_zh = f"层 {note.owner_layer} 的缓冲区" if note.owner_layer else "外部送入的缓冲区"
    if kind == "view":
        return Text(
            f"{note.op_type} only reinterprets its input: the output reuses {owner_en} "
            f"({_b(note.nbytes)}), so no new memory is allocated.",
            f"{note.op_type} 只是换一种方式解读输入：输出直接复用{owner_zh}"
            f"（{_b(note.nbytes)}），不分配新内存。",
        )
    if kind == "in_place":
        return Text(
            f"{note.op_type} computed in place: its output overwrote {owner_en} "
            f"({_b(note.nbytes)}), so no new memory is allocated.",
            f"{note.op_type} 原地计算：输出直接写回{owner_zh}（{_b(note.nbytes)}），不分配新内存。",
        )
    if kind == "in_place_same_layer":
        return Text(
            f"{note.op_type} computed in place, in the buffer that {note.owner_op_type} "
            "allocated in this layer.",
            f"{note.op_type} 在本层 {note.owner_op_type} 分配的缓冲区里原地计算。",
        )
    if kind == "padding":
        return Text(
            f"The allocation holds {_b(note.nbytes)} for {_b(note.expected_bytes)} of output "
            "elements.",
            f"这块内存有 {_b(note.nbytes)}，而输出元素本身只占 {_b(note.expected_bytes)}。",
        )
    if kind == "fused":
        ops = " + ".join(note.fused_ops)
        return Text(
            f"{ops} ran as one fused op, {note.op_type}: no separate buffer holds the "
            "intermediate results.",
            f"{ops} 被融合成一个算子 {note.op_type} 执行，中间结果没有单独的缓冲区。",
        )
    if kind == "workspace":
        return Text(
            f"{note.op_type} also allocates a workspace output of {_b(note.nbytes)} (where "
            "each result came from, kept for the backward pass); it is not part of the "
            "layer's output and not counted here.",
            f"{note.op_type} 另外还分配了 {_b(note.nbytes)} 的工作区输出（记录每个结果从何而来，"
            "供反向传播使用）；它不属于该层的输出，这里不计入。",
        )
    if kind == "other_outputs":
        return Text(
            f"{note.op_type} also allocates further outputs of {_b(note.nbytes)}, not counted "
            "here.",
            f"{note.op_type} 还分配了其他输出，共 {_b(note.nbytes)}，这里不计入。",
        )
    if kind == "scratch":
        return Text(
            f"{note.op_type} also used {_b(note.nbytes)} of temporary scratch memory while it ran.",
            f"{note.op_type} 运行时还临时使用了 {_b(note.nbytes)} 的暂存内存。",
        )
    if kind == "moved":
        return Text(
            f"TensorFlow's optimizer moved this layer's last op, {note.op_type} ({note.op}), "
            f"into layer {note.owner_layer}, where it runs on fewer values (max pooling "
            "commutes with a monotonic function such as ReLU); the figure is this layer's "
            "output before that op.",
            f"TensorFlow 的图优化器把本层最后一个算子 {note.op_type}（{note.op}）挪到了层 "
            f"{note.owner_layer} 里，在那里作用于更少的数值（最大池化与 ReLU 这类单调函数"
            "可以交换次序）；这里的数字是该算子之前本层的输出。",
        )
    if kind == "multiple_outputs":
        return Text(
            f"The layer has {note.count} output tensors; their allocations are summed.",
            f"该层有 {note.count} 个输出张量，这里是它们分配量之和。",
        )
    if kind == "shared_calls":
        return Text(
            f"The layer is called {note.count} times; these are the bytes of its first call.",
            f"该层被调用了 {note.count} 次，这里是第一次调用的字节数。",
        )
    return Text(f"Runtime remark: {kind}.", f"运行时备注：{kind}。")


def measured_memory(
    name: str, derived: int | None, memory: MemoryMeasurement | None
) -> tuple[int | None, Text | None]:
    """The allocator's bytes for this layer's output, and why they are what they are."""
    if memory is None:
        return None, None
    if name not in memory.layer_bytes:
        return None, Text(
            "The runtime measurement has no record for this layer.",
            "运行时测量中没有该层的记录。",
        )
    measured = memory.layer_bytes[name]
    sentences: list[Text] = []
    if measured is not None and derived is not None:
        if measured == derived:
            sentences.append(
                Text(
                    f"The TensorFlow allocator recorded {_b(measured)} for this output: exactly "
                    "the derived figure.",
                    f"TensorFlow 分配器为该输出记录了 {_b(measured)}，与推导值完全一致。",
                )
            )
        else:
            diff = measured - derived
            more_en, more_zh = ("more", "多") if diff > 0 else ("less", "少")
            sentences.append(
                Text(
                    f"The TensorFlow allocator recorded {_b(measured)}, {_b(abs(diff))} {more_en} "
                    f"than the derived {_b(derived)}.",
                    f"TensorFlow 分配器记录了 {_b(measured)}，比推导值 {_b(derived)} "
                    f"{more_zh} {_b(abs(diff))}。",
                )
            )
    elif measured is None:
        sentences.append(
            Text(
                "The runtime allocated no new memory for this layer's output.",
                "运行时没有为该层的输出分配新的内存。",
            )
        )
    sentences.extend(note_text(note) for note in memory.layer_notes.get(name, ()))
    return measured, Text(" ".join(s.en for s in sentences), "".join(s.zh for s in sentences))


def layer_time(name: str, profile: ProfileMeasurement | None) -> float | None:
    """Median over the profiled steps of the summed time of the layer's ops (µs)."""
    if profile is None:
        return None
    return profile.layer_time_us.get(name)
