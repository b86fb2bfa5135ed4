"""The built-in reference models, built when no configuration is given."""

from __future__ import annotations

from pathlib import Path

from reportgen.config import Config, ModelSpec

ARTICLES = Path(__file__).parent / "articles"


def _builtin(slug: str, source: str, title_en: str, title_zh: str) -> ModelSpec:
    return ModelSpec(
        slug=slug,
        source=source,
        title_en=title_en,
        title_zh=title_zh,
        article_en=str(ARTICLES / f"{slug}.en.md"),
        article_zh=str(ARTICLES / f"{slug}.zh.md"),
        builtin=True,
    )


BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    _builtin(
        "lenet",
        "reportgen.zoo.lenet:build_lenet",
        "LeNet for MNIST (Keras)",
        "MNIST 手写数字识别 LeNet（Keras 版）",
    ),
    _builtin(
        "lenet-tf",
        "reportgen.zoo.lenet_tf:build_lenet_tf",
        "LeNet for MNIST (raw TensorFlow, no Keras)",
        "MNIST 手写数字识别 LeNet（纯 TensorFlow 版，不用 Keras）",
    ),
    _builtin(
        "mobilenet-v2",
        "reportgen.zoo.applications:build_mobilenet_v2",
        "MobileNetV2 (ImageNet, 224×224)",
        "MobileNetV2（ImageNet，224×224）",
    ),
    _builtin(
        "resnet50",
        "reportgen.zoo.applications:build_resnet50",
        "ResNet50 (ImageNet, 224×224)",
        "ResNet50（ImageNet，224×224）",
    ),
    _builtin(
        "text-classifier",
        "reportgen.zoo.text:build_text_classifier",
        "Text classifier: Embedding + bidirectional LSTM",
        "文本分类：词嵌入 + 双向 LSTM",
    ),
    _builtin(
        "transformer",
        "reportgen.zoo.text:build_transformer",
        "Small Transformer encoder for text classification",
        "用于文本分类的小型 Transformer 编码器",
    ),
)


def builtin_config() -> Config:
    return Config(models=BUILTIN_MODELS, path=None)
