"""`v4agent refactor --attempts N` end to end: the real CLI, real git worktrees, the sandbox and the stand-in.

The scripted model answers by attempt (its strategy hint is in the task message): attempt 1 breaks the tests,
attempts 2 and 3 pass them with different changes, and the judge picks attempt 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {
    "calc/__init__.py": "",
    "calc/core.py": 'def add_numbers(a, b):\n    """Add two numbers."""\n    return a + b\n',
    "tests/test_calc.py": "from calc.core import add_numbers\n\n\ndef test_add():\n    assert add_numbers(2, 3) == 5\n",
    "conftest.py": "",
}
TEST_CMD = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"
BROKEN = ('    return a + b\n', '    return a - b\n')  # attempt 1: the tests fail
GOOD = ('"""Add two numbers."""', '"""Return the sum of a and b."""')  # attempt 2: the judge's pick
OTHER = ('def add_numbers(a, b):\n', 'def add_numbers(a: int, b: int) -> int:\n')  # attempt 3: passes too
EDITS = {"broken": BROKEN, "doc": GOOD, "types": OTHER}


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


class Model:
    """The scripted model: replies by attempt and step; records what it was asked."""

    def __init__(self, judge_pick: int = 2, on_finish: Any = None) -> None:
        self.judge_pick = judge_pick
        self.on_finish = on_finish
        self.lock = threading.Lock()
        self.seen: list[str] = []

    def __call__(self, body: dict[str, Any]) -> ScriptedReply:
        messages = body["messages"]
        if len(messages) == 2:
            return ScriptedReply(content="ready")  # the priming call
        last = _text(messages[-1])
        if "Pick the one change" in last:
            with self.lock:
                self.seen.append("judge")
            return ScriptedReply(content=json.dumps({"choice": self.judge_pick, "reason": "clearest docstring"}))
        task = _text(messages[2])
        name = task.rsplit("Strategy for this attempt: ", 1)[-1].strip()
        step = sum(1 for m in messages if m.get("role") == "assistant")
        with self.lock:
            self.seen.append(f"{name}:{step}")
        old, new = EDITS[name]
        if step == 0:
            return ScriptedReply(tool_calls=[_call("edit_file", path="calc/core.py", old_text=old, new_text=new)])
        if step == 1:
            return ScriptedReply(tool_calls=[_call("run_tests")])
        if self.on_finish is not None:
            self.on_finish(name)
        return ScriptedReply(tool_calls=[_call("finish", summary=f"done: {name}")])


def _env() -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def _run(root: Path, server: StandIn, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("refactor", str(root), "improve add_numbers", "--attempts", "3", "--strategies",
                   "broken;doc;types", "--base-url", server.base_url, "--yes", "--json", "--test-cmd", TEST_CMD,
                   "--prime", "always", *extra, env=_env(), timeout=300)


def test_best_of_three_applies_the_judges_passing_pick(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    model = Model(judge_pick=2)
    with StandIn(handler=model) as server:
        done = _run(root, server)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    by_number = {a["number"]: a for a in report["attempts"]}
    assert [by_number[n]["tests"] for n in (1, 2, 3)] == ["fail", "pass", "pass"]
    assert [by_number[n]["strategy"] for n in (1, 2, 3)] == ["broken", "doc", "types"]
    assert by_number[2]["temperature"] != by_number[3]["temperature"]  # sampling varies per attempt
    sel = report["selection"]
    assert (sel["chosen"], sel["method"], sel["applied"]) == (2, "judge", True)
    assert sel["reason"] == "clearest docstring"
    # The user's tree holds exactly attempt 2's change.
    assert (root / "calc/core.py").read_text() == SAMPLE["calc/core.py"].replace(*GOOD)
    assert _git(root, "status", "--porcelain", "--untracked-files=all").splitlines() == [" M calc/core.py"]
    # The worktrees are gone, from disk and from git's list.
    group = report["group"]
    assert not any((root / ".v4agent" / "attempts" / group / str(n)).exists() for n in (1, 2, 3))
    assert len(_git(root, "worktree", "list", "--porcelain").split("worktree ")) == 2
    # One priming call; every attempt's first call hits the whole primed prefix (the stand-in's bill).
    primes = [c for c in calls if len(c.request["messages"]) == 2]
    assert len(primes) == 1
    prefix = primes[0].input_end
    firsts = [c for c in calls if len(c.request["messages"]) == 3 and "Pick the one" not in
              _text(c.request["messages"][-1])]
    assert len(firsts) == 3
    for call in firsts:
        assert call.cache_hit is not None
        assert call.cache_hit >= 0.99 * prefix, (call.cache_hit, prefix)
    judge = [c for c in calls if "Pick the one" in _text(c.request["messages"][-1])]
    assert len(judge) == 1
    assert (judge[0].cache_hit or 0) >= 0.99 * prefix
    for attempt in report["attempts"]:
        assert attempt["first_hit_tokens"] >= 0.99 * prefix
        assert attempt["turns"] == 3
        assert attempt["cost_usd"] > 0
    assert report["total_usd"] > report["one_attempt_usd"] > 0
    # Every attempt is an ordinary session with its own file; the others stay inspectable.
    sessions = sorted(p.stem for p in (root / ".v4agent" / "sessions").glob("*.jsonl"))
    assert [a["session_id"] for a in report["attempts"]] == sorted(a["session_id"] for a in report["attempts"])
    assert set(a["session_id"] for a in report["attempts"]) <= set(sessions)
    shown = run_cli("attempts", "show", group, "--path", str(root), "--diff", "3", env=_env())
    assert shown.returncode == 0, shown.stderr
    assert "add_numbers(a: int, b: int)" in shown.stdout


def test_tests_selection_never_picks_a_failing_attempt(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    with StandIn(handler=Model()) as server:
        done = _run(root, server, "--select", "tests", "--parallel", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    chosen = report["selection"]["chosen"]
    assert report["selection"]["method"] == "tests"
    assert {a["number"]: a["tests"] for a in report["attempts"]}[chosen] == "pass"
    assert chosen in (2, 3)


def test_a_persons_edit_during_the_run_is_never_overwritten(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    mine = "# my own edit, made while the attempts ran\n" + SAMPLE["calc/core.py"]

    def person_edits(name: str) -> None:
        (root / "calc/core.py").write_text(mine)

    with StandIn(handler=Model(judge_pick=2, on_finish=person_edits)) as server:
        done = _run(root, server)
    assert done.returncode == 1, done.stderr[-3000:]
    report = json.loads(done.stdout)
    sel = report["selection"]
    assert sel["chosen"] == 2
    assert not sel["applied"]
    assert "calc/core.py changed since the run started" in sel["apply_note"]
    assert (root / "calc/core.py").read_text() == mine  # the person's edit stands
    kept = root / ".v4agent" / "attempts" / report["group"] / "2.diff"
    assert kept.is_file()
    assert "Return the sum of a and b." in kept.read_text()
    # Applying it by hand later is refused the same way, and still changes nothing.
    again = run_cli("attempts", "apply", report["group"], "2", "--path", str(root), env=_env())
    assert again.returncode == 1
    assert "changed since the run started" in again.stderr
    assert (root / "calc/core.py").read_text() == mine


def test_attempts_apply_of_another_attempt(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    with StandIn(handler=Model(judge_pick=2)) as server:
        done = _run(root, server)
    report = json.loads(done.stdout)
    subprocess.run(["git", "-C", str(root), "checkout", "--", "calc/core.py"], check=True)
    applied = run_cli("attempts", "apply", report["group"], "3", "--path", str(root), env=_env())
    assert applied.returncode == 0, applied.stderr
    assert (root / "calc/core.py").read_text() == SAMPLE["calc/core.py"].replace(*OTHER)


def test_bad_flags_are_usage_errors(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    for extra in (["--attempts", "0"], ["--attempts", "2", "--select", "best"], ["--attempts", "2", "--resume", "x"],
                  ["--attempts", "2", "--parallel", "0"]):
        done = run_cli("refactor", str(root), "task", *extra, "--base-url", "http://127.0.0.1:9", env=_env())
        assert done.returncode == 2, (extra, done.stderr)
        assert "Traceback" not in done.stderr
    missing = run_cli("attempts", "show", "nope", "--path", str(root), env=_env())
    assert missing.returncode == 2
    assert "no attempts run nope" in missing.stderr


def test_sigterm_stops_every_attempt_leaves_sessions_resumable_and_removes_worktrees(tmp_path: Path) -> None:
    import os
    import signal
    import time

    root = make_git_repo(tmp_path / "repo", SAMPLE)
    release = threading.Event()
    model = Model()

    def handler(body: dict[str, Any]) -> ScriptedReply:
        reply = model(body)
        if model.seen and model.seen[-1].endswith(":1"):
            release.wait(30)  # hold each attempt's second call until the signal was sent
        return reply

    with StandIn(handler=handler) as server:
        args = ["refactor", str(root), "improve add_numbers", "--attempts", "3", "--strategies", "broken;doc;types",
                "--base-url", server.base_url, "--yes", "--json", "--test-cmd", TEST_CMD, "--prime", "always"]
        proc = subprocess.Popen([sys.executable, "-m", "v4agent", *args], env={**os.environ, **_env()},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while sum(s.endswith(":1") for s in list(model.seen)) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            release.set()
            _out, err = proc.communicate(timeout=120)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 5, err[-3000:]
    assert "Traceback" not in err
    groups = list((root / ".v4agent" / "attempts").iterdir())
    assert len(groups) == 1
    manifest = json.loads((groups[0] / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert not any((groups[0] / str(n)).exists() for n in (1, 2, 3))
    assert len(_git(root, "worktree", "list", "--porcelain").split("worktree ")) == 2
    assert _git(root, "status", "--porcelain", "--untracked-files=all") == ""  # the user's tree untouched
    for attempt in manifest["attempts"]:
        assert attempt["status"] == "interrupted"
        lines = (root / ".v4agent" / "sessions" / f"{attempt['session_id']}.jsonl").read_text().splitlines()
        end = json.loads(lines[-1])
        assert end["type"] == "end"
        assert end["status"] == "interrupted"
    assert "return a - b" in (groups[0] / "1.diff").read_text()  # the work done so far is kept
    # One attempt alone is not resumed into the user's tree: the run is.
    alone = run_cli("refactor", str(root), "--resume", manifest["attempts"][0]["session_id"], "--base-url",
                    "http://127.0.0.1:9", "--yes", env=_env())
    assert alone.returncode == 2
    assert "v4agent attempts resume" in alone.stderr
    # The run resumes: each attempt continues its own session in a fresh worktree holding its work so far.
    with StandIn(handler=Model(judge_pick=2)) as server:
        resumed = run_cli("attempts", "resume", groups[0].name, "--path", str(root), "--base-url", server.base_url,
                          "--yes", "--json", "--test-cmd", TEST_CMD, env=_env(), timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    report = json.loads(resumed.stdout)
    assert [a["tests"] for a in report["attempts"]] == ["fail", "pass", "pass"]
    assert report["selection"]["chosen"] == 2
    assert report["selection"]["applied"]
    assert (root / "calc/core.py").read_text() == SAMPLE["calc/core.py"].replace(*GOOD)
    assert not any((groups[0] / str(n)).exists() for n in (1, 2, 3))
    for attempt in report["attempts"]:
        session = (root / ".v4agent" / "sessions" / f"{attempt['session_id']}.jsonl").read_text()
        assert '"type":"resume"' in session.replace(" ", "")
    again = run_cli("attempts", "resume", groups[0].name, "--path", str(root), "--base-url", "http://127.0.0.1:9",
                    env=_env())
    assert again.returncode == 2
    assert "was not interrupted" in again.stderr


def test_429s_during_the_fan_out_slow_the_group_instead_of_failing_it(tmp_path: Path) -> None:
    from v4agent.testing.records import Fault

    root = make_git_repo(tmp_path / "repo", SAMPLE)
    model = Model(judge_pick=2)
    holder: list[StandIn] = []

    def handler(body: dict[str, Any]) -> ScriptedReply:
        if len(body["messages"]) == 2:  # once primed, the attempts' parallel first calls meet 429s
            holder[0].faults.extend([Fault("429"), Fault("429"), Fault("429")])
        return model(body)

    with StandIn(handler=handler) as server:
        holder.append(server)
        done = _run(root, server)
        refused = [c for c in server.calls if c.status == 429]
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(refused) == 3
    report = json.loads(done.stdout)
    assert [a["status"] for a in report["attempts"]] == ["finished"] * 3
    assert report["selection"]["applied"]
