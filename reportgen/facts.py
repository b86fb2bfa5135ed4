"""Collected facts: what the collect stage learned about one model, as plain data.

This is the contract between the TensorFlow-facing collect stage and the pure-Python
derive stage. It is written to ``<slug>.facts.json`` so that collection and rendering
can run on different machines.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from reportgen.config import SLUG_RE
from reportgen.errors import ReportgenError
from reportgen.jsonfile import MiB, check, field_path, load_json, short

FACTS_VERSION = 1
"""Version of the collected-facts format. 1: layers, weights, shapes, Keras counts.

Fields added later have defaults and are read with defaults, so files written before them
still read: per layer ``parent``, ``calls``, ``call_input_shapes``, ``call_output_shapes``,
``input_names``, ``output_dtypes``, ``block``, ``composite``, ``output_of``,
``open_output_shapes``, ``config_error``, ``inbound``, ``internal_tensors`` (left out of
the file when empty, so facts of models without composite blocks read as before); per
model ``optimizer``, ``sequence_length``, ``input_shapes``, ``memory_budget_gib``; per
memory measurement ``timeline``; per profile ``events_file``. ``notes`` hold keyed objects
(:class:`CollectNote`) now; the English sentences older collectors wrote there still read.
"""

MAX_FACTS_BYTES = 512 * MiB
"""Largest ``facts.json`` that ``render`` reads (ResNet50 with runtime measurements and a
profile: under 1 MiB; a text model whose loop ops were all traced: about 8 MiB)."""
MAX_FACTS_DEPTH = 64
"""Deepest nesting of arrays and objects in a ``facts.json`` (real ones: under 10)."""
MAX_ELEMENTS = 2**62
"""Most elements one tensor may hold (a batch of it for a layer's inputs and outputs): far
beyond any real model, and small enough that every derived byte and FLOP count stays a
number that formats and charts."""
FACTS_SCHEMA = "facts.schema.json"
"""The JSON Schema of ``facts.json``, shipped in ``reportgen/schema``."""

Shape = tuple[int | None, ...]

CONFIG_FROM_ATTRIBUTES = "reportgen_config_from_attributes"
"""Config key (value ``True``) of a layer whose ``get_config()`` raised (``config_error``)
and whose config was rebuilt from the layer's own attributes instead: every argument of its
class's ``__init__`` was found on it, so the config is whole."""


@dataclass(frozen=True)
class WeightFacts:
    name: str
    shape: tuple[int, ...]
    dtype: str
    trainable: bool


@dataclass(frozen=True)
class InternalTensor:
    """A tensor a composite block makes with its own operations (not a sub-layer's output,
    not one of its inputs) that one of its sub-layers reads: the residual stream
    ``x + attention(x)``, the attention mask the block builds."""

    name: str
    """``<block row name>#<n>``, n counting from 0 in the order sub-layers first read them;
    the readers' ``inbound`` name it."""
    shape: Shape
    """Its shape, the batch axis None (as the reader's recorded call saw it)."""
    dtype: str
    read_by_block: bool | None = None
    """True when the block's own operations read it after its last sub-layer reader (the
    closing residual addition), False when they do not, None when the collector could not
    tell (a call recorded eagerly)."""


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
    parent: str | None = None
    """The nested model(s) this layer was expanded from, outermost first, joined by ``/``
    (``"encoder"``, ``"encoder/block1"``); None for a layer of the model itself."""
    calls: int = 1
    """How many times the model calls this layer (more than 1: a shared layer, whose
    weights are counted once)."""
    call_input_shapes: tuple[tuple[Shape, ...], ...] = ()
    """Input shapes of every call, in call order, when ``calls`` > 1 (else empty: the first
    call's shapes are ``input_shapes``)."""
    call_output_shapes: tuple[tuple[Shape, ...], ...] = ()
    """Output shapes of every call, in call order, when ``calls`` > 1."""
    input_names: tuple[str, ...] = ()
    """The call argument each entry of ``input_shapes`` was passed as (``query``,
    ``value``, ``key`` for MultiHeadAttention), when known."""
    output_dtypes: tuple[str, ...] = ()
    """The dtype of each output tensor, when known (else ``compute_dtype`` applies)."""
    block: str | None = None
    """The ``name`` of the composite row (a layer made of sub-layers, ``composite``) this
    layer is a sub-layer of; None for a layer of the model (or of a nested model) itself.
    A sub-layer's ``name`` is its block's name, ``/``, its own name
    (``transformer_layer_0/self_attention``): unique, where the sub-layers' own names repeat
    from block to block."""
    composite: bool = False
    """True for a layer made of sub-layers (a transformer block, a user layer built from
    Keras layers): its sub-layers are the rows whose ``block`` is this row's name, and come
    right after it. ``weights`` holds only the weights it owns directly (none of its
    sub-layers'), ``keras_params`` its whole ``count_params()``."""
    output_of: str | None = None
    """For a composite row: the ``name`` of the sub-layer whose output tensor is the
    composite's own output (it writes no tensor of its own), else None."""
    open_output_shapes: tuple[Shape, ...] = ()
    """The output shapes as Keras gives them before the configured ``sequence_length`` /
    ``input_shapes`` fill the model's unknown input dimensions: None marks every non-batch
    axis that grows with an input's length (two such axes: an output of size L², e.g.
    attention scores). Empty when the configuration filled nothing."""
    config_error: str | None = None
    """One line, when the layer's ``get_config()`` raised (a library's bug): ``config``
    then holds only what could be read without it."""
    inbound: tuple[str, ...] | None = None
    """The rows whose output tensors this layer's (first) call reads, by ``name``, in
    argument order; ``()`` for a layer that reads none of them (an InputLayer). None when
    the collector could not tell (facts written before this field, a sub-layer fed by an
    operation of its block rather than by a row): liveness then leaves the peak unknown.
    A tensor made by the block's own operations is named by its :class:`InternalTensor`."""
    internal_tensors: tuple[InternalTensor, ...] = ()
    """For a composite row: the tensors its own operations make that its sub-layers read
    (their ``inbound`` names them); empty for any other row."""

    @property
    def shared(self) -> bool:
        return self.calls > 1


@dataclass(frozen=True)
class OptimizerFacts:
    """The optimizer the model was compiled with (class name and its Keras config)."""

    class_name: str
    config: dict[str, Any]


@dataclass(frozen=True)
class OpMemory:
    """One output of one op, as the TensorFlow allocator recorded it (step_stats)."""

    op: str
    """Node name, e.g. ``lenet_1/conv1/Relu``."""
    op_type: str
    slot: int
    requested_bytes: int
    allocated_bytes: int | None
    allocator: str
    shape: tuple[int, ...] | None
    dtype: str | None
    layer: str | None
    """Keras layer the op belongs to (from its name scope), or None."""
    forwarded: bool = False
    """True when the output reuses an input's buffer (no new allocation)."""


@dataclass(frozen=True)
class MemoryNote:
    """One structured remark on how a layer's output memory came about at run time.

    ``kind`` is one of: ``fed_input`` (the batch is fed from outside the graph; ``nbytes``),
    ``no_op`` (the layer ran no op of its own, e.g. Dropout at inference), ``not_run``
    (the op producing the output was removed or merged by the optimizer; ``op``),
    ``view`` (``op_type`` only reinterprets its input: the output reuses the buffer of
    ``owner_layer``, or a fed buffer when None; ``nbytes``), ``in_place`` (``op_type``
    overwrote such a buffer), ``in_place_same_layer`` (``op_type`` computed in place in
    the buffer that ``owner_op_type`` allocated in this layer), ``padding`` (the allocation
    holds ``nbytes`` for ``expected_bytes`` of elements), ``fused`` (``fused_ops`` ran as one
    ``op_type``), ``workspace`` / ``other_outputs`` (``op_type`` also allocated ``nbytes``
    in further outputs), ``scratch`` (``op_type`` used ``nbytes`` of temporary memory),
    ``multiple_outputs`` / ``shared_calls`` (``count`` outputs summed / calls, first one
    reported).
    """

    kind: str
    op_type: str | None = None
    op: str | None = None
    nbytes: int | None = None
    expected_bytes: int | None = None
    owner_layer: str | None = None
    owner_op_type: str | None = None
    fused_ops: tuple[str, ...] = ()
    count: int | None = None


@dataclass(frozen=True)
class InUse:
    """One point of the allocator's replay: the bytes in use right after an allocation."""

    op: str
    """The node whose allocation this is."""
    layer: str | None
    """Its row (from the node's name scope), or None."""
    bytes_in_use: int
    """Bytes the step's ops hold at that moment (fed inputs and weights not included)."""


@dataclass(frozen=True)
class MemoryMeasurement:
    """Per-op output allocations of one forward pass, and the allocators' totals."""

    method: str
    ops: tuple[OpMemory, ...]
    layer_bytes: dict[str, int | None]
    """Bytes of the allocation holding each Keras layer's output (None: no allocation)."""
    layer_notes: dict[str, tuple[MemoryNote, ...]]
    """How each layer's output allocation came about (fusion, forwarding, workspace...)."""
    allocator_peak_bytes: int | None
    allocator_total_bytes: int | None
    timeline: tuple[InUse, ...] | None = None
    """Bytes in use after each allocation of the step, in time order (the replay that
    gives ``allocator_peak_bytes``); None in facts collected before it was recorded."""


@dataclass(frozen=True)
class OpTime:
    op: str
    op_type: str
    layer: str | None
    times_us: tuple[float, ...]
    """Self time of the op in each profiled step, in microseconds."""


@dataclass(frozen=True)
class ProfileMeasurement:
    """What the TensorFlow profiler saw over ``steps`` forward passes after warm-up."""

    steps: int
    device: str
    ops: tuple[OpTime, ...]
    layer_time_us: dict[str, float]
    """Median over the steps of the summed time of each layer's ops."""
    step_time_us: float
    trace_file: str | None
    """Chrome-trace JSON (gzip), relative to the model's collected directory."""
    profile_dir: str | None
    """Raw profile (``plugins/profile/<run>/*.xplane.pb``), relative to the same."""
    events_file: str | None = None
    """TensorBoard events file (the graph and the RunMetadata of the traced session run,
    tagged with the slug), relative to the same, directly inside ``profile_dir``; None when
    not written, and in facts collected before it was."""


@dataclass(frozen=True)
class FlopsMeasurement:
    """TensorFlow's own float-operation count of the forward graph (tf.compat.v1.profiler)."""

    total: int
    by_op_type: dict[str, int]
    by_layer: dict[str, int]


NoteValue = str | int | list[str]


@dataclass(frozen=True)
class CollectNote:
    """A remark of the collect stage on what it could not measure, or how it read the model:
    a key and the values its sentence needs, no sentence. Derive turns it into one in each
    language (:mod:`reportgen.derive.notes`).

    ``key`` is one of: ``graph_origin`` (``kind``: ``tf.function`` or ``frozen graph``; the
    model is no Keras model), ``frozen_constants`` (a frozen graph's constants are counted as
    trainable parameters), ``unused_weights`` (``names`` of the weights the forward pass does
    not use; ``count`` when only the first names are known), ``loop_flops`` (``layers``
    whose While loop TensorFlow's FLOPs profiler does not look into),
    ``memory_not_measured`` / ``profiler_failed`` (``error``: why the graph run / the
    profiler failed).
    """

    key: str
    values: dict[str, NoteValue] = field(default_factory=dict)


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
    notes: tuple[str | CollectNote, ...] = field(default_factory=tuple)
    """The collect stage's remarks (:class:`CollectNote`); files written before notes had
    keys hold English sentences instead, which still read."""
    memory: MemoryMeasurement | None = None
    profile: ProfileMeasurement | None = None
    flops: FlopsMeasurement | None = None
    optimizer: OptimizerFacts | None = None
    reference: str = "keras"
    """What the per-layer reference counts are: ``keras`` (count_params()), ``variables``
    (a graph's variables under each scope) or ``constants`` (a frozen graph's)."""
    sequence_length: int | None = None
    """The configured ``sequence_length`` (fills every unknown non-batch input dimension)."""
    input_shapes: dict[str, tuple[int, ...]] | None = None
    """The configured ``input_shapes`` (input name → shape without the batch)."""
    memory_budget_gib: float | None = None
    """The configured ``memory_budget_gib``: the memory the reader has in mind (GiB)."""

    def to_json(self) -> str:
        data = asdict(self)
        for layer in data["layers"]:
            if not layer["internal_tensors"]:
                del layer["internal_tensors"]  # only composites have any: the rest unchanged
        return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelFacts:
        version = data.get("facts_version")
        if version != FACTS_VERSION:
            raise ReportgenError(
                f"collected facts have format version {version!r}, this reportgen reads "
                f"{FACTS_VERSION}; collect them again with this version"
            )
        if not isinstance(data.get("slug"), str) or not SLUG_RE.fullmatch(data["slug"]):
            # The slug names output files: a doctored facts file must not write elsewhere.
            raise ReportgenError(f"collected facts have an invalid slug {data.get('slug')!r}")
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
            notes=tuple(_note_from_dict(note) for note in data.get("notes", ())),
            memory=_memory_from_dict(data.get("memory")),
            profile=_profile_from_dict(data.get("profile")),
            flops=_flops_from_dict(data.get("flops")),
            optimizer=_optimizer_from_dict(data.get("optimizer")),
            reference=str(data.get("reference", "keras")),
            sequence_length=data.get("sequence_length"),
            input_shapes=(
                {str(k): tuple(int(d) for d in v) for k, v in data["input_shapes"].items()}
                if data.get("input_shapes") is not None
                else None
            ),
            memory_budget_gib=(
                float(data["memory_budget_gib"])
                if data.get("memory_budget_gib") is not None
                else None
            ),
        )


