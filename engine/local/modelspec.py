"""A model's architecture as the capacity planner needs it, parsed from a Hugging Face ``config.json``.

Pure: takes the parsed JSON dict. Accepts both hybrid-attention schemas in use for DeepSeek V4:
a flat per-layer ``compress_ratios`` list (0 = sliding window only, 4 = CSA, 128 = HCA; entries past
``num_hidden_layers`` are MTP/draft blocks) and transformers' ``layer_types`` + ``compress_rates``.
MLA models (DeepSeek V3/V3.2) and standard multi-/grouped-query attention models are read too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from v4agent.core.errors import ExitCode, V4AgentError
from v4agent.engine.local.recipes import load_recipes

LayerKind = Literal["sliding", "csa", "hca", "mla", "full"]

# Names users type for the published checkpoints, from the dated recipe table (v4agent/data/vllm_recipes.toml):
# the shipped config of each (package data, copied byte-exact from the published files) and the Hugging Face
# repository the vLLM command serves.
_CHECKPOINTS = load_recipes().checkpoints
BUILTIN_MODELS: dict[str, str] = {name: c.config for name, c in _CHECKPOINTS.items() if c.config}
HF_REPOS: dict[str, str] = {name: c.repo for name, c in _CHECKPOINTS.items()}

# transformers' layer_types names -> our kinds.
_LAYER_TYPE_NAMES: dict[str, LayerKind] = {
    "sliding_attention": "sliding",
    "sliding_window": "sliding",
    "sliding": "sliding",
    "compressed_sparse_attention": "csa",
    "csa": "csa",
    "heavily_compressed_attention": "hca",
    "hca": "hca",
    "full_attention": "full",
}


class ModelSpecError(V4AgentError, ValueError, exit_code=ExitCode.USAGE):
    """The config is missing a field the planner needs, or has one it cannot interpret."""


@dataclass(frozen=True)
class Quantization:
    """How the weights are stored: ``weight_dtype`` for dense weights, ``expert_dtype`` for routed experts."""

    weight_dtype: str  # "fp8" | "bf16" | "fp16" | "fp32" | "fp4"
    expert_dtype: str
    block: tuple[int, int] | None = None  # FP8 scale block (rows, cols)


@dataclass(frozen=True)
class ModelSpec:
    """The architecture figures the KV and weight estimates read, one field per config value."""

    name: str
    model_type: str
    hidden_size: int
    vocab_size: int
    num_layers: int
    layer_kinds: tuple[LayerKind, ...]  # one per main layer
    compress_ratios: tuple[int, ...]  # one per main layer; 1 = uncompressed (mla/full), 0 = sliding only
    mtp_kinds: tuple[LayerKind, ...]  # MTP / draft blocks after the main layers
    mtp_ratios: tuple[int, ...]
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int  # V4: latent KV width; standard attention: per-head width
    rope_dim: int
    kv_lora_rank: int  # MLA latent rank (0 when not MLA)
    sliding_window: int  # V4: raw tokens every layer keeps (0 = none)
    index_head_dim: int  # sparse-attention indexer key width (0 = no indexer)
    index_n_heads: int
    index_topk: int
    q_lora_rank: int
    o_lora_rank: int
    o_groups: int
    qk_nope_head_dim: int
    v_head_dim: int
    intermediate_size: int
    moe_intermediate_size: int
    n_routed_experts: int
    n_shared_experts: int
    experts_per_token: int
    first_dense_layers: int
    hc_mult: int
    tie_word_embeddings: bool
    max_position_embeddings: int
    quantization: Quantization
    # The draft head speculative decoding uses: "mtp" (MTP blocks run as full layers with their own KV),
    # "dspark" (0731/0813: a DSpark module drafting from the target's hidden states; the trailing
    # compress_ratios entries are its blocks, not MTP layers, and keep no KV of their own), or "none".
    draft: str = "mtp"

    @property
    def is_v4(self) -> bool:
        """True for DeepSeek V4's hybrid attention (sliding, CSA and HCA layers)."""
        return any(kind in ("sliding", "csa", "hca") for kind in self.layer_kinds)

    @property
    def draft_kv_layers(self) -> bool:
        """True when the draft blocks are MTP layers with a KV cache of their own."""
        return self.draft == "mtp" and bool(self.mtp_ratios)

    @property
    def is_mla(self) -> bool:
        """True when the model stores MLA latent rows (a nonzero ``kv_lora_rank``)."""
        return self.kv_lora_rank > 0

    def kind_counts(self) -> dict[str, int]:
        """How many main layers there are of each attention kind."""
        counts: dict[str, int] = {}
        for kind in self.layer_kinds:
            counts[kind] = counts.get(kind, 0) + 1
        return counts


