"""The session's hooks: loaded from the config files, run at each event, their answers turned into decisions.

User hooks always load; a repository's only when the user trusts it, and only where the sandbox contains
them. Every hook runs in the sandbox, one after another in the order configured: in its source's hook runner
(``hooks_runner``: one sandbox per source, started at the first hook, stopped by ``close``), or, where a runner
cannot start, in a sandbox of its own (``hooks_run``). A hook that fails, times out or cannot start is
reported through ``notice`` and the session goes on.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from v4agent.core.config import PROJECT_CONFIG_NAME, user_config_path
from v4agent.extend.hooks_config import CLAUDE_NAMES, HookSpec, matches, parse_hooks
from v4agent.extend.hooks_run import HookOutcome, HookRun, parse_outcome, run_hook
from v4agent.extend.hooks_runner import HookRunner, RunnerDied
from v4agent.extend.mcp.load import config_tables
from v4agent.sandbox import SandboxPolicy, containment, make_policy
from v4agent.tools.tool import ToolResult

__all__ = ["HookOutcome", "Hooks", "load_hooks"]

_PERMISSION_MODE = {"ask": "default", "edits": "acceptEdits", "yes": "bypassPermissions"}


def _table(path: Path) -> tuple[Any, str]:
    tables, problem = config_tables(path)
    return tables.get("hooks"), problem


def load_hooks(root: Path | None, *, project_trusted: bool,
               environ: Mapping[str, str] | None = None) -> tuple[list[HookSpec], list[str]]:
    """User hooks, then the repository's when trusted; and a warning for each entry left out."""
    env = os.environ if environ is None else environ
    user = user_config_path(env)
    table, problem = _table(user)
    specs, warnings = parse_hooks(table, "user", str(user))
    warnings = [problem, *warnings] if problem else warnings
    if root is not None and project_trusted:
        path = root / PROJECT_CONFIG_NAME
        table, problem = _table(path)
        own, said = parse_hooks(table, "project", str(path))
        specs += own
        warnings += [problem, *said] if problem else said
    return specs, warnings


