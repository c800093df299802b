"""A session's extensions together: its MCP servers and its hooks, around the built-in tool runner.

The front ends open one ``Extensions`` per session: ``schemas()`` go after the built-in tool schemas (frozen
for the session: the prompt cache depends on them), ``runner()`` wraps the built-in runner (PreToolUse, the
call, PostToolUse), the agent loop asks ``stop()`` before it ends and ``halted()`` after each turn's tools,
and ``close()`` runs SessionEnd and stops the servers and the hook runners.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from v4agent.engine.types import ToolSchema
from v4agent.extend.hooks import Hooks, load_hooks
from v4agent.extend.hooks_gate import gate_call
from v4agent.extend.mcp.load import load_servers
from v4agent.extend.mcp.tools import PREFIX as MCP_PREFIX
from v4agent.sandbox import is_contained
from v4agent.tools.approval import ApprovalRequest, decide, preapproved
from v4agent.tools.registry import runs_command
from v4agent.tools.tool import ToolContext, ToolResult

if TYPE_CHECKING:
    from v4agent.extend.mcp.hub import McpHub

__all__ = ["Extensions", "Runner"]

Runner = Callable[[str, str], ToolResult]
_PREVIEW_CHARS = 400


class Extensions:
    """The MCP servers and hooks of one session."""

    def __init__(self, ctx: ToolContext, hub: McpHub | None, hooks: Hooks) -> None:
        self.ctx = ctx
        self.hub = hub
        self.hooks = hooks
        self._closed = False

    @classmethod
    def open(cls, ctx: ToolContext, *, project_trusted: bool, notice: Callable[[str], None],
             environ: Mapping[str, str] | None = None, mcp: bool = True) -> Extensions:
        """Load the user's (and a trusted repository's) servers and hooks, and start the servers."""
        root = Path(ctx.repo_root)
        hub = None
        if mcp:
            setup = load_servers(root, project_trusted=project_trusted, environ=environ)
            for line in setup.warnings:
                notice(line)
            if setup.servers:
                from v4agent.extend.mcp.hub import McpHub  # the SDK costs start-up time: loaded when used

                hub = McpHub(setup.servers, root=root, sandbox=ctx.sandbox, notice=notice)
                try:
                    hub.start()
                except BaseException:  # Ctrl-C while the servers start: none of them may outlive us
                    hub.close()
                    raise
        specs, warnings = load_hooks(root, project_trusted=project_trusted, environ=environ)
        for line in warnings:
            notice(line)
        hooks = Hooks(specs, root, policy=ctx.sandbox, notice=notice, approve=ctx.approve)
        if environ is not None:
            hooks.environ = dict(environ)
        return cls(ctx, hub, hooks)

    def bind(self, session_id: str, transcript_path: Path | str) -> None:
        """Name the session to the hooks (their ``session_id`` and ``transcript_path``)."""
        self.hooks.session_id = session_id
        self.hooks.transcript_path = str(transcript_path)

    # -- the tools ---------------------------------------------------------------------------------------------

    def schemas(self) -> list[ToolSchema]:
        """The MCP tools' schemas, sorted; the same bytes for the whole session."""
        return self.hub.schemas() if self.hub is not None else []

    def runner(self, builtin: Runner) -> Runner:
        """``builtin`` with the MCP tools beside it and the tool hooks around both."""
        def run(name: str, arguments: str) -> ToolResult:
            approved, note = False, ""
            if self.hooks.active:
                mcp = self.hub is not None and self.hub.owns(name)
                gate = gate_call(self.ctx, name, arguments, self.hooks.pre_tool_outcome(name, arguments),
                                 confined=self._confined(name, mcp), mcp=mcp, notice=self.hooks.notice)
                if gate.refused is not None:
                    return ToolResult(gate.refused, False)
                arguments, approved, note = gate.arguments, gate.preapproved, gate.note
            with preapproved() if approved else contextlib.nullcontext():
                result = self._call(builtin, name, arguments)
            if note:
                result = replace(result, content=f"{note}\n{result.content}")
            if self.hooks.active:
                said = self.hooks.post_tool(name, arguments, result)
                if said:
                    result = replace(result, content=f"{result.content}\n[PostToolUse hook] {said}")
            return result
        return run

    def _call(self, builtin: Runner, name: str, arguments: str) -> ToolResult:
        if self.hub is not None and self.hub.owns(name):
            return self._call_mcp(name, arguments)
        if name.startswith(MCP_PREFIX):  # a resumed session's tool whose server is not here now
            return ToolResult(f"{name}: its MCP server is not available in this session", False)
        return builtin(name, arguments)

    def _confined(self, name: str, mcp: bool) -> bool:
        """Whether the call runs confined, so a hook's allow may skip its question (``hooks_gate``)."""
        if mcp:
            assert self.hub is not None
            spec = self.hub.spec_of(name)
            return spec is not None and spec.sandboxed and is_contained(self.ctx.sandbox)
        return not runs_command(name) or is_contained(self.ctx.sandbox)

    def _call_mcp(self, name: str, arguments: str) -> ToolResult:
        assert self.hub is not None
        spec = self.hub.spec_of(name)
        if spec is not None and spec.approve != "allow":
            preview = " ".join(arguments.split())[:_PREVIEW_CHARS]
            allowed, reason = decide(self.ctx.approve, ApprovalRequest("mcp", name, f"{name} {preview}"),
                                     self.ctx.ask, self.ctx.always)
            if not allowed:
                return ToolResult(f"{name}: {reason} (or set approve = \"allow\" on MCP server {spec.name})",
                                  False)
        return self.hub.call(name, arguments)

    # -- the loop's gate ---------------------------------------------------------------------------------------

    def stop(self, message: str, *, active: bool) -> str | None:
        """A Stop hook's reason for the model to go on, or None to let the session end."""
        return self.hooks.stop(message, active=active) if self.hooks.active else None

    def halted(self) -> str | None:
        """Why a hook stopped the session (``continue: false``), or None."""
        return self.hooks.halt or None

    # -- prompts and the end -----------------------------------------------------------------------------------

    def prompt_context(self, prompt: str, *, source: str = "") -> tuple[str | None, str]:
        """(the prompt with the hooks' context appended, or None when a hook refused it; the refusal's reason).

        ``source``: also run SessionStart first (``startup``, ``resume``), its context going with the prompt.
        """
        extra: list[str] = []
        if source:
            extra.append(self.hooks.session_start(source))
        outcome = self.hooks.user_prompt(prompt)
        if outcome.block:
            return None, outcome.message or "a UserPromptSubmit hook refused the prompt"
        extra.append(outcome.context)
        added = "\n\n".join(t for t in extra if t)
        return (f"{prompt}\n\n{added}" if added else prompt), ""

    def close(self, reason: str = "other") -> None:
        """SessionEnd, then every MCP server stopped (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.hooks.active:
                self.hooks.session_end(reason)
        finally:
            self.hooks.close()
            if self.hub is not None:
                self.hub.close()

