"""Parameters reportgen cannot derive: said so in both languages, never counted as zero.

Two things leave the derived parameter total unknown:

- a layer whose count cannot be derived (its row says why: a shape the formula needs was
  not collected, for example);
- weights a subclassed ``keras.Model`` holds itself, created in its own ``build()`` or
  ``__init__`` and used by the code of its ``call()`` rather than through a layer. The
  collect stage lists them in one row of their own, marked with :data:`OWN_WEIGHTS_KEY` in
  its config, so that the parameter memory and the training estimate count them; there is
  no layer configuration to derive them from.

Either way the model's total is Keras's count, the derived total is None (``null`` in the
JSON), and :func:`unknown_total` says why, once, for the page and for the warning line.
"""

from __future__ import annotations

from dataclasses import dataclass

from reportgen.facts import LayerFacts
from reportgen.model import Derivation, LayerReport, Text
from reportgen.units import fmt_int

OWN_WEIGHTS_KEY = "reportgen_model_own_weights"
"""Config key (value ``True``) of the row holding the weights a subclassed model owns itself."""

NOT_CALLED_KEY = "reportgen_not_called"
"""Config key (value ``True``) added to a subclassed model's layer that the call reportgen
recorded never used (a layer only used in training, say): it did not run in the forward
pass, so no shape of it is known."""

MAX_NAMES = 5
"""Layers named in a sentence; more are counted."""


def is_own_weights(layer: LayerFacts) -> bool:
    """The row of weights a subclassed model holds itself (not a layer)."""
    return layer.config.get(OWN_WEIGHTS_KEY) is True


def is_not_called(layer: LayerFacts) -> bool:
    """A layer of a subclassed model that did not run in the recorded forward pass."""
    return layer.config.get(NOT_CALLED_KEY) is True


_NOT_CALLED = Text(
    "The model's call() did not use this layer when reportgen called the model once, at "
    "inference, to record its layers (a layer used only in training, for example), so no "
    "shape of it is known.",
    "reportgen 为记录各层而以推理模式调用模型一次时，模型的 call() 没有用到这一层"
    "（例如只在训练时使用的层），因此不知道它的任何形状。",
)


def not_called_params(layer: LayerFacts, derived: Derivation) -> Derivation:
    """A layer that did not run: 0 when it was never built (it holds no weights yet),
    else whatever its formula gives without shapes, said to be about a layer that did not
    run."""
    if not layer.weights and layer.keras_params == 0:
        return Derivation(
            0,
            "zero",
            Text(
                f"{_NOT_CALLED.en} Never called, it was never built either: it holds no "
                "weights yet, and Keras counts 0 for it too.",
                f"{_NOT_CALLED.zh}它从未被调用，也就从未被构建：目前没有任何权重，"
                "Keras 对它的统计也是 0。",
            ),
            derived.formula if derived.value == 0 else None,
        )
    return Derivation(
        derived.value,
        derived.method,
        Text(
            f"{_NOT_CALLED.en} {derived.explanation.en}",
            f"{_NOT_CALLED.zh}{derived.explanation.zh}",
        ),
        derived.formula,
    )


def not_called_activation() -> Derivation:
    return Derivation(
        0,
        "zero",
        Text(
            f"{_NOT_CALLED.en} It does not run in the forward pass, so it writes no output.",
            f"{_NOT_CALLED.zh}前向计算中它不运行，因此不产生输出。",
        ),
    )


def not_called_flops() -> Derivation:
    return Derivation(
        0,
        "zero",
        Text(
            f"{_NOT_CALLED.en} It does not run in the forward pass, so it costs no FLOPs.",
            f"{_NOT_CALLED.zh}前向计算中它不运行，因此没有浮点运算。",
        ),
    )


def own_weights_params(layer: LayerFacts) -> Derivation:
    n = fmt_int(layer.keras_params)
    return Derivation(
        None,
        "unknown",
        Text(
            f"These {n} parameters are weights that the subclassed model {layer.class_name} "
            "creates itself and uses in the code of its own call(), not through a layer. "
            "reportgen derives a count from a layer's configuration and shapes, and these "
            "weights have neither, so their count cannot be derived. They are listed here so "
            "that the parameter memory and the training estimate include them.",
            f"这 {n} 个参数是子类模型 {layer.class_name} 自己创建、并在自己的 call() 代码中"
            "直接使用的权重，不经过任何层。reportgen 依据层的配置和形状推导参数量，而这些权重"
            "两者都没有，因此无法推导。把它们列在这里，是为了让参数内存和训练内存估计把它们"
            "算进去。",
        ),
    )


