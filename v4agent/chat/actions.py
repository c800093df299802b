"""The slash commands of the chat, carried out on the current session.

Every command answers in one place (the renderer); a bad argument or a failure becomes one line, never a
traceback. Actions that restart the provider's cache (/model, /think EFFORT, /add, /drop) first say what
the miss costs and ask to go on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from v4agent.accounting.budget import BudgetExceeded
from v4agent.agent.sessions.costs import cost_table
from v4agent.agent.sessions.store import SessionError, find_resumable, list_sessions, read_session
from v4agent.agent.undoplan import describe_step
from v4agent.chat.core import ChatEnv, ChatSession, PackFailed, Undone, resume_overrides
from v4agent.chat.costs import miss_cost, miss_warning
from v4agent.chat.extensions import show_commands, show_memory, switch_plan
from v4agent.chat.slash import COMMANDS, SlashCommand, SlashError, help_lines, parse_slash
from v4agent.chat.startup import PendingStart
from v4agent.core.errors import UsageError
from v4agent.core.git import GitError
from v4agent.core.gitstart import diff_since
from v4agent.core.pathtext import display_path
from v4agent.engine.presets import get_preset, model_info
from v4agent.engine.types import EngineError
from v4agent.secrets.results import redact_diff
from v4agent.ui.tables import report_table

KEYS_HELP = (
    ("Enter", "send the message"),
    ("Alt+Enter, or Esc then Enter", "insert a newline (multi-line message)"),
    ("Tab", "complete commands, their arguments, and repository paths (also after @)"),
    ("Up / Down", "walk the input history (kept across sessions)"),
    ("Ctrl-C", "while the model works: cancel that turn; at the prompt: clear the line, twice to exit"),
    ("Ctrl-D", "save the session and exit"),
)

# Builds a pack: (focus paths, dropped paths) -> v4agent.pack.Snapshot
PackBuilder = Callable[[tuple[str, ...], tuple[str, ...]], Any]


class ChatApp:
    """The current session plus what replaces it (/clear, /resume)."""

    def __init__(self, env: ChatEnv, chat: ChatSession | PendingStart, build_pack: PackBuilder) -> None:
        self.env = env
        self._chat = chat if isinstance(chat, ChatSession) else None
        self._pending = chat if isinstance(chat, PendingStart) else None  # made while the person types
        self.build_pack = build_pack
        self.focus: tuple[str, ...] = ()
        self.dropped: tuple[str, ...] = ()

    @property
    def chat(self) -> ChatSession:
        """The current session (the first use waits for a new chat's start: its pack)."""
        if self._chat is None:
            assert self._pending is not None
            self._chat = self._pending.wait(lambda line: self.say(line, "dim"))
            self._pending = None
        return self._chat

    @chat.setter
    def chat(self, session: ChatSession) -> None:
        self._chat, self._pending = session, None

    def leave(self) -> ChatSession | None:
        """The session as the chat ends; None when the person left before its start made one."""
        if self._chat is None and self._pending is not None:
            self._chat, self._pending = self._pending.leave(), None
        return self._chat

    @property
    def renderer(self) -> Any:
        """The current session's renderer (the terminal output of the chat)."""
        return self.env.renderer

    def say(self, text: str, style: str = "") -> None:
        """Print one line of chat commentary, in ``style``."""
        self.renderer.note(text, style=style)

    def dispatch(self, line: str) -> bool:
        """Run one slash command line; False means leave the chat."""
        parsed = parse_slash(line)
        if isinstance(parsed, SlashError):
            self.say(parsed.hint, "yellow")
            return True
        handler = getattr(self, "_cmd_" + parsed.name[1:])
        try:
            return handler(parsed) is not False
        except (GitError, SessionError, EngineError, BudgetExceeded, PackFailed, UsageError, OSError) as exc:
            hint = getattr(exc, "hint", "")
            self.say(f"{parsed.name}: {exc}" + (f" ({hint})" if hint else ""), "red")
            return True
        except KeyboardInterrupt:
            self.say(f"{parsed.name} cancelled", "yellow")
            return True

    # -- information -------------------------------------------------------------------------------------------

    def _cmd_help(self, _cmd: SlashCommand) -> None:
        table = Table(show_header=False, box=None, padding=(0, 2))
        for usage, text in help_lines():
            table.add_row(Text(usage, style="bold"), text)
        table.add_row("", "")
        for key, text in KEYS_HELP:
            table.add_row(Text(key, style="bold cyan"), text)
        self.renderer.show(table)
        show_commands(self)

    def is_builtin(self, head: str) -> bool:
        """Whether ``head`` (``/name``) is a built-in command: built-ins win over custom commands."""
        return head in {spec.name for spec in COMMANDS} or head in ("/quit", "/q", "/?")

    def _cmd_memory(self, _cmd: SlashCommand) -> None:
        show_memory(self)

    def _cmd_plan(self, cmd: SlashCommand) -> None:
        switch_plan(self, cmd.args[0] if cmd.args else "")

    def _cmd_cost(self, _cmd: SlashCommand) -> None:
        session = read_session(self.chat.writer.path)
        if not session.calls:
            self.say("no model calls yet in this session")
            return
        self.renderer.show(cost_table(session))
        t = session.token_totals()
        self.say(f"session {session.session_id}: {len(session.calls)} calls, prompt {t['prompt']:,} tokens "
                 f"({t['hit']:,} hit, {t['miss']:,} miss), output {t['output']:,}, ${session.cost_usd:.6f}",
                 "bold")

    def _cmd_diff(self, _cmd: SlashCommand) -> None:
        diff = redact_diff(diff_since(self.env.root, self.chat.git.tree))[0]  # piped, stdout may be a log
        if not diff.strip():
            self.say("no changes since the session started")
            return
        self.renderer.show(diff.rstrip("\n") if self.renderer.plain else
                           Syntax(diff, "diff", theme="ansi_dark", background_color="default"))

    def _cmd_sessions(self, _cmd: SlashCommand) -> None:
        found = list_sessions(self.env.root)
        table = report_table("sessions", ("id", "task", "status", "turns", "$", "cache hit"),
                             numeric=("turns", "$", "cache hit"), whole=("id",))
        for s in found:
            ratio = "-" if s.hit_ratio is None else f"{100 * s.hit_ratio:.1f}%"
            mark = " (this one)" if s.session_id == self.chat.session_id else ""
            table.add_row(s.session_id + mark, s.task[:50], s.status, str(s.turns), f"{s.cost_usd:.4f}", ratio)
        self.renderer.show(table)

    # -- session -----------------------------------------------------------------------------------------------

    def _cmd_exit(self, _cmd: SlashCommand) -> bool:
        return False

    def _cmd_undo(self, cmd: SlashCommand) -> None:
        undone = self.chat.undo(whole_turn=bool(cmd.args) and cmd.args[0] == "turn")
        listed = ", ".join(map(display_path, undone.paths)) if undone.paths else "no file differed"
        self.say(f"undid {undone.what}: {listed}", "green")
        self._files_note(undone)

    def _files_note(self, undone: Undone) -> None:
        for step in undone.left_alone:
            self.say(f"left alone {display_path(step.path)}: {step.why}", "yellow")
        for path, why in undone.failed:
            self.say(f"not put back {display_path(path)}: {why}", "yellow")
        if undone.saved_dir:
            self.say(f"saved what it replaced under {display_path(undone.saved_dir)}/ "
                     f"(cp -p {display_path(undone.saved_dir)}/PATH PATH gets one back)")

    def _cmd_rewind(self, cmd: SlashCommand) -> None:
        if cmd.args and not cmd.args[0].isdigit():
            self.say("usage: /rewind [TURN] (a turn number; 0 is the start of the chat)", "yellow")
            return
        turn = int(cmd.args[0]) if cmd.args else self.chat.user_turn - 1
        _cut, steps = self.chat.rewind_plan(turn)
        shown = sorted((s for s in steps if s.action != "none"), key=lambda s: not s.acts(False))
        lines = [describe_step(step, False) for step in shown]
        if lines:
            self.say(f"/rewind {turn} would:")
            for line in lines:
                self.say(line)
            if not self.env.confirm("rewind?"):
                self.say("cancelled; nothing changed")
                return
        done = self.chat.rewind(turn)
        files = ", ".join(map(display_path, done.files.paths)) or "none needed"
        self.say(f"rewound to turn {turn}: the conversation is back to {done.messages} messages; files put back: "
                 f"{files}", "green")
        self._files_note(done.files)
        self.say(f"the next request starts with these {done.prefix_tokens:,} tokens, already sent: "
                 f"{done.expected_hit:,} expected to hit the cache")

    def _cmd_compact(self, _cmd: SlashCommand) -> None:
        if self.chat.agent.turn == 0:
            self.say("nothing to compact yet")
            return
        self.chat.agent.compact("requested with /compact")
        self.renderer.end_turn()
        self.say(f"compacted; context now starts again from the pack and a summary (${self.chat.figures.cost_usd:.4f} "
                 "spent so far)")

    def _cmd_clear(self, _cmd: SlashCommand) -> None:
        old = self.chat.session_id
        snapshot = self.chat.snapshot if self.chat.snapshot is not None else self.build_pack(self.focus, self.dropped)
        self.chat.close("clear")
        self.chat = ChatSession.start(self.env, self.chat.engine, snapshot)
        self.say(f"new session {self.chat.session_id} on the same pack (session {old} is saved; /resume {old})")

    def _cmd_resume(self, cmd: SlashCommand) -> None:
        session = find_resumable(self.env.root, cmd.args[0])
        if session.session_id == self.chat.session_id:
            self.say("that is the current session")
            return
        engine = self.chat.open_engine(**resume_overrides(session, self.env.config, self.env.flags))
        self.chat.close()
        self.chat = ChatSession.resume(self.env, session, engine)
        self.say(f"resumed session {session.session_id} ({session.turns} model calls so far)")

    # -- cache-breaking ----------------------------------------------------------------------------------------

    def _warn_and_confirm(self, action: str, model: str) -> bool:
        tokens = max(self.chat.figures.context_tokens, 1)
        cost = miss_cost(self.env.table, model, tokens, datetime.now(UTC), engine=self.chat.engine.name)
        self.say(miss_warning(action, cost), "yellow")
        if not self.env.confirm("go on?"):
            self.say("cancelled; nothing changed")
            return False
        return True

    def _cmd_model(self, cmd: SlashCommand) -> None:
        engine = self.chat.engine
        if not cmd.args:
            known = ", ".join(engine.preset.models) or "(any the server serves)"
            self.say(f"model: {engine.settings.model} on {engine.name} (think {engine.settings.think}); "
                     f"models of this engine: {known}")
            return
        name = cmd.args[0]
        if name == engine.settings.model:
            self.say(f"already using {name}")
            return
        preset = get_preset(engine.name)
        if preset.models and name not in preset.models and not model_info(name).known:
            self.say(f"unknown model {name!r}; models of {engine.name}: {', '.join(preset.models)}", "yellow")
            return
        if not self._warn_and_confirm(f"switching to {name}", name):
            return
        self.chat.replace_engine(self.chat.open_engine(model=name))
        self.say(f"now using {name}")

    def _cmd_think(self, cmd: SlashCommand) -> None:
        engine = self.chat.engine
        if not cmd.args:
            shown = "shown" if self.renderer.show_thinking else "hidden"
            self.say(f"thinking effort {engine.settings.think}; thinking text {shown}")
            return
        level = cmd.args[0]
        if level in ("show", "hide", "on"):  # "off" is an effort, as in `--think off`; "on" is the older "show"
            self.renderer.show_thinking = level != "hide"
            self.say(f"thinking text {'hidden' if level == 'hide' else 'shown'} (the effort stays "
                     f"{engine.settings.think}; /think off|low|high|max changes it)")
            return
        if level == engine.settings.think:
            self.say(f"the thinking effort is already {level}")
            return
        if not self._warn_and_confirm(f"changing the thinking effort to {level}", engine.settings.model):
            return
        self.chat.replace_engine(self.chat.open_engine(think=level))
        self.say(f"thinking effort now {level}")

    def _cmd_add(self, cmd: SlashCommand) -> None:
        missing = [p for p in cmd.args if not (self.env.root / p).exists()]
        if missing:
            self.say(f"no such file in the repository: {', '.join(missing)}", "yellow")
            return
        focus = tuple(dict.fromkeys((*self.focus, *cmd.args)))
        dropped = tuple(p for p in self.dropped if p not in cmd.args)
        self._repack(focus, dropped, f"adding {', '.join(cmd.args)}")

    def _cmd_drop(self, cmd: SlashCommand) -> None:
        focus = tuple(p for p in self.focus if p not in cmd.args)
        dropped = tuple(dict.fromkeys((*self.dropped, *cmd.args)))
        self._repack(focus, dropped, f"dropping {', '.join(cmd.args)}")

    def _repack(self, focus: tuple[str, ...], dropped: tuple[str, ...], action: str) -> None:
        snapshot = self.build_pack(focus, dropped)
        if str(snapshot.text) == self.chat.agent.conversation.pack_text():
            self.focus, self.dropped = focus, dropped
            self.say("the pack did not change; the cache is intact")
            return
        if not self._warn_and_confirm(action + " (a new pack)", self.chat.engine.settings.model):
            return
        self.focus, self.dropped = focus, dropped
        self.chat.replace_pack(snapshot)
        self.say(f"repacked: {len(snapshot.files)} files, {snapshot.token_count:,} tokens")
