"""`v4agent chat` without a terminal: each piped line is a turn, output is plain text; slash commands work."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import make_git_repo, run_cli
from v4agent.accounting import Ledger
from v4agent.agent.sessions.store import list_sessions
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {"app.py": "def f():\n    return 1\n", "README.md": "hello\n", "notes/todo.txt": "nothing\n"}


def _env() -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}


def _edit(path: str, old: str, new: str) -> ScriptedToolCall:
    return ScriptedToolCall("edit_file", json.dumps({"path": path, "old_text": old, "new_text": new}))


def test_piped_lines_are_turns_with_plain_output(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    replies = [
        ScriptedReply(content="# Overview\n\nOne function, `f`."),
        ScriptedReply(tool_calls=[_edit("app.py", "return 1", "return 2")]),
        ScriptedReply(content="Changed `f` to return 2."),
        ScriptedReply(tool_calls=[ScriptedToolCall("shell", json.dumps({"command": "touch made-by-shell"}))]),
        ScriptedReply(content="The shell command was refused."),
    ]
    script = "what is here?\n\nchange f to return 2\n/diff\nmake a file\n/undo\n/bogus\n/think medium\n/cost\n"
    with StandIn(replies=replies) as server:
        done = run_cli("chat", str(root), "--base-url", server.base_url, env=_env(), input_text=script)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr  # a refused command is a failed tool, not a failed turn
    out = done.stdout
    assert "\x1b[" not in out  # plain text: no escape sequences
    assert "# Overview\n\nOne function, `f`." in out  # streamed as it came, markdown source kept
    assert "> edit_file" in out
    assert "+    return 2" in out
    assert "refused" in out
    assert not (root / "made-by-shell").exists()
    assert "undid the last change (edit_file" in out
    assert (root / "app.py").read_text() == SAMPLE["app.py"]
    assert "unknown command /bogus" in out
    assert "/think takes one of" in out
    assert "Traceback" not in out + done.stderr
    assert len(calls) == 5
    users = [m["content"] for m in calls[-1].request["messages"] if m["role"] == "user"]
    assert users[-3:] == ["what is here?", "change f to return 2", "make a file"]
    assert f"prompt {sum(c.prompt_tokens for c in calls):,} tokens ({sum(c.cache_hit for c in calls):,} hit" in out
    assert len(Ledger(root).read()) == 5  # every call also went to the project's cost ledger
    sessions = list_sessions(root)
    assert len(sessions) == 1
    assert sessions[0].start.kind == "chat"
    assert f"--resume {sessions[0].session_id}" in done.stderr


def test_piped_resume_continues_with_the_cached_prefix(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    replies = [ScriptedReply(content="First."), ScriptedReply(content="Second."), ScriptedReply(content="Third.")]
    with StandIn(replies=replies) as server:
        first = run_cli("chat", str(root), "--base-url", server.base_url, env=_env(), input_text="one\ntwo\n")
        assert first.returncode == 0, first.stderr
        sid = list_sessions(root)[0].session_id
        resumed = run_cli("chat", str(root), "--resume", sid[:12], "--base-url", server.base_url, env=_env(),
                          input_text="three\n")
        assert resumed.returncode == 0, resumed.stderr
        calls = list(server.calls)
    assert "resumed session " + sid in resumed.stdout
    assert "Third." in resumed.stdout
    before, after = calls[1], calls[2]
    assert after.request["messages"][: len(before.request["messages"])] == before.request["messages"]
    assert after.request["tools"] == before.request["tools"]
    assert after.cache_hit == after.theoretical_max_hit >= before.prompt_tokens + before.output_tokens - 16
    assert len(list_sessions(root)) == 1  # the same session went on


def test_chat_errors_are_one_line(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    done = run_cli("chat", str(plain), env=_env(), input_text="")
    assert done.returncode == 2
    assert "not inside a git repository" in done.stderr
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    done = run_cli("chat", str(root), input_text="hi\n")
    assert done.returncode != 0
    assert "no API key" in done.stderr
    assert "DEEPSEEK_API_KEY" in done.stderr
    done = run_cli("chat", str(root), "--resume", "nope", env=_env(), input_text="")
    assert done.returncode == 2
    assert "no sessions" in done.stderr
    for output in (done.stdout, done.stderr):
        assert "Traceback" not in output


def test_slash_commands_that_change_the_session(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    replies = [
        ScriptedReply(tool_calls=[_edit("app.py", "return 1", "return 2")]),
        ScriptedReply(tool_calls=[_edit("README.md", "hello", "hello there")]),
        ScriptedReply(content="Two edits."),
        ScriptedReply(content="On the pro model now."),
        ScriptedReply(content="Summary: two edits were undone."),  # the /compact request
        ScriptedReply(content="After the compaction."),
        ScriptedReply(content="A fresh start."),
    ]
    script = ("edit two files\n/undo turn\n/help\n/model deepseek-v4-pro\nand now?\n/compact\nstill there?\n"
              "/model nonsense-model\n/drop notes/todo.txt\n/add notes/todo.txt\n/sessions\n/clear\nhello again\n")
    with StandIn(replies=replies) as server:
        done = run_cli("chat", str(root), "--base-url", server.base_url, env=_env(), input_text=script)
        calls = list(server.calls)
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in out + done.stderr
    # /undo turn put back both edits of the turn, and the model is told with the next message.
    assert "undid the edits of turn 1: README.md, app.py" in out
    assert (root / "app.py").read_text() == SAMPLE["app.py"]
    assert (root / "README.md").read_text() == "hello\n"
    assert "the user undid the edits of turn 1" in calls[3].request["messages"][-1]["content"]
    assert "Alt+Enter" in out
    assert "/resume ID" in out
    # /model says what the miss costs first, then the next call runs on the new model (a new cache).
    assert "switching to deepseek-v4-pro starts a new cache: the next call re-sends" in out
    assert calls[3].request["model"] == "deepseek-v4-pro"
    assert calls[3].cache_hit == 0
    # /compact: a summary request on the cached prefix, then the conversation restarts from it.
    assert calls[4].request["messages"][:-1] == [*calls[3].request["messages"], calls[3].reply]
    assert "Summary: two edits were undone." in calls[5].request["messages"][3]["content"]
    assert "unknown model 'nonsense-model'" in out
    # /drop then /add: each rebuilds the pack (a cache miss, said first); the pack text follows.
    assert "dropping notes/todo.txt (a new pack) starts a new cache" in out
    assert "adding notes/todo.txt (a new pack) starts a new cache" in out
    # /clear: a new session on the same pack, whose prefix is still cached.
    first_id = out.split("session ", 1)[1].split(" ", 1)[0]
    ids = {s.session_id for s in list_sessions(root)}
    assert len(ids) == 2
    assert first_id in ids
    assert f"new session {(ids - {first_id}).pop()} on the same pack (session {first_id} is saved" in out
    first_pack = calls[0].request["messages"][1]["content"]
    assert calls[6].request["messages"][1]["content"] == first_pack
    assert len(calls[6].request["messages"]) == 4


def test_piped_chat_output_shows_no_secret(tmp_path: Path) -> None:
    """Piped, stdout is often a log: the edit's diff and /diff show the placeholder beside the edited line."""
    password = "correct-horse-" + "battery-staple"
    root = make_git_repo(tmp_path / "repo", {**SAMPLE, "settings.py": f'DEBUG = True\nPASSWORD = "{password}"\n'})
    replies = [ScriptedReply(tool_calls=[_edit("settings.py", "DEBUG = True", "DEBUG = False")]),
               ScriptedReply(content="DEBUG is off.")]
    with StandIn(replies=replies) as server:
        done = run_cli("chat", str(root), "--base-url", server.base_url, env=_env(),
                       input_text="turn debug off\n/diff\n")
    assert done.returncode == 0, done.stderr
    assert "+DEBUG = False" in done.stdout
    assert done.stdout.count("«REDACTED:") >= 2
    assert password not in done.stdout + done.stderr
