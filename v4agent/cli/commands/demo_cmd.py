"""`v4agent demo`: the whole flow offline, with no key: a real refactor and a chat turn against a scripted model.

The model is the stand-in DeepSeek server that the tests use (``v4agent.testing.serve``), started as a child
process on loopback: shipped code never imports ``v4agent.testing`` (an import contract), and as its own process
the stand-in stays exactly the fake the tests hold to DeepSeek's documented wire rules. What runs against it is
the real `v4agent refactor` and `v4agent chat` (packing, the agent loop, the sandboxed tests, the cost report),
as child processes too, on a sample repository made on the fly. The stand-in bills by DeepSeek's published
prices, so the cost report shows what the run would have cost; nothing is charged.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import typer

from v4agent.core.errors import V4AgentError

_SERVE_START_S = 60.0


class DemoError(V4AgentError):
    """The demo could not run (the stand-in did not start, git is missing)."""


def _say(text: str) -> None:
    from v4agent.ui.console import stderr

    stderr.print(f"\n[bold cyan]demo:[/] {text}", markup=True, highlight=False)


def make_sample(root: Path) -> Path:
    """Write the sample repository under ``root`` and commit it; returns its path."""
    from v4agent.cli.demo_sample import FILES

    repo = root / "shop"
    for rel, text in FILES.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git = ["git", "-c", "user.email=demo@v4agent.invalid", "-c", "user.name=v4agent demo",
           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]
    try:
        for step in (["init", "-q", str(repo)], ["-C", str(repo), "add", "-A"],
                     ["-C", str(repo), "commit", "-q", "-m", "A tiny shop"]):
            subprocess.run([*git, *step], check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise DemoError("git is not installed", hint="install git (the demo works on a git repository)") from None
    except subprocess.CalledProcessError as exc:
        raise DemoError(f"git failed: {exc.stderr.strip()}") from None
    return repo


def _launch_standin(work: Path, key: str) -> subprocess.Popen[str]:
    """Start the stand-in; it prints its base URL once it listens (``_standin_url`` reads it)."""
    from v4agent.cli.demo_sample import replies

    script = work / "script.json"
    script.write_text(json.dumps(replies(), indent=1), encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "v4agent.testing.serve", "--script", str(script), "--echo", "--api-key", key],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def _start_standin(work: Path, key: str) -> tuple[subprocess.Popen[str], str]:
    server = _launch_standin(work, key)
    return server, _standin_url(server)


def _standin_url(server: subprocess.Popen[str]) -> str:
    assert server.stdout is not None
    line = server.stdout.readline().strip()  # the base URL, once it listens
    if not line.startswith("http://127.0.0.1:"):
        with contextlib.suppress(ProcessLookupError):
            server.kill()
        server.wait()
        raise DemoError("the stand-in model server did not start", hint=f"run `{sys.executable} -m "
                        "v4agent.testing.serve --echo` to see why")
    return line


def _child_env(work: Path, key: str) -> dict[str, str]:
    """The user's environment less v4agent's own settings and keys, with a private config directory."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("V4AGENT_") and k not in ("DEEPSEEK_API_KEY", "OPENAI_API_KEY")}
    env["DEEPSEEK_API_KEY"] = key  # the stand-in's key: loopback only
    env["XDG_CONFIG_HOME"] = str(work / "config")  # neither the user's config file nor their trust store
    return env


def _v4agent(*args: str, env: dict[str, str], stdin: str | None = None) -> int:
    done = subprocess.run([sys.executable, "-m", "v4agent", *args], env=env, input=stdin, text=True,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    return done.returncode


def demo(
    keep: bool = typer.Option(False, "--keep", help="Keep the sample repository (its path is printed)."),
) -> None:
    """Try v4agent offline, with no key: a scripted model fixes a bug in a sample repository, then answers in chat.

    Everything but the model is real: packing, the agent loop, edits, the sandboxed tests, sessions and the cost
    report (priced as DeepSeek would bill it; nothing is charged).
    """
    from v4agent.cli.demo_sample import CHAT_QUESTION, TASK

    work = Path(tempfile.mkdtemp(prefix="v4agent-demo-"))
    server: subprocess.Popen[str] | None = None
    try:
        key = "sk-demo-" + secrets.token_hex(8)
        server = _launch_standin(work, key)  # it boots while the sample repository is written
        repo = make_sample(work)
        base_url = _standin_url(server)
        env = _child_env(work, key)
        common = ("--engine", "deepseek", "--base-url", base_url, "--model", "deepseek-v4-flash", "--think", "off")
        _say(f"a sample repository with one bug: {repo}\n      a scripted stand-in model at {base_url} "
             "(no key, no network)")
        _say(f'v4agent refactor {repo.name} "{TASK}"')
        test_cmd = f"{sys.executable} -m unittest discover -q -s tests -t ."
        status = _v4agent("refactor", str(repo), TASK, *common, "--yes", "--prime", "never",
                          "--test-cmd", test_cmd, env=env)
        if status != 0:
            raise DemoError(f"the demo's refactor ended with status {status}")
        _say(f'v4agent chat {repo.name}   (one turn, piped: "{CHAT_QUESTION}")')
        status = _v4agent("chat", str(repo), *common, env=env, stdin=CHAT_QUESTION + "\n")
        if status != 0:
            raise DemoError(f"the demo's chat ended with status {status}")
        _say("done. With a key (https://platform.deepseek.com/api_keys, then export DEEPSEEK_API_KEY=...) run "
             'the same on your code:\n      v4agent refactor . "your task"   or   v4agent chat')
        if keep:
            _say(f"the sample repository is kept at {repo}: try `v4agent sessions {repo}` and "
                 f"`v4agent undo {repo} --dry-run`")
    finally:
        if server is not None:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=10)
            if server.poll() is None:
                server.kill()
                server.wait()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    from v4agent.cli import quickexit

    quickexit.request()  # the children are done and the server stopped: nothing here needs a finaliser


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to ``app``."""
    app.command("demo")(demo)
