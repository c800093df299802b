"""The capacity planner: does a model fit this hardware, how long a context, how many sequences. Pure.

Memory per GPU = utilization x GPU memory - weights on that GPU - a runtime reserve (activations, CUDA
graphs, communication buffers); the rest is the KV pool. V4 and MLA keep one latent KV head, which tensor
parallel replicates rather than splits, so each GPU of a tensor-parallel group holds the KV of all its
sequences for the layers it runs; data-parallel ranks each hold their own sequences; pipeline stages split
the layers. Routed experts shard over expert parallel (all GPUs); the rest splits over TP or is replicated
per DP rank.

V4 capacity follows vLLM's paged allocator (``kvpages``): whole blocks of one shared pool per cache group,
sliding-window and compressor-state groups sized for the tokens in flight. MLA and standard attention keep
one uniform page per block, which the bytes-per-token model with block round-up already matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

from v4agent.core.errors import ExitCode, V4AgentError
from v4agent.engine.local.backend import Resolution, family_for, resolve
from v4agent.engine.local.hardware import GIB, Hardware, load_gpu_table
from v4agent.engine.local.kvmodel import KvFootprint, dtype_assumptions, kv_footprint, weight_bytes
from v4agent.engine.local.kvpages import PagedLayout, default_batched_tokens, paged_layout
from v4agent.engine.local.modelspec import ModelSpec
from v4agent.engine.local.recipes import AttentionRuntime, load_recipes

Mode = Literal["tp", "dp", "tp-pp"]
MODES: tuple[Mode, ...] = ("tp", "dp", "tp-pp")


@dataclass(frozen=True)
class PlanRequest:
    """What the user asks of a plan: context, concurrency, KV dtype, memory headroom, parallel mode."""

    context: int | None = None  # tokens wanted for one sequence; None = as long as fits (up to the model's max)
    concurrency: int = 1
    kv_dtype: str = "fp8"
    gpu_memory_utilization: float | None = None  # None = the recipe's for this model and GPU, else 0.90
    reserve_gib: float = 4.0  # per GPU, outside the KV pool: activations, graphs, NCCL buffers
    mode: Mode | Literal["auto"] = "auto"
    mtp: bool = False  # MTP speculative decoding: loads the draft blocks and their KV
    block_size: int | None = None  # None = 256 for V4 (vLLM's recipe), 16 otherwise
    min_context: int = 8192  # the smallest context worth serving when --context is not given
    max_num_batched_tokens: int | None = None  # None = vLLM's default for the GPU (2048, 8192 or 16384)
    indexer_dtype: str | None = None  # None = vLLM's choice on the GPU (MXFP4 on Blackwell for V4, else fp8)
    max_num_seqs: int | None = None  # a recipe's cap on running sequences (Pro on Hopper: 16); None = vLLM's

    @property
    def utilization(self) -> float:
        """The fraction of GPU memory vLLM may use."""
        return self.gpu_memory_utilization if self.gpu_memory_utilization is not None else 0.90


@dataclass(frozen=True)
class Parallelism:
    """How a plan splits the model over GPUs: tensor, data and pipeline sizes, expert parallel or not."""

    tensor: int
    data: int
    pipeline: int
    expert: bool
    mode: Mode

    def as_dict(self) -> dict[str, Any]:
        """The sizes under vLLM's option names, with the expert-parallel size derived."""
        return {"tensor_parallel_size": self.tensor, "data_parallel_size": self.data,
                "pipeline_parallel_size": self.pipeline, "enable_expert_parallel": self.expert,
                "expert_parallel_size": self.tensor * self.data * self.pipeline if self.expert else 1,
                "mode": self.mode}


