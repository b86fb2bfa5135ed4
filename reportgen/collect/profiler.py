"""Per-op and per-layer time of a model's forward pass, from the TensorFlow profiler.

``profile_forward`` runs a few inference passes of a graph function under
``tf.profiler.experimental``, keeps the raw profile (``profile/plugins/profile/<run>/
<host>.xplane.pb``), converts it to a Chrome trace with xprof's converter (no server), and
reads each TF op's time in each profiled step back out of that trace. The function is the
one graph_run already traced for a Keras model (one trace per model,
:class:`reportgen.collect.graph_run.TracedForward`), or a model without Keras (a
``tf.function``, a frozen graph imported as a function,
:func:`reportgen.collect.graphdef.graph_forward`); an
:class:`~reportgen.collect.opindex.OpIndex` names each op's layer. How many passes run
depends on what the first one cost (:func:`plan_passes`).

Everything after the profiler run is pure Python over the trace JSON, so the per-step
bookkeeping is testable without TensorFlow.

What the trace looks like (TF 2.21, Keras 3.15, xprof 2.24, CPU):

* one process ``/host:CPU``; the ``step N`` TraceMe events (``args.step_num``) on the
  Python thread; the executor's op events on ``tf_Compute``/Eigen threads, named by op
  type with ``args.long_name = "lenet_1/conv1_1/Relu:_MklNativeFusedConv2D"``;
* every event of a step carries the step's ``args.group_id`` (xprof's step grouping);
* on a GPU, kernels are on ``/device:GPU:N`` processes, ``Stream #…`` threads, and name
  their TF op in ``args.tf_op`` (same ``name:type`` form).

Op names carry the layer's name scope as the graph made it unique (``conv1_1`` for layer
``conv1``, :mod:`reportgen.collect.opindex`).
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reportgen.collect.log import PHASE_LOGGER, CollectFailure, one_line, phase
from reportgen.collect.opindex import OpIndex
from reportgen.facts import OpTime, ProfileMeasurement

PROFILE_DIR = "profile"
"""Raw profiler output, relative to the model's collected directory."""
TRACE_FILE = "trace.json.gz"
"""Chrome-trace JSON (gzip), relative to the same."""

STEP_NAME = "step"
DEFAULT_WARMUP = 2
"""Forward passes before the profiled ones: the first call builds the function's kernels."""
DEFAULT_STEPS = 5
"""Profiled forward passes; each layer's time is the median over them."""
SLOW_PASS_SECONDS = 0.5
"""A model whose first pass takes this long gets SLOW_WARMUP and SLOW_STEPS passes."""
SLOW_WARMUP = 1
SLOW_STEPS = 3
"""Never fewer: the median of three passes still sets one outlier aside."""
STEADY_PASS_SECONDS = 0.1
"""A model whose second (warm) pass takes this long also gets SLOW_STEPS profiled passes."""
TRACE_TOOL = "trace_viewer"
"""xprof tool giving plain Catapult JSON (``trace_viewer@`` is the streaming UI's format)."""


class ProfileError(CollectFailure):
    """Profiling failed; the message is one line naming the cause."""


_phase_log = logging.getLogger(PHASE_LOGGER)


# ---------------------------------------------------------------------------------------
# Chrome trace → per-step op times (pure Python)


@dataclass(frozen=True)
class _Step:
    num: int
    start_us: float
    dur_us: float
    group: str | None


@dataclass(frozen=True)
class _OpEvent:
    op: str
    op_type: str
    start_us: float
    self_us: float
    group: str | None
    on_device: bool


def split_op_label(label: str) -> tuple[str, str]:
    """``"lenet_1/conv1_1/Relu:_MklNativeFusedConv2D"`` → (node name, op type)."""
    name, sep, op_type = label.partition(":")
    if not sep:
        # A label without a type: take the node's last name part as the best guess.
        return name, name.rsplit("/", 1)[-1]
    return name, op_type


def _metadata_names(events: Iterable[Mapping[str, Any]]) -> tuple[dict[Any, str], dict[Any, str]]:
    """Process names by pid and thread names by (pid, tid), from the ``M`` events."""
    processes: dict[Any, str] = {}
    threads: dict[Any, str] = {}
    for event in events:
        if event.get("ph") != "M":
            continue
        name = str(event.get("args", {}).get("name", ""))
        if event.get("name") == "process_name":
            processes[event.get("pid")] = name
        elif event.get("name") == "thread_name":
            threads[event.get("pid"), event.get("tid")] = name
    return processes, threads


