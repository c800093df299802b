"""GitHub's size limit on a review or comment body, and text cut to fit it with the cut said in words.

GitHub refuses a longer body with 422 "Body is too long (maximum is 65536 characters)": the REST pages state
no limit; the wording is GitHub's as tools that post reviews and comments quote it (github.com/reviewdog/
reviewdog/issues/1065, github.com/orgs/community/discussions/27190), and every body the bot posts is held
under it: the review's summary, a line comment, a file comment. Which "characters" it counts (code
points, UTF-16 units) and whether it stores line breaks as CRLF is not documented, so a body is measured here
as its UTF-8 bytes plus one per line break: at least as large as any of those counts, whatever GitHub uses.
"""

from __future__ import annotations

BODY_LIMIT = 65_536
# Below the limit by a margin, so a body that fits here fits on GitHub with room for the bot's own lines.
BODY_BUDGET = BODY_LIMIT - 1_536


def body_size(text: str) -> int:
    """The body's size as this module measures it: UTF-8 bytes plus one per line break."""
    return len(text.encode("utf-8")) + text.count("\n")


def fits(text: str, budget: int = BODY_BUDGET) -> bool:
    """True when ``text`` is within ``budget`` as ``body_size`` measures it."""
    return body_size(text) <= budget


def clip(text: str, budget: int, tail: str = "\n\n… (cut: too long to post)") -> str:
    """``text`` itself when it fits ``budget``, else its longest prefix that fits with ``tail`` after it.

    The cut falls at a line break when there is one in the kept part's second half, so a cut never splits a
    Markdown line (or a marker) in two when it can help it.
    """
    if fits(text, budget):
        return text
    room = budget - body_size(tail)
    if room <= 0:
        return ""
    kept = text.encode("utf-8")[:room].decode("utf-8", "ignore")
    while kept and body_size(kept) > room:  # each line break costs one more than its byte
        kept = kept[: max(0, len(kept) - (body_size(kept) - room))]
    newline = kept.rfind("\n")
    if newline > len(kept) // 2:
        kept = kept[:newline]
    return kept + tail
