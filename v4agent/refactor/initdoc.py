"""The body of `v4agent init [PATH]`: the model drafts an AGENTS.md for the repository, for the user to edit.

The request has exactly the refactor's prefix (system prompt with instruction files, the tools, the pack), so a
repository packed and cached by an earlier session is read from the cache: the draft costs the pack's hit
price and the answer. The model may look (plan mode's read-only tools) but not change anything. The draft is
written only where no file is: AGENTS.md when absent, else AGENTS.draft.md (then AGENTS.draft-2.md, ...),
linked into place so that nothing existing is ever replaced, even by a file created meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape

from v4agent.accounting import Ledger
from v4agent.agent.loop import Agent, Outcome
from v4agent.agent.request.layout import Conversation, prefix_hash
from v4agent.agent.sessions.lock import release_session_locks
from v4agent.agent.sessions.records import StartRecord
from v4agent.agent.sessions.store import SessionWriter, new_session_id
from v4agent.agent.setup import (
    agent_config,
    cache_tracker,
    open_workspace,
    pack_repository,
    start_run,
    tool_context,
)
from v4agent.agent.subagents import with_subagents
from v4agent.core.errors import ExitCode, UsageError, V4AgentError
from v4agent.core.signals import stop_on_signals
from v4agent.core.tempfiles import write_temp
from v4agent.engine.types import EngineError, EngineUnreachable
from v4agent.extend import repository_trusted
from v4agent.extend.instructions import load_instructions, with_instructions
from v4agent.prompts import load_prompt
from v4agent.tools.registry import run_tool
from v4agent.tools.safeopen import opened_root
from v4agent.tools.task import session_tool_schemas
from v4agent.ui.console import stderr, stdout, warn
from v4agent.ui.trustprompt import ask_trust_on_terminal

__all__ = ["INIT_TASK", "InitRequest", "draft_name", "run_init", "strip_fence"]

INIT_TASK = (
    "Draft an AGENTS.md for this repository: the instruction file coding agents read before working here. "
    "Write it for an engineer-agent new to the project: what the project is (two or three sentences); how to "
    "set up, build, run the tests and lint (exact commands, from the files, never invented); the layout (the "
    "main directories and what each holds); the conventions the code follows (style, naming, error handling, "
    "tests); and anything easy to get wrong. Only what the repository shows; short and concrete; Markdown "
    "headings and bullets. You may read files to check facts; change nothing. Answer with the file's content "
    "only, without a code fence or any comment around it."
)
_FENCED = re.compile(r"\A```[a-zA-Z]*\n(?P<body>.*)\n```\s*\Z", re.DOTALL)


class InitFailed(V4AgentError, exit_code=ExitCode.FAILED):
    """The model did not produce a draft (a limit, an error, an empty answer)."""


@dataclass(frozen=True)
class InitRequest:
    """`v4agent init [PATH]` as the command line gave it."""

    path: Path
    engine: str | None = None
    model: str | None = None
    base_url: str | None = None
    think: str | None = None
    max_cost: float | None = None
    budget: int | None = None

    def config_flags(self) -> dict[str, Any]:
        """The flags that override configuration keys (None values leave the configuration's)."""
        return {"engine": self.engine, "model": self.model, "base_url": self.base_url, "think": self.think,
                "max_cost": self.max_cost, "pack.budget": self.budget}


def strip_fence(text: str) -> str:
    """The draft without a code fence the model may have put around it, ending in one newline."""
    text = text.strip()
    fenced = _FENCED.match(text)
    return (fenced.group("body").strip() if fenced else text) + "\n"


def draft_name(exists: Any) -> str:
    """AGENTS.md when absent, else the first free AGENTS.draft.md, AGENTS.draft-2.md, ..."""
    for name in ("AGENTS.md", "AGENTS.draft.md", *(f"AGENTS.draft-{n}.md" for n in range(2, 100))):
        if not exists(name):
            return name
    raise UsageError("AGENTS.md and 99 drafts exist already; remove some drafts first")


def _write_new(root: Path, text: str) -> str:
    """Write the draft under a name nothing has; a link into place never replaces a file made meanwhile."""
    with opened_root(root) as root_fd:
        for _ in range(5):
            name = draft_name(lambda n: os.path.lexists(root / n))
            temp = write_temp(root_fd, name, text.encode("utf-8"), 0o644)
            try:
                os.link(temp, name, src_dir_fd=root_fd, dst_dir_fd=root_fd, follow_symlinks=False)
                return name
            except FileExistsError:
                continue
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=root_fd)
    raise OSError(errno.EEXIST, "every draft name was taken while writing", str(root))


