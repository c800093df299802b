"""Bytes a model stores per token and per sequence in the KV cache, and its weight bytes. Pure.

Dtype assumptions (stated in every plan):
- V4 compressed and sliding-window entries are one latent row of ``head_dim``. bf16: 2 bytes per element.
  fp8 (vLLM's V4 format): the non-RoPE part in fp8, the RoPE part in bf16, one ue8m0 scale byte per 64
  fp8 elements, padded to 8 bytes: 448 + 128 + 8 = 584 bytes for head_dim 512.
- The CSA indexer keeps one key row of ``index_head_dim`` per compressed entry, whatever the KV dtype: vLLM
  stores fp8 (1 byte per element plus one fp32 scale: 132 B) or, on Blackwell, MXFP4 (half a byte per element
  plus one ue8m0 scale byte per 32: 68 B). There is no bf16 indexer cache in vLLM; "bf16" indexer keys
  (256 B) exist here only to reproduce the arithmetic of vLLM's V4 announcement.
- MLA (V3/V3.2): one row of ``kv_lora_rank + qk_rope_head_dim``: bf16 2 bytes per element; fp8 in vLLM's
  sparse-MLA format: the latent in fp8, one fp32 scale per 128 latent elements, RoPE in bf16 (656 bytes).
- Standard attention: K and V for every KV head, dtype bytes per element.
- Weights: fp8 with one fp32 scale per 128x128 block; fp4 experts with one ue8m0 scale byte per 32
  elements; embeddings, norms and routers in bf16.
"""

from __future__ import annotations

from dataclasses import dataclass

from v4agent.engine.local.modelspec import LayerKind, ModelSpec

KV_DTYPES = ("fp8", "bf16")
INDEXER_DTYPES = ("fp8", "mxfp4", "bf16")  # bf16: the announcement's arithmetic only, never what vLLM stores

_BYTES_PER_PARAM = {
    "fp4": 0.5 + 1 / 32,
    "fp8": 1 + 4 / (128 * 128),
    "bf16": 2.0,
    "fp16": 2.0,
    "fp32": 4.0,
}


def _check_dtype(kv_dtype: str) -> None:
    if kv_dtype not in KV_DTYPES:
        raise ValueError(f"unknown KV dtype {kv_dtype!r}; use one of {', '.join(KV_DTYPES)}")


