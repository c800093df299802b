"""`v4agent init [PATH]`: the command's signature; the drafting itself is imported only when it runs."""

from __future__ import annotations

from pathlib import Path

import typer


def init(
    path: Path = typer.Argument(Path("."), help="The repository (default: .)."),
    engine: str | None = typer.Option(None, "--engine", help="Engine preset (deepseek, vllm, ...)."),
    model: str | None = typer.Option(None, "--model", help="Model name."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible base URL."),
    think: str | None = typer.Option(None, "--think", help="Thinking effort: off, low, high, max."),
    max_cost: float | None = typer.Option(None, "--max-cost", help="Stop before spending more than this (USD)."),
    budget: int | None = typer.Option(None, "--budget", help="Token budget of the packed repository."),
) -> None:
    """Draft an AGENTS.md for the repository with the model (on the cached pack), for you to edit.

    Written as AGENTS.md only when there is none; otherwise as AGENTS.draft.md. Nothing else changes.
    """
    from v4agent.refactor.initdoc import InitRequest, run_init

    run_init(InitRequest(path=path, engine=engine, model=model, base_url=base_url, think=think, max_cost=max_cost,
                         budget=budget))


def register(app: typer.Typer) -> None:
    """Add the ``init`` command to ``app``."""
    app.command("init")(init)
