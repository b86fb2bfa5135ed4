"""``data/<slug>.json``: the machine-readable report (schema: ``reportgen/schema``)."""

from __future__ import annotations

import json
from typing import Any

from reportgen.model import (
    DecoderMemory,
    Derivation,
    LayerReport,
    MemoryScaling,
    ModelReport,
    PeakMemory,
    Prose,
    TrainingMemory,
)
from reportgen.version import __version__

SCHEMA_VERSION = 4
"""Version of ``data/<slug>.json``.

History:
1. Per layer: params with formula and Keras count, activation bytes with formula,
   measured bytes with their explanation, derived and profiled FLOPs, profiled time.
   Per model: totals, runtime memory, the FLOPs cross-check, the profile and its trace.
2. Nested models are expanded into their layers. Per layer: ``parent`` (the nested
   model it came from), ``calls`` and ``shared``, ``param_bytes``, ``variable_dtype``,
   ``flops_method``. Per model: ``training`` (the training-memory estimate).
3. Composite layers (a block made of sub-layers) are opened: per layer ``block`` (the
   composite it is a sub-layer of), ``composite`` (its ``params``, ``trainable_params``,
   ``non_trainable_params`` and ``param_bytes`` are its whole block's) and
   ``config_error``. Model totals are never partial sums: ``totals.activation_bytes``,
   ``totals.flops``, ``flops_check.derived`` (and its difference) and the training parts
   are null whenever any part is unknown; ``unknown_totals`` says why, per total.
4. Peak activation memory: ``totals.peak_activation_bytes`` and ``totals.peak_layer``
   (derived by liveness), ``totals.measured_peak_bytes`` (the allocator's, from the traced
   run); ``peak_memory`` (the timeline of live bytes per layer, derived and measured, and
   each difference explained); ``memory_scaling`` (inference and training memory over
   batch sizes 1 … 1024 and the largest batch that fits 8, 16, 24, 40, 80 GiB and the
   configured ``memory_budget_gib``); ``decoder_memory.activation_basis``.
   Later, still 4 (an optional field): ``budget`` (the configured limits, ``max_increase``
   and each absolute limit's status), present only for a model whose configuration sets one.
   Later, still 4 (an optional field): per layer ``inbound`` (the rows its first call reads,
   by name; null when not recorded).
"""


def _formula(derivation: Derivation) -> str | None:
    return derivation.formula.text if derivation.formula is not None else None


def layer_data(layer: LayerReport) -> dict[str, Any]:
    return {
        "index": layer.index,
        "name": layer.name,
        "class_name": layer.class_name,
        "output_shape": list(layer.output_shape),
        "output_shapes": [list(s) for s in layer.output_shapes],
        "dtype": layer.dtype,
        "params": layer.params.value,
        "params_method": layer.params.method,
        "params_formula": _formula(layer.params),
        "params_formula_symbolic": (
            layer.params.formula.symbolic_text if layer.params.formula is not None else None
        ),
        "params_explanation": {
            "en": layer.params.explanation.en,
            "zh": layer.params.explanation.zh,
        },
        "keras_params": layer.keras_params,
        "params_match": layer.params_match,
        "trainable_params": layer.trainable_params,
        "non_trainable_params": layer.non_trainable_params,
        "activation_bytes": layer.activation.value,
        "activation_formula": _formula(layer.activation),
        "measured_bytes": layer.measured_bytes,
        "measured_note": _text(layer.measured_note),
        "flops": layer.flops.value if layer.flops is not None else None,
        "flops_formula": _formula(layer.flops) if layer.flops is not None else None,
        "measured_flops": layer.measured_flops,
        "time_us": _round_us(layer.time_us),
        "parent": layer.parent,
        "calls": layer.calls,
        "shared": layer.shared,
        "param_bytes": layer.param_bytes,
        "variable_dtype": layer.variable_dtype,
        "flops_method": layer.flops.method if layer.flops is not None else None,
        "block": layer.block,
        "composite": layer.composite,
        "config_error": _text(layer.config_note),
        "inbound": list(layer.inbound) if layer.inbound is not None else None,
    }


def _derivation(derivation: Derivation) -> dict[str, Any]:
    return {
        "bytes": derivation.value,
        "formula": _formula(derivation),
        "explanation": _text(derivation.explanation),
    }


