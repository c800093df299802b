"""`engine check --record DIR` saves exchanges that tests replay with no engine: the recording of a run against
the stand-in, replayed, gives the same table; a probe whose steps changed is refused by the replay, loudly.
A recording from the real vLLM CPU engine (``fixtures/vllm_cpu_probe``, made by the vllm-marked test with
``UPDATE_PROBE_FIXTURES=1``) replays the same way when present."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.engine.test_engine_check import probe_replies
from v4agent.testing import StandIn
from v4agent.testing.replay import ReplayServer, load_recording

VLLM_FIXTURE = Path(__file__).parent / "fixtures" / "vllm_cpu_probe"


def _check(base_url: str, tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    done = run_cli("engine", "check", str(tmp_path), "--base-url", base_url, "--settle", "0", "--json",
                   "--no-save", *extra, env={"XDG_STATE_HOME": str(tmp_path / "state"), **(env or {})}, timeout=300)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {"stderr": done.stderr}


def _table(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["name"], c["status"], c["detail"]) for c in report["checks"]]


def test_a_recorded_probe_replays_to_the_same_table(tmp_path: Path) -> None:
    key = {"DEEPSEEK_API_KEY": "sk-test"}
    with StandIn(handler=probe_replies) as server:
        status, live = _check(server.base_url, tmp_path, "--record", str(tmp_path / "rec"), env=key)
    assert status == 0, live
    recording = load_recording(tmp_path / "rec")
    assert len(recording) == live["requests"]
    with ReplayServer(recording) as replay:
        replay_status, replayed = _check(replay.base_url, tmp_path, env=key)
        assert replay.mismatches == []
        assert replay.served == len(recording)
    assert replay_status == 0, replayed
    assert _table(replayed) == _table(live)
    assert replayed["priming"] == live["priming"]


def test_a_probe_that_changed_its_steps_is_refused(tmp_path: Path) -> None:
    key = {"DEEPSEEK_API_KEY": "sk-test"}
    with StandIn(handler=probe_replies) as server:
        _check(server.base_url, tmp_path, "--record", str(tmp_path / "rec"), env=key)
    recording = load_recording(tmp_path / "rec")
    with ReplayServer([recording[0], *recording[2:]]) as replay:  # one step gone from the recording
        status, _report = _check(replay.base_url, tmp_path, env=key)
        assert replay.mismatches
        assert "expected" in replay.mismatches[0]
    assert status != 0


@pytest.mark.skipif(not VLLM_FIXTURE.is_dir(), reason="no recording of the real vLLM CPU engine here")
def test_the_real_vllm_recording_replays(tmp_path: Path) -> None:
    recording = load_recording(VLLM_FIXTURE / "exchanges")
    expected = json.loads((VLLM_FIXTURE / "report.json").read_text())
    with ReplayServer(recording) as replay:
        status, replayed = _check(replay.base_url, tmp_path, "--engine", "vllm", "--model", expected["model"])
        assert replay.mismatches == []
    assert status == (0 if expected["passed"] else 1)
    assert [(n, s) for n, s, _ in _table(replayed)] == [(c["name"], c["status"]) for c in expected["checks"]]
