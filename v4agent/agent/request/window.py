"""One session's context window (pure): count the request about to be sent and say what keeps it inside.

The loop asks a ``Window`` (built from its limits before each use) three things: how big a tool result may be
as it enters the conversation (``fit_result``: ``budget.result_cap``, clipped in the middle), whether the next
turn must compact first (``compaction_reason``: the counted request against ``budget``'s limits), and the summary
request a compaction sends (``summary_request``: stubbed oldest first when it would not fit). Counts are our
rendering of the request scaled by what the provider billed for the last one, since its template is not
exactly ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from v4agent.agent.request.budget import FitResult, clip_middle, fit_request, result_cap
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.request.layout import (
    COMPACTION_REQUEST,
    FIRST_TURN_INDEX,
    Message,
    ToolSchema,
    plan_compaction,
)
from v4agent.core.errors import V4AgentError

__all__ = ["UNSUMMARIZED", "ContextFull", "Window", "provider_scale"]

UNSUMMARIZED = ("(The earlier turns could not be summarized: they no longer fit the context window. Check the "
                "current state with git_diff and read_file before going on.)")
_MAX_SCALE = 1.5


class ContextFull(V4AgentError):
    """The system prompt, pack and task alone leave no room for a reply: no request can be sent."""


def provider_scale(billed_prompt: int | None, local_tokens: int, previous: float) -> float:
    """The provider's prompt count over ours for one call (at least 1, at most 1.5); ``previous`` when unknown."""
    if not billed_prompt or not local_tokens:
        return previous
    return min(_MAX_SCALE, max(1.0, billed_prompt / local_tokens))


@dataclass(frozen=True)
class Window:
    """The window limits of one session, with the tracker that renders its requests (segments memoized)."""

    tracker: CacheTracker
    tools: Sequence[ToolSchema]
    window: int
    max_output: int
    margin: int
    min_gain: int
    scale: float = 1.0

    @property
    def compact_limit(self) -> int:
        """The largest request a turn sends before compacting: room kept for a reply and a turn's results."""
        return max(0, self.window - self.max_output - self.margin)

    @property
    def hard_limit(self) -> int:
        """The largest request that can be sent at all: it must leave room for a whole reply."""
        return self.window - self.max_output

    def count(self, messages: Sequence[Message]) -> int:
        """What ``messages`` will count as at the provider."""
        return round(self.tracker.render(messages, self.tools).prompt_tokens * self.scale)

    def fit_result(self, content: str, used: int, *, command: bool) -> tuple[str, int]:
        """A tool result as it may enter a context already holding ``used`` tokens, and its size in tokens."""
        cap, tokens = result_cap(self.compact_limit, used), self.tracker.tokenizer.count(content)
        if tokens <= cap:
            return content, tokens
        hint = "run it again with narrower output (a path, a pattern, | tail)" if command else \
            "use read_file with a range"
        fitted = clip_middle(content, cap, self.tracker.tokenizer, hint=hint)
        return fitted, self.tracker.tokenizer.count(fitted)

    def compaction_reason(self, messages: Sequence[Message]) -> str | None:
        """Why the conversation must be compacted before the next turn is sent, or None when it need not."""
        tokens = self.count(messages)
        plan = plan_compaction(tokens, window=self.window, max_output=self.max_output,
                               base_tokens=lambda: self.count(messages[:FIRST_TURN_INDEX]), margin=self.margin,
                               min_gain=self.min_gain)
        if plan.needed:
            return plan.reason
        if tokens > self.hard_limit and len(messages) > FIRST_TURN_INDEX:
            return f"{tokens} tokens leave no room for a reply"  # too little to gain, but it cannot be sent
        return None

    def ensure_sendable(self, messages: Sequence[Message]) -> None:
        """Raise ContextFull when even the request ``messages`` (already compacted) leaves no room for a reply."""
        tokens = self.count(messages)
        if tokens > self.hard_limit:
            raise ContextFull(
                f"the request holds {tokens} tokens: the system prompt, the pack and the task leave no room for "
                f"a {self.max_output}-token reply in the {self.window}-token window",
                hint="pack fewer tokens (--budget) or lower the output limit")

    def summary_request(self, messages: Sequence[Message]) -> FitResult:
        """The compaction's summary request: the conversation and the question, stubbed to fit when needed."""
        request = [*messages, {"role": "user", "content": COMPACTION_REQUEST}]
        return fit_request(request, self.tools, self.tracker.tokenizer, int(self.hard_limit / self.scale),
                           thinking=self.tracker.thinking, effort=self.tracker.effort)
