"""Issue 27, a newcomer's first hour, through the real CLI: closed stdio, one error format, checks before work,
the shared option spellings, the shorthands, examples on every help page."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, make_git_repo, run_cli

SAMPLE = {"app.py": "def f():\n    return 1\n"}


def _shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`v4agent` under /bin/sh, so that redirections such as `<&-` close a standard stream for real."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), COLUMNS="160")
    return subprocess.run(["/bin/sh", "-c", f"{sys.executable} -m v4agent {command}"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)


def _one_error(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines


@pytest.mark.parametrize("command", ["chat . <&-", "refactor . x <&-", "chat . <&- >&-"])
def test_closed_stdin_never_tracebacks(tmp_path: Path, command: str) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    done = _shell(command, root)
    assert "Traceback" not in done.stderr
    assert "AttributeError" not in done.stderr
    assert done.returncode == 6  # no key here: the engine is unreachable, as with open streams


def test_pack_with_closed_stdout_is_a_usage_error(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    done = _shell("pack . >&-", root)
    assert done.returncode == 2
    assert "error: standard output is closed" in done.stderr
    assert "hint: write it to a file: -o FILE" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_engine_is_a_usage_error_before_packing(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    for command in (("refactor", ".", "do it"), ("chat", ".")):
        done = run_cli(*command, cwd=root, env={"V4AGENT_ENGINE": "foo"})
        assert done.returncode == 2, done.stderr
        assert _one_error(done.stderr) == ["error: unknown engine 'foo' (from env V4AGENT_ENGINE)"]
        assert "hint: choose one of deepseek" in done.stderr
        assert "local" in done.stderr
        assert "Packed" not in done.stdout  # nothing was packed or priced first
        assert not (root / ".v4agent" / "sessions").exists()


def test_config_show_of_a_missing_directory_fails() -> None:
    done = run_cli("config", "show", "/nope/not/here")
    assert done.returncode == 2
    assert _one_error(done.stderr) == ["error: no such directory: /nope/not/here"]
    assert "hint:" in done.stderr


def test_parse_errors_use_the_one_error_format() -> None:
    done = run_cli("refactor", "--bogus")
    assert done.returncode == 2
    assert _one_error(done.stderr) == ["error: No such option: --bogus"]
    assert "hint: `v4agent refactor --help` lists the arguments and options" in done.stderr
    assert "╭" not in done.stderr  # no boxed click error
    bad = run_cli("refactor", ".", "x", "--budget", "lots")
    assert bad.returncode == 2
    assert _one_error(bad.stderr) == ["error: --budget: expected a number of tokens (600000, 600k, 1m) or 'none', "
                                      "got 'lots'"]


def test_budget_none_and_max_cost_none_are_accepted_everywhere(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    for command in (("refactor", ".", "x"), ("chat", ".")):
        done = run_cli(*command, "--budget", "none", "--max-cost", "none", cwd=root, input_text="")
        assert done.returncode == 6, done.stderr  # got as far as the engine: no key here
        assert "not a valid" not in done.stderr
    packed = run_cli("pack", ".", "--budget", "none", cwd=root)
    assert packed.returncode == 0
    assert "def f():" in packed.stdout  # piped: the pack itself, unchanged


def test_dash_h_and_examples_on_every_help_page() -> None:
    pages = [(), ("refactor",), ("chat",), ("review",), ("pack",), ("demo",), ("cost",), ("undo",), ("sessions",),
             ("sessions", "show"), ("init",), ("mcp",), ("engine",), ("engine", "list"), ("config", "show"), ("trust",), ("sandbox",)]
    for words in pages:
        done = run_cli(*words, "-h")
        assert done.returncode == 0, (words, done.stderr)
        assert "Examples:" in done.stdout, words
        examples = done.stdout.split("Examples:", 1)[1]
        assert f"v4agent {' '.join(words)}".strip() in examples, words  # ends with examples of this command


def test_bare_v4agent_in_a_repository_starts_chat(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    done = run_cli(cwd=root, input_text="")
    assert done.returncode == 6  # the chat started and needs a key
    assert "DEEPSEEK_API_KEY" in done.stderr
    outside = tmp_path / "plain"
    outside.mkdir()
    helped = run_cli(cwd=outside)
    assert helped.returncode == 0
    assert "Usage: v4agent" in helped.stdout


def test_a_task_without_a_command_is_a_refactor_or_the_command_to_run(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    task = run_cli("fix the bug in app.py", cwd=root)
    assert task.returncode == 6  # refactor . "fix the bug in app.py": packed, then no key
    assert "Packed 1 file into" in task.stdout  # and "1 file", not "1 files"
    typo = run_cli("pakc", cwd=root)
    assert typo.returncode == 2
    assert "did you mean `v4agent pack`" in typo.stderr
    word = run_cli("frobnicate", cwd=root)
    assert word.returncode == 2
    assert "hint: to ask the agent to do it: v4agent refactor . 'frobnicate'" in word.stderr
    not_dir = run_cli("refactor", "fix the bug", cwd=root)
    assert not_dir.returncode == 2
    assert "hint: to run it as a task in this repository: v4agent refactor . 'fix the bug'" in not_dir.stderr


def test_resume_without_an_id_means_the_latest_on_refactor_and_chat(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    for command in (("refactor", ".", "--resume"), ("refactor", "--resume", "."), ("chat", ".", "--resume"),
                    ("chat", "--resume")):
        done = run_cli(*command, cwd=root, input_text="")
        assert done.returncode == 2, (command, done.stderr)
        assert "no sessions in" in done.stderr, command  # it looked for the latest, not a session named "."
    with_id = run_cli("refactor", ".", "--resume", "nosuch", cwd=root)
    assert "no sessions in" in with_id.stderr


def test_engine_list_includes_local(tmp_path: Path) -> None:
    listed = run_cli("engine", "list", str(tmp_path), "--no-probe", "--json")
    assert listed.returncode == 0
    assert '"name": "local"' in listed.stdout


def test_engine_list_names_the_billed_model_beside_the_default(tmp_path: Path) -> None:
    # The same billed name the pre-flight and `cost --by model` tables lead with, from the dated price table.
    from datetime import UTC, datetime

    from v4agent.accounting.prices import load_price_table

    entry = load_price_table().entry_at(datetime.now(UTC), "deepseek")
    assert entry is not None
    listed = run_cli("engine", "list", str(tmp_path), "--no-probe", env={"COLUMNS": "250"})
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("deepseek"))
    default = "deepseek-v4-flash"
    expected = default if entry.resolve(default) == default else f"{default} (billed as {entry.resolve(default)})"
    assert expected in row


def test_sessions_takes_the_repository_first(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    for command in (("sessions", str(root)), ("sessions", "-C", str(root))):
        done = run_cli(*command)
        assert done.returncode == 0, done.stderr
        assert "no sessions yet" in done.stdout


def _on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run `v4agent ARGS` with a pty as its stdin, stdout and stderr; (status, everything it wrote)."""
    import pty

    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), COLUMNS="160", TERM="dumb")
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "v4agent", *args], env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def test_pack_on_a_terminal_shows_stats_and_where_to_write_not_the_pack(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {**SAMPLE, "big.py": "x = 1\n" * 5000})
    status, screen = _on_a_terminal(["pack", "."], root)
    assert status == 0, screen
    assert "x = 1" not in screen  # not the pack text
    assert "Tokens per language" in screen
    assert "packed 2 files into" in screen
    assert "write it with -o pack.xml, or pipe it" in screen
    piped = run_cli("pack", ".", cwd=root)
    assert piped.stdout.count("x = 1") == 5000  # piped: the pack itself, unchanged


def test_the_repository_comes_first_and_old_spellings_still_work(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    for command in (("sessions", "prune", str(root), "--dry-run"), ("sessions", "prune", "-C", str(root))):
        done = run_cli(*command)
        assert done.returncode == 0, done.stderr
        assert "no sessions yet" in done.stdout
    for command in (("engine", "serve", str(root), "--dry-run"), ("engine", "serve", "--repo", str(root), "--dry-run")):
        planned = run_cli(*command)
        assert planned.returncode == 0, planned.stderr
        assert "vllm serve" in planned.stdout
