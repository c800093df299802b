"""vLLM's recipes for DeepSeek V4 and V3.2 as data (``v4agent/data/vllm_recipes.toml``): checkpoints, GPUs,
the attention backend and cache dtypes per compute capability, and the flags each layout adds. Pure once loaded.

The table is dated and cites its sources; this module only reads it and answers questions about it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from v4agent.core.errors import ExitCode, V4AgentError

__all__ = ["AttentionRuntime", "Checkpoint", "GpuSupport", "RecipeError", "Recipes", "load_recipes"]


class RecipeError(V4AgentError, ValueError, exit_code=ExitCode.USAGE):
    """The recipe table is malformed (a packaging error), or names something unknown."""


@dataclass(frozen=True)
class Checkpoint:
    """A published checkpoint: its repository, model family, shipped config and draft head."""

    name: str
    repo: str
    family: str  # "v4-flash" | "v4-pro" | "v3.2"
    config: str  # file under v4agent/data/configs, "" when not shipped
    draft: str  # "mtp" | "dspark" | "none"
    recipe_default: bool
    vram_minimum_gb: float
    source: str


@dataclass(frozen=True)
class GpuSupport:
    """What the recipes and vLLM's backends say about one GPU model."""

    name: str
    compute_capability: float | None  # None: not an NVIDIA GPU (or unknown)
    generation: str  # "hopper", "blackwell", "ampere", "ada", "amd-cdna3", ... or "unknown"
    v4: str  # "verified", "verified-flash", "unsupported", "none" (in no V4 recipe), "unknown"


@dataclass(frozen=True)
class AttentionRuntime:
    """What vLLM runs for a model on a GPU: attention backend and the cache dtypes it stores."""

    backend: str
    kv_cache_dtype: str  # what vLLM stores: "fp8_ds_mla", "bfloat16", "fp8"
    kv_dtype: str  # the planner's arithmetic: "fp8" or "bf16"
    indexer_dtype: str  # "fp8", "mxfp4", or "" (no indexer)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipes:
    """The loaded table."""

    meta: dict[str, Any]
    checkpoints: dict[str, Checkpoint]
    families: dict[str, dict[str, Any]]
    speculative: dict[str, str]
    attention: dict[str, dict[str, Any]]
    gpus: dict[str, GpuSupport]
    tuning: tuple[dict[str, Any], ...]
    multinode: dict[str, dict[str, Any]]

    @property
    def think_max_min_context(self) -> int:
        """Think Max needs at least this --max-model-len."""
        return int(self.meta.get("think_max_min_context", 393216))

    def gpu(self, name: str) -> GpuSupport:
        """The GPU's row, or an 'unknown' row for a name the table lacks (e.g. from --gpu-mem)."""
        return self.gpus.get(name.lower(), GpuSupport(name.lower(), None, "unknown", "unknown"))

    def family_of(self, model: str) -> str | None:
        """The family of a checkpoint name, or None for a config given by path."""
        checkpoint = self.checkpoints.get(model.lower())
        return checkpoint.family if checkpoint else None

    def supported_gpus(self) -> list[str]:
        """GPU names the V4 recipes verify, for 'nearest supported option' hints."""
        return sorted(n for n, g in self.gpus.items() if g.v4 == "verified")

    def speculative_config(self, family: str, draft: str, generation: str) -> str | None:
        """The --speculative-config JSON the recipe uses, or None when the checkpoint has no draft head."""
        if draft == "none":
            return None
        if draft == "dspark":
            return self.speculative["dspark"]
        for key in (f"mtp-{family}-{generation}", f"mtp-{family}", "mtp"):
            if key in self.speculative:
                return self.speculative[key]
        return None

    def tuning_args(self, family: str, generation: str, strategy: str) -> list[list[str]]:
        """The rows' argument lists that apply, in table order."""
        out: list[list[str]] = []
        for row in self.tuning:
            fam, gen, strat = row["family"], row["generation"], row["strategy"]
            if not (fam == family or (fam.endswith("*") and family.startswith(fam[:-1]))):
                continue
            if gen not in ("*", generation) or strat not in ("*", strategy):
                continue
            if row.get("unless_generation") == generation:
                continue
            out.append([str(a) for a in row["args"]])
        return out

    def attention_for(self, gpu: GpuSupport) -> dict[str, Any] | None:
        """The attention row for the GPU's compute capability major, or None (not NVIDIA, or no V4 backend)."""
        if gpu.compute_capability is None:
            return None
        return self.attention.get(f"cc{int(gpu.compute_capability)}")


def _checkpoint(name: str, raw: dict[str, Any]) -> Checkpoint:
    try:
        return Checkpoint(name=name, repo=str(raw["repo"]), family=str(raw["family"]), config=str(raw["config"]),
                          draft=str(raw["draft"]), recipe_default=bool(raw["recipe_default"]),
                          vram_minimum_gb=float(raw["vram_minimum_gb"]), source=str(raw["source"]))
    except KeyError as exc:
        raise RecipeError(f"vllm_recipes.toml: checkpoint {name} lacks {exc}") from None


def _gpu(name: str, raw: dict[str, Any]) -> GpuSupport:
    cc = raw.get("compute_capability")
    return GpuSupport(name=name, compute_capability=float(cc) if cc is not None else None,
                      generation=str(raw.get("generation", "unknown")), v4=str(raw.get("v4", "unknown")))


def parse_recipes(text: str) -> Recipes:
    """Parse the table's TOML text."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"vllm_recipes.toml: not valid TOML: {exc}") from None
    return Recipes(
        meta=dict(raw.get("meta", {})),
        checkpoints={n: _checkpoint(n, r) for n, r in raw.get("checkpoints", {}).items()},
        families=dict(raw.get("families", {})),
        speculative={n: str(r["config"]) for n, r in raw.get("speculative", {}).items()},
        attention=dict(raw.get("attention", {})),
        gpus={n: _gpu(n, r) for n, r in raw.get("gpus", {}).items()},
        tuning=tuple(raw.get("tuning", [])),
        multinode=dict(raw.get("multinode", {})),
    )


@lru_cache(maxsize=1)
def load_recipes() -> Recipes:
    """The shipped table (read once)."""
    text = resources.files("v4agent").joinpath("data", "vllm_recipes.toml").read_text(encoding="utf-8")
    return parse_recipes(text)
