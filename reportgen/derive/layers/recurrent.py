"""Recurrent layers (``keras/src/layers/rnn/``): SimpleRNN, LSTM, GRU, and those without a rule."""

from __future__ import annotations

from collections.abc import Sequence

from reportgen.derive.layers.convention import (
    activation_name,
    activation_term,
    batch_note,
    counted,
    known_activation,
    missing_shape,
)
from reportgen.derive.layers.registry import GENERIC, NO_RULE_YET, declare, formula, unknown
from reportgen.derive.layers.shapes import batch_factor, dims, last_input_dim, no_last_axis
from reportgen.expr import Expr, Num, Product, Sum, Symbol, Term, evaluate
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Msg, Prose, Text, msg, sentences

FAMILY = "recurrent"
_HERE = __name__

SAME_WEIGHTS_EVERY_STEP = msg("The same weights serve every time step.")

# ---------------------------------------------------------------- parameters


def _rnn_parts(layer: LayerFacts) -> tuple[int, int, bool] | None:
    n_in = last_input_dim(layer)
    if n_in is None:
        return None
    return n_in, int(layer.config["units"]), bool(layer.config.get("use_bias", True))


def _rnn_core(n_in: int, units: int) -> list[Expr]:
    u = Num(units, Symbol("u"))
    return [Product((Num(n_in, Symbol("n", "in")), u)), Product((u, u))]


def simple_rnn_params(layer: LayerFacts) -> Derivation:
    """SimpleRNN: n_in×u (input kernel) + u×u (recurrent kernel) + u (bias)."""
    parts = _rnn_parts(layer)
    if parts is None:
        return no_last_axis()
    n_in, units, use_bias = parts
    terms = _rnn_core(n_in, units) + ([Num(units, Symbol("u"))] if use_bias else [])
    if use_bias:
        reads = Text(
            f"At each time step the {units} units read the {n_in} inputs through one matrix and "
            f"their own previous output through a {units}×{units} recurrent matrix, plus one "
            "bias per unit.",
            f"每个时间步，{units} 个单元通过一个矩阵读取 {n_in} 个输入，再通过一个 "
            f"{units}×{units} 的循环矩阵读取自己上一步的输出，每个单元另有一个偏置。",
        )
    else:
        reads = Text(
            f"At each time step the {units} units read the {n_in} inputs through one matrix and "
            f"their own previous output through a {units}×{units} recurrent matrix; there is no "
            "bias (use_bias=False).",
            f"每个时间步，{units} 个单元通过一个矩阵读取 {n_in} 个输入，再通过一个 "
            f"{units}×{units} 的循环矩阵读取自己上一步的输出；没有偏置（use_bias=False）。",
        )
    return formula(
        Sum(tuple(terms)),
        sentences(
            reads,
            msg("The same weights serve every time step, so the sequence length does not matter."),
        ),
    )


def lstm_params(layer: LayerFacts) -> Derivation:
    """LSTM: 4 × (n_in×u + u×u + u): input, forget, cell and output gates."""
    parts = _rnn_parts(layer)
    if parts is None:
        return no_last_axis()
    n_in, units, use_bias = parts
    terms = _rnn_core(n_in, units) + ([Num(units, Symbol("u"))] if use_bias else [])
    if use_bias:
        gate = Text(
            f"Each is a small layer of {units} units that reads the {n_in} inputs and the "
            f"previous {units}-value output, plus a bias: {n_in}×{units} + {units}×{units} + "
            f"{units} weights, four times.",
            f"每个门都是一个 {units} 单元的小层，读取 {n_in} 个输入和上一步 {units} 个输出，"
            f"并带偏置：每个门 {n_in}×{units} + {units}×{units} + {units} 个权重，乘以 4。",
        )
    else:
        gate = Text(
            f"Each is a small layer of {units} units that reads the {n_in} inputs and the "
            f"previous {units}-value output; there is no bias (use_bias=False): "
            f"{n_in}×{units} + {units}×{units} weights, four times.",
            f"每个门都是一个 {units} 单元的小层，读取 {n_in} 个输入和上一步 {units} 个输出；"
            f"没有偏置（use_bias=False）：每个门 {n_in}×{units} + {units}×{units} 个权重，乘以 4。",
        )
    return formula(
        Product((Num(4), Sum(tuple(terms)))),
        sentences(
            msg("An LSTM has four gates (input, forget, cell candidate, output)."),
            gate,
            SAME_WEIGHTS_EVERY_STEP,
        ),
    )


