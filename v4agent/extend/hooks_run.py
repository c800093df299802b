"""Running one hook: its command in the sandbox, the event's JSON on stdin, a timeout; and reading its answer.

The protocol is Claude Code's (https://code.claude.com/docs/en/hooks, "Hook Input" and "Hook Output"):
- stdin: one JSON object with ``session_id``, ``transcript_path``, ``cwd``, ``hook_event_name`` and the event's
  own fields (``tool_name``, ``tool_input``, ``tool_response``, ``prompt``, ``stop_hook_active``, ``source``...);
- exit 0: success; stdout may be a JSON object (below); for UserPromptSubmit and SessionStart plain stdout is
  context added for the model;
- exit 2: a blocking error: stderr is fed back to the model (PreToolUse: the call is blocked; PostToolUse: the
  tool already ran; Stop: the model goes on) or shown to the user (UserPromptSubmit: the prompt is refused);
- any other status: a non-blocking error shown to the user; execution goes on;
- JSON on stdout ("Advanced: JSON Output"): ``continue: false`` (+ ``stopReason``) stops the session,
  ``systemMessage`` is shown to the user, ``decision: "block"`` + ``reason`` blocks (PostToolUse, Stop,
  UserPromptSubmit), ``hookSpecificOutput.additionalContext`` adds context for the model.
- PreToolUse decides on the call ("PreToolUse decision control"): ``hookSpecificOutput.permissionDecision``
  ``"allow"`` skips the permission prompt, ``"deny"`` prevents the call (``permissionDecisionReason`` goes to
  the model), ``"ask"`` prompts the user to confirm (the reason is shown to the user, not the model);
  ``updatedInput`` replaces the whole tool input before the call runs. The top-level ``decision`` and
  ``reason`` are the deprecated spelling for this event: ``"approve"`` maps to allow, ``"block"`` to deny.
  Of several hooks' decisions the strictest wins: deny, then ask, then allow ("Order: deny > defer > ask >
  allow"; ``defer`` is for ``claude -p`` integrations and is not supported). What allow and ask mean for
  v4agent's approval policy and sandbox is in ``hooks_gate``.
Not supported: hook types other than ``command``.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from v4agent.extend.hooks_config import HookSpec
from v4agent.sandbox import SandboxPolicy, launch
from v4agent.secrets.results import redact_output
from v4agent.tools.proc import kill_group

__all__ = ["HOOK_ENV_NAMES", "MAX_OUTPUT_CHARS", "Decision", "HookOutcome", "HookRun", "hook_environ", "hook_policy",
           "parse_outcome", "run_hook"]

Decision = Literal["", "allow", "ask", "deny"]
HOOK_ENV_NAMES = ("CLAUDE_PROJECT_DIR", "V4AGENT_PROJECT_DIR")
_RANK = {"": 0, "allow": 1, "ask": 2, "deny": 3}  # the strictest decision of several hooks wins
_DEPRECATED = {"approve": "allow", "block": "deny"}

MAX_OUTPUT_CHARS = 10_000  # what a hook may feed back to the model or the user, each stream
_PIPE_GRACE_S = 5.0
_TO_MODEL_ON_BLOCK = ("PreToolUse", "PostToolUse", "Stop")


@dataclass(frozen=True)
class HookRun:
    """What one hook process did."""

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float
    error: str = ""  # it could not be started, or its runner died: "could not start: ...", "failed: ..."


@dataclass(frozen=True)
class HookOutcome:
    """What one hook (or several, merged) asks of the session."""

    block: bool = False
    feedback: str = ""  # for the model: why the call, the stop or the result is blocked
    context: str = ""  # for the model: additional context
    message: str = ""  # for the user
    halt: str = ""  # continue: false: the session stops, with this reason
    error: str = ""  # a failed hook, for the user
    decision: Decision = ""  # PreToolUse: allow / ask / deny ('' when no hook decided)
    reason: str = ""  # PreToolUse allow or ask: why, for the user
    updated_input: Mapping[str, Any] | None = None  # PreToolUse: the tool's whole new input

    def merge(self, other: HookOutcome) -> HookOutcome:
        """Both outcomes: a block by either blocks; the stricter decision wins; texts are joined in order;
        of two new inputs the later one wins (each hook saw the model's own input)."""
        def join(a: str, b: str) -> str:
            return "\n".join(t for t in (a, b) if t)
        decided = other if _RANK[other.decision] > _RANK[self.decision] else self
        return HookOutcome(self.block or other.block, join(self.feedback, other.feedback),
                           join(self.context, other.context), join(self.message, other.message),
                           self.halt or other.halt, join(self.error, other.error), decided.decision,
                           decided.reason, other.updated_input if other.updated_input is not None
                           else self.updated_input)


def _clip(text: str) -> str:
    text = redact_output(text)[0].strip()
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + " [... cut]"


def _json(stdout: str) -> dict[str, Any] | None:
    text = stdout.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _text(value: Any) -> str:
    return _clip(value) if isinstance(value, str) else ""


def _pre_tool(data: dict[str, Any], specific: dict[str, Any]) -> tuple[Decision, str, Mapping[str, Any] | None]:
    """PreToolUse's decision, its reason and the new input; the deprecated top-level spelling when no other."""
    decision = specific.get("permissionDecision")
    reason = specific.get("permissionDecisionReason")
    if decision not in ("allow", "ask", "deny") and data.get("decision") in _DEPRECATED:
        decision, reason = _DEPRECATED[data["decision"]], data.get("reason")
    updated = specific.get("updatedInput")
    chosen: Decision = decision if decision in ("allow", "ask", "deny") else ""
    return chosen, _text(reason), dict(updated) if isinstance(updated, dict) else None


def _from_json(event: str, data: dict[str, Any]) -> HookOutcome:
    specific = data.get("hookSpecificOutput")
    specific = specific if isinstance(specific, dict) else {}
    halt = ""
    if data.get("continue") is False:
        halt = _text(data.get("stopReason")) or "a hook asked to stop"
    message = _text(data.get("systemMessage"))
    context = _text(specific.get("additionalContext"))
    if event == "PreToolUse":
        decision, reason, updated = _pre_tool(data, specific)
        if decision == "deny":
            return HookOutcome(True, reason or "denied by a PreToolUse hook", context, message, halt, decision="deny")
        return HookOutcome(False, "", context, message, halt, decision=decision, reason=reason,
                           updated_input=updated)
    block, feedback = False, ""
    if data.get("decision") == "block" and event in ("PostToolUse", "Stop", "UserPromptSubmit"):
        block, feedback = True, _text(data.get("reason")) or f"blocked by a {event} hook"
    if event == "UserPromptSubmit" and block:  # the refused prompt's reason goes to the user, not the model
        message, feedback = "\n".join(t for t in (message, feedback) if t), ""
    return HookOutcome(block, feedback, context, message, halt)


def parse_outcome(event: str, run: HookRun, command: str) -> HookOutcome:
    """The outcome of one run of a hook for ``event`` (pure)."""
    if run.error:
        return HookOutcome(error=f"{event} hook {command!r} {run.error}")
    if run.timed_out:
        return HookOutcome(error=f"{event} hook {command!r} timed out after {run.duration_s:.0f}s")
    if run.exit_code == 2:
        reason = _clip(run.stderr) or f"blocked by a {event} hook"
        if event == "PreToolUse":
            return HookOutcome(block=True, feedback=reason, decision="deny")
        if event in _TO_MODEL_ON_BLOCK:
            return HookOutcome(block=True, feedback=reason)
        if event == "UserPromptSubmit":
            return HookOutcome(block=True, message=reason)
        return HookOutcome(message=reason)
    if run.exit_code != 0:
        tail = _clip(run.stderr)[-500:]
        return HookOutcome(error=f"{event} hook {command!r} failed (exit {run.exit_code})" + (f": {tail}" if tail else ""))
    data = _json(run.stdout)
    if data is not None:
        return _from_json(event, data)
    if event in ("UserPromptSubmit", "SessionStart"):
        return HookOutcome(context=_clip(run.stdout))
    return HookOutcome()


def _decode(data: bytes | None) -> str:
    return (data or b"")[: MAX_OUTPUT_CHARS * 8].decode("utf-8", "replace")


def hook_policy(policy: SandboxPolicy) -> SandboxPolicy:
    """The policy hooks run under: the session's, plus the project directory's variables."""
    return replace(policy, env=(*policy.env, *HOOK_ENV_NAMES))


def hook_environ(environ: Mapping[str, str], root: Path) -> dict[str, str]:
    """The environment a hook is launched from: the session's, with the project directory named."""
    return {**environ, **dict.fromkeys(HOOK_ENV_NAMES, str(root))}


def run_hook(hook: HookSpec, payload: Mapping[str, Any], *, root: Path, policy: SandboxPolicy,
             environ: Mapping[str, str]) -> HookRun:
    """Run ``hook.command`` with bash in a sandbox of its own, ``payload`` as JSON on stdin, within its timeout.

    The fallback where no hook runner (``hooks_runner``) can start, and the path for unconfined user hooks.
    """
    policy, env = hook_policy(policy), hook_environ(environ, root)
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    started = time.monotonic()
    with launch(policy, hook.command, cwd=root, environ=env) as how:
        try:
            proc = subprocess.Popen(list(how.argv), cwd=root, env=dict(how.env), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                    pass_fds=how.pass_fds)
        except OSError as exc:
            return HookRun(-1, "", "", False, 0.0, error=f"could not start: {exc.strerror or exc}")
        try:
            out, err = proc.communicate(data, timeout=hook.timeout_s)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid, proc)
            try:
                out, err = proc.communicate(timeout=_PIPE_GRACE_S)
            except subprocess.TimeoutExpired:  # a grandchild holds the pipes: give up on its output
                proc.kill()
                out, err = b"", b""
            return HookRun(124, _decode(out), _decode(err), True, time.monotonic() - started)
        except BaseException:
            kill_group(proc.pid, proc)
            raise
    return HookRun(proc.returncode, _decode(out), _decode(err), False, time.monotonic() - started)
