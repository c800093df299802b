"""Consensus review: K samples of the same review on one cached prefix; post what at least M of them report.

Every sample is the same request up to its last line, where a sample number is appended ("Review sample 2 of
3"): the system prompt, tools and pack stay byte-identical, so after the one priming call each sample pays
the cache-hit price for the pack and the miss price only for the pull request's part. The number is what
varies the samples: thinking mode "does not support the temperature, presence_penalty, or frequency_penalty
parameters" and setting them "will not trigger an error but will also have no effect" (api-docs.deepseek.com/
guides/thinking_mode), so no sampling parameter can ask for variety.

Samples run concurrently, each call holding a slot of the engine's concurrency limiter (``engine/limiter.py``),
so a burst of 429s narrows them instead of failing the review. Findings are clustered by path, side, category
and overlapping lines, one finding per sample per cluster; a cluster that at least M samples report is kept,
with the most common severity (ties: the more severe) and the first such sample's wording.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, cast

from v4agent.engine.limiter import ConcurrencyLimiter
from v4agent.engine.types import Engine
from v4agent.review.context import ReviewLayout
from v4agent.review.findings import Finding, severity_rank
from v4agent.review.run import Asker, ModelRun, ask_model, prime_run

MAX_SAMPLES = 16
_LIMITER_START = 8  # ConcurrencyLimiter's own default: samples beyond it wait for a slot
_MAX_LISTED = 60  # agreement lines in the summary; the rest are counted


@dataclass(frozen=True)
class Cluster:
    """Findings of different samples about one problem: the kept finding and which samples reported it."""

    finding: Finding
    samples: tuple[int, ...]  # 0-based sample numbers, sorted

    @property
    def votes(self) -> int:
        """How many samples reported it."""
        return len(self.samples)


def _overlaps(a: Finding, b: Finding) -> bool:
    return (a.path == b.path and a.side == b.side and a.category == b.category
            and a.start_line <= b.end_line and b.start_line <= a.end_line)


def cluster(samples: Sequence[Sequence[Finding]]) -> list[Cluster]:
    """Group the samples' findings (pure): by path, side, category and overlapping line range.

    A cluster takes at most one finding of each sample; a sample's second finding on the same lines starts a
    cluster of its own. Clusters come in the order first reported (sample by sample).
    """
    groups: list[list[tuple[int, Finding]]] = []
    for index, findings in enumerate(samples):
        for finding in findings:
            home = next((g for g in groups if all(i != index for i, _ in g) and _overlaps(g[0][1], finding)), None)
            if home is None:
                groups.append([(index, finding)])
            else:
                home.append((index, finding))
    out: list[Cluster] = []
    for group in groups:
        counts = Counter(f.severity for _, f in group)
        severity = min(counts, key=lambda s: (-counts[s], severity_rank(s)))
        chosen = next(f for _, f in group if f.severity == severity)
        out.append(Cluster(chosen, tuple(sorted(i for i, _ in group))))
    return out


def agreed(clusters: Sequence[Cluster], agree: int) -> list[Cluster]:
    """The clusters at least ``agree`` samples reported."""
    return [c for c in clusters if c.votes >= agree]


def agreement_note(clusters: Sequence[Cluster], samples: int, agree: int) -> str:
    """The summary's account of the vote: each finding's agreement (e.g. 2/3), kept and dropped."""
    kept = agreed(clusters, agree)
    dropped = len(clusters) - len(kept)
    lines = [f"Consensus of {samples} review samples: findings reported by at least {agree} of {samples} are "
             f"posted ({len(kept)} kept, {dropped} dropped)."]
    ordered = sorted(clusters, key=lambda c: (-c.votes, severity_rank(c.finding.severity), c.finding.path,
                                              c.finding.start_line))
    for c in ordered[:_MAX_LISTED]:
        f = c.finding
        span = f"{f.start_line}" if f.start_line == f.end_line else f"{f.start_line}-{f.end_line}"
        verdict = "" if c.votes >= agree else " (dropped)"
        lines.append(f"- {c.votes}/{samples} · {f.severity} · `{f.path}:{span}` {f.title}{verdict}")
    if len(ordered) > _MAX_LISTED:
        lines.append(f"- … and {len(ordered) - _MAX_LISTED} more")
    return "\n".join(lines)


def sample_layout(layout: ReviewLayout, index: int, samples: int) -> ReviewLayout:
    """The request of sample ``index`` (0-based): the sample number appended to its last message only."""
    last = dict(layout.messages[-1])
    last["content"] = (f"{last.get('content') or ''}\n\n(Review sample {index + 1} of {samples}: an independent "
                       "review of the same change.)")
    return replace(layout, messages=(*layout.messages[:-1], cast(Any, last)))


def _with_limiter(engine: Engine, samples: int) -> None:
    """Give the engine a concurrency limiter when it has none, so the samples share one adaptive limit."""
    # Engine (the protocol) has no limiter: the remote client does, a local engine need not.
    if samples > 1 and hasattr(engine, "limiter") and getattr(engine, "limiter") is None:  # noqa: B009
        setattr(engine, "limiter", ConcurrencyLimiter(initial=min(samples, _LIMITER_START)))  # noqa: B010


def consensus_asker(samples: int, agree: int) -> Asker:
    """An ``ask`` for ``run.review``: one priming call, ``samples`` review calls, the agreed findings."""

    def ask(engine: Engine, layout: ReviewLayout, prime: bool) -> ModelRun:
        merged = prime_run(engine, layout) if prime else ModelRun()
        _with_limiter(engine, samples)
        with ThreadPoolExecutor(max_workers=samples, thread_name_prefix="review-sample") as pool:
            futures = [pool.submit(ask_model, engine, sample_layout(layout, i, samples), prime=False)
                       for i in range(1 if not prime else samples)]
            if not prime:  # no priming call: the first sample stores the prefix, then the others hit it
                futures[0].exception()
                futures += [pool.submit(ask_model, engine, sample_layout(layout, i, samples), prime=False)
                            for i in range(1, samples)]
            errors = [f.exception() for f in futures]  # waits for every sample: none is left running
        failed = next((e for e in errors if e is not None), None)
        if failed is not None:
            raise failed  # an unreachable engine or a cut reply: the review did not happen
        runs = [f.result() for f in futures]
        return merge(merged, runs, agree)

    return ask


def merge(primed: ModelRun, runs: Sequence[ModelRun], agree: int) -> ModelRun:
    """One ModelRun from the priming call and the samples: every call's usage, the agreed findings."""
    out = ModelRun(usages=list(primed.usages), estimated=list(primed.estimated))
    for index, run in enumerate(runs):
        out.usages += run.usages
        out.estimated += run.estimated
        out.warnings += [f"sample {index + 1}/{len(runs)}: {w}" for w in run.warnings]
    reporting = [r for r in runs if r.reported]
    clusters = cluster([r.findings if r.reported else [] for r in runs])
    out.findings = [c.finding for c in agreed(clusters, agree)]
    out.reported = len(reporting) >= agree
    if len(reporting) < len(runs):
        out.warnings.append(f"{len(runs) - len(reporting)} of {len(runs)} samples did not report; their votes "
                            "count as none")
    first = next((r.summary for r in reporting if r.summary), "")
    note = agreement_note(clusters, len(runs), agree)
    out.summary = f"{first}\n\n{note}" if first else note
    return out