def _note_from_dict(data: str | dict[str, Any]) -> str | CollectNote:
    if isinstance(data, str):
        return data
    return CollectNote(key=str(data["key"]), values=dict(data.get("values", {})))


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
        parent=data.get("parent"),
        calls=int(data.get("calls", 1)),
        call_input_shapes=tuple(
            tuple(_shape(s) for s in call) for call in data.get("call_input_shapes", ())
        ),
        call_output_shapes=tuple(
            tuple(_shape(s) for s in call) for call in data.get("call_output_shapes", ())
        ),
        input_names=tuple(str(n) for n in data.get("input_names", ())),
        output_dtypes=tuple(str(d) for d in data.get("output_dtypes", ())),
        block=data.get("block"),
        composite=bool(data.get("composite", False)),
        output_of=data.get("output_of"),
        open_output_shapes=tuple(_shape(s) for s in data.get("open_output_shapes", ())),
        config_error=data.get("config_error"),
        inbound=(
            tuple(str(n) for n in data["inbound"]) if data.get("inbound") is not None else None
        ),
        internal_tensors=tuple(
            InternalTensor(
                name=str(t["name"]),
                shape=_shape(t["shape"]),
                dtype=str(t["dtype"]),
                read_by_block=t.get("read_by_block"),
            )
            for t in data.get("internal_tensors", ())
        ),
    )


