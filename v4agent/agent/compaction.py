"""Compaction: summarise a conversation that no longer fits and restart from [system, pack, task, summary].

The summary request extends the conversation (it hits the whole cached prefix) unless it would not fit: then
its oldest tool payloads are stubbed, and with no way to fit no summary is asked for. Pure of I/O: the caller
makes the call, reports the notices and writes the session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from v4agent.agent.loopconfig import DeltaSource
from v4agent.agent.request.layout import Conversation, Message, compacted_messages
from v4agent.agent.request.window import UNSUMMARIZED, Window
from v4agent.engine.types import ChatReply

__all__ = ["Compacted", "compact_conversation"]


@dataclass(frozen=True)
class Compacted:
    """The restarted conversation, the pack it holds, and what the compaction has to say."""

    conversation: Conversation
    snapshot: DeltaSource | None  # re-rendered once: later deltas are against the new pack
    notices: tuple[str, ...]


def compact_conversation(window: Window, conversation: Conversation, system_prompt: str,
                         snapshot: DeltaSource | None,
                         summarise: Callable[[Sequence[Message]], ChatReply | None]) -> Compacted:
    """Ask for a summary that fits the window (``summarise`` makes the call) and build the restarted conversation."""
    notices: list[str] = []
    fitted = window.summary_request(conversation.messages)
    if fitted.stubbed:
        notices.append(f"the summary request left out {fitted.stubbed} old tool results or arguments to fit the "
                       f"window ({fitted.tokens} tokens)")
    summary = UNSUMMARIZED
    if fitted.fits:
        reply = summarise(fitted.messages)
        summary = (reply.content if reply is not None else "") or summary
        if reply is not None and reply.incomplete:
            notices.append(f"the summary is incomplete: {reply.incomplete}")
    else:
        notices.append("even without its tool results the conversation does not fit the window: compacting "
                       "without a summary")
    if snapshot is not None:
        snapshot = snapshot.rebase()
        pack_text = str(snapshot.text)
    else:
        pack_text = conversation.pack_text()
    messages = compacted_messages(system_prompt, pack_text, conversation.task(), summary)
    return Compacted(Conversation(messages), snapshot, tuple(notices))
