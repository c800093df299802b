"""The chat's side of the extensions: /memory, /plan, custom commands as `/name args`, and stream-json turns.

Each function works on the chat app and answers through its renderer; none changes a message already sent:
a plan-mode switch or an accepted plan travels in the next user message, so the prefix stays as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.table import Table

from v4agent.extend import repository_trusted
from v4agent.extend.commands import CommandSet, expand, load_commands
from v4agent.extend.instructions import Instructions, instruction_rows, load_instructions
from v4agent.extend.planmode import PLAN_OFF_NOTE, PLAN_ON_NOTE
from v4agent.tokens.tokenizer import get_tokenizer

if TYPE_CHECKING:
    from v4agent.agent.loop import Outcome
    from v4agent.chat.core import ChatEnv, ChatSession

__all__ = [
    "ACCEPT_PLAN", "load_chat_extensions", "load_chat_instructions", "memory_rows", "show_commands", "show_memory", "stream_end",
    "stream_start", "stream_turn", "switch_plan", "turn_for",
]

ACCEPT_PLAN = "The user accepted your plan above. Carry it out now, then say what changed."
_DISCARD_PLAN = "(The user discarded the plan above; do not carry it out.)"


class ChatApp(Protocol):
    """What these commands use of ``v4agent.chat.actions.ChatApp`` (named here so the modules form no cycle)."""

    env: ChatEnv
    chat: ChatSession

    @property
    def renderer(self) -> Any:
        """The chat's renderer."""
        ...

    def say(self, text: str, style: str = "") -> None:
        """Print one line of commentary."""
        ...

    def is_builtin(self, head: str) -> bool:
        """Whether ``head`` is a built-in slash command."""
        ...


def memory_rows(app: ChatApp) -> list[dict[str, Any]]:
    """The instruction files in the current conversation: as loaded by this chat, or as its session recorded."""
    system = str(app.chat.agent.conversation.messages[0].get("content", ""))
    loaded = app.env.instructions
    own = loaded if loaded.files and loaded.block in system else None
    return instruction_rows(own, system, get_tokenizer("deepseek-v4").count)


def show_memory(app: ChatApp) -> None:
    """/memory: which instruction files the conversation holds (paths, sizes, tokens) and what was skipped."""
    rows = memory_rows(app)
    if not rows:
        app.say("no instruction files loaded (AGENTS.md or CLAUDE.md in the repository, or AGENTS.md in the "
                "config directory)")
    else:
        table = Table(title="instruction files (read once at the session's start)", show_lines=False)
        for column in ("path", "source", "applies to", "bytes", "tokens"):
            table.add_column(column, justify="right" if column in ("bytes", "tokens") else "left")
        for row in rows:
            scope = "every repository" if row["source"] == "user" else row["scope"] or "the whole repository"
            table.add_row(row["path"], row["source"], scope, f"{row['bytes']:,}", f"{row['tokens']:,}")
        app.renderer.show(table)
        trust = "trusted: followed as instructions" if app.env.instructions.trusted else \
            "not trusted: given to the model as the repository's data"
        app.say(f"{sum(r['tokens'] for r in rows):,} tokens in the system prompt; the repository is {trust}")
    for line in app.env.instructions.skipped:
        app.say(f"skipped {line}", "yellow")


def show_commands(app: ChatApp) -> None:
    """The custom commands available, for /help."""
    commands = app.env.commands.commands
    if not commands:
        return
    table = Table(show_header=False, box=None, padding=(0, 2), title="custom commands")
    for command in commands:
        table.add_row(f"/{command.name} [args]", f"{command.description} ({command.source}: {command.path})")
    app.renderer.show(table)


