"""The tool contract: byte-stable schemas and a dispatcher that answers every call with a result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import make_git_repo
from v4agent.tools.approval import ApprovalRequest
from v4agent.tools.registry import ToolContext, run_tool, tool_schemas
from v4agent.tools.search import grep

EXPECTED = {
    "delete_file": (["path"], []),
    "edit_file": (["path", "old_text", "new_text"], ["replace_all"]),
    "finish": (["summary"], []),
    "git_diff": ([], ["path"]),
    "grep": (["pattern"], ["path", "glob", "ignore_case", "max_results"]),
    "list_files": ([], ["pattern"]),
    "read_file": (["path"], ["start_line", "end_line"]),
    "run_tests": ([], ["command", "timeout_s"]),
    "shell": (["command"], ["timeout_s"]),
    "write_file": (["path", "content"], []),
}


def test_schema_names_and_arguments_exactly() -> None:
    schemas = tool_schemas()
    names = [s["function"]["name"] for s in schemas]
    assert names == sorted(EXPECTED)
    for schema in schemas:
        fn = schema["function"]
        required, optional = EXPECTED[fn["name"]]
        params = fn["parameters"]
        assert params["required"] == required
        assert list(params["properties"]) == required + optional
        jsonschema.Draft202012Validator.check_schema(params)


def test_schemas_byte_stable_across_processes() -> None:
    code = "import json; from v4agent.tools.registry import tool_schemas; print(json.dumps(tool_schemas(), sort_keys=True))"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(runs) == 1
    assert runs.pop().strip() == json.dumps(tool_schemas(), sort_keys=True)
    mutated = tool_schemas()
    mutated[0]["function"]["name"] = "changed"
    assert tool_schemas()[0]["function"]["name"] == "delete_file"  # callers get copies


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_git_repo(tmp_path / "repo", {
        "pkg/__init__.py": "",
        "pkg/calc.py": "def add(a, b):\n    return a + b\n",
        "tests/test_calc.py": "from pkg.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
        "big.txt": "".join(f"line {i}\n" for i in range(1, 2501)),
    })


@pytest.mark.parametrize(
    ("name", "arguments", "expect"),
    [
        ("edit_file", '{"path": "pkg/calc.py", "old_text": "a + b"', "not valid JSON"),
        ("edit_file", '["pkg/calc.py"]', "must be a JSON object"),
        ("edit_file", '{"path": "pkg/calc.py"}', "missing required argument(s) old_text, new_text"),
        ("read_file", '{"path": "pkg/calc.py", "colour": 1}', "unknown argument(s) colour"),
        ("read_file", '{"path": 7}', "'path' must be a string"),
        ("read_file", '{"path": "pkg/calc.py", "start_line": "x"}', "'start_line' must be a integer"),
        ("no_such_tool", "{}", "unknown tool 'no_such_tool'"),
        ("read_file", '{"path": "missing.py"}', "does not exist"),
        ("grep", '{"pattern": "("}', "grep"),
    ],
)
def test_bad_calls_are_results_not_crashes(repo: Path, name: str, arguments: str, expect: str) -> None:
    result = run_tool(ToolContext(repo), name, arguments)
    assert not result.ok
    assert expect in result.content


def test_read_file_pages_large_files(repo: Path) -> None:
    ctx = ToolContext(repo)
    first = run_tool(ctx, "read_file", json.dumps({"path": "big.txt"})).content
    assert first.splitlines()[0] == "big.txt (lines 1-1000 of 2500)"
    assert "     1\tline 1" in first
    assert "start_line=1001" in first
    part = run_tool(ctx, "read_file", '{"path": "big.txt", "start_line": "2499", "end_line": 2600}').content
    assert part.splitlines()[1:] == ["  2499\tline 2499", "  2500\tline 2500"]


def test_grep_rg_and_fallback_agree_and_cap(repo: Path) -> None:
    via_rg = grep(repo, r"line 1\d\d$", max_results=5)
    via_py = grep(repo, r"line 1\d\d$", max_results=5, use_rg=False)
    assert via_rg == via_py
    assert via_rg.splitlines()[0] == "big.txt:100: line 100"
    assert "95 more matches not shown (100 in 1 files)" in via_rg
    assert grep(repo, "ADD", ignore_case=True, glob="*.py").splitlines() == [
        "pkg/calc.py:1: def add(a, b):", "tests/test_calc.py:1: from pkg.calc import add",
        "tests/test_calc.py:4: def test_add():", "tests/test_calc.py:5:     assert add(1, 2) == 3",
    ]


def test_shell_needs_approval(repo: Path) -> None:
    refused = run_tool(ToolContext(repo), "shell", '{"command": "echo hi"}')
    assert not refused.ok
    assert "--yes" in refused.content
    asked: list[ApprovalRequest] = []

    def ask(request: ApprovalRequest) -> str:
        asked.append(request)
        return "no" if "rm" in request.summary else "always"

    ctx = ToolContext(repo, ask=ask)  # type: ignore[arg-type]
    assert not run_tool(ctx, "shell", '{"command": "rm -rf pkg"}').ok
    assert (repo / "pkg/calc.py").exists()
    assert run_tool(ctx, "shell", '{"command": "echo hi"}').content.endswith("hi")
    assert run_tool(ctx, "shell", '{"command": "echo again"}').ok
    assert [r.summary for r in asked] == ["rm -rf pkg", "echo hi"]  # "always" stops the asking
    out = run_tool(ToolContext(repo, approve="yes"), "shell", '{"command": "echo $DEEPSEEK_API_KEY; exit 3"}')
    assert not out.ok
    assert "exit status 3" in out.content


def test_edits_ask_under_ask_policy_with_a_terminal(repo: Path) -> None:
    seen: list[ApprovalRequest] = []

    def ask(request: ApprovalRequest) -> str:
        seen.append(request)
        return "no"

    ctx = ToolContext(repo, ask=ask)  # type: ignore[arg-type]
    result = run_tool(ctx, "edit_file", json.dumps({"path": "pkg/calc.py", "old_text": "a + b", "new_text": "b + a"}))
    assert not result.ok
    assert "not approved" in result.content
    assert seen[0].kind == "edit"
    assert "+    return b + a" in seen[0].detail
    assert "a + b" in (repo / "pkg/calc.py").read_text()
    edits_ctx = ToolContext(repo, approve="edits", ask=ask)  # type: ignore[arg-type]
    assert run_tool(edits_ctx, "edit_file", json.dumps({"path": "pkg/calc.py", "old_text": "a + b",
                                                        "new_text": "b + a"})).ok
    assert len(seen) == 1


def test_run_tests_detects_pytest_and_reports(repo: Path) -> None:
    ctx = ToolContext(repo, test_cmd=f"{sys.executable} -m pytest -q -p no:cacheprovider")
    passed = run_tool(ctx, "run_tests", "{}")
    assert passed.ok
    assert "PASSED (exit status 0)" in passed.content
    assert "1 passed" in passed.content
    run_tool(ctx, "edit_file", json.dumps({"path": "pkg/calc.py", "old_text": "a + b", "new_text": "a - b"}))
    failed = run_tool(ctx, "run_tests", "{}")
    assert not failed.ok
    assert "FAILED (exit status 1)" in failed.content
    assert "assert -1 == 3" in failed.content
    # The model's own command is a shell command: it needs approval.
    assert "needs approval" in run_tool(ctx, "run_tests", '{"command": "true"}').content
    timed = run_tool(ToolContext(repo, test_cmd="sleep 100"), "run_tests", '{"timeout_s": 0.3}')
    assert not timed.ok
    assert "TIMED OUT" in timed.content


def test_detect_test_commands(tmp_path: Path) -> None:
    from v4agent.tools.testrun import detect_test_command

    cases = {
        "py": ({"tests/test_x.py": ""}, "pytest"),
        "npm": ({"package.json": '{"scripts": {"test": "jest"}}'}, "npm test"),
        "npm0": ({"package.json": '{"scripts": {"test": "echo \\"Error: no test specified\\" && exit 1"}}'}, None),
        "go": ({"go.mod": "module x\n"}, "go test ./..."),
        "rust": ({"Cargo.toml": "[package]\n"}, "cargo test"),
        "make": ({"Makefile": "all:\n\ttrue\ntest:\n\ttrue\n"}, "make test"),
        "none": ({"README": "x"}, None),
        # Django's layout: tox.ini and package.json drive other runners; tests/runtests.py is the suite's own.
        "django": ({"tox.ini": "[testenv]\ncommands = {envpython} runtests.py\n", "package.json":
                    '{"scripts": {"test": "grunt test"}}', "tests/runtests.py": "", "tests/x/tests.py": ""},
                   "tests/runtests.py"),
        "tox-pytest": ({"tox.ini": "[testenv]\ncommands = pytest\n", "tests/runtests.py": ""}, "pytest"),
    }
    for name, (files, want) in cases.items():
        root = tmp_path / name
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        got = detect_test_command(root)
        assert (got is None if want is None else want in (got or "")), (name, got)


def test_git_diff_includes_untracked_and_finish(repo: Path) -> None:
    ctx = ToolContext(repo, approve="yes")
    assert run_tool(ctx, "git_diff", "{}").content == "no changes since the session started"
    run_tool(ctx, "edit_file", json.dumps({"path": "pkg/calc.py", "old_text": "a + b", "new_text": "b + a"}))
    run_tool(ctx, "write_file", json.dumps({"path": "pkg/new.py", "content": "NEW = 1\n"}))
    (repo / ".env").write_text("TOKEN=abc\n")
    diff = run_tool(ctx, "git_diff", "{}").diff
    assert "+    return b + a" in diff
    assert "+NEW = 1" in diff
    assert "TOKEN" not in diff
    only = run_tool(ctx, "git_diff", '{"path": "pkg/new.py"}').diff
    assert "+NEW = 1" in only
    assert "calc.py" not in only
    done = run_tool(ctx, "finish", '{"summary": "Swapped the operands."}')
    assert done.ok
    assert done.finished
    assert done.summary == "Swapped the operands."
