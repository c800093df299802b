"""The hook runner's inside: one process per hook source, started once in the sandbox, running each hook it is sent.

Its source is handed to ``python -I -S -c`` (the checkout may sit under /tmp, which the sandbox empties), so it
imports the standard library only. It talks to v4agent over its stdin and stdout: frames of a 4-byte big-endian
length and a JSON object. It answers ``{"ready": pid}`` once, then, for each request ``{"argv", "env", "cwd",
"stdin" (base64), "timeout", "cap"}``, one ``{"rc", "stdout", "stderr" (base64), "timed_out", "error"}``, with
``"retire": true`` when it could not clean up after the hook and exits (ending its sandbox).

What a sandbox per hook gave for free, it does by hand after every hook, so one hook cannot reach the next:
- every other process of its PID namespace is killed (a hook's ``setsid`` daemon included: the namespace holds
  only the sandbox's init, this runner and what the hooks started), as the end of a per-hook sandbox did;
- the scratch directories (/tmp and the like, private to this sandbox) are emptied;
- it is not dumpable (prctl(2) PR_SET_DUMPABLE = 0), so a hook, the same user in the same namespace but with no
  capability, can neither ptrace it nor open its /proc/PID/mem or fd/ (ptrace(2), "Ptrace access mode checking":
  a non-dumpable target needs CAP_SYS_PTRACE). A hook may still kill it: v4agent then reports that hook as
  failed and starts a new runner for the next one.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import re
import selectors
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time
from typing import Any

__all__ = ["main"]

_HEADER = struct.Struct(">I")
_PR_SET_DUMPABLE = 4  # <linux/prctl.h>
_DRAIN_S = 2.0  # after the hook and its strays are gone, its pipes close at once; this only bounds a surprise


def _read_exact(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _receive(fd: int) -> dict[str, Any] | None:
    head = _read_exact(fd, _HEADER.size)
    if head is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(head)[0])
    return None if body is None else dict(json.loads(body))


def _send(fd: int, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode("utf-8")
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _strays() -> list[int]:
    """Every process of this PID namespace but its init (1) and this runner."""
    own = os.getpid()
    return [int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) not in (1, own)]


def _sweep() -> bool:
    """Kill what the last hook left running and wait until it is gone (a zombie counts as gone); False when some
    of it outlasted the wait (a fork loop): then this sandbox ends, with everything in it."""
    deadline = time.monotonic() + _DRAIN_S
    while True:
        left = []
        for pid in _strays():
            try:
                with open(f"/proc/{pid}/stat", "rb") as handle:
                    if handle.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                        continue
                os.kill(pid, signal.SIGKILL)
                left.append(pid)
            except (OSError, IndexError):
                continue
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        if not left:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.0005)


def _mount_points() -> frozenset[str] | None:
    """Where something is mounted in this sandbox; None when that cannot be read (then nothing is emptied).

    proc(5), /proc/self/mountinfo: the fifth field is the mount point, with space, tab, newline and backslash
    written as octal escapes.
    """
    try:
        with open("/proc/self/mountinfo", "rb") as info:
            lines = info.read().splitlines()
    except OSError:
        return None
    points = set()
    for line in lines:
        fields = line.split(b" ")
        if len(fields) > 4:
            raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8) & 0xFF]), fields[4])
            points.add(os.fsdecode(raw))
    return frozenset(points) if points else None


def _empty(folder: str, mounts: frozenset[str]) -> None:
    """Remove what a hook left in ``folder``, never a mount inside it: the repository, the interpreter or a
    hidden path may be bound below /tmp, and their files are not the hook's to lose (nor ours to delete)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        if path in mounts:
            continue
        try:
            mode = os.lstat(path).st_mode  # lstat: a link is removed, never followed
            if stat.S_ISDIR(mode) and any(m.startswith(path + "/") for m in mounts):
                _empty(path, mounts)  # a directory bubblewrap made to hold a mount: only its other entries go
            elif stat.S_ISDIR(mode):
                os.chmod(path, 0o700)
                for top, dirs, _files in os.walk(path):
                    for sub in dirs:
                        with contextlib.suppress(OSError):
                            os.chmod(os.path.join(top, sub), 0o700)
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            continue


