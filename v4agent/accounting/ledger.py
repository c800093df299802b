"""The cost ledger: one JSON line per model call in ``.v4agent/ledger.jsonl``.

Each append is flushed and fsync'd, so a crash loses at most the call in flight. The reader skips a torn
last line (and any other unparsable line), counting what it skipped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from v4agent.accounting.cost import CallCost, price_call, split_prompt
from v4agent.accounting.prices import PriceTable, as_utc
from v4agent.core.fsutil import append_line_durably
from v4agent.core.state import STATE_DIR_NAME, state_path
from v4agent.engine.types import Usage

LEDGER_NAME = "ledger.jsonl"


@dataclass(frozen=True)
class LedgerRecord:
    """One ledger line: a model call's token counts, its priced cost and the price entry used."""

    ts: str  # ISO 8601, UTC
    session_id: str
    turn: int
    engine: str
    model: str
    prompt_tokens: int
    cache_hit: int | None  # None: the server did not say
    cache_miss: int | None
    output_tokens: int
    reasoning_tokens: int
    hit_usd: float
    miss_usd: float
    output_usd: float
    total_usd: float
    saved_usd: float
    price_entry: str
    peak: bool = False
    hit_unknown: bool = False
    unpriced: bool = False
    duration_s: float = 0.0
    served_model: str = ""  # the model the response named ("" for none, and in lines older than the field)
    billed_model: str = ""  # the name the rates belong to, after routing and aliases
    by_fallback: bool = False  # priced by the requested name: the response named no model the table prices
    # The server's usage never arrived (a stream cut mid-reply): prompt tokens counted from the request as the
    # client rendered it, output from what arrived. Billed or not is the provider's call; it is never left out.
    estimated: bool = False

    @property
    def at(self) -> datetime:
        """When the call happened, as an aware UTC datetime."""
        return as_utc(datetime.fromisoformat(self.ts))

    @property
    def usage(self) -> Usage:
        """The call's token counts as a ``Usage`` (hits and misses None where the server gave none)."""
        return Usage(self.prompt_tokens, self.output_tokens, self.cache_hit, self.cache_miss, self.reasoning_tokens)

    def to_json(self) -> str:
        """The record as one compact JSON line, keys sorted."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LedgerRecord:
        """Build a record from a parsed line, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def make_record(
    *,
    session_id: str,
    turn: int,
    engine: str,
    model: str,
    usage: Usage,
    at: datetime,
    cost: CallCost,
    duration_s: float = 0.0,
) -> LedgerRecord:
    """The ledger record for a call already priced as ``cost``; unreported hits stay None; a ``usage`` flagged
    ``estimated`` (the client's count: the server never sent one) makes an estimated line."""
    hit, miss, unknown = split_prompt(usage)
    return LedgerRecord(
        ts=as_utc(at).isoformat(),
        session_id=session_id,
        turn=turn,
        engine=engine,
        model=model,
        prompt_tokens=usage.prompt_tokens,
        cache_hit=None if unknown else hit,
        cache_miss=None if unknown else miss,
        output_tokens=usage.output_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        hit_usd=cost.hit_usd,
        miss_usd=cost.miss_usd,
        output_usd=cost.output_usd,
        total_usd=cost.total_usd,
        saved_usd=cost.saved_usd,
        price_entry=cost.price_entry,
        peak=cost.peak,
        hit_unknown=cost.hit_unknown,
        unpriced=cost.unpriced,
        duration_s=round(duration_s, 6),
        served_model=cost.served_model,
        billed_model=cost.billed_model,
        by_fallback=cost.by_fallback,
        estimated=usage.estimated,
    )


@dataclass
class ReadResult:
    """The records a read found, and how many lines it had to skip."""

    records: list[LedgerRecord]
    skipped: int  # torn or unparsable lines


class Ledger:
    """The ledger of one repository (``<repo_root>/.v4agent/ledger.jsonl``), or of an explicit file."""

    def __init__(self, repo_root: Path, *, path: Path | None = None) -> None:
        self.repo_root = Path(repo_root)
        self.path = path if path is not None else self.repo_root / STATE_DIR_NAME / LEDGER_NAME

    def append(self, record: LedgerRecord) -> None:
        """Append one record durably, creating ``.v4agent/`` first if needed."""
        if not self.path.parent.exists():
            state_path(self.repo_root, LEDGER_NAME)  # creates .v4agent/ with its .gitignore
        append_line_durably(self.path, record.to_json())

    def record_call(
        self,
        table: PriceTable,
        *,
        session_id: str,
        turn: int,
        engine: str,
        model: str,
        usage: Usage,
        at: datetime,
        duration_s: float = 0.0,
        served_model: str = "",
    ) -> LedgerRecord:
        """Price one call (by ``served_model`` where the table knows it), append it, and return the record."""
        cost = price_call(table, model, usage, at, engine=engine, duration_s=duration_s, served_model=served_model)
        record = make_record(session_id=session_id, turn=turn, engine=engine, model=model, usage=usage,
                             at=at, cost=cost, duration_s=duration_s)
        self.append(record)
        return record

    def read_all(self, *, since: datetime | None = None) -> ReadResult:
        """The readable records (at or after ``since`` when given) and how many lines were skipped."""
        if not self.path.is_file():
            return ReadResult([], 0)
        records: list[LedgerRecord] = []
        skipped = 0
        with self.path.open("rb") as handle:
            for raw_line in handle:
                record = _parse_line(raw_line)
                if record is None:
                    skipped += raw_line.strip() != b""
                    continue
                if since is None or record.at >= as_utc(since):
                    records.append(record)
        return ReadResult(records, skipped)

    def read(self, *, since: datetime | None = None) -> list[LedgerRecord]:
        """The readable records, at or after ``since`` when given."""
        return self.read_all(since=since).records


def _parse_line(raw_line: bytes) -> LedgerRecord | None:
    try:
        raw = json.loads(raw_line.decode("utf-8"))
        if not isinstance(raw, dict):
            return None
        record = LedgerRecord.from_dict(raw)
        record.at  # noqa: B018 - validates the timestamp
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    return record if _well_typed(record) else None


def _well_typed(record: LedgerRecord) -> bool:
    """A line someone edited by hand must not crash the report later."""
    ints = (record.turn, record.prompt_tokens, record.output_tokens, record.reasoning_tokens)
    maybe_ints = (record.cache_hit, record.cache_miss)
    floats = (record.hit_usd, record.miss_usd, record.output_usd, record.total_usd, record.saved_usd,
              record.duration_s)
    return (all(isinstance(v, int) and not isinstance(v, bool) for v in ints)
            and all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in maybe_ints)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in floats)
            and isinstance(record.session_id, str) and isinstance(record.price_entry, str)
            and isinstance(record.served_model, str) and isinstance(record.billed_model, str)
            and isinstance(record.estimated, bool))
