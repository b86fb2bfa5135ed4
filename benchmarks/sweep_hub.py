"""Every keras-hub backbone that builds from arguments, through reportgen's own pipeline.

For each class of ``keras_hub.models`` whose name ends in ``Backbone``: build it from the
small configuration in :data:`SMALL` (random weights, nothing downloaded), then run
``reportgen collect`` on all of them (a generated ``reportgen.toml``, one worker process per
model, ``--no-profile``), read each model's ``facts.json``, derive it with
:func:`reportgen.derive.derive_model` and report per model: rows derived by a formula (or
zero) / by the generic Σ-of-weights count / unknown, rows whose parameters differ from
``count_params()``, and the derived FLOPs against TensorFlow's profiler count of the same
forward pass. A class that cannot be built from arguments alone is listed with the reason.

It also writes the inventory of the layer classes the backbones use (class → backbones,
and what reportgen decides about it now): ``inventory.json`` and ``inventory.md``.

    nice python benchmarks/sweep_hub.py                        # every class, into /tmp/hub
    python benchmarks/sweep_hub.py --models GPT2Backbone,LlamaBackbone --out /tmp/hub/one
    python benchmarks/sweep_hub.py --inventory-only            # build only, no collect

Outputs under ``--out``: ``coverage.md`` (the README's table), ``summary.json``,
``inventory.json``, ``inventory.md``, and the collected facts under ``collected/``.
Exit status 1 when any row's parameters differ from Keras's or cannot be derived, or a model failed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

SEQUENCE_LENGTH = 16
"""The length given to every sequence input (token ids, masks, audio frames)."""
IMAGE = (32, 32, 3)
"""The image shape given to every image backbone that takes one."""

_TEXT = {"vocabulary_size": 1000, "num_layers": 2, "hidden_dim": 64, "intermediate_dim": 128}
_HEADS = {**_TEXT, "num_heads": 4}
_GQA = {**_TEXT, "num_query_heads": 4, "num_key_value_heads": 2}

SMALL: dict[str, dict[str, Any]] = {
    # Encoders and decoders of text (position tables kept short: max_sequence_length=32).
    "AlbertBackbone": {
        **_HEADS,
        "embedding_dim": 32,
        "num_groups": 1,
        "num_inner_repetitions": 1,
        "max_sequence_length": 32,
    },
    "BartBackbone": {**_HEADS, "max_sequence_length": 32},
    "BertBackbone": {**_HEADS, "max_sequence_length": 32},
    "BloomBackbone": _HEADS,
    "DebertaV3Backbone": {**_HEADS, "max_sequence_length": 32, "bucket_size": 16},
    "DistilBertBackbone": {**_HEADS, "max_sequence_length": 32},
    "ESM2Backbone": {**_HEADS, "max_sequence_length": 32},
    "ESMBackbone": {**_HEADS, "max_sequence_length": 32},
    "EdRecBackbone": {
        "vocab_size": 1000,
        "num_layers_enc": 2,
        "num_layers_dec": 2,
        "hidden_dim": 64,
        "intermediate_dim": 128,
        "num_heads": 4,
    },
    "ElectraBackbone": {
        "vocab_size": 1000,
        "num_layers": 2,
        "num_heads": 4,
        "hidden_dim": 64,
        "embedding_dim": 32,
        "intermediate_dim": 128,
        "max_sequence_length": 32,
    },
    "FNetBackbone": {**_TEXT, "max_sequence_length": 32},
    "FalconBackbone": {**_TEXT, "num_attention_heads": 4},
    "GPT2Backbone": {**_HEADS, "max_sequence_length": 32},
    "GPTNeoXBackbone": {**_HEADS, "max_sequence_length": 32},
    "GemmaBackbone": {**_GQA, "head_dim": 16},
    "Gemma3Backbone": {**_GQA, "head_dim": 16, "image_size": 32},
    "Gemma4Backbone": {**_GQA, "head_dim": 16, "image_size": 32},
    "GptOssBackbone": {**_GQA, "num_experts": 4, "top_k": 2, "sliding_window": 8},
    "Llama3Backbone": _GQA,
    "LlamaBackbone": _GQA,
    "MistralBackbone": {**_GQA, "sliding_window": 8},
    "MixtralBackbone": {**_GQA, "num_experts": 4, "top_k": 2, "sliding_window": 8},
    "MoonshineBackbone": {
        "vocabulary_size": 1000,
        "filter_dim": 64,  # its preprocessor's output width must equal hidden_dim
        "encoder_num_layers": 2,
        "decoder_num_layers": 2,
        "hidden_dim": 64,
        "intermediate_dim": 128,
        "encoder_num_heads": 4,
        "decoder_num_heads": 4,
        "max_position_embeddings": 64,
    },
    "OPTBackbone": {**_HEADS, "max_sequence_length": 32},
    "Phi3Backbone": {
        **_GQA,
        "max_sequence_length": 32,
        "pretraining_sequence_length": 32,
    },
    "Qwen2Backbone": _GQA,
    "QwenBackbone": _GQA,
    "Qwen3Backbone": {**_GQA, "head_dim": 16},
    "Qwen3MoeBackbone": {**_GQA, "moe_intermediate_dim": 32, "num_experts": 4, "top_k": 2},
    "QwenMoeBackbone": {
        **_GQA,
        "moe_intermediate_dim": 32,
        "shared_expert_intermediate_dim": 64,
        "num_experts": 4,
        "top_k": 2,
    },
    "Qwen3_5Backbone": {
        **_GQA,
        "head_dim": 16,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "linear_key_head_dim": 16,
        "linear_value_head_dim": 16,
    },
    "Qwen3_5MoeBackbone": {
        **{k: v for k, v in _GQA.items() if k != "intermediate_dim"},
        "head_dim": 16,
        "moe_intermediate_dim": 32,
        "shared_expert_intermediate_size": 64,
        "num_experts": 4,
        "top_k": 2,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "linear_key_head_dim": 16,
        "linear_value_head_dim": 16,
    },
    "RWKV7Backbone": {
        "hidden_size": 64,
        "head_size": 16,
        "num_layers": 2,
        "vocabulary_size": 1000,
        "intermediate_dim": 128,
        "gate_lora": 16,
        "mv_lora": 8,
        "aaa_lora": 8,
        "decay_lora": 8,
    },
    "RobertaBackbone": {**_HEADS, "max_sequence_length": 32},
    "RoformerV2Backbone": {**_HEADS, "head_size": 16},
    "SmolLMBackbone": {
        **{k: v for k, v in _TEXT.items()},
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "rope_layer_enabled_list": [True, True],
        "layer_types": ["attention", "attention"],
        "mlp_bias": False,
        "layer_norm_epsilon": 1e-6,
        "max_position_embeddings": 64,
        "rope_theta": 10000.0,
        "partial_rotary_factor": 1.0,
    },
    "SmolLM3Backbone": {
        **{k: v for k, v in _TEXT.items()},
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "rope_layer_enabled_list": [True, True],
        "layer_types": ["attention", "attention"],
        "mlp_bias": False,
        "layer_norm_epsilon": 1e-6,
        "max_position_embeddings": 64,
        "rope_theta": 10000.0,
        "partial_rotary_factor": 1.0,
    },
    "T5Backbone": _HEADS,
    "T5GemmaBackbone": {
        "vocabulary_size": 1000,
        "encoder_hidden_dim": 64,
        "encoder_intermediate_dim": 128,
        "encoder_num_layers": 2,
        "encoder_num_attention_heads": 4,
        "encoder_num_key_value_heads": 2,
        "encoder_head_dim": 16,
        "encoder_layer_types": ["full_attention", "full_attention"],
        "decoder_hidden_dim": 64,
        "decoder_intermediate_dim": 128,
        "decoder_num_layers": 2,
        "decoder_num_attention_heads": 4,
        "decoder_num_key_value_heads": 2,
        "decoder_head_dim": 16,
        "decoder_layer_types": ["full_attention", "full_attention"],
    },
    "WhisperBackbone": {
        **_HEADS,
        "num_mels": 16,
        "max_encoder_sequence_length": 32,
        "max_decoder_sequence_length": 32,
    },
    "XLMRobertaBackbone": {**_HEADS, "max_sequence_length": 32},
    "XLNetBackbone": _HEADS,
    # Vision transformers.
    "DeiTBackbone": {
        "image_shape": IMAGE,
        "patch_size": 8,
        "num_layers": 2,
        "num_heads": 4,
        "hidden_dim": 64,
        "intermediate_dim": 128,
    },
    "DINOV2Backbone": {
        "patch_size": 8,
        "num_layers": 2,
        "hidden_dim": 64,
        "num_heads": 4,
        "intermediate_dim": 128,
        "image_shape": IMAGE,
        "position_embedding_shape": IMAGE,
    },
    "DINOV3Backbone": {
        "patch_size": 8,
        "num_layers": 2,
        "hidden_dim": 64,
        "num_heads": 4,
        "intermediate_dim": 128,
        "image_shape": IMAGE,
    },
    "SwinTransformerBackbone": {
        "image_shape": IMAGE,
        "embed_dim": 32,
        "depths": [2, 2],
        "num_heads": [2, 4],
        "window_size": 4,
        "patch_size": 2,
    },
    "ViTBackbone": {
        "image_shape": IMAGE,
        "patch_size": 8,
        "num_layers": 2,
        "num_heads": 4,
        "hidden_dim": 64,
        "mlp_dim": 128,
    },
    "ViTDetBackbone": {
        "hidden_size": 64,
        "num_layers": 2,
        "intermediate_dim": 128,
        "num_heads": 4,
        "global_attention_layer_indices": [1],
        "image_shape": (64, 64, 3),
        "patch_size": 16,
        "num_output_channels": 32,
        "window_size": 2,
    },
    "VideoPrismBackbone": {
        "num_frames": 2,
        "patch_size": 8,
        "hidden_dim": 64,
        "intermediate_dim": 128,
        "num_heads": 4,
        "num_spatial_layers": 1,
        "num_temporal_layers": 1,
        "num_auxiliary_layers": 0,
        "image_shape": IMAGE,
    },
    "MiTBackbone": {
        "layerwise_depths": [1, 1],
        "num_layers": 2,
        "layerwise_num_heads": [1, 2],
        "layerwise_sr_ratios": [2, 1],
        "max_drop_path_rate": 0.0,
        "layerwise_patch_sizes": [7, 3],
        "layerwise_strides": [4, 2],
        "hidden_dims": [16, 32],
        "image_shape": IMAGE,
    },
    # Convolutional image backbones.
    "CSPNetBackbone": {
        "stem_filters": 16,
        "stem_kernel_size": 3,
        "stem_strides": 2,
        "stackwise_depth": [1, 1],
        "stackwise_strides": [2, 2],
        "stackwise_num_filters": [16, 32],
        "block_type": "dark_block",  # its csp/cs3 stages need filters from a real preset
        "stage_type": "dark",
        "image_shape": IMAGE,
    },
    "DenseNetBackbone": {"stackwise_num_repeats": [2, 2], "growth_rate": 8, "image_shape": IMAGE},
    "ResNetBackbone": {
        "input_conv_filters": [64],
        "input_conv_kernel_sizes": [3],
        "stackwise_num_filters": [64, 128],  # keras-hub insists on 64 first
        "stackwise_num_blocks": [1, 1],
        "stackwise_num_strides": [1, 2],
        "block_type": "basic_block",
        "image_shape": IMAGE,
    },
    "VGGBackbone": {
        "stackwise_num_repeats": [1, 1],
        "stackwise_num_filters": [8, 16],
        "image_shape": IMAGE,
    },
    "XceptionBackbone": {
        "stackwise_conv_filters": [[8, 16], [32, 32]],
        "stackwise_pooling": [False, True],
        "image_shape": IMAGE,
    },
    "EfficientNetBackbone": {
        "stackwise_width_coefficients": [1.0, 1.0],
        "stackwise_depth_coefficients": [1.0, 1.0],
        "stackwise_kernel_sizes": [3, 3],
        "stackwise_num_repeats": [1, 1],
        "stackwise_input_filters": [16, 16],
        "stackwise_output_filters": [16, 24],
        "stackwise_expansion_ratios": [1, 4],
        "stackwise_squeeze_and_excite_ratios": [0.25, 0.25],
        "stackwise_strides": [1, 2],
        "stackwise_block_types": ["v1", "v1"],
        "stackwise_force_input_filters": [0, 0],
        "stackwise_nores_option": [False, False],
        "num_features": 64,
        "input_shape": IMAGE,
    },
    "MobileNetBackbone": {
        "stackwise_expansion": [[1], [4]],
        "stackwise_num_blocks": [1, 1],
        "stackwise_num_filters": [[16], [24]],
        "stackwise_kernel_size": [[3], [3]],
        "stackwise_num_strides": [[2], [2]],
        "stackwise_se_ratio": [[None], [0.25]],
        "stackwise_activation": [["relu"], ["hard_swish"]],
        "stackwise_padding": [[1], [1]],
        "output_num_filters": 32,
        "depthwise_filters": 8,
        "depthwise_stride": 2,
        "depthwise_residual": False,
        "last_layer_filter": 32,
        "image_shape": IMAGE,
    },
    "HGNetV2Backbone": {
        "depths": [1, 1],
        "embedding_size": 16,
        "hidden_sizes": [32, 64],
        "stem_channels": [3, 8, 16],
        "hidden_act": "relu",
        "use_learnable_affine_block": False,
        "stackwise_stage_filters": [[16, 8, 32, 1, 2, 3], [32, 16, 64, 1, 2, 3]],
        "apply_downsample": [False, True],
        "use_lightweight_conv_block": [False, False],
        "image_shape": IMAGE,
    },
}
"""Small keyword arguments per backbone class: a few layers, a few heads, short tables."""

INPUT_SHAPES: dict[str, dict[str, list[int]]] = {
    # Its audio front end downsamples 384×: 2,048 samples give 4 encoder positions.
    "MoonshineBackbone": {
        "encoder_input_values": [2048, 1],
        "encoder_padding_mask": [2048],
        "decoder_token_ids": [SEQUENCE_LENGTH],
        "decoder_padding_mask": [SEQUENCE_LENGTH],
    },
}
"""``input_shapes`` for the classes that ``sequence_length`` alone does not fit."""

NOT_FROM_ARGUMENTS: dict[str, str] = {
    "Backbone": "the abstract base class",
    "FeaturePyramidBackbone": "an abstract base class",
    "BASNetBackbone": "takes a built image encoder (another backbone)",
    "BLIP2Backbone": "takes a built vision encoder, Q-Former and language model",
    "CLIPBackbone": "takes built vision and text encoders",
    "DFineBackbone": "takes a built HGNetV2 backbone and ~25 detector settings",
    "DeepLabV3Backbone": "takes a built image encoder (another backbone)",
    "DepthAnythingBackbone": "takes a built image encoder (a DINOV2 backbone)",
    "FluxBackbone": "needs latent image and text inputs of fixed large shapes",
    "Gemma3nBackbone": "needs ~20 settings of its AltUp/Laurel layers and nested encoder configs",
    "MetaCLIP2Backbone": "takes built vision and text encoders",
    "MobileNetV5Backbone": "needs ~17 per-stage block specifications",
    "PARSeqBackbone": "takes a built image encoder (a ViT backbone)",
    "PaliGemmaBackbone": "builds a ViT and a Gemma decoder together (covered by both)",
    "RetinaNetBackbone": "takes a built image encoder (another backbone)",
    "SAM3PromptableConceptBackbone": "takes six built encoders and decoders",
    "SAMBackbone": "takes a built image encoder, prompt encoder and mask decoder",
    "SegFormerBackbone": "takes a built image encoder (a MiT backbone)",
    "SigLIPBackbone": "takes built vision and text encoders",
    "StableDiffusion3Backbone": "takes built VAE and CLIP encoders",
    "T5Gemma2Backbone": "needs a vision encoder configuration beside the T5Gemma settings",
}
"""Classes that cannot be built from plain arguments, and why (they are not swept)."""


def backbone_names() -> list[str]:
    import keras_hub

    return sorted(n for n in dir(keras_hub.models) if n.endswith("Backbone"))


def build_backbone(name: str) -> Any:
    """The backbone ``name`` with its small configuration and random weights."""
    import keras_hub

    return getattr(keras_hub.models, name)(**SMALL[name])


def __getattr__(attribute: str) -> Callable[[], Any]:
    """``build_<Class>``: the factory a generated ``reportgen.toml`` names as its source."""
    name = attribute.removeprefix("build_")
    if attribute.startswith("build_") and name in SMALL:
        return lambda: build_backbone(name)
    raise AttributeError(attribute)


def slug_of(name: str) -> str:
    return name.removesuffix("Backbone").lower()


# ---------------------------------------------------------------- inventory (build only)


@dataclass
class Built:
    name: str
    params: int = 0
    inputs: dict[str, list[int | None]] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)
    """Layer class name → its module, for every layer at any depth."""
    shapes: dict[str, str] = field(default_factory=dict)
    """Layer class name → ``sub-layers`` (it owns layers: opened), ``weights`` (a leaf that
    holds weights: it needs a rule) or ``no weights``."""
    seconds: float = 0.0
    error: str = ""


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}"


def build_for_inventory(name: str) -> Built:
    import keras

    built = Built(name)
    start = time.perf_counter()
    model: Any = None
    try:
        model = build_backbone(name)
        built.params = int(model.count_params())
        built.inputs = {
            str(getattr(t, "name", i)).split(":")[0]: list(t.shape[1:])
            for i, t in enumerate(model.inputs)
        }
        for layer in model._flatten_layers(include_self=False, recursive=True):
            cls = type(layer)
            built.classes[cls.__name__] = cls.__module__
            built.shapes[cls.__name__] = layer_shape(layer)
    except Exception as exc:  # one class's failure is a row, not the end of the sweep
        built.error = one_line(exc)
    finally:
        del model
        keras.backend.clear_session()
        gc.collect()
    built.seconds = time.perf_counter() - start
    return built


def layer_shape(layer: Any) -> str:
    """Whether a layer owns sub-layers, holds weights itself, or neither."""
    if list(layer._flatten_layers(include_self=False, recursive=False)):
        return "sub-layers"
    return "weights" if layer.weights else "no weights"


def decision(class_name: str) -> str:
    """What reportgen's registry decides about the class now."""
    from reportgen.derive.layers import registry

    kind = registry.kind_of(class_name)
    if kind is None:
        return "undeclared"
    if isinstance(kind.params, registry.Composite):
        return "opened"
    if isinstance(kind.params, registry.Generic):
        return "generic"
    return "derived"


