"""`v4agent chat [PATH]`: the command's signature. The chat itself (prompt-toolkit, the engine client, the
loop) is imported only when the command runs, so `v4agent --help` and other commands start fast."""

from __future__ import annotations

import typer

from v4agent.cli.options import parse_budget, parse_max_cost, resume_id

FORMATS = ("text", "stream-json")  # `--format`; stream-json from a pipe


def chat(
    path: str = typer.Argument(".", metavar="[PATH]", help="The repository (default: .)."),
    old_id: str | None = typer.Argument(None, hidden=True, help="The session id after PATH (older spelling)."),
    engine: str | None = typer.Option(None, "--engine", help="Engine preset (deepseek, vllm, ...)."),
    model: str | None = typer.Option(None, "--model", help="Model name."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible base URL."),
    think: str | None = typer.Option(None, "--think", help="Thinking effort: off, low, high, max."),
    approve: str | None = typer.Option(None, "--approve", help="Approval policy: ask, edits, yes."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Short for --approve yes."),
    max_cost: str | None = typer.Option(None, "--max-cost", help="Stop before spending more than this many USD "
                                        "(default: the max_cost setting, $1.00), or 'none'."),
    resume: str | None = typer.Option(None, "--resume", metavar="[ID]",
                                      help="Continue a session: the one with this id, or with no id the latest."),
    budget: str | None = typer.Option(None, "--budget", help="Token budget of the packed repository (600k, 1m), "
                                      "or 'none' for the model's window less a reserve (the default)."),
    network: bool = typer.Option(False, "--network",
                                 help="Let commands reach the network (the sandbox blocks it by default)."),
    output_format: str | None = typer.Option(None, "--format", "--output-format",
                                             help="Output from a pipe: text (default), or stream-json (one JSON "
                                             "object per line on stdout; docs/stream-json.md)."),
) -> None:
    """Chat with the model about the repository at PATH; it can read, search, edit and run commands."""
    from pathlib import Path

    from v4agent.chat.main import run_chat
    from v4agent.chat.request import ChatRequest
    from v4agent.cli.options import output_format as pick_format
    from v4agent.cli.preflight import check_engine_settings
    from v4agent.core.errors import UsageError

    chosen = pick_format(output_format, False, FORMATS, "text")
    session = resume_id(resume)
    if old_id is not None:
        if session is None:
            raise UsageError(f"unexpected argument {old_id!r}",
                             hint=f"to continue that session: v4agent chat {path} --resume {old_id}")
        session = session or old_id
    request = ChatRequest(targets=(path, session) if session else (path,), engine=engine, model=model,
                          base_url=base_url, think=think, approve=approve, yes=yes,
                          max_cost=parse_max_cost(max_cost), resume=session is not None,
                          budget=parse_budget(budget).tokens, network=network, stream=chosen == "stream-json")
    check_engine_settings(Path(path), request.config_flags())  # a bad setting is a usage error before any work
    run_chat(request)


def register(app: typer.Typer) -> None:
    """Add the ``chat`` command to ``app``."""
    app.command("chat")(chat)
