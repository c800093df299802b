"""The sandbox policy: what a command v4agent runs may see, write, reach and inherit, as one frozen record.

A policy is built once per run (``make_policy``) from the repository and the configuration; every command of
that run is launched under it. What it says:

- writable: the repository, and a private temporary directory made per command (``TMPDIR``);
- read-only: everything else that is visible, the repository's ``.git/`` and ``.v4agent/`` included;
- hidden: the user's credential stores (``HIDDEN_IN_HOME``), v4agent's own configuration, paths the user adds;
- scratch: ``/tmp``, ``/var/tmp`` and ``/run`` are replaced by empty directories, so other programs' files and
  sockets there (ssh-agent, docker.sock, the session bus) are out of reach;
- network: off unless enabled;
- environment: an allow-list (see ``environment.py``); the engine's key and GitHub tokens never pass;
- limits: wall time (the caller's timeout), address space (RLIMIT_AS) and file size (RLIMIT_FSIZE) per
  process. No process count: RLIMIT_NPROC counts every process of the user on the whole machine
  (getrlimit(2)), so a figure that fits one command either breaks the user's other programs or limits
  nothing. What bounds a command's processes instead: its PID namespace, which ends every one of them when the
  command ends (a `setsid` daemon included), and the timeout, which ends the command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "ALWAYS_NEVER_ENV", "DEFAULT_FILE_BYTES", "HIDDEN_IN_HOME", "SCRATCH", "Mode", "SandboxPolicy",
    "default_memory_bytes", "make_policy",
]

Mode = Literal["auto", "off"]

# Credential stores under the user's home: tokens, keys and logins that no command of the model's may read.
HIDDEN_IN_HOME = (
    ".ssh", ".aws", ".gnupg", ".netrc", ".git-credentials", ".config/gh", ".docker/config.json", ".kube",
    ".pypirc", ".npmrc", ".config/v4agent",
)
# Directories shared with every other program of the machine: replaced by empty ones inside the sandbox.
SCRATCH = ("/tmp", "/var/tmp", "/run", "/var/run")
# Never passed to a command, even when the user lists them: the engine's keys and GitHub's tokens.
ALWAYS_NEVER_ENV = ("DEEPSEEK_API_KEY", "V4AGENT_API_KEY", "GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN")
DEFAULT_FILE_BYTES = 4 << 30  # RLIMIT_FSIZE: no single file written past 4 GiB
_MIN_MEMORY_BYTES = 4 << 30


def default_memory_bytes() -> int:
    """RLIMIT_AS for one process: the machine's physical memory, at least 4 GiB.

    One runaway process then fails its allocation instead of pushing the machine into swap or the OOM killer.
    """
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        physical = 0
    return max(physical, _MIN_MEMORY_BYTES)


@dataclass(frozen=True)
class SandboxPolicy:
    """How every command of one run is confined; ``make_policy`` fills it from the configuration."""

    root: Path  # the repository: writable, the command's working directory
    home: Path  # the user's home: read-only, its credential stores hidden
    mode: Mode = "auto"  # "auto": bubblewrap when it works here; "off": never (every command then needs approval)
    network: bool = False
    bwrap: str = ""  # bubblewrap's path; empty = find ``bwrap`` on PATH
    env: tuple[str, ...] = ()  # names passed on top of the allow-list
    never_env: tuple[str, ...] = ALWAYS_NEVER_ENV  # names never passed, even when listed
    hide: tuple[Path, ...] = ()  # hidden paths: the credential stores and the user's own
    readable: tuple[Path, ...] = ()  # kept visible (read-only) though under a scratch directory: the interpreter
    scratch: tuple[Path, ...] = tuple(Path(p) for p in SCRATCH)
    memory_bytes: int = _MIN_MEMORY_BYTES
    file_bytes: int = DEFAULT_FILE_BYTES

    @property
    def read_only_in_root(self) -> tuple[Path, ...]:
        """Parts of the repository commands may read but not change: git's store and v4agent's own state."""
        return (self.root / ".git", self.root / ".v4agent")


def _hidden(home: Path, environ: Mapping[str, str], extra: Iterable[str]) -> tuple[Path, ...]:
    paths = [home / rel for rel in HIDDEN_IN_HOME]
    xdg = environ.get("XDG_CONFIG_HOME")
    if xdg:  # v4agent's and gh's configuration follow XDG_CONFIG_HOME when it is set
        paths += [Path(xdg) / "v4agent", Path(xdg) / "gh"]
    if environ.get("GH_CONFIG_DIR"):
        paths.append(Path(environ["GH_CONFIG_DIR"]))
    for raw in extra:
        path = Path(raw).expanduser() if raw.startswith("~") else Path(raw)
        paths.append(path if path.is_absolute() else home / path)
    return tuple(dict.fromkeys(paths))


def _interpreter_paths(environ: Mapping[str, str]) -> tuple[Path, ...]:
    """The Python that runs v4agent and the PATH entries: a test command needs them even under /tmp."""
    paths = [Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent]
    paths += [Path(p) for p in environ.get("PATH", "").split(os.pathsep) if p and os.path.isabs(p)]
    return tuple(dict.fromkeys(paths))


def make_policy(root: Path, *, mode: Mode = "auto", network: bool = False, bwrap: str = "",
                env: Iterable[str] = (), hide: Iterable[str] = (), never_env: Iterable[str] = (),
                environ: Mapping[str, str] | None = None) -> SandboxPolicy:
    """The policy for commands in ``root``, with the user's additions (extra names, extra hidden paths)."""
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME") or Path.home())
    return SandboxPolicy(
        root=Path(root).resolve(), home=home, mode=mode, network=network, bwrap=bwrap, env=tuple(env),
        never_env=tuple(dict.fromkeys((*ALWAYS_NEVER_ENV, *never_env))), hide=_hidden(home, environ, hide),
        readable=(home, *_interpreter_paths(environ)), memory_bytes=default_memory_bytes(),
    )
