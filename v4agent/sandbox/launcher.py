"""Launching one command under a policy: the argv and environment to start, and its private temporary directory.

``launch`` is a context manager: the directory exists while the command runs; on leaving, it waits for the
sandbox to end (``reap.py``), then removes the directory.
When no mechanism is available (or the user turned it off) the command still gets the allow-listed
environment, the private TMPDIR and the limits; ``Launch.note`` then says it ran without a sandbox.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from v4agent.sandbox.bwrap import SANDBOX_TMP, bwrap_argv, limited
from v4agent.sandbox.detect import Detection, detect
from v4agent.sandbox.environment import sandbox_env
from v4agent.sandbox.mounts import resolve_mounts
from v4agent.sandbox.policy import SandboxPolicy
from v4agent.sandbox.reap import child_pid, wait_ended

__all__ = ["Launch", "containment", "is_contained", "launch", "sandbox_label"]


@dataclass(frozen=True)
class Launch:
    """What to start: the full argv, its whole environment (bwrap's own: it passes it on), whether it is confined."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    contained: bool
    note: str = ""  # for the output when not contained: "ran without a sandbox (REASON)"
    pass_fds: tuple[int, ...] = ()  # bwrap's --info-fd: the starter must pass it on (``Popen(pass_fds=...)``)


def containment(policy: SandboxPolicy) -> Detection:
    """The mechanism commands under ``policy`` run in; ``none`` (with the reason) when the user turned it off."""
    if policy.mode == "off":
        return Detection("none", reason="turned off (sandbox.mode = off)")
    return detect(policy.bwrap)


def is_contained(policy: SandboxPolicy | None) -> bool:
    """Whether commands under ``policy`` run confined (no policy: not confined)."""
    return policy is not None and containment(policy).available


def sandbox_label(policy: SandboxPolicy | None) -> str:
    """One word for status lines: ``sandboxed``, ``sandboxed+net`` or ``unsandboxed``."""
    if not is_contained(policy):
        return "unsandboxed"
    return "sandboxed+net" if policy is not None and policy.network else "sandboxed"


def _chmod_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        if stat.S_ISDIR(os.lstat(path).st_mode):  # lstat: a link the command planted is never followed
            os.chmod(path, 0o700)


def _remove(path: str) -> None:
    """Remove the command's directory, though it may have left directories without write permission."""
    _chmod_dir(path)
    for top, dirs, _files in os.walk(path):
        for name in dirs:
            _chmod_dir(os.path.join(top, name))
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def launch(policy: SandboxPolicy, command: str | Sequence[str], *, cwd: Path | None = None,
           environ: Mapping[str, str] | None = None) -> Iterator[Launch]:
    """The launch of ``command`` (a bash string or an argv) under ``policy``, with its TMPDIR while it runs."""
    environ = os.environ if environ is None else environ
    command = command if isinstance(command, str) else list(command)
    tmpdir = tempfile.mkdtemp(prefix="v4agent-cmd-")
    try:
        found = containment(policy)
        if not found.available:
            env = sandbox_env(policy, environ, tmpdir)
            yield Launch(tuple(limited(command, policy.memory_bytes, policy.file_bytes)), env, False,
                         f"ran without a sandbox ({found.reason})")
            return
        plan = resolve_mounts(policy)
        inside = str(SANDBOX_TMP) if SANDBOX_TMP in plan.scratch else tmpdir
        env = sandbox_env(policy, environ, inside)
        env["XDG_CACHE_HOME"] = f"{inside}/.cache"  # the home is read-only: caches (go's, pip's) go here
        info_read, info_write = os.pipe()
        try:
            full = bwrap_argv(policy, plan, command, bwrap=found.path, variant=found.variant, tmpdir=tmpdir,
                              cwd=cwd, info_fd=info_write)
            yield Launch(tuple(full), env, True, pass_fds=(info_write,))
        finally:
            os.close(info_write)
            pid = child_pid(info_read)
            os.close(info_read)
            if pid is not None:  # nothing of the command may run on once the caller is done with it
                wait_ended(pid)
    finally:
        _remove(tmpdir)
