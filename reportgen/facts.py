"""Collected facts: what the collect stage learned about one model, as plain data.

This is the contract between the TensorFlow-facing collect stage and the pure-Python
derive stage. It is written to ``<slug>.facts.json`` so that collection and rendering
can run on different machines.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reportgen.errors import ReportgenError

FACTS_VERSION = 1
"""Version of the collected-facts format. 1: layers, weights, shapes, Keras counts."""

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class WeightFacts:
    name: str
    shape: tuple[int, ...]
    dtype: str
    trainable: bool


@dataclass(frozen=True)
class LayerFacts:
    name: str
    class_name: str
    config: dict[str, Any]
    input_shapes: tuple[Shape, ...]
    output_shapes: tuple[Shape, ...]
    compute_dtype: str
    variable_dtype: str
    weights: tuple[WeightFacts, ...]
    keras_params: int


@dataclass(frozen=True)
class ModelFacts:
    slug: str
    title: dict[str, str]
    source: str
    batch_size: int
    framework: dict[str, str]
    keras_params: int
    keras_trainable_params: int
    keras_non_trainable_params: int
    layers: tuple[LayerFacts, ...]
    facts_version: int = FACTS_VERSION
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelFacts:
        version = data.get("facts_version")
        if version != FACTS_VERSION:
            raise ReportgenError(
                f"collected facts have format version {version!r}, this reportgen reads "
                f"{FACTS_VERSION}; collect them again with this version"
            )
        layers = tuple(_layer_from_dict(item) for item in data["layers"])
        return cls(
            slug=data["slug"],
            title=dict(data["title"]),
            source=data["source"],
            batch_size=int(data["batch_size"]),
            framework=dict(data["framework"]),
            keras_params=int(data["keras_params"]),
            keras_trainable_params=int(data["keras_trainable_params"]),
            keras_non_trainable_params=int(data["keras_non_trainable_params"]),
            layers=layers,
            facts_version=version,
            notes=tuple(data.get("notes", ())),
        )


def _shape(value: Any) -> Shape:
    return tuple(None if d is None else int(d) for d in value)


def _layer_from_dict(data: dict[str, Any]) -> LayerFacts:
    return LayerFacts(
        name=data["name"],
        class_name=data["class_name"],
        config=dict(data["config"]),
        input_shapes=tuple(_shape(s) for s in data["input_shapes"]),
        output_shapes=tuple(_shape(s) for s in data["output_shapes"]),
        compute_dtype=data["compute_dtype"],
        variable_dtype=data["variable_dtype"],
        weights=tuple(
            WeightFacts(
                name=w["name"],
                shape=tuple(int(d) for d in w["shape"]),
                dtype=w["dtype"],
                trainable=bool(w["trainable"]),
            )
            for w in data["weights"]
        ),
        keras_params=int(data["keras_params"]),
    )


def read_facts(path: Path) -> ModelFacts:
    """Read one ``<slug>.facts.json``; a damaged file is a user error, not a traceback."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ModelFacts.from_dict(data)
    except ReportgenError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReportgenError(f"{path}: not a readable collected-facts file ({exc})") from exc
