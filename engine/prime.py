"""Priming: store a prefix (system, tools, packed repository) as its own cache unit, for later requests.

Under V4's unit rules a request hits only units it fully matches, and units are stored at the end of each
request's input, so a request that ends exactly at the pack makes the pack hittable by every later session or
pull request of the same repository state. Whether ``max_tokens`` or ``stream`` are part of the provider's
cache identity, and whether a stream dropped at its first piece still stores its input, is not documented: it
is measured per endpoint by ``v4agent engine check`` (``engine.probe``) and stored (``engine.probe_state``).
The priming request is then the cheapest one the measurement showed to work:

- "cancel" (also when nothing was measured): the session's own settings, the stream dropped at its first
  piece, so only a token or two of output is generated;
- "short": a one-token request (``max_tokens`` is not part of the identity, but a dropped stream stores
  nothing);
- "full": the session's own settings, read to the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from v4agent.engine.probe_state import PrimingRecord, load_priming
from v4agent.engine.types import ChatReply, Delta, Engine, EngineError, Message, ToolSchema


class _Enough(Exception):
    """Raised from the delta callback to end the priming stream after its first piece."""


def priming_method(engine: Engine, environ: Mapping[str, str] | None = None) -> tuple[str, PrimingRecord | None]:
    """The priming method for ``engine``'s endpoint and model, and the measurement it comes from (if any)."""
    base_url = str(getattr(engine, "base_url", ""))
    record = load_priming(base_url, engine.settings.model, environ) if base_url else None
    method = record.method if record is not None and record.method in ("short", "full") else "cancel"
    return method, record


def prime_prefix(engine: Engine, messages: Sequence[Message], tools: Sequence[ToolSchema], *,
                 environ: Mapping[str, str] | None = None) -> ChatReply | None:
    """Send the priming request the endpoint's measured method calls for; the reply if it ended, else None.

    None means the stream was cut on purpose: the call has no usage, so callers estimate its cost.
    """
    method, _ = priming_method(engine, environ)
    if method == "short":
        return engine.complete(messages, tools, max_tokens=1)
    if method == "full":
        return engine.complete(messages, tools)

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
