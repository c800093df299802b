"""Priming: store a prefix (system, tools, packed repository) as its own cache unit, for later requests.

Under V4's unit rules a request hits only units it fully matches, and units are stored at the end of each
request's input, so a request that ends exactly at the pack makes the pack hittable by every later session or
pull request of the same repository state. The request keeps the session's own settings (``max_tokens`` is part
of the provider's cache key, so a 1-token request would store its unit under another key) and the stream is
dropped at its first piece: the provider stores the input, and only a token or two of output is generated.
"""

from __future__ import annotations

from collections.abc import Sequence

from v4agent.engine.types import ChatReply, Delta, Engine, EngineError, Message, ToolSchema


class _Enough(Exception):
    """Raised from the delta callback to end the priming stream after its first piece."""


def prime_prefix(engine: Engine, messages: Sequence[Message], tools: Sequence[ToolSchema]) -> ChatReply | None:
    """Send ``messages`` and drop the stream at its first piece; the reply if it ended first, else None.

    None means the stream was cut on purpose: the call has no usage, so callers estimate its cost.
    """

    def enough(delta: Delta) -> None:
        if delta.kind != "status":  # progress reports come before the first piece of the reply
            raise _Enough

    try:
        return engine.complete(messages, tools, on_delta=enough)
    except _Enough:
        return None
    except EngineError as exc:  # the client may wrap what the callback raised
        if isinstance(exc.__cause__, _Enough) or isinstance(exc.__context__, _Enough):
            return None
        raise
