"""The collect worker: one model, one process. Run as ``python -m reportgen.collect.worker``.

It reads a request (JSON: the model spec, and whether to profile) and writes
``<out>/facts.json``. A model-specific failure is written to ``<out>/error.txt`` as one
line and the process exits with status 3, so the parent can tell it apart from a crash.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

EXIT_MODEL_FAILED = 3


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def collect_into(request: dict[str, Any], out: Path) -> None:
    """Facts, then the runtime's measurements; a failed measurement is a note, not a failure."""
    from reportgen.collect.source import build_model, load_factory
    from reportgen.config import ModelSpec

    spec = ModelSpec.from_dict(request["spec"])
    factory = load_factory(spec.source)  # a wrong source fails before TensorFlow loads
    from reportgen.collect.keras_facts import ensure_built, model_facts

    model = build_model(spec.source, factory)
    ensure_built(model, spec.slug, spec.input_shape)
    facts = model_facts(model, spec)
    notes: list[str] = []
    memory = flops = profile = None
    try:
        from reportgen.collect.graph_run import measure_graph

        memory, flops = measure_graph(model, spec.batch_size)
    except Exception as exc:  # the report says what could not be measured, and why
        notes.append(f"runtime memory and FLOPs were not measured: {_one_line(exc)}")
    if request.get("profile", True):
        try:
            from reportgen.collect.profiler import profile_model

            profile = profile_model(model, spec.batch_size, out)
        except Exception as exc:
            notes.append(f"the profiler did not run: {_one_line(exc)}")
    facts = dataclasses.replace(
        facts, memory=memory, flops=flops, profile=profile, notes=tuple(notes)
    )
    (out / "facts.json").write_text(facts.to_json(), encoding="utf-8")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m reportgen.collect.worker REQUEST.json OUT_DIR", file=sys.stderr)
        return 2
    _quiet_tensorflow()
    from reportgen.collect.source import CollectFailure

    request = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    out = Path(args[1])
    out.mkdir(parents=True, exist_ok=True)
    try:
        collect_into(request, out)
    except CollectFailure as exc:
        (out / "error.txt").write_text(str(exc), encoding="utf-8")
        return EXIT_MODEL_FAILED
    except Exception as exc:
        (out / "error.txt").write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
        traceback.print_exc()
        return EXIT_MODEL_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