def _is_device_process(name: str) -> bool:
    return "/device:" in name


def find_steps(events: Iterable[Mapping[str, Any]]) -> list[_Step]:
    """The ``step N`` TraceMe events that :func:`record_profile` emitted, by step number."""
    steps = []
    for event in events:
        args = event.get("args") or {}
        if event.get("ph") != "X" or "step_num" not in args:
            continue
        if not str(event.get("name", "")).startswith(STEP_NAME):
            continue
        steps.append(
            _Step(
                num=int(args["step_num"]),
                start_us=float(event["ts"]),
                dur_us=float(event.get("dur", 0.0)),
                group=args.get("group_id"),
            )
        )
    return sorted(steps, key=lambda s: s.num)


def _raw_op_events(
    events: Iterable[Mapping[str, Any]],
    processes: Mapping[Any, str],
    threads: Mapping[Any, str],
) -> dict[tuple[Any, Any], list[Mapping[str, Any]]]:
    """TF op events grouped by (pid, tid): executor ops on the host, kernels on a device."""
    by_thread: dict[tuple[Any, Any], list[Mapping[str, Any]]] = defaultdict(list)
    for event in events:
        if event.get("ph") != "X":
            continue
        args = event.get("args") or {}
        pid, tid = event.get("pid"), event.get("tid")
        if _is_device_process(processes.get(pid, "")):
            # Only the CUPTI stream lines: xprof's derived lines ("TensorFlow Ops", "XLA
            # Ops", ...) span the same kernels again and would count them twice.
            if "tf_op" in args and threads.get((pid, tid), "").startswith("Stream"):
                by_thread[pid, tid].append(event)
        elif ":" in str(args.get("long_name", "")):
            by_thread[pid, tid].append(event)
    return by_thread


def _self_times(thread_events: list[Mapping[str, Any]]) -> list[float]:
    """Each event's duration less its directly nested op events (e.g. a function-call op)."""
    # Outer events first at equal start, so a child never "contains" its parent.
    order = sorted(
        range(len(thread_events)),
        key=lambda i: (float(thread_events[i]["ts"]), -_dur(thread_events[i])),
    )
    self_us = [_dur(e) for e in thread_events]
    open_stack: list[int] = []
    for i in order:
        start = float(thread_events[i]["ts"])
        while open_stack and start >= _end(thread_events[open_stack[-1]]):
            open_stack.pop()
        if open_stack:
            self_us[open_stack[-1]] -= _dur(thread_events[i])
        open_stack.append(i)
    return [max(0.0, t) for t in self_us]


def _dur(event: Mapping[str, Any]) -> float:
    return float(event.get("dur", 0.0))


def _end(event: Mapping[str, Any]) -> float:
    return float(event["ts"]) + _dur(event)


def op_events(trace: Mapping[str, Any]) -> list[_OpEvent]:
    """Every TF op execution in the trace, with its self time."""
    events = [e for e in trace.get("traceEvents", []) if e]
    processes, threads = _metadata_names(events)
    found = []
    for (pid, _tid), thread_events in _raw_op_events(events, processes, threads).items():
        on_device = _is_device_process(processes.get(pid, ""))
        for event, self_us in zip(thread_events, _self_times(thread_events), strict=True):
            args = event.get("args") or {}
            op, op_type = split_op_label(str(args["tf_op"] if on_device else args["long_name"]))
            found.append(
                _OpEvent(
                    op=op,
                    op_type=op_type,
                    start_us=float(event["ts"]),
                    self_us=self_us,
                    group=args.get("group_id"),
                    on_device=on_device,
                )
            )
    return found


def step_of_event(event: _OpEvent, steps: list[_Step]) -> int | None:
    """Index into ``steps`` of the step an op ran in, or None (before or outside all steps).

    xprof's ``group_id`` is the step grouping (it follows GPU kernels to the step that
    launched them); without it, an op belongs to the step window it starts in. A window
    runs to the next step's start so that late device work still counts.
    """
    if event.group is not None:
        for index, step in enumerate(steps):
            if step.group == event.group:
                return index
    for index, step in enumerate(steps):
        window_end = steps[index + 1].start_us if index + 1 < len(steps) else float("inf")
        if step.start_us <= event.start_us < window_end:
            return index
    return None


