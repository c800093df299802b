"""The pure parts of best-of-N: the attempts' settings, the candidates, the judge's question and its answer."""

from __future__ import annotations

import pytest

from v4agent.core.errors import UsageError
from v4agent.refactor.attempts.manifest import AttemptResult, GroupRecord
from v4agent.refactor.attempts.plan import attempt_task, default_parallel, parse_strategies, plan_attempts
from v4agent.refactor.attempts.select import by_tests, candidates, judge_message, parse_verdict


def _attempt(number: int, *, status: str = "finished", tests: str = "pass", changed: bool = True,
             cost: float = 0.01) -> AttemptResult:
    return AttemptResult(number, None, "", f"s-{number}", status, tests=tests, cost_usd=cost,
                         changed_files=("a.py",) if changed else (), diff_file=f"{number}.diff")


def test_attempts_vary_their_temperature_and_cycle_the_hints() -> None:
    specs = plan_attempts(4, ["small", "rewrite"])
    assert [s.strategy for s in specs] == ["small", "rewrite", "small", "rewrite"]
    assert len({s.temperature for s in specs}) == 4
    assert specs[0].temperature is None  # the first keeps the engine's own setting
    assert parse_strategies(" a ; ;b;") == ["a", "b"]
    assert attempt_task("do it", specs[1]).startswith("do it\n\n")  # the hint comes after the task
    assert attempt_task("do it", plan_attempts(1, [])[0]) == "do it"
    assert default_parallel(8, 3) == 3
    assert default_parallel(2, 8) == 2


def test_max_cost_is_shared_by_the_attempts_of_a_run() -> None:
    assert {s.group_size for s in plan_attempts(3, [])} == {3}  # each attempt may spend a third of --max-cost
    assert plan_attempts(1, [])[0].group_size == 1


@pytest.mark.parametrize("count", [0, -1, 17])
def test_attempt_counts_out_of_range_are_usage_errors(count: int) -> None:
    with pytest.raises(UsageError):
        plan_attempts(count, [])


def test_candidates_are_finished_changes_with_passing_tests() -> None:
    pool = candidates([_attempt(1, tests="fail"), _attempt(2), _attempt(3, status="limit"),
                       _attempt(4, changed=False), _attempt(5, cost=0.005)])
    assert [a.number for a in pool] == [2, 5]
    assert by_tests(pool)[0] == 5  # the cheaper of the passing ones
    # Without any test command, a finished change is a candidate; a failing one never is.
    assert [a.number for a in candidates([_attempt(1, tests="none"), _attempt(2, tests="fail")])] == [1]
    assert candidates([_attempt(1, tests="fail")]) == []
    assert by_tests([])[0] == 0


def test_the_judge_must_name_a_candidate() -> None:
    allowed = [2, 3]
    assert parse_verdict('{"choice": 3, "reason": "smaller"}', allowed).choice == 3
    assert parse_verdict('Thinking... {"choice": 2, "reason": "x"} then {"choice": 3, "reason": "y"}',
                         allowed).reason == "y"
    assert parse_verdict('{"choice": 1, "reason": "failing one"}', allowed).choice == 0  # not a candidate
    assert parse_verdict('{"choice": "two"}', allowed).choice == 0
    assert parse_verdict("attempt 2 is best", allowed).choice == 0
    assert parse_verdict("", allowed).choice == 0
    long = parse_verdict('{"choice": 2, "reason": "' + "z" * 5000 + '"}', allowed)
    assert len(long.reason) == 500


def test_the_judges_question_bounds_each_diff() -> None:
    text = judge_message("rename", [_attempt(2), _attempt(3)], {2: "+a\n" * 40_000, 3: "+b\n"})
    assert "=== attempt 2 ===" in text
    assert "=== attempt 3 ===" in text
    assert "more characters" in text
    assert len(text) < 70_000


def test_the_total_sits_beside_one_attempt() -> None:
    record = GroupRecord("g", "t", "tree", "commit", prime_cost_usd=0.2,
                         attempts=(_attempt(1, cost=0.01), _attempt(2, cost=0.01)))
    assert record.one_attempt_usd() == pytest.approx(0.21)
    assert record.total_usd == pytest.approx(0.22)
    assert record.to_json()["attempts"][0]["hit_ratio"] is None
