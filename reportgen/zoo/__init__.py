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
)


def builtin_config() -> Config:
    return Config(models=BUILTIN_MODELS, path=None)
