"""`--when off-peak` and `v4agent queue`: quotes from the dated price table, held jobs durable across processes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import make_git_repo, run_cli
from v4agent.accounting import load_price_table
from v4agent.cli.commands.offpeak import NoOffPeak, held_argv, quote_off_peak
from v4agent.core.jobqueue import JobQueue, QueueError
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

FILES = {"app.py": "def main():\n    return 1\n", "README.md": "# app\n"}
# Peak 01:00-04:00 and 06:00-10:00 UTC, weekends off-peak (v4agent/data/prices.toml, from 2026-08-23).
MONDAY_PEAK = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)


def test_quote_is_at_both_prices_and_starts_at_the_next_window() -> None:
    table = load_price_table()
    quote = quote_off_peak(table, engine="deepseek", model="deepseek-flash", prompt_tokens=1_000_000,
                           now=MONDAY_PEAK)
    assert quote.start == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert quote.peak_usd == pytest.approx(0.30)  # 1M misses at the peak rate of the entry in force
    assert quote.offpeak_usd == pytest.approx(0.15)
    assert quote.peak_entry == quote.offpeak_entry == "deepseek-2026-09-14-pro-routed-to-flash"
    saturday = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)
    assert quote_off_peak(table, engine="deepseek", model="deepseek-v4-pro", prompt_tokens=10,
                          now=saturday).start == saturday  # off-peak already: due now


def test_no_off_peak_window_is_refused() -> None:
    table = load_price_table()
    with pytest.raises(NoOffPeak, match="no off-peak window for deepseek-v4-pro"):
        quote_off_peak(table, engine="deepseek", model="deepseek-v4-pro", prompt_tokens=10,
                       now=datetime(2026, 5, 1, 8, 0, tzinfo=UTC))  # the launch prices: one rate all day
    with pytest.raises(NoOffPeak):
        quote_off_peak(table, engine="deepseek", model="no-such-model", prompt_tokens=10, now=MONDAY_PEAK)
    with pytest.raises(NoOffPeak):
        quote_off_peak(table, engine="vllm", model="deepseek-v4-flash", prompt_tokens=10, now=MONDAY_PEAK)


def test_held_argv_drops_only_the_when_option() -> None:
    assert held_argv(["refactor", ".", "do it", "--when", "off-peak", "--yes"]) == ["refactor", ".", "do it", "--yes"]
    assert held_argv(["review", "--when=off-peak", "--base", "main"]) == ["review", "--base", "main"]


def test_a_job_is_claimed_once(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q")
    job = queue.add(command="refactor", argv=["refactor", "."], cwd=tmp_path, repo=tmp_path,
                    not_before=MONDAY_PEAK, quote={})
    assert [j.id for j in queue.due(MONDAY_PEAK)] == [job.id]
    assert queue.due(datetime(2026, 12, 7, 8, 0, tzinfo=UTC)) == []
    assert queue.claim(job)
    assert not queue.claim(job)  # a second runner finds it gone
    with pytest.raises(QueueError, match="running"):
        queue.cancel(job.id)
    done = queue.finish(job, 0)
    assert [(j.state, j.exit_code) for j in JobQueue(tmp_path / "q").jobs()] == [("done", 0)]
    assert done.finished
    (tmp_path / "q" / "junk.json").write_text("{not json")
    assert len(JobQueue(tmp_path / "q").jobs()) == 1  # an unreadable file is skipped, not fatal
    with pytest.raises(QueueError, match="no held job"):
        JobQueue(tmp_path / "q").cancel("zzz")


def _env(state: Path) -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off", "XDG_STATE_HOME": str(state)}


def _jobs(state: Path) -> list[dict[str, object]]:
    shown = run_cli("queue", "list", "--json", env=_env(state))
    assert shown.returncode == 0, shown.stderr
    return list(json.loads(shown.stdout))


def test_held_jobs_survive_processes_and_run_when_due(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    state = tmp_path / "state"
    finish = ScriptedReply(tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": "nothing to change"}))])
    with StandIn(replies=[ScriptedReply(content="ready"), finish]) as server:
        held = run_cli("refactor", str(root), "tidy up", "--base-url", server.base_url, "--yes", "--prime",
                       "never", "--when", "off-peak", cwd=tmp_path, env=_env(state))
        assert held.returncode == 0, held.stderr
        assert "held refactor job" in held.stdout
        assert "off-peak" in held.stdout
        assert not server.calls  # nothing was sent: the quote is counted locally
        second = run_cli("refactor", str(root), "other", "--when", "off-peak", cwd=tmp_path, env=_env(state))
        assert second.returncode == 0, second.stderr
        jobs = _jobs(state)
        assert [j["state"] for j in jobs] == ["held", "held"]
        first_id, second_id = str(jobs[0]["id"]), str(jobs[1]["id"])
        assert jobs[0]["argv"] == ["refactor", str(root), "tidy up", "--base-url", server.base_url, "--yes",
                                   "--prime", "never"]
        quote = jobs[0]["quote"]
        assert isinstance(quote, dict)
        assert quote["prompt_tokens"] > 0
        assert quote["peak_usd"] == pytest.approx(2 * quote["offpeak_usd"])

        cancelled = run_cli("queue", "cancel", second_id, env=_env(state))
        assert cancelled.returncode == 0, cancelled.stderr
        assert [j["id"] for j in _jobs(state)] == [first_id]
        early = run_cli("queue", "run", "--now", "2026-01-01T00:00", env=_env(state))
        assert early.returncode == 0
        assert "No job is due" in early.stdout
        ran = run_cli("queue", "run", "--now", "2030-01-01T00:00", env=_env(state), timeout=300)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert len(server.calls) == 2  # the held refactor ran (a text reply, the nudge, then finish)
    [job] = _jobs(state)
    assert (job["state"], job["exit_code"]) == ("done", 0)
    again = run_cli("queue", "run", "--now", "2030-01-01T00:00", env=_env(state))
    assert "No job is due" in again.stdout


def test_bad_when_and_bad_ids_are_clear_errors(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    state = tmp_path / "state"
    bad = run_cli("refactor", str(root), "x", "--when", "tonight", env=_env(state))
    assert bad.returncode == 2
    assert "--when must be one of" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = run_cli("queue", "cancel", "nope", env=_env(state))
    assert missing.returncode == 2
    assert "no held job" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_review_is_held_and_a_table_without_off_peak_is_refused(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    state = tmp_path / "state"
    held = run_cli("review", str(root), "--base", "HEAD", "--when", "off-peak", env=_env(state))
    assert held.returncode == 0, held.stderr
    assert "held review job" in held.stdout
    [job] = _jobs(state)
    assert job["command"] == "review"
    assert job["argv"] == ["review", str(root), "--base", "HEAD"]

    prices = tmp_path / "flat.toml"  # a user's price file: one rate all day from 2026-11-01 on
    prices.write_text('[[entry]]\nid = "flat"\nengine = "deepseek"\nstart = 2026-11-01T00:00:00Z\n'
                      'source = "test"\nmodels.deepseek-v4-flash = { hit = 0.01, miss = 0.1, output = 0.2 }\n'
                      'models.deepseek-flash = { hit = 0.01, miss = 0.1, output = 0.2 }\n')
    refused = run_cli("refactor", str(root), "x", "--when", "off-peak",
                      env={**_env(state), "V4AGENT_PRICES_FILE": str(prices)})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "no off-peak window" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert len(_jobs(state)) == 1  # nothing was held


def test_jobs_held_within_one_second_list_oldest_first(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q")
    moment = datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)
    made = [queue.add(command="refactor", argv=["refactor", ".", f"task {n}"], cwd=tmp_path, repo=tmp_path,
                      not_before=moment, quote={}, now=moment + timedelta(microseconds=n)) for n in range(12)]
    assert [job.id for job in queue.jobs()] == [job.id for job in made]
