"""Shared fixtures. Tests run offline: nothing here reaches beyond loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's real config, keys and caches out of every test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for name in list(os.environ):
        if name.startswith("V4AGENT_") or name in {"DEEPSEEK_API_KEY", "OPENAI_API_KEY", "GITHUB_TOKEN"}:
            monkeypatch.delenv(name, raising=False)


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            input_text: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `v4agent` entry point in a subprocess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("COLUMNS", "160")
    return subprocess.run(
        [sys.executable, "-m", "v4agent", *args],
        cwd=cwd, env=full_env, input=input_text, capture_output=True, text=True, timeout=timeout,
    )


# git with a fixed identity and no signing, whatever the host's configuration says
GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=Test", "-c", "commit.gpgsign=false"]


def make_git_repo(root: Path, files: dict[str, str]) -> Path:
    """Create a git repository with ``files`` committed in one commit."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    subprocess.run([*GIT, "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run([*GIT, "-C", str(root), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(root), "commit", "-q", "-m", "initial"], check=True)
    return root
