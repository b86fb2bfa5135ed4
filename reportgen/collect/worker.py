"""The collect worker: one model, one process. Run as ``python -m reportgen.collect.worker``,
or forked as if so by :mod:`reportgen.collect.forkserver` (TensorFlow imported once).

It reads a request (JSON: the model spec, whether to profile, and ``unsafe_load``: whether
a Keras file may run code while it loads, set by ``--unsafe-load``) and writes
``<out>/facts.json``. A model-specific failure is written to ``<out>/error.txt`` as one
line and the process exits with status 3, so the parent can tell it apart from a crash.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import gc
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reportgen.collect.log import PHASE_LOGGER, CollectFailure, one_line, phase
from reportgen.facts import CollectNote, ModelFacts

EXIT_MODEL_FAILED = 3


def quiet_tensorflow() -> None:
    """TensorFlow's C++ logging down to warnings, and Keras on TensorFlow, unless set."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def collect_into(request: dict[str, Any], out: Path) -> None:
    """Facts, then the runtime's measurements; a failed measurement is a note, not a failure.

    ``request["unsafe_load"]`` (``--unsafe-load``) lets a Keras file run code while
    loading; nothing else does.
    """
    from reportgen.config import ModelSpec

    spec = ModelSpec.from_dict(request["spec"])
    built = load_source(spec, unsafe=bool(request.get("unsafe_load", False)))
    facts = collect_object(built, spec, out, profile=bool(request.get("profile", True)))
    with phase("write facts.json"):
        (out / "facts.json").write_text(facts.to_json(), encoding="utf-8")


def load_source(spec: Any, unsafe: bool = False) -> Any:
    """The model the spec's ``source`` names: what its factory returns, a loaded Keras file,
    or a frozen graph (:class:`reportgen.collect.graphdef.GraphModel`).

    A wrong source fails before TensorFlow loads wherever it can.
    """
    if spec.kind == "factory":
        from reportgen.collect.source import call_factory, load_factory

        with phase("load source"):
            factory = load_factory(spec.source)  # a wrong source fails before TF loads
        with phase("import TensorFlow and Keras"):
            import keras  # noqa: F401  (timed here, not inside the factory)
        with phase("build model"):
            return call_factory(spec.source, factory)
    path = Path(spec.source_path or spec.source)
    if spec.kind == "keras_file":
        from reportgen.collect.source import load_keras_file

        with phase("load model file"):
            return load_keras_file(path, spec.source, unsafe)
    from reportgen.collect.source import check_model_file

    check_model_file(path, spec.source)
    from reportgen.collect.graph_facts import load_frozen_graph

    with phase("load graph"):
        return load_frozen_graph(
            path, spec.source, spec.inputs or (), spec.outputs or (), spec.input_shape
        )


def collect_object(
    built: Any, spec: Any, out: Path | None, *, measure: bool = True, profile: bool = True
) -> ModelFacts:
    """The facts of a model object, measured by the runtime when ``measure`` is set.

    The object decides the route: a Keras model is described layer by layer as Keras sees
    it; a graph without Keras (a ``tf.Module``/``tf.function``, or a frozen graph already
    loaded) is described scope by scope (:mod:`reportgen.collect.graph_facts`). Without
    ``measure`` nothing is traced or run beyond what Keras does to infer shapes. The
    profiler (``profile``, only with ``measure``) writes its trace under ``out``.
    Raises :class:`CollectFailure` (one line) for a model that cannot be described.
    """
    import keras

    from reportgen.collect.graphdef import GraphModel

    if profile and (out is None or not measure):
        raise ValueError("the profiler needs measure=True and a folder for its trace")
    with keras_state_kept():
        if isinstance(built, keras.Model):
            facts, model = keras_facts(built, spec)
            return measure_keras(model, spec, facts, out, profile) if measure else facts
        if not isinstance(built, GraphModel):
            from reportgen.collect.graph_facts import graph_model_from_object

            built = graph_model_from_object(built, spec.source)
        return _collect_graph(built, spec, out, measure, profile)


@contextlib.contextmanager
def keras_state_kept() -> Iterator[None]:
    """Keras's global state (the counters behind automatic layer names, the name-scope
    stack) as it was before, whatever ran inside.

    Describing a model with configured input shapes builds a second functional view of it,
    and tracing calls it: in the worker that costs nothing, but in a notebook
    (:func:`reportgen.explain`) the user's next ``Dense()`` would otherwise be named
    ``dense_3`` instead of ``dense_2``.
    """
    from keras.src.backend.common import global_state

    tracker = global_state.GLOBAL_STATE_TRACKER
    before = {name: copy.copy(value) for name, value in vars(tracker).items()}
    try:
        yield
    finally:
        for name in list(vars(tracker)):
            if name not in before:
                delattr(tracker, name)
        for name, value in before.items():
            setattr(tracker, name, value)