def _optimizer_from_dict(data: dict[str, Any] | None) -> OptimizerFacts | None:
    if data is None:
        return None
    return OptimizerFacts(class_name=str(data["class_name"]), config=dict(data["config"]))


def _memory_from_dict(data: dict[str, Any] | None) -> MemoryMeasurement | None:
    if data is None:
        return None
    ops = tuple(
        OpMemory(
            **{
                **_known(OpMemory, op),
                "shape": tuple(op["shape"]) if op.get("shape") is not None else None,
            }
        )
        for op in data["ops"]
    )
    return MemoryMeasurement(
        method=data["method"],
        ops=ops,
        layer_bytes=dict(data["layer_bytes"]),
        layer_notes={
            name: tuple(
                MemoryNote(
                    **{**_known(MemoryNote, note), "fused_ops": tuple(note.get("fused_ops", ()))}
                )
                for note in notes
            )
            for name, notes in data["layer_notes"].items()
        },
        allocator_peak_bytes=data.get("allocator_peak_bytes"),
        allocator_total_bytes=data.get("allocator_total_bytes"),
        timeline=(
            tuple(InUse(**_known(InUse, point)) for point in data["timeline"])
            if data.get("timeline") is not None
            else None
        ),
    )


def _profile_from_dict(data: dict[str, Any] | None) -> ProfileMeasurement | None:
    if data is None:
        return None
    check_events_file(data.get("events_file"), data.get("profile_dir"))
    ops = tuple(
        OpTime(**{**_known(OpTime, op), "times_us": tuple(op["times_us"])}) for op in data["ops"]
    )
    return ProfileMeasurement(
        **{
            **_known(ProfileMeasurement, data),
            "ops": ops,
            "layer_time_us": dict(data["layer_time_us"]),
        }
    )


