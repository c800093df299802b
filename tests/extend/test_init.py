"""`v4agent init`: the model drafts AGENTS.md over the cached pack; nothing existing is replaced."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import make_git_repo, run_cli
from v4agent.refactor.initdoc import draft_name, strip_fence
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {"app.py": "def f():\n    return 1\n", "pyproject.toml": "[project]\nname = 'app'\n"}
DRAFT = "# app\n\n- Tests: `pytest -q`\n"


def _env() -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}


def test_init_writes_agents_md_when_absent_and_hits_the_cached_pack(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    replies = [
        ScriptedReply(content="ready"),  # a refactor's priming call stores the pack
        ScriptedReply(tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": "nothing"}))]),
        ScriptedReply(tool_calls=[ScriptedToolCall("write_file", json.dumps({"path": "x", "content": "y"}))]),
        ScriptedReply(content="```markdown\n" + DRAFT + "```\n"),
    ]
    with StandIn(replies=replies) as server:
        first = run_cli("refactor", str(root), "nothing", "--base-url", server.base_url, "--prime", "always",
                        env=_env(), timeout=300)
        assert first.returncode == 0, first.stderr[-3000:]
        done = run_cli("init", str(root), "--base-url", server.base_url, env=_env(), timeout=300)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (root / "AGENTS.md").read_text() == DRAFT
    assert "wrote AGENTS.md" in done.stdout
    assert not (root / "x").exists()  # init may only look
    tool_results = [m["content"] for m in calls[-1].request["messages"] if m["role"] == "tool"]
    assert "plan mode is on" in tool_results[-1]
    prime, first_init = calls[0], calls[2]
    assert first_init.request["messages"][:2] == prime.request["messages"]
    assert first_init.cache_hit >= prime.prompt_tokens - 64  # the pack came from the cache


def test_init_never_replaces_an_existing_file(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {**SAMPLE, "AGENTS.md": "mine\n"})
    with StandIn(replies=[ScriptedReply(content=DRAFT), ScriptedReply(content=DRAFT)]) as server:
        one = run_cli("init", str(root), "--base-url", server.base_url, env=_env(), timeout=300)
        two = run_cli("init", str(root), "--base-url", server.base_url, env=_env(), timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    assert (root / "AGENTS.md").read_text() == "mine\n"
    assert (root / "AGENTS.draft.md").read_text() == DRAFT
    assert (root / "AGENTS.draft-2.md").read_text() == DRAFT


def test_init_without_an_engine_is_a_clear_error(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    done = run_cli("init", str(root), env={"V4AGENT_THINK": "off"})
    assert done.returncode == 6
    assert "Traceback" not in done.stderr
    assert not (root / "AGENTS.md").exists()


def test_pure_helpers() -> None:
    assert strip_fence("```md\n# x\n```") == "# x\n"
    assert strip_fence("# x\n\n") == "# x\n"
    taken = {"AGENTS.md", "AGENTS.draft.md"}
    assert draft_name(lambda n: n in taken) == "AGENTS.draft-2.md"
