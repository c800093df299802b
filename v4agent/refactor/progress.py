"""Live progress of an agent run on the terminal (stderr): tool calls, edit diffs, test results, status line.

An observer of ``v4agent.agent.loop`` events. On a terminal the status line (context tokens, cache-hit %, cost) stays
at the bottom in a rich Live region, with a spinner, what the running call waits for ("waiting for the first
token", "thinking", "streaming") and for how long; elsewhere (CI, pipes) it is printed once per model call, and
a queued request or a retry is printed when it happens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from v4agent.accounting import Estimate
from v4agent.agent.events import CallDone, Event, Notice, Streamed, StreamRestarted, ToolDone, ToolStarted
from v4agent.agent.loop import Outcome
from v4agent.agent.sessions.costs import cost_rows, cost_table
from v4agent.agent.sessions.store import SessionData
from v4agent.agent.subagent_rows import subagent_line, subagent_rows
from v4agent.engine.phases import format_activity
from v4agent.engine.types import Progress
from v4agent.ui.console import stdout
from v4agent.ui.tables import report_table
from v4agent.ui.testfailures import Failure, failures, last_test_output
from v4agent.ui.visible import visible

_ARG_WIDTH = 110
_DIFF_LINES = 60


def _short_args(arguments: str) -> str:
    try:
        parsed = json.loads(arguments)
        text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in parsed.items()) \
            if isinstance(parsed, dict) else arguments
    except (ValueError, RecursionError):  # not JSON, or nested past the decoder's depth: shown as sent
        text = arguments
    text = " ".join(text.split())
    return text if len(text) <= _ARG_WIDTH else text[: _ARG_WIDTH - 1] + "…"


def _first_line(text: str, width: int = 140) -> str:
    line = next((part for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


class RefactorProgress:
    """Renders agent events; use as a context manager so the live region is closed on exit."""

    def __init__(self, console: Console, *, quiet: bool = False, sandbox: str = "") -> None:
        self.console = console
        self.quiet = quiet
        self.sandbox = sandbox  # one word: sandboxed, sandboxed+net, unsandboxed
        self.prompt_tokens = 0
        self.hit_tokens = 0
        self.spent = 0.0
        self.context = 0
        self.turn = 0
        self.last_hit: float | None = None  # the last call's hit ratio; None: unknown (a cancelled stream)
        self.phase = ""  # what the running call is doing; "" between calls
        self.phase_detail = ""
        self.call_started = 0.0
        self._spinner = Spinner("dots", style="bold cyan")
        self._live: Live | None = None

    def __enter__(self) -> RefactorProgress:
        if self.console.is_terminal and not self.quiet:
            # Refreshed by rich's own thread, so the elapsed time moves while the engine blocks on the socket.
            self._live = Live(self, console=self.console, transient=True, auto_refresh=True, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def status_text(self) -> str:
        """The status line: turn, context tokens, last and session cache-hit ratios, dollars spent, the sandbox."""
        # The last call's ratio says whether the layout still hits; the session's lags behind it (the first
        # call of a session is all misses), so it comes second.
        last = "-" if self.last_hit is None else f"{100 * self.last_hit:.1f}%"
        session = f"{100 * self.hit_tokens / self.prompt_tokens:.1f}%" if self.prompt_tokens else "-"
        return (f"turn {self.turn} · context {self.context:,} tokens · cache hit {last} (session {session}) · "
                f"${self.spent:.4f}" + (f" · {self.sandbox}" if self.sandbox else ""))

    def activity_text(self, now: float | None = None) -> str:
        """What the running call waits for and for how long; "" between calls."""
        if not self.phase:
            return ""
        clock = time.monotonic() if now is None else now
        return format_activity(self.phase, self.phase_detail, clock - self.call_started)

    def _status(self) -> Text:
        return Text(self.status_text(), style="bold cyan")

    def __rich__(self) -> RenderableType:
        activity = self.activity_text()
        if not activity:
            return self._status()
        self._spinner.update(text=Text.assemble((self.status_text(), "bold cyan"), " · ", (activity, "cyan")))
        return self._spinner

    def _print(self, *objects: object) -> None:
        if not self.quiet:
            self.console.print(*objects)

    def __call__(self, event: Event) -> None:
        """Show one agent-loop event and refresh the status line (streamed text is not shown)."""
        if isinstance(event, Streamed):
            if isinstance(event.delta, Progress):
                self._on_phase(event.delta.text, event.delta.detail)
            return
        if isinstance(event, CallDone):
            self._on_call(event)
        elif isinstance(event, ToolStarted):
            self._print(Text.assemble(("▶ ", "bold"), (event.name, "bold magenta"), " ", (_short_args(event.arguments), "dim")))
        elif isinstance(event, ToolDone):
            self._on_tool(event)
        elif isinstance(event, Notice):
            self._print(Text(event.text, style="yellow"))
        elif isinstance(event, StreamRestarted):
            self.spent = event.spent_usd
            self._print(Text(f"↻ the reply's stream was cut after {event.shown_chars:,} characters; what came is "
                             f"superseded and the call is asked again (the cut call: ~${event.cost.total_usd:.4f}, "
                             "an estimate in the ledger)", style="yellow"))
        if self._live is not None:
            self._live.refresh()

    def _on_phase(self, phase: str, detail: str) -> None:
        if phase == "sending" or not self.phase:
            self.call_started = time.monotonic()
        self.phase, self.phase_detail = phase, detail
        if self._live is None and phase in ("queued", "retrying"):  # no live line: say it once, as it happens
            self._print(Text(self.activity_text(), style="yellow"))

    def _on_call(self, event: CallDone) -> None:
        self.phase = self.phase_detail = ""
        self.turn = event.turn
        self.spent = event.spent_usd
        self.context = event.context_tokens
        self.last_hit = None
        if event.usage is not None:
            self.prompt_tokens += event.usage.prompt_tokens
            self.hit_tokens += event.usage.cache_hit or 0
            if event.usage.cache_hit is not None and event.usage.prompt_tokens:
                self.last_hit = event.usage.cache_hit / event.usage.prompt_tokens
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


# -- the final report ---------------------------------------------------------------------------------------

def estimate_table(estimates: Sequence[Estimate]) -> Table:
    """The pre-flight table: each model's price for the first call and for a cached follow-up."""
    table = report_table("pre-flight estimate for this pack", ("model", "hours", "first call $", "follow-up $"),
                         numeric=("first call $", "follow-up $"), whole=("model",))
    for e in estimates:
        hours = "all day" if e.all_day else ("peak" if e.peak else "off-peak")
        table.add_row(e.label, hours, f"{e.first_call_usd:.4f}", f"{e.cached_followup_usd:.4f}")
    entries = sorted({e.price_entry for e in estimates})
    table.caption = ("first call: the pack as cache misses; follow-up: the same prefix as cache hits\n"
                     f"priced by: {'; '.join(entries)}")
    table.caption_justify = "left"
    return table


