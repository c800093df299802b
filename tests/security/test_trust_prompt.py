"""On a terminal, the first run over an undecided project file asks before anything runs; the answer is kept."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pexpect

from tests.conftest import make_git_repo
from v4agent.core.trust import trust_status
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

QUESTION = r"trust this repository's config\?"


def _finish() -> ScriptedReply:
    return ScriptedReply(tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": "done"}))])


def _refactor_on_a_tty(root: Path, answer: str | None) -> tuple[int, str]:
    """Run refactor in a pseudo-terminal; answer the trust question when given, else expect none."""
    env = {**os.environ, "DEEPSEEK_API_KEY": "sk-test", "COLUMNS": "160"}
    child = pexpect.spawn(sys.executable, ["-m", "v4agent", "refactor", ".", "tidy up", "--prime", "never",
                                           "--json"], cwd=str(root), env=env, dimensions=(40, 160),
                          encoding="utf-8", timeout=120)
    output = ""
    try:
        if answer is not None:
            child.expect(QUESTION)
            output = str(child.before or "")
            child.sendline(answer)
        child.expect(pexpect.EOF)
        output += str(child.before or "")
    finally:
        child.close(force=True)
    return int(child.exitstatus if child.exitstatus is not None else -1), output


def _user_config(base_url: str) -> None:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'base_url = "{base_url}"\nthink = "off"\n', encoding="utf-8")


def test_yes_trusts_and_applies_no_is_remembered(tmp_path: Path) -> None:
    with StandIn([_finish(), _finish()]) as users, StandIn([_finish()]) as projects:
        _user_config(users.base_url)
        text = f'base_url = "{projects.base_url}"\n'
        yes = make_git_repo(tmp_path / "yes", {"app.py": "x = 1\n", ".v4agent.toml": text})
        status, output = _refactor_on_a_tty(yes, "y")
        assert status == 0, output[-2000:]
        assert f"base_url = {projects.base_url}" in output  # the question showed what would apply
        assert (len(users.calls), len(projects.calls)) == (0, 1)
        assert trust_status(yes) == "trusted"

        no = make_git_repo(tmp_path / "no", {"app.py": "x = 1\n", ".v4agent.toml": text})
        status, output = _refactor_on_a_tty(no, "n")
        assert status == 0, output[-2000:]
        assert "ignored base_url" in output
        assert (len(users.calls), len(projects.calls)) == (1, 1)
        assert trust_status(no) == "declined"

        status, output = _refactor_on_a_tty(no, None)  # declined for this content: not asked again
        assert status == 0, output[-2000:]
        assert "trust this repository" not in output
        assert (len(users.calls), len(projects.calls)) == (2, 1)
