"""Hand-made collected facts (no TensorFlow): the LeNet of DESIGN.md, layer by layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reportgen.facts import LayerFacts, ModelFacts, Shape, WeightFacts


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


def lenet_facts(
    batch_size: int = 1,
    layers: tuple[LayerFacts, ...] | None = None,
    slug: str = "lenet",
    title_en: str = "LeNet",
    title_zh: str = "LeNet 网络",
    **overrides: Any,
) -> ModelFacts:
    layers = lenet_layers() if layers is None else layers
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
