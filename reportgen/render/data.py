"""``data/<slug>.json``: the machine-readable report (schema: ``reportgen/schema``)."""

from __future__ import annotations

import json
from typing import Any

from reportgen import __version__
from reportgen.model import Derivation, LayerReport, ModelReport, Prose, TrainingMemory

SCHEMA_VERSION = 2
"""Version of ``data/<slug>.json``.

History:
1. Per layer: params with formula and Keras count, activation bytes with formula,
   measured bytes with their explanation, derived and profiled FLOPs, profiled time.
   Per model: totals, runtime memory, the FLOPs cross-check, the profile and its trace.
2. Nested models are expanded into their layers. Per layer: ``parent`` (the nested
   model it came from), ``calls`` and ``shared``, ``param_bytes``, ``variable_dtype``,
   ``flops_method``. Per model: ``training`` (the training-memory estimate).
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
        "relative_difference": round(check.relative_difference, 6),
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
        },
        "runtime_memory": _runtime(report),
        "flops_check": _flops(report),
        "profile": _profile(report),
        "training": _training(report.training),
        "notes": [note.en for note in report.notes],
        "mismatches": [m.describe() for m in report.mismatches],
        "layers": [layer_data(layer) for layer in report.layers],
    }


def report_json(report: ModelReport) -> str:
    return json.dumps(report_data(report), ensure_ascii=False, indent=2, sort_keys=False) + "\n"
