"""One chat session: the agent loop with a person at the keyboard (no terminal input here).

The conversation has the refactor's byte-stable layout — [system prompt, tools, pack, chat task] and then
the turns, appended only — so every turn hits the whole previous request, and every chat on the same
repository state shares the [system, tools, pack, task] prefix. Each user message is one run of
``v4agent.agent.loop.Agent`` that ends when the model answers in text (or calls ``finish``).

Every tool call that changes files is recorded per file, found and left, in git's object store (the user's
index is never touched; ``agent.checkpoint``), and each user turn that changed files leaves a checkpoint, so
``/undo`` can put back the last edit or every edit of the last turn, and ``/rewind [TURN]`` the code and the
conversation together, touching only files still as the chat left them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from v4agent.accounting import Ledger, PriceTable
from v4agent.agent.checkpoint import TurnRecorder
from v4agent.agent.engine_choice import open_remote_engine
from v4agent.agent.events import CallDone, Event, ToolStarted
from v4agent.agent.loop import Agent, Outcome
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.request.layout import Conversation, Message, pack_message, prefix_hash
from v4agent.agent.resume import resumed_settings
from v4agent.agent.sessions.records import (
    ChatUndoRecord,
    ResetRecord,
    ResumeRecord,
    StartRecord,
    SwitchRecord,
    UndoRecord,
)
from v4agent.agent.sessions.store import SessionData, SessionWriter, new_session_id, read_session
from v4agent.agent.setup import agent_config, cache_tracker, configured_test_command, sandbox_policy
from v4agent.agent.streamjson import StreamWriter
from v4agent.agent.subagents import read_only_mcp, with_subagents
from v4agent.agent.undoapply import BackupDir, apply_steps
from v4agent.agent.undoplan import FileStep, plan_changes, plan_session
from v4agent.chat.render import ChatRenderer
from v4agent.chat.statusline import SessionFigures
from v4agent.core.checkpoints import FileChange
from v4agent.core.config import Config
from v4agent.core.errors import ExitCode, V4AgentError
from v4agent.core.git import GitError
from v4agent.core.gitstart import GitStart, capture_start
from v4agent.engine.client import RemoteEngine
from v4agent.engine.presets import model_info
from v4agent.extend.commands import CommandSet
from v4agent.extend.hooks_session import Extensions
from v4agent.extend.instructions import Instructions, with_instructions
from v4agent.extend.planmode import plan_mode_in
from v4agent.prompts import load_prompt
from v4agent.sandbox import sandbox_label
from v4agent.tools.approval import Asker
from v4agent.tools.registry import ToolContext, changes_files, run_tool
from v4agent.tools.task import session_tool_schemas

CHAT_TASK = (
    "Interactive chat with a developer about this repository. Their messages follow, one per turn. Answer "
    "each one. Use the tools when you need to look something up, and to change code or run commands when "
    "they ask for it. When you have answered, reply in plain text (markdown) without calling a tool; their "
    "next message comes as a new turn. Call finish only if they ask you to end."
)
Confirm = Callable[[str], bool]


class PackFailed(V4AgentError, exit_code=ExitCode.USAGE):
    """The packer refused the repository or the options (its message says why)."""


@dataclass
class ChatEnv:
    """What every session of one `v4agent chat` process shares."""

    root: Path
    config: Config
    table: PriceTable
    renderer: ChatRenderer
    ask: Asker | None  # approvals; None without a terminal
    confirm: Confirm  # "proceed?" before a cache-breaking action
    flags: dict[str, Any] = field(default_factory=dict)  # engine overrides from the command line
    instructions: Instructions = field(default_factory=Instructions)  # read once per chat process
    commands: CommandSet = field(default_factory=CommandSet)  # custom commands, `/name args`
    stream: StreamWriter | None = None  # --format stream-json: every event as a JSON line


@dataclass(frozen=True)
class Undone:
    """What /undo or /rewind did to the files: put back, left alone (with why), and where the copies went."""

    what: str
    paths: tuple[str, ...]
    left_alone: tuple[FileStep, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    saved_dir: str = ""


@dataclass(frozen=True)
class Rewound:
    """A /rewind: the turn it went back to, the files, and the cache figures of the rewound conversation."""

    turn: int
    files: Undone
    messages: int  # the conversation's length now
    prefix_tokens: int  # the rewound conversation, rendered
    expected_hit: int  # of those, what the mirrored cache expects to hit on the next request


def _open_extensions(env: ChatEnv, writer: SessionWriter | None, sid: str = "") -> Extensions:
    """The session's MCP servers and hooks (a repository's only when trusted); stopped by ``ChatSession.close``."""
    ctx = ToolContext(env.root, approve=env.config.get("approve"), ask=env.ask,
                      sandbox=sandbox_policy(env.root, env.config, warn_missing=False))
    ext = Extensions.open(ctx, project_trusted=env.config.untrusted is None,
                          notice=lambda line: env.renderer.note(line, style="yellow"))
    if writer is not None:
        ext.bind(writer.session_id, writer.path)
    elif sid:
        ext.bind(sid, "")
    return ext


def resume_overrides(session: SessionData, config: Config, flags: dict[str, Any]) -> dict[str, Any]:
    """Engine settings that keep a resumed session's cache key: its own, unless the user overrides them."""
    keys = ("engine", "model", "think", "base_url", "max_tokens")
    over = resumed_settings(session, config, flags, keys)
    over.update({k: v for k, v in session.last_settings().items() if k not in flags or flags[k] in (None, "")})
    return over


