"""`v4agent cost`: spend from the ledger per session, day or model; `--prices` shows the price table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from v4agent.core.config import Config, load_config
from v4agent.core.errors import ExitCode
from v4agent.ui.console import error, stdout, warn

if TYPE_CHECKING:
    from collections.abc import Sequence

    from v4agent.accounting.ledger import LedgerRecord
    from v4agent.accounting.prices import PriceTable
    from v4agent.accounting.summary import Totals

# The accounting modules and rich.table load inside the functions: every v4agent command imports this module
# to register `cost`, and most never run it.

_GROUPS = ("session", "day", "model")


def table_for(config: Config, project_root: Path) -> PriceTable:
    """The price table for the project: the shipped prices merged with its configured price file."""
    from v4agent.accounting.prices import price_table_for

    return price_table_for(config, project_root)


def _parse_when(text: str, option: str) -> datetime:
    from v4agent.accounting.prices import as_utc

    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise typer.BadParameter(f"expected a date such as 2026-09-01 or 2026-09-01T08:00, got {text!r}",
                                 param_hint=option) from None


def _usd(value: float) -> str:
    return f"${value:,.4f}"


def _ratio(totals: Totals) -> str:
    ratio = totals.hit_ratio
    return "unknown" if ratio is None else f"{ratio:.1%}"


def _show_prices(table: PriceTable, now: datetime, as_json: bool) -> None:
    from v4agent.ui.tables import report_table
    entry = table.entry_at(now)
    peak = table.is_peak(now)
    next_offpeak = table.next_offpeak_start(now)
    next_change = table.next_change(now)
    if as_json:
        entries: list[dict[str, Any]] = []
        for e in table.entries:
            entries.append({
                "id": e.id, "engine": e.engine, "start": e.start.isoformat(), "source": e.source,
                "peak_hours_utc": [str(w) for w in e.peak_hours], "weekends_offpeak": e.weekends_offpeak,
                "aliases": dict(e.aliases),
                "models": {m: {"peak": {k: str(getattr(p.peak, k)) for k in ("hit", "miss", "output")},
                               "offpeak": {k: str(getattr(p.offpeak, k)) for k in ("hit", "miss", "output")}}
                           for m, p in e.models.items()},
            })
        print(json.dumps({
            "now": now.isoformat(), "entry_in_force": entry.id if entry else None, "peak": peak,
            "next_offpeak_start": next_offpeak.isoformat() if next_offpeak else None,
            "next_change": next_change.isoformat() if next_change else None,
            "sources": list(table.sources), "entries": entries,
        }, indent=2))
        return
    grid = report_table("Price table, USD per 1M tokens (input hit / input miss / output)",
                        ("entry", "from (UTC)", "model", "peak / all day", "off-peak", "rules"),
                        whole=("model",))
    for e in table.entries:
        rules = ", ".join(str(w) for w in e.peak_hours)
        rules = (f"peak {rules} UTC" + (", weekends off-peak" if e.weekends_offpeak else "")) if rules else "one rate"
        if e.aliases:
            rules += "; " + ", ".join(f"{a} = {t}" for a, t in e.aliases.items())
        for i, (model, p) in enumerate(e.models.items()):
            off = f"{p.offpeak.hit} / {p.offpeak.miss} / {p.offpeak.output}" if e.has_peak_rule else "-"
            marker = " *" if entry is not None and e.id == entry.id and i == 0 else ""
            grid.add_row(e.id + marker if i == 0 else "", f"{e.start:%Y-%m-%d %H:%M}" if i == 0 else "", model,
                         f"{p.peak.hit} / {p.peak.miss} / {p.peak.output}", off, rules if i == 0 else "")
    stdout.print(grid)
    state = "peak" if peak else "off-peak"
    stdout.print(f"Now ({now:%Y-%m-%d %H:%M} UTC): {state}, priced by {entry.id if entry else 'no entry'} (*).")
    if peak and next_offpeak is not None:
        stdout.print(f"Next off-peak window starts {next_offpeak:%Y-%m-%d %H:%M} UTC.")
    elif not peak and next_change is not None:
        stdout.print(f"Off-peak until {next_change:%Y-%m-%d %H:%M} UTC.")
    stdout.print("Sources: " + ", ".join(table.sources))


def cost(
    path: Path = typer.Argument(Path("."), help="Project directory (its .v4agent/ledger.jsonl is read)."),
    fmt: str | None = typer.Option(None, "--format", help="text (default) or json."),
    as_json: bool = typer.Option(False, "--json", help="Short for --format json."),
    since: str | None = typer.Option(None, "--since", help="Only calls at or after this date (UTC)."),
    by: str = typer.Option("session", "--by", help="Group by session, day or model."),
    prices: bool = typer.Option(False, "--prices", help="Show the price table and whether now is peak."),
    now_text: str | None = typer.Option(None, "--now", hidden=True, help="Pretend it is this time (UTC)."),
) -> None:
    """Report spend, cache-hit ratio and money saved by the cache, from the project's ledger."""
    from v4agent.cli.options import output_format

    as_json = output_format(fmt, as_json, ("text", "json"), "text") == "json"
    from v4agent.accounting.ledger import Ledger
    from v4agent.accounting.summary import group_totals, nested_session_totals, summarize
    from v4agent.ui.tables import report_table

    root = path.resolve()
    if not root.is_dir():
        error(f"{path}: not a directory")
        raise typer.Exit(ExitCode.USAGE)
    if by not in _GROUPS:
        error(f"--by must be one of {', '.join(_GROUPS)}; got {by!r}")
        raise typer.Exit(ExitCode.USAGE)
    config = load_config(root)
    if config.untrusted is not None:
        warn(escape(config.untrusted.warning()))
    table = table_for(config, root)
    if prices:
        now = _parse_when(now_text, "--now") if now_text else datetime.now(UTC)
        _show_prices(table, now, as_json)
        return
    since_at = _parse_when(since, "--since") if since else None
    result = Ledger(root).read_all(since=since_at)
    if result.skipped:
        warn(f"skipped {result.skipped} unreadable ledger line(s) (a call cut off by a crash?)")
    groups = group_totals(result.records, by) if by != "model" else by_billed_model(result.records)
    aliases = model_aliases(table, result.records) if by == "model" else {}
    total = summarize(result.records)
    if as_json:
        nested = ({"with_subagents": {k: v.to_dict() for k, v in nested_session_totals(result.records).items()}}
                  if by == "session" else {})
        named = {"aliases": {k: list(v) for k, v in aliases.items()}} if by == "model" else {}
        print(json.dumps({"by": by, "groups": {k: v.to_dict() for k, v in groups.items()}, **nested, **named,
                          "total": total.to_dict(), "skipped_lines": result.skipped}, indent=2))
        return
    if not result.records:
        stdout.print(f"No model calls recorded in {Ledger(root).path}.")
        return
    numbers = ("calls", "hit", "miss", "output", "reason", "hit %", "cost", "saved")
    grid = report_table(f"v4agent cost by {by}", (by, *numbers), numeric=numbers, whole=(by,))
    for key, t in [*groups.items(), ("total", total)]:
        label = _nested_label(key) if by == "session" else model_label(key, aliases.get(key, ()))
        grid.add_row(label, str(t.calls), f"{t.cache_hit:,}", f"{t.cache_miss + t.unknown_hit_tokens:,}",
                     f"{t.output_tokens:,}", f"{t.reasoning_tokens:,}", _ratio(t), _usd(t.total_usd),
                     _usd(t.saved_usd), end_section=key == list(groups)[-1])
    stdout.print(grid)
    if total.hit_unknown_calls:
        warn(f"{total.hit_unknown_calls} call(s) had no cache report: their input was priced as misses")
    if total.unpriced_calls:
        warn(f"{total.unpriced_calls} call(s) had no price for their model and count as $0")
    if total.estimated_calls:
        warn(f"{total.estimated_calls} call(s) are estimates: the server's usage never arrived (a stream cut "
             "mid-reply), so their tokens are the client's own count (\"estimated\" in the ledger)")
    _pricing_notes(result.records, total)


