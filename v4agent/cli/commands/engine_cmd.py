"""`v4agent engine ...`: the engine group. ``engine list`` lives here; other modules add commands to
``engine_app`` (the planner adds ``plan`` and ``serve``)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from v4agent.core.config import Config, load_config
from v4agent.core.errors import V4AgentError
from v4agent.ui.console import stdout, warn

if TYPE_CHECKING:
    from v4agent.engine.presets import Preset

engine_app = typer.Typer(help="Engines: presets, reachability, balance, live checks, capacity planning.",
                         no_args_is_help=True)

PROBE_TIMEOUT_S = 2.0


def _probe(base_url: str, key: str) -> str:
    """'yes (N models)' or why not, from GET {base_url}/models with a short timeout."""
    if not base_url:
        return "no base_url"
    import httpx  # lazily: keeps CLI start-up fast for every other command

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(base_url.rstrip("/") + "/models", headers=headers, timeout=PROBE_TIMEOUT_S)
    except httpx.TimeoutException:
        return "no (timed out)"
    except httpx.HTTPError as exc:
        return f"no ({type(exc).__name__})"
    if response.status_code in (401, 403):
        return f"no (HTTP {response.status_code}: key refused)"
    if response.status_code != 200:
        return f"no (HTTP {response.status_code})"
    try:
        count = len(response.json().get("data", []))
    except (ValueError, AttributeError):
        return "yes (not a model list)"
    return f"yes ({count} models)"


def _balance(preset: Preset, base_url: str, key: str) -> str:
    """The account balance where the provider has an endpoint for it (the DeepSeek API), else "n/a"."""
    if preset.think_style != "deepseek":
        return "n/a"
    from v4agent.engine.balance import fetch_balance

    found = fetch_balance(base_url, key, timeout=PROBE_TIMEOUT_S)
    return found if isinstance(found, str) else found.summary()


def _priming(base_url: str, model: str) -> tuple[str, str]:
    """The priming method `engine check` measured for this endpoint, and advice to measure (again) if due."""
    from datetime import UTC, datetime

    from v4agent.engine.probe_state import load_priming, priming_advice

    record = load_priming(base_url, model) if base_url and model else None
    advice = priming_advice(record, datetime.now(UTC)) or ""
    return (record.method if record is not None else "not measured"), advice


def _row(preset: Preset, config: Config, probe: bool) -> dict[str, str | bool]:
    from v4agent.engine.presets import api_key_for

    selected = preset.name == config.get("engine")
    base_url = (config.get("base_url") if selected else "") or preset.base_url
    key = api_key_for(preset, config, os.environ)
    configured = bool(base_url) and (bool(key) or not preset.key_required)
    why = "" if configured else ("no base_url" if not base_url else f"{preset.key_env} not set")
    model = (config.get("model") if selected else "") or preset.default_model
    priming, advice = _priming(base_url, model)
    return {
        "name": preset.name,
        "selected": selected,
        "base_url": base_url,
        "default_model": model,
        "key_env": preset.key_env,
        "configured": configured,
        "missing": why,
        "reachable": (_probe(base_url, key) if configured else "not probed") if probe else "not probed",
        "balance": (_balance(preset, base_url, key) if configured else "not probed") if probe else "not probed",
        "priming": priming,
        "priming_advice": advice,
    }


def _local_row(config: Config) -> dict[str, str | bool]:
    """`--engine local`: vLLM started by v4agent on this machine (no preset: `engine plan` sizes it)."""
    return {
        "name": "local", "selected": config.get("engine") == "local",
        "base_url": str(config.get("local.attach") or "(started by v4agent)"),
        "default_model": str(config.get("local.model")), "key_env": "", "configured": True, "missing": "",
        "reachable": "not probed", "balance": "n/a",
        "priming": "not measured", "priming_advice": "",
    }


def _billed_names(config: Config, root: Path) -> Callable[[str, str], str]:
    """A model's billed name on an engine now, from the dated price table (itself where nothing prices it)."""
    from datetime import UTC, datetime

    from v4agent.accounting.prices import price_table_for

    try:
        table = price_table_for(config, root)
    except V4AgentError:
        return lambda engine, model: model
    now = datetime.now(UTC)

    def billed(engine: str, model: str) -> str:
        entry = table.entry_at(now, engine)
        return entry.resolve(model) if entry is not None else model

    return billed


@engine_app.command("list")
def list_engines(
    path: Path = typer.Argument(Path("."), help="Project directory whose .v4agent.toml is merged."),
    fmt: str | None = typer.Option(None, "--format", help="text (default) or json."),
    as_json: bool = typer.Option(False, "--json", help="Short for --format json."),
    probe: bool = typer.Option(True, "--probe/--no-probe",
                               help="Check reachability via GET /models, and the balance where there is one."),
) -> None:
    """Show the engine presets, which are configured, which answer on /models, and the account balance."""
    from concurrent.futures import ThreadPoolExecutor

    from v4agent.cli.options import output_format
    from v4agent.engine.presets import all_presets  # here: every command imports this module (the group)

    as_json = output_format(fmt, as_json, ("text", "json"), "text") == "json"
    from v4agent.ui.tables import report_table

    config = load_config(path.resolve())
    if config.untrusted is not None:
        warn(escape(config.untrusted.warning()))
    presets = all_presets()
    with ThreadPoolExecutor(max_workers=len(presets)) as pool:
        rows = list(pool.map(lambda p: _row(p, config, probe), presets))
    rows.append(_local_row(config))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = report_table("v4agent engines",
                         ("engine", "base URL", "default model", "configured", "reachable", "balance"),
                         whole=("engine", "base URL", "default model"))
    billed = _billed_names(config, path.resolve())
    for row in rows:
        name = f"{row['name']} *" if row["selected"] else str(row["name"])
        configured = "yes" if row["configured"] else f"no ({row['missing']})"
        model = str(row["default_model"]) or "-"
        billed_as = billed(str(row["name"]), model)
        if billed_as != model:  # the name the pre-flight and `cost --by model` tables put first
            model = f"{model} (billed as {billed_as})"
        table.add_row(name, str(row["base_url"]) or "-", model, configured,
                      str(row["reachable"]), str(row["balance"]))
    stdout.print(table)
    stdout.print("* the engine selected by the configuration")
    for row in rows:
        if row["selected"] and row["configured"] and row["priming_advice"]:
            stdout.print(f"{row['name']}: {row['priming_advice']}")


def register(app: typer.Typer) -> None:
    """Add the ``engine`` group to ``app`` (``engine_plan_cmd`` adds ``plan`` and ``serve`` to it)."""
    app.add_typer(engine_app, name="engine")
