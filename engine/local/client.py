"""The local engine: a RemoteEngine on the vLLM server that v4agent started or attached to.

It keeps the remote client's request layout and adds two local duties: cache hits read from vLLM's ``/metrics``
counters when a reply leaves ``cached_tokens`` out, and stopping the server (when v4agent started it) on close.
Which engine a command gets is chosen from the configuration outside the engine package
(``v4agent.agent.engine_choice``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from v4agent.engine.client import RemoteEngine
from v4agent.engine.local.runtime import LocalEngineHandle, fill_hits_from_metrics
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
        """The remote ``complete``; hits the reply leaves out are read from the server's counters."""
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
        """Close the HTTP client, then stop the server if v4agent started it."""
        try:
            super().close()
        finally:
            self.handle.close()
