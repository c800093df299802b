"""`v4agent mcp list|add|remove|test` take the repository as the first argument, like every other command, with
`--path` kept as a hidden alias (issue 27), through the real CLI from outside the repository."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import make_git_repo, run_cli
from tests.extend.conftest import SERVER


def test_the_repository_comes_first_in_every_mcp_command(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.txt": "a\n"})
    away = tmp_path / "elsewhere"
    away.mkdir()
    added = run_cli("mcp", "add", str(root), "shared", "--scope", "project", "--", sys.executable, "server.py",
                    "--flag", cwd=away)
    assert added.returncode == 0, added.stderr
    entry = json.loads((root / ".mcp.json").read_text())["mcpServers"]["shared"]
    assert entry["command"] == sys.executable
    assert entry["args"] == ["server.py", "--flag"]  # the words after -- are the command, all of them
    web = run_cli("mcp", "add", str(root), "docs", "--scope", "project", "--transport", "http",
                  "https://example.com/mcp", cwd=away)
    assert web.returncode == 0, web.stderr
    assert json.loads((root / ".mcp.json").read_text())["mcpServers"]["docs"]["url"] == "https://example.com/mcp"
    listed = run_cli("mcp", "list", str(root), cwd=away)
    assert listed.returncode == 0, listed.stderr
    assert "left out until you trust this repository" in listed.stdout
    assert "docs, shared" in listed.stdout
    assert run_cli("mcp", "list", "--path", str(root), cwd=away).stdout == listed.stdout  # the older spelling
    assert "--path" not in run_cli("mcp", "list", "--help").stdout  # kept, but hidden
    removed = run_cli("mcp", "remove", str(root), "docs", "--scope", "project", cwd=away)
    assert removed.returncode == 0, removed.stderr
    assert set(json.loads((root / ".mcp.json").read_text())["mcpServers"]) == {"shared"}


def test_mcp_test_takes_path_then_name(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.txt": "a\n"})
    away = tmp_path / "elsewhere"
    away.mkdir()
    # a user server (unsandboxed): `add` with only NAME before -- still works, in the current directory
    assert run_cli("mcp", "add", "echoer", "--", sys.executable, str(SERVER), cwd=away).returncode == 0
    both = run_cli("mcp", "test", str(root), "echoer", cwd=away, timeout=120)
    assert both.returncode == 0, both.stdout + both.stderr
    assert "echoer: ok" in both.stdout
    just_path = run_cli("mcp", "test", str(root), cwd=away, timeout=120)  # a directory, not a server's name
    assert "echoer: ok" in just_path.stdout
    just_name = run_cli("mcp", "test", "echoer", cwd=root, timeout=120)
    assert "echoer: ok" in just_name.stdout
    assert run_cli("mcp", "remove", "echoer", cwd=away).returncode == 0


def test_bad_mcp_arguments_are_usage_errors(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.txt": "a\n"})
    other = make_git_repo(tmp_path / "other", {"b.txt": "b\n"})
    cases = [
        ("mcp", "list", str(root), "--path", str(other)),  # two different repositories
        ("mcp", "add", str(root), "name", "extra", "--", "cmd"),  # three words before --
        ("mcp", "remove", str(root), "a", "b"),
        ("mcp", "test", str(root), "a", "b"),
        ("mcp", "list", str(tmp_path / "nowhere")),
    ]
    for args in cases:
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert "error:" in done.stderr
