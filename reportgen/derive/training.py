"""Training-memory estimate: weights + gradients + optimizer state + kept activations.

Pure arithmetic on the collected facts. Each part is a :class:`Derivation` in bytes with a
formula, and the assumptions behind the estimate are written out in both languages, so
the page can say exactly what the figure includes and what it does not.

What Keras 3.15 allocates, checked by building each optimizer on a few variables
(``tests/test_training.py`` checks the Adam figure against a real model):

- one state tensor per slot and trainable weight, in the weight's own dtype (``float32``
  under ``mixed_float16``): Adam/AdamW/Nadam/Adamax 2 (Adam with ``amsgrad`` 3), SGD 0,
  or 1 with momentum, RMSprop 1, +1 with momentum, +1 centered, Adagrad 1, Adadelta 2,
  Lion 1, Ftrl 2; ``use_ema`` and ``gradient_accumulation_steps`` each add one more;
- scalars: the iteration counter (int64, 8 B), the learning rate (float32, 4 B, unless it
  is a schedule), Nadam's running product (4 B); a LossScaleOptimizer adds its own counter,
  learning rate, step counter and loss scale (24 B) around the inner optimizer's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reportgen.expr import Expr, Formula, Num, Product, Sum, Symbol, Term
from reportgen.facts import ModelFacts, OptimizerFacts, WeightFacts
from reportgen.model import Derivation, LayerReport, Text, TrainingMemory, TrainingPart
from reportgen.units import dtype_bytes, fmt_bytes, fmt_int

DEFAULT_OPTIMIZER = OptimizerFacts("Adam", {"learning_rate": 0.001, "amsgrad": False})
"""Assumed when the model was not compiled: Keras's most common choice, at its defaults."""


def _momentum(config: dict[str, Any]) -> int:
    return 1 if float(config.get("momentum") or 0.0) > 0.0 else 0


# Slots per trainable weight, by optimizer class, from its config.
SLOTS: dict[str, Callable[[dict[str, Any]], int]] = {
    "Adam": lambda c: 3 if c.get("amsgrad") else 2,
    "AdamW": lambda c: 3 if c.get("amsgrad") else 2,
    "Nadam": lambda c: 2,
    "Adamax": lambda c: 2,
    "SGD": _momentum,
    "RMSprop": lambda c: 1 + _momentum(c) + (1 if c.get("centered") else 0),
    "Adagrad": lambda c: 1,
    "Adadelta": lambda c: 2,
    "Lion": lambda c: 1,
    "Ftrl": lambda c: 2,
}

_SLOT_NAMES: dict[str, tuple[str, str]] = {
    "Adam": ("the first and second moments m and v", "一阶矩 m 和二阶矩 v"),
    "AdamW": ("the first and second moments m and v", "一阶矩 m 和二阶矩 v"),
    "Nadam": ("the first and second moments m and v", "一阶矩 m 和二阶矩 v"),
    "Adamax": ("the first moment and the infinity norm", "一阶矩和无穷范数"),
    "SGD": ("the momentum (velocity)", "动量（速度）"),
    "RMSprop": ("the running mean of squared gradients", "梯度平方的滑动平均"),
    "Adagrad": ("the accumulated squared gradients", "累积的梯度平方"),
    "Adadelta": ("the accumulated gradients and updates", "累积的梯度与更新量"),
    "Lion": ("the momentum", "动量"),
    "Ftrl": ("the accumulator and the linear term", "累加器和线性项"),
}


@dataclass(frozen=True)
class OptimizerState:
    """How much state an optimizer keeps: slots per trainable weight and scalar bytes."""

    name: str
    slots: int | None
    scalar_bytes: int
    wrapped_by: str | None = None


def optimizer_state(optimizer: OptimizerFacts) -> OptimizerState:
    """Slots and scalar bytes of ``optimizer`` (a LossScaleOptimizer is opened)."""
    wrapped_by = None
    scalar_bytes = 0
    config = optimizer.config
    name = optimizer.class_name
    if name == "LossScaleOptimizer":
        inner = config.get("inner_optimizer")
        wrapped_by = name
        scalar_bytes += 8 + 4 + 8 + 4  # its iteration, learning rate, step counter, scale
        if isinstance(inner, dict):
            name = str(inner.get("class_name", "?"))
            config = dict(inner.get("config") or {})
        else:
            name = "?"
    rule = SLOTS.get(name)
    slots = None if rule is None else rule(config)
    if slots is not None:
        slots += (1 if config.get("use_ema") else 0) + (
            1 if config.get("gradient_accumulation_steps") else 0
        )
    scalar_bytes += 8  # the iteration counter, int64
    if not isinstance(config.get("learning_rate"), dict):
        scalar_bytes += 4  # a float learning rate is a variable; a schedule is not
    if name == "Nadam":
        scalar_bytes += 4  # the running product of momentum decays
    return OptimizerState(name, slots, scalar_bytes, wrapped_by)


