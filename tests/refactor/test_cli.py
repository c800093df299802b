"""`v4agent refactor` end to end: the real CLI in a subprocess against the loopback stand-in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_git_repo, run_cli
from v4agent.accounting import load_price_table, price_call
from v4agent.engine.types import Usage
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {
    "calc/__init__.py": "",
    "calc/core.py": 'def add_numbers(a, b):\n    """Add two numbers."""\n    return a + b\n',
    "calc/api.py": "from calc.core import add_numbers\n\n\ndef total(values):\n    out = 0\n"
                   "    for v in values:\n        out = add_numbers(out, v)\n    return out\n",
    "tests/test_calc.py": "from calc.api import total\nfrom calc.core import add_numbers\n\n\n"
                          "def test_add():\n    assert add_numbers(2, 3) == 5\n\n\n"
                          "def test_total():\n    assert total([1, 2, 3]) == 6\n",
    "conftest.py": "",
}
TEST_CMD = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def _rename_script() -> list[ScriptedReply]:
    return [
        ScriptedReply(content="ready"),  # the priming call
        ScriptedReply(tool_calls=[ScriptedToolCall("grep", '{"pattern": "add_numbers"')]),  # malformed JSON
        ScriptedReply(content="Find every use.", tool_calls=[_call("grep", pattern="add_numbers")]),
        ScriptedReply(tool_calls=[_call("read_file", path="calc/core.py")]),
        ScriptedReply(tool_calls=[_call("edit_file", path="calc/core.py", old_text="def add_numbers(a, b):",
                                        new_text="def sum_numbers(a, b):")]),
        ScriptedReply(tool_calls=[
            _call("edit_file", path="calc/api.py", old_text="add_numbers", new_text="sum_numbers", replace_all=True),
            _call("edit_file", path="tests/test_calc.py", old_text="add_numbers", new_text="sum_numbers",
                  replace_all=True)]),
        ScriptedReply(tool_calls=[_call("run_tests")]),
        ScriptedReply(tool_calls=[_call("finish", summary="Renamed add_numbers to sum_numbers in three files.")]),
    ]


def _env() -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def test_scripted_multi_file_refactor(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    finish_again = ScriptedReply(tool_calls=[_call("finish", summary="nothing to do")])
    with StandIn(replies=[*_rename_script(), finish_again]) as server:
        done = run_cli("refactor", str(root), "rename add_numbers to sum_numbers", "--base-url", server.base_url,
                       "--yes", "--json", "--test-cmd", TEST_CMD, env=_env(), timeout=300)
        records = list(server.calls)
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads(done.stdout)
        assert report["status"] == "finished"
        assert report["tests"]["status"] == "pass"
        assert report["summary"] == "Renamed add_numbers to sum_numbers in three files."
        expected = {rel: text.replace("add_numbers", "sum_numbers") for rel, text in SAMPLE.items()}
        for rel, text in expected.items():
            assert (root / rel).read_text() == text
        assert sorted(report["changed_files"]) == ["calc/api.py", "calc/core.py", "tests/test_calc.py"]
        assert report["diff"] == _git(root, "diff", "--no-color", "HEAD")
        assert report["diff"].count("+def sum_numbers") == 1
        assert report["diff"].count("-def add_numbers") == 1
        answered = records[2].request["messages"][-1]  # the malformed call got an error result, no crash
        assert answered["role"] == "tool"
        assert "json" in answered["content"].lower()

        # A second session on the same repository state (restored by `v4agent undo`) hits the primed pack
        # without priming again.
        assert run_cli("undo", str(root)).returncode == 0
        assert _git(root, "status", "--porcelain") == ""
        second = run_cli("refactor", str(root), "another task", "--base-url", server.base_url, "--yes", "--json",
                         "--test-cmd", TEST_CMD, env=_env(), timeout=300)
        assert second.returncode == 0, second.stderr[-3000:]
        second_first = server.calls[len(records)]
    assert len(second_first.request["messages"]) == 3  # no priming call this time
    # The pack as far as the priming request and the first turn agree: all of it but the token the task
    # re-tokenizes (tests/agent/test_session.py::test_first_turn_hits_the_primed_pack_in_full, a known
    # layout bug, expects all of it).
    assert second_first.cache_hit >= records[0].input_end - 2

    # Reported cost equals the stand-in's usage, priced. The prime call's stream is cut by design, so it is
    # priced from our own count (the same prompt tokens and hit); the turns are priced from the billed usage.
    table = load_price_table()
    billed = sum(price_call(table, "deepseek-v4-flash", Usage(r.prompt_tokens, r.output_tokens, r.cache_hit,
                                                               r.cache_miss, r.reasoning_tokens),
                            datetime.now(UTC)).total_usd for r in records[1:])
    by_kind = {row["kind"]: row for row in report["cost_by_kind"]}
    assert by_kind["turn"]["cost_usd"] == pytest.approx(billed, rel=1e-9)
    assert by_kind["turn"]["hit"] == sum(r.cache_hit for r in records[1:])
    # The cut prime call is priced from the client's own count: the request as the published encoder renders
    # it (tool instructions and schemas included), so exactly what the stand-in counted.
    assert by_kind["prime"]["prompt"] == records[0].prompt_tokens
    assert by_kind["prime"]["miss"] == by_kind["prime"]["prompt"] - by_kind["prime"]["hit"]
    assert records[1].cache_hit <= records[0].input_end  # see the priming note above
    ledger = [json.loads(line) for line in (root / ".v4agent" / "ledger.jsonl").read_text().splitlines()]
    assert sum(r["total_usd"] for r in ledger[: len(records)]) == pytest.approx(report["cost"]["cost_usd"])


def test_refactor_refuses_a_dirty_tree_and_bad_input(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    (root / "calc" / "core.py").write_text("changed\n")
    dirty = run_cli("refactor", str(root), "do it", env=_env())
    assert dirty.returncode == 2
    assert "--allow-dirty" in dirty.stderr
    assert "Traceback" not in dirty.stderr
    no_task = run_cli("refactor", str(root), env=_env())
    assert no_task.returncode == 2
    assert "task" in no_task.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    assert run_cli("refactor", str(plain), "x", env=_env()).returncode == 2


def test_without_a_key_it_packs_and_shows_the_estimate(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    done = run_cli("refactor", str(root), "do it")
    assert done.returncode == 6, done.stderr
    assert "DEEPSEEK_API_KEY" in done.stderr
    assert "deepseek-v4-pro" in done.stdout
    as_json = json.loads(run_cli("refactor", str(root), "do it", "--json").stdout)
    assert as_json["pack_tokens"] > 0
    assert as_json["estimates"]
    assert as_json["exit_code"] == 6


def test_ctrl_c_saves_the_session_and_resume_continues_it(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    release = threading.Event()
    seen: list[int] = []

    def handler(body: dict[str, Any]) -> ScriptedReply:
        messages = body["messages"]
        if len(messages) == 2:
            return ScriptedReply(content="ready")
        turn = sum(1 for m in messages if m["role"] == "assistant") + 1
        seen.append(turn)
        if turn == 3 and not release.is_set():
            release.wait(20)  # hold the reply: the client is waiting when Ctrl-C comes
            return ScriptedReply(content="late")
        if any("resumed" in str(m.get("content")) for m in messages):
            return ScriptedReply(tool_calls=[_call("finish", summary="resumed and done")])
        return ScriptedReply(tool_calls=[_call("read_file", path="calc/core.py")])

    with StandIn(handler=handler) as server:
        env = {**os.environ, **_env(), "COLUMNS": "160"}
        proc = subprocess.Popen([sys.executable, "-m", "v4agent", "refactor", str(root), "look around",
                                 "--base-url", server.base_url, "--yes", "--test-cmd", TEST_CMD],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while 3 not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        release.set()
        assert proc.returncode == 5, err[-3000:]
        interrupted = server.calls[-1].request["messages"]
        (session,) = json.loads(run_cli("sessions", "-C", str(root), "--json").stdout)
        assert session["status"] == "interrupted"
        resumed = run_cli("refactor", str(root), "--resume", session["id"], "--base-url", server.base_url,
                          "--yes", "--json", "--test-cmd", TEST_CMD, env=_env(), timeout=300)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        first_resumed = server.calls[len(server.calls) - 1].request["messages"]
    assert first_resumed[: len(interrupted)] == interrupted  # the same messages...
    assert json.dumps(server.calls[-1].request["tools"]) == json.dumps(server.calls[-2].request["tools"])  # ...bytes
    assert server.calls[-1].cache_hit >= server.calls[-1].prompt_tokens * 0.9
    assert json.loads(resumed.stdout)["summary"] == "resumed and done"


def test_a_refused_key_exits_6_and_another_engine_error_exits_1(tmp_path: Path) -> None:
    """Exit 6 says "set or fix the key / start the engine"; a request the engine rejects is a failure (1)."""
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    with StandIn([ScriptedReply(content="unused")], api_key="sk-the-right-one") as server:
        refused = run_cli("refactor", str(root), "look", "--base-url", server.base_url, "--prime", "never",
                          "--test-cmd", TEST_CMD, env=_env())
        piped = run_cli("chat", str(root), "--base-url", server.base_url, env=_env(), input_text="hello\n")
    assert refused.returncode == 6, refused.stderr[-2000:]
    assert "api key is invalid" in refused.stdout.lower()
    assert piped.returncode == 6
    with StandIn([ScriptedReply(content="unused")], context_window=200) as small:  # every request is too long
        rejected = run_cli("refactor", str(root), "look", "--base-url", small.base_url, "--prime", "never",
                           "--test-cmd", TEST_CMD, env=_env())
        piped = run_cli("chat", str(root), "--base-url", small.base_url, env=_env(), input_text="hello\n")
    assert rejected.returncode == 1, rejected.stderr[-2000:]
    assert "maximum context length" in rejected.stdout
    assert piped.returncode == 1


def test_no_secret_reaches_the_model_the_session_or_the_report(tmp_path: Path) -> None:
    """An edit beside a secret: the tool results the model gets, the session log and the final diff on stdout
    (often a CI log) all show the placeholder, never the value."""
    password = "correct-horse-" + "battery-staple"
    root = make_git_repo(tmp_path / "repo", {**SAMPLE, "calc/settings.py":
                                             f'DEBUG = True\nDB_PASSWORD = "{password}"\nTIMEOUT = 3\n'})
    replies = [
        ScriptedReply(tool_calls=[_call("grep", pattern="PASSWORD")]),
        ScriptedReply(tool_calls=[_call("shell", command="cat calc/settings.py")]),
        ScriptedReply(tool_calls=[_call("edit_file", path="calc/settings.py", old_text="DEBUG = True",
                                        new_text="DEBUG = False")]),
        ScriptedReply(tool_calls=[_call("git_diff")]),
        ScriptedReply(tool_calls=[_call("finish", summary="Turned DEBUG off.")]),
    ]
    with StandIn(replies) as server:
        done = run_cli("refactor", str(root), "turn debug off", "--base-url", server.base_url, "--prime", "never",
                       "--yes", "--json", "--test-cmd", TEST_CMD, env=_env())
        sent = json.dumps([call.request for call in server.calls], ensure_ascii=False)
    assert done.returncode == 0, done.stderr[-2000:]
    settings = (root / "calc/settings.py").read_text(encoding="utf-8")
    assert "DEBUG = False" in settings
    assert password in settings
    assert password not in sent
    assert sent.count("«REDACTED:") >= 4
    assert password not in done.stdout
    assert "-DEBUG = True" in json.loads(done.stdout)["diff"]
    logs = "".join(p.read_text(encoding="utf-8") for p in (root / ".v4agent").rglob("*") if p.is_file()
                   and p.suffix in {".jsonl", ".txt"})
    assert logs
    assert password not in logs
