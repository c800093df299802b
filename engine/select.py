"""Choosing the engine a command talks to: a remote preset, or the local vLLM that v4agent starts or attaches to.

Every command that talks to a model (refactor, chat, review) opens its engine here, so ``--engine local`` works
the same everywhere: the local engine is a ``RemoteEngine`` on the vLLM server's OpenAI endpoint, with the
same request layout, plus two local duties: cache hits read from vLLM's ``/metrics`` counters when a reply
leaves ``cached_tokens`` out, and stopping the server (when v4agent started it) on close.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from v4agent.core.config import Config
from v4agent.engine.client import RemoteEngine, open_engine
from v4agent.engine.local.runtime import LocalEngineHandle, fill_hits_from_metrics, start_local_engine
from v4agent.engine.types import ChatReply, Delta, Message, ToolSchema

LOCAL = "local"


class LocalEngine(RemoteEngine):
    """A RemoteEngine on a local vLLM server; ``name`` is "local" so accounting prices it as GPU time."""

    def __init__(self, remote: RemoteEngine, handle: LocalEngineHandle) -> None:
        # Adopt the configured client (its connection pool, URL, headers) rather than building a second one.
        self.__dict__.update(remote.__dict__)
        self.name = LOCAL
        self.handle = handle
        self._metrics_needed = True  # until a reply shows the server reports cached_tokens itself

    def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema] = (),
        *,
        on_delta: Callable[[Delta], None] | None = None,
        max_tokens: int | None = None,
    ) -> ChatReply:
        before = self.handle.prefix_cache_counters() if self._metrics_needed else None
        reply = super().complete(messages, tools, on_delta=on_delta, max_tokens=max_tokens)
        if reply.usage is None:
            return reply
        if reply.usage.cache_hit is not None:
            self._metrics_needed = False
            return reply
        after = self.handle.prefix_cache_counters()
        return replace(reply, usage=fill_hits_from_metrics(reply.usage, before, after))

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.handle.close()


def open_model_engine(config: Config, repo_root: Path, *, overrides: Mapping[str, Any] | None = None) -> RemoteEngine:
    """The engine named by ``overrides``/config: a preset's RemoteEngine, or a started/attached LocalEngine.

    Raises ``EngineError`` subclasses (``EngineUnreachable``, ``LocalEngineError``, start-up errors) with hints.
    """
    over = dict(overrides or {})
    name = str(over.get("engine") or config.get("engine"))
    if name != LOCAL:
        return open_engine(config, overrides=over)
    handle = start_local_engine(config, repo_root)
    try:
        local = {**over, **handle.client_overrides()}
        # A local window is whatever the plan fits: leave most of it to the prompt.
        local.setdefault("max_tokens", int(config.get("local.max_tokens")))
        remote = open_engine(config, overrides=local)
    except BaseException:
        handle.close()
        raise
    return LocalEngine(remote, handle)
