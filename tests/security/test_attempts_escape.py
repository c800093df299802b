"""An attempt is confined to its own worktree: the model of one attempt cannot touch the user's tree, its git
directory, or another attempt's worktree, by a path that climbs out or by a command (the sandbox)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from tests.sandbox.helpers import needs_bwrap
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

FILES = {"calc.py": "def add(a, b):\n    return a + b\n",
         "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"}


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


@needs_bwrap
def test_an_attempt_cannot_write_outside_its_worktree(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    seen_during: list[str] = []
    attacks = [
        _call("edit_file", path="../../../../calc.py", old_text="a + b", new_text="a - b"),
        _call("write_file", path="../2/calc.py", content="pwned = 1\n"),
        _call("shell", command=f"echo pwned > {root}/calc.py; echo pwned > {root}/.git/hooks/pre-commit; "
                               f"echo pwned > {root}/.v4agent/attempts/x"),
        # every other attempt's worktree (its own is the one writable place, so it is skipped)
        _call("shell", command=f'for d in {root}/.v4agent/attempts/*/*/; do [ "$(cd "$d" && pwd -P)" = '
                               '"$(pwd -P)" ] || echo pwned > "$d/calc.py"; done; true'),
    ]

    def model(body: dict[str, Any]) -> ScriptedReply:
        messages = body["messages"]
        if len(messages) == 2:
            return ScriptedReply(content="ready")
        step = sum(1 for m in messages if m.get("role") == "assistant")
        if step < len(attacks):
            return ScriptedReply(tool_calls=[attacks[step]])
        seen_during.append((root / "calc.py").read_text())
        return ScriptedReply(tool_calls=[_call("finish", summary="done")])

    with StandIn(handler=model) as server:
        done = run_cli("refactor", str(root), "task", "--attempts", "2", "--select", "tests", "--base-url",
                       server.base_url, "--yes", "--json", "--test-cmd",
                       f"{sys.executable} -m pytest -q -p no:cacheprovider tests", env={"DEEPSEEK_API_KEY": "sk-test",
                       "V4AGENT_THINK": "off"}, timeout=300)
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert report["selection"]["chosen"] == 0  # nothing changed, so nothing to choose
    assert seen_during == [FILES["calc.py"]] * 2
    assert (root / "calc.py").read_text() == FILES["calc.py"]
    assert not (root / ".git" / "hooks" / "pre-commit").exists()
    assert not (root / ".v4agent" / "attempts" / "x").exists()
    for attempt in report["attempts"]:
        assert attempt["changed_files"] == []