class _Streams:
    """The hook's stdin (written) and stdout/stderr (read, each kept up to ``cap`` bytes), and its exit (a pidfd)."""

    def __init__(self, proc: subprocess.Popen[bytes], data: bytes, cap: int) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        self.sel = selectors.DefaultSelector()
        self.cap = cap
        self.out = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
        self.pending = memoryview(data)
        self.stdin = proc.stdin
        for fd in self.out:
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, "out")
        os.set_blocking(self.stdin.fileno(), False)
        self.sel.register(self.stdin.fileno(), selectors.EVENT_WRITE, "in")
        self.pidfd = os.pidfd_open(proc.pid)  # readable once the hook has exited (pidfd_open(2))
        self.sel.register(self.pidfd, selectors.EVENT_READ, "exit")

    @property
    def reading(self) -> bool:
        return any(key.data == "out" for key in self.sel.get_map().values())

    def close_stdin(self) -> None:
        if not self.stdin.closed:
            self.sel.unregister(self.stdin.fileno())
            with contextlib.suppress(OSError):
                self.stdin.close()

    def close(self) -> None:
        self.close_stdin()
        self.sel.close()
        os.close(self.pidfd)

    def step(self, timeout: float) -> bool:
        """Move data for up to ``timeout`` seconds; True once the hook has exited."""
        exited = False
        for key, _ in self.sel.select(timeout):
            if key.data == "exit":
                self.sel.unregister(key.fd)  # once is enough: it stays readable
                exited = True
            elif key.data == "out":
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    self.sel.unregister(key.fd)
                    continue
                kept = self.out[key.fd]
                kept += chunk[: max(0, self.cap - len(kept))]
            else:
                try:
                    self.pending = self.pending[os.write(key.fd, self.pending):]
                except BlockingIOError:
                    continue
                except OSError:  # the hook closed its stdin unread: as with any pipe, the rest is dropped
                    self.pending = memoryview(b"")
                if not self.pending:
                    self.close_stdin()
        return exited


def _run(request: dict[str, Any]) -> dict[str, Any]:
    data = base64.b64decode(request.get("stdin", ""))
    try:
        proc = subprocess.Popen(list(request["argv"]), cwd=request.get("cwd") or None, env=dict(request["env"]),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except OSError as exc:
        return {"error": f"could not start: {exc.strerror or exc}"}
    streams = _Streams(proc, data, int(request.get("cap", 80_000)))
    deadline = time.monotonic() + float(request.get("timeout", 60.0))
    timed_out = False
    try:
        while not streams.step(min(max(deadline - time.monotonic(), 0.0), 1.0)):
            if time.monotonic() >= deadline:
                timed_out = True
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                break
        proc.wait()  # reaped here, before the sweep's waitpid(-1) could take its status
        # The hook is over: what it left behind goes now (closing any pipe a stray held), then its output drains.
        streams.close_stdin()
        _sweep()
        drain = time.monotonic() + _DRAIN_S
        while streams.reading and time.monotonic() < drain:
            streams.step(0.05)
    finally:
        streams.close()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    code = proc.returncode
    out, err = (bytes(buf) for buf in streams.out.values())
    return {"rc": 124 if timed_out else (128 - code if code < 0 else code), "timed_out": timed_out,
            "stdout": base64.b64encode(out).decode("ascii"), "stderr": base64.b64encode(err).decode("ascii")}


def main(scratch: list[str]) -> None:
    """Serve requests on stdin until it closes; after each hook, no process and no scratch file of it is left."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    mounts = _mount_points()
    _send(1, {"ready": os.getpid()})
    while (request := _receive(0)) is not None:
        try:
            answer = _run(request)
        except Exception as exc:  # never leave v4agent waiting: a broken request is answered as an error
            answer = {"error": f"failed in the hook runner: {type(exc).__name__}: {exc}"}
        if not _sweep():
            _send(1, {**answer, "retire": True})  # v4agent starts a new runner for the next hook
            return
        if mounts is not None:
            for folder in scratch:
                _empty(folder, mounts)
        _send(1, answer)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else [])
