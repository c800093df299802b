"""One chat session: the agent loop with a person at the keyboard (no terminal input here).

The conversation has the refactor's byte-stable layout — [system prompt, tools, pack, chat task] and then
the turns, appended only — so every turn hits the whole previous request, and every chat on the same
repository state shares the [system, tools, pack, task] prefix. Each user message is one run of
``v4agent.agent.loop.Agent`` that ends when the model answers in text (or calls ``finish``).

File-changing tool calls are checkpointed as git tree objects (the user's index is never touched), so
``/undo`` can put back the last edit or every edit of the last turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from v4agent.accounting import Ledger, PriceTable
from v4agent.agent.engine_choice import open_remote_engine
from v4agent.agent.loop import Agent, Event, Outcome, ToolDone, ToolStarted
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.request.layout import Conversation, Message, pack_message, prefix_hash
from v4agent.agent.resume import resumed_settings
from v4agent.agent.sessions.records import (
    ChatUndoRecord,
    ResetRecord,
    ResumeRecord,
    StartRecord,
    SwitchRecord,
)
from v4agent.agent.sessions.store import SessionData, SessionWriter, new_session_id
from v4agent.agent.setup import agent_config, cache_tracker, configured_test_command, sandbox_policy
from v4agent.chat.render import ChatRenderer, short_args
from v4agent.chat.statusline import SessionFigures
from v4agent.core.config import Config
from v4agent.core.errors import ExitCode, V4AgentError
from v4agent.core.git import GitError
from v4agent.core.gitstart import GitStart, capture_start, restore_start, worktree_tree
from v4agent.engine.client import RemoteEngine
from v4agent.engine.presets import model_info
from v4agent.prompts import load_prompt
from v4agent.sandbox import sandbox_label
from v4agent.tools.approval import Asker
from v4agent.tools.registry import ToolContext, changes_files, edits_files, run_tool, tool_schemas

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


@dataclass
class Checkpoint:
    """The working tree saved before a file-changing tool ran, so ``/undo`` can put it back."""

    turn: int  # the user turn it belongs to
    label: str  # "edit_file path=..." for messages
    tree: str  # the working tree before the tool ran




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
                 spent: float = 0.0, context_tokens: int = 0) -> None:
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
        self.agent = Agent(engine=engine, conversation=conversation, tools=tools,
                           run_tool=lambda name, arguments: run_tool(self.ctx, name, arguments), writer=writer,
                           table=env.table, config=agent_config(env.config, engine, text_ends_turn=True), tracker=tracker,
                           system_prompt=conversation.messages[0]["content"], snapshot=snapshot,
                           observer=self._observe, spent_usd=spent, ledger=Ledger(env.root))
        self.user_turn = 0
        self.checkpoints: list[Checkpoint] = []
        self.pending_note = ""  # told to the model with the next message (an undo it did not see)

    @property
    def session_id(self) -> str:
        """The id of the session file this chat writes."""
        return self.writer.session_id

    # -- starting ----------------------------------------------------------------------------------------------

    @classmethod
    def start(cls, env: ChatEnv, engine: RemoteEngine, snapshot: Any) -> ChatSession:
        """A new session over ``snapshot`` (the packed repository)."""
        tools = tool_schemas()
        conversation = Conversation.start(load_prompt("system.md"), str(snapshot.text), CHAT_TASK)
        s = engine.settings
        sid = new_session_id()
        git = capture_start(env.root, sid)
        start = StartRecord(task="(chat)", kind="chat", repo=str(env.root), engine=engine.name,
                            base_url=engine.base_url, model=s.model, think=s.think, max_tokens=s.max_tokens,
                            tools=tuple(tools), prefix_hash=prefix_hash(conversation.messages[:2], tools, s.model,
                                                                        s.think),
                            git=git.to_json(), pack_tokens=int(snapshot.token_count))
        writer = SessionWriter.create(env.root, start, sid)
        for index, message in enumerate(conversation.messages):
            writer.message(index, message)
        return cls(env, engine, conversation, writer, git, tools, cache_tracker(engine), snapshot=snapshot,
                   context_tokens=int(snapshot.token_count))

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
                   spent=session.cost_usd, context_tokens=context or int(session.start.pack_tokens or 0))
        totals = session.token_totals()
        chat.figures.prompt_tokens, chat.figures.hit_tokens = totals["prompt"], totals["hit"]
        chat.figures.hits_known = any(c.cache_hit is not None for c in session.calls)
        chat.user_turn = sum(1 for m in session.messages[3:] if m.get("role") == "user")
        return chat

    # -- turns -------------------------------------------------------------------------------------------------

    def send(self, text: str) -> Outcome:
        """Run one user message through the loop. Ctrl-C inside comes back as an ``interrupted`` outcome."""
        self.user_turn += 1
        self.agent.close_dangling()
        content = text if not self.pending_note else f"{self.pending_note}\n\n{text}"
        self.pending_note = ""
        self.agent.append({"role": "user", "content": content})
        renderer = self.env.renderer
        renderer.begin_turn()
        try:
            outcome = self.agent.run()
        finally:
            renderer.end_turn()
        if outcome.status == "finished":
            renderer.answer(outcome.summary)
        return outcome

    def _observe(self, event: Event) -> None:
        if isinstance(event, ToolStarted) and changes_files(event.name):
            self.env.renderer.pause()
            try:
                tree = worktree_tree(self.env.root)
            except (GitError, OSError):
                tree = ""
            if tree:
                label = f"{event.name} {short_args(event.arguments, 60)}"
                self.checkpoints.append(Checkpoint(self.user_turn, label, tree))
        elif isinstance(event, ToolDone) and changes_files(event.name) and self.checkpoints:
            self._drop_if_unchanged(event)
        self.env.renderer(event)

    def _drop_if_unchanged(self, event: ToolDone) -> None:
        last = self.checkpoints[-1]
        if edits_files(event.name):
            if not event.result.changed_paths:
                self.checkpoints.pop()
            return
        try:
            if worktree_tree(self.env.root) == last.tree:
                self.checkpoints.pop()  # a shell command that changed no file: nothing to undo
        except (GitError, OSError):
            return

    # -- changes to the session --------------------------------------------------------------------------------

    def undo(self, whole_turn: bool) -> tuple[str, list[str]]:
        """Put back the last edit (or every edit of the last turn that changed files). (what, paths)."""
        if not self.checkpoints:
            raise GitError("nothing to undo in this chat")
        if whole_turn:
            turn = self.checkpoints[-1].turn
            first = next(i for i, c in enumerate(self.checkpoints) if c.turn == turn)
            target, what = self.checkpoints[first], f"the edits of turn {turn}"
            del self.checkpoints[first:]
        else:
            target = self.checkpoints.pop()
            what = f"the last change ({target.label})"
        paths = restore_start(self.env.root, GitStart(None, None, target.tree, ""))
        self.writer.write(ChatUndoRecord(what, tuple(paths)))
        if paths:
            self.pending_note = (f"(Note: the user undid {what}; these files are back to their earlier content: "
                                 f"{', '.join(paths)}. Read them again before editing.)")
        return what, paths

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
