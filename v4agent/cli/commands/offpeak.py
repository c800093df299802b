"""`--when off-peak` on refactor and review: quote the first request at both prices, then hold the job.

The quote is exact for what it counts: the first request (system prompt, packed repository, task, tool
schemas) rendered as DeepSeek V4's published encoder renders it (``agent.request.template``: the count the
server bills), priced as misses at the peak rate in force now and at the off-peak rate in force when the
window opens. The job is held in the user's queue (``core.jobqueue``); ``v4agent queue run`` starts it.
A price table without an off-peak window for the model at that date is refused, not guessed around.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from v4agent.core.errors import UsageError

__all__ = ["WHEN_CHOICES", "NoOffPeak", "OffPeakQuote", "check_when", "held_argv", "hold_off_peak",
           "quote_off_peak"]

WHEN_CHOICES = ("now", "off-peak")


@dataclass(frozen=True)
class OffPeakQuote:
    """The first request's cost at the peak rate now and at the off-peak rate when the window opens."""

    model: str
    prompt_tokens: int
    now: datetime
    start: datetime
    peak_usd: float
    offpeak_usd: float
    peak_entry: str
    offpeak_entry: str

    def to_json(self) -> dict[str, Any]:
        """The quote as the held job records it."""
        return {"model": self.model, "prompt_tokens": self.prompt_tokens, "quoted_at": self.now.isoformat(),
                "start": self.start.isoformat(), "peak_usd": self.peak_usd, "offpeak_usd": self.offpeak_usd,
                "peak_entry": self.peak_entry, "offpeak_entry": self.offpeak_entry}


class NoOffPeak(UsageError):
    """The dated price table has no off-peak window for the model at this date."""


def check_when(when: str) -> bool:
    """Whether ``--when`` asks to hold the job; an unknown value is a usage error."""
    if when not in WHEN_CHOICES:
        raise UsageError(f"--when must be one of {', '.join(WHEN_CHOICES)}, not {when!r}")
    return when == "off-peak"


def quote_off_peak(table: Any, *, engine: str, model: str, prompt_tokens: int, now: datetime) -> OffPeakQuote:
    """The quote for a first request of ``prompt_tokens`` (all misses); raises NoOffPeak (pure)."""
    from v4agent.accounting.cost import cost_from_rates
    from v4agent.engine.types import Usage

    entry = table.entry_at(now, engine)
    prices = entry.price_for(model) if entry is not None else None
    start = table.next_offpeak_start(now, engine) if entry is not None and entry.has_peak_rule else None
    later = table.entry_at(start, engine) if start is not None else None
    later_prices = later.price_for(model) if later is not None else None
    if prices is None or start is None or later is None or later_prices is None or not later.has_peak_rule:
        raise NoOffPeak(f"the price table has no off-peak window for {model} ({engine}) on "
                        f"{now:%Y-%m-%d}; nothing to wait for",
                        hint="run it now (leave out --when), or add off-peak rates with prices_file")
    usage = Usage(prompt_tokens, 0, cache_hit=0, cache_miss=prompt_tokens)

    def total(rates: Any) -> float:
        hit, miss, output, _saved, _unknown = cost_from_rates(usage, rates)
        return float(round(hit + miss + output, 10))

    return OffPeakQuote(model, prompt_tokens, now, start, total(prices.peak), total(later_prices.offpeak),
                        entry.id if entry is not None else "", later.id)


def held_argv(argv: Sequence[str]) -> list[str]:
    """The command line to run later: ``argv`` without ``--when VALUE`` / ``--when=VALUE``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--when":
            skip = True
        elif not arg.startswith("--when="):
            out.append(arg)
    return out


def _first_request_tokens(workspace: Any, *, model: str, task: str, budget: int | None, think: str) -> int:
    """The first request's prompt tokens, rendered as the server renders them."""
    from v4agent.agent.request.layout import Conversation
    from v4agent.agent.request.template import render_request
    from v4agent.agent.setup import pack_repository
    from v4agent.extend import repository_trusted
    from v4agent.extend.instructions import load_instructions, with_instructions
    from v4agent.prompts import load_prompt
    from v4agent.tokens.tokenizer import get_tokenizer
    from v4agent.tools.task import session_tool_schemas

    snapshot = pack_repository(workspace, model=model, budget=budget)
    # The system prompt as refactor sends it: the instruction files join it (framed by trust).
    instructions = load_instructions(workspace.root, trusted=repository_trusted(workspace.root))
    system_prompt = with_instructions(load_prompt("system.md"), instructions)
    conversation = Conversation.start(system_prompt, snapshot.text, task)
    tools = session_tool_schemas(subagents=bool(workspace.config.get("subagents.enabled")))
    rendered = render_request(conversation.messages, tools, get_tokenizer("deepseek-v4"), thinking=think != "off",
                              effort="max" if think == "max" else None)
    return int(rendered.prompt_tokens)


def hold_off_peak(command: str, path: Path, *, task: str, flags: Mapping[str, Any], budget: int | None = None,
                  argv: Sequence[str] | None = None, now: datetime | None = None) -> None:
    """Quote, hold the job until the next off-peak window, and say so; raises NoOffPeak or a setup error."""
    from rich.markup import escape

    from v4agent.agent.setup import open_workspace
    from v4agent.core.jobqueue import JobQueue
    from v4agent.engine.presets import get_preset
    from v4agent.ui.console import stdout

    workspace = open_workspace(path, {k: v for k, v in flags.items() if v is not None},
                               why="--when off-peak holds a job for a repository")
    config = workspace.config
    engine = str(config.get("engine"))
    model = str(config.get("model") or get_preset(engine).default_model)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    tokens = _first_request_tokens(workspace, model=model, task=task, budget=budget, think=str(config.get("think")))
    quote = quote_off_peak(workspace.table, engine=engine, model=model, prompt_tokens=tokens, now=moment)
    job = JobQueue().add(command=command, argv=held_argv(sys.argv[1:] if argv is None else argv), cwd=Path.cwd(),
                         repo=workspace.root, not_before=quote.start, quote=quote.to_json(), now=moment)
    saved = quote.peak_usd - quote.offpeak_usd
    stdout.print(escape(
        f"held {command} job {job.id} until {quote.start:%Y-%m-%d %H:%M} UTC (the next off-peak window)\n"
        f"first request: {tokens:,} tokens of {model}, all misses: ${quote.peak_usd:.4f} at the peak rate "
        f"({quote.peak_entry}), ${quote.offpeak_usd:.4f} off-peak ({quote.offpeak_entry}): ${saved:.4f} less\n"
        "`v4agent queue run` starts it once due (run it from cron or a systemd timer); "
        f"`v4agent queue cancel {job.id}` drops it"), highlight=False)