def _device_ops(events: list[_OpEvent]) -> set[str]:
    return {e.op for e in events if e.on_device}


def _times_by_op(events: list[_OpEvent], steps: list[_Step]) -> dict[tuple[str, str], list[float]]:
    """Summed self time of each op in each step, ops in order of first execution.

    An op with kernels on a device is timed by its kernels: its host event is only the
    launch, and counting both would count the op twice.
    """
    on_device = _device_ops(events)
    times: dict[tuple[str, str], list[float]] = {}
    for event in sorted(events, key=lambda e: e.start_us):
        if event.op in on_device and not event.on_device:
            continue
        index = step_of_event(event, steps)
        if index is None:
            continue
        per_step = times.setdefault((event.op, event.op_type), [0.0] * len(steps))
        per_step[index] += event.self_us
    return times


def _host_op_types(events: list[_OpEvent]) -> dict[str, str]:
    """Op type as the executor names it (a kernel's ``tf_op`` may omit or differ in type)."""
    return {e.op: e.op_type for e in events if not e.on_device}


def measurement_from_trace(
    trace: Mapping[str, Any], steps: int, index: OpIndex, device: str | None = None
) -> ProfileMeasurement:
    """Per-op, per-layer and per-step times from a Chrome trace of ``steps`` steps.

    ``index`` names each op's layer. ``device`` names where the ops ran when the trace holds
    device kernels; without kernels it is ``"CPU"``.
    """
    found_steps = find_steps(trace.get("traceEvents", []))
    if len(found_steps) != steps:
        raise ProfileError(
            f"the profile holds {len(found_steps)} '{STEP_NAME}' markers, expected {steps}"
        )
    events = op_events(trace)
    host_types = _host_op_types(events)
    ops = tuple(
        OpTime(
            op=op,
            op_type=host_types.get(op, op_type),
            layer=index.layer_of(op),
            times_us=tuple(round(t, 3) for t in per_step),
        )
        for (op, op_type), per_step in _times_by_op(events, found_steps).items()
    )
    if not ops:
        raise ProfileError("the profile holds no TensorFlow op events")
    has_device_ops = any(e.on_device for e in events)
    return ProfileMeasurement(
        steps=steps,
        device=(device or "GPU") if has_device_ops else "CPU",
        ops=ops,
        layer_time_us=layer_medians(ops, steps, index.layer_names),
        step_time_us=round(statistics.median(s.dur_us for s in found_steps), 3),
        trace_file=None,
        profile_dir=None,
    )


def layer_medians(
    ops: Iterable[OpTime], steps: int, layer_order: Iterable[str]
) -> dict[str, float]:
    """Median over steps of each layer's summed op time; only layers that ran ops."""
    per_layer: dict[str, list[float]] = {}
    for op in ops:
        if op.layer is None:
            continue
        sums = per_layer.setdefault(op.layer, [0.0] * steps)
        for index, t in enumerate(op.times_us):
            sums[index] += t
    return {
        name: round(statistics.median(per_layer[name]), 3)
        for name in layer_order
        if name in per_layer
    }


# ---------------------------------------------------------------------------------------
# Chrome trace file


def convert_to_chrome_trace(xplane: Path) -> dict[str, Any]:
    """The profile as Chrome-trace JSON, by xprof's converter in this process (no server)."""
    direct = _chrome_trace_without_text(xplane)
    if direct is not None:
        return direct
    try:
        from xprof.convert import raw_to_tool_data
    except ImportError as exc:
        raise ProfileError(
            f"the xprof converter is not installed ({one_line(exc)}); "
            "pip install tensorboard-plugin-profile"
        ) from exc
    # use_saved_result=False: otherwise the converter caches its results as files next to
    # the .xplane.pb, which would land in the published profile directory.
    try:
        data, _content_type = raw_to_tool_data.xspace_to_tool_data(
            [str(xplane)], TRACE_TOOL, {"use_saved_result": False}
        )
    except Exception as exc:
        raise ProfileError(f"xprof could not convert {xplane.name}: {one_line(exc)}") from exc
    if not data:
        raise ProfileError(f"xprof returned no trace for {xplane.name}")
    try:
        trace: dict[str, Any] = json.loads(data)
    except ValueError as exc:
        raise ProfileError(
            f"xprof's trace for {xplane.name} is not JSON ({one_line(exc)})"
        ) from exc
    # The converter ends the event list with an empty {} (to avoid a trailing comma).
    trace["traceEvents"] = [e for e in trace.get("traceEvents", []) if e]
    return trace