@dataclass(frozen=True)
class Plan:
    """The planner's answer for one parallel mode: memory per GPU, context, concurrency, whether it fits."""

    model: str
    attention: str  # "hybrid" (V4: CSA/HCA/sliding), "mla", or "standard"
    hardware: Hardware
    request: PlanRequest
    parallelism: Parallelism
    block_size: int
    weights_total_bytes: int
    weights_bytes_per_gpu: int
    kv_pool_bytes_per_gpu: int  # may be negative: the weights alone do not fit
    kv: KvFootprint
    kv_bytes_per_token_per_gpu: float
    kv_bytes_per_sequence_per_gpu: int
    max_context_tokens: int  # longest single sequence that fits (capped at the model's max)
    target_context: int  # the context the concurrency figure is for
    max_concurrent_sequences: int
    pool_tokens: int  # vLLM's "KV cache size": sequences that fit x target context, per replica
    fits: bool
    problems: tuple[str, ...]
    assumptions: tuple[str, ...]
    alternatives: tuple[dict[str, Any], ...] = field(default=())
    pages: dict[str, int] = field(default_factory=dict)  # V4: vLLM's block pool (block bytes, groups, ...)
    layout: PagedLayout | None = field(default=None, compare=False)  # V4: the caches' groups (not in to_json)
    runtime: AttentionRuntime | None = None  # the backend and cache dtypes vLLM will run
    family: str = ""  # the recipe family: "v4-flash", "v4-pro", "v3.2" or ""
    warnings: tuple[str, ...] = ()  # runs, but the user should know (a GPU in no recipe, a dtype vLLM overrides)
    generation: str = ""  # the GPU generation the recipes key on ("hopper", "blackwell", ...)
    draft: str = "mtp"  # the checkpoint's draft head: "mtp", "dspark" or "none"

    def to_json(self) -> dict[str, Any]:
        """The plan as a JSON-ready dict (the layout object left out)."""
        return {
            "model": self.model,
            "attention": self.attention,
            "hardware": {"gpu": self.hardware.gpu.name, "gpu_memory_gib": self.hardware.gpu.memory_gib,
                         "gpus_per_node": self.hardware.gpus_per_node, "nodes": self.hardware.nodes},
            "weights_bytes": self.weights_bytes_per_gpu,
            "weights_total_bytes": self.weights_total_bytes,
            "kv_bytes_per_token": round(self.kv.per_token, 4),
            "kv_bytes_per_token_per_gpu": round(self.kv_bytes_per_token_per_gpu, 4),
            "kv_bytes_per_sequence_fixed": self.kv.per_sequence,
            "kv_by_layer_kind": self.kv.by_kind(),
            "kv_dtype": self.kv.kv_dtype,
            "kv_pool_bytes_per_gpu": self.kv_pool_bytes_per_gpu,
            "kv_pool_tokens": self.pool_tokens,
            "block_size": self.block_size,
            "max_context_tokens": self.max_context_tokens,
            "context_tokens": self.target_context,
            "max_concurrent_sequences": self.max_concurrent_sequences,
            "fits": self.fits,
            "problems": list(self.problems),
            "parallelism": self.parallelism.as_dict(),
            "assumptions": list(self.assumptions),
            "vllm_pages": dict(self.pages),
            "runtime": {"attention_backend": self.runtime.backend, "kv_cache_dtype": self.runtime.kv_cache_dtype,
                        "indexer_dtype": self.runtime.indexer_dtype} if self.runtime else None,
            "recipe_family": self.family,
            "warnings": list(self.warnings),
        }


class PlanError(V4AgentError, ValueError, exit_code=ExitCode.USAGE):
    """The request itself is impossible (for example a context beyond the model's maximum)."""


def tp_divides(spec: ModelSpec, tp: int) -> bool:
    """vLLM splits the attention heads and (V4) the output-projection groups over TP: both must divide."""
    return spec.num_attention_heads % tp == 0 and (spec.o_groups == 0 or spec.o_groups % tp == 0)


def _parallelism(spec: ModelSpec, hw: Hardware, mode: Mode) -> Parallelism | None:
    moe = spec.n_routed_experts > 0
    if mode == "tp":
        tp = hw.total_gpus
        return Parallelism(tp, 1, 1, moe, mode) if tp_divides(spec, tp) else None
    if mode == "dp":
        return Parallelism(1, hw.total_gpus, 1, moe, mode)
    if hw.nodes == 1 or not tp_divides(spec, hw.gpus_per_node):
        return None
    return Parallelism(hw.gpus_per_node, 1, hw.nodes, moe, mode)


