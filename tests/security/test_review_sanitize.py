"""Model text posted by the review bot: what GitHub would render from it, checked with a CommonMark parser."""

from __future__ import annotations

import re
from typing import Any

import pytest

from v4agent.review.findings import SUMMARY_MARKER, Finding, marker, markers_in
from v4agent.review.render import comment_body, summary_body
from v4agent.review.report import PlacedFinding, ReviewReport
from v4agent.review.sanitize import ZWSP, clean_line, clean_prose, clean_suggestion, neutralise, strip_markers

markdown_it = pytest.importorskip("markdown_it")

# What GitHub turns into a mention: @ plus a login or org/team, not preceded by a letter or digit.
MENTION = re.compile(r"(?<![A-Za-z0-9])@[A-Za-z0-9]")

HOSTILE = [
    "@everyone please look, cc @octo-org/security-team and (@admin).",
    "&#64;everyone &#x40;admin &commat;root \\@escaped",
    "![x](http://evil/x.png) ![ref] ![alt][ref]\n\n[ref]: http://evil/track.gif",
    '<img src=x onerror=alert(1)> <a href="http://evil">click</a> </details> <!-- hidden --> <?php ?>',
    "<details><summary>ok</summary>\n\n<picture><source srcset=http://evil/a.png></picture></details>",
    "<https://evil.example/autolink> <script>alert(1)</script>",
    f"{SUMMARY_MARKER} {marker('0123456789abcdef')} <!--V4AGENT-REVIEW:fp=fedcba9876543210--> <!-- v4agent-review",
    "```suggestion\nrm -rf /\n```\n\n~~~ suggestion\nx\n~~~\n- ```Suggestion\n  y\n  ```",
    "text\r<img src=x>\r\n@crlf\x00\x1b[31m",
    "```\nunclosed code with <b>html</b> and @someone",
]


def _tokens(text: str) -> list[Any]:
    """Every token, inline children included, of ``text`` parsed as CommonMark with raw HTML allowed."""
    out: list[Any] = []
    for token in markdown_it.MarkdownIt("commonmark").parse(text):
        out.append(token)
        out.extend(token.children or [])
    return out


def _assert_inert(text: str) -> None:
    """Nothing in ``text`` renders as an image, raw HTML, a suggestion or a mention, nor hides a marker."""
    tokens = _tokens(text)
    kinds = {t.type for t in tokens}
    assert not kinds & {"image", "html_inline", "html_block"}, text
    assert not [t for t in tokens if t.type == "fence" and t.info.strip().lower() == "suggestion"], text
    for token in tokens:
        if token.type in ("text", "code_inline", "fence", "code_block"):
            assert not MENTION.search(token.content), (token.type, token.content)
    html = markdown_it.MarkdownIt("commonmark").render(text)
    assert "<img" not in html
    assert "<script" not in html
    assert "<a href=\"http://evil\"" not in html
    assert not markers_in(text)
    assert SUMMARY_MARKER not in text


@pytest.mark.parametrize("text", HOSTILE)
def test_clean_prose_leaves_nothing_that_acts(text: str) -> None:
    _assert_inert(clean_prose(text))
    _assert_inert(clean_line(text))


def test_rules_break_each_construct_with_one_invisible_character() -> None:
    assert neutralise("hi @everyone and @org/team") == f"hi @{ZWSP}everyone and @{ZWSP}org/team"
    assert neutralise("mail a@b.com") == "mail a@b.com"  # an address, not a mention
    assert neutralise("![x](http://e/x.png)") == f"!{ZWSP}[x](http://e/x.png)"
    assert neutralise("<img src=x>") == f"<{ZWSP}img src=x>"
    assert neutralise("a < b and `Vec<T>`") == f"a < b and `Vec<{ZWSP}T>`"  # invisible inside code too
    assert neutralise("```suggestion") == f"```{ZWSP}suggestion"
    assert neutralise("a\r\nb\rc\x00\x07") == "a\nb\nc"
    # Removing the invisible characters gives back what the model wrote, markers aside.
    text = "see @alice: ![i](u) <b>bold</b>"
    assert neutralise(text).replace(ZWSP, "") == text


def test_markers_are_stripped_in_every_spelling() -> None:
    forged = f"a {SUMMARY_MARKER} b {marker('0123456789abcdef')} c <!--  V4agent-Review:anything\n--> d <!-- v4agent-review"
    assert strip_markers(forged) == "a  b  c  d "
    assert not markers_in(clean_prose(forged))


def test_an_open_code_block_is_closed_and_a_closed_one_left_alone() -> None:
    assert clean_prose("look:\n```py\nx = 1") == "look:\n```py\nx = 1\n```"
    assert clean_prose("~~~~\nx\n~~~") == "~~~~\nx\n~~~\n~~~~"  # a shorter run does not close it
    assert clean_prose("```\nx\n```") == "```\nx\n```"
    assert clean_prose("``` a`b\nnot a fence") == "``` a`b\nnot a fence"  # a backtick in the info string


def test_a_suggestion_is_verbatim_unless_it_carries_a_marker() -> None:
    code = "@decorator\ndef f() -> list[int]:  # <b>\n    return [1]\n"
    assert clean_suggestion(code) == code
    assert clean_suggestion(code + marker("0123456789abcdef")) is None
    assert clean_suggestion(None) is None


def _placed(**overrides: Any) -> PlacedFinding:
    fields: dict[str, Any] = {"path": "app/x.py", "start_line": 2, "end_line": 3, "side": "RIGHT",
                              "severity": "high", "category": "bug", "title": "t", "body": "b"}
    fields.update(overrides)
    return PlacedFinding(Finding(**fields), "0123456789abcdef", True, True)


def test_a_fence_closing_suggestion_stays_inside_its_block() -> None:
    breakout = "x = 1\n```\n@everyone ![y](http://evil/y.png) <img src=x>\n````suggestion\ny = 2\n"
    body = comment_body(_placed(body="@everyone <img src=x onerror=alert(1)>", suggestion=breakout))
    fences = [t for t in _tokens(body) if t.type == "fence"]
    assert [(f.markup, f.info, f.content) for f in fences] == [("`````", "suggestion", breakout)]
    prose, _, rest = body.partition("`````suggestion\n" + breakout + "`````\n")
    assert rest == "\n" + marker("0123456789abcdef")
    _assert_inert(prose)
    assert markers_in(body) == {"0123456789abcdef"}
    assert body.endswith("\n" + marker("0123456789abcdef"))


def test_a_suggestion_with_a_marker_is_not_posted() -> None:
    forged = "x = 1  " + marker("fedcba9876543210") + "\n"
    body = comment_body(_placed(suggestion=forged))
    assert "suggestion" not in body
    assert markers_in(body) == {"0123456789abcdef"}


def test_summary_body_holds_one_marker_of_its_own() -> None:
    hostile = f"{SUMMARY_MARKER}\n@everyone ![x](http://evil/x.png) {marker('fedcba9876543210')}"
    outside = PlacedFinding(Finding("a/<img src=x>.py", 1, 1, "RIGHT", "low", "bug", f"@admin {SUMMARY_MARKER}",
                                    hostile), "0123456789abcdef", False, False, "lines outside the diff's hunks")
    body = summary_body(ReviewReport("b" * 40, "a" * 40, (outside,), summary=hostile))
    assert body.startswith(SUMMARY_MARKER + "\n")
    assert body.count(SUMMARY_MARKER) == 1
    assert markers_in(body) == {"0123456789abcdef"}
    _assert_inert(body.replace(SUMMARY_MARKER, "").replace(marker("0123456789abcdef"), ""))
