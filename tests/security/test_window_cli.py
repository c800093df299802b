"""A session whose turns outgrow the 1M window, through the real CLI against the stand-in.

Four `write_file` calls of 400 KB each make a conversation of about 1.06M tokens. The old loop compacted with a
summary request that was itself past the window (a 400, rc 1), and a resume sent the whole conversation again
(the same 400, forever). Now the summary request leaves out the oldest tool payloads and the run finishes, and
a session saved over the window resumes.

The stand-in serves each 400 KB reply whole (``finish_reason`` set, so it is not cut at ``max_tokens``), as on
the server the case was found with: a reply bigger than the compaction margin is what no plan can foresee.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from v4agent.agent.request.layout import COMPACTION_REQUEST
from v4agent.testing.standin import CONTEXT_WINDOW, ScriptedReply, ScriptedToolCall, StandIn

BLOB_CHARS = 400_000


def _blob(n: int) -> str:
    rng = random.Random(n)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 \n") for _ in range(BLOB_CHARS))


def _handler(body: dict[str, Any]) -> ScriptedReply:
    messages = body["messages"]
    if messages[-1].get("content") == COMPACTION_REQUEST:
        return ScriptedReply(content="SUMMARY: wrote big0.txt to big3.txt.")
    done = sum(1 for m in messages if m["role"] == "assistant")
    summarized = any("Summary of the earlier part" in str(m.get("content")) for m in messages)
    if summarized or done >= 4:
        return ScriptedReply(tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": "four files"}))])
    arguments = json.dumps({"path": f"big{done}.txt", "content": _blob(done)})
    return ScriptedReply(tool_calls=[ScriptedToolCall("write_file", arguments)], finish_reason="tool_calls")


def _env() -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}


def _refactor(root: Path, server: StandIn, *args: str) -> Any:
    return run_cli("refactor", str(root), *args, "--base-url", server.base_url, "--yes", "--json", "--prime",
                   "never", env=_env(), timeout=600)


def _check_files(root: Path) -> None:
    for n in range(4):
        assert (root / f"big{n}.txt").read_text() == _blob(n)


def test_four_400kb_writes_compact_and_finish(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    with StandIn(handler=_handler) as server:
        done = _refactor(root, server, "write four big files")
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout)["status"] == "finished"
    assert all(c.status == 200 for c in calls)
    assert max(c.prompt_tokens for c in calls) <= CONTEXT_WINDOW
    assert sum(1 for c in calls if c.request["messages"][-1].get("content") == COMPACTION_REQUEST) == 1
    assert "left out 1 old tool results or arguments" in done.stderr
    _check_files(root)


def test_a_session_saved_over_the_window_resumes_through_the_cli(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    with StandIn(handler=_handler) as server:
        first = _refactor(root, server, "write four big files", "--max-turns", "4")
        assert first.returncode == 4, first.stderr[-3000:]  # --max-turns: the conversation is now over 1M tokens
        (session,) = (root / ".v4agent" / "sessions").glob("*.jsonl")
        resumed = _refactor(root, server, "--resume", session.stem)
        calls = list(server.calls)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Traceback" not in resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "finished"
    assert all(c.status == 200 for c in calls)
    assert max(c.prompt_tokens for c in calls) <= CONTEXT_WINDOW
    assert calls[4].request["messages"][-1].get("content") == COMPACTION_REQUEST  # planned before its first turn
    _check_files(root)