def _evaluate(spec: ModelSpec, hw: Hardware, req: PlanRequest, par: Parallelism, block: int,
              res: Resolution) -> Plan:
    weights = weight_bytes(spec)
    include_mtp = req.mtp
    kv_dtype, indexer = res.runtime.kv_dtype, res.runtime.indexer_dtype or "fp8"
    kv = kv_footprint(spec, kv_dtype, include_mtp=include_mtp, block_size=block, indexer_dtype=indexer)
    shards = par.tensor * par.pipeline
    experts = weights.experts + (weights.mtp * 0.9 if include_mtp else 0.0)  # MTP blocks are mostly experts
    dense = weights.dense + (weights.mtp * 0.1 if include_mtp else 0.0)
    per_gpu_weights = experts / (shards * par.data) if par.expert else experts / shards
    per_gpu_weights += dense / shards
    budget = hw.memory_bytes_per_gpu * req.utilization - req.reserve_gib * GIB
    pool = int(budget - per_gpu_weights)
    # Latent KV (V4, MLA) is replicated over TP; standard attention splits its KV heads.
    kv_split = min(par.tensor, spec.num_kv_heads) if not (spec.is_v4 or spec.is_mla) else 1
    per_token = kv.per_token / kv_split / par.pipeline
    per_seq = kv.per_sequence // kv_split // par.pipeline
    problems: list[str] = list(res.problems)
    if req.mtp and spec.draft == "none":
        problems.append(f"{spec.name} has no draft head (no MTP blocks, no DSpark module): drop --mtp")
    pool_tokens = 0
    max_context = 0
    layout: PagedLayout | None = None
    batched = in_flight = 0
    if spec.is_v4:
        layout = paged_layout(spec, kv_dtype, block, include_mtp=include_mtp, indexer_dtype=indexer)
        # Tokens scheduled but not yet freed: a batch per pipeline stage plus one (async scheduling).
        batched = req.max_num_batched_tokens or default_batched_tokens(hw.gpu.name, hw.gpu.memory_gib)
        in_flight = batched * (par.pipeline + 1)
        # Each pipeline stage holds about 1/PP of every group's pages: the model in PP x the pool.
        per_token = layout.per_token() / par.pipeline
    if pool <= 0:
        need = (experts + dense) / req.utilization + req.reserve_gib * GIB * hw.total_gpus
        problems.append(
            f"weights need {per_gpu_weights / GIB:.1f} GiB per GPU (+{req.reserve_gib:g} GiB runtime reserve) "
            f"but {req.utilization:.0%} of a {hw.gpu.memory_gib:g} GiB GPU is "
            f"{hw.memory_bytes_per_gpu * req.utilization / GIB:.1f} GiB; the weights alone need more "
            f"than {need / GIB:.0f} GiB of GPU memory in all (this plan has {hw.total_gpus * hw.gpu.memory_gib:.0f} GiB)")
    elif layout is not None:
        longest = layout.longest_context(pool * par.pipeline, in_flight, spec.max_position_embeddings)
        max_context = longest if longest == spec.max_position_embeddings else longest // block * block
    else:
        pool_tokens = int(pool // per_token) // block * block if per_token else 0
        usable = max(pool - per_seq, 0)
        max_context = int(usable // per_token) // block * block if per_token else spec.max_position_embeddings
        max_context = min(max_context, spec.max_position_embeddings)
    target = req.context if req.context is not None else max_context
    if pool > 0 and max_context < (req.context or req.min_context):
        problems.append(f"one sequence of {req.context or req.min_context:,} tokens does not fit: "
                        f"the KV pool holds at most {max_context:,} tokens per sequence"
                        + (f" (vLLM reserves sliding-window and compressor-state pages for {in_flight:,} tokens "
                           "in flight; a smaller --max-num-batched-tokens lowers that)" if layout else ""))
    concurrent = 0
    pages: dict[str, int] = {}
    if layout is not None:
        per_seq = layout.fixed_bytes(max(target, 1), in_flight) // par.pipeline
        pages = {"block_bytes": layout.block_bytes, "groups": len(layout.groups), "in_flight_tokens": in_flight,
                 "max_num_batched_tokens": batched,
                 "bytes_per_sequence": layout.bytes_per_sequence(max(target, 1), in_flight) // par.pipeline}
    if pool > 0 and target > 0:
        if layout is not None:
            capacity = layout.capacity(pool * par.pipeline, target, in_flight)
            concurrent, pool_tokens = int(capacity.sequences) * par.data, capacity.tokens
        else:
            seq_bytes = -(-target // block) * block * per_token + per_seq
            concurrent = int(pool // seq_bytes) * par.data
    if pool > 0 and target > 0 and concurrent < req.concurrency:
        problems.append(f"{req.concurrency} sequences of {target:,} tokens do not fit: at most {concurrent}")
    return Plan(
        model=spec.name, attention="hybrid" if spec.is_v4 else "mla" if spec.is_mla else "standard", hardware=hw, request=req, parallelism=par, block_size=block,
        weights_total_bytes=int(weights.total(include_mtp=include_mtp)),
        weights_bytes_per_gpu=int(per_gpu_weights), kv_pool_bytes_per_gpu=pool, kv=kv,
        kv_bytes_per_token_per_gpu=per_token, kv_bytes_per_sequence_per_gpu=per_seq,
        max_context_tokens=max_context, target_context=target, max_concurrent_sequences=concurrent,
        pool_tokens=pool_tokens, fits=not problems, problems=tuple(problems),
        assumptions=tuple(_assumptions(spec, req, block, layout, in_flight, res)), pages=pages, layout=layout,
        runtime=res.runtime, family=res.family, warnings=(*res.warnings, *_think_max(spec, target)),
        generation=res.gpu.generation, draft=spec.draft,
    )


def _think_max(spec: ModelSpec, target: int) -> list[str]:
    floor = load_recipes().think_max_min_context
    if not spec.is_v4 or target >= floor or target == 0:
        return []
    return [f"Think Max (reasoning_effort \"max\") needs --max-model-len >= {floor:,}; this plan serves {target:,} "
            "tokens, so use Think High or fewer tokens of output"]


def _assumptions(spec: ModelSpec, req: PlanRequest, block: int, layout: PagedLayout | None,
                 in_flight: int, res: Resolution) -> list[str]:
    lines = list(res.runtime.notes)
    lines += dtype_assumptions(spec, res.runtime.kv_dtype, res.runtime.indexer_dtype or "fp8")
    lines.append(f"gpu-memory-utilization {req.utilization:g}, {req.reserve_gib:g} GiB per GPU reserved "
                 f"for activations and runtime buffers, KV in blocks of {block} tokens")
    if layout is not None:
        lines.append(f"vLLM page granularity: {len(layout.groups)} cache groups draw whole blocks of "
                     f"{layout.block_bytes:,} bytes (the widest group's pages) from one pool; sliding-window "
                     f"(64-token pages) and compressor-state (4/8-token pages) groups are sized for "
                     f"{in_flight:,} tokens in flight (max-num-batched-tokens x (pipeline stages + 1)) "
                     "plus their window, per sequence (vLLM 0.32's allocator)")
    if spec.draft == "dspark":
        lines.append("DSpark draft module loaded (speculative decoding; it drafts from the target's layers and "
                     "keeps no KV of its own)" if req.mtp else "DSpark draft module not loaded (no speculative decoding)")
    else:
        lines.append("MTP draft blocks loaded (speculative decoding)" if req.mtp
                     else "MTP draft blocks not loaded (no speculative decoding)")
    return lines


# Smaller prefill chunks the planner may pick for V4 when vLLM's default reserves too much per sequence.
_SMALLER_BATCHES = (8192, 4096, 2048)


def plan(spec: ModelSpec, hw: Hardware, req: PlanRequest | None = None) -> Plan:
    """The best plan for ``req``: its mode if given, else the fitting mode with the most sequences
    (ties: tensor parallel first, for the lowest latency).

    For V4, vLLM sizes the sliding-window and compressor-state pages of every sequence for the tokens in
    flight (``max-num-batched-tokens`` per step): when its default keeps the plan from fitting or from
    reaching the context wanted, a smaller batch is chosen (the largest that does), and said so."""
    req = _recipe_defaults(spec, hw, req or PlanRequest())
    first = _plan_once(spec, hw, req)
    wanted = req.context or spec.max_position_embeddings
    if not spec.is_v4 or req.max_num_batched_tokens is not None or (first.fits and first.max_context_tokens >= wanted):
        return first
    default = default_batched_tokens(hw.gpu.name, hw.gpu.memory_gib)
    tried = [first] + [_plan_once(spec, hw, replace(req, max_num_batched_tokens=b)) for b in _SMALLER_BATCHES
                       if b < default]
    fitting = [p for p in tried if p.fits]
    if not fitting:
        return first
    reaching = [p for p in fitting if p.max_context_tokens >= wanted]
    chosen = reaching[0] if reaching else max(fitting, key=lambda p: p.max_context_tokens)
    if chosen is first:
        return first
    batched = chosen.request.max_num_batched_tokens
    note = (f"max-num-batched-tokens lowered from vLLM's default of {default:,} for {hw.gpu.name} to {batched:,}: "
            f"fewer tokens in flight leave room for {chosen.max_context_tokens:,} tokens per sequence "
            f"(the default allows {first.max_context_tokens:,}); prefill runs in smaller chunks")
    return replace(chosen, assumptions=(*chosen.assumptions, note))


@lru_cache(maxsize=1)
def _known_memory() -> dict[str, float]:
    """GiB per GPU of the shipped table (for a refusal's nearest supported GPU)."""
    return {name: gpu.memory_gib for name, gpu in load_gpu_table().items()}


_PLANNED_FLAGS = {"--max-model-len": "context", "--gpu-memory-utilization": "gpu_memory_utilization",
                  "--max-num-seqs": "max_num_seqs"}


def _recipe_defaults(spec: ModelSpec, hw: Hardware, req: PlanRequest) -> PlanRequest:
    """The request with what a recipe sets for this model and GPU (e.g. Pro on Hopper: 200,000 tokens at 0.95
    utilization, 16 sequences) wherever the user left the value open: the plan is then for what is served."""
    recipes = load_recipes()
    support = recipes.gpu(hw.gpu.name)
    changes: dict[str, Any] = {}
    for args in recipes.tuning_args(family_for(spec, recipes), support.generation, "*"):
        for flag, value in zip(args, [*args[1:], ""], strict=True):
            field_name = _PLANNED_FLAGS.get(flag)
            if field_name and getattr(req, field_name) is None and field_name not in changes:
                changes[field_name] = float(value) if "." in value else int(value)
    return replace(req, **changes) if changes else req


def _plan_once(spec: ModelSpec, hw: Hardware, req: PlanRequest) -> Plan:
    if req.context is not None and req.context > spec.max_position_embeddings:
        raise PlanError(f"--context {req.context:,} exceeds the model's maximum of {spec.max_position_embeddings:,} tokens")
    if req.context is not None and req.context < 1:
        raise PlanError("--context must be positive")
    if req.concurrency < 1:
        raise PlanError("--concurrency must be at least 1")
    if not 0 < req.utilization <= 1:
        raise PlanError("--gpu-memory-utilization must be in (0, 1]")
    recipes = load_recipes()
    res = resolve(spec, hw.gpu, req.kv_dtype, req.indexer_dtype, recipes, _known_memory())
    family = recipes.families.get(res.family, {})
    sparse = spec.is_v4 or bool(spec.index_head_dim)
    block = req.block_size or int(family.get("block_size", 256 if spec.is_v4 else 64 if sparse else 16))
    multiple = int(family.get("block_multiple", 64 if sparse else 1))
    if block % multiple:
        raise PlanError(f"--block-size {block} does not suit {spec.name}: vLLM's sparse-attention kernels take "
                        f"only multiples of {multiple} (\"No valid attention backend found\")",
                        hint=f"use --block-size {max(multiple, block // multiple * multiple)}")
    modes: tuple[Mode, ...] = MODES if req.mode == "auto" else (req.mode,)
    candidates = [p for m in modes if (p := _parallelism(spec, hw, m)) is not None]
    if not candidates:
        groups = f" and its {spec.o_groups} output-projection groups (o_groups)" if spec.o_groups else ""
        fitting = [n for n in (1, 2, 4, 8, 16, 32) if n <= hw.total_gpus and tp_divides(spec, n)]
        raise PlanError(f"mode {req.mode} is not possible on {hw.describe()}: vLLM splits the "
                        f"{spec.num_attention_heads} attention heads{groups} over the tensor-parallel size, "
                        f"which must divide them",
                        hint=f"use --mode dp (data parallel + expert parallel) or at most TP {max(fitting or [1])} "
                             "per replica")
    plans = [_evaluate(spec, hw, req, par, block, res) for par in candidates]
    wanted = req.context or spec.max_position_embeddings
    # Fitting first; then vLLM's recipe modes (TP or DP with EP) before pipeline stages; then the longest
    # context up to what was asked (the point of a 1M model), then the most sequences, then TP before DP.
    best = max(plans, key=lambda p: (p.fits, p.parallelism.mode != "tp-pp", min(p.max_context_tokens, wanted),
                                     p.max_concurrent_sequences, -MODES.index(p.parallelism.mode)))
    others = tuple({"mode": p.parallelism.mode, "fits": p.fits, "max_context_tokens": p.max_context_tokens,
                    "max_concurrent_sequences": p.max_concurrent_sequences} for p in plans if p is not best)
    return replace(best, alternatives=others)


def minimum_gpus(spec: ModelSpec, hw: Hardware, req: PlanRequest | None = None, *, max_nodes: int = 64) -> Plan | None:
    """The smallest node count (with ``hw.gpus_per_node`` each) on which ``req`` fits, or None."""
    req = req or PlanRequest()
    first = plan(spec, Hardware(hw.gpu, hw.gpus_per_node, 1), req)
    if first.fits:
        return first
    if first.runtime is not None and any(p.startswith("vLLM cannot run") for p in first.problems):
        return None  # no number of these GPUs helps
    for nodes in range(2, max_nodes + 1):
        candidate = plan(spec, Hardware(hw.gpu, hw.gpus_per_node, nodes), req)
        if candidate.fits:
            return candidate
    return None
