"""The collect worker: one model, one process. Run as ``python -m reportgen.collect.worker``.

It reads a request (JSON: the model spec, whether to profile, and ``unsafe_load``: whether
a Keras file may run code while it loads, set by ``--unsafe-load``) and writes
``<out>/facts.json``. A model-specific failure is written to ``<out>/error.txt`` as one
line and the process exits with status 3, so the parent can tell it apart from a crash.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reportgen.collect.log import PHASE_LOGGER, CollectFailure, one_line, phase
from reportgen.facts import CollectNote

EXIT_MODEL_FAILED = 3


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def collect_into(request: dict[str, Any], out: Path) -> None:
    """Facts, then the runtime's measurements; a failed measurement is a note, not a failure.

    The source decides the route: a Keras model (from a factory or a .keras/.h5 file) is
    described layer by layer as Keras sees it; a graph without Keras (a factory returning a
    ``tf.Module``/``tf.function``, or a frozen .pb) is described scope by scope
    (:mod:`reportgen.collect.graph_facts`). ``request["unsafe_load"]`` (``--unsafe-load``)
    lets a Keras file run code while loading; nothing else does.
    """
    from reportgen.config import ModelSpec

    spec = ModelSpec.from_dict(request["spec"])
    profile = bool(request.get("profile", True))
    if spec.kind == "factory":
        from reportgen.collect.source import call_factory, load_factory

        with phase("load source"):
            factory = load_factory(spec.source)  # a wrong source fails before TF loads
        with phase("import TensorFlow and Keras"):
            import keras
        with phase("build model"):
            built = call_factory(spec.source, factory)

        if isinstance(built, keras.Model):
            _collect_keras(built, spec, out, profile)
            return
        from reportgen.collect.graph_facts import graph_model_from_object

        _collect_graph(graph_model_from_object(built, spec.source), spec, out, profile)
        return
    path = Path(spec.source_path or spec.source)
    if spec.kind == "keras_file":
        from reportgen.collect.source import load_keras_file

        unsafe = bool(request.get("unsafe_load", False))
        with phase("load model file"):
            model = load_keras_file(path, spec.source, unsafe)
        _collect_keras(model, spec, out, profile)
        return
    from reportgen.collect.source import check_model_file

    check_model_file(path, spec.source)
    from reportgen.collect.graph_facts import load_frozen_graph

    with phase("load graph"):
        graph = load_frozen_graph(
            path, spec.source, spec.inputs or (), spec.outputs or (), spec.input_shape
        )
    _collect_graph(graph, spec, out, profile)


def _collect_keras(model: Any, spec: Any, out: Path, profile: bool) -> None:
    """Facts, then one trace of the forward pass, measured (graph_run) and profiled."""
    from reportgen.collect.graph_run import (
        TracedForward,
        TraceFailure,
        measure_graph,
        trace_model_forward,
    )
    from reportgen.collect.keras_facts import (
        configured_model,
        ensure_built,
        input_vocabularies,
        model_facts,
        row_names,
    )
    from reportgen.collect.profiler import ProfileError, profile_forward

    with phase("keras facts"):
        # A subclassed model comes back as the view of it that one symbolic call gave.
        model = ensure_built(model, spec.slug, spec.input_shape)
        # With sequence_length / input_shapes, the model is measured on fixed inputs.
        open_model = None
        configured = configured_model(model, spec)
        if configured is not None:
            open_model, model = model, configured
        facts = model_facts(model, spec, open_model)
    traced: TracedForward | None = None
    unprofiled = "the forward pass was not traced"

    def measure() -> Any:
        nonlocal traced, unprofiled
        try:
            traced = trace_model_forward(
                model, spec.batch_size, row_names(model), input_vocabularies(model)
            )
        except TraceFailure as exc:
            unprofiled = exc.unprofiled
            raise
        return measure_graph(model, spec.batch_size, traced)

    def run_profiler() -> Any:
        if traced is None:  # the trace failed: the profiler says why in its own words
            raise ProfileError(unprofiled)
        return profile_forward(traced.function, traced.sample_inputs(), out, traced.index)

    _write_facts(facts, measure, run_profiler if profile else None, out)


def _collect_graph(model: Any, spec: Any, out: Path, profile: bool) -> None:
    from reportgen.collect.graph_facts import graph_layout, graph_model_facts
    from reportgen.collect.graph_run import measure_graph_model
    from reportgen.collect.graphdef import graph_forward, sample_inputs
    from reportgen.collect.profiler import profile_forward

    with phase("graph layout"):
        layout = graph_layout(model)
        facts = graph_model_facts(model, layout, spec)

    def run_profiler() -> Any:
        inputs = sample_inputs(model, spec.batch_size)
        forward = graph_forward(model)
        return profile_forward(forward, inputs, out, layout.index)

    _write_facts(
        facts,
        lambda: measure_graph_model(model, layout.index, spec.batch_size),
        run_profiler if profile else None,
        out,
    )


def _write_facts(
    facts: Any,
    measure: Callable[[], tuple[Any, Any]],
    run_profiler: Callable[[], Any] | None,
    out: Path,
) -> None:
    """Add the runtime's measurements to the facts (each failure a note) and write them."""
    notes: list[CollectNote] = []
    memory = flops = profile = None
    try:
        with phase("graph run (memory, FLOPs)"):
            memory, flops = measure()
    except Exception as exc:  # the report says what could not be measured, and why
        notes.append(CollectNote("memory_not_measured", {"error": one_line(exc)}))
    else:
        notes.extend(_loop_notes(memory))
    if run_profiler is not None:
        try:
            with phase("profile (time per layer)"):
                profile = run_profiler()
        except Exception as exc:
            notes.append(CollectNote("profiler_failed", {"error": one_line(exc)}))
    facts = dataclasses.replace(
        facts, memory=memory, flops=flops, profile=profile, notes=(*facts.notes, *notes)
    )
    with phase("write facts.json"):
        (out / "facts.json").write_text(facts.to_json(), encoding="utf-8")


LOOP_OPS = frozenset({"While", "StatelessWhile", "LoopCond"})
"""A loop in the graph, or (once lowered for running) the condition op of its frame."""


def _loop_notes(memory: Any) -> list[CollectNote]:
    """Layers that ran a While loop: TensorFlow's FLOPs profiler does not count its body."""
    layers = sorted({op.layer for op in memory.ops if op.op_type in LOOP_OPS and op.layer})
    return [CollectNote("loop_flops", {"layers": layers})] if layers else []


def _log_phases() -> None:
    """One line per phase (wall and CPU seconds) on stderr, which is the worker's log."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("reportgen: %(message)s"))
    logger = logging.getLogger(PHASE_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m reportgen.collect.worker REQUEST.json OUT_DIR", file=sys.stderr)
        return 2
    _quiet_tensorflow()
    _log_phases()
    request = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    out = Path(args[1])
    out.mkdir(parents=True, exist_ok=True)
    try:
        with phase("total"):
            collect_into(request, out)
    except CollectFailure as exc:
        (out / "error.txt").write_text(str(exc), encoding="utf-8")
        return EXIT_MODEL_FAILED
    except Exception as exc:
        (out / "error.txt").write_text(one_line(exc, typed=True), encoding="utf-8")
        traceback.print_exc()
        return EXIT_MODEL_FAILED
    return 0


def _exit(status: int) -> None:
    """Exit without the final garbage collection of every TensorFlow object.

    The work is written by now; the interpreter's teardown would still spend about a
    second per worker walking TensorFlow's objects to free memory the OS frees anyway.
    Frozen objects are left alone; everything else (atexit, flushing) runs as usual.
    """
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    _exit(main())