def _chrome_trace_without_text(xplane: Path) -> dict[str, Any] | None:
    """What :func:`convert_to_chrome_trace` returns, without xprof's JSON text in between.

    xprof's ``trace_viewer`` tool converts the XSpace to a ``Trace`` proto (C++), then its
    Python stream makes each event a dict and writes it as JSON text, which would be parsed
    back here: a third of the conversion's time (DenseNet121: 0.30 of 0.45 CPU s). Here the
    dicts are taken as the stream makes them; the values are the same (JSON writes a float
    so that it reads back as the same float) and the trace file is written with sorted
    keys either way. This uses xprof's internals (2.24): None wherever they differ, and
    the caller takes the public route.
    """
    try:
        from xprof.convert import _pywrap_profiler_plugin, trace_events_json
        from xprof.protobuf import trace_events_old_pb2

        raw, ok = _pywrap_profiler_plugin.xspace_to_tools_data(
            [str(xplane)], TRACE_TOOL, {"use_saved_result": False}
        )
        if not ok or not isinstance(raw, bytes):
            return None
        proto = trace_events_old_pb2.Trace()
        proto.ParseFromString(raw)
        stream = trace_events_json.TraceEventsJsonStream(proto)
        # The text starts with the document's other members, then opens "traceEvents".
        head = ""
        for chunk in iter(stream):
            head += chunk
            if head.rstrip().endswith("["):
                break
        trace: dict[str, Any] = json.loads(head + "]}")
        trace["traceEvents"] = [e for e in stream._events() if e]
    except Exception:  # not the xprof this was written for: the public route says why
        return None
    return trace


def write_chrome_trace(trace: Mapping[str, Any], path: Path) -> None:
    """Gzip JSON without a timestamp or file name in the header: same trace, same bytes."""
    payload = json.dumps(trace, sort_keys=True, separators=(",", ":")).encode("utf-8")
    path.write_bytes(gzip.compress(payload, compresslevel=6, mtime=0))


# ---------------------------------------------------------------------------------------
# Running the profiler (TensorFlow)


def record_profile(forward: Any, inputs: list[Any], logdir: Path, steps: int) -> Path:
    """Profile ``steps`` calls of ``forward``, each a ``step`` TraceMe; the .xplane.pb path."""
    import tensorflow as tf

    if logdir.exists():
        shutil.rmtree(logdir)  # one run per collection: older runs would shadow this one
    options = tf.profiler.experimental.ProfilerOptions(
        host_tracer_level=2, python_tracer_level=0, device_tracer_level=1
    )
    try:
        tf.profiler.experimental.start(str(logdir), options=options)
    except Exception as exc:
        raise ProfileError(f"cannot start the TensorFlow profiler: {one_line(exc)}") from exc
    step_error: Exception | None = None
    try:
        for step in range(steps):
            with tf.profiler.experimental.Trace(STEP_NAME, step_num=step, _r=1):
                forward(*inputs)
                # A GPU returns before its kernels finish; the step must include them.
                tf.test.experimental.sync_devices()
    except Exception as exc:
        step_error = exc
    finally:
        # Also on KeyboardInterrupt: a profiler left running blocks every later start.
        with phase("stop profiler (write .xplane.pb)"):
            stop_error = _stop_profiler()
    if step_error is not None:
        message = f"a profiled forward pass failed: {one_line(step_error)}"
        raise ProfileError(message) from step_error
    if stop_error is not None:
        message = f"the TensorFlow profiler could not save its profile: {one_line(stop_error)}"
        raise ProfileError(message) from stop_error
    found = sorted(logdir.glob("plugins/profile/*/*.xplane.pb"))
    if not found:
        raise ProfileError(f"the profiler wrote no .xplane.pb under {logdir}")
    return found[-1]


def _sync_devices() -> None:
    import tensorflow as tf

    tf.test.experimental.sync_devices()


def _stop_profiler() -> Exception | None:
    """Stop the profiler (which writes the .xplane.pb); the error instead of raising it."""
    import tensorflow as tf

    try:
        tf.profiler.experimental.stop()
    except Exception as exc:
        return exc
    return None