def gru_params(layer: LayerFacts) -> Derivation:
    """GRU: 3 × (n_in×u + u×u) + biases; reset_after=True keeps 2 biases per gate (2×3×u)."""
    parts = _rnn_parts(layer)
    if parts is None:
        return no_last_axis()
    n_in, units, use_bias = parts
    reset_after = bool(layer.config.get("reset_after", True))
    u = Num(units, Symbol("u"))
    terms = _rnn_core(n_in, units)
    if use_bias:
        terms.append(Product((Num(2), u)) if reset_after else u)
    if use_bias and reset_after:
        biases = msg(
            "With reset_after=True (the default) each gate has two biases, one added to the "
            "input part and one to the recurrent part, so the biases are 2×3×units."
        )
    elif use_bias:
        biases = msg("With reset_after=False each gate has one bias.")
    else:
        biases = msg("There is no bias (use_bias=False).")
    return formula(
        Product((Num(3), Sum(tuple(terms)))),
        sentences(
            Text(
                f"A GRU has three gates (update, reset, candidate), each reading the {n_in} "
                f"inputs and the previous {units}-value output: {n_in}×{units} + {units}×{units} "
                "weights per gate.",
                f"GRU 有三个门（更新门、重置门、候选状态），每个门读取 {n_in} 个输入和上一步的 "
                f"{units} 个输出：每个门 {n_in}×{units} + {units}×{units} 个权重。",
            ),
            biases,
            SAME_WEIGHTS_EVERY_STEP,
        ),
    )


# ---------------------------------------------------------------- FLOPs


def _loop_note(unrolled: bool, steps: int, one_step: int) -> Prose:
    """What the profiler sees of a recurrence: every step unrolled, else one step."""
    mask = msg(
        "Masking (e.g. after an Embedding with mask_zero=True) adds select ops not counted here."
    )
    if unrolled:
        return sentences(
            msg(
                "With unroll=True the %(steps)s steps are separate ops in the graph and "
                "TensorFlow's profiler counts every one.",
                steps=str(steps),
            ),
            mask,
        )
    return sentences(
        msg(
            "Keras runs the steps inside a While loop, whose body TensorFlow's profiler does not "
            "count; before the loop it computes one extra step, only to learn the output's "
            "shape, and that is the step the profiler counts. reportgen follows it, so this is "
            "one step: the %(steps)s steps of the loop do %(flops)s FLOPs of real work that "
            "neither figure includes (unroll=True would put them in the graph).",
            steps=str(steps),
            flops=steps * one_step,
        ),
        mask,
    )


def _activation_terms(
    layer: LayerFacts, uses: Sequence[tuple[str, int]], per_step: Sequence[Expr]
) -> tuple[list[Term], list[Msg | None]] | None:
    """Terms for the activations applied ``count`` units-wide per step; None if one is unknown."""
    terms: list[Term] = []
    notes: list[Msg | None] = []
    for key, width in uses:
        name = activation_name(layer.config.get(key, "tanh" if key == "activation" else "sigmoid"))
        if not known_activation(name):
            return None
        term, note = activation_term(name, [Num(width), *per_step])
        if term is not None:
            terms.append(term)
        notes.append(note)
    return terms, notes


