"""The hook runner's outside: one sandbox per hook source, started at its first hook, kept for the session.

A sandbox per hook costs bubblewrap's start-up (about 30 ms here) on every tool call; a runner started once in
the same sandbox (``hooks_worker``: the same policy, mounts, environment and limits) runs each hook for a few
milliseconds. User hooks and a repository's hooks never share one: a hostile repository hook can only reach
the repository's own runner. A runner that dies (a hook may kill it), stops answering or answers nonsense is
killed with its sandbox; that hook is reported as failed and the next hook starts a new runner. When a runner
cannot start at all, ``start`` says why and the caller runs hooks one sandbox each, as before.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import selectors
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from v4agent.extend.hooks_config import HookSpec
from v4agent.extend.hooks_run import HookRun, hook_environ, hook_policy
from v4agent.sandbox import SandboxPolicy, launch
from v4agent.sandbox.mounts import MountPlan, resolve_mounts

__all__ = ["HookRunner", "RunnerDied"]

OUTPUT_CAP_BYTES = 80_000  # per stream; the text kept of it is cut further (``hooks_run.MAX_OUTPUT_CHARS``)
_HEADER = struct.Struct(">I")
_START_TIMEOUT_S = 20.0
_GRACE_S = 10.0  # past a hook's own timeout: the runner kills a slow hook itself; this catches a stuck runner
_STOP_TIMEOUT_S = 5.0
_MAX_FRAME = 16 << 20
_WORKER = Path(__file__).with_name("hooks_worker.py")
# Emptied after every hook: inside this sandbox they are private (``sandbox.bwrap``: tmpfs or the private /tmp).
_SCRATCH = ("/tmp", "/var/tmp", "/run", "/dev/shm")


class RunnerDied(Exception):
    """The runner stopped, or stopped answering, while a hook ran."""


class HookRunner:
    """One runner process in its sandbox, for the hooks of one source (``user`` or ``project``)."""

    def __init__(self, scope: str, policy: SandboxPolicy, root: Path, environ: Mapping[str, str]) -> None:
        self.scope = scope
        self.policy = hook_policy(policy)
        self.root = root
        self.environ = hook_environ(environ, root)
        self.label = f"v4agent-hook-runner:{scope}:{root}"
        self._lock = threading.Lock()
        self._stack: contextlib.ExitStack | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._env: dict[str, str] = {}
        self._plan: MountPlan | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        """Whether a runner process is up (it may still have died since its last answer)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The host PID of bubblewrap's process for the runner, while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> str:
        """Start the runner; '' when it answered, else why not (then it is stopped again)."""
        stack = contextlib.ExitStack()
        self._plan = resolve_mounts(self.policy)
        argv = [sys.executable, "-I", "-S", "-c", _WORKER.read_text(encoding="utf-8"), json.dumps(_SCRATCH), self.label]
        try:
            how = stack.enter_context(launch(self.policy, argv, cwd=self.root, environ=self.environ))
            if not how.contained:
                stack.close()
                return how.note or "no sandbox"
            self._proc = subprocess.Popen(list(how.argv), cwd=self.root, env=dict(how.env), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, pass_fds=how.pass_fds,
                                          start_new_session=True)
        except OSError as exc:
            stack.close()
            return exc.strerror or str(exc)
        self._stack = stack
        self._env = dict(how.env)
        atexit.register(self.stop)
        try:
            hello = self._receive(time.monotonic() + _START_TIMEOUT_S)
        except RunnerDied as exc:
            self.stop()
            return f"the hook runner did not start: {exc}"
        if not isinstance(hello.get("ready"), int):
            self.stop()
            return "the hook runner did not start: it answered nonsense"
        self.starts += 1
        return ""

    def run(self, hook: HookSpec, data: bytes) -> HookRun:
        """Run ``hook.command`` in this runner's sandbox with ``data`` on its stdin; a failed run when the runner dies.

        Starts the runner when it is not running (raises ``RunnerDied`` when it cannot start: the caller falls
        back to a sandbox of its own for that hook).
        """
        with self._lock:
            # A sandbox's mounts are fixed when it starts; a per-command sandbox hides a credential store made
            # during the session from the next command on (``sandbox.mounts``), and so does a new runner.
            if not self.running or resolve_mounts(self.policy) != self._plan:
                self.stop()
                problem = self.start()
                if problem:
                    raise RunnerDied(problem)
            request = {"argv": ["/bin/bash", "-c", hook.command], "env": self._env, "cwd": str(self.root),
                       "stdin": base64.b64encode(data).decode("ascii"), "timeout": hook.timeout_s,
                       "cap": OUTPUT_CAP_BYTES}
            started = time.monotonic()
            try:
                self._send(request)
                answer = self._receive(started + hook.timeout_s + _GRACE_S)
            except RunnerDied as exc:
                self.stop(kill=True)
                return HookRun(-1, "", "", False, time.monotonic() - started,
                               error=f"failed: its sandboxed hook runner stopped while it ran ({exc}); the next hook "
                                     "starts a new one")
            except BaseException:  # Ctrl-C mid-hook: the runner's state is unknown, so it goes at once
                self.stop(kill=True)
                raise
            if answer.get("retire") is True:  # it could not clean up after this hook: its sandbox goes
                self.stop(kill=True)
            return _hook_run(answer, time.monotonic() - started)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the runner and its sandbox (every process in it) and remove its private directory; idempotent.

        ``kill``: at once, not after the hook it may still be running (it died, hangs, or the user pressed Ctrl-C).
        """
        proc, stack = self._proc, self._stack
        self._proc, self._stack = None, None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if proc is not None:
            if kill:
                proc.kill()  # bubblewrap's --die-with-parent ends the sandbox with it
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # end of requests: the runner exits, and bubblewrap with it
            try:
                proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()  # bubblewrap's --die-with-parent ends the sandbox with it
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if stack is not None:
            stack.close()  # waits for the sandbox's init to end, then removes the private directory

    # -- frames ---------------------------------------------------------------------------------------------------

    def _send(self, message: Mapping[str, Any]) -> None:
        assert self._proc is not None
        assert self._proc.stdin is not None
        data = json.dumps(message).encode("utf-8")
        try:
            self._proc.stdin.write(_HEADER.pack(len(data)) + data)
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise RunnerDied("it is gone") from exc

    def _receive(self, deadline: float) -> dict[str, Any]:
        assert self._proc is not None
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        head = _read_exact(fd, _HEADER.size, deadline)
        size = _HEADER.unpack(head)[0]
        if size > _MAX_FRAME:
            raise RunnerDied("it answered nonsense")
        try:
            value = json.loads(_read_exact(fd, size, deadline))
        except ValueError as exc:
            raise RunnerDied("it answered nonsense") from exc
        if not isinstance(value, dict):
            raise RunnerDied("it answered nonsense")
        return value


def _read_exact(fd: int, size: int, deadline: float) -> bytes:
    data = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunnerDied("it stopped answering")
            if not sel.select(left):
                continue
            chunk = os.read(fd, size - len(data))
            if not chunk:
                raise RunnerDied("it exited")
            data += chunk
    return data


def _text(value: Any) -> str:
    try:
        return base64.b64decode(value if isinstance(value, str) else "").decode("utf-8", "replace")
    except ValueError:
        return ""


def _hook_run(answer: Mapping[str, Any], duration_s: float) -> HookRun:
    error = answer.get("error")
    if isinstance(error, str) and error:
        return HookRun(-1, "", "", False, duration_s, error=error)
    code = answer.get("rc")
    return HookRun(code if isinstance(code, int) else -1, _text(answer.get("stdout")), _text(answer.get("stderr")),
                   bool(answer.get("timed_out")), duration_s)