def gpu_name() -> str | None:
    """The first GPU's marketing name, e.g. ``NVIDIA H100 80GB HBM3``, or None."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    return str(details.get("device_name") or gpus[0].name)


def plan_passes(
    first_pass_s: float | None,
    steps: int | None = None,
    warmup: int | None = None,
    second_pass_s: float | None = None,
) -> tuple[int, int]:
    """(warm-up passes, profiled passes), the first warm-up pass included.

    A count the caller gave is kept. Otherwise a model whose first pass took at least
    :data:`SLOW_PASS_SECONDS` (that pass also builds the function, so it errs on the slow
    side) gets no further warm-up and :data:`SLOW_STEPS` profiled passes: its passes are
    long enough to be steady, and each one costs more than it adds to a median. So does
    one whose second pass, once warm, took at least :data:`STEADY_PASS_SECONDS` (VGG16: a
    first pass under half a second on a quiet machine, 0.3 s each after): it keeps both
    warm-up passes. A cheap model, or one whose first pass was not timed, gets the
    defaults (2 and 5).
    """
    slow = first_pass_s is not None and first_pass_s >= SLOW_PASS_SECONDS
    steady_slow = second_pass_s is not None and second_pass_s >= STEADY_PASS_SECONDS
    if warmup is None:
        warmup = SLOW_WARMUP if slow else DEFAULT_WARMUP
    if steps is None:
        steps = SLOW_STEPS if slow or steady_slow else DEFAULT_STEPS
    return warmup, steps


def profile_forward(
    forward: Any,
    inputs: list[Any],
    out_dir: Path,
    index: OpIndex,
    steps: int | None = None,
    warmup: int | None = None,
) -> ProfileMeasurement:
    """Profile ``steps`` calls of the graph function ``forward(*inputs)`` after ``warmup``.

    ``index`` names each op's layer. Writes ``out_dir/profile/plugins/profile/<run>/
    <host>.xplane.pb`` and ``out_dir/trace.json.gz``; returns per-op times per step,
    per-layer medians and the median step time. ``None`` (the default) for ``steps`` or
    ``warmup`` lets the cost of the first pass decide (:func:`plan_passes`). Raises
    :class:`ProfileError` (one line) when profiling fails.
    """
    _check_counts(steps, warmup)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        first_pass_s = None
        if warmup is None or warmup > 0:
            started = time.perf_counter()
            with phase("warm-up pass 1"):
                forward(*inputs)  # the first call builds (and maybe traces) the function
                _sync_devices()  # a GPU returns before its kernels finish
            first_pass_s = time.perf_counter() - started
        warmup = plan_passes(first_pass_s, steps, warmup)[0]
        second_pass_s = None
        for n in range(1, warmup):
            started = time.perf_counter()
            with phase(f"warm-up pass {n + 1}"):
                forward(*inputs)  # later passes warm caches
                _sync_devices()
            if n == 1:
                second_pass_s = time.perf_counter() - started
        steps = plan_passes(first_pass_s, steps, warmup, second_pass_s)[1]
        _phase_log.info(
            "profile: %d warm-up and %d profiled passes (first pass %s, second %s)",
            warmup,
            steps,
            "not run" if first_pass_s is None else f"{first_pass_s:.2f} s",
            "not run" if second_pass_s is None else f"{second_pass_s:.2f} s",
        )
    except Exception as exc:
        raise ProfileError(f"the forward pass failed: {one_line(exc)}") from exc
    with phase(f"{steps} profiled passes"):
        xplane = record_profile(forward, inputs, out_dir / PROFILE_DIR, steps)
    with phase("convert to Chrome trace"):
        trace = convert_to_chrome_trace(xplane)
    with phase("write trace.json.gz"):
        write_chrome_trace(trace, out_dir / TRACE_FILE)
    with phase("op and layer times"):
        measured = measurement_from_trace(trace, steps, index, gpu_name())
    return replace(measured, trace_file=TRACE_FILE, profile_dir=PROFILE_DIR)


def _check_counts(steps: int | None, warmup: int | None) -> None:
    if (steps is not None and steps < 1) or (warmup is not None and warmup < 0):
        raise ProfileError(f"need steps >= 1 and warmup >= 0 (got {steps}, {warmup})")