def _by_dtype(weights: list[WeightFacts]) -> list[tuple[str, int, int | None]]:
    """(dtype, elements, bytes per element) for each dtype among ``weights``, largest first."""
    counts: dict[str, int] = {}
    for weight in weights:
        counts[weight.dtype] = counts.get(weight.dtype, 0) + math.prod(weight.shape)
    return sorted(
        ((d, n, dtype_bytes(d)) for d, n in counts.items()), key=lambda item: (-item[1], item[0])
    )


def _bytes_expr(groups: list[tuple[str, int, int | None]], symbol: Symbol, factor: int = 1) -> Expr:
    parts: list[Expr] = []
    for dtype, count, width in groups:
        factors: list[Expr] = [Num(factor)] if factor != 1 else []
        factors += [Num(count, symbol), Num(width or 0)]
        product = Product(tuple(factors))
        parts.append(Term(dtype, product) if len(groups) > 1 else product)
    if not parts:
        return Num(0)
    return parts[0] if len(parts) == 1 else Sum(tuple(parts))


def _unknown_width(groups: list[tuple[str, int, int | None]]) -> Derivation | None:
    for dtype, _, width in groups:
        if width is None:
            return Derivation(
                None,
                "unknown",
                Text(
                    f"The size of a {dtype} weight is not known to reportgen.",
                    f"reportgen 不知道 {dtype} 类型的权重每个占多少字节。",
                ),
            )
    return None


def _derivation(expr: Expr, en: str, zh: str) -> Derivation:
    formula = Formula(expr, unit="B")
    return Derivation(formula.value, "formula", Text(en, zh), formula)


def _parameters(weights: list[WeightFacts]) -> Derivation:
    groups = _by_dtype(weights)
    unknown = _unknown_width(groups)
    if unknown is not None:
        return unknown
    total = sum(n for _, n, _ in groups)
    dtypes = ", ".join(d for d, _, _ in groups) or "—"
    return _derivation(
        _bytes_expr(groups, Symbol("P")),
        f"All {fmt_int(total)} weights (trainable or not) at the bytes of their own dtype "
        f"({dtypes}).",
        f"全部 {fmt_int(total)} 个权重（无论是否可训练），按各自数据类型（{dtypes}）的字节数计。",
    )


def _gradients(trainable: list[WeightFacts]) -> Derivation:
    groups = _by_dtype(trainable)
    unknown = _unknown_width(groups)
    if unknown is not None:
        return unknown
    total = sum(n for _, n, _ in groups)
    return _derivation(
        _bytes_expr(groups, Symbol("P", "train")),
        f"One gradient value for each of the {fmt_int(total)} trainable weights, in the weight's "
        "dtype. Non-trainable weights (such as batch normalization's moving statistics) get no "
        "gradient.",
        f"{fmt_int(total)} 个可训练权重各有一个梯度值，数据类型与权重相同。不可训练的权重"
        "（例如批归一化的滑动统计量）没有梯度。",
    )


def _optimizer_part(trainable: list[WeightFacts], state: OptimizerState) -> Derivation:
    groups = _by_dtype(trainable)
    unknown = _unknown_width(groups)
    if unknown is not None:
        return unknown
    if state.slots is None:
        return Derivation(
            None,
            "unknown",
            Text(
                f"reportgen does not know how much state the {state.name} optimizer keeps.",
                f"reportgen 不知道 {state.name} 优化器要保存多少状态。",
            ),
        )
    scalars = Term("scalars", Num(state.scalar_bytes))
    slot_expr = _bytes_expr(groups, Symbol("P", "train"), state.slots) if state.slots else None
    expr: Expr = Sum((slot_expr, scalars)) if slot_expr is not None else scalars
    names_en, names_zh = _SLOT_NAMES.get(state.name, ("its state", "它的状态"))
    if state.slots:
        slots_en = (
            f"{state.name} keeps {state.slots} value{'s' if state.slots > 1 else ''} per "
            f"trainable weight ({names_en}"
            + (", plus the configured extras" if state.slots > SLOTS[state.name]({}) else "")
            + "), in the weight's dtype"
        )
        slots_zh = (
            f"{state.name} 为每个可训练权重保存 {state.slots} 个值（{names_zh}），"
            "数据类型与权重相同"
        )
    else:
        slots_en = f"{state.name} without momentum keeps no value per weight"
        slots_zh = f"不带动量的 {state.name} 不为权重保存任何值"
    wrap_en = (
        f" The {state.wrapped_by} around it adds a step counter and the loss scale."
        if state.wrapped_by
        else ""
    )
    wrap_zh = (
        f"外层的 {state.wrapped_by} 另有步数计数器和损失缩放系数。" if state.wrapped_by else ""
    )
    return _derivation(
        expr,
        f"{slots_en}, and a few scalars ({state.scalar_bytes} B: the int64 iteration counter "
        f"and the learning rate).{wrap_en}",
        f"{slots_zh}；另有几个标量（{state.scalar_bytes} 字节：int64 的迭代计数器和学习率）。"
        f"{wrap_zh}",
    )


