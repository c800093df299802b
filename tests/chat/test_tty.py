"""`v4agent chat` in a real pseudo-terminal against the loopback stand-in.

The child's output is fed to a terminal emulator (pyte), which also answers prompt-toolkit's cursor
position requests, so assertions read the screen a user would see (status bar included).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pyte

from tests.conftest import make_git_repo
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

ROWS, COLS = 40, 110
FIXTURE = Path(__file__).parent / "fixtures" / "chat_session_screen.txt"
SAMPLE = {"app.py": 'def greet(name):\n    return "hello " + name\n', "README.md": "# demo\n"}
ANSWER = ("## What `greet` does\n\nIt builds a greeting:\n\n```python\ndef greet(name):\n"
          '    return "hello " + name\n```\n\nNothing else is in the repository.\n')


class Term:
    """A child process on a pty, rendered by a terminal emulator."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.screen = pyte.HistoryScreen(COLS, ROWS, history=5000)  # keeps what scrolled off the top
        self.stream = pyte.ByteStream(self.screen)
        self.child = pexpect.spawn(sys.executable, ["-m", "v4agent", *args], env=env, dimensions=(ROWS, COLS))
        self.screen.write_process_input = lambda data: self.child.send(data)  # answers CPR queries

    def pump(self, seconds: float = 0.1) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.child.read_nonblocking(65536, timeout=0.02)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                return
            self.stream.feed(data)

    def text(self) -> str:
        scrolled = ["".join(line[x].data for x in range(COLS)) for line in self.screen.history.top]
        return "\n".join(line.rstrip() for line in [*scrolled, *self.screen.display])

    def wait(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pump(0.05)
            found = re.search(pattern, self.text())
            if found:
                return found
        raise AssertionError(f"{pattern!r} not on screen after {timeout}s:\n{self.text()}")

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.text()))

    def wait_count(self, pattern: str, count: int, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pump(0.05)
            if self.count(pattern) >= count:
                return
        raise AssertionError(f"{pattern!r} not {count} times on screen:\n{self.text()}")

    def send(self, text: str) -> None:
        self.child.send(text)

    def close(self) -> int:
        self.child.expect(pexpect.EOF, timeout=20)
        self.child.close()
        return int(self.child.exitstatus if self.child.exitstatus is not None else -1)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update({"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "low", "TERM": "xterm-256color"})
    return env


def _shell(command: str) -> ScriptedToolCall:
    return ScriptedToolCall("shell", json.dumps({"command": command}))


def test_tty_streams_markdown_approves_refuses_costs_and_resumes(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    replies = [
        ScriptedReply(reasoning="The user asks about greet; app.py has it.", content=ANSWER),
        ScriptedReply(reasoning="List the files.", tool_calls=[_shell("ls *.py")]),
        ScriptedReply(reasoning="Now the risky one.", tool_calls=[_shell("rm -f README.md")]),
        ScriptedReply(reasoning="Done.", content="I listed the files; removing README.md was declined."),
        ScriptedReply(reasoning="Recall.", content="We talked about `greet` in app.py."),
    ]
    with StandIn(replies=replies, chunk_chars=5) as server:
        term = Term(["chat", str(root), "--base-url", server.base_url], _env())
        term.wait(r"you>")
        term.wait(r"deepseek:deepseek-v4-flash .* ctx")  # the status bar
        term.send("what does greet do?\r")
        term.wait(r"Nothing else is in the repository\.")
        screen = term.text()
        assert "What greet does" in screen  # markdown heading rendered (no '##', no backticks)
        assert "## What" not in screen
        assert "```" not in screen
        assert "The user asks about greet" in screen  # thinking shown (dimmed)
        term.wait(r"cache last \d+%")

        term.send("list the python files, then delete the README\r")
        term.wait(r"ls \*\.py")
        term.wait(r"allow\? \[y\]es / \[n\]o / \[a\]lways")
        term.send("y\r")
        term.wait(r"✓ shell")
        term.wait_count(r"allow\? \[y\]es", 2)
        term.send("n\r")
        term.wait(r"✗ shell")
        term.wait(r"removing README\.md was declined")
        assert (root / "README.md").exists()
        assert "declined" in server.calls[3].request["messages"][-1]["content"]

        term.send("/cost\r")
        found = term.wait(r"(\d+) calls, prompt ([\d,]+) tokens \(([\d,]+) hit, ([\d,]+) miss\), output ([\d,]+)")
        calls, prompt, hit, miss, output = (int(g.replace(",", "")) for g in found.groups())
        assert calls == len(server.calls) == 4
        assert prompt == sum(c.prompt_tokens for c in server.calls)
        assert hit == sum(c.cache_hit for c in server.calls)
        assert hit > 0
        assert miss == sum(c.cache_miss for c in server.calls)
        assert output == sum(c.output_tokens for c in server.calls)

        term.wait(r"\$[\d.]+\s*$")  # the status bar is back under the prompt
        if os.environ.get("CHAT_WRITE_SCREEN"):  # refresh the fixture: CHAT_WRITE_SCREEN=1 pytest ...
            FIXTURE.write_text(term.text().rstrip() + "\n", encoding="utf-8")
        term.send("\x04")  # Ctrl-D: save and exit
        term.wait(r"continue it with: v4agent chat --resume")
        assert term.close() == 0

        before = server.calls[-1]
        resumed = Term(["chat", str(root), "--base-url", server.base_url, "--resume"], _env())
        resumed.wait(r"resumed session")
        resumed.wait(r"you>")
        resumed.send("\x1b[A")  # Up: the history is kept across sessions
        resumed.wait(r"you> /cost")
        resumed.send("\x15/he\t")  # Ctrl-U clears the line; Tab completes the command
        resumed.wait(r"you> /help")
        resumed.send(" \x15look at @app.p\t")
        resumed.wait(r"you> look at @app\.py")
        resumed.send("\x15what did we talk about?\r")
        resumed.wait(r"We talked about greet")
        resumed.send("\x04")
        assert resumed.close() == 0
        again = server.calls[-1]
        # The resumed request extends the last one byte for byte: it hits all of it (input and output).
        assert again.request["messages"][: len(before.request["messages"])] == before.request["messages"]
        assert again.cache_hit >= before.prompt_tokens + before.output_tokens - 16
        assert again.cache_hit == again.theoretical_max_hit


def test_tty_ctrl_c_cancels_a_turn_and_the_next_one_works(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    long_answer = "Counting slowly: " + " ".join(f"step{i}" for i in range(400))
    replies = [ScriptedReply(content=long_answer), ScriptedReply(content="Second answer arrived.")]
    with StandIn(replies=replies, chunk_chars=8, chunk_delay=0.02) as server:
        term = Term(["chat", str(root), "--base-url", server.base_url], _env())
        term.wait(r"you>")
        term.send("count for me\r")
        term.wait(r"Counting slowly: step0")
        term.send("\x03")  # Ctrl-C mid-stream
        term.wait(r"turn cancelled; the session is kept")
        assert "step399" not in term.text()
        term.wait_count(r"you>", 2)
        term.send("and now?\r")
        term.wait(r"Second answer arrived\.")
        second = server.calls[1].request["messages"]
        assert [m["content"] for m in second if m["role"] == "user"][-2:] == ["count for me", "and now?"]
        assert server.calls[1].cache_hit >= server.calls[0].prompt_tokens - 16  # the cancelled input was stored
        term.wait_count(r"you>", 3)
        term.send("\x03")
        term.wait(r"Ctrl-C again or Ctrl-D to exit")
        term.send("\x03")  # twice at the prompt: exit, session saved
        term.wait(r"session \S+ saved")
        assert term.close() == 0


def test_screen_capture_fixture_shows_a_session() -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    for fragment in ("you> what does greet do?", "What greet does", "allow? [y]es / [n]o / [a]lways", "✓ shell",
                     "✗ shell", "calls, prompt"):
        assert fragment in text, fragment
