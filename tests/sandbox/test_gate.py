"""The one rule for commands: contained project tests run; the rest follows the approval policy."""

from __future__ import annotations

from v4agent.tools.approval import Answer, ApprovalRequest, gate_command

TESTS = ApprovalRequest("shell", "run_tests", "pytest -q")


def test_project_tests_in_the_sandbox_need_no_approval() -> None:
    assert gate_command("ask", TESTS, None, set(), contained=True, project_tests=True) == (True, "")


def test_without_a_sandbox_even_the_tests_need_approval() -> None:
    allowed, reason = gate_command("ask", TESTS, None, set(), contained=False, project_tests=True)
    assert not allowed
    assert "no sandbox is available" in reason
    assert gate_command("yes", TESTS, None, set(), contained=False, project_tests=True) == (True, "")
    asked: list[ApprovalRequest] = []

    def ask(request: ApprovalRequest) -> Answer:
        asked.append(request)
        return "yes"

    assert gate_command("edits", TESTS, ask, set(), contained=False, project_tests=True)[0]
    assert asked == [TESTS]


def test_other_commands_follow_the_policy_even_in_the_sandbox() -> None:
    shell = ApprovalRequest("shell", "shell", "rm -rf build")
    allowed, reason = gate_command("ask", shell, None, set(), contained=True, project_tests=False)
    assert not allowed
    assert "no sandbox" not in reason
    assert gate_command("ask", shell, None, {"shell"}, contained=True, project_tests=False)[0]
    assert gate_command("yes", shell, None, set(), contained=True, project_tests=False)[0]
