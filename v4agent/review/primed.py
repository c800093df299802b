"""What the client knows of the provider's cache for a review's stable block, to price a dropped priming call.

The priming call is cut on purpose after the prefill (``engine/prime.py``, method "cancel"): the server sends
no usage, so its input would be priced as all misses, while a warm prefix is billed mostly at the hit price.
What the client does know: a later call of a run that sent the same prefix reported how many of its tokens hit
the cache, and every review call extends the priming request. That count is kept per prefix (a hash of the
priming request and the endpoint) in ``.v4agent/primed.json``; a priming call of the same prefix within
``FRESH_S`` is estimated to hit that many tokens, and the ledger flags the line ``estimated``.

DeepSeek's context cache is cleared when unused, "typically within a few hours to a few days"
(api-docs.deepseek.com/guides/kv_cache): an hour is well inside that, so a prefix seen longer ago is estimated
cold (all misses), never warm on a guess.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from v4agent.core.fsutil import atomic_write_text
from v4agent.engine.types import Engine, Message, ToolSchema, Usage

FILE = Path(".v4agent") / "primed.json"
FRESH_S = 3600
_KEEP = 64  # prefixes remembered; the oldest go first


def prefix_key(engine: Engine, messages: Sequence[Message], tools: Sequence[ToolSchema]) -> str:
    """A stable name for one priming request on one endpoint and model."""
    body = json.dumps([str(getattr(engine, "base_url", "")), engine.settings.model, list(messages), list(tools)],
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _load(repo: Path) -> dict[str, Any]:
    try:
        data = json.loads((repo / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: every prefix is estimated cold
    return data if isinstance(data, dict) else {}


def known_hit(repo: Path, key: str, now: datetime | None = None) -> int | None:
    """Tokens of the prefix ``key`` a call reported cached within ``FRESH_S``; None when not known warm."""
    entry = _load(repo).get(key)
    if not isinstance(entry, dict):
        return None
    try:
        seen = datetime.fromisoformat(str(entry["at"]))
        hit = int(entry["hit"])
    except (KeyError, TypeError, ValueError):
        return None
    if (now or datetime.now(UTC)) - seen > timedelta(seconds=FRESH_S) or hit <= 0:
        return None
    return hit


def remember(repo: Path, key: str, hit: int, now: datetime | None = None) -> None:
    """Record that ``hit`` tokens of prefix ``key`` are cached now (a call just reported them)."""
    data = _load(repo)
    data[key] = {"hit": hit, "at": (now or datetime.now(UTC)).isoformat()}
    newest = sorted(data.items(), key=lambda kv: str(kv[1].get("at", "")) if isinstance(kv[1], dict) else "")
    try:
        (repo / FILE).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(repo / FILE, json.dumps(dict(newest[-_KEEP:]), indent=1, sort_keys=True) + "\n")
    except OSError:
        pass  # a read-only checkout: the next run estimates cold, which is the safe side


def with_known_hit(estimate: Usage, hit: int | None) -> Usage:
    """The priming estimate with the hits the client knows of (capped at its prompt), else unknown."""
    if hit is None:
        return estimate
    hit = min(hit, estimate.prompt_tokens)
    return Usage(estimate.prompt_tokens, estimate.output_tokens, hit, estimate.prompt_tokens - hit,
                 estimate.reasoning_tokens, estimated=True)
