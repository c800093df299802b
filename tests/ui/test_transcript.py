"""The conversation as text, and failing tests read from pytest and unittest output (pure functions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from v4agent.ui.testfailures import Failure, failures, last_test_output
from v4agent.ui.transcript import recent_turns, transcript_lines

MESSAGES = [
    {"role": "system", "content": "You are an agent."},
    {"role": "user", "content": "The repository, packed ..."},
    {"role": "user", "content": "Task:\nfix it"},
    {"role": "assistant", "content": "Looking.", "reasoning_content": "hmm",
     "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "run_tests", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "$ pytest\nFAILED (exit status 1)\n" + "line\n" * 50},
    {"role": "assistant", "content": "Done."},
    {"role": "user", "content": "and the docs?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c2", "type": "function", "function": {"name": "read_file", "arguments": json.dumps({"path": "x" * 200})}}]},
]


def test_transcript_names_the_pack_and_clips_long_results() -> None:
    lines = transcript_lines(MESSAGES, max_lines=5, pack_indexes={1})
    assert lines[0] == "[system prompt, 17 characters]"
    assert lines[1] == "[the packed repository, 26 characters]"
    assert lines[2:5] == ["you:", "  Task:", "  fix it"]
    assert "model (thinking):" in lines
    assert "  ▶ run_tests " in lines
    assert "    … 47 more line(s)" in lines
    assert any(line.startswith('  ▶ read_file path="xxx') and line.endswith("…") for line in lines)


def test_recent_turns_start_at_a_person_s_message() -> None:
    assert recent_turns(MESSAGES, 1, pack_indexes={1}) == MESSAGES[6:]
    assert recent_turns(MESSAGES, 5, pack_indexes={1}) == MESSAGES[2:]
    assert recent_turns(MESSAGES[:2], 3, pack_indexes={1}) == []


def test_last_test_output_is_the_last_run_tests_result() -> None:
    assert last_test_output(MESSAGES).startswith("$ pytest\nFAILED")
    assert last_test_output(MESSAGES[:3]) == ""


def test_failures_from_real_pytest_and_unittest_runs(tmp_path: Path) -> None:
    (tmp_path / "test_a.py").write_text(
        "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_x(self):\n        self.assertEqual(1 + 1, 3)\n\n"
        "    def test_y(self):\n        raise KeyError('k')\n\n    def test_ok(self):\n        pass\n")
    unit = subprocess.run([sys.executable, "-m", "unittest", "discover", "-q", "-s", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert sorted(failures(unit.stdout + unit.stderr), key=lambda f: f.name) == [
        Failure("test_a.T.test_x", "AssertionError: 2 != 3"), Failure("test_a.T.test_y", "KeyError: 'k'")]
    pytest_run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_a.py"],
                                capture_output=True, text=True, cwd=tmp_path)
    assert failures(pytest_run.stdout) == [Failure("test_a.py::T::test_x", "AssertionError: 2 != 3"),
                                           Failure("test_a.py::T::test_y", "KeyError: 'k'")]
    assert failures("FAILED (failures=1)\nsomething else") == []
