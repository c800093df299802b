"""No secret value leaves a tool: search hits, diffs and command output are redacted like the pack and read_file.

The same dozen kinds of secrets as the pack's test, in a real git repository, read back through every tool
that shows file content; code that merely names a secret (``token = make_token(user)``) stays readable.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from tests.secrets.test_scan import CASES
from v4agent.secrets.results import redact_diff, redact_output
from v4agent.tools.registry import ToolContext, ToolResult, run_tool

SECRETS = sorted({secret for _, _, secret in CASES})
CODE = "def login(user):\n    token = make_token(user)\n    password = request.POST['pw']\n    return token\n"
# Lines of Django's auth code that a looser rule took for secrets: they must come back from every tool as they are.
CODE_LINES = [
    "        self._password = None",
    "        self._password = raw_password",
    "def validate_password(password, user=None, password_validators=None):",
    "    token_generator = default_token_generator",
    "            password=password,",
    "    def __init__(self, password_list_path=DEFAULT_PASSWORD_LIST_PATH):",
    "    form_class = PasswordChangeForm",
    "        usable_password = value and not value.startswith(UNUSABLE_PASSWORD_PREFIX)",
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    files: dict[str, str] = {"app/views.py": CODE}
    for path, text, _ in CASES:
        files[path] = files.get(path, "") + text
    root = make_git_repo(tmp_path / "repo", {"README.md": "# app\n"})
    for rel, text in files.items():  # untracked: git_diff shows them whole
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def _run(root: Path, name: str, **args: object) -> ToolResult:
    return run_tool(ToolContext(root, approve="yes"), name, json.dumps(args))


def _assert_clean(result: ToolResult) -> None:
    for secret in SECRETS:
        assert secret not in result.content, (secret, result.content[:3000])
        assert secret not in result.diff, (secret, result.diff[:3000])


def test_search_hits_are_redacted_by_their_files_rules(repo: Path) -> None:
    hits = _run(repo, "grep", pattern=r"(?i)key|token|password|secret|bearer|slack|BEGIN|admin", max_results=500)
    assert hits.ok
    assert "secret value(s) redacted" in hits.content
    _assert_clean(hits)
    assert "settings.py:1: AWS_ACCESS_KEY_ID = " in hits.content
    assert hits.content.count("«REDACTED:") >= 12
    assert "token = make_token(user)" in hits.content  # code that names a secret is not one


def test_diffs_are_redacted(repo: Path) -> None:
    whole = _run(repo, "git_diff")
    _assert_clean(whole)
    assert "+++ b/settings.py" in whole.content
    assert whole.content.count("«REDACTED:") >= 12
    assert "+    token = make_token(user)" in whole.content
    edited = _run(repo, "edit_file", path="config.ini", old_text="[db]", new_text="[database]")
    assert edited.ok, edited.content
    _assert_clean(edited)  # the edit's context lines hold the password
    written = _run(repo, "write_file", path="client.py", content="print('rotated')\n")
    deleted = _run(repo, "delete_file", path="settings.py")
    for result in (written, deleted):
        assert result.ok, result.content
        _assert_clean(result)  # the removed lines were secrets


def test_command_output_is_redacted(repo: Path) -> None:
    names = " ".join(sorted({p for p, _, _ in CASES}))
    printed = _run(repo, "shell", command=f"cat {names} app/views.py; echo API_TOKEN=abcdEFGH1234ijklMNOP")
    assert printed.ok, printed.content
    _assert_clean(printed)
    assert "[db]" in printed.content
    assert printed.content.count("«REDACTED:") >= 13
    assert "abcdEFGH1234ijklMNOP" not in printed.content
    assert "token = make_token(user)" in printed.content
    assert "password = request.POST['pw']" in printed.content
    tests = _run(repo, "run_tests", command=f"cat {names}; false")
    assert not tests.ok
    _assert_clean(tests)


def test_the_redactors_keep_the_text_around_the_values() -> None:
    text, found = redact_output("a\nDB_PASSWORD=s3cr3t-pass-word\nb")
    assert found == 1
    assert text.startswith("a\nDB_PASSWORD=«REDACTED:")
    assert text.endswith("»\nb")
    diff = ("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-x = 1\n+KEY = \"" + CASES[0][2] + "\"\n"
            "--- a/notes.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-plain words\n")
    clean, found = redact_diff(diff)
    assert found == 1
    assert CASES[0][2] not in clean
    assert clean.count("\n") == diff.count("\n")
    assert "-plain words" in clean


def test_staged_secrets_stay_out_of_git_output_too(repo: Path) -> None:
    """What the agent records in the session is what run_tool returns, so this is what the log holds."""
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    results = [_run(repo, "grep", pattern="password", max_results=500), _run(repo, "git_diff"),
               _run(repo, "shell", command="git show --stat -p HEAD; git diff --cached")]
    for result in results:
        _assert_clean(result)


# --- editing around what the model cannot see -----------------------------------------------------------------

SETTINGS = 'DEBUG = True\nPASSWORD = "{}"\nTIMEOUT = 3\n'.format("correct-horse-" + "battery-staple")
SHOWN = 'DEBUG = True\nPASSWORD = "«REDACTED:secret-keyword»"\nTIMEOUT = 3\n'


def test_an_edit_copied_from_the_redacted_view_keeps_the_secret(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"settings.py": SETTINGS})
    shown = _run(root, "read_file", path="settings.py").content
    assert 'PASSWORD = "«REDACTED:secret-keyword»"' in shown
    edited = _run(root, "edit_file", path="settings.py", old_text=SHOWN[:-12], new_text=SHOWN[:-12].replace(
        "True", "False"))
    assert edited.ok, edited.content
    assert (root / "settings.py").read_text(encoding="utf-8") == SETTINGS.replace("True", "False")
    _assert_clean(edited)


def test_an_edit_that_would_drop_or_invent_a_placeholder_is_refused(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"settings.py": SETTINGS})
    for new in ('PASSWORD = "hunter2"', 'PASSWORD = "«REDACTED:password»"'):
        refused = _run(root, "edit_file", path="settings.py", old_text='PASSWORD = "«REDACTED:secret-keyword»"',
                       new_text=new)
        assert not refused.ok
        assert "placeholder" in refused.content
    assert (root / "settings.py").read_text(encoding="utf-8") == SETTINGS


def test_a_whole_file_rewritten_from_the_view_keeps_the_secret(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"settings.py": SETTINGS})
    written = _run(root, "write_file", path="settings.py", content=SHOWN + "RETRIES = 5\n")
    assert written.ok, written.content
    assert (root / "settings.py").read_text(encoding="utf-8") == SETTINGS + "RETRIES = 5\n"
    fresh = _run(root, "write_file", path="copy.py", content=SHOWN)  # a new file has no value to put back
    assert not fresh.ok
    assert not (root / "copy.py").exists()


def test_text_that_only_looks_like_a_placeholder_is_edited_as_itself(tmp_path: Path) -> None:
    source = 'EXPECTED = "«REDACTED:api-key»"\nMODE = 1\n'  # e.g. a test of the redaction itself
    root = make_git_repo(tmp_path / "repo", {"check.py": source})
    edited = _run(root, "edit_file", path="check.py", old_text=source, new_text=source.replace("1", "2"))
    assert edited.ok, edited.content
    assert (root / "check.py").read_text(encoding="utf-8") == source.replace("MODE = 1", "MODE = 2")


def test_a_rewrite_keeps_the_files_crlf_line_endings_with_or_without_secrets(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"plain.txt": "a\n"})
    (root / "plain.txt").write_bytes(b"one\r\ntwo\r\n")
    (root / "settings.py").write_bytes(SETTINGS.replace("\n", "\r\n").encode())
    assert _run(root, "write_file", path="plain.txt", content="one\ntwo\nthree\n").ok
    assert (root / "plain.txt").read_bytes() == b"one\r\ntwo\r\nthree\r\n"
    assert _run(root, "write_file", path="settings.py", content=SHOWN + "RETRIES = 5\n").ok
    assert (root / "settings.py").read_bytes() == (SETTINGS + "RETRIES = 5\n").replace("\n", "\r\n").encode()


def test_code_that_names_secrets_comes_back_as_it_is(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"README.md": "# app\n"})
    (root / "auth.py").write_text("\n".join(CODE_LINES) + "\n", encoding="utf-8")  # untracked: diffed whole
    results = [_run(root, "shell", command="cat auth.py"), _run(root, "grep", pattern="(?i)password|token"),
               _run(root, "git_diff"), _run(root, "read_file", path="auth.py")]
    for result in results:
        assert "REDACTED" not in result.content, result.content
        for line in CODE_LINES:
            assert line.strip() in result.content
