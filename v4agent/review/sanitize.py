"""Model text made safe to post on GitHub: no mentions, no remote images, no raw HTML, no forged markers.

The model's words are written by a model that read a hostile pull request, so they are posted as text that
cannot act: nobody is notified, nothing is fetched, no HTML runs, and nothing looks like the bot's own hidden
markers. Rather than parse Markdown (and risk disagreeing with GitHub about where code starts and ends), each
rule breaks a construct at its very first character with an invisible U+200B ZERO WIDTH SPACE, which is
harmless inside code spans and code blocks too:

- ``@name`` / ``@org/team`` -> ``@<ZWSP>name``: GitHub notifies on ``@`` plus a login or team, also when a
  comment is edited to add one (docs.github.com/en/get-started/writing-on-github/getting-started-with-writing-
  and-formatting-on-github/basic-writing-and-formatting-syntax#mentioning-people-and-teams); Dependabot puts the
  same zero-width space after the ``@`` of every mention it quotes (dependabot/dependabot-core,
  common/lib/dependabot/pull_request_creator/message_builder/link_and_mention_sanitizer.rb).
- ``![alt](url)`` -> ``!<ZWSP>[alt](url)``: an image needs ``!`` right before ``[`` (github.github.com/gfm/
  #images); what is left is an ordinary link, which nothing fetches.
- ``<tag``, ``</tag``, ``<!--``, ``<?``, ``<scheme:`` -> ``<<ZWSP>...``: raw HTML and autolinks need a
  letter, ``/``, ``!`` or ``?`` right after ``<`` (github.github.com/gfm/#raw-html, #html-blocks, #autolinks).
- A fence opening a ``suggestion`` block in the model's prose gets the space before ``suggestion``: only the bot decides
  what a suggestion is (docs.github.com/en/pull-requests/collaborating-with-pull-requests/reviewing-changes-in-
  pull-requests/commenting-on-a-pull-request, "suggested changes").

The bot's markers (``<!-- v4agent-review... -->``) are removed outright. A suggestion is the only model text
posted verbatim: it is code that GitHub applies as is, where an invisible character would be a bug (think of
a decorator's ``@``). It sits in a fence ``render.py`` makes longer than any backtick run inside it, so it
cannot close the block early (a closing fence is at least as long as the opening one: github.github.com/gfm/
#fenced-code-blocks). Mentions inside it are left as code, as Dependabot's sanitizer (above) leaves code
nodes untouched and rewrites text nodes only. A suggestion carrying a marker is dropped instead.
"""

from __future__ import annotations

import re

ZWSP = "\u200b"

# The bot's own hidden markers, written or half-written, in any case.
_MARKER_RE = re.compile(r"<!--\s*v4agent-review.*?(?:-->|\Z)", re.IGNORECASE | re.DOTALL)
# ``@`` spelled as a character reference still renders as ``@`` in the text GitHub scans for mentions.
_AT_ENTITY_RE = re.compile(r"&(?:#0*64|#[xX]0*40|commat);")
# A login or team starts with a letter or digit; a preceding letter or digit makes it an e-mail address.
_MENTION_RE = re.compile(r"(?<![A-Za-z0-9])@(?=[A-Za-z0-9])")
_IMAGE_RE = re.compile(r"!(?=\[)")
_HTML_RE = re.compile(r"<(?=[A-Za-z/!?])")
_SUGGESTION_FENCE_RE = re.compile(r"(`{3,}|~{3,})([ \t]*)(?=suggestion)", re.IGNORECASE)
# C0 controls other than tab and newline, DEL and C1 controls: nothing a review needs, some terminals obey.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FENCE_OPEN_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def strip_markers(text: str) -> str:
    """``text`` without anything that looks like one of the bot's hidden markers."""
    return _MARKER_RE.sub("", text)


def has_marker(text: str) -> bool:
    """True when ``text`` carries something that looks like one of the bot's hidden markers."""
    return _MARKER_RE.search(text) is not None


def _normalise_lines(text: str) -> str:
    # CommonMark ends a line at \n, \r\n or \r: make them all \n so line rules see what GitHub sees.
    return _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def neutralise(text: str) -> str:
    """The rules above, applied everywhere in ``text`` (prose and code alike)."""
    text = strip_markers(_normalise_lines(text))
    text = _AT_ENTITY_RE.sub("@", text)
    text = _MENTION_RE.sub("@" + ZWSP, text)
    text = _IMAGE_RE.sub("!" + ZWSP, text)
    text = _HTML_RE.sub("<" + ZWSP, text)
    return _SUGGESTION_FENCE_RE.sub(lambda m: m.group(1) + m.group(2) + ZWSP, text)


def _open_fence(text: str) -> str | None:
    """The fence a top-level code block left open at the end of ``text``, or None (gfm #fenced-code-blocks)."""
    fence: str | None = None
    for line in text.split("\n"):
        m = _FENCE_OPEN_RE.match(line)
        if m is None:
            continue
        run, rest = m.group(1), m.group(2)
        if fence is None:
            if not (run[0] == "`" and "`" in rest):  # a backtick fence's info string has no backtick
                fence = run
        elif run[0] == fence[0] and len(run) >= len(fence) and not rest.strip():
            fence = None
    return fence


def clean_prose(text: str) -> str:
    """Model prose (a body, the summary) ready to post: neutralised, a code block it left open closed.

    Closing the block is a courtesy: the bot's own lines that follow stay readable either way, and nothing
    the bot writes after model prose depends on being outside a code block.
    """
    text = neutralise(text)
    fence = _open_fence(text)
    return f"{text}\n{fence}" if fence else text


def clean_line(text: str) -> str:
    """Model text shown on one line (a title, a path): neutralised, whitespace runs made single spaces."""
    return " ".join(neutralise(text).split())


def clean_suggestion(text: str | None) -> str | None:
    """The suggestion to post verbatim, or None when it carries a marker (it would forge one inside code)."""
    if text is None or has_marker(text):
        return None
    return text
