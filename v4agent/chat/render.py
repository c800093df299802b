"""Chat output: the streamed answer as markdown, thinking dimmed, tool calls as compact panels, edits as diffs.

``ChatRenderer`` is an observer of ``v4agent.agent.loop`` events. On a terminal the answer streams in a rich
``Live`` region: lines that scrolled above the last few are printed for good, so a long answer neither
flickers nor repeats. Until text streams (and while hidden thinking runs) a spinner says what the call waits
for and for how long. Without a terminal (``plain``) everything is plain text written as it arrives.
"""

from __future__ import annotations

import io
import json
import sys
import time
from typing import Literal, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.spinner import Spinner
from rich.syntax import Syntax
from rich.text import Text

from v4agent.agent.events import CallDone, Event, Notice, Streamed, StreamRestarted, ToolDone, ToolStarted
from v4agent.chat.statusline import SessionFigures
from v4agent.engine.types import Progress
from v4agent.tools.approval import ApprovalRequest
from v4agent.ui.visible import hidden_note, visible, visible_text

_LIVE_LINES = 8  # lines kept re-renderable at the bottom while streaming
_REFRESH_S = 0.06
_ARG_WIDTH = 100
_RESULT_LINES = 6
_DIFF_LINES = 80
_COLOR_SYSTEMS: dict[str, Literal["standard", "256", "truecolor", "windows"]] = {
    "standard": "standard", "256": "256", "truecolor": "truecolor", "windows": "windows"}


