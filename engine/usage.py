"""Usage normalization: DeepSeek, OpenAI-style (vLLM) and silent servers into one ``Usage`` record.

DeepSeek reports ``prompt_cache_hit_tokens``/``prompt_cache_miss_tokens``; OpenAI-style servers report
``prompt_tokens_details.cached_tokens``; a server that reports neither gives unknown hits (None), never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from v4agent.engine.types import Usage


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def normalize_usage(raw: Mapping[str, Any] | None) -> Usage | None:
    """One ``Usage`` from a reply's ``usage`` object; None when there is no usage at all."""
    if not raw:
        return None
    prompt = _int(raw.get("prompt_tokens")) or 0
    output = _int(raw.get("completion_tokens")) or 0
    hit = _int(raw.get("prompt_cache_hit_tokens"))
    miss = _int(raw.get("prompt_cache_miss_tokens"))
    if hit is None:
        details = raw.get("prompt_tokens_details")
        if isinstance(details, Mapping):
            hit = _int(details.get("cached_tokens"))
    if hit is not None and miss is None:
        miss = max(0, prompt - hit)
    if hit is None and miss is not None:
        hit = max(0, prompt - miss)
    if prompt == 0 and hit is not None and miss is not None:
        prompt = hit + miss
    reasoning = 0
    out_details = raw.get("completion_tokens_details")
    if isinstance(out_details, Mapping):
        reasoning = _int(out_details.get("reasoning_tokens")) or 0
    return Usage(prompt_tokens=prompt, output_tokens=output, cache_hit=hit, cache_miss=miss,
                 reasoning_tokens=reasoning)
