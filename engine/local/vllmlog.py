"""Figures read from a vLLM server's log. Pure.

vLLM logs its KV-cache capacity once at start-up (vllm/v1/core/kv_cache_utils.py, ``update_kv_cache_capacity``):
``"%s KV cache size: %s tokens, Maximum concurrency for %s tokens per request: %.2fx"`` with the pool's device
("GPU", "CPU", or "GPU + host"), the token count and max-model-len with thousands separators (vLLM 0.26 and
older split it into two log lines after "tokens").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KV_LINE = re.compile(
    r"(?P<device>[A-Z]+(?: \+ host)?) KV cache size: (?P<tokens>[\d,]+) tokens"
    r"(?:, |\n[^\n]*?)"  # one line, or (vLLM 0.26 and older) two, the second with its own log prefix
    r"Maximum concurrency for (?P<length>[\d,]+) tokens per request: (?P<concurrency>[\d.]+)x")


# The engine core's first line names the release: "Initializing a V1 LLM engine (v0.26.0) with config: ...".
_VERSION_LINE = re.compile(r"Initializing a V1 LLM engine \(v(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?")

# The GPU worker's pool once profiling is done (vllm/v1/worker/gpu_worker.py): "Available KV cache memory: %s GiB".
_POOL_LINE = re.compile(r"Available KV cache memory: (?P<gib>[\d.]+) GiB")


@dataclass(frozen=True)
class KvCacheReport:
    """The KV-cache capacity a vLLM server logged at start-up."""

    device: str
    tokens: int  # vLLM's "KV cache size": max concurrency x max-model-len
    max_model_len: int
    concurrency: float


def parse_kv_cache_report(log_text: str) -> KvCacheReport | None:
    """The last KV-cache capacity line in ``log_text``; None when vLLM has not logged one."""
    matches = list(_KV_LINE.finditer(log_text))
    if not matches:
        return None
    found = matches[-1]
    return KvCacheReport(device=found["device"], tokens=int(found["tokens"].replace(",", "")),
                         max_model_len=int(found["length"].replace(",", "")),
                         concurrency=float(found["concurrency"]))


def parse_available_kv_bytes(log_text: str) -> int | None:
    """The KV pool a GPU worker reported (bytes, from its GiB figure); None when none was logged."""
    matches = list(_POOL_LINE.finditer(log_text))
    return None if not matches else round(float(matches[-1]["gib"]) * (1 << 30))


def parse_vllm_version(log_text: str) -> tuple[int, int, int] | None:
    """The vLLM release that wrote ``log_text`` (from its engine-core start line); None when not logged."""
    found = _VERSION_LINE.search(log_text)
    if found is None:
        return None
    return int(found["major"]), int(found["minor"]), int(found["patch"] or 0)
