"""`v4agent mcp list|add|remove|test` through the real CLI, and the file edits they make (pure)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import make_git_repo, run_cli
from tests.extend.conftest import SERVER
from v4agent.extend.mcp.edit import EditError, add_toml_entry, remove_toml_entry


def test_toml_edits_keep_the_rest_of_the_file() -> None:
    original = 'model = "deepseek-v4-pro"\n\n[pack]\nbudget = 1000\n'
    added = add_toml_entry(original, "srv", {"command": "python", "args": ["-m", "x y"], "env": {"K": "v\"q"}})
    assert added.startswith(original)
    assert remove_toml_entry(added, "srv") == original
    with pytest.raises(EditError):
        add_toml_entry(added, "srv", {"command": "x"})
    dotted = 'mcp.servers.srv.command = "x"\n'
    with pytest.raises(EditError):
        remove_toml_entry(dotted, "srv")  # not its own table: the user edits it by hand
    with pytest.raises(EditError):
        add_toml_entry("not = [toml", "srv", {"command": "x"})


def test_add_list_test_remove(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.txt": "a\n"})
    added = run_cli("mcp", "add", "demo", "--env", "MODE=test", "--", sys.executable, str(SERVER), cwd=root)
    assert added.returncode == 0, added.stderr
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent" / "config.toml"
    assert "[mcp.servers.demo]" in config.read_text()
    listed = run_cli("mcp", "list", cwd=root)
    assert listed.returncode == 0, listed.stderr
    assert "demo  user  stdio  approve=ask  unsandboxed" in listed.stdout
    tested = run_cli("mcp", "test", cwd=root, timeout=120)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "demo: ok" in tested.stdout
    assert "mcp__demo__echo" in tested.stdout
    assert run_cli("mcp", "add", "demo", "--", "x", cwd=root).returncode == 2  # the name is taken
    assert run_cli("mcp", "add", "bad__name", "--", "x", cwd=root).returncode == 2
    removed = run_cli("mcp", "remove", "demo", cwd=root)
    assert removed.returncode == 0, removed.stderr
    assert "demo" not in config.read_text()
    assert run_cli("mcp", "remove", "demo", cwd=root).returncode == 2


def test_project_servers_wait_for_trust(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.txt": "a\n"})
    added = run_cli("mcp", "add", "--scope", "project", "shared", "--", sys.executable, str(SERVER), cwd=root)
    assert added.returncode == 0, added.stderr
    assert json.loads((root / ".mcp.json").read_text())["mcpServers"]["shared"]["command"] == sys.executable
    listed = run_cli("mcp", "list", cwd=root)
    assert "left out until you trust this repository" in listed.stdout
    assert "shared" in listed.stdout
    assert run_cli("trust", str(root)).returncode == 0
    listed = run_cli("mcp", "list", cwd=root)
    assert "shared  project  stdio  approve=ask  sandboxed" in listed.stdout
    broken = run_cli("mcp", "add", "web", "--transport", "http", "--", "ftp://nope", cwd=root)
    assert broken.returncode == 2
    assert run_cli("mcp", "add", "broken", "--", str(root / "no-such-server"), cwd=root).returncode == 0
    failing = run_cli("mcp", "test", "broken", cwd=root, timeout=120)
    assert failing.returncode == 1
    assert "broken: FAILED" in failing.stdout
