"""Derived parameters (and FLOPs) against Keras and TensorFlow for every keras.applications model.

For each model class in the installed ``keras.applications`` (built with ``weights=None``,
one at a time, freed before the next), collect the facts in-process, derive, and count the
layers whose derived parameters equal ``count_params()`` and the layers that fell back to
the generic Σ-of-weights count. Where it is cheap enough (``--flops-max-params``), also
compare the derived FLOPs total with TensorFlow's profiler count of the same forward pass
(``reportgen.collect.graph_run.measure_graph``). Prints a Markdown table; exits non-zero
when any layer disagrees with Keras.

    nice python benchmarks/sweep_applications.py                   # every model
    python benchmarks/sweep_applications.py --models ResNet50,MobileNetV2 --flops-max-params 0
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


FIXED_INPUT = (224, 224, 3)
"""The input shape given to a model whose default input shape has unknown dimensions."""


@dataclass
class Row:
    model: str
    layers: int = 0
    params: int = 0
    agreeing: int = 0
    generic: int = 0
    generic_kinds: str = ""
    flops_derived: int | None = None
    flops_profiler: int | None = None
    flops_unknown: str = ""
    seconds: float = 0.0
    error: str = ""

    @property
    def flops_difference(self) -> str:
        if self.flops_derived is None or not self.flops_profiler:
            return "—"
        return f"{(self.flops_derived - self.flops_profiler) / self.flops_profiler:+.2%}"


def model_names() -> list[str]:
    import keras

    return sorted(
        name
        for name in dir(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
    )


def sweep_one(name: str, flops_max_params: int) -> Row:
    import keras

    from reportgen.collect.graph_run import measure_graph
    from reportgen.collect.keras_facts import model_facts
    from reportgen.derive import derive_model

    row = Row(name)
    start = time.perf_counter()
    model: Any = None
    try:
        build = getattr(keras.applications, name)
        model = build(weights=None)
        if any(d is None for d in model.inputs[0].shape[1:]):
            # MobileNetV3 leaves the image size open by default; FLOPs and memory need one.
            del model
            model = build(weights=None, input_shape=FIXED_INPUT)
            row.model += " (224×224×3)"
        spec = SimpleNamespace(
            slug="sweep", title_en=name, title_zh=name, source=name, batch_size=1
        )
        facts = model_facts(model, spec)
        report = derive_model(facts)
        row.layers = len(report.layers)
        row.params = facts.keras_params
        row.agreeing = sum(1 for layer in report.layers if layer.params_match)
        generic = [layer for layer in report.layers if layer.params.method == "generic"]
        row.generic = len(generic)
        row.generic_kinds = ", ".join(sorted({layer.class_name for layer in generic}))
        if report.totals.params != facts.keras_params:
            row.error = f"total {report.totals.params} != count_params {facts.keras_params}"
        if flops_max_params < 0 or facts.keras_params <= flops_max_params:
            row.flops_derived = report.totals.flops
            row.flops_unknown = ", ".join(
                sorted({layer.class_name for layer in report.layers if layer.flops.value is None})
                if all(layer.flops is not None for layer in report.layers)
                else ()
            )
            row.flops_profiler = measure_graph(model, 1)[1].total
    except Exception as exc:  # one model's failure is a row, not the end of the sweep
        row.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    finally:
        del model
        keras.backend.clear_session()
        gc.collect()
    row.seconds = time.perf_counter() - start
    return row


def table(rows: list[Row]) -> str:
    lines = [
        "| model | layers | params | agreeing layers | generic layers | FLOPs derived "
        "| FLOPs profiler | difference | time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        derived = f"{r.flops_derived:,}" if r.flops_derived is not None else "—"
        profiler = f"{r.flops_profiler:,}" if r.flops_profiler is not None else "—"
        generic = f"{r.generic} ({r.generic_kinds})" if r.generic else "0"
        name = r.model + (f" — **{r.error}**" if r.error else "")
        lines.append(
            f"| {name} | {r.layers} | {r.params:,} | {r.agreeing}/{r.layers} | {generic} "
            f"| {derived} | {profiler} | {r.flops_difference} | {r.seconds:.0f} s |"
        )
    layers = sum(r.layers for r in rows)
    agreeing = sum(r.agreeing for r in rows)
    lines.append(
        f"| **all {len(rows)} models** | {layers} | | {agreeing}/{layers} "
        f"({agreeing / max(layers, 1):.2%}) | {sum(r.generic for r in rows)} | | | | |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", help="comma-separated class names (default: all)")
    parser.add_argument(
        "--flops-max-params",
        type=int,
        default=30_000_000,
        help="compare FLOPs with the profiler only up to this many parameters "
        "(-1: always, 0: never; default 30,000,000)",
    )
    args = parser.parse_args(argv)
    names = args.models.split(",") if args.models else model_names()
    rows = []
    for name in names:
        row = sweep_one(name, args.flops_max_params)
        print(
            f"{row.model}: {row.agreeing}/{row.layers} agree, {row.generic} generic, "
            f"FLOPs {row.flops_difference}, {row.seconds:.0f} s {row.error}",
            file=sys.stderr,
            flush=True,
        )
        if row.flops_unknown:
            print(f"  FLOPs not derived for: {row.flops_unknown}", file=sys.stderr, flush=True)
        rows.append(row)
    print(table(rows))
    failed = [r for r in rows if r.error or r.agreeing != r.layers]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