def _activations(layers: tuple[LayerReport, ...], batch_size: int) -> Derivation:
    known = [layer for layer in layers if layer.activation.value is not None]
    total = sum(layer.activation.value or 0 for layer in known)
    missing = len(layers) - len(known)
    missing_en = (
        f" {missing} layer(s) have an output size that cannot be derived and are left out."
        if missing
        else ""
    )
    missing_zh = f"有 {missing} 个层的输出大小无法推导，未计入。" if missing else ""
    return _derivation(
        Term("Σ layer outputs", Num(total)),
        f"The outputs of all {len(known)} layers at batch size {batch_size}, as derived layer "
        f"by layer, summed: {fmt_bytes(total)}.{missing_en}",
        f"全部 {len(known)} 个层在批大小 {batch_size} 下的输出（逐层推导的数值）之和："
        f"{fmt_bytes(total)}。{missing_zh}",
    )


def _assumptions(
    optimizer_assumed: bool, state: OptimizerState, batch_size: int
) -> tuple[Text, ...]:
    if optimizer_assumed:
        first = Text(
            "The model was not compiled, so the optimizer is assumed to be Adam at its "
            "defaults: two state values per trainable weight and an iteration counter.",
            "模型没有编译，因此假定优化器为默认配置的 Adam：每个可训练权重保存两个状态值，"
            "外加一个迭代计数器。",
        )
    else:
        first = Text(
            f"The optimizer is the one the model was compiled with: {state.name}"
            + (f" inside a {state.wrapped_by}" if state.wrapped_by else "")
            + ".",
            f"优化器取模型编译时所用的：{state.name}"
            + (f"（外层为 {state.wrapped_by}）" if state.wrapped_by else "")
            + "。",
        )
    return (
        first,
        Text(
            f"Every layer's output at batch size {batch_size} is assumed to be kept from the "
            "forward pass for the backward pass. Frameworks free some outputs early or recompute "
            "them (gradient checkpointing keeps far less), and keep some inputs besides.",
            f"假定前向传播中每一层在批大小 {batch_size} 下的输出都保留到反向传播使用。实际框架会"
            "提前释放或重新计算其中一部分（梯度检查点保存的要少得多），也会另外保留某些输入。",
        ),
        Text(
            "Gradients and optimizer state are kept in each weight's own dtype, so under "
            "mixed_float16 they are float32 like the weights, while activations are float16.",
            "梯度和优化器状态都采用权重自身的数据类型，因此在 mixed_float16 下它们与权重一样是 "
            "float32，而各层输出是 float16。",
        ),
        Text(
            "Not included: the gradients of the activations during the backward pass, "
            "temporary workspace of the kernels, the input pipeline and the allocator's own "
            "overhead. Treat the total as a floor for one training step, not a measurement.",
            "未计入：反向传播中对各层输出求得的梯度、算子的临时工作区、输入流水线，以及内存分配器"
            "自身的开销。总数应视为一次训练迭代的下限估计，而不是实测值。",
        ),
    )


_LABELS = {
    "parameters": Text("parameters", "参数"),
    "gradients": Text("gradients", "梯度"),
    "optimizer_state": Text("optimizer state", "优化器状态"),
    "activations": Text("activations kept for the backward pass", "为反向传播保留的激活值"),
}


def derive_training(facts: ModelFacts, layers: tuple[LayerReport, ...]) -> TrainingMemory:
    """The training-memory estimate of one model at its configured batch size."""
    assumed = facts.optimizer is None
    state = optimizer_state(facts.optimizer or DEFAULT_OPTIMIZER)
    weights = [w for layer in facts.layers for w in layer.weights]
    trainable = [w for w in weights if w.trainable]
    parts = (
        TrainingPart("parameters", _LABELS["parameters"], _parameters(weights)),
        TrainingPart("gradients", _LABELS["gradients"], _gradients(trainable)),
        TrainingPart(
            "optimizer_state", _LABELS["optimizer_state"], _optimizer_part(trainable, state)
        ),
        TrainingPart("activations", _LABELS["activations"], _activations(layers, facts.batch_size)),
    )
    if any(part.bytes.value is None for part in parts):
        total = Derivation(
            None,
            "unknown",
            Text(
                "At least one part of the estimate cannot be derived, so there is no total.",
                "估算中至少有一部分无法推导，因此不给出总数。",
            ),
        )
    else:
        expr = Sum(tuple(Term(part.label.en, Num(part.bytes.value or 0)) for part in parts))
        formula = Formula(expr, unit="B")
        total = Derivation(
            formula.value,
            "formula",
            Text(
                "Parameters, gradients, optimizer state and kept activations, added up: "
                f"{fmt_bytes(formula.value)} for one training step.",
                "参数、梯度、优化器状态与保留的激活值相加：一次训练迭代约需 "
                f"{fmt_bytes(formula.value)}。",
            ),
            formula,
        )
    return TrainingMemory(
        optimizer=state.name if state.wrapped_by is None else f"{state.wrapped_by}({state.name})",
        optimizer_assumed=assumed,
        slots_per_weight=state.slots,
        batch_size=facts.batch_size,
        parts=parts,
        total=total,
        assumptions=_assumptions(assumed, state, facts.batch_size),
    )