def recurrent_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """SimpleRNN, LSTM, GRU: per step the two matrix products, the biases and the gate math."""
    in_dims = dims(layer.input_shapes)
    if in_dims is None or len(in_dims) != 2:
        return missing_shape(layer)
    steps, n_in = in_dims
    units = int(layer.config["units"])
    use_bias = bool(layer.config.get("use_bias", True))
    kind = layer.class_name
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[kind]
    t, u = Num(steps, Symbol("T")), Num(units, Symbol("u"))
    unrolled = bool(layer.config.get("unroll", False))
    per_step = [t, *batch_factor(batch_size)] if unrolled else batch_factor(batch_size)
    width = [Num(gates), u] if gates > 1 else [u]
    terms = [
        Term(
            "MatMul",
            Product((Num(2), *width, Sum((Num(n_in, Symbol("n", "in")), u)), *per_step)),
        )
    ]
    if kind == "SimpleRNN":
        adds, elementwise, uses = int(use_bias), 1, [("activation", 1)]
        what = Text(
            f"At each of the {steps} time steps the SimpleRNN multiplies the {n_in} inputs and "
            f"the previous {units} outputs by its kernels ({gates}×{units} wide), 2 FLOPs per "
            "multiply-add, and adds the biases and the input and recurrent products.",
            f"在 {steps} 个时间步中的每一步，SimpleRNN 都把 {n_in} 个输入和上一步的 {units} 个输出"
            f"乘以它的核矩阵（宽 {gates}×{units}），每次乘加记 2 次，再加上偏置，"
            "并把输入项与循环项相加。",
        )
    elif kind == "LSTM":
        adds, elementwise = 1 + int(use_bias), 1
        uses = [("recurrent_activation", 3), ("activation", 2)]
        what = Text(
            f"At each of the {steps} time steps the LSTM multiplies the {n_in} inputs and the "
            f"previous {units} outputs by its kernels ({gates}×{units} wide), 2 FLOPs per "
            "multiply-add, adds the biases, and computes the cell update c = f·c + i·g and the "
            "output o·tanh(c).",
            f"在 {steps} 个时间步中的每一步，LSTM 都把 {n_in} 个输入和上一步的 {units} 个输出"
            f"乘以它的核矩阵（宽 {gates}×{units}），每次乘加记 2 次，再加上偏置，并计算"
            "记忆更新 c = f·c + i·g 和输出 o·tanh(c)。",
        )
    else:
        reset_after = bool(layer.config.get("reset_after", True))
        adds = (2 if reset_after else 1) * int(use_bias)
        elementwise, uses = 2, [("recurrent_activation", 2), ("activation", 1)]
        what = Text(
            f"At each of the {steps} time steps the GRU multiplies the {n_in} inputs and the "
            f"previous {units} outputs by its kernels ({gates}×{units} wide), 2 FLOPs per "
            "multiply-add, adds the biases, and combines the gates (z·h + (1 − z)·h̃ and the "
            "reset).",
            f"在 {steps} 个时间步中的每一步，GRU 都把 {n_in} 个输入和上一步的 {units} 个输出"
            f"乘以它的核矩阵（宽 {gates}×{units}），每次乘加记 2 次，再加上偏置，"
            "并合并各门（z·h + (1 − z)·h̃ 以及重置）。",
        )
    if adds:
        terms.append(
            Term(
                "BiasAdd, AddV2",
                Product((*([Num(adds)] if adds > 1 else []), *width, *per_step)),
            )
        )
    if kind == "SimpleRNN":
        terms.append(Term("AddV2", Product((u, *per_step))))
    else:
        terms.append(Term("Mul, AddV2, Sub", Product((Num(4 * elementwise), u, *per_step))))
    activations = _activation_terms(layer, uses, [u, *per_step])
    if activations is None:
        return unknown(
            msg(
                "reportgen has no FLOPs rule for one of the activations of this %(kind)s.",
                kind=kind,
            )
        )
    act_terms, act_notes = activations
    terms.extend(act_terms)
    total = sum(evaluate(term) for term in terms)
    one_step = total // steps if unrolled else total
    return counted(
        terms,
        what,
        *act_notes,
        _loop_note(unrolled, steps, one_step),
        batch_note(batch_size),
    )


declare("SimpleRNN", family=FAMILY, params=simple_rnn_params, flops=recurrent_flops, module=_HERE)
declare("LSTM", family=FAMILY, params=lstm_params, flops=recurrent_flops, module=_HERE)
declare("GRU", family=FAMILY, params=gru_params, flops=recurrent_flops, module=_HERE)
# The generic RNN (any cell) and the convolutional LSTMs: their weights are counted as Keras
# holds them; their FLOPs have no rule yet.
declare(
    "RNN",
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
    family=FAMILY,
    params=GENERIC,
    flops=NO_RULE_YET,
    module=_HERE,
)