class ChatSession:
    """A conversation, its session file, its engine and its agent."""

    def __init__(self, env: ChatEnv, engine: RemoteEngine, conversation: Conversation, writer: SessionWriter,
                 git: GitStart, tools: list[dict[str, Any]], tracker: CacheTracker, *, snapshot: Any = None,
                 spent: float = 0.0, context_tokens: int = 0, ext: Extensions | None = None,
                 start_source: str = "") -> None:
        self.env = env
        self.engine = engine
        self.writer = writer
        self.git = git
        self.snapshot = snapshot  # v4agent.pack.Snapshot, built lazily after a resume
        self.ctx = ToolContext(env.root, approve=env.config.get("approve"), ask=env.ask,
                               test_cmd=configured_test_command(env.config), start_commit=git.commit,
                               sandbox=sandbox_policy(env.root, env.config))
        self.figures = SessionFigures(engine.name, engine.settings.model,
                                      model_info(engine.settings.model).context_window,
                                      env.config.get("max_cost"), context_tokens, spent,
                                      sandbox=sandbox_label(self.ctx.sandbox))
        env.renderer.figures = self.figures  # the status line follows the current session
        self.ext = ext or _open_extensions(env, writer)
        self.ext.ctx = self.ctx  # MCP calls are approved like the session's other tools ("always" included)
        self._start_source = start_source  # SessionStart runs with the first message
        # Plan mode is enforced here, never by changing the tools sent (they are part of the cached prefix).
        self.gate, subagents = with_subagents(
            self.ext.runner(lambda name, arguments: run_tool(self.ctx, name, arguments)), tools, env.config,
            lambda: cache_tracker(engine), also_read_only=read_only_mcp(self.ext))
        self.gate.plan = plan_mode_in(conversation.messages)
        self.agent = Agent(engine=engine, conversation=conversation, tools=tools, run_tool=self.gate,
                           gate=self.ext, writer=writer,
                           table=env.table, config=agent_config(env.config, engine, text_ends_turn=True), tracker=tracker,
                           system_prompt=conversation.messages[0]["content"], snapshot=snapshot,
                           observer=self._observe, spent_usd=spent, ledger=Ledger(env.root))
        if subagents is not None:
            subagents.attach(self.agent)
        self.user_turn = 0
        self.recorder = TurnRecorder(env.root, writer, warn=lambda line: env.renderer.note(line, style="yellow"))
        self.turn_starts: dict[int, int] = {}  # user turn -> index of its message in the current conversation
        self._indexed = conversation  # the conversation those indexes are of (a compaction replaces it)
        self.rewound: Rewound | None = None  # until the next call reports the hit it got
        self.pending_note = ""  # told to the model with the next message (an undo it did not see)

    def close(self, reason: str = "other") -> None:
        """The session is left (another replaces it, or the chat ends): SessionEnd, MCP servers stopped."""
        self.ext.close(reason)

    @property
    def session_id(self) -> str:
        """The id of the session file this chat writes."""
        return self.writer.session_id

    # -- starting ----------------------------------------------------------------------------------------------

    @classmethod
    def start(cls, env: ChatEnv, engine: RemoteEngine, snapshot: Any, *, sid: str = "") -> ChatSession:
        """A new session over ``snapshot`` (the packed repository), with id ``sid`` (else a new one)."""
        sid = sid or new_session_id()
        ext = _open_extensions(env, None, sid)
        # refactor's built-ins (task among them when subagents are on), then the MCP tools: frozen for the session
        tools = session_tool_schemas(subagents=bool(env.config.get("subagents.enabled"))) + ext.schemas()
        system = with_instructions(load_prompt("system.md"), env.instructions)  # before the pack: stable
        conversation = Conversation.start(system, str(snapshot.text), CHAT_TASK)
        s = engine.settings
        git = capture_start(env.root, sid)
        start = StartRecord(task="(chat)", kind="chat", repo=str(env.root), engine=engine.name,
                            base_url=engine.base_url, model=s.model, think=s.think, max_tokens=s.max_tokens,
                            tools=tuple(tools), prefix_hash=prefix_hash(conversation.messages[:2], tools, s.model,
                                                                        s.think),
                            git=git.to_json(), pack_tokens=int(snapshot.token_count), undo="checkpoints")
        writer = SessionWriter.create(env.root, start, sid)
        for index, message in enumerate(conversation.messages):
            writer.message(index, message)
        ext.bind(sid, writer.path)
        return cls(env, engine, conversation, writer, git, tools, cache_tracker(engine), snapshot=snapshot,
                   context_tokens=int(snapshot.token_count), ext=ext, start_source="startup")

    @classmethod
    def resume(cls, env: ChatEnv, session: SessionData, engine: RemoteEngine) -> ChatSession:
        """Continue a saved session with exactly the messages and tools it sent (its cache prefix)."""
        raw_git = session.start.git
        if not isinstance(raw_git, dict) or len(session.messages) < 3:
            raise GitError(f"session {session.session_id} cannot be resumed (no start state)")
        writer = SessionWriter(session.path)
        writer.write(ResumeRecord(engine.settings.model, engine.settings.think))
        conversation = Conversation(session.messages)
        tools = session.tools
        tracker = cache_tracker(engine)
        last_reply = max((i for i, m in enumerate(session.messages) if m.get("role") == "assistant"), default=1)
        tracker.seed(session.messages[: last_reply + 1], tools)  # what the provider stored last
        last = session.calls[-1] if session.calls else None
        context = int(last.prompt_tokens or 0) + int(last.output_tokens or 0) if last is not None else 0
        chat = cls(env, engine, conversation, writer, GitStart.from_json(raw_git), tools, tracker,
                   spent=session.cost_usd, context_tokens=context or int(session.start.pack_tokens or 0),
                   start_source="resume")
        totals = session.token_totals()
        chat.figures.prompt_tokens, chat.figures.hit_tokens = totals["prompt"], totals["hit"]
        chat.figures.hits_known = any(c.cache_hit is not None for c in session.calls)
        users = [i for i, m in enumerate(session.messages) if i >= 3 and m.get("role") == "user"]
        chat.user_turn = max(len(users), max((c.turn for c in session.checkpoints), default=0))
        if not session.compacted and chat.user_turn == len(users):  # else the numbering no longer lines up
            chat.turn_starts = {turn: index for turn, index in enumerate(users, 1)}
        return chat

    # -- turns -------------------------------------------------------------------------------------------------

    def send(self, text: str) -> Outcome:
        """Run one user message through the loop. Ctrl-C inside comes back as an ``interrupted`` outcome."""
        hooked, refusal = self.ext.prompt_context(text, source=self._start_source)
        self._start_source = ""
        if hooked is None:
            return Outcome("failed", f"a UserPromptSubmit hook refused the message: {refusal}")
        text = hooked
        self.user_turn += 1
        self.agent.close_dangling()
        content = text if not self.pending_note else f"{self.pending_note}\n\n{text}"
        self.pending_note = ""
        self._index_turn(len(self.agent.conversation))
        self.agent.append({"role": "user", "content": content})
        renderer = self.env.renderer
        renderer.begin_turn()
        try:
            outcome = self.agent.run()
        finally:
            renderer.end_turn()
            self.recorder.end_turn()
        if outcome.status == "finished":
            renderer.answer(outcome.summary)
        return outcome

    def _index_turn(self, index: int) -> None:
        if self.agent.conversation is not self._indexed:  # compacted: the earlier turns are not in it
            self.turn_starts = {}
            self._indexed = self.agent.conversation
        self.turn_starts[self.user_turn] = index

    def _observe(self, event: Event) -> None:
        if self.env.stream is not None:
            self.env.stream(event)
        if isinstance(event, ToolStarted) and changes_files(event.name):
            self.env.renderer.pause()  # hashing the files takes a moment: finish the streamed text first
        self.recorder.observe(event, turn=self.user_turn)
        if not (isinstance(event, CallDone) and event.kind == "turn" and self.rewound is not None):
            self.env.renderer(event)
            return
        # The first request after /rewind does not extend the last one, by design: not a break to warn about.
        kept = tuple(b for b in event.diag.breaks if b.kind != "layout")
        self.env.renderer(replace(event, diag=replace(event.diag, breaks=kept)))
        billed = "?" if event.diag.billed_hit is None else f"{event.diag.billed_hit:,}"
        self.env.renderer.note(f"after /rewind {self.rewound.turn}: the cache hit {billed} tokens "
                               f"(expected {event.diag.expected_billed:,})")
        self.rewound = None

    # -- changes to the session --------------------------------------------------------------------------------

    def _apply(self, steps: list[FileStep], why: str) -> tuple[list[FileStep], tuple[FileStep, ...],
                                                               list[tuple[str, str]], str]:
        """Put back the safe steps (saving what they replace); (done, left alone, failed, backup folder)."""
        backup = BackupDir(self.env.root, why)
        done, failed = apply_steps(self.env.root, [s for s in steps if s.acts(False)], backup)
        left = tuple(s for s in steps if s.action != "none" and not s.acts(False))
        saved = str(backup.path.relative_to(self.env.root)) if backup.path is not None else ""
        return done, left, failed, saved

    def undo(self, whole_turn: bool) -> Undone:
        """Put back the last edit (or every edit of the last turn that changed files), where still as left."""
        changes = self.recorder.tool_changes
        if not changes:
            raise GitError("nothing to undo in this chat")
        turn = changes[-1].turn
        picked = [c for c in changes if c.turn == turn] if whole_turn else [changes[-1]]
        what = f"the edits of turn {turn}" if whole_turn else f"the last change ({picked[0].label})"
        steps = plan_changes(self.env.root, [p.changes for p in picked])
        done, left, failed, saved = self._apply(list(steps), "the chat's /undo")
        del changes[len(changes) - len(picked):]
        if done:
            self.recorder.amend(turn, [FileChange(s.path, s.current, s.target) for s in done])
        paths = tuple(sorted(s.path for s in done))
        self.writer.write(ChatUndoRecord(what, paths))
        if paths:
            self.pending_note = (f"(Note: the user undid {what}; these files are back to their earlier content: "
                                 f"{', '.join(paths)}. Read them again before editing.)")
        return Undone(what, paths, left, tuple(failed), saved)

    def rewind_plan(self, turn: int) -> tuple[int, list[FileStep]]:
        """Where /rewind TURN cuts the conversation, and what it would do to the files (``GitError`` if it cannot)."""
        if not 0 <= turn < self.user_turn:
            raise GitError(f"no turn {turn} to rewind to: this chat is at turn {self.user_turn}")
        cut = self.turn_starts.get(turn + 1)
        if cut is None or self.agent.conversation is not self._indexed:
            known = list(self.turn_starts) if self.agent.conversation is self._indexed else []
            earliest = f"/rewind {min(known) - 1} is the earliest" if known else "there is no earlier turn in it"
            raise GitError(f"the conversation was summarized after turn {turn}; {earliest}")
        plan = plan_session(self.env.root, read_session(self.writer.path), turn)
        return cut, list(plan.files)

    def rewind(self, turn: int) -> Rewound:
        """Go back to the end of user turn ``turn``: the files its later turns changed, and the conversation."""
        cut, steps = self.rewind_plan(turn)
        done, left, failed, saved = self._apply(steps, f"the chat's /rewind {turn}")
        self.writer.write(UndoRecord(tuple(s.path for s in done), turn, tuple(s.path for s in left), (), saved,
                                     closes=True))
        messages = self.agent.conversation.messages[:cut]
        self.agent.conversation = self._indexed = Conversation(messages)
        self.agent.turn = self.agent.conversation.assistant_turns()
        self.writer.write(ResetRecord(f"rewind to turn {turn}", self.figures.context_tokens))
        for index, message in enumerate(messages):
            self.writer.message(index, message)
        self.user_turn = turn
        self.turn_starts = {t: i for t, i in self.turn_starts.items() if t <= turn}
        self.recorder.forget_after(turn)
        if left:
            self.pending_note = (f"(Note: the user rewound the conversation to here; these files were changed by "
                                 f"them since and kept as they are: {', '.join(s.path for s in left)}.)")
        rendered = self.agent.tracker.render(messages, self.agent.tools)
        files = Undone(f"turns after {turn}", tuple(sorted(s.path for s in done)), left, tuple(failed), saved)
        self.rewound = Rewound(turn, files, len(messages), len(rendered.tokens),
                               self.agent.tracker.expected(rendered))
        return self.rewound

    def replace_engine(self, engine: RemoteEngine) -> None:
        """Switch model or thinking effort: a new provider cache, so a fresh cache mirror too."""
        self.engine = engine
        self.agent.engine = engine
        self.agent.tracker = cache_tracker(engine)
        self.agent.config = agent_config(self.env.config, engine, text_ends_turn=True)
        self.figures.model = engine.settings.model
        self.figures.context_window = model_info(engine.settings.model).context_window
        self.writer.write(SwitchRecord(engine.settings.model, engine.settings.think))

    def replace_pack(self, snapshot: Any) -> None:
        """Put a new pack in the conversation (after /add, /drop): the turns stay, the prefix changes."""
        messages: list[Message] = self.agent.conversation.messages
        conversation = Conversation([messages[0], pack_message(str(snapshot.text)), *messages[2:]])
        if self.agent.conversation is self._indexed:
            self._indexed = conversation  # the same turns at the same places: /rewind still finds them
        self.agent.conversation = conversation
        self.agent.snapshot = snapshot
        self.snapshot = snapshot
        self.writer.write(ResetRecord("repack", self.figures.context_tokens))
        for index, message in enumerate(conversation.messages):
            self.writer.message(index, message)

    def open_engine(self, **changes: Any) -> RemoteEngine:
        """An engine like this one with some settings changed (model, think)."""
        s = self.engine.settings
        over = {"engine": self.engine.name, "base_url": self.engine.base_url, "model": s.model, "think": s.think,
                "max_tokens": s.max_tokens, **changes}
        return open_remote_engine(self.env.config, overrides=over)