EVENTS_PREFIX = "events.out.tfevents."
"""How a TensorBoard events file's name starts (TensorBoard reads no other)."""


def collected_path(root: Path, relative: str) -> Path | None:
    """``root / relative`` resolved, or None when it leads out of ``root`` (``..``, an
    absolute path, a link) or is ``root`` itself: a collected folder can come from another
    machine, and what its facts name must not lead anywhere else."""
    base = root.resolve()
    target = (root / relative).resolve()
    return target if target.is_relative_to(base) and target != base else None


def check_events_file(events_file: object, profile_dir: object) -> None:
    """Refuse an events file that is not a file named ``events.out.tfevents.*`` directly
    inside the profile folder: collected facts may come from elsewhere, and the site
    publishes the profile folder, nothing beside it."""
    if events_file is None:
        return
    name = events_file.rsplit("/", 1)[-1] if isinstance(events_file, str) else ""
    if (
        not isinstance(profile_dir, str)
        or events_file != f"{profile_dir.rstrip('/')}/{name}"
        or not name.startswith(EVENTS_PREFIX)
        or "\\" in events_file
        or any(part in ("", ".", "..") for part in events_file.split("/"))
    ):
        raise ReportgenError(
            f"profile.events_file: refusing {short(events_file)}, which is not an events "
            f"file inside the profile folder {short(profile_dir)}"
        )


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of the dataclass ``cls`` (a newer reportgen
    may add others; they are ignored, as they are on a model and a layer)."""
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def _flops_from_dict(data: dict[str, Any] | None) -> FlopsMeasurement | None:
    if data is None:
        return None
    return FlopsMeasurement(
        total=int(data["total"]),
        by_op_type=dict(data["by_op_type"]),
        by_layer=dict(data["by_layer"]),
    )


def read_facts(path: Path) -> ModelFacts:
    """Read one ``facts.json``, which may come from another machine: not trusted.

    In order: at most :data:`MAX_FACTS_BYTES`, nested at most :data:`MAX_FACTS_DEPTH`
    deep (both before parsing), the format version and the slug, the JSON Schema
    ``facts.schema.json`` (types, non-negative bounded counts and dimensions, finite
    times), tensors of at most :data:`MAX_ELEMENTS` elements. Any fault is a
    :class:`ReportgenError` of one line naming the file and the field, never a traceback.
    """
    data = load_json(path, MAX_FACTS_BYTES, MAX_FACTS_DEPTH, "collected-facts file")
    if isinstance(data, dict):
        _check_identity(data, path)
    check(data, FACTS_SCHEMA, path)
    _check_sizes(data, path)
    try:
        return ModelFacts.from_dict(data)
    except ReportgenError as exc:
        raise ReportgenError(f"{path}: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # the schema prevents it
        raise ReportgenError(
            f"{path}: not a readable collected-facts file ({type(exc).__name__}: {short(str(exc))})"
        ) from exc


def _check_identity(data: dict[str, Any], path: Path) -> None:
    """The format version and the slug first, each with the message that says what to do."""
    if "facts_version" in data and data["facts_version"] != FACTS_VERSION:
        raise ReportgenError(
            f"{path}: facts_version: the collected facts have format version "
            f"{short(data['facts_version'])}, this reportgen reads {FACTS_VERSION}; collect "
            "them again with this version"
        )
    slug = data.get("slug")
    if "slug" in data and not (isinstance(slug, str) and SLUG_RE.fullmatch(slug)):
        # The slug names output files: a doctored facts file must not write elsewhere.
        raise ReportgenError(
            f"{path}: slug: invalid slug {short(slug)} (lowercase letters, digits, '-' "
            "and '_', at most 64)"
        )


def _check_sizes(data: dict[str, Any], path: Path) -> None:
    """No tensor holds more than :data:`MAX_ELEMENTS` elements (each dimension is bounded
    by the schema, their product is not). Inputs and outputs count at the batch size."""
    batch: int = data["batch_size"]
    where: list[tuple[tuple[str | int, ...], list[int | None], int]] = []
    for i, layer in enumerate(data["layers"]):
        for key in ("input_shapes", "output_shapes"):
            where += [(("layers", i, key, j), s, batch) for j, s in enumerate(layer[key])]
        for key in ("call_input_shapes", "call_output_shapes"):
            for c, call in enumerate(layer.get(key, ())):
                where += [(("layers", i, key, c, j), s, batch) for j, s in enumerate(call)]
        for k, tensor in enumerate(layer.get("internal_tensors", ())):
            where.append((("layers", i, "internal_tensors", k, "shape"), tensor["shape"], batch))
        for k, weight in enumerate(layer["weights"]):
            where.append((("layers", i, "weights", k, "shape"), weight["shape"], 1))
    memory = data.get("memory")
    for k, op in enumerate(memory["ops"] if memory else ()):
        if op["shape"] is not None:
            where.append((("memory", "ops", k, "shape"), op["shape"], 1))
    for parts, shape, factor in where:
        if factor * math.prod(d for d in shape if d is not None) > MAX_ELEMENTS:
            at = f" at batch size {factor:,}" if factor != 1 else ""
            raise ReportgenError(
                f"{path}: {field_path(parts)}: the shape {short(shape)} holds more than "
                f"2**62 elements{at}"
            )
