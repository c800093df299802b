"""Which engine settings a resumed session keeps: its own model and thinking, never an endpoint from its file.

A session's start record names the engine and base URL it ran against, and resuming with the same settings keeps
the provider's cache. But session files live in the repository (``.v4agent/sessions/``) and a repository can
commit files there, so an endpoint read back from one is the repository's word, not the user's: a recorded
endpoint that differs from the configured one is refused unless the user names it again with a flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from v4agent.agent.engine_choice import LOCAL, engine_settings
from v4agent.agent.sessions.store import SessionData
from v4agent.core.config import Config
from v4agent.core.errors import UsageError
from v4agent.engine.client import preset_named

__all__ = ["ENDPOINT_KEYS", "resumed_settings"]

ENDPOINT_KEYS = ("engine", "base_url")


def resumed_settings(session: SessionData, config: Config, flags: Mapping[str, Any],
                     keys: Sequence[str]) -> dict[str, Any]:
    """The ``keys`` a resumed session runs with: the session's own values, then the user's flags.

    Raises UsageError when the session file names an endpoint other than the configured one and no flag names
    it: the user must choose that endpoint themselves.
    """
    recorded = {k: getattr(session.start, k, None) for k in keys}
    chosen = {k: v for k, v in recorded.items() if v not in (None, "") and k not in ENDPOINT_KEYS}
    chosen.update({k: v for k, v in flags.items() if k in keys and v not in (None, "")})
    for key, configured in _configured_endpoint(config, chosen).items():
        value = recorded.get(key)
        if key not in keys or key in chosen or value in (None, "") or value == configured:
            continue
        flag = "--base-url" if key == "base_url" else "--engine"
        raise UsageError(
            f"session {session.session_id} was recorded against {key} {value!r}, but this repository's "
            f"configuration uses {configured!r}",
            hint=f"resume with {flag} {value} if you trust that endpoint (session files are part of the "
                 "repository's tree, so their endpoint is not taken on their word)")
    return chosen


def _configured_endpoint(config: Config, chosen: Mapping[str, Any]) -> dict[str, str]:
    """The engine and base URL the configuration (and the flags) would use now; a local engine's URL is its own."""
    settings = engine_settings(config, overrides={k: v for k, v in chosen.items() if k in ENDPOINT_KEYS})
    endpoint = {"engine": settings.engine}
    if settings.engine != LOCAL:
        endpoint["base_url"] = settings.base_url or preset_named(settings.engine).base_url
    return endpoint
