"""What the stand-in's model generates for a scripted reply: the tokens, the finish reason, a cut at max_tokens.

Finish reasons (https://api-docs.deepseek.com/api/create-chat-completion): ``stop``, ``length`` (the output
reached ``max_tokens``), ``tool_calls``, ``content_filter``, ``insufficient_system_resource`` ("the request is
interrupted due to insufficient resource of the inference system"). A script may set any of them on a reply;
left unset, the reply stops on its own (``tool_calls`` or ``stop``), or ends at ``length`` when its tokens run
past the request's ``max_tokens``, which counts reasoning and answer together. Only a reply that stopped on
its own ends in EOS; a cut one is stored as far as it got.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from v4agent.testing.v4render import EOS, THINK_END, PieceTokens, tool_calls_text
from v4agent.testing.wire import ScriptedReply, reply_message

DEEPSEEK_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter",
                                     "insufficient_system_resource"})


@dataclass(frozen=True)
class Served:
    """A scripted reply as served: the (possibly cut) reply, its finish reason and generated tokens."""

    reply: ScriptedReply
    finish_reason: str
    output: bytes  # int32-packed tokens the model generated, in order
    reasoning_tokens: int
    message: dict[str, Any]  # the assistant message sent, as a client should send it back


def _cut_text(text: str, budget: int, tokens: PieceTokens) -> str:
    """The longest prefix of ``text`` that fits in ``budget`` tokens (by bisection over characters)."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if tokens.count(text[:mid]) <= budget:
            low = mid
        else:
            high = mid - 1
    return text[:low]


def _fit(reply: ScriptedReply, thinking: bool, max_tokens: int,
         tokens: PieceTokens) -> tuple[ScriptedReply, bool] | None:
    """``reply`` cut to ``max_tokens`` generated tokens and whether its reasoning was closed, or None when it
    fits whole."""
    left = max_tokens
    reasoning = reply.reasoning
    if thinking:
        used = tokens.count(reasoning)
        if used >= left:  # the reasoning alone fills the output: no </think>, no answer
            return ScriptedReply(reasoning=_cut_text(reasoning, left, tokens), finish_reason="length"), False
        left -= used + 1  # and </think>
    used = tokens.count(reply.content)
    if used > left:
        return ScriptedReply(content=_cut_text(reply.content, left, tokens), reasoning=reasoning,
                             finish_reason="length"), True
    left -= used
    calls = tokens.count(tool_calls_text([{"function": {"name": c.name, "arguments": c.arguments}}
                                          for c in reply.tool_calls]))
    if calls + 1 > left:  # the calls and EOS: a call cut half-way is not sent as a call
        return ScriptedReply(content=reply.content, reasoning=reasoning, finish_reason="length"), True
    return None


def serve(reply: ScriptedReply, ids: Sequence[str], *, thinking: bool, max_tokens: int | None,
          tokens: PieceTokens) -> Served:
    """The generated side of one call: cut ``reply`` at ``max_tokens`` if needed, and its output tokens."""
    closed = True
    if reply.finish_reason is None and max_tokens is not None:
        fitted = _fit(reply, thinking, max_tokens, tokens)
        if fitted is not None:
            reply, closed = fitted
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    message = reply_message(reply, ids, thinking=thinking)
    pieces: list[str] = []
    if thinking:
        pieces.append(reply.reasoning)
        if closed:
            pieces.append(THINK_END)
    pieces += [reply.content, tool_calls_text(message.get("tool_calls"))]
    if finish in ("stop", "tool_calls"):
        pieces.append(EOS)
    return Served(reply, finish, tokens.pack(pieces), tokens.count(reply.reasoning), message)
