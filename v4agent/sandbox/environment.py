"""The environment of a sandboxed command: an allow-list of harmless names, never a key or a token.

A deny-list (names containing KEY, TOKEN...) lets ``STRIPE_KEY`` through as ``SENTRY_DSN`` and
``MY_SERVICE_CRED`` show: what a command inherits is what is named here, plus what the user adds in
``sandbox.env``, less the engine's key and GitHub's tokens whatever the user lists.
"""

from __future__ import annotations

from collections.abc import Mapping

from v4agent.sandbox.policy import SandboxPolicy

__all__ = ["ALLOWED_ENV", "ALLOWED_PREFIXES", "sandbox_env"]

# Where programs are, who runs them, how text is encoded and shown: nothing a command could misuse.
ALLOWED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ", "NO_COLOR")
ALLOWED_PREFIXES = ("LC_",)


def _allowed(name: str, policy: SandboxPolicy) -> bool:
    return name in ALLOWED_ENV or name.startswith(ALLOWED_PREFIXES) or name in policy.env


def sandbox_env(policy: SandboxPolicy, environ: Mapping[str, str], tmpdir: str) -> dict[str, str]:
    """The names ``policy`` allows, taken from ``environ``, with ``TMPDIR`` set to the command's own directory."""
    never = set(policy.never_env)
    env = {name: value for name, value in environ.items() if _allowed(name, policy) and name not in never}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["TMPDIR"] = tmpdir
    # Python keys its bytecode cache on the source's mtime in whole seconds: an edit within the second of a
    # test run, of the same size, would run the stale code. Tests run after every edit here, so no cache.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