def own_weights_activation() -> Derivation:
    return Derivation(
        None,
        "unknown",
        Text(
            "This row is not a layer: the model's own code in call() uses these weights, and "
            "what that code outputs belongs to no layer, so no output memory is counted here.",
            "这一行不是层：这些权重由模型 call() 中自己的代码使用，这些代码的输出不属于任何层，"
            "因此这里不计输出内存。",
        ),
    )


def own_weights_flops() -> Derivation:
    return Derivation(
        None,
        "unknown",
        Text(
            "The model's own code in call() is not a layer, so reportgen has no formula for "
            "its FLOPs; TensorFlow's profiler counts them in its total for the model.",
            "模型 call() 中自己的代码不是层，reportgen 没有计算其浮点运算量的公式；"
            "TensorFlow 的性能分析器会把它们计入整个模型的总数。",
        ),
    )


@dataclass(frozen=True)
class UnknownTotal:
    """Why the derived parameter total is unknown: for the page, and for one warning line."""

    reason: Text
    """Sentences for the page, in each language, ending with what the page shows instead."""
    detail: str
    """The same in a few English words, for the one-line warning (``Mismatch.detail``)."""


def _names(layers: list[LayerReport], sep: str) -> str:
    shown = sep.join(layer.name for layer in layers[:MAX_NAMES])
    return shown if len(layers) <= MAX_NAMES else shown + sep + "…"


def _zh_after(prefix: str, text: str) -> str:
    """``prefix`` then ``text``, with the space Chinese text takes before Latin text."""
    return f"{prefix} {text}" if text[:1].isascii() else f"{prefix}{text}"


def unknown_total(
    facts: tuple[LayerFacts, ...],
    layers: tuple[LayerReport, ...],
    keras_params: int,
    reference: Text,
) -> UnknownTotal | None:
    """Why the derived parameter total is unknown, or None when every count is derived.

    ``facts`` and ``layers`` are the same rows, collected and derived.
    """
    own = [
        (fact, layer)
        for fact, layer in zip(facts, layers, strict=True)
        if is_own_weights(fact) and layer.params.value is None
    ]
    real = [layer for fact, layer in zip(facts, layers, strict=True) if not is_own_weights(fact)]
    underived = [layer for layer in real if layer.params.value is None]
    if not own and not underived:
        return None
    en: list[str] = []
    zh: list[str] = []
    details: list[str] = []
    total = fmt_int(keras_params)
    for fact, layer in own:
        n = fmt_int(fact.keras_params)
        cls = fact.class_name
        if fact.keras_params == keras_params:
            share_en, share_zh = f"all {total} of its parameters are", f"全部 {total} 个参数都"
            details.append(f"all {total} parameters are weights of the subclassed model {cls}")
        else:
            share_en = f"{n} of its {total} parameters are"
            share_zh = f"{total} 个参数中有 {n} 个"
            details.append(f"{n} parameters are weights of the subclassed model {cls}")
        details[-1] += " itself, not of a layer"
        en.append(
            f"{cls} is a subclassed keras.Model, and {share_en} weights it creates itself and "
            "uses in the code of its own call() instead of through a layer. They are listed "
            f"together in the row {layer.name}; with no layer configuration to derive them "
            "from, they cannot be derived."
        )
        zh.append(
            f"{cls} 是继承 keras.Model 编写的子类模型，{share_zh}是它自己创建、并在自己的 "
            f"call() 代码中直接使用的权重，不经过任何层。它们合并列在 {layer.name} 这一行；"
            "没有层配置可供推导，因此无法推导。"
        )
    if underived:
        k, m = len(underived), len(real)
        layers_en = "layer cannot" if k == 1 else "layers cannot"
        en.append(
            f"{k} of the {m} layers cannot be derived ({_names(underived, ', ')}); the "
            "derivation of each says why."
            if m > 1
            else f"The only layer, {underived[0].name}, cannot be derived; its derivation says why."
        )
        zh.append(
            f"{m} 个层中有 {k} 个无法推导（{_names(underived, '、')}），原因见各层的推导说明。"
            if m > 1
            else f"唯一的层 {underived[0].name} 无法推导，原因见它的推导说明。"
        )
        details.append(f"{k} {layers_en} be derived ({_names(underived, ', ')})")
    en.append(
        "What cannot be derived is not counted as zero: the derived total is unknown, and "
        f"the total shown is the one from {reference.en}."
    )
    shown_zh = _zh_after("这里显示的总数取自", reference.zh)
    zh.append(f"无法推导的部分不会按 0 计入：推导总数未知，{shown_zh}。")
    return UnknownTotal(Text(" ".join(en), "".join(zh)), "; ".join(details))
