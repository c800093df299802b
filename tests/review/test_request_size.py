"""What the review request holds of a pull request: each text once, and a size that fits the model's window."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo
from v4agent.engine.client import EngineSettings, open_engine
from v4agent.review.run import ReviewInput, default_pack, range_diff, review
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=Test", "-c", "commit.gpgsign=false"]
NO_FINDINGS = json.dumps({"findings": [], "summary": "Nothing."})


def _handler(body: dict[str, Any]) -> ScriptedReply:
    if body.get("max_tokens") == 1:  # the priming call
        return ScriptedReply(content="k")
    return ScriptedReply(tool_calls=[ScriptedToolCall("report_findings", NO_FINDINGS)])


def _branch(repo: Path, files: dict[str, str]) -> str:
    subprocess.run([*GIT, "-C", str(repo), "checkout", "-q", "-b", "pr", "main"], check=True)
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text, encoding="utf-8")
    subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-q", "-m", "change"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "checkout", "-q", "main"], check=True)
    return "pr"


def test_an_added_file_is_sent_once_a_modified_one_whole_at_head(tmp_path: Path) -> None:
    added_body = "\n".join(f"def brand_new_{i}(x):\n    return x + {i}  # unique-added-line-{i}" for i in range(8))
    root = make_git_repo(tmp_path / "repo", {"app/old.py": "\n".join(f"v{i} = {i}" for i in range(30)) + "\n"})
    modified = "\n".join(f"v{i} = {i}" for i in range(30)).replace("v3 = 3", "v3 = 33") + "\n"
    _branch(root, {"app/new.py": added_body + "\n", "app/old.py": modified})
    with StandIn(handler=_handler) as server:
        engine = open_engine(EngineSettings(base_url=server.base_url, api_key="sk-test", model="deepseek-v4-flash"))
        try:
            diff = range_diff(root, "main", "pr")
            review(ReviewInput(root, "main", "pr", "t", "", diff), engine, pack=default_pack(), price=None)
        finally:
            engine.close()
        last = server.calls[-1].request["messages"][-1]["content"]
    for i in range(8):  # every line of the added file once: in the diff, as "+" lines
        assert last.count(f"unique-added-line-{i}") == 1
        assert f"+    return x + {i}  # unique-added-line-{i}" in last
    assert "Added by this pull request" in last and "app/new.py" in last
    assert "### app/old.py" in last and "v29 = 29" in last  # a modified file keeps its whole text at head
    assert "### app/new.py" not in last