def run_init(request: InitRequest) -> None:
    """Draft AGENTS.md with the model over the (cached) pack; write it where no file is; say where."""
    try:
        with stop_on_signals():
            _run_init(request)
    finally:
        release_session_locks()


def _run_init(request: InitRequest) -> None:
    workspace = open_workspace(request.path, request.config_flags(), why="init records its session there",
                               ask_trust=ask_trust_on_terminal if sys.stdin.isatty() else None,
                               warn=lambda line: warn(escape(line)))
    root = workspace.root
    try:
        run = start_run(workspace)
    except EngineError as exc:
        raise EngineUnreachable(str(exc), hint=exc.hint) from None
    instructions = load_instructions(root, trusted=repository_trusted(root))
    s = run.engine.settings
    stderr.print("packing the repository…", style="dim")
    from v4agent.pack.options import PackError

    try:
        snapshot = pack_repository(workspace, model=s.model, budget=request.budget)
    except PackError as exc:
        raise UsageError(f"cannot pack {root}: {exc}") from None
    system = with_instructions(load_prompt("system.md"), instructions)
    tools = session_tool_schemas(subagents=bool(run.config.get("subagents.enabled")))  # refactor's: one cache
    conversation = Conversation.start(system, snapshot.text, INIT_TASK)
    sid = new_session_id()
    start = StartRecord(task="(init: draft AGENTS.md)", kind="init", repo=str(root), engine=run.engine.name,
                        base_url=run.engine.base_url, model=s.model, think=s.think, max_tokens=s.max_tokens,
                        tools=tuple(tools), prefix_hash=prefix_hash(conversation.messages[:2], tools, s.model, s.think),
                        pack_tokens=snapshot.token_count)
    writer = SessionWriter.create(root, start, sid)
    for index, message in enumerate(conversation.messages):
        writer.message(index, message)
    ctx = tool_context(workspace, ask=None)
    gate, subagents = with_subagents(lambda name, arguments: run_tool(ctx, name, arguments), tools, run.config,
                                     lambda: cache_tracker(run.engine))
    gate.plan = True
    agent = Agent(engine=run.engine, conversation=conversation, tools=tools, run_tool=gate, writer=writer,
                  table=run.table, config=agent_config(run.config, run.engine, text_ends_turn=True),
                  tracker=cache_tracker(run.engine), system_prompt=system, snapshot=None, ledger=Ledger(root))
    if subagents is not None:
        subagents.attach(agent)
    outcome = agent.run()
    _finish(root, outcome, sid)


def _finish(root: Path, outcome: Outcome, sid: str) -> None:
    draft = strip_fence(outcome.summary) if outcome.summary.strip() else ""
    if outcome.status != "finished" or not draft.strip():
        raise InitFailed(f"no draft: {outcome.reason} (session {sid})",
                         hint="run again, or with --max-cost raised")
    name = _write_new(root, draft)
    stdout.print(f"wrote {name} ({len(draft.encode()):,} bytes, ${outcome.spent_usd:.4f}); review and edit it"
                 + ("" if name == "AGENTS.md" else ", then merge it into AGENTS.md"), markup=False, highlight=False)
