"""The refactor report lists each subagent under the turn that spawned it: text, --json and stream-json.

The real CLI against the stand-in; the scripted model (tests/agent/test_subagents.py) asks for two subagents
in its first reply.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.agent.test_subagents import SAMPLE, Model
from tests.conftest import REPO_ROOT, make_git_repo, run_cli
from v4agent.testing.standin import StandIn


def _env() -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off", "COLUMNS": "200"}


def _run(root: Path, *fmt: str) -> str:
    with StandIn(handler=Model(delay=0.05)) as server:
        done = run_cli("refactor", str(root), "explain totals", "--base-url", server.base_url, "--yes",
                       "--prime", "always", *fmt, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_json_and_stream_reports_list_the_subagents_under_their_turn(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    report = json.loads(_run(root, "--json"))
    rows = report["subagents"]
    assert [(r["turn"], r["index"], r["description"]) for r in rows] == [(1, 1, "find adders"),
                                                                          (1, 2, "find totals")]
    for row in rows:
        assert row["status"] == "finished"
        assert row["turns"] >= 2
        assert row["prompt_tokens"] > row["cache_hit"] > 0
        assert row["fork_hit_ratio"] >= 0.99
        assert row["cost_usd"] > 0

    lines = [json.loads(line) for line in _run(root, "--format", "stream-json").splitlines()]
    schema = json.loads((REPO_ROOT / "docs" / "stream-json.schema.json").read_text())
    for line in lines:
        jsonschema.validate(line, schema)
    end = lines[-1]
    assert end["type"] == "end"
    assert [(r["turn"], r["description"]) for r in end["subagents"]] == [(1, "find adders"), (1, "find totals")]


def test_text_report_lists_the_subagents(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    out = _run(root)
    assert "subagents (under the turn that spawned each):" in out
    assert "turn 1: subagent 'find adders': finished" in out
    assert "turn 1: subagent 'find totals': finished" in out
    assert "cache hit" in out