def _training(training: TrainingMemory | None) -> dict[str, Any] | None:
    if training is None:
        return None
    return {
        "optimizer": training.optimizer,
        "optimizer_assumed": training.optimizer_assumed,
        "slots_per_weight": training.slots_per_weight,
        "batch_size": training.batch_size,
        "parts": [
            {"key": part.key, "label": _text(part.label), **_derivation(part.bytes)}
            for part in training.parts
        ],
        "total_bytes": training.total.value,
        "total_formula": _formula(training.total),
        "assumptions": [_text(text) for text in training.assumptions],
    }


def _decoder(decoder: DecoderMemory | None) -> dict[str, Any] | None:
    """A decoder's inference memory (:mod:`reportgen.derive.decoder`); None for any other model."""
    if decoder is None:
        return None
    kv = decoder.kv_cache
    return {
        "sequence_length": decoder.sequence_length,
        "batch_size": decoder.batch_size,
        "max_sequence_length": decoder.max_sequence_length,
        "max_source": _text(decoder.max_source),
        "caching_layers": decoder.caching_layers,
        "query_heads": decoder.query_heads,
        "kv_heads": decoder.kv_heads,
        "kv_cache_bytes": kv.value,
        "kv_cache_formula": _formula(kv),
        "kv_cache_formula_symbolic": kv.formula.symbolic_text if kv.formula is not None else None,
        "kv_cache_explanation": _text(kv.explanation),
        "weights_bytes": decoder.weights_bytes,
        "activation_bytes": decoder.activation_bytes,
        "total_bytes": decoder.total.value,
        "total_formula": _formula(decoder.total),
        "activations_note": _text(decoder.activations_note),
        "activation_basis": decoder.activation_basis,
        "why_it_grows": _text(decoder.why_it_grows),
        "grouped_query": _text(decoder.grouped_query),
        "rows": [
            {
                "sequence_length": row.sequence_length,
                "batch_size": row.batch_size,
                "kv_cache_bytes": row.kv_cache_bytes,
                "weights_bytes": row.weights_bytes,
                "activation_bytes": row.activation_bytes,
                "total_bytes": row.total_bytes,
                "configured": row.configured,
            }
            for row in decoder.rows
        ],
    }


def _peak(peak: PeakMemory | None) -> dict[str, Any] | None:
    """Peak activation memory by liveness and as measured (:mod:`reportgen.derive.liveness`)."""
    if peak is None:
        return None
    return {
        "bytes": peak.bytes,
        "layer": peak.layer,
        "live_layers": list(peak.live_layers),
        "explanation": _text(peak.explanation),
        "training": _text(peak.training),
        "measured_bytes": peak.measured_bytes,
        "measured_layer": peak.measured_layer,
        "measured_note": _text(peak.measured_note),
        "differences": [
            {
                "kind": d.kind,
                "layer": d.layer,
                "bytes": d.bytes,
                "explanation": _text(d.sentence),
            }
            for d in peak.differences
        ],
        "timeline": [
            {
                "layer": step.layer,
                "live_bytes": step.live_bytes,
                "measured_bytes": step.measured_bytes,
            }
            for step in peak.steps
        ],
    }


def _scaling(scaling: MemoryScaling | None) -> dict[str, Any] | None:
    """Memory over batch sizes and what fits (:mod:`reportgen.derive.fits`)."""
    if scaling is None:
        return None
    return {
        "basis": scaling.basis,
        "sequence_length": scaling.sequence_length,
        "explanation": _text(scaling.explanation),
        "inference_fixed_bytes": scaling.inference_fixed,
        "inference_per_example_bytes": scaling.inference_per_example,
        "training_fixed_bytes": scaling.training_fixed,
        "training_per_example_bytes": scaling.training_per_example,
        "rows": [
            {
                "batch_size": row.batch_size,
                "activation_bytes": row.activation_bytes,
                "kv_cache_bytes": row.kv_cache_bytes,
                "inference_bytes": row.inference_bytes,
                "training_activation_bytes": row.training_activation_bytes,
                "training_bytes": row.training_bytes,
                "configured": row.configured,
            }
            for row in scaling.rows
        ],
        "fits": [
            {
                "memory_bytes": fit.memory_bytes,
                "memory_gib": fit.memory_gib,
                "budget": fit.budget,
                "inference_batch": fit.inference_batch,
                "training_batch": fit.training_batch,
                "sentence": _text(fit.sentence),
            }
            for fit in scaling.fits
        ],
    }