def is_model_object(obj: Any) -> bool:
    """Whether :func:`collect_object` can describe ``obj``: a Keras model, a ``tf.Module``,
    a ``tf.function`` or concrete function, or a loaded graph."""
    if not {"tensorflow", "keras"} & set(sys.modules):
        return False  # no model exists before TensorFlow is loaded: do not load it to say no
    import keras
    import tensorflow as tf

    from reportgen.collect.graphdef import GraphModel

    kinds = (
        keras.Model,
        tf.Module,
        GraphModel,
        tf.types.experimental.ConcreteFunction,
        tf.types.experimental.PolymorphicFunction,
    )
    return isinstance(obj, kinds)


def keras_facts(model: Any, spec: Any) -> tuple[ModelFacts, Any]:
    """The facts Keras knows (no graph trace, no run), and the model to measure.

    A subclassed model comes back as the view of it that one symbolic call gave; with
    ``sequence_length`` / ``input_shapes`` it is the view with fixed input shapes.
    """
    from reportgen.collect.keras_facts import configured_model, ensure_built, model_facts

    with phase("keras facts"):
        model = ensure_built(model, spec.slug, spec.input_shape)
        open_model = None
        configured = configured_model(model, spec)
        if configured is not None:
            open_model, model = model, configured
        return model_facts(model, spec, open_model), model


def measure_keras(
    model: Any, spec: Any, facts: ModelFacts, out: Path | None, profile: bool
) -> ModelFacts:
    """The facts with one trace of the forward pass, measured (graph_run) and profiled."""
    from reportgen.collect.graph_run import (
        TracedForward,
        TraceFailure,
        measure_graph,
        trace_model_forward,
    )
    from reportgen.collect.keras_facts import input_vocabularies, row_names
    from reportgen.collect.profiler import ProfileError, profile_forward
    from reportgen.collect.tensorboard import TracedRun

    traced: TracedForward | None = None
    run = TracedRun(spec.slug)  # the graph run, kept for TensorBoard when profiling
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
        return measure_graph(model, spec.batch_size, traced, run.keep if profile else None)

    def run_profiler() -> Any:
        if traced is None:  # the trace failed: the profiler says why in its own words
            raise ProfileError(unprofiled)
        assert out is not None  # collect_object checked it
        measured = profile_forward(traced.function, traced.sample_inputs(), out, traced.index)
        return run.publish(measured, out)

    return with_measurements(facts, measure, run_profiler if profile else None)


def _collect_graph(
    model: Any, spec: Any, out: Path | None, measure: bool, profile: bool
) -> ModelFacts:
    from reportgen.collect.graph_facts import graph_layout, graph_model_facts
    from reportgen.collect.graph_run import measure_graph_model
    from reportgen.collect.graphdef import graph_forward, sample_inputs
    from reportgen.collect.profiler import profile_forward
    from reportgen.collect.tensorboard import TracedRun

    run = TracedRun(spec.slug)
    with phase("graph layout"):
        layout = graph_layout(model)
        facts = graph_model_facts(model, layout, spec)
    if not measure:
        return facts

    def run_profiler() -> Any:
        assert out is not None  # collect_object checked it
        inputs = sample_inputs(model, spec.batch_size)
        forward = graph_forward(model)
        return run.publish(profile_forward(forward, inputs, out, layout.index), out)

    return with_measurements(
        facts,
        lambda: measure_graph_model(
            model, layout.index, spec.batch_size, run.keep if profile else None
        ),
        run_profiler if profile else None,
    )


def with_measurements(
    facts: ModelFacts,
    measure: Callable[[], tuple[Any, Any]],
    run_profiler: Callable[[], Any] | None,
) -> ModelFacts:
    """The facts with the runtime's measurements added; each failure is a note."""
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
    return dataclasses.replace(
        facts, memory=memory, flops=flops, profile=profile, notes=(*facts.notes, *notes)
    )


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
    quiet_tensorflow()
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


def exit_forked(status: int) -> None:
    """:func:`_exit` for a worker forked by :mod:`reportgen.collect.forkserver`: the exit
    handlers run and the output is flushed, then the process ends at once. Unwinding
    would run the server's code below this child's frames."""
    import atexit

    gc.freeze()
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(status)


if __name__ == "__main__":
    _exit(main())
