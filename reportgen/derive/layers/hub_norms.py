"""keras-hub's model-specific normalization layers: the RMS norms each model family defines.

Llama, Mistral, Mixtral, Phi-3, Qwen, Qwen 3 (and their mixture-of-experts variants), GPT-OSS
and T5 each ship their own class, and all of them compute x·rsqrt(mean(x²) + ε)·γ with one
learned scale per feature: Keras's RMSNormalization rules (``normalization.py``) count them.
"""

from __future__ import annotations

from reportgen.derive.layers.normalization import FAMILY, rms_norm_flops, rms_norm_params
from reportgen.derive.layers.registry import declare

_HERE = __name__

RMS_NORMS = (
    "LlamaLayerNorm",
    "MistralLayerNormalization",
    "MixtralLayerNormalization",
    "Phi3LayerNorm",
    "QwenLayerNorm",
    "QwenMoeLayerNorm",
    "Qwen3LayerNorm",
    "Qwen3MoeLayerNorm",
    "GptOssLayerNormalization",
    "T5LayerNorm",
)
"""Classes whose call is x·rsqrt(mean(x²) + ε)·γ over the last axis (read in keras-hub 0.32)."""

declare(*RMS_NORMS, family=FAMILY, params=rms_norm_params, flops=rms_norm_flops, module=_HERE)
