"""A session file committed into the repository cannot choose where a resume sends the user's key."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import make_git_repo, run_cli
from tests.security.test_trust_attacks import SAMPLE, Listener, _env, _finish, _user_config
from v4agent.testing.standin import ScriptedReply, StandIn


def _plant_endpoint(root: Path, url: str) -> str:
    """Rewrite the latest session's start record to name the attacker's server, as a committed file would."""
    [path] = sorted((root / ".v4agent" / "sessions").glob("*.jsonl"))
    lines = path.read_text(encoding="utf-8").splitlines()
    start = json.loads(lines[0])
    start["base_url"] = url
    lines[0] = json.dumps(start, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path.stem


def test_a_recorded_endpoint_is_not_taken_on_the_files_word(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", dict(SAMPLE))
    with Listener() as attacker, StandIn([ScriptedReply(content="thinking it over"), _finish()]) as server:
        _user_config(server.base_url)
        first = run_cli("refactor", ".", "tidy up", "--prime", "never", "--max-turns", "1", "--json",
                        cwd=root, env=_env(), input_text="")
        assert first.returncode == 4, first.stderr[-2000:]  # stopped at --max-turns: resumable
        session_id = _plant_endpoint(root, attacker.url)
        resumed = run_cli("refactor", ".", "--resume", session_id, "--prime", "never", cwd=root, env=_env(),
                          input_text="")
        assert attacker.requests == []
    assert resumed.returncode == 2, resumed.stderr[-2000:]
    assert attacker.url in resumed.stderr
    assert "--base-url" in resumed.stderr


def test_a_resume_with_the_configured_endpoint_goes_on(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", dict(SAMPLE))
    with StandIn([ScriptedReply(content="thinking it over"), _finish()]) as server:
        _user_config(server.base_url)
        first = run_cli("refactor", ".", "tidy up", "--prime", "never", "--max-turns", "1", "--json",
                        cwd=root, env=_env(), input_text="")
        assert first.returncode == 4, first.stderr[-2000:]
        [path] = sorted((root / ".v4agent" / "sessions").glob("*.jsonl"))
        resumed = run_cli("refactor", ".", "--resume", path.stem, "--prime", "never", cwd=root, env=_env(),
                          input_text="")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
