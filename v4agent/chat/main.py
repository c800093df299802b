"""The body of `v4agent chat [PATH]`: the interactive terminal chat over a packed repository.

On a terminal: a prompt-toolkit prompt with history, completion and a status bar; rich output. From a pipe:
each line is a turn and the output is plain text, so the chat can be scripted. The session is saved as it
goes; `--resume [ID]` continues it (the latest by default) with the same messages, tools and settings, so
its cache prefix is intact.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from v4agent.agent.loop import Outcome
from v4agent.agent.sessions.empty import discard_if_empty
from v4agent.agent.sessions.lock import note_session, release_session_locks
from v4agent.agent.sessions.store import SessionData, find_resumable, new_session_id
from v4agent.agent.setup import Workspace, open_workspace, pack_repository, start_run
from v4agent.agent.streamjson import StreamWriter
from v4agent.chat.actions import ChatApp
from v4agent.chat.core import ChatEnv, ChatSession, PackFailed, resume_overrides
from v4agent.chat.extensions import load_chat_extensions, load_chat_instructions, stream_end, stream_start
from v4agent.chat.render import ChatRenderer
from v4agent.chat.repl import make_asker, make_confirm, run_piped, run_tty
from v4agent.chat.request import ChatRequest
from v4agent.chat.startup import PendingStart
from v4agent.chat.statusline import SessionFigures
from v4agent.core.errors import ExitCode, Interrupted, UsageError, V4AgentError
from v4agent.core.git import GitError, run_git
from v4agent.core.signals import received, stop_on_signals
from v4agent.core.tempfiles import sweep_repository
from v4agent.engine.client import RemoteEngine
from v4agent.engine.presets import model_info
from v4agent.engine.types import EngineError, EngineUnreachable
from v4agent.ui.console import stderr, warn
from v4agent.ui.trustprompt import ask_trust_on_terminal

_WHY_GIT = "the chat records the starting state so that /undo and `v4agent undo` can restore it"


def _targets(targets: tuple[str, ...], resume: bool) -> tuple[Path, str | None]:
    """PATH and the session id from the positional words: `chat [PATH]`, `chat [PATH] --resume [ID]`."""
    if len(targets) > (2 if resume else 1):
        raise UsageError("too many arguments; usage: v4agent chat [PATH] [--resume [ID]]")
    if not resume:
        return Path(targets[0] if targets else "."), None
    if len(targets) == 2:
        return Path(targets[0]), targets[1]
    if len(targets) == 1 and not Path(targets[0]).is_dir():
        return Path("."), targets[0]
    return Path(targets[0] if targets else "."), None



def _pack_builder(workspace: Workspace, budget: int | None, engine: RemoteEngine) -> Any:
    def build(focus: tuple[str, ...], dropped: tuple[str, ...]) -> Any:
        from v4agent.pack.options import PackError  # heavy (tree-sitter, detect-secrets): load when used

        try:
            return pack_repository(workspace, model=engine.settings.model, budget=budget, include=focus,
                                   exclude=dropped, focus=focus)
        except PackError as exc:
            raise PackFailed(f"cannot pack {workspace.root}: {exc}") from None

    return build


def _repo_paths(root: Path) -> list[str]:
    """Files for tab completion: tracked and untracked, ignore rules applied."""
    try:
        return run_git(root, "ls-files", "-co", "--exclude-standard", text=True).splitlines()
    except GitError:
        return []


def _banner(app: ChatApp, first: ChatSession | PendingStart, engine: RemoteEngine, resumed: bool) -> None:
    s = engine.settings
    what = "resumed session" if resumed else "session"
    context = (f"context {first.figures.context_tokens:,} tokens" if isinstance(first, ChatSession) else
               "packing the repository meanwhile")
    app.say(f"v4agent chat · {what} {first.session_id} · {engine.name}:{s.model} (think {s.think}) · "
            f"{context} · /help for commands, Ctrl-D to exit", "bold")


def _import_sdk_meanwhile() -> None:
    """The engine's SDK (openai: about a second of imports) loads on a thread while this one waits on git for the
    workspace; the engine's own import then finds it loaded (or waits for the rest of it)."""
    threading.Thread(target=importlib.import_module, args=("openai",), name="import-sdk", daemon=True).start()


def _start_meanwhile(env: ChatEnv, engine: RemoteEngine, build_pack: Any) -> PendingStart:
    """A new session made on a thread while the person types (``startup.py``): what walks the whole tree (the
    temp-file sweep, the instruction files' listing, the pack) happens there, in that order."""
    sid = new_session_id()

    def make(left: Callable[[], bool]) -> ChatSession | None:
        try:
            sweep_repository(env.root)  # before anything looks at the tree (start_run left it to here)
            env.instructions = load_chat_instructions(env.root, warn=lambda line: warn(escape(line)))
            snapshot = build_pack((), ())
            return None if left() else ChatSession.start(env, engine, snapshot, sid=sid)
        except (GitError, OSError) as exc:  # as when made before the prompt (PackFailed: exit 2)
            raise V4AgentError(str(exc)) from None

    return PendingStart(sid, make).start()