def short_args(arguments: str, width: int = _ARG_WIDTH) -> str:
    """Tool-call arguments on one line: ``key=value, ...``, cut at ``width``."""
    try:
        parsed = json.loads(arguments)
    except (ValueError, RecursionError):  # not JSON, or nested past the decoder's depth: shown as sent
        parsed = None
    if isinstance(parsed, dict):
        text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in parsed.items())
    else:
        text = arguments
    text = " ".join(visible(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def approval_panel(request: ApprovalRequest) -> Panel:
    """The approval question's panel: the whole command, or the edit's path and diff, as they will run.

    Every line is shown; control characters, escapes and invisible characters are written out (never
    interpreted by the terminal), with a note saying how many there are.
    """
    body: list[RenderableType] = [visible_text(request.summary, style="bold")]
    note = hidden_note(request.summary, request.detail)
    if note:
        body.append(Text(note, style="bold yellow"))
    if request.detail:
        body.append(Syntax(visible(request.detail), "diff", theme="ansi_dark", background_color="default"))
    lines = request.summary.count("\n") + 1
    if request.kind != "shell":
        title = "make this edit?"
    else:
        title = "run this command?" if lines == 1 else f"run this command ({lines} lines)?"
    return Panel(Group(*body), title=f"{request.tool}: {title}", title_align="left", border_style="yellow")


def _clip_lines(text: str, limit: int) -> str:
    lines = text.rstrip("\n").splitlines()
    if len(lines) <= limit:
        return "\n".join(lines)
    return "\n".join(lines[:limit]) + f"\n… {len(lines) - limit} more lines"


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


class _Stream:
    """One streamed block (thinking or answer) in a Live region; stable lines are printed above it."""

    def __init__(self, console: Console, *, markdown: bool, style: str = "") -> None:
        self.console = console
        self.markdown = markdown
        self.style = style
        self.text = ""
        self._printed = 0
        self._last = 0.0
        self._interval = _REFRESH_S
        self._live = Live(Text(""), console=console, auto_refresh=False, transient=True,
                          redirect_stdout=False, redirect_stderr=False)
        self._live.start()

    def _lines(self) -> list[str]:
        buffer = io.StringIO()
        scratch = Console(file=buffer, width=self.console.width, force_terminal=True,
                          color_system=_COLOR_SYSTEMS.get(self.console.color_system or "", "standard"),
                          highlight=False)
        body: RenderableType = (Markdown(self.text, code_theme="monokai") if self.markdown
                                else Text(self.text, style=self.style))
        scratch.print(body)
        return buffer.getvalue().rstrip("\n").splitlines()

    def add(self, piece: str) -> None:
        self.text += piece
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._show(final=False)
            # A long answer takes longer to re-render: refresh less often, so rendering stays a small
            # share of the time (the whole markdown is rendered each time; a code block can restyle it).
            self._last = time.monotonic()
            self._interval = max(_REFRESH_S, 3 * (self._last - now))

    def _show(self, *, final: bool) -> None:
        lines = self._lines()
        stable = len(lines) if final else max(self._printed, len(lines) - _LIVE_LINES)
        if stable > self._printed:
            self._live.console.print(Text.from_ansi("\n".join(lines[self._printed:stable])))
            self._printed = stable
        self._live.update(Text.from_ansi("\n".join(lines[self._printed:])), refresh=True)

    def close(self) -> None:
        try:
            if self.text.strip():
                self._show(final=True)
            self._live.update(Text(""), refresh=True)
        finally:
            self._live.stop()


class _Waiting:
    """A transient spinner line with the running call's activity, redrawn by rich's refresh thread."""

    def __init__(self, console: Console, figures: SessionFigures) -> None:
        self.figures = figures
        self._spinner = Spinner("dots", style="cyan")
        self._live = Live(self, console=console, auto_refresh=True, refresh_per_second=8, transient=True,
                          redirect_stdout=False, redirect_stderr=False)
        self._live.start()

    def __rich__(self) -> RenderableType:
        self._spinner.update(text=Text(self.figures.activity(), style="dim"))
        return self._spinner

    def close(self) -> None:
        self._live.stop()


_WAITING_PHASES = frozenset({"sending", "waiting", "queued", "retrying"})


class ChatRenderer:
    """Renders one chat's events; ``plain`` for pipes. Call ``end_turn`` after each run of the agent."""

    def __init__(self, console: Console, figures: SessionFigures, *, plain: bool, show_thinking: bool = True,
                 out: TextIO | None = None) -> None:
        self.console = console
        self.figures = figures
        self.plain = plain
        self.show_thinking = show_thinking
        self.out = out or sys.stdout
        self._stream: _Stream | None = None
        self._stream_kind = ""
        self._waiting: _Waiting | None = None
        self._hidden_thinking = 0
        self._answered = False  # some answer text was shown this turn
        self._plain_open = False  # plain mode: an answer line is being written

    # -- streaming -------------------------------------------------------------------------------------------

    def pause(self) -> None:
        """Finish whatever is streaming (before a prompt, a panel, or the end of the turn)."""
        self._stop_waiting()
        if self._stream is not None:
            self._stream.close()
            self._stream = None
            self._stream_kind = ""
        if self._hidden_thinking:
            self.note(f"(thought for {self._hidden_thinking:,} characters; /think show shows it)")
            self._hidden_thinking = 0
        if self._plain_open:
            self.out.write("\n")
            self.out.flush()
            self._plain_open = False

    def _streamed(self, kind: str, text: str) -> None:
        if kind == "reasoning" and not self.show_thinking:
            self._hidden_thinking += len(text)
            return
        if self.plain:
            if kind == "reasoning" and self._stream_kind != "reasoning":
                self.pause()
                self.out.write("thinking: ")
            elif kind == "content" and self._stream_kind != "content":
                self.pause()
            self._stream_kind = kind
            self.out.write(text)
            self.out.flush()
            self._plain_open = True
            self._answered = self._answered or kind == "content"
            return
        if self._stream is None or self._stream_kind != kind:
            self.pause()  # also ends the waiting spinner
            markdown = kind == "content"
            self._stream = _Stream(self.console, markdown=markdown, style="" if markdown else "dim italic")
            self._stream_kind = kind
        self._stream.add(text)
        self._answered = self._answered or kind == "content"

    # -- events ----------------------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        """Show one agent-loop event: streamed text, a tool call and its result, a cache break or a notice."""
        if isinstance(event, Streamed):
            if isinstance(event.delta, Progress):
                self._status(event.delta.text, event.delta.detail)
            elif event.delta.kind in ("content", "reasoning") and event.delta.text:
                self._streamed(event.delta.kind, event.delta.text)
            return
        if isinstance(event, CallDone):
            self._stop_waiting()
            usage = event.usage
            self.figures.record(usage.prompt_tokens if usage else event.diag.input_tokens,
                                usage.cache_hit if usage else None, event.context_tokens, event.spent_usd)
            for brk in event.diag.breaks:
                self.pause()
                self.note(f"cache break: {brk.cause}", style="yellow")
            return
        self.pause()
        if isinstance(event, ToolStarted):
            self._tool_started(event)
        elif isinstance(event, ToolDone):
            self._tool_done(event)
        elif isinstance(event, Notice):
            self.note(event.text, style="yellow")
        elif isinstance(event, StreamRestarted):
            self._answered = False  # the answer starts again below
            self.note(f"[the stream was cut; the {event.shown_chars:,} characters above are superseded: the reply "
                      "is asked again]", style="yellow")

    # -- waiting -------------------------------------------------------------------------------------------

    def _status(self, phase: str, detail: str) -> None:
        """A call changed phase: show what it waits for while nothing streams (plain output: only retries)."""
        self.figures.note_phase(phase, detail)
        if self.plain:
            if phase == "retrying":
                self.pause()
                self.note(f"({self.figures.activity()})")
            return
        hidden_thinking = phase == "thinking" and not self.show_thinking
        if phase == "retrying" and self._stream is not None:
            self.pause()  # the retry streams its reply again from the start, below what was shown
        if (phase in _WAITING_PHASES or hidden_thinking) and self._stream is None and self._waiting is None:
            self._waiting = _Waiting(self.console, self.figures)

    def _stop_waiting(self) -> None:
        if self._waiting is not None:
            self._waiting.close()
            self._waiting = None

    def _tool_started(self, event: ToolStarted) -> None:
        if self.plain:
            self.out.write(f"> {event.name} {short_args(event.arguments)}\n")
            self.out.flush()

    def _tool_done(self, event: ToolDone) -> None:
        result = event.result
        ok = result.ok
        first = result.summary or result.content
        if self.plain:
            mark = "ok" if ok else "failed"
            self.out.write(f"  {mark}: {_first_line(first)}\n")
            if result.diff:
                self.out.write(_clip_lines(result.diff, _DIFF_LINES) + "\n")
            self.out.flush()
            return
        body: list[RenderableType] = []
        if result.diff:
            body.append(Syntax(_clip_lines(result.diff, _DIFF_LINES), "diff", theme="ansi_dark",
                               background_color="default"))
        else:
            body.append(Text(_clip_lines(first, _RESULT_LINES), style="dim"))
        title = Text.assemble(("✓ " if ok else "✗ ", "green" if ok else "red"), (event.name, "bold magenta"),
                              " ", (short_args(event.arguments, 70), "dim"))
        self.console.print(Panel(Group(*body), title=title, title_align="left",
                                 border_style="green" if ok else "red", padding=(0, 1)))

    # -- other output ----------------------------------------------------------------------------------------

    def note(self, text: str, *, style: str = "dim") -> None:
        """Print one line of chat commentary (unstyled without a terminal)."""
        if self.plain:
            self.out.write(text + "\n")
            self.out.flush()
        else:
            self.console.print(Text(text, style=style))

    def show(self, renderable: RenderableType) -> None:
        """Print a table, panel or diff (plain text without a terminal)."""
        self.pause()
        self.console.print(renderable)
        if self.plain:
            self.console.file.flush()

    def answer(self, text: str) -> None:
        """Show a final text that did not stream (a finish summary), unless the turn already showed one."""
        if not text.strip() or self._answered:
            return
        if self.plain:
            self.out.write(text.rstrip("\n") + "\n")
            self.out.flush()
        else:
            self.console.print(Markdown(text, code_theme="monokai"))

    def begin_turn(self) -> None:
        """Start a turn: nothing has been answered yet."""
        self._answered = False

    def end_turn(self) -> None:
        """Finish the turn's output (streamed text, hidden-thinking note)."""
        self.pause()
