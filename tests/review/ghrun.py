"""Helpers for the review bot's end-to-end tests: git histories, an Actions event, the real CLI against the fakes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.conftest import GIT, run_cli
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

TOKEN = "ghs_actions_token_0123456789"  # a workflow's GITHUB_TOKEN: an installation token


def git(root: Path, *args: str) -> str:
    """Run git in ``root``; its stdout, stripped."""
    return subprocess.run([*GIT, "-C", str(root), *args], capture_output=True, text=True, check=True).stdout.strip()


def commit(root: Path, files: Mapping[str, str | None], message: str) -> str:
    """Write (or, for None, delete) ``files`` on the current branch and commit; the new commit's SHA."""
    for rel, text in files.items():
        path = root / rel
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def event_file(path: Path, number: int, head: str, base: str, *, title: str = "A change", fork: bool = False,
               author: str = "octocat") -> Path:
    """A ``pull_request`` event payload as Actions writes it to GITHUB_EVENT_PATH."""
    head_repo = {"full_name": "mallory/shop" if fork else "octo/shop", "fork": fork}
    path.write_text(json.dumps({"number": number, "pull_request": {
        "number": number, "title": title, "body": "", "user": {"login": author},
        "head": {"sha": head, "ref": "feature", "repo": head_repo},
        "base": {"sha": base, "ref": "main", "repo": {"full_name": "octo/shop", "fork": False}}}}),
        encoding="utf-8")
    return path


def actions_env(event: Path, api_url: str, *, token: str = TOKEN, key: bool = True) -> dict[str, str]:
    """The variables a workflow step has: the event, the repository, the API URL, the token, maybe the key."""
    env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "octo/shop", "GITHUB_TOKEN": token,
           "GITHUB_API_URL": api_url, "GITHUB_ACTIONS": "true", "DEEPSEEK_API_KEY": "sk-test" if key else ""}
    return env


def review(root: Path, server: StandIn, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``v4agent review ROOT --github`` through the real entry point, talking to the stand-in."""
    return run_cli("review", str(root), "--github", "--base-url", server.base_url, *args, env=env, timeout=300)


def finding(path: str, start: int, end: int | None = None, *, side: str = "RIGHT", severity: str = "high",
            title: str = "A problem", body: str = "Why it is wrong.") -> dict[str, Any]:
    """One item of a ``report_findings`` call."""
    return {"path": path, "start_line": start, "end_line": end or start, "side": side, "severity": severity,
            "category": "bug", "title": title, "body": body}


def reporting(choose: Callable[[str], list[dict[str, Any]]]) -> Callable[[dict[str, Any]], ScriptedReply]:
    """A stand-in handler: the priming call gets a token, the review call ``choose(its last message)``."""

    def handler(body: dict[str, Any]) -> ScriptedReply:
        if body.get("max_tokens") == 1:
            return ScriptedReply(content="k")
        args = json.dumps({"findings": choose(body["messages"][-1]["content"]), "summary": "Scripted review."})
        return ScriptedReply(reasoning="Read the diff.", tool_calls=[ScriptedToolCall("report_findings", args)])

    return handler


def prompts(server: StandIn) -> str:
    """Everything the stand-in was sent, as one string."""
    return json.dumps([call.request for call in server.calls], ensure_ascii=False)
