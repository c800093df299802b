"""The shared start-up of refactor and chat: workspace, engine, tracker, loop limits, tool context, pack."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from v4agent.agent.setup import (
    RunSetup,
    SetupError,
    agent_config,
    cache_tracker,
    configured_test_command,
    open_workspace,
    pack_repository,
    start_run,
    tool_context,
)
from v4agent.core.config import ConfigError
from v4agent.core.errors import ExitCode
from v4agent.engine.client import EngineSettings, open_engine
from v4agent.engine.presets import model_info
from v4agent.engine.types import EngineUnreachable
from v4agent.testing import ScriptedReply, StandIn

WHY = "this run records the starting commit"


def _repo(tmp_path: Path) -> Path:
    return make_git_repo(tmp_path / "repo", {"app.py": "def greet(name):\n    return 'hi ' + name\n"})


def test_workspace_refuses_a_missing_directory_and_a_tree_outside_git(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="is not a directory") as missing:
        open_workspace(tmp_path / "nope", {}, why=WHY)
    assert missing.value.exit_code == ExitCode.USAGE
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(SetupError) as outside:
        open_workspace(plain, {}, why=WHY)
    assert str(outside.value) == f"{plain} is not inside a git repository; {WHY} (run `git init` and commit first)"


def test_workspace_merges_flags_and_finds_the_top(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / "sub").mkdir()
    workspace = open_workspace(root / "sub", {"max_turns": 7, "approve": None, "test_cmd": "make check"}, why=WHY)
    assert workspace.root == root.resolve()
    assert workspace.config.get("max_turns") == 7
    assert workspace.config.get("approve") == "ask"
    assert configured_test_command(workspace.config) == "make check"
    assert workspace.table is not None
    with pytest.raises(ConfigError):
        open_workspace(root, {"approve": "sometimes"}, why=WHY)


def test_start_run_opens_the_configured_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path)
    workspace = open_workspace(root, {"engine": "deepseek"}, why=WHY)
    with pytest.raises(EngineUnreachable):
        start_run(workspace)  # no key in the environment
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
    run = start_run(workspace, overrides={"model": "deepseek-v4-pro", "base_url": "http://127.0.0.1:9/v1"})
    assert isinstance(run, RunSetup)
    assert run.session is None
    assert (run.root, run.config, run.table) == (workspace.root, workspace.config, workspace.table)
    assert run.engine.settings.model == "deepseek-v4-pro"
    assert run.engine.base_url == "http://127.0.0.1:9/v1"
    run.engine.close()


def test_tracker_block_and_loop_limits_follow_the_engine(tmp_path: Path) -> None:
    workspace = open_workspace(_repo(tmp_path), {"max_turns": 9, "max_cost": 0.5}, why=WHY)
    with StandIn(handler=lambda body: ScriptedReply(content="ok")) as server:
        deepseek = open_engine(EngineSettings(base_url=server.base_url, api_key="sk-test", max_tokens=1000))
        vllm = open_engine(EngineSettings(engine="vllm", base_url=server.base_url))
        assert cache_tracker(deepseek).block == 64
        assert cache_tracker(vllm).block == 16
        config = agent_config(workspace.config, deepseek)
        assert (config.engine_name, config.max_turns, config.max_cost) == ("deepseek", 9, 0.5)
        assert config.window == model_info(deepseek.settings.model).context_window
        assert config.max_output == 1000
        assert not config.text_ends_turn
        assert agent_config(workspace.config, vllm, text_ends_turn=True).text_ends_turn
        deepseek.close()
        vllm.close()


def test_tool_context_takes_the_policy_and_the_test_command(tmp_path: Path) -> None:
    workspace = open_workspace(_repo(tmp_path), {"approve": "edits"}, why=WHY)
    ctx = tool_context(workspace, ask=None, start_commit="abc")
    assert (ctx.repo_root, ctx.approve, ctx.ask, ctx.start_commit) == (workspace.root, "edits", None, "abc")
    assert ctx.test_cmd is None  # none configured: the tools detect one


def test_pack_repository_packs_with_the_configured_options(tmp_path: Path) -> None:
    workspace = open_workspace(_repo(tmp_path), {}, why=WHY)
    snapshot = pack_repository(workspace, model="deepseek-v4-flash", budget=5000)
    assert [f.path for f in snapshot.files] == ["app.py"]
    assert "greet" in snapshot.text
    focused = pack_repository(workspace, model="deepseek-v4-flash", budget=5000, exclude=("app.py",))
    assert not focused.files
