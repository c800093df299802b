"""Cache diagnostics (pure): the hit each call should get beside the hit the provider billed.

Before a call the request is rendered to V4 tokens (``template``, by the published V4 encoder) and looked up in
a mirror of the provider's cache units (``cacheunits.UnitStore``): that is the expected hit. After the call the
billed hit is compared with it. The rendering counts what DeepSeek bills to the token; another engine's chat
template may not (vLLM serving another model), so the expected hit is scaled by the ratio of the billed prompt
size to the local one before comparing (1 against DeepSeek).

A cache break is reported when the request did not extend the previous one (a layout change: the first segment
that changed is named, e.g. "pack" or "turn 3 (tool)"), or when the provider billed less than expected by more
than a block (then either a segment changed, or, for an append-only request, the provider dropped a unit).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from v4agent.agent.request.cacheunits import PrefixHistory, UnitStore, pack_tokens
from v4agent.agent.request.layout import Message, ToolSchema, describe_message
from v4agent.agent.request.template import RenderedRequest, first_divergence, render_output, render_request
from v4agent.tokens.tokenizer import Tokenizer

BreakKind = Literal["layout", "changed", "provider"]
_MESSAGE_LABEL = re.compile(r"^message (\d+) ")


@dataclass(frozen=True)
class CacheBreak:
    """One cache break: where the request first differed, or a provider drop, and the tokens lost."""

    kind: BreakKind  # layout: we changed an earlier segment; changed/provider: billed fell short of expected
    segment: str  # "system prompt", "tools", "pack", "task", "turn N (role)"; "" for a provider drop
    offset: int  # token offset of the first difference (or of the expected hit's end for a provider drop)
    lost_tokens: int
    cause: str  # one line for logs and tables


@dataclass(frozen=True)
class CallDiag:
    """One call's cache diagnosis: expected, billed and best possible hit, and the breaks found."""

    input_tokens: int  # local rendering of the request: the whole prompt, as the provider bills it
    expected_hit: int  # in local tokens
    expected_billed: int  # expected, scaled to the provider's token count
    billed_hit: int | None
    theoretical_max: int  # longest common prefix with anything sent before (local tokens)
    breaks: tuple[CacheBreak, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The diagnosis as a JSON-ready dict (breaks as dicts), as stored in the session file."""
        return asdict(self)


def segment_name(label: str, messages: Sequence[Message]) -> str:
    """Turn a chatrender segment label into the name users know: system prompt, tools, pack, task, turn N."""
    if label == "system":
        return "system prompt"
    if label == "tools":
        return "tools"
    match = _MESSAGE_LABEL.match(label)
    if match:
        return describe_message(messages, int(match.group(1)))
    return label


def tolerance(prompt_tokens: int, block: int) -> int:
    """How far billed may fall below expected before it counts: a block, plus slack for template drift."""
    return block + math.ceil(prompt_tokens * 0.002)


def compare(
    prev: RenderedRequest | None,
    cur: RenderedRequest,
    messages: Sequence[Message],
    *,
    expected_hit: int,
    billed_hit: int | None,
    billed_prompt: int | None,
    theoretical_max: int,
    block: int = 64,
) -> CallDiag:
    """Diagnose one call from its rendering, the previous one's, and what the provider billed."""
    local = cur.prompt_tokens
    scale = (billed_prompt / local) if billed_prompt and local else 1.0
    expected_billed = min(round(expected_hit * scale), billed_prompt or round(expected_hit * scale))
    breaks: list[CacheBreak] = []
    divergence = first_divergence(prev, cur) if prev is not None else None
    if divergence is not None and prev is not None:
        label, offset = divergence
        name = segment_name(label, messages)
        lost = len(prev.tokens) - offset
        breaks.append(CacheBreak("layout", name, offset, lost,
                                 f"{name} changed at token {offset}: the request does not extend the previous one"))
    if billed_hit is not None and expected_billed - billed_hit > tolerance(billed_prompt or local, block):
        short = expected_billed - billed_hit
        if divergence is None:
            breaks.append(CacheBreak("provider", "", expected_hit, short,
                                     f"provider dropped a unit: expected {expected_billed} hit tokens, "
                                     f"billed {billed_hit} (request was append-only)"))
        else:
            label, offset = divergence
            name = segment_name(label, messages)
            breaks.append(CacheBreak("changed", name, offset, short,
                                     f"billed {billed_hit} of {expected_billed} expected hit tokens; "
                                     f"first change: {name} at token {offset}"))
    return CallDiag(local, expected_hit, expected_billed, billed_hit, theoretical_max, tuple(breaks))


class CacheTracker:
    """Mirrors the provider's cache units over one session's calls (no I/O; the tokenizer is passed in)."""

    def __init__(self, tokenizer: Tokenizer, *, interval: int | None = 4096, block: int = 64,
                 thinking: bool = True, effort: str | None = None) -> None:
        self.tokenizer = tokenizer
        self.block = block
        self.thinking = thinking  # the session's mode and effort: the encoder renders by them
        self.effort = effort
        self._units = UnitStore(interval)
        self._history = PrefixHistory()
        self._prev: RenderedRequest | None = None

    def render(self, messages: Sequence[Message], tools: Sequence[ToolSchema]) -> RenderedRequest:
        """The request rendered to tokens, with its segments labelled."""
        return render_request(messages, tools, self.tokenizer, thinking=self.thinking, effort=self.effort)

    def seed(self, messages: Sequence[Message], tools: Sequence[ToolSchema]) -> int:
        """Record a prefix stored by an earlier session (a primed pack); returns its token length."""
        rendered = self.render(messages, tools)
        self._units.store(_packed(rendered), b"")
        self._history.add(_packed(rendered))
        return len(rendered.tokens)

    # The stores take the rendering's int32 bytes: packing a 1M-token list again on every call is too slow.
    def expected(self, rendered: RenderedRequest) -> int:
        """The hit the mirrored cache units give ``rendered`` (local tokens)."""
        return self._units.lookup(_packed(rendered))

    def theoretical_max(self, rendered: RenderedRequest) -> int:
        """The longest prefix ``rendered`` shares with any earlier request: the most any cache could hit."""
        return self._history.longest_prefix(_packed(rendered))

    def record(
        self,
        rendered: RenderedRequest,
        messages: Sequence[Message],
        reply_message: Message | None,
        *,
        billed_hit: int | None,
        billed_prompt: int | None,
    ) -> CallDiag:
        """Diagnose a served call and add what it stored to the mirror. ``reply_message`` None: no output
        reached us (a cancelled stream), so only the input unit is stored."""
        diag = compare(
            self._prev, rendered, messages,
            expected_hit=self.expected(rendered), billed_hit=billed_hit, billed_prompt=billed_prompt,
            theoretical_max=self.theoretical_max(rendered), block=self.block,
        )
        # The output follows the generation marker that ended the input: both extend the stored sequence.
        output = b"" if reply_message is None else pack_tokens(
            [*rendered.suffix, *render_output(reply_message, self.tokenizer, thinking=self.thinking)])
        self._units.store(_packed(rendered), output)
        self._history.add(_packed(rendered), output)
        self._prev = rendered
        return diag


def _packed(rendered: RenderedRequest) -> bytes:
    return rendered.packed or pack_tokens(rendered.tokens)