def inventory(builds: list[Built], swept: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Layer class → the backbones using it, the registry's decision, and what the last
    sweep's rows of that class did (by derivation method, and rows unequal to Keras)."""
    import reportgen.derive.layers  # noqa: F401  (declares every kind)

    classes: dict[str, dict[str, Any]] = {}

    def entry_of(name: str, module: str = "?", made_of: str = "?") -> dict[str, Any]:
        return classes.setdefault(
            name,
            {
                "module": module,
                "made_of": made_of,
                "backbones": [],
                "decision": decision(name),
                "rows": {},
            },
        )

    for built in builds:
        for name, module in built.classes.items():
            entry_of(name, module, built.shapes.get(name, "?"))["backbones"].append(built.name)
    for by_class in swept.values():
        for name, methods in by_class.items():
            entry = entry_of(name)
            for method, count in methods.items():
                entry["rows"][method] = entry["rows"].get(method, 0) + count
    return dict(sorted(classes.items()))


def inventory_markdown(classes: dict[str, Any]) -> str:
    lines = [
        "| layer class | module | made of | registry | rows in the last sweep | backbones |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in classes.items():
        rows = ", ".join(f"{m} {n}" for m, n in sorted(entry["rows"].items())) or "—"
        used = ", ".join(b.removesuffix("Backbone") for b in entry["backbones"])
        lines.append(
            f"| {name} | {entry['module']} | {entry['made_of']} | {entry['decision']} "
            f"| {rows} | {used} |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- collect + derive


@dataclass
class Row:
    model: str
    params: int = 0
    rows: int = 0
    derived: int = 0
    generic: int = 0
    unknown: int = 0
    opened: int = 0
    params_wrong: list[str] = field(default_factory=list)
    """Rows whose derived parameters differ from ``count_params()``."""
    params_unknown: list[str] = field(default_factory=list)
    """Rows whose parameters could not be derived (a block above one is unknown too)."""
    generic_classes: dict[str, str] = field(default_factory=dict)
    """Class → why it fell back to the generic count (the first row's explanation)."""
    total_params_ok: bool = False
    flops_derived: int | None = None
    flops_profiler: int | None = None
    flops_unknown: list[str] = field(default_factory=list)
    """Classes of the rows whose FLOPs are not derived (the total is then unknown)."""
    layer_flops_checked: int = 0
    layer_flops_agreeing: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def flops_difference(self) -> str:
        if self.flops_derived is None or not self.flops_profiler:
            return "—"
        return f"{(self.flops_derived - self.flops_profiler) / self.flops_profiler:+.2%}"


def config_supports(key: str) -> bool:
    from reportgen import config

    return key in getattr(config, "_MODEL_KEYS", {})


def write_config(names: list[str], path: Path) -> None:
    """A ``reportgen.toml`` naming each backbone's factory in this module."""
    with_length = config_supports("sequence_length")
    blocks = []
    for name in names:
        lines = [
            "[[models]]",
            f'slug = "{slug_of(name)}"',
            f'source = "benchmarks.sweep_hub:build_{name}"',
            f'title.en = "{name} (small, random weights)"',
        ]
        if name in INPUT_SHAPES and config_supports("input_shapes"):
            shapes = ", ".join(f"{k} = {v}" for k, v in INPUT_SHAPES[name].items())
            lines.append(f"input_shapes = {{ {shapes} }}")
        elif with_length:
            lines.append(f"sequence_length = {SEQUENCE_LENGTH}")
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


def run_collect(config: Path, out: Path, jobs: int, timeout: int) -> float:
    """``reportgen collect`` on the generated configuration; returns its wall seconds."""
    start = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "reportgen",
        "collect",
        "--config",
        str(config),
        "--out",
        str(out),
        "--no-profile",
        "--keep-going",
        "--jobs",
        str(jobs),
        "--timeout",
        str(timeout),
        "--quiet",
    ]
    subprocess.run(command, cwd=ROOT, check=False)
    return time.perf_counter() - start


def explanation_en(derivation: Any) -> str:
    text = getattr(derivation.explanation, "en", derivation.explanation)
    return str(text).strip().splitlines()[0][:160] if text else ""


def derive_row(name: str, folder: Path) -> tuple[Row, dict[str, dict[str, int]]]:
    """The row of one collected backbone, and its rows' methods by layer class."""
    from reportgen.derive import derive_model
    from reportgen.facts import read_facts

    row = Row(name)
    by_class: dict[str, dict[str, int]] = {}
    facts_path = folder / "facts.json"
    if not facts_path.exists():
        error = folder / "error.txt"
        row.error = (
            error.read_text(encoding="utf-8").strip().splitlines()[0][:200]
            if error.exists()
            else "collect failed (no facts.json, no error.txt)"
        )
        return row, by_class
    try:
        facts = read_facts(facts_path)
        report = derive_model(facts)
    except Exception as exc:
        row.error = f"derive: {one_line(exc)}"
        return row, by_class
    composite = {layer.name for layer in facts.layers if getattr(layer, "composite", False)}
    row.params = facts.keras_params
    row.rows = len(report.layers)
    for layer in report.layers:
        method = layer.params.method
        if layer.params.value is None:  # a block above an unknown row is unknown too
            row.unknown += 1
            method = "unknown"
            row.params_unknown.append(f"{layer.name} ({layer.class_name})")
        elif layer.name in composite:
            row.opened += 1
            method = "opened"
        elif method == "generic":
            row.generic += 1
            row.generic_classes.setdefault(layer.class_name, explanation_en(layer.params))
        else:
            row.derived += 1
        by_class.setdefault(layer.class_name, {}).setdefault(method, 0)
        by_class[layer.class_name][method] += 1
        if layer.params.value is not None and not layer.params_match:
            row.params_wrong.append(
                f"{layer.name} ({layer.class_name}): {layer.params.value} != {layer.keras_params}"
            )
            by_class[layer.class_name].setdefault("unequal", 0)
            by_class[layer.class_name]["unequal"] += 1
        if layer.flops is None or layer.flops.value is None:
            row.flops_unknown.append(layer.class_name)
        if layer.measured_flops is not None and layer.flops is not None:
            row.layer_flops_checked += 1
            row.layer_flops_agreeing += layer.measured_flops_match
    row.flops_unknown = sorted(set(row.flops_unknown))
    row.total_params_ok = report.totals.params_match
    row.flops_derived = report.totals.flops
    if report.flops is not None:
        row.flops_profiler = report.flops.measured
    elif facts.flops is not None:
        row.flops_profiler = facts.flops.total
    return row, by_class


def coverage_table(rows: list[Row], skipped: dict[str, str]) -> str:
    lines = [
        "| backbone | params | rows | derived | opened | generic | unknown | params ≠ Keras "
        "| FLOPs derived | FLOPs profiler | difference | layers' FLOPs = profiler |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r.error:
            lines.append(f"| {r.model} | | | | | | | | | | | **{r.error}** |")
            continue
        generic = f"{r.generic} ({', '.join(sorted(r.generic_classes))})" if r.generic else "0"
        derived = f"{r.flops_derived:,}" if r.flops_derived is not None else "unknown"
        profiler = f"{r.flops_profiler:,}" if r.flops_profiler is not None else "—"
        lines.append(
            f"| {r.model} | {r.params:,} | {r.rows} | {r.derived} | {r.opened} | {generic} "
            f"| {r.unknown} "
            f"| {len(r.params_wrong)} | {derived} | {profiler} | {r.flops_difference} "
            f"| {r.layer_flops_agreeing}/{r.layer_flops_checked} |"
        )
    ok = [r for r in rows if not r.error]
    total = sum(r.rows for r in ok)
    wrong = sum(len(r.params_wrong) for r in ok)
    lines.append(
        f"| **{len(ok)} of {len(rows)} collected** | | {total} | {sum(r.derived for r in ok)} "
        f"| {sum(r.opened for r in ok)} | {sum(r.generic for r in ok)} "
        f"| {sum(r.unknown for r in ok)} | {wrong} | | | | |"
    )
    if skipped:
        lines.append("")
        lines.append("Not swept:")
        lines.append("")
        lines.extend(f"- `{name}`: {why}" for name, why in sorted(skipped.items()))
    return "\n".join(lines) + "\n"


def generic_reasons(rows: list[Row]) -> dict[str, dict[str, Any]]:
    """Every class that fell back to the generic count: its reason and where."""
    found: dict[str, dict[str, Any]] = {}
    for r in rows:
        for name, why in r.generic_classes.items():
            entry = found.setdefault(name, {"reason": why, "backbones": []})
            entry["backbones"].append(r.model)
    return dict(sorted(found.items()))


def flops_unknown_classes(rows: list[Row]) -> dict[str, list[str]]:
    """Every class with rows whose FLOPs are not derived, and the backbones it is in."""
    found: dict[str, list[str]] = {}
    for r in rows:
        for name in r.flops_unknown:
            found.setdefault(name, []).append(r.model)
    return dict(sorted(found.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", help="comma-separated backbone class names (default: all)")
    parser.add_argument("--out", default="/tmp/hub", help="output folder (default /tmp/hub)")
    parser.add_argument("--jobs", type=int, default=1, help="models collected at the same time")
    parser.add_argument("--timeout", type=int, default=240, help="seconds per model's collect")
    parser.add_argument(
        "--inventory-only", action="store_true", help="build and list layer classes only"
    )
    parser.add_argument(
        "--derive-only",
        action="store_true",
        help="derive again what the last run under --out collected (no build, no collect)",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    names = args.models.split(",") if args.models else backbone_names()
    skipped = {n: NOT_FROM_ARGUMENTS.get(n, "no small configuration in SMALL") for n in names}
    skipped = {n: why for n, why in skipped.items() if n not in SMALL}
    builds = []
    if args.derive_only:
        last = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        builds = [Built(**b) for b in last["builds"] if b["name"] in names]
        skipped = {n: why for n, why in last["skipped"].items() if n in names}
    for name in (n for n in names if n in SMALL and not args.derive_only):
        built = build_for_inventory(name)
        status = built.error or f"{built.params:,} params, {len(built.classes)} classes"
        print(f"build {name}: {status} ({built.seconds:.1f} s)", file=sys.stderr, flush=True)
        if built.error:
            skipped[name] = f"building it failed: {built.error}"
        builds.append(built)
    buildable = [b.name for b in builds if not b.error]
    write_inventory(out, builds, {})
    if args.inventory_only:
        return 0

    collected = out / "collected"
    config = out / "reportgen.toml"
    seconds = 0.0
    if not args.derive_only:
        write_config(buildable, config)
        seconds = run_collect(config, collected, args.jobs, args.timeout)
    rows: list[Row] = []
    swept: dict[str, dict[str, dict[str, int]]] = {}
    for name in buildable:
        row, by_class = derive_row(name, collected / slug_of(name))
        swept[name] = by_class
        rows.append(row)
        print(
            f"{name}: {row.derived} derived, {row.generic} generic, {row.unknown} unknown, "
            f"{len(row.params_wrong)} unequal, FLOPs {row.flops_difference} {row.error}",
            file=sys.stderr,
            flush=True,
        )
    write_inventory(out, builds, swept)
    table = coverage_table(rows, skipped)
    (out / "coverage.md").write_text(table, encoding="utf-8")
    summary = {
        "sequence_length": SEQUENCE_LENGTH if config_supports("sequence_length") else None,
        "image_shape": list(IMAGE),
        "collect_seconds": round(seconds, 1),
        "models": [asdict(r) | {"flops_difference": r.flops_difference} for r in rows],
        "skipped": skipped,
        "generic_classes": generic_reasons(rows),
        "flops_unknown_classes": flops_unknown_classes(rows),
        "builds": [asdict(b) for b in builds],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(table)
    print(f"collect: {seconds:.0f} s for {len(buildable)} models", file=sys.stderr)
    return 1 if any(r.params_wrong or r.params_unknown or r.error for r in rows) else 0


def write_inventory(out: Path, builds: list[Built], swept: dict[str, Any]) -> None:
    classes = inventory(builds, swept)
    (out / "inventory.json").write_text(json.dumps(classes, indent=1) + "\n", encoding="utf-8")
    (out / "inventory.md").write_text(inventory_markdown(classes), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
