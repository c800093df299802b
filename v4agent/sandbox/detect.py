"""Which confinement this machine offers: bubblewrap, when it is installed and a trial sandbox runs; else none, and why.

Installed is not enough: unprivileged user namespaces may be switched off (a sysctl, an AppArmor rule, a
container's seccomp profile), and then every real command would fail. So the trial runs ``true`` with the
same isolation real commands get, and the first isolation variant that works is the one used.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

from v4agent.sandbox.bwrap import ISOLATION_VARIANTS, isolation_flags

__all__ = ["Detection", "detect"]

_TRIAL_TIMEOUT_S = 20.0
_TRIAL_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


@dataclass(frozen=True)
class Detection:
    """The mechanism found (``bubblewrap`` or ``none``), where it is, and why not when it is not."""

    mechanism: str
    path: str = ""
    version: str = ""
    variant: tuple[str, ...] = ()  # the isolation options that worked in the trial
    reason: str = ""  # why there is no mechanism

    @property
    def available(self) -> bool:
        """Whether commands can be confined."""
        return self.mechanism == "bubblewrap"

    def describe(self) -> str:
        """One line for messages: ``bubblewrap 0.8.0 (/usr/bin/bwrap)`` or ``none: REASON``."""
        if self.available:
            return f"{self.version or 'bubblewrap'} ({self.path})"
        return f"none: {self.reason}"


def _version(path: str) -> str:
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=_TRIAL_TIMEOUT_S,
                              env=_TRIAL_ENV, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


def _trial(path: str, variant: tuple[str, ...]) -> str:
    """'' when ``true`` runs in a sandbox with this isolation; else bwrap's own complaint."""
    true = shutil.which("true", path=_TRIAL_ENV["PATH"]) or "/bin/true"
    argv = [path, *isolation_flags(network=False), *variant, "--ro-bind", "/", "/", "--dev", "/dev",
            "--proc", "/proc", "--tmpfs", "/tmp", "--", true]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_TRIAL_TIMEOUT_S, env=_TRIAL_ENV,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return f"a trial sandbox did not finish in {_TRIAL_TIMEOUT_S:g}s"
    except OSError as exc:
        return f"cannot run {path}: {exc.strerror or exc}"
    if done.returncode == 0:
        return ""
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"a trial sandbox exited with status {done.returncode}"


@functools.lru_cache(maxsize=8)
def detect(bwrap: str = "") -> Detection:
    """The mechanism for ``bwrap`` (a path; empty = ``bwrap`` on PATH). Cached: the trial runs once per process."""
    path = shutil.which(bwrap or "bwrap")
    if path is None:
        where = f"{bwrap} does not exist or is not executable" if bwrap else "bwrap is not on PATH"
        return Detection("none", reason=f"bubblewrap is not installed ({where})")
    path = os.path.abspath(path)
    complaint = ""
    for variant in ISOLATION_VARIANTS:
        complaint = _trial(path, variant)
        if not complaint:
            return Detection("bubblewrap", path, _version(path), variant)
    return Detection("none", path=path, reason=f"bubblewrap cannot start a sandbox here: {complaint}")