def _reprint(app: ChatApp, session: SessionData, turns: int = 3) -> None:
    """The last turns of a resumed session, dimmed, so the conversation picks up where it was."""
    from v4agent.agent.request.layout import PACK_INDEX
    from v4agent.ui.transcript import recent_turns, transcript_lines

    earlier = recent_turns(session.messages, turns, pack_indexes={PACK_INDEX})
    if earlier:
        app.say(f"(the last {turns} turns of the session, at most)", "dim")
        for line in transcript_lines(earlier, max_lines=12):
            app.say(line, "dim")


def run_chat(request: ChatRequest) -> None:
    """Chat with the model about the repository at PATH; it can read, search, edit and run commands.

    SIGTERM and SIGHUP end the chat like Ctrl-C ends a turn (the session saved, exit 5); it holds the
    repository's session lock.
    """
    try:
        with stop_on_signals():
            _run_chat(request)
    finally:
        release_session_locks()


def _run_chat(request: ChatRequest) -> None:
    _import_sdk_meanwhile()
    path, session_id = _targets(request.targets, request.resume)
    if request.stream and sys.stdin.isatty():
        raise UsageError("--format stream-json is for a chat from a pipe (each input line a turn)")
    flags = request.config_flags()
    # SetupError, ConfigError, PriceTableError, SessionError: usage errors (exit 2), reported by the entry point
    workspace = open_workspace(path, flags, why=_WHY_GIT, ask_trust=ask_trust_on_terminal if sys.stdin.isatty() else None,
                               warn=lambda line: warn(escape(line)))
    session = find_resumable(workspace.root, session_id) if request.resume else None
    later = session is None and not request.stream  # a new chat: the prompt first, the tree's walks meanwhile
    try:
        eng = start_run(workspace, session=session, sweep=not later,
                        overrides=resume_overrides(session, workspace.config, flags) if session is not None else None).engine
    except EngineError as exc:  # a chat without its engine cannot start, whatever the cause: exit 6
        raise EngineUnreachable(str(exc), hint=exc.hint) from None
    root = workspace.root

    tty = sys.stdin.isatty() and sys.stdout.isatty()
    # stream-json: stdout carries only the JSON lines; the readable chat goes to stderr.
    console = Console(highlight=False) if tty else Console(highlight=False, force_terminal=False, no_color=True,
                                                           width=120, soft_wrap=True, stderr=request.stream)
    figures = SessionFigures(eng.name, eng.settings.model, model_info(eng.settings.model).context_window)
    renderer = ChatRenderer(console, figures, plain=not tty, show_thinking=tty,
                            out=sys.stderr if request.stream else None)
    instructions, commands = load_chat_extensions(root, warn=lambda line: warn(escape(line)),
                                                  with_instructions=not later)
    env = ChatEnv(root, workspace.config, workspace.table, renderer, ask=make_asker(renderer) if tty else None,
                  confirm=make_confirm(renderer) if tty else (lambda _question: True), flags=flags,
                  instructions=instructions, commands=commands,
                  stream=StreamWriter(sys.stdout) if request.stream else None)
    build_pack = _pack_builder(workspace, request.budget, eng)
    first: ChatSession | PendingStart
    try:
        if session is not None:
            first = ChatSession.resume(env, session, eng)
        elif not later:  # the stream's first line carries the pack's figures: packed before it
            stderr.print("packing the repository…", style="dim")
            first = ChatSession.start(env, eng, build_pack((), ()))
        else:  # the prompt shows now; the first message waits for the pack
            first = _start_meanwhile(env, eng, build_pack)
    except (GitError, OSError) as exc:  # PackFailed propagates: exit 2
        raise V4AgentError(str(exc)) from None
    except KeyboardInterrupt:
        raise Interrupted("interrupted") from None
    note_session(root, first.session_id)
    app = ChatApp(env, first, build_pack)
    _banner(app, first, eng, session is not None)
    stream_start(app, resumed=session is not None)
    if session is not None and not request.stream:  # stdout is the JSON stream there
        _reprint(app, session)
    failed: Outcome | None = None
    try:
        if tty:
            run_tty(app, lambda: _repo_paths(root))
        else:
            failed = run_piped(app, sys.stdin, lambda line: stderr.print(line, markup=False, highlight=False, soft_wrap=True))
    finally:
        renderer.end_turn()
        last = app.leave()  # None: left before the first session was made (the start's error raises here)
        if last is not None:
            last.close("prompt_input_exit")  # SessionEnd; the MCP servers stop
        sid = last.session_id if last is not None else ""
        if last is None or (session is None and discard_if_empty(last.writer.path)):
            stderr.print("no turn was sent: nothing saved", markup=False, highlight=False)
        else:
            stderr.print(f"session {sid} saved; continue it with: v4agent chat --resume {sid}", markup=False,
                         highlight=False, soft_wrap=True)
    stopped = received()
    code = ExitCode.INTERRUPTED if stopped else _exit_code(failed) if failed is not None else ExitCode.OK
    stream_end(app, failed, int(code))
    if stopped:
        raise Interrupted(f"stopped by {stopped}")
    if failed is not None:
        raise typer.Exit(_exit_code(failed))


def _exit_code(outcome: Outcome) -> ExitCode:
    if outcome.status == "interrupted":
        return ExitCode.INTERRUPTED
    if outcome.status == "limit":
        return ExitCode.LIMIT_REACHED
    return ExitCode.ENGINE_UNREACHABLE if outcome.engine_unreachable else ExitCode.FAILED
