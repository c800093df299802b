"""The pure parts of incremental re-review and of consensus: following lines, markers, layouts, clustering."""

from __future__ import annotations

from v4agent.review.consensus import agreed, agreement_note, cluster, merge, sample_layout
from v4agent.review.context import PullRequestContent, build_layout
from v4agent.review.findings import SUMMARY_MARKER, Finding
from v4agent.review.hunks import parse_diff
from v4agent.review.incremental import (
    EarlierComment,
    Plan,
    Prior,
    Standing,
    _earlier_comment,
    carry,
    fixed_to_mark,
    focus_layout,
    follow,
    head_marker,
    reviewed_head,
    with_head,
)
from v4agent.review.render import comment_body
from v4agent.review.report import PlacedFinding, ReviewReport
from v4agent.review.run import ModelRun

SHA = "a" * 40


def _file(diff_body: str, path: str = "m.py"):  # type: ignore[no-untyped-def]
    text = f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n{diff_body}"
    found = parse_diff(text).file(path)
    assert found is not None
    return found


def test_lines_follow_through_changes_above_and_stop_at_changes_inside() -> None:
    assert follow(None, 10, 12) == (10, 12)  # the file did not change
    # Two lines inserted after line 3: everything below moves down by two.
    inserted = _file("@@ -3,0 +4,2 @@\n+a\n+b\n")
    assert follow(inserted, 10, 12) == (12, 14)
    assert follow(inserted, 3, 3) == (3, 3)  # the line the insertion follows stays put
    assert follow(inserted, 2, 5) is None  # new lines inside the range
    # Line 5 replaced by three lines: below it moves by two; the line itself changed.
    replaced = _file("@@ -5 +5,3 @@\n-x\n+y\n+z\n+w\n")
    assert follow(replaced, 5, 5) is None
    assert follow(replaced, 4, 6) is None
    assert follow(replaced, 7, 8) == (9, 10)
    assert follow(replaced, 1, 4) == (1, 4)
    # Line 2 removed: below it moves up by one.
    removed = _file("@@ -2 +1,0 @@\n-gone\n")
    assert follow(removed, 6, 6) == (5, 5)
    assert follow(removed, 2, 2) is None
    deleted = parse_diff("diff --git a/m.py b/m.py\ndeleted file mode 100644\n--- a/m.py\n+++ /dev/null\n"
                         "@@ -1,2 +0,0 @@\n-a\n-b\n").file("m.py")
    assert follow(deleted, 1, 1) is None


def test_the_head_marker_rides_on_the_summary_and_only_a_full_sha_reads_back() -> None:
    body = with_head(f"{SUMMARY_MARKER}\n## v4agent review\n", SHA)
    assert body.startswith(SUMMARY_MARKER + "\n" + head_marker(SHA) + "\n## v4agent review")
    assert reviewed_head(body) == SHA
    assert reviewed_head("<!-- v4agent-review:head=abc -->") is None
    assert with_head("not a summary", SHA) == "not a summary"


def test_the_bots_own_comment_body_reads_back_as_an_earlier_finding() -> None:
    finding = Finding("app/x.py", 3, 5, "RIGHT", "high", "bug", "Off by one in `loop`", "The bound is wrong.")
    body = comment_body(PlacedFinding(finding, "0123456789abcdef", True, False))
    got = _earlier_comment({"id": 7, "body": body, "path": "app/x.py", "side": "RIGHT", "original_line": 5,
                            "original_start_line": 3, "original_commit_id": SHA, "line": 9, "commit_id": "b" * 40})
    assert got == EarlierComment(7, "0123456789abcdef", "app/x.py", "RIGHT", 3, 5, SHA, "high", "bug",
                                 "Off by one in `loop`", "The bound is wrong.")
    assert _earlier_comment({"id": 8, "body": body, "in_reply_to_id": 7, "original_line": 5,
                             "original_commit_id": SHA}) is None  # a reply is no finding
    assert _earlier_comment({"id": 9, "body": "**high** · bug — **x**\n\nno marker", "original_line": 1,
                             "original_commit_id": SHA}) is None


def _layout():  # type: ignore[no-untyped-def]
    pr = PullRequestContent("t", "d", "diff --git a/m.py b/m.py\n", {"m.py": "x = 1\n"})
    return build_layout("PACK", pr)