def _tool_input(root: Path, arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {"raw_arguments": arguments}
    if not isinstance(value, dict):
        return {"raw_arguments": arguments}
    if isinstance(value.get("path"), str) and "file_path" not in value:
        value["file_path"] = str(root / value["path"])  # Claude Code's file tools name it so, absolute
    return value


@dataclass
class Hooks:
    """The hooks of one session and what they need to know about it."""

    specs: list[HookSpec]
    root: Path
    policy: SandboxPolicy | None = None
    notice: Callable[[str], None] = lambda line: None
    session_id: str = ""
    transcript_path: str = ""
    approve: str = "ask"
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    halt: str = ""  # a hook's continue: false, until the session acts on it
    use_runner: bool = True  # False: every hook in a sandbox of its own (the fallback, and the bench's baseline)
    _contained: bool | None = None
    _runners: dict[str, HookRunner] = field(default_factory=dict, repr=False)
    _no_runner: set[str] = field(default_factory=set, repr=False)  # sources whose runner could not start
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # subagents fire from threads

    def __post_init__(self) -> None:
        if self.policy is None:
            self.policy = make_policy(self.root)

    @property
    def active(self) -> bool:
        """Whether any hook is configured."""
        return bool(self.specs)

    def _confined(self) -> bool:
        if self._contained is None:
            assert self.policy is not None
            self._contained = containment(self.policy).available
        return self._contained

    def _runnable(self, hook: HookSpec) -> bool:
        return hook.scope == "user" or self._confined()

    def _run(self, hook: HookSpec, payload: Mapping[str, Any]) -> HookRun:
        assert self.policy is not None
        if self.use_runner and hook.scope not in self._no_runner and self._confined():
            with self._lock:
                runner = self._runners.get(hook.scope)
                if runner is None:
                    runner = self._runners[hook.scope] = HookRunner(hook.scope, self.policy, self.root, self.environ)
            try:
                return runner.run(hook, json.dumps(payload, ensure_ascii=False).encode("utf-8"))
            except RunnerDied as exc:
                self._no_runner.add(hook.scope)
                self.notice(f"{hook.source}: hooks run in a sandbox each, slower: the hook runner could not "
                            f"start ({exc})")
        return run_hook(hook, payload, root=self.root, policy=self.policy, environ=self.environ)

    def close(self) -> None:
        """Stop the hook runners (and every process of their sandboxes); the session's hooks are over."""
        with self._lock:
            runners, self._runners = list(self._runners.values()), {}
        for runner in runners:
            runner.stop()

    def fire(self, event: str, fields: Mapping[str, Any], *names: str) -> HookOutcome:
        """Run every hook of ``event`` whose matcher selects one of ``names``; their merged outcome."""
        outcome = HookOutcome()
        chosen = [h for h in self.specs if h.event == event and (not names or matches(h.matcher, *names))]
        if not chosen:
            return outcome
        payload = {"session_id": self.session_id, "transcript_path": self.transcript_path, "cwd": str(self.root),
                   "hook_event_name": event, "permission_mode": _PERMISSION_MODE.get(self.approve, "default"),
                   **fields}
        for hook in chosen:
            if not self._runnable(hook):
                self.notice(f"{event} hook {hook.command!r} from {hook.source} was not run: a repository's hooks "
                            "run only in the sandbox, and there is none here")
                continue
            result = parse_outcome(event, self._run(hook, payload), hook.command)
            for line in (result.error, result.message):
                if line:
                    self.notice(line)
            outcome = outcome.merge(result)
        if outcome.halt and not self.halt:
            self.halt = outcome.halt
        return outcome

    # -- the events -------------------------------------------------------------------------------------------

    def session_start(self, source: str) -> str:
        """SessionStart (``startup``, ``resume`` or ``compact``): context for the model ('' when none)."""
        return self.fire("SessionStart", {"source": source}, source).context

    def session_end(self, reason: str) -> None:
        """SessionEnd: its hooks run; nothing they answer changes the session, which is over."""
        self.fire("SessionEnd", {"reason": reason}, reason)

    def user_prompt(self, prompt: str) -> HookOutcome:
        """UserPromptSubmit: ``block`` refuses the prompt (``message`` says why); ``context`` goes with it."""
        return self.fire("UserPromptSubmit", {"prompt": prompt})

    def pre_tool_outcome(self, name: str, arguments: str) -> HookOutcome:
        """PreToolUse: the hooks' merged answer (block, decision, new input, context); ``hooks_gate`` acts on it."""
        fields = {"tool_name": name, "tool_input": _tool_input(self.root, arguments)}
        return self.fire("PreToolUse", fields, *_names(name))

    def pre_tool(self, name: str, arguments: str) -> str | None:
        """PreToolUse: why the call is blocked, for the model; None lets it run."""
        outcome = self.pre_tool_outcome(name, arguments)
        return (outcome.feedback or "blocked by a PreToolUse hook") if outcome.block else None

    def post_tool(self, name: str, arguments: str, result: ToolResult) -> str:
        """PostToolUse: what its hooks tell the model about the result ('' when nothing)."""
        fields = {"tool_name": name, "tool_input": _tool_input(self.root, arguments),
                  "tool_response": {"output": result.content, "success": result.ok}}
        outcome = self.fire("PostToolUse", fields, *_names(name))
        return "\n".join(t for t in (outcome.feedback, outcome.context) if t)

    def stop(self, message: str, *, active: bool) -> str | None:
        """Stop: a reason for the model to go on instead of stopping; None lets the session end."""
        outcome = self.fire("Stop", {"stop_hook_active": active, "last_assistant_message": message})
        return (outcome.feedback or "a Stop hook asks you to continue") if outcome.block else None


def _names(tool: str) -> tuple[str, ...]:
    alias = CLAUDE_NAMES.get(tool)
    return (tool, alias) if alias else (tool,)