def _text(text: Prose | None) -> dict[str, str] | None:
    return {"en": text.en, "zh": text.zh} if text is not None else None


def _round_us(value: float | None) -> float | None:
    """Profiled times to 0.1 µs: finer digits are noise, and noise makes diffs unreadable."""
    return round(value, 1) if value is not None else None


def _runtime(report: ModelReport) -> dict[str, Any] | None:
    runtime = report.runtime
    if runtime is None:
        return None
    return {
        "method": runtime.method,
        "peak_bytes": runtime.peak_bytes,
        "total_bytes": runtime.total_bytes,
        "measured_layers": runtime.measured_layers,
        "equal_layers": runtime.equal_layers,
    }


def _flops(report: ModelReport) -> dict[str, Any] | None:
    check = report.flops
    if check is None:
        return None
    return {
        "derived": check.derived,
        "measured": check.measured,
        "relative_difference": (
            round(check.relative_difference, 6) if check.relative_difference is not None else None
        ),
        "agrees": check.agrees,
        "unknown_layers": list(check.unknown_layers),
        "by_op_type": dict(check.by_op_type),
    }


def _profile(report: ModelReport) -> dict[str, Any] | None:
    profile = report.profile
    if profile is None:
        return None
    return {
        "steps": profile.steps,
        "device": profile.device,
        "step_time_us": _round_us(profile.step_time_us),
        "trace": profile.trace_href,
        "profile_dir": profile.profile_href,
    }


def _budget(report: ModelReport) -> dict[str, Any]:
    """``budget``, only for a model whose configuration sets one (:mod:`reportgen.budget`):
    its limits and each absolute limit's status, so ``reportgen diff`` checks the relative
    ones against the budget of the build it compares."""
    return {"budget": report.budget.to_dict()} if report.budget is not None else {}


def report_data(report: ModelReport) -> dict[str, Any]:
    totals = report.totals
    return {
        "schema_version": SCHEMA_VERSION,
        "slug": report.slug,
        "title": {"en": report.title.en, "zh": report.title.zh},
        "source": report.source,
        "batch_size": report.batch_size,
        "generator": {"reportgen": __version__, **report.framework},
        "totals": {
            "params": totals.params,
            "trainable_params": totals.trainable_params,
            "non_trainable_params": totals.non_trainable_params,
            "param_bytes": totals.param_bytes,
            "activation_bytes": totals.activation_bytes,
            "keras_params": totals.keras_params,
            "keras_trainable_params": totals.keras_trainable_params,
            "keras_non_trainable_params": totals.keras_non_trainable_params,
            "layers": totals.layers,
            "params_match": totals.params_match,
            "flops": totals.flops,
            "peak_activation_bytes": totals.peak_activation_bytes,
            "peak_layer": totals.peak_layer,
            "measured_peak_bytes": totals.measured_peak_bytes,
            "kv_cache_bytes": report.decoder.kv_cache.value if report.decoder else None,
            "kv_cache_formula": _formula(report.decoder.kv_cache) if report.decoder else None,
        },
        "runtime_memory": _runtime(report),
        "flops_check": _flops(report),
        "profile": _profile(report),
        "decoder_memory": _decoder(report.decoder),
        "training": _training(report.training),
        "peak_memory": _peak(report.peak),
        "memory_scaling": _scaling(report.scaling),
        **_budget(report),
        "unknown_totals": {
            "params": _text(report.params_note),
            "activation_bytes": _text(report.activation_note),
            "flops": _text(report.flops_note),
            "open_inputs": [_text(text) for text in report.open_inputs],
        },
        "notes": [note.en for note in report.notes],
        "mismatches": [m.describe() for m in report.mismatches],
        "layers": [layer_data(layer) for layer in report.layers],
    }


def report_json(report: ModelReport) -> str:
    return json.dumps(report_data(report), ensure_ascii=False, indent=2, sort_keys=False) + "\n"
