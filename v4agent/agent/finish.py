"""What the agent does with a reply that did not finish: cut at the output limit, or stopped by the filter.

A reply cut at ``max_tokens`` (finish reason ``length``) may end inside a tool call's JSON arguments, so its
tool calls are never run. The agent asks the model to continue instead of retrying the call with more room:
the conversation stays append-only, so the next request hits the whole previous one in the provider's cache,
and ``max_tokens`` stays what it was (it may be part of the cache key, and a longer limit would only let the
same oversized call through at the price of regenerating all of it). The request tells the model that its
tool calls were not run and to make them smaller. After ``MAX_CUTS`` cut replies in a row the run stops.

A reply stopped by the service's content filter (``content_filter``) ends the run: nothing in it is acted on.
Finish reasons: https://api-docs.deepseek.com/api/create-chat-completion.
"""

from __future__ import annotations

from dataclasses import dataclass

from v4agent.engine.types import ChatReply, Message

MAX_CUTS = 3  # cut replies in a row before the run stops


@dataclass(frozen=True)
class CutReply:
    """A cut reply turned into what the conversation gets instead: the reply without its tool calls, and a
    request to continue; ``notice`` says it to the user."""

    assistant: Message
    request: Message
    notice: str


def continue_after_cut(reply: ChatReply, max_tokens: int) -> CutReply:
    """The messages that replace a reply cut at the output limit (its tool calls dropped, never run)."""
    assistant = reply.as_message()
    dropped = [call.name or "?" for call in reply.tool_calls]
    assistant.pop("tool_calls", None)
    if dropped:
        what = f"its tool call(s) {', '.join(dropped)} were cut and not run"
        ask = ("Your last reply was cut off at the output limit of {n} tokens, so its tool calls were not run. "
               "Make them again, smaller: split a large edit or file into several calls.")
    else:
        what = "its text is incomplete"
        ask = "Your last reply was cut off at the output limit of {n} tokens. Continue exactly where it stopped."
    return CutReply(
        assistant=assistant,
        request={"role": "user", "content": ask.format(n=max_tokens)},
        notice=f"the reply was cut at the output limit (max_tokens {max_tokens}): {what}; asked the model to "
               "continue",
    )


def too_many_cuts(count: int, max_tokens: int) -> str:
    """The reason a run stops after ``count`` cut replies in a row."""
    return (f"stopped: {count} replies in a row were cut at the output limit (max_tokens {max_tokens}); raise "
            "max_tokens, or ask for smaller steps")


def filtered_reason(reply: ChatReply) -> str:
    """The reason a run stops on a reply the content filter stopped."""
    calls = f"; its {len(reply.tool_calls)} tool call(s) were not run" if reply.tool_calls else ""
    return f"the service's content filter stopped the reply (finish reason 'content_filter'){calls}"
