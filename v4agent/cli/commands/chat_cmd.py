"""`v4agent chat [PATH]`: the command's signature. The chat itself (prompt-toolkit, the engine client, the
loop) is imported only when the command runs, so `v4agent --help` and other commands start fast."""

from __future__ import annotations

import typer


def chat(
    targets: list[str] | None = typer.Argument(None, metavar="[PATH] [ID]",
                                               help="The repository (default: .), and with --resume a session id."),
    engine: str | None = typer.Option(None, "--engine", help="Engine preset (deepseek, vllm, ...)."),
    model: str | None = typer.Option(None, "--model", help="Model name."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible base URL."),
    think: str | None = typer.Option(None, "--think", help="Thinking effort: off, low, high, max."),
    approve: str | None = typer.Option(None, "--approve", help="Approval policy: ask, edits, yes."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Short for --approve yes."),
    max_cost: float | None = typer.Option(None, "--max-cost", help="Stop before spending more than this (USD)."),
    resume: bool = typer.Option(False, "--resume",
                                help="Continue a saved session: the latest, or the ID given after PATH."),
    budget: int | None = typer.Option(None, "--budget", help="Token budget of the packed repository."),
    network: bool = typer.Option(False, "--network",
                                 help="Let commands reach the network (the sandbox blocks it by default)."),
    output_format: str = typer.Option("text", "--format", "--output-format",
                                      help="Output from a pipe: text, or stream-json (one JSON object per line on "
                                      "stdout; docs/stream-json.md)."),
) -> None:
    """Chat with the model about the repository at PATH; it can read, search, edit and run commands."""
    from v4agent.chat.main import run_chat
    from v4agent.chat.request import ChatRequest
    from v4agent.core.errors import UsageError

    if output_format not in ("text", "stream-json"):
        raise UsageError(f"--format must be text or stream-json, not {output_format!r}")

    run_chat(ChatRequest(targets=tuple(targets or ()), engine=engine, model=model, base_url=base_url, think=think,
                         approve=approve, yes=yes, max_cost=max_cost, resume=resume, budget=budget,
                         network=network, stream=output_format == "stream-json"))


def register(app: typer.Typer) -> None:
    """Add the ``chat`` command to ``app``."""
    app.command("chat")(chat)
