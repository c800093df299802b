"""The chat's input side: a prompt-toolkit prompt on a terminal, one turn per line from a pipe.

Keys (also in /help): Enter sends; Alt+Enter (or Esc then Enter) inserts a newline; Tab completes commands
and repository paths; Up/Down walk the history, kept across sessions in ``.v4agent/chat_history``. Ctrl-C
while the model works cancels that turn (the session stays); Ctrl-C at the prompt clears the line and a
second one in a row exits, as does Ctrl-D. The session is saved as it goes either way. SIGTERM or SIGHUP
cancels the turn like Ctrl-C, then the chat ends (``v4agent.core.signals``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import HTML
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from v4agent.agent.loop import Outcome
from v4agent.agent.sessions.lock import note_session
from v4agent.agent.sessions.records import EndRecord
from v4agent.chat.actions import ChatApp
from v4agent.chat.completer import ChatCompleter
from v4agent.chat.extensions import stream_turn, turn_for
from v4agent.chat.render import ChatRenderer, approval_panel
from v4agent.chat.slash import is_slash
from v4agent.chat.statusline import format_status
from v4agent.core.signals import Terminated, interrupt_reason, received
from v4agent.core.state import state_dir
from v4agent.tools.approval import Answer, ApprovalRequest, Asker

HISTORY_FILE = "chat_history"
PROMPT = "you> "
_ANSWERS: dict[str, Answer] = {"y": "yes", "yes": "yes", "n": "no", "no": "no", "a": "always", "always": "always"}


def history_path(root: Path) -> Path:
    """Where the prompt keeps the typed lines across sessions, in the state directory."""
    return state_dir(root) / HISTORY_FILE


def key_bindings() -> KeyBindings:
    """The prompt's keys: Enter sends (or takes the highlighted completion), Alt/Esc-Enter adds a newline."""
    keys = KeyBindings()

    @keys.add("enter")
    def _send(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.current_completion is not None:
            buffer.apply_completion(state.current_completion)
            return
        buffer.validate_and_handle()

    @keys.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return keys


def _read_answer(renderer: ChatRenderer, question: str) -> str:
    try:
        return renderer.console.input(question, markup=False).strip().lower()
    except EOFError:
        return ""


def make_asker(renderer: ChatRenderer) -> Asker:
    """Inline approval on the terminal: yes / no / always (for this kind of action, this session)."""

    def ask(request: ApprovalRequest) -> Answer:
        renderer.pause()
        renderer.console.print(approval_panel(request))
        while True:
            answer = _ANSWERS.get(_read_answer(renderer, "allow? [y]es / [n]o / [a]lways this session: "))
            if answer is not None:
                return answer
            renderer.note("answer y, n or a", style="yellow")

    return ask


def make_confirm(renderer: ChatRenderer) -> Callable[[str], bool]:
    """A yes/no question on the terminal: only y or yes is yes (end of input is no)."""
    def confirm(question: str) -> bool:
        return _read_answer(renderer, f"{question} [y/N] ") in ("y", "yes")

    return confirm


def _report(app: ChatApp, outcome: Outcome) -> None:
    stopped = received()
    if outcome.status == "interrupted" and stopped:
        app.say(f"stopped by {stopped}; the session is saved", "yellow")
    elif outcome.status == "interrupted":
        app.say("turn cancelled; the session is kept (send another message, or /undo turn)", "yellow")
    elif outcome.status in ("limit", "failed"):
        app.say(outcome.reason, "red")


def _turn(app: ChatApp, text: str) -> Outcome:
    try:
        chat = app.chat  # a new chat's first message waits here for its pack
    except KeyboardInterrupt as exc:
        app.say("not sent: the repository is still being packed (send it again, or Ctrl-D to leave)", "yellow")
        return Outcome("interrupted", interrupt_reason(exc))
    note_session(app.env.root, chat.session_id)  # /clear and /resume change it
    try:
        outcome = app.chat.send(text)
    except KeyboardInterrupt as exc:  # between the loop's own handlers (rendering, the session file)
        app.renderer.end_turn()
        outcome = Outcome("interrupted", interrupt_reason(exc))
        if isinstance(exc, Terminated):  # the loop did not get to write the end: the session still gets one
            with contextlib.suppress(OSError):
                app.chat.writer.write(EndRecord("interrupted", outcome.reason))
    _report(app, outcome)
    stream_turn(app, outcome)
    return outcome


def run_tty(app: ChatApp, list_paths: Callable[[], Sequence[str]]) -> None:
    """The interactive loop on a terminal; returns when the user leaves."""
    session: PromptSession[str] = PromptSession(
        history=FileHistory(str(history_path(app.env.root))),
        completer=ChatCompleter(list_paths, [(f"/{c.name}", c.description) for c in app.env.commands.commands]),
        complete_while_typing=False,
        multiline=True,
        key_bindings=key_bindings(),
        bottom_toolbar=lambda: " " + format_status(app.renderer.figures.status()),  # never waits for the pack
        prompt_continuation=lambda width, line, soft: "." * (width - 1) + " ",
    )
    interrupts = 0
    while not received():  # SIGTERM or SIGHUP: leave after the turn it cancelled
        try:
            line = session.prompt(HTML(f"<b><ansicyan>{PROMPT.strip()}</ansicyan></b> "))
        except KeyboardInterrupt:
            if received():
                return
            interrupts += 1
            if interrupts >= 2:
                return
            app.say("(Ctrl-C again or Ctrl-D to exit)")
            continue
        except EOFError:
            return
        interrupts = 0
        if not line.strip():
            continue
        text = turn_for(app, line) if is_slash(line) else None  # a custom command, or an accepted plan
        if text is not None:
            _turn(app, text)
            continue
        if is_slash(line):
            if not app.dispatch(line.strip()):
                return
            continue
        _turn(app, line)


def run_piped(app: ChatApp, lines: Iterable[str], status: Callable[[str], None]) -> Outcome | None:
    """Each input line is one turn (or a slash command); plain output. Returns the first turn that did not
    finish (for the exit status), or None."""
    worst: Outcome | None = None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        text = turn_for(app, line) if is_slash(line) else None  # a custom command, or an accepted plan
        if text is None and is_slash(line):
            if not app.dispatch(line.strip()) or received():
                break
            continue
        outcome = _turn(app, text if text is not None else line)
        if outcome.status != "finished" and worst is None:
            worst = outcome
        if received():  # SIGTERM or SIGHUP cancelled the turn: the chat ends there
            break
        status(format_status(app.chat.figures.status()))
    return worst
