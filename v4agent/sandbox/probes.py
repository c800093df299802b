"""`v4agent sandbox check`'s evidence: one script run inside the sandbox tries each escape, the host judges.

Nothing is taken on trust from the script's word alone where the host can look: a write outside the
repository is looked for on the host's disk, a connection on the host's own loopback listener, a daemon in
the host's process table. Canary values (a file in a hidden directory, secret-looking variables) must not
appear in anything the script printed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from v4agent.sandbox.launcher import launch
from v4agent.sandbox.policy import SandboxPolicy

__all__ = ["CANARY_ENV", "Probe", "run_probes"]

CANARY_ENV = ("CANARY_API_KEY", "STRIPE_KEY", "SENTRY_DSN", "MY_SERVICE_CRED", "DEEPSEEK_API_KEY", "GITHUB_TOKEN")
_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Probe:
    """One property, whether the sandbox enforced it, and what was seen."""

    name: str
    enforced: bool
    detail: str


@dataclass(frozen=True)
class _Setup:
    """The probe's places and canaries on the host."""

    repo: Path
    outside: Path  # a directory beside the repository
    home_marker: Path  # a file the script tries to create in the home
    secret_dir: Path  # hidden by the probe's policy, with a canary file in it
    canary: str
    marker: str  # names the daemon the script leaves behind


def _base_dir(home: Path) -> Path:
    """Somewhere outside the scratch directories (so the hiding itself is tested): the user's cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="v4agent-sandbox-check-", dir=cache))
    except OSError:
        return Path(tempfile.mkdtemp(prefix="v4agent-sandbox-check-"))


def _script(s: _Setup, policy: SandboxPolicy, port: int, host_pid: int) -> str:
    q = shlex.quote
    stores = " ".join(q(str(p)) for p in policy.hide if p.exists())
    return "\n".join([
        f"echo escaped > {q(str(s.outside / 'marker'))} 2>/dev/null",
        f"echo escaped > {q(str(s.home_marker))} 2>/dev/null",
        f"cat {q(str(s.secret_dir / 'id_rsa'))} 2>/dev/null",
        f"for p in {stores}; do if [ -d \"$p\" ]; then [ -n \"$(ls -A \"$p\" 2>/dev/null)\" ] && echo \"VISIBLE $p\";"
        " elif [ \"$(head -c1 \"$p\" 2>/dev/null | wc -c)\" -gt 0 ]; then echo \"VISIBLE $p\"; fi; done",
        f"(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo NET-CONNECTED",
        "env",
        "cat /proc/$PPID/environ 2>/dev/null | tr '\\0' '\\n'",
        f"[ -e /proc/{host_pid} ] && echo PID-VISIBLE",
        f"setsid sh -c 'sleep 120; : {s.marker}' >/dev/null 2>&1 &",
        "echo DONE",
    ])


@contextlib.contextmanager
def _listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        sock.setblocking(False)
        yield sock
    finally:
        sock.close()


def _accepted(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except (BlockingIOError, OSError):
        return False
    conn.close()
    return True


def _daemons(marker: str) -> list[int]:
    """Host processes whose command line carries ``marker`` (the script's daemon, had it survived)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def _kill(pids: list[int]) -> None:
    """A surviving daemon goes, with its process group (the ``sleep`` under its ``sh``)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            group = os.getpgid(pid)
            if group != os.getpgid(0):
                os.killpg(group, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)


def _judge(s: _Setup, policy: SandboxPolicy, output: str, connected: bool, daemons: list[int]) -> list[Probe]:
    landed = [p for p in (s.outside / "marker", s.home_marker) if p.exists()]
    visible = [line.split(" ", 1)[1] for line in output.splitlines() if line.startswith("VISIBLE ")]
    leaked_env = [name for name in CANARY_ENV if f"{s.canary}-{name}" in output]
    stores = [str(p) for p in policy.hide if p.exists() and p != s.secret_dir]
    net_detail = ("on, as configured (sandbox.network = true)" if policy.network
                  else "a connection to a loopback listener of the host " + ("got through" if connected else "failed"))
    return [
        Probe("writes outside the repository do not land", not landed,
              f"landed: {', '.join(map(str, landed))}" if landed else f"tried {s.outside} and {s.home_marker.parent}"),
        Probe("credential stores are hidden", s.canary not in output and not visible,
              f"readable: {', '.join(visible) or 'the canary'}" if visible or s.canary in output
              else f"a canary in a hidden directory was unreadable; {len(stores)} store(s) present here: "
                   f"{', '.join(stores) or 'none'}"),
        Probe("network is off", policy.network or not connected, net_detail),
        Probe("no secrets in the environment", not leaked_env,
              f"leaked: {', '.join(leaked_env)}" if leaked_env else f"{', '.join(CANARY_ENV)} did not get in"),
        Probe("own PID namespace: no host process visible, no daemon outlives the command",
              "PID-VISIBLE" not in output and not daemons,
              "host processes visible" if "PID-VISIBLE" in output else
              f"a daemon survived (pid {daemons[0]})" if daemons else "a setsid daemon ended with the command"),
    ]


def run_probes(policy: SandboxPolicy) -> list[Probe]:
    """Run every escape inside a sandbox shaped like ``policy`` (its repository is a throwaway directory)."""
    base = _base_dir(policy.home)
    token = secrets.token_hex(8)
    s = _Setup(repo=base / "repo", outside=base / "outside", home_marker=policy.home / f".v4agent-probe-{token}",
               secret_dir=base / "secret", canary=f"canary-{token}", marker=f"v4agent-probe-daemon-{token}")
    try:
        for folder in (s.repo, s.outside, s.secret_dir):
            folder.mkdir()
        (s.secret_dir / "id_rsa").write_text(s.canary + "\n", encoding="utf-8")
        probe_policy = replace(policy, root=s.repo.resolve(), hide=(*policy.hide, s.secret_dir))
        environ = {**os.environ, **{name: f"{s.canary}-{name}" for name in CANARY_ENV}}
        with _listener() as sock:
            script = _script(s, probe_policy, sock.getsockname()[1], os.getpid())
            with launch(probe_policy, script, environ=environ) as how:
                done = subprocess.run(list(how.argv), cwd=s.repo, env=dict(how.env), capture_output=True,
                                      text=True, timeout=_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False,
                                      pass_fds=how.pass_fds)
            connected = _accepted(sock)
        daemons = _daemons(s.marker)
        _kill(daemons)
        return _judge(s, probe_policy, done.stdout + done.stderr, connected, daemons)
    finally:
        s.home_marker.unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)