def _billed_key(record: LedgerRecord) -> str:
    return f"{record.engine}/{record.billed_model or record.model}"  # older lines have no billed name


def by_billed_model(records: Sequence[LedgerRecord]) -> dict[str, Totals]:
    """Totals per billed model (``engine/name``, aliases followed as priced), in order of first appearance."""
    from v4agent.accounting.summary import summarize

    groups: dict[str, list[LedgerRecord]] = {}
    for record in records:
        groups.setdefault(_billed_key(record), []).append(record)
    return {key: summarize(items) for key, items in groups.items()}


def model_aliases(table: PriceTable, records: Sequence[LedgerRecord]) -> dict[str, tuple[str, ...]]:
    """Per billed model, the other names the price entries that priced its calls bill as it (from the data)."""
    by_id = {e.id: e for e in table.entries}
    names: dict[str, set[str]] = {}
    for record in records:
        key = _billed_key(record)
        billed = key.partition("/")[2]
        entry = by_id.get(record.price_entry) or table.entry_at(record.at, record.engine)
        found = names.setdefault(key, set())
        if entry is not None:
            found.update(name for name, target in entry.aliases.items() if target == billed and name != billed)
        if record.model != billed:
            found.add(record.model)  # requested under another name (routing, or an alias since removed)
    return {key: tuple(sorted(found)) for key, found in names.items()}


def model_label(key: str, aliases: Sequence[str]) -> str:
    """A model row as the pre-flight table names it: the billed name, then the names billed as it."""
    return f"{key} (= {', '.join(aliases)})" if aliases else key


def _nested_label(session_id: str) -> str:
    """A subagent's row is shown under its parent's (the ledger is in time order, so it follows it)."""
    from v4agent.accounting.summary import SUBAGENT_MARK

    parent, mark, place = session_id.partition(SUBAGENT_MARK)
    return f"  ↳ subagent {place}" if mark else parent


def _pricing_notes(records: Sequence[LedgerRecord], total: Totals) -> None:
    """Say which calls were billed under another name than the requested one, and which were priced by the
    requested name only because the response named no model the price table knows (a routing change between
    what was asked and what served the call must not go unseen)."""
    billed: dict[tuple[str, str], int] = {}
    for r in records:
        if r.billed_model and r.billed_model != r.model and not r.unpriced:
            billed[(r.model, r.billed_model)] = billed.get((r.model, r.billed_model), 0) + 1
    for (asked, priced_as), count in billed.items():
        stdout.print(f"{count} call(s) to {asked} were priced as {priced_as} (what served them, or the dated "
                     "routing in the price table)", markup=False, highlight=False)
    if total.fallback_calls:
        warn(f"{total.fallback_calls} call(s) were priced by the requested model name: the response named no "
             "model the price table knows, so a routing change could misprice them")


def register(app: typer.Typer) -> None:
    """Add the ``cost`` command to ``app``."""
    app.command("cost")(cost)
