"""The priming method ``engine check`` measured per endpoint, kept in the user's state directory.

``$XDG_STATE_HOME/v4agent/probes.json`` (``~/.local/state`` when unset): one entry per base URL and model, with
the measurements behind the method and when they were taken. ``engine.prime`` reads it to prime the cheapest
way that worked; a measurement older than ``STALE_AFTER_DAYS`` comes with advice to probe again, since
providers change their cache behaviour without notice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from v4agent.core.fsutil import atomic_write_text

STATE_NAME = "probes.json"
STALE_AFTER_DAYS = 30
METHODS = ("cancel", "short", "full", "none")


@dataclass(frozen=True)
class PrimingRecord:
    """One endpoint's measured priming method and what it rests on."""

    base_url: str
    model: str
    method: str  # one of METHODS
    measured_at: str  # ISO 8601, UTC
    cancel_works: bool | None = None
    short_works: bool | None = None
    max_tokens_in_identity: bool | None = None
    stream_in_identity: bool | None = None

    def age_days(self, now: datetime) -> float:
        """Days since the measurement (a bad timestamp counts as very old)."""
        try:
            taken = datetime.fromisoformat(self.measured_at)
        except ValueError:
            return float("inf")
        if taken.tzinfo is None:
            taken = taken.replace(tzinfo=UTC)
        return (now - taken).total_seconds() / 86_400


def state_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where the measurements live: under ``$XDG_STATE_HOME`` (or ``~/.local/state``), in ``v4agent/``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".local" / "state")
    return Path(base) / "v4agent" / STATE_NAME


def _key(base_url: str, model: str) -> str:
    return f"{base_url.rstrip('/')}|{model}"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_priming(record: PrimingRecord, environ: Mapping[str, str] | None = None) -> Path:
    """Store ``record`` (replacing the endpoint's earlier one); returns the file written."""
    path = state_file(environ)
    data = _read(path)
    data[_key(record.base_url, record.model)] = asdict(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def load_priming(base_url: str, model: str, environ: Mapping[str, str] | None = None) -> PrimingRecord | None:
    """The stored measurement for this endpoint and model, or None."""
    raw = _read(state_file(environ)).get(_key(base_url, model))
    if not isinstance(raw, dict) or raw.get("method") not in METHODS:
        return None
    fields = PrimingRecord.__dataclass_fields__
    try:
        return PrimingRecord(**{k: v for k, v in raw.items() if k in fields})
    except TypeError:
        return None


def priming_advice(record: PrimingRecord | None, now: datetime, *,
                   max_age_days: int = STALE_AFTER_DAYS) -> str | None:
    """Advice to run the probe (again), or None when the measurement is fresh."""
    if record is None:
        return "priming method not measured for this endpoint: run `v4agent engine check`"
    age = record.age_days(now)
    if age > max_age_days:
        return (f"priming method measured {int(age)} days ago (more than {max_age_days}): run "
                f"`v4agent engine check` again")
    return None
