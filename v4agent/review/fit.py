"""Sizing the review request to the model's window: the pull request first, the pack gets what is left.

A review request is the stable block (system prompt, rules, tool schema), the packed repository, and the pull
request (diff, changed files at head, an incremental focus). Packing at the default budget (window less a
fixed reserve) and adding the pull request afterwards overflows the window on a large pull request, so the
pull request's part is counted first, exactly as V4's encoder renders the request (``agent/request``), and
the pack's budget is the window less that count, less the output the review call asks room for.

When the pull request alone does not fit, the changed files' full text is left out, largest first, each
named in the request's "Not included" line; the diff is never cut (the findings are anchored in it). When
even the diff does not fit, the review cannot be done and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from v4agent.engine.types import Message, ToolSchema
from v4agent.review.context import PullRequestContent, ReviewLayout, build_layout

# Room for the few tokens where the pack's own count and its count inside the message differ (token merges
# at its edges, the trailer); the pack's budget is a bound on its own count.
SLACK = 512
MIN_PACK = 4_096  # below this the repository is no context: leave head files out before going lower
LEFT_OUT = "left out so the request fits the model's window"

Counter = Callable[[Sequence[Message], Sequence[ToolSchema]], int]  # a request's prompt tokens
Adjust = Callable[[ReviewLayout], ReviewLayout]


class RequestTooLarge(Exception):
    """The pull request's diff alone does not fit the model's window."""


@dataclass(frozen=True)
class Fit:
    """The pull request as it will be sent, the pack's budget, and what was said about it."""

    pr: PullRequestContent
    pack_budget: int
    pr_tokens: int  # the request without the pack: stable block and pull request
    left_out: tuple[str, ...] = ()


def _without_pack(pr: PullRequestContent, rules_text: str, adjust: Adjust | None, count: Counter) -> int:
    layout = build_layout("", pr, rules_text)
    if adjust is not None:
        layout = adjust(layout)
    return count(layout.messages, layout.tools)


def fit_request(pr: PullRequestContent, rules_text: str, *, window: int, output: int, count: Counter,
                size: Callable[[str], int], adjust: Adjust | None = None) -> Fit:
    """The pack budget that makes the whole request fit ``window`` with ``output`` tokens of room to answer.

    ``count`` renders a request and counts it; ``size`` counts one file's text (to choose what to drop)."""
    whole = pr
    used = _without_pack(pr, rules_text, adjust, count)
    left_out: list[str] = []
    files = dict(pr.head_files)
    # An added file's text is in the diff already (it is only named at head): dropping it saves nothing.
    candidates = sorted((p for p in files if p not in pr.added), key=lambda p: (-len(files[p]), p))
    while window - used - output - SLACK < MIN_PACK and candidates:
        deficit = used + output + SLACK + MIN_PACK - window
        while candidates and deficit > 0:  # the largest files' full text first
            path = candidates.pop(0)
            deficit -= size(files.pop(path))
            left_out.append(path)
        pr = replace(whole, head_files=dict(files),
                     omitted=(*whole.omitted, *(f"{p} ({LEFT_OUT})" for p in left_out)))
        used = _without_pack(pr, rules_text, adjust, count)
    budget = window - used - output - SLACK
    if budget < MIN_PACK:
        raise RequestTooLarge(f"the pull request's diff alone is too large for the model's {window:,}-token window: "
                              f"the request without the repository is {used:,} tokens, and the review needs "
                              f"{output:,} for its answer and at least {MIN_PACK:,} for the repository")
    return Fit(pr, budget, used, tuple(left_out))


def encoder_counter(engine: Any) -> tuple[Counter, Callable[[str], int]]:
    """Counters that render requests as V4's encoder does for ``engine`` (what DeepSeek bills)."""
    from v4agent.agent.request.template import render_request
    from v4agent.agent.setup import render_mode
    from v4agent.tokens.tokenizer import get_tokenizer

    tokenizer = get_tokenizer("deepseek-v4")
    thinking, effort = render_mode(engine)

    def count(messages: Sequence[Message], tools: Sequence[ToolSchema]) -> int:
        return render_request(list(messages), list(tools), tokenizer, thinking=thinking, effort=effort).prompt_tokens

    return count, tokenizer.count