def switch_plan(app: ChatApp, word: str) -> str | None:
    """/plan [on|off|accept|discard]: switch the mode; accept returns the turn to send, the others None."""
    gate = app.chat.gate
    want = {"on": True, "off": False, "accept": False, "discard": False}.get(word, not gate.plan)
    if want == gate.plan and word not in ("accept", "discard"):
        app.say(f"plan mode is already {'on' if want else 'off'}")
        return None
    changed = want != gate.plan
    gate.plan = want
    if changed:
        app.chat.pending_note = _joined(app.chat.pending_note, PLAN_ON_NOTE if want else PLAN_OFF_NOTE)
    if word == "discard":
        app.chat.pending_note = _joined(app.chat.pending_note, _DISCARD_PLAN)
        app.say("plan discarded; plan mode is off")
        return None
    if word == "accept":
        app.say("plan accepted; plan mode is off, carrying it out")
        return ACCEPT_PLAN
    app.say("plan mode on: the model may only read, list, grep and diff, and answers with a plan "
            "(/plan accept, /plan discard, or edit it in your next message)" if want else
            "plan mode off: every tool works again")
    return None


def _joined(note: str, more: str) -> str:
    return more if not note else f"{note}\n\n{more}"


def turn_for(app: ChatApp, line: str) -> str | None:
    """The message a slash line sends as a turn: a custom command expanded, or an accepted plan; else None."""
    head, _, rest = line.strip().partition(" ")
    if head in ("/plan",) and rest.strip() == "accept":
        return switch_plan(app, "accept")
    command = app.env.commands.get(head[1:]) if head.startswith("/") else None
    if command is None or app.is_builtin(head):
        return None
    return expand(command, rest)


def stream_turn(app: ChatApp, outcome: Outcome) -> None:
    """With --format stream-json: one line when a user turn ends (its status and the answer)."""
    stream = app.env.stream
    if stream is not None:
        stream.emit("turn_end", {"turn": app.chat.user_turn, "status": outcome.status, "reason": outcome.reason,
                                 "answer": outcome.summary, "spent_usd": outcome.spent_usd})


def load_chat_extensions(root: Path, warn: Callable[[str], None], *,
                         with_instructions: bool = True) -> tuple[Instructions, CommandSet]:
    """The instruction files and custom commands of a chat process, read once; notes go to ``warn``.
    ``with_instructions=False``: the commands only (a new chat reads its instructions with its pack)."""
    trusted = repository_trusted(root)
    instructions = load_chat_instructions(root, warn, trusted=trusted) if with_instructions else Instructions()
    commands = load_commands(root, trusted=trusted)
    for line in commands.notes:
        warn(line)
    return instructions, commands


def load_chat_instructions(root: Path, warn: Callable[[str], None], *, trusted: bool | None = None) -> Instructions:
    """The repository's and the user's instruction files (listing them walks the tree: at 100k files, seconds)."""
    instructions = load_instructions(root, trusted=repository_trusted(root) if trusted is None else trusted)
    for line in instructions.skipped:
        warn(f"instruction file skipped: {line}")
    return instructions


def stream_start(app: ChatApp, *, resumed: bool) -> None:
    """With --format stream-json: the first line (the session, its settings, the pack, the instructions)."""
    stream = app.env.stream
    if stream is None:
        return
    chat = app.chat
    s = chat.engine.settings
    snapshot = chat.snapshot
    pack = {"tokens": int(snapshot.token_count) if snapshot is not None else chat.figures.context_tokens,
            "files": len(snapshot.files) if snapshot is not None else None}
    settings = {"engine": chat.engine.name, "model": s.model, "think": s.think, "max_tokens": s.max_tokens,
                "approve": app.env.config.get("approve"), "max_cost": app.env.config.get("max_cost")}
    stream.start(session_id=chat.session_id, front="chat", settings=settings, pack=pack,
                 instructions=memory_rows(app), mode="plan" if chat.gate.plan else "act", resumed=resumed)


def stream_end(app: ChatApp, outcome: Outcome | None, exit_code: int) -> None:
    """With --format stream-json: the last line (how the chat ended, its turns and cost)."""
    stream = app.env.stream
    if stream is not None:
        figures = app.chat.figures
        stream.end({"session_id": app.chat.session_id, "status": "finished" if outcome is None else outcome.status,
                    "reason": "" if outcome is None else outcome.reason, "turns": app.chat.user_turn,
                    "cost": {"usd": figures.cost_usd}, "exit_code": exit_code})