def builtin_config_path(name: str) -> Path:
    """Path of a shipped config; raises ModelSpecError naming the known models."""
    filename = BUILTIN_MODELS.get(name.lower())
    if filename is None and name.lower() in HF_REPOS:
        repo = HF_REPOS[name.lower()]
        raise ModelSpecError(f"no config.json is shipped for {name} yet",
                             hint=f"download config.json from https://huggingface.co/{repo} and pass its path "
                                  "as --model (with --weights " + repo + ")")
    if filename is None:
        known = ", ".join(sorted(BUILTIN_MODELS))
        raise ModelSpecError(f"unknown model {name!r}; known: {known}, or give a path to a config.json")
    return Path(str(resources.files("v4agent").joinpath("data", "configs", filename)))


def load_model_spec(model: str) -> ModelSpec:
    """A shipped model name, a config.json path, or a model directory containing config.json."""
    if model.lower() in HF_REPOS:
        path = builtin_config_path(model)
        name = model.lower()
    else:
        path = Path(model)
        if path.is_dir():
            path = path / "config.json"
        if not path.is_file():
            known = ", ".join(sorted(BUILTIN_MODELS))
            raise ModelSpecError(f"no such model or config file: {model} (known models: {known})")
        name = str(path.parent.name if path.name == "config.json" else path.name)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelSpecError(f"{path}: not a readable JSON config: {exc}") from None
    if not isinstance(raw, dict):
        raise ModelSpecError(f"{path}: a config.json must be a JSON object")
    return parse_config(raw, name=name)