def latent_entry_bytes(spec: ModelSpec, kv_dtype: str) -> int:
    """One stored row of a V4 layer (compressed or sliding-window entry)."""
    _check_dtype(kv_dtype)
    if kv_dtype == "bf16":
        return spec.head_dim * 2
    nope = spec.head_dim - spec.rope_dim
    scales = -(-nope // 64)
    return _round_up(nope + spec.rope_dim * 2 + scales, 8)


def indexer_entry_bytes(spec: ModelSpec, indexer_dtype: str = "fp8") -> int:
    """Bytes of one sparse-attention indexer key (0 for a model without an indexer)."""
    if indexer_dtype not in INDEXER_DTYPES:
        raise ValueError(f"unknown indexer dtype {indexer_dtype!r}; use one of {', '.join(INDEXER_DTYPES)}")
    dim = spec.index_head_dim
    if dim == 0:
        return 0
    if indexer_dtype == "mxfp4":
        return dim // 2 + -(-dim // 32)
    return dim * 2 if indexer_dtype == "bf16" else dim + 4


def mla_entry_bytes(spec: ModelSpec, kv_dtype: str) -> int:
    """Bytes of one MLA latent row: the latent and rope parts, plus scales in fp8."""
    _check_dtype(kv_dtype)
    if kv_dtype == "bf16":
        return (spec.kv_lora_rank + spec.rope_dim) * 2
    return spec.kv_lora_rank + 4 * -(-spec.kv_lora_rank // 128) + spec.rope_dim * 2


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class LayerKv:
    """KV cost of one layer: ``per_token`` grows with the sequence; ``per_sequence`` is a fixed cost."""

    kind: LayerKind
    ratio: int
    per_token: float  # marginal bytes per token of context
    per_sequence: int  # bytes held per sequence whatever its length (sliding window, compressor state)
    window: int = 0  # the sliding-window rows within per_sequence (the rest is fp32 compressor state)


def _paged(entry: int, ratio: int, block_size: int | None, kv_dtype: str) -> float:
    """Bytes per token of a compressed cache stored in vLLM pages: a block of ``block_size`` tokens holds
    ``block_size / ratio`` entries, and vLLM pads each page to 576 bytes (fp8_ds_mla) or 512 (bf16)."""
    if not block_size:
        return entry / ratio
    align = 576 if kv_dtype == "fp8" else 512
    return _round_up(max(block_size // ratio, 1) * entry, align) / block_size


def layer_kv(spec: ModelSpec, kind: LayerKind, ratio: int, kv_dtype: str, block_size: int | None = None,
             indexer_dtype: str = "fp8") -> LayerKv:
    """Bytes for one layer. CSA/HCA store one latent row per ``ratio`` tokens (CSA adds the indexer key);
    every V4 layer keeps the last ``sliding_window`` raw rows; compressing layers keep ``ratio`` tokens of
    fp32 compressor state (kv + score), CSA twice as many tokens twice as wide (overlapping windows)."""
    if kind == "mla":
        per = mla_entry_bytes(spec, kv_dtype) + indexer_entry_bytes(spec, indexer_dtype)
        return LayerKv(kind, 1, float(per), 0)
    if kind == "full":
        bytes_per = 2 if kv_dtype == "bf16" else 1
        return LayerKv(kind, 1, float(2 * spec.num_kv_heads * spec.head_dim * bytes_per), 0)
    entry = latent_entry_bytes(spec, kv_dtype)
    window = spec.sliding_window * entry
    if kind == "sliding":
        return LayerKv(kind, 0, 0.0, window, window)
    per_token = _paged(entry, ratio, block_size, kv_dtype)
    # CSA's compression windows overlap: it keeps 2 x ratio tokens of state, each twice as wide.
    coff = 2 if kind == "csa" else 1
    state = coff * ratio * 2 * coff * spec.head_dim * 4
    if kind == "csa":
        per_token += _paged(indexer_entry_bytes(spec, indexer_dtype), ratio, block_size, kv_dtype)
        state += coff * ratio * 2 * coff * spec.index_head_dim * 4  # the indexer's own compressor
    return LayerKv(kind, ratio, per_token, window + state, window)


@dataclass(frozen=True)
class KvFootprint:
    """The KV cost of a model's layers at one KV dtype."""

    layers: tuple[LayerKv, ...]  # main layers, then MTP layers when included
    kv_dtype: str
    indexer_dtype: str = "fp8"

    @property
    def per_token(self) -> float:
        """Marginal bytes per token of context, summed over the layers."""
        return sum(layer.per_token for layer in self.layers)

    @property
    def per_sequence(self) -> int:
        """Fixed bytes per sequence whatever its length, summed over the layers."""
        return sum(layer.per_sequence for layer in self.layers)

    def bytes_for(self, tokens: int) -> float:
        """KV bytes one sequence of ``tokens`` tokens stores (no paging). What vLLM reserves for it, in whole
        blocks of its shared pool, is ``kvpages.PagedLayout.bytes_per_sequence`` (the planner's capacity)."""
        return self.per_token * tokens + self.per_sequence

    def entries_for(self, tokens: int) -> float:
        """Cache entries one sequence of ``tokens`` stores: compressed rows, indexer keys and sliding-window rows,
        without the fp32 compressor state (transient, and left out of DeepSeek's published comparison)."""
        return self.per_token * tokens + sum(layer.window for layer in self.layers)

    def by_kind(self) -> dict[str, dict[str, float]]:
        """{kind: {"layers": n, "per_token_per_layer": bytes, "per_token": bytes, "per_sequence": bytes}}."""
        out: dict[str, dict[str, float]] = {}
        for layer in self.layers:
            row = out.setdefault(layer.kind, {"layers": 0, "per_token_per_layer": layer.per_token,
                                              "per_token": 0.0, "per_sequence": 0})
            row["layers"] += 1
            row["per_token"] += layer.per_token
            row["per_sequence"] += layer.per_sequence
        return out


def kv_footprint(spec: ModelSpec, kv_dtype: str = "fp8", *, include_mtp: bool = False,
                 block_size: int | None = None, indexer_dtype: str = "fp8") -> KvFootprint:
    """All layers' KV. ``block_size`` adds vLLM's page padding of compressed caches (none: exact bytes)."""
    pairs = list(zip(spec.layer_kinds, spec.compress_ratios, strict=True))
    if include_mtp and spec.draft_kv_layers:
        pairs += list(zip(spec.mtp_kinds, spec.mtp_ratios, strict=True))
    layers = [layer_kv(spec, kind, ratio, kv_dtype, block_size if spec.is_v4 else None, indexer_dtype)
              for kind, ratio in pairs]
    return KvFootprint(tuple(layers), kv_dtype, indexer_dtype)


@dataclass(frozen=True)
class WeightBytes:
    """Estimated weight bytes, split by how they parallelize: routed experts shard over expert parallel,
    the rest (attention, shared experts, embeddings) over tensor parallel or is replicated per DP rank."""

    experts: float
    dense: float
    mtp: float  # the MTP/draft blocks (loaded only with speculative decoding)

    def total(self, *, include_mtp: bool = False) -> float:
        """All weight bytes; the MTP blocks count only when ``include_mtp``."""
        return self.experts + self.dense + (self.mtp if include_mtp else 0.0)


def _attention_params(spec: ModelSpec, ratio: int) -> int:
    h, heads = spec.hidden_size, spec.num_attention_heads
    if spec.is_v4:
        params = h * spec.q_lora_rank + spec.q_lora_rank * heads * spec.head_dim + h * spec.head_dim
        params += heads * spec.head_dim * spec.o_lora_rank + max(spec.o_groups, 1) * spec.o_lora_rank * h
        if ratio > 0:
            overlap = 2 if ratio <= 16 else 1
            params += 2 * h * spec.head_dim * overlap  # compressor kv + gate projections
            if overlap == 2:  # CSA's indexer: queries, head weights, and its own compressor
                params += spec.q_lora_rank * spec.index_n_heads * spec.index_head_dim + h * spec.index_n_heads
                params += 2 * h * spec.index_head_dim * 2
        return params + 2 * spec.hc_mult * h * (2 * spec.hc_mult + spec.hc_mult**2)
    if spec.is_mla:
        qk = spec.qk_nope_head_dim + spec.rope_dim
        q = h * spec.q_lora_rank + spec.q_lora_rank * heads * qk if spec.q_lora_rank else h * heads * qk
        params = q + h * (spec.kv_lora_rank + spec.rope_dim)
        params += spec.kv_lora_rank * heads * (spec.qk_nope_head_dim + spec.v_head_dim) + heads * spec.v_head_dim * h
        if spec.index_head_dim:
            params += spec.q_lora_rank * spec.index_n_heads * spec.index_head_dim
            params += h * spec.index_head_dim + h * spec.index_n_heads
        return params
    return 2 * h * heads * spec.head_dim + 2 * h * spec.num_kv_heads * spec.head_dim


def weight_bytes(spec: ModelSpec) -> WeightBytes:
    """Estimate from the config: parameter counts times the bytes per parameter of their storage dtype."""
    q = spec.quantization
    dense_b, expert_b = _BYTES_PER_PARAM[q.weight_dtype], _BYTES_PER_PARAM[q.expert_dtype]
    h = spec.hidden_size
    expert_params_per_layer = spec.n_routed_experts * 3 * h * spec.moe_intermediate_size
    shared_per_layer = spec.n_shared_experts * 3 * h * spec.moe_intermediate_size
    experts = 0.0
    dense = 0.0
    for index, ratio in enumerate(spec.compress_ratios):
        dense += _attention_params(spec, ratio) * dense_b
        if spec.n_routed_experts and index >= spec.first_dense_layers:
            experts += expert_params_per_layer * expert_b
            dense += shared_per_layer * dense_b + h * spec.n_routed_experts * 2  # shared experts, bf16 router
        else:
            dense += 3 * h * spec.intermediate_size * dense_b
    embeddings = spec.vocab_size * h * (1 if spec.tie_word_embeddings else 2) * 2
    dense += embeddings
    mtp = 0.0
    for ratio in spec.mtp_ratios:
        mtp += _attention_params(spec, ratio) * dense_b + 2 * h * h * dense_b  # + the embedding/hidden merge
        if spec.n_routed_experts:
            mtp += expert_params_per_layer * expert_b + shared_per_layer * dense_b
        else:
            mtp += 3 * h * spec.intermediate_size * dense_b
    return WeightBytes(experts=experts, dense=dense, mtp=mtp)


def dtype_assumptions(spec: ModelSpec, kv_dtype: str, indexer_dtype: str = "fp8") -> list[str]:
    """Plain sentences for the plan's output: what each figure assumes."""
    q = spec.quantization
    lines = [f"weights: {q.weight_dtype} dense layers, {q.expert_dtype} routed experts, bf16 embeddings "
             "(estimated from config.json parameter counts)"]
    if spec.is_v4:
        lines.append(f"KV: {kv_dtype} latent rows of {spec.head_dim} ({latent_entry_bytes(spec, kv_dtype)} bytes), "
                     f"{indexer_dtype} indexer keys {indexer_entry_bytes(spec, indexer_dtype)} bytes, "
                     f"sliding window {spec.sliding_window} raw rows per layer, compressor state in fp32")
    elif spec.is_mla:
        lines.append(f"KV: {kv_dtype} MLA rows ({mla_entry_bytes(spec, kv_dtype)} bytes)"
                     + (f" + {indexer_dtype} indexer keys ({indexer_entry_bytes(spec, indexer_dtype)} bytes)" if spec.index_head_dim else ""))
    else:
        lines.append(f"KV: {kv_dtype} K and V for {spec.num_kv_heads} KV heads of {spec.head_dim}")
    return lines
