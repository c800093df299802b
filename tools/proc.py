"""Run a command in its own process group with a timeout; on timeout or Ctrl-C the whole group dies.

Output goes to a temporary file rather than a pipe, so a grandchild that keeps the pipe open cannot make us
wait past the timeout. Given a ``SandboxPolicy``, the command runs confined (``v4agent.sandbox.launcher``): the
group then is bubblewrap's, and the sandbox's PID namespace ends with it. ``clip_output`` keeps the head, the
tail and the first failure section.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from v4agent.core.procgroup import group_alive, stop_group
from v4agent.sandbox import SandboxPolicy, launch

__all__ = ["ProcResult", "clip_output", "kill_group", "run_command"]

TERM_GRACE_S = 2.0
HEAD_CHARS = 3_000
TAIL_CHARS = 6_000
FAILURE_CHARS = 5_000

_FAILURE = re.compile(
    r"^(=+ (FAILURES|ERRORS) =+|_{3,} .* _{3,}|FAILED |ERROR |Traceback \(most recent call last\)|--- FAIL|"
    r"FAIL[: ]|thread '.*' panicked|npm ERR!|error(\[E\d+\])?:|.*AssertionError)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class ProcResult:
    """How a command ended: exit status, combined output, whether it timed out, and how long it ran."""

    command: str
    returncode: int  # -signal when killed; 124 when it ran past its timeout
    output: str  # stdout and stderr interleaved, not clipped
    timed_out: bool
    duration_s: float
    note: str = ""  # under a policy without a mechanism: "ran without a sandbox (REASON)"


def kill_group(pgid: int, leader: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the group, give it a moment, then SIGKILL whatever is left (children that ignore SIGTERM)."""
    stop_group(pgid, leader, grace_s=TERM_GRACE_S)


def run_command(
    command: str | list[str], cwd: Path, *, timeout_s: float, env: dict[str, str] | None = None,
    sandbox: SandboxPolicy | None = None,
) -> ProcResult:
    """Run ``command`` (a shell string or an argv list); never waits longer than ``timeout_s`` (+ grace).

    With ``sandbox``, the command runs under that policy and ``env`` (default: ours) is only where the
    allow-listed names are taken from.
    """
    shown = command if isinstance(command, str) else " ".join(command)
    started = time.monotonic()
    if sandbox is None:
        returncode, text, timed_out = _run(command, cwd, timeout_s, env)
        return ProcResult(shown, returncode, text, timed_out, time.monotonic() - started)
    with launch(sandbox, command, cwd=Path(cwd), environ=env) as how:
        returncode, text, timed_out = _run(list(how.argv), cwd, timeout_s, dict(how.env), how.pass_fds)
    return ProcResult(shown, returncode, text, timed_out, time.monotonic() - started, how.note)


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    """``proc.wait(timeout_s)``, woken the moment the process exits.

    ``Popen.wait`` with a timeout polls with growing sleeps (up to 50 ms), which would add up to as much again
    to every short command; a pidfd (pidfd_open(2), Linux 5.3) becomes readable when the process exits.
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return proc.wait(timeout=timeout_s)
    try:
        ready, _, _ = select.select([fd], [], [], timeout_s)
    finally:
        os.close(fd)
    if not ready:
        raise subprocess.TimeoutExpired(proc.args, timeout_s)
    return proc.wait()


def _run(command: str | list[str], cwd: Path, timeout_s: float, env: dict[str, str] | None,
         pass_fds: tuple[int, ...] = ()) -> tuple[int, str, bool]:
    """(exit status, output, timed out) of ``command`` in its own process group."""
    shell = isinstance(command, str)
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            command, shell=shell, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, executable="/bin/bash" if shell else None, pass_fds=pass_fds,
        )
        timed_out = False
        try:
            returncode = _wait(proc, timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc.pid, proc)
            proc.wait()
            returncode = 124
        except BaseException:  # KeyboardInterrupt above all: nothing of the command may outlive us
            kill_group(proc.pid, proc)
            proc.wait()
            raise
        # The leader exited: anything it left behind in its group goes too.
        if group_alive(proc.pid):
            kill_group(proc.pid, proc)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return returncode, text, timed_out


def clip_output(text: str, *, head: int = HEAD_CHARS, tail: int = TAIL_CHARS, failure: int = FAILURE_CHARS) -> str:
    """Head + the first failure section + tail, each cut at line boundaries, with notes of what was cut."""
    if len(text) <= head + tail + failure:
        return text
    head_end = text.rfind("\n", 0, head) + 1 or head
    tail_start = text.find("\n", len(text) - tail) + 1 or len(text) - tail
    pieces = [(0, head_end)]
    match = _FAILURE.search(text, head_end, tail_start)
    if match:
        start = text.rfind("\n", 0, match.start()) + 1
        end = min(tail_start, start + failure)
        end = text.rfind("\n", start, end) + 1 or end
        if end > start:
            pieces.append((start, end))
    pieces.append((tail_start, len(text)))
    out: list[str] = []
    cursor = 0
    for start, end in pieces:
        if start > cursor:
            cut = text[cursor:start]
            out.append(f"[... {cut.count(chr(10))} lines ({len(cut)} characters) cut ...]\n")
        out.append(text[max(start, cursor) : end])
        cursor = max(cursor, end)
    return "".join(out)