def _int(raw: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = raw.get(key, default)
    if value is None:
        raise ModelSpecError(f"config.json has no {key!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelSpecError(f"config.json: {key!r} must be an integer, got {value!r}")
    return value


def _kind_for_ratio(ratio: int) -> LayerKind:
    if ratio == 0:
        return "sliding"
    if ratio <= 16:  # CSA compresses lightly and keeps an indexer; HCA compresses by 64+ (128 in V4)
        return "csa"
    return "hca"


def _hybrid_layout(raw: Mapping[str, Any], num_layers: int) -> tuple[list[int], list[int]] | None:
    """(main-layer ratios, MTP ratios) from either schema, or None for a model without hybrid attention."""
    ratios = raw.get("compress_ratios")
    if ratios is not None:
        if not isinstance(ratios, list) or not all(isinstance(r, int) and r >= 0 for r in ratios):
            raise ModelSpecError("config.json: 'compress_ratios' must be a list of non-negative integers")
        if len(ratios) < num_layers:
            raise ModelSpecError(
                f"config.json: 'compress_ratios' has {len(ratios)} entries for {num_layers} layers")
        return list(ratios[:num_layers]), list(ratios[num_layers:])
    types = raw.get("layer_types")
    if types is None:
        return None
    if not isinstance(types, list) or len(types) < num_layers:
        raise ModelSpecError(f"config.json: 'layer_types' must list at least {num_layers} layer types")
    rates = raw.get("compress_rates") or {}
    if not isinstance(rates, dict):
        raise ModelSpecError("config.json: 'compress_rates' must map layer types to ratios")
    out: list[int] = []
    for layer_type in types:
        kind = _LAYER_TYPE_NAMES.get(str(layer_type))
        if kind is None:
            raise ModelSpecError(f"config.json: unknown layer type {layer_type!r} in 'layer_types'")
        if kind == "sliding":
            out.append(0)
        elif kind == "full":
            out.append(1)
        else:
            rate = rates.get(layer_type, rates.get(kind, 4 if kind == "csa" else 128))
            if not isinstance(rate, int) or rate < 2:
                raise ModelSpecError(f"config.json: compress rate for {layer_type!r} must be an integer >= 2")
            out.append(rate)
    main, extra = out[:num_layers], out[num_layers:]
    if not extra:
        # transformers truncates layer_types to the main layers: MTP blocks are sliding-window blocks.
        extra = [0] * int(raw.get("num_nextn_predict_layers", 0) or 0)
    return main, extra


def _quantization(raw: Mapping[str, Any]) -> Quantization:
    torch_dtype = str(raw.get("torch_dtype") or raw.get("dtype") or "bfloat16")
    base = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(torch_dtype, "bf16")
    quant = raw.get("quantization_config")
    weight = base
    block: tuple[int, int] | None = None
    if isinstance(quant, dict):
        method = str(quant.get("quant_method", "")).lower()
        if method == "fp8" or str(quant.get("fmt", "")).startswith("e4m3"):
            weight = "fp8"
        elif method in ("mxfp4", "fp4", "nvfp4"):
            weight = "fp4"
        size = quant.get("weight_block_size")
        if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size):
            block = (size[0], size[1])
    expert = str(raw.get("expert_dtype") or weight).lower()
    if expert not in ("fp4", "fp8", "bf16", "fp16", "fp32"):
        raise ModelSpecError(f"config.json: unknown expert_dtype {expert!r}")
    return Quantization(weight_dtype=weight, expert_dtype=expert, block=block)


def parse_config(raw: Mapping[str, Any], *, name: str = "model") -> ModelSpec:
    """Parse a config.json dict. Raises ModelSpecError with the missing or bad key."""
    num_layers = _int(raw, "num_hidden_layers")
    hidden = _int(raw, "hidden_size")
    heads = _int(raw, "num_attention_heads")
    kv_lora_rank = _int(raw, "kv_lora_rank", 0)
    layout = _hybrid_layout(raw, num_layers)
    mtp_count = _int(raw, "num_nextn_predict_layers", 0)
    kinds: tuple[LayerKind, ...]
    mtp_kinds: tuple[LayerKind, ...]
    if layout is not None:
        main, extra = layout
        kinds = tuple(_kind_for_ratio(r) if r != 1 else "full" for r in main)
        mtp_ratios = tuple(extra) if extra else (0,) * mtp_count
        mtp_kinds = tuple(_kind_for_ratio(r) if r != 1 else "full" for r in mtp_ratios)
        ratios = tuple(main)
        head_dim = _int(raw, "head_dim")
    elif kv_lora_rank > 0:
        mla: LayerKind = "mla"
        kinds = (mla,) * num_layers
        ratios = (1,) * num_layers
        mtp_kinds = (mla,) * mtp_count
        mtp_ratios = (1,) * mtp_count
        head_dim = _int(raw, "qk_nope_head_dim", 128) + _int(raw, "qk_rope_head_dim", 64)
    else:
        full: LayerKind = "full"
        kinds = (full,) * num_layers
        ratios = (1,) * num_layers
        mtp_kinds = (full,) * mtp_count
        mtp_ratios = (1,) * mtp_count
        head_dim = _int(raw, "head_dim", hidden // heads)
    moe_experts = _int(raw, "n_routed_experts", 0) or _int(raw, "num_local_experts", 0)
    first_dense = _int(raw, "first_k_dense_replace", 0) if moe_experts else num_layers
    intermediate = _int(raw, "intermediate_size", 0)
    if moe_experts == 0 and intermediate == 0:
        raise ModelSpecError("config.json has neither 'intermediate_size' nor routed experts")
    return ModelSpec(
        name=name,
        model_type=str(raw.get("model_type", "")),
        hidden_size=hidden,
        vocab_size=_int(raw, "vocab_size"),
        num_layers=num_layers,
        layer_kinds=kinds,
        compress_ratios=ratios,
        mtp_kinds=mtp_kinds,
        mtp_ratios=mtp_ratios,
        num_attention_heads=heads,
        num_kv_heads=_int(raw, "num_key_value_heads", heads),
        head_dim=head_dim,
        rope_dim=_int(raw, "qk_rope_head_dim", 0),
        kv_lora_rank=kv_lora_rank,
        sliding_window=_int(raw, "sliding_window", 0) if layout is not None else 0,
        index_head_dim=_int(raw, "index_head_dim", 0),
        index_n_heads=_int(raw, "index_n_heads", 0),
        index_topk=_int(raw, "index_topk", 0),
        q_lora_rank=_int(raw, "q_lora_rank", 0),
        o_lora_rank=_int(raw, "o_lora_rank", 0),
        o_groups=_int(raw, "o_groups", 0),
        qk_nope_head_dim=_int(raw, "qk_nope_head_dim", 0),
        v_head_dim=_int(raw, "v_head_dim", 0),
        intermediate_size=intermediate,
        moe_intermediate_size=_int(raw, "moe_intermediate_size", 0),
        n_routed_experts=moe_experts,
        n_shared_experts=_int(raw, "n_shared_experts", 0),
        experts_per_token=_int(raw, "num_experts_per_tok", 0),
        first_dense_layers=first_dense,
        hc_mult=_int(raw, "hc_mult", 1),
        tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
        max_position_embeddings=_int(raw, "max_position_embeddings", 4096),
        quantization=_quantization(raw),
        draft=_draft(raw, mtp_ratios),
    )


def _draft(raw: Mapping[str, Any], mtp_ratios: Sequence[int]) -> str:
    # A DSpark checkpoint carries a dspark_* block in config.json (vLLM recipes, DeepSeek-V4-Flash.yaml:
    # "their config.json carries no dspark_* block" for the MTP-only preview checkpoints).
    if any(str(key).startswith("dspark_") for key in raw):
        return "dspark"
    return "mtp" if mtp_ratios else "none"


def to_layer_types(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite a flat-``compress_ratios`` config into the ``layer_types`` + ``compress_rates`` schema.

    Used by tests (both schemas must plan the same) and to write configs for vLLM builds that read the
    other schema. The MTP entries are dropped, as transformers does.
    """
    ratios: Sequence[int] = raw["compress_ratios"]
    num_layers = int(raw["num_hidden_layers"])
    names = {0: "sliding_attention"}
    types = []
    rates: dict[str, int] = {}
    for ratio in ratios[:num_layers]:
        if ratio == 0:
            types.append(names[0])
            continue
        layer_type = "compressed_sparse_attention" if _kind_for_ratio(ratio) == "csa" else "heavily_compressed_attention"
        rates[layer_type] = ratio
        types.append(layer_type)
    out = {k: v for k, v in raw.items() if k != "compress_ratios"}
    out["layer_types"] = types
    out["compress_rates"] = rates
    return out
