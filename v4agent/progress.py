"""Live progress of an agent run on the terminal (stderr): tool calls, edit diffs, test results, status line.

An observer of ``v4agent.agent`` events. On a terminal the status line (context tokens, cache-hit %, cost) stays
at the bottom in a rich Live region; elsewhere (CI, pipes) it is printed once per model call.
"""

from __future__ import annotations

import json
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.syntax import Syntax
from rich.text import Text

from v4agent.agent import CallDone, Event, Notice, Streamed, ToolDone, ToolStarted

_ARG_WIDTH = 110
_DIFF_LINES = 60


def _short_args(arguments: str) -> str:
    try:
        parsed = json.loads(arguments)
        text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in parsed.items()) \
            if isinstance(parsed, dict) else arguments
    except json.JSONDecodeError:
        text = arguments
    text = " ".join(text.split())
    return text if len(text) <= _ARG_WIDTH else text[: _ARG_WIDTH - 1] + "…"


def _first_line(text: str, width: int = 140) -> str:
    line = next((part for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


class RefactorProgress:
    """Renders agent events; use as a context manager so the live region is closed on exit."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.prompt_tokens = 0
        self.hit_tokens = 0
        self.spent = 0.0
        self.context = 0
        self.turn = 0
        self._live: Live | None = None

    def __enter__(self) -> RefactorProgress:
        if self.console.is_terminal and not self.quiet:
            self._live = Live(self._status(), console=self.console, transient=True, auto_refresh=False)
            self._live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def status_text(self) -> str:
        ratio = f"{100 * self.hit_tokens / self.prompt_tokens:.1f}%" if self.prompt_tokens else "-"
        return (f"turn {self.turn} · context {self.context:,} tokens · cache hit {ratio} · "
                f"${self.spent:.4f}")

    def _status(self) -> Text:
        return Text(self.status_text(), style="bold cyan")

    def _print(self, *objects: object) -> None:
        if not self.quiet:
            self.console.print(*objects)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Streamed):
            return
        if isinstance(event, CallDone):
            self._on_call(event)
        elif isinstance(event, ToolStarted):
            self._print(Text.assemble(("▶ ", "bold"), (event.name, "bold magenta"), " ", (_short_args(event.arguments), "dim")))
        elif isinstance(event, ToolDone):
            self._on_tool(event)
        elif isinstance(event, Notice):
            self._print(Text(event.text, style="yellow"))
        if self._live is not None:
            self._live.update(self._status(), refresh=True)

    def _on_call(self, event: CallDone) -> None:
        self.turn = event.turn
        self.spent = event.spent_usd
        self.context = event.context_tokens
        if event.usage is not None:
            self.prompt_tokens += event.usage.prompt_tokens
            self.hit_tokens += event.usage.cache_hit or 0
        for brk in event.diag.breaks:
            self._print(Text(f"cache break ({event.kind} call): {brk.cause}", style="yellow"))
        if event.kind == "prime":
            self._print(Text(f"primed the pack ({event.diag.input_tokens:,} tokens, ${event.cost.total_usd:.4f})",
                             style="dim"))
        if self._live is None:
            self._print(self._status())

    def _on_tool(self, event: ToolDone) -> None:
        result = event.result
        mark = ("✓ ", "green") if result.ok else ("✗ ", "red")
        if event.name == "run_tests":
            verdict = "tests pass" if result.ok else "tests FAIL"
            self._print(Text.assemble(mark, (verdict, mark[1]), " ", (_first_line(result.content), "dim")))
            return
        self._print(Text.assemble(mark, (_first_line(result.summary or result.content), "dim")))
        if result.diff:
            lines = result.diff.splitlines()
            shown = "\n".join(lines[:_DIFF_LINES]) + (f"\n… {len(lines) - _DIFF_LINES} more lines"
                                                      if len(lines) > _DIFF_LINES else "")
            self._print(Syntax(shown, "diff", theme="ansi_dark", background_color="default"))
