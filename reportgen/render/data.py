"""``data/<slug>.json``: the machine-readable report (schema: ``reportgen/schema``)."""

from __future__ import annotations

import json
from typing import Any

from reportgen import __version__
from reportgen.model import Derivation, LayerReport, ModelReport

SCHEMA_VERSION = 1
"""Version of ``data/<slug>.json``.

History:
1. Per-layer params with formula and Keras count, activation bytes with formula,
   placeholders (null) for measured bytes, FLOPs and time.
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
        "flops": layer.flops,
        "time_us": layer.time_us,
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
        },
        "mismatches": [m.describe() for m in report.mismatches],
        "layers": [layer_data(layer) for layer in report.layers],
    }


def report_json(report: ModelReport) -> str:
    return json.dumps(report_data(report), ensure_ascii=False, indent=2, sort_keys=False) + "\n"