def status_text(status: str, reason: str, tests: dict[str, Any]) -> str:
    """`finished (tests failing)`, `finished (the model called finish)`; a reason that already names the status
    (`interrupted (Ctrl-C); ...`) is not repeated after it."""
    if status == "finished" and tests.get("status") == "fail":
        return "finished (tests failing)"
    if not reason:
        return status
    return reason if reason.startswith(status) else f"{status} ({reason})"


def _failing(session: SessionData, tests: dict[str, Any]) -> list[Failure]:
    """The failing tests named in the end-of-run test output, or in the model's last run_tests result."""
    return failures(str(tests.get("output_tail") or "") or last_test_output(session.messages))


def report_json(session: SessionData, outcome: Outcome, tests: dict[str, Any], diff: str,
                exit_code: int, *, kept: bool = True) -> dict[str, Any]:
    """The run's outcome, tests, diff and costs as one dict: what ``render_report`` prints as JSON.

    ``kept`` False: no call was billed and the session was not kept (its id is null).
    """
    totals = cost_rows(session)
    if tests.get("status") == "fail":
        tests = {**tests, "failures": [f.__dict__ for f in _failing(session, tests)]}
    return {
        "session_id": session.session_id if kept else None, "status": outcome.status, "reason": outcome.reason,
        "summary": outcome.summary, "turns": session.turns, "tests": tests, "diff": diff,
        "changed_files": outcome.changed_paths, "cost": totals[-1] if totals else {}, "cost_by_kind": totals,
        "hit_ratio": session.hit_ratio,
        "price_entries": sorted({str(c.price_entry) for c in session.calls}),
        "cache_breaks": [b for c in session.calls for b in (c.diag or {}).get("breaks", [])],
        "subagents": subagent_rows(session.subtasks),
        "exit_code": exit_code,
    }


def render_report(session: SessionData, outcome: Outcome, tests: dict[str, Any], diff: str, exit_code: int,
                  *, as_json: bool, kept: bool = True) -> None:
    """The end of a refactor run: the diff, the model's summary, the tests, the cost table (or JSON)."""
    if as_json:
        print(json.dumps(report_json(session, outcome, tests, diff, exit_code, kept=kept), indent=2))
        return
    out = stdout
    if diff.strip():
        out.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))
    else:
        out.print("no changes")
    out.print(Text.assemble(("status: ", "bold"), status_text(outcome.status, outcome.reason, tests)))
    if outcome.summary:
        out.print(Text.assemble(("summary: ", "bold"), outcome.summary))
    tests_line = {"pass": ("tests pass", "green"), "fail": ("tests FAIL", "red")}.get(
        str(tests["status"]), (f"tests: {tests['status']}", "yellow"))
    out.print(Text(f"{tests_line[0]} ({tests.get('command') or tests.get('ran', '')})", style=tests_line[1]))
    if tests.get("status") == "fail":
        for failure in _failing(session, tests):
            out.print(Text.assemble(("  ✗ ", "red"), failure.name, ("  " + failure.excerpt, "dim")))
    if not kept:
        out.print("no call was billed: no session was kept ($0.00)", markup=False, highlight=False)
        return
    rows = subagent_rows(session.subtasks)
    if rows:
        out.print(Text("subagents (under the turn that spawned each):", style="bold"))
        for row in rows:
            out.print(Text(f"  {visible(subagent_line(row))}"))
    out.print(cost_table(session))
    out.print(f"session {session.session_id}; `v4agent sessions show {session.session_id}` for the per-call "
              "cache table, `v4agent undo` to undo its changes", markup=False, highlight=False)
