"""Totals over ledger records: per call, turn, session, day or model (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from v4agent.accounting.ledger import LedgerRecord


@dataclass(frozen=True)
class Totals:
    """Summed tokens, USD and flagged-call counts over a set of ledger records."""

    calls: int = 0
    prompt_tokens: int = 0
    cache_hit: int = 0
    cache_miss: int = 0
    unknown_hit_tokens: int = 0  # prompt tokens of calls whose hits the server did not report
    output_tokens: int = 0
    reasoning_tokens: int = 0
    hit_usd: float = 0.0
    miss_usd: float = 0.0
    output_usd: float = 0.0
    total_usd: float = 0.0
    saved_usd: float = 0.0
    hit_unknown_calls: int = 0
    unpriced_calls: int = 0
    fallback_calls: int = 0  # priced by the requested model name: the response named no priced model
    estimated_calls: int = 0  # usage counted by the client: the server's never arrived (a cut stream)

    @property
    def hit_ratio(self) -> float | None:
        """Hits over prompt tokens whose split is known; None when no call reported hits."""
        known = self.cache_hit + self.cache_miss
        return self.cache_hit / known if known else None

    def to_dict(self) -> dict[str, float | int | None]:
        """The totals as JSON-ready values: USD rounded to 6 places, plus the hit ratio."""
        out: dict[str, float | int | None] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("hit_usd", "miss_usd", "output_usd", "total_usd", "saved_usd"):
            out[key] = round(float(out[key] or 0.0), 6)
        out["hit_ratio"] = None if self.hit_ratio is None else round(self.hit_ratio, 4)
        return out


def summarize(records: Iterable[LedgerRecord]) -> Totals:
    """Sum the records into one ``Totals``; calls with unreported hits count apart from the hit/miss split."""
    calls = prompt = hit = miss = unknown_tokens = output = reasoning = unknown_calls = unpriced = fallback = 0
    estimated = 0
    hit_usd = miss_usd = output_usd = total = saved = 0.0
    for r in records:
        calls += 1
        prompt += r.prompt_tokens
        output += r.output_tokens
        reasoning += r.reasoning_tokens
        if r.cache_hit is None:
            unknown_tokens += r.prompt_tokens
            unknown_calls += 1
        else:
            hit += r.cache_hit
            miss += r.cache_miss if r.cache_miss is not None else r.prompt_tokens - r.cache_hit
        unpriced += r.unpriced
        fallback += r.by_fallback and not r.unpriced
        estimated += r.estimated
        hit_usd += r.hit_usd
        miss_usd += r.miss_usd
        output_usd += r.output_usd
        total += r.total_usd
        saved += r.saved_usd
    return Totals(calls, prompt, hit, miss, unknown_tokens, output, reasoning, hit_usd, miss_usd, output_usd,
                  total, saved, unknown_calls, unpriced, fallback, estimated)


GROUP_KEYS: dict[str, Callable[[LedgerRecord], str]] = {
    "session": lambda r: r.session_id,
    "day": lambda r: r.at.date().isoformat(),
    "model": lambda r: f"{r.engine}/{r.model}",
    "turn": lambda r: f"{r.session_id}#{r.turn}",
}


SUBAGENT_MARK = ".sub-"  # a subagent's ledger id: its parent's id, this mark, its place (v4agent.agent.subagent)


def parent_session(session_id: str) -> str:
    """The session a ledger id belongs to: a subagent's parent, else the id itself."""
    return session_id.split(SUBAGENT_MARK, 1)[0]


def nested_session_totals(records: Iterable[LedgerRecord]) -> dict[str, Totals]:
    """Totals per session with its subagents' calls included, in order of first appearance."""
    groups: dict[str, list[LedgerRecord]] = {}
    for record in records:
        groups.setdefault(parent_session(record.session_id), []).append(record)
    return {key: summarize(items) for key, items in groups.items()}


def group_totals(records: Iterable[LedgerRecord], by: str) -> dict[str, Totals]:
    """Totals per group, groups in order of first appearance (the ledger is chronological)."""
    key_of = GROUP_KEYS[by]
    groups: dict[str, list[LedgerRecord]] = {}
    for record in records:
        groups.setdefault(key_of(record), []).append(record)
    return {key: summarize(items) for key, items in groups.items()}
