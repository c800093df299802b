"""Which attention backend and cache dtypes vLLM runs for a model on a GPU, and what it cannot run. Pure.

Read from the recipe table (``recipes``): vLLM runs DeepSeek V4 attention with FlashMLA-sparse on compute
capability 9.x/10.x and FlashInfer's sparse MLA on 12.x; there, "auto" and "fp8" KV both become the 584-byte
``fp8_ds_mla`` rows. The indexer cache is fp8 (132 B) everywhere and MXFP4 (68 B) on Blackwell datacenter
GPUs, which the recipes turn on. GPUs without such a backend (A100, L40S, RTX 4090, MI300X) are refused with
the nearest supported GPU; H100 runs but is in no V4 recipe, which the plan says.
"""

from __future__ import annotations

from dataclasses import dataclass

from v4agent.engine.local.hardware import GpuModel
from v4agent.engine.local.modelspec import ModelSpec
from v4agent.engine.local.recipes import AttentionRuntime, GpuSupport, Recipes

__all__ = ["Resolution", "family_for", "nearest_supported", "resolve"]


@dataclass(frozen=True)
class Resolution:
    """The runtime vLLM will use, with what refuses the plan (problems) and what it should know (warnings)."""

    runtime: AttentionRuntime
    family: str
    gpu: GpuSupport
    problems: tuple[str, ...]
    warnings: tuple[str, ...]


def family_for(spec: ModelSpec, recipes: Recipes) -> str:
    """The recipe family of a model: by checkpoint name, else from its architecture ("" = none of them)."""
    known = recipes.family_of(spec.name)
    if known:
        return known
    if spec.is_v4:
        return "v4-pro" if spec.o_groups >= 16 else "v4-flash"
    return "v3.2" if spec.is_mla and spec.index_head_dim else ""


def nearest_supported(gpu: GpuModel, recipes: Recipes, memory_by_name: dict[str, float]) -> str:
    """The verified GPU closest above this one in memory (else the largest), for a refusal's hint."""
    verified = [(memory_by_name.get(n, 0.0), n) for n in recipes.supported_gpus() if n in memory_by_name]
    if not verified:
        return "h200"
    above = sorted(v for v in verified if v[0] >= gpu.memory_gib)
    return (above[0] if above else max(verified))[1]


def resolve(spec: ModelSpec, gpu: GpuModel, kv_dtype: str, indexer_dtype: str | None, recipes: Recipes,
            memory_by_name: dict[str, float]) -> Resolution:
    """The runtime for ``spec`` on ``gpu`` with the requested KV and indexer dtypes."""
    family = family_for(spec, recipes)
    support = recipes.gpu(gpu.name)
    problems: list[str] = []
    warnings: list[str] = []
    sparse = spec.is_v4 or bool(spec.index_head_dim)
    if not sparse:  # standard attention or plain MLA: vLLM's usual backends, as asked
        runtime = AttentionRuntime("auto", "fp8" if kv_dtype == "fp8" else "auto", kv_dtype, "")
        return Resolution(runtime, family, support, (), ())
    row = recipes.attention_for(support)
    nearest = nearest_supported(gpu, recipes, memory_by_name)
    pro_on_mi325 = support.v4 == "verified-flash" and family != "v4-flash"
    if support.v4 == "unsupported" or pro_on_mi325 or (support.compute_capability is not None and row is None):
        cc = f"compute capability {support.compute_capability:.1f}" if support.compute_capability else support.generation
        problems.append(
            f"vLLM cannot run {spec.name} on {gpu.name} ({cc}): its DeepSeek sparse attention runs with "
            "FlashMLA-sparse on compute capability 9.x/10.x or FlashInfer sparse MLA on 12.x, and the vLLM recipes "
            f"mark this GPU unsupported; nearest supported option: --gpu {nearest}")
    elif support.v4 == "none" and spec.is_v4:
        warnings.append(f"{gpu.name} is in no DeepSeek V4 recipe (verified: {', '.join(recipes.supported_gpus())}); "
                        f"vLLM's {row['backend'] if row else 'sparse'} backend runs on it, untested by the recipes")
    elif support.v4 == "verified-flash":
        warnings.append(f"the recipes verify {spec.name} on {gpu.name} only at TP 1 and a 4K context (ROCm build)")
    elif support.v4 == "unknown":
        warnings.append(f"GPU {gpu.name!r} is not in the recipe table: the attention backend and cache dtypes "
                        "below assume a Hopper-class GPU (pass --gpu NAME to check)")
    backend = str(row["backend"]) if row else "FLASHMLA_SPARSE_DSV4" if spec.is_v4 else "FLASHMLA_SPARSE"
    allowed = [str(d) for d in row["indexer_dtypes"]] if row else ["fp8"]
    effective_kv = kv_dtype
    stored = "fp8_ds_mla" if kv_dtype == "fp8" else "bfloat16"
    if spec.is_v4 and kv_dtype == "bf16" and not (row is not None and row.get("v4_bf16")):
        effective_kv, stored = "fp8", "fp8_ds_mla"
        warnings.append(f"--kv-dtype bf16: vLLM's {backend} stores DeepSeek V4's KV only as fp8_ds_mla (\"auto\" "
                        "becomes fp8_ds_mla); a bf16 KV cache needs another attention backend, so this plan is for "
                        "fp8_ds_mla, what the server will store")
    if not spec.is_v4:
        stored = "fp8" if kv_dtype == "fp8" else "auto"
    if indexer_dtype is None:  # what the recipes run: MXFP4 keys where the GPU has them (V4 only)
        indexer_dtype = "mxfp4" if spec.is_v4 and "mxfp4" in allowed else "fp8"
    elif indexer_dtype not in allowed:
        problems.append(f"indexer dtype {indexer_dtype} is not available on {gpu.name} (vLLM stores "
                        f"{' or '.join(allowed)} indexer keys there; MXFP4 needs a Blackwell datacenter GPU)")
    if indexer_dtype == "bf16":
        problems.append("vLLM has no bf16 indexer cache: its indexer keys are fp8 (132 B) or MXFP4 (68 B)")
    notes = (f"attention backend {backend}, KV cache {stored}, indexer keys {indexer_dtype} (vLLM's choice for "
             f"{gpu.name})",)
    runtime = AttentionRuntime(backend, stored, effective_kv, indexer_dtype, notes)
    return Resolution(runtime, family, support, tuple(problems), tuple(warnings))