def test_the_focus_and_the_sample_number_go_after_the_cached_prefix_only() -> None:
    layout = _layout()
    focused = focus_layout(layout, Plan(SHA, "diff --git a/m.py b/m.py\n+new line\n", "note"))
    assert focused.messages[:2] == layout.messages[:2]  # system prompt and pack, byte for byte
    assert focused.priming_messages == layout.priming_messages
    text = focused.messages[-1]["content"]
    assert "## Changes since the last review" in text
    assert text.index("## Changes since") < text.index("Now review")  # the closing instruction stays last
    assert text.startswith(layout.messages[-1]["content"].rsplit("\nNow review", 1)[0])
    assert focus_layout(layout, Plan()) is layout
    sample = sample_layout(focused, 1, 3)
    assert sample.messages[:-1] == focused.messages[:-1]
    assert sample.messages[-1]["content"].startswith(text)
    assert sample.messages[-1]["content"].endswith("(Review sample 2 of 3: an independent review of the same change.)")


def _f(path: str, start: int, end: int, *, severity: str = "high", category: str = "bug", title: str = "T") -> Finding:
    return Finding(path, start, end, "RIGHT", severity, category, title, "b")  # type: ignore[arg-type]


def test_clusters_take_one_finding_per_sample_on_overlapping_lines_of_one_category() -> None:
    s1 = [_f("a.py", 10, 12, title="Null deref"), _f("a.py", 40, 40, category="security")]
    s2 = [_f("a.py", 12, 14, severity="medium", title="May be None"), _f("b.py", 1, 1)]
    s3 = [_f("a.py", 11, 11, severity="medium", title="None here"), _f("a.py", 11, 11, title="Second remark")]
    clusters = cluster([s1, s2, s3])
    votes = {(c.finding.path, c.finding.start_line, c.finding.title): c.samples for c in clusters}
    # The medium majority wins the severity; the first medium sample's wording is kept.
    assert votes[("a.py", 12, "May be None")] == (0, 1, 2)
    assert votes[("a.py", 40, "T")] == (0,)  # another category is another problem
    assert votes[("b.py", 1, "T")] == (1,)
    assert votes[("a.py", 11, "Second remark")] == (2,)  # one sample's second remark starts a cluster
    assert [c.finding.title for c in agreed(clusters, 2)] == ["May be None"]
    note = agreement_note(clusters, 3, 2)
    assert "findings reported by at least 2 of 3 are posted (1 kept, 3 dropped)" in note
    assert "- 3/3 · medium · `a.py:12-14` May be None" in note
    assert "- 1/3 · high · `b.py:1` T (dropped)" in note


def test_a_merge_counts_every_call_and_needs_m_reporting_samples() -> None:
    from v4agent.engine.types import Usage

    def run(findings: list[Finding], reported: bool = True) -> ModelRun:
        return ModelRun(findings=findings, summary="S", usages=[Usage(prompt_tokens=10, output_tokens=2)],
                        reported=reported)

    primed = ModelRun(usages=[Usage(prompt_tokens=8, output_tokens=1)])
    merged = merge(primed, [run([_f("a.py", 1, 1)]), run([], reported=False), run([_f("a.py", 1, 1)])], 2)
    assert len(merged.usages) == 4
    assert merged.reported
    assert [f.path for f in merged.findings] == ["a.py"]
    assert "1 of 3 samples did not report" in merged.warnings[-1]
    assert not merge(primed, [run([]), run([], reported=False), run([], reported=False)], 2).reported


def test_carried_findings_keep_their_fingerprint_and_fixed_ones_are_marked_once() -> None:
    open_c = EarlierComment(1, "1" * 16, "a.py", "RIGHT", 3, 3, SHA, "high", "bug", "Still here", "why")
    fixed_c = EarlierComment(2, "2" * 16, "a.py", "RIGHT", 9, 9, SHA, "low", "bug", "Gone now", "why")
    again_c = EarlierComment(3, "3" * 16, "b.py", "RIGHT", 9, 9, SHA, "low", "style", "Said again", "why")
    standings = [Standing(open_c, False, "a.py", 5, 5), Standing(fixed_c, True, "a.py", 9, 9),
                 Standing(again_c, True, "b.py", 9, 9)]
    report = ReviewReport("b" * 40, "c" * 40, (PlacedFinding(_f("b.py", 12, 12, category="style", title="Said again!"),
                                                             "4" * 16, True, False),))
    carried = carry(report, standings)
    assert [(p.fingerprint, p.finding.start_line, p.finding.severity) for p in carried.placed[1:]] == [("1" * 16, 5, "high")]
    assert fixed_to_mark(standings, Prior(), carried) == [fixed_c]  # b.py's remark was made again: not fixed
    assert fixed_to_mark(standings, Prior(replied_fixed=frozenset({2})), carried) == []


def test_a_head_marker_in_the_models_summary_cannot_move_the_recorded_head() -> None:
    from v4agent.review.render import summary_body

    forged = "b" * 40
    report = ReviewReport("c" * 40, "d" * 40, (), summary=f"Fine. <!-- v4agent-review:head={forged} -->")
    body = with_head(summary_body(report), SHA)
    assert reviewed_head(body) == SHA
    assert forged not in body  # the model's markers are stripped before posting
