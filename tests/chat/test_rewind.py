"""/rewind through the piped chat: the files of the later turns and the conversation go back together, a file
the user changed meanwhile is left alone, and the next request hits the cache up to the rewind point."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from v4agent.agent.sessions.store import list_sessions
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {"app.py": "def f():\n    return 1\n", "README.md": "hello\n"}


def _env() -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}


def _tool(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def test_rewind_puts_back_files_and_conversation_and_the_next_request_hits_the_cache(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    script = [
        ScriptedReply(tool_calls=[_tool("edit_file", path="app.py", old_text="return 1", new_text="return 2")]),
        ScriptedReply(content="Changed f."),
        ScriptedReply(tool_calls=[_tool("write_file", path="notes.txt", content="agent notes\n")]),
        ScriptedReply(content="Wrote notes."),
        ScriptedReply(tool_calls=[_tool("edit_file", path="README.md", old_text="hello", new_text="hello there")]),
        ScriptedReply(content="Greeted."),
        ScriptedReply(content="Back at turn one."),
        ScriptedReply(tool_calls=[_tool("edit_file", path="app.py", old_text="return 2", new_text="return 3")]),
        ScriptedReply(content="Three."),
    ]

    def handler(body: dict[str, Any]) -> ScriptedReply:
        users = [m for m in body["messages"] if m["role"] == "user"]
        if users[-1]["content"] == "greet" and body["messages"][-1]["role"] == "user":
            (root / "notes.txt").write_text("agent notes\nand the user's own line\n")  # edited meanwhile
        return script.pop(0)

    lines = "change f\nwrite notes\ngreet\n/rewind 9\n/rewind 1\nwhat now?\nmake it three\n"
    with StandIn(handler=handler) as server:
        done = run_cli("chat", str(root), "--base-url", server.base_url, env=_env(), input_text=lines)
        calls = list(server.calls)
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in out + done.stderr
    assert "no turn 9 to rewind to: this chat is at turn 3" in out
    # The files: turn 1's edit stays, turn 3's is put back, the note the user changed is left alone.
    assert (root / "app.py").read_text() == "def f():\n    return 3\n"  # turn 1's edit stayed; turn 3 made it 3
    assert (root / "README.md").read_text() == "hello\n"
    assert (root / "notes.txt").read_text() == "agent notes\nand the user's own line\n"
    assert "/rewind 1 would:\n  restore    README.md\n  left alone notes.txt: changed since the session" in out
    assert "rewound to turn 1: the conversation is back to 7 messages; files put back: README.md" in out
    assert "left alone notes.txt: changed since the session" in out
    saved = re.search(r"saved what it replaced under (\.v4agent/undo/[0-9-]+)/", out)
    assert saved
    assert (root / saved.group(1) / "README.md").read_text() == "hello there\n"

    # The conversation: the next request is the one turn 2 started from, cut at the rewind point, plus the new
    # message (with a note about the file the user kept).
    turn2, after = calls[2].request["messages"], calls[6].request["messages"]
    prefix = turn2[:-1]
    assert len(prefix) == 7  # system, pack, task, then turn 1: message, tool call, result, answer
    assert after[: len(prefix)] == prefix
    assert len(after) == len(prefix) + 1
    assert after[-1]["content"].endswith("what now?")
    assert "notes.txt" in after[-1]["content"]
    assert calls[6].request["tools"] == calls[2].request["tools"]

    # The cache: expected (our mirror) and billed (the stand-in) agree, and cover the rewound prefix.
    expected = re.search(r"starts with these ([\d,]+) tokens, already sent: ([\d,]+) expected to hit", out)
    billed = re.search(r"after /rewind 1: the cache hit ([\d,]+) tokens \(expected ([\d,]+)\)", out)
    assert expected
    assert billed
    hit = calls[6].cache_hit
    assert int(billed.group(1).replace(",", "")) == hit
    # The client's mirror renders as the published encoder does, the stand-in bills by its own reading of it:
    # the expected hit is the billed one, to the token.
    assert int(billed.group(2).replace(",", "")) == hit
    rewound_tokens = int(expected.group(1).replace(",", ""))
    assert rewound_tokens == int(expected.group(2).replace(",", ""))  # all of it, up to the rewind point
    assert hit >= rewound_tokens  # the rewound prefix, and the generation marker after it
    assert calls[6].theoretical_max_hit - hit <= 1  # the most any cache could give: the next role marker too
    assert hit > calls[1].prompt_tokens  # turn 1's last request, and the answer it got
    assert "cache break" not in out  # going back is not a break

    (session,) = list_sessions(root)
    assert [c.turn for c in session.checkpoints] == [1, 3]  # turns 2 and 3 were rewound; the new turn 3 is live
    assert session.undos[-1].to_turn == 1
    assert session.undos[-1].skipped == ("notes.txt",)

    # Undoing the whole chat afterwards: app.py back to the start; notes.txt belongs to a rewound turn, so it
    # is not the chat's any more and stays as the user left it.
    undone = run_cli("undo", str(root))
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert (root / "app.py").read_text() == SAMPLE["app.py"]
    assert (root / "notes.txt").read_text() == "agent notes\nand the user's own line\n"


def test_rewind_stops_at_a_compaction(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    replies = [ScriptedReply(content="One."), ScriptedReply(content="Two."),
               ScriptedReply(content="Summary of one and two."),  # the /compact request
               ScriptedReply(content="Three."), ScriptedReply(content="Three again.")]
    lines = "one\ntwo\n/compact\n/rewind 1\nthree\n/rewind 1\n/rewind 2\nthree, take two\n"
    with StandIn(replies=replies) as server:
        done = run_cli("chat", str(root), "--base-url", server.base_url, env=_env(), input_text=lines)
        calls = list(server.calls)
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "/rewind: the conversation was summarized after turn 1; there is no earlier turn in it" in out
    assert "/rewind: the conversation was summarized after turn 1; /rewind 2 is the earliest" in out
    assert "rewound to turn 2: the conversation is back to 4 messages" in out
    assert [m["role"] for m in calls[-1].request["messages"]] == ["system", "user", "user", "user", "user"]
    assert calls[-1].request["messages"][3]["content"].endswith("Summary of one and two.")
    assert calls[-1].cache_hit >= calls[3].prompt_tokens - 64  # the compacted prefix, still cached
