"""`v4agent engine check`: probe an endpoint live for what v4agent relies on, and store its priming method."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from v4agent.cli.commands.engine_cmd import engine_app
from v4agent.core.config import load_config
from v4agent.core.errors import ExitCode
from v4agent.ui.console import stdout

if TYPE_CHECKING:
    from v4agent.accounting.prices import PriceTable
    from v4agent.engine.probe import ProbeResult, ProbeTarget
    from v4agent.engine.probe_wire import Exchange

_MARK = {"pass": "pass", "fail": "FAIL", "info": "info", "skip": "skip"}


def _target(path: Path, engine: str | None, base_url: str | None, model: str | None) -> ProbeTarget:
    """The endpoint named by the options, then the configuration, then the preset."""
    from v4agent.agent.engine_choice import engine_settings
    from v4agent.engine.client import preset_named
    from v4agent.engine.probe import ProbeTarget
    from v4agent.engine.types import EngineUnreachable

    config = load_config(path.resolve())
    settings = engine_settings(config, overrides={"engine": engine, "base_url": base_url, "model": model})
    preset = preset_named(settings.engine)
    url = settings.base_url or preset.base_url
    if not url:
        raise EngineUnreachable(f"engine '{preset.name}' needs a base URL", hint="pass --base-url")
    if preset.key_required and not settings.api_key:
        raise EngineUnreachable(f"no API key for engine '{preset.name}'", hint=f"export {preset.key_env}=<your key>")
    chosen = settings.model or preset.default_model
    if not chosen:
        raise EngineUnreachable(f"engine '{preset.name}' has no default model", hint="pass --model")
    return ProbeTarget(url, settings.api_key, chosen, preset.think_style, preset.name)


def _estimated(exchanges: tuple[Exchange, ...], index: int) -> Any:
    """The usage of exchange ``index``: as billed, or for a stream dropped on purpose, the request that follows
    it (the same prompt) counted as all misses and one output token."""
    from v4agent.engine.types import Usage
    from v4agent.engine.usage import normalize_usage

    usage = normalize_usage(exchanges[index].usage)
    if usage is not None or not exchanges[index].cancelled or index + 1 >= len(exchanges):
        return usage
    after = normalize_usage(exchanges[index + 1].usage)
    return None if after is None else Usage(after.prompt_tokens, 1, 0, after.prompt_tokens)


def probe_cost(result: ProbeResult, table: PriceTable, at: datetime) -> float:
    """What the probe's requests cost, priced as any call of this engine is (local engines cost $0)."""
    from v4agent.accounting.cost import price_call

    total = 0.0
    for index in range(len(result.exchanges)):
        usage = _estimated(result.exchanges, index)
        if usage is not None:
            total += price_call(table, result.target.model, usage, at, engine=result.target.engine).total_usd
    return total


def _save(result: ProbeResult, at: datetime) -> Path:
    from v4agent.engine.probe_state import PrimingRecord, save_priming

    found = result.priming
    return save_priming(PrimingRecord(result.target.base_url, result.target.model, found.method, at.isoformat(),
                                      found.cancel_works, found.short_works, found.max_tokens_in_identity,
                                      found.stream_in_identity))


def check_command(
    path: Path = typer.Argument(Path("."), help="Project directory whose .v4agent.toml is merged."),
    engine: str = typer.Option(None, "--engine", "-e", help="Engine preset (default: the configured one)."),
    base_url: str = typer.Option(None, "--base-url", help="Endpoint to probe (default: the preset's)."),
    model: str = typer.Option(None, "--model", "-m", help="Model to probe (default: the configured one)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    record: Path = typer.Option(None, "--record", help="Save every raw exchange here (keys stripped)."),
    save: bool = typer.Option(True, "--save/--no-save", help="Store the measured priming method."),
    settle: float = typer.Option(1.0, "--settle", help="Seconds between priming and the request that reads it."),
) -> None:
    """Probe an endpoint live for what v4agent relies on, and store its cheapest working priming method.

    Streaming, a tool call with its reasoning sent back, usage fields, a cache hit on the second request,
    whether max_tokens and stream change the cache identity, the error shape of a bad model name: a pass/fail
    table, and what the probe cost.
    """
    from v4agent.accounting.prices import price_table_for
    from v4agent.engine.probe import run_probe

    target = _target(path, engine, base_url, model)
    result, wire = run_probe(target, settle_s=max(settle, 0.0))
    now = datetime.now(UTC)
    cost = probe_cost(result, price_table_for(load_config(path.resolve()), path.resolve()), now)
    recorded = [str(p) for p in wire.record(record)] if record is not None else []
    saved = str(_save(result, now)) if save else ""
    if as_json:
        print(json.dumps({"engine": target.engine, "base_url": target.base_url, "model": target.model,
                          "passed": result.passed, "checks": [asdict(c) for c in result.checks],
                          "priming": asdict(result.priming), "cost_usd": round(cost, 8),
                          "requests": len(result.exchanges), "recorded": recorded, "saved": saved}, indent=2))
    else:
        _print(result, cost, saved, recorded)
    if not result.passed:
        raise typer.Exit(ExitCode.FAILED)


def _print(result: ProbeResult, cost: float, saved: str, recorded: list[str]) -> None:
    from rich.markup import escape

    from v4agent.ui.tables import report_table

    target = result.target
    table = report_table(f"engine check: {target.engine} {target.model} at {target.base_url}",
                         ("check", "result", "detail"), whole=("check", "result"))
    for check in result.checks:
        table.add_row(escape(check.name), _MARK[check.status], escape(check.detail))
    stdout.print(table)
    stdout.print(f"priming method: {result.priming.method}" + (f" (saved in {escape(saved)})" if saved else ""))
    stdout.print(f"probe cost: ${cost:.6f} over {len(result.exchanges)} requests")
    if recorded:
        stdout.print(f"recorded {len(recorded)} exchanges in {escape(str(Path(recorded[0]).parent))}")


def register(app: typer.Typer) -> None:
    """Add ``check`` to the ``engine`` group (``engine_cmd`` registers the group itself)."""
    engine_app.command("check")(check_command)
