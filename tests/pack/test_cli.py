"""`v4agent pack` end to end through the real entry point."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import make_git_repo, run_cli
from v4agent.tokens.tokenizer import get_tokenizer

FILES = {"src/app.py": "def main():\n    return 1\n", "README.md": "# Demo\n",
         "settings.py": 'PASSWORD = "correct-horse-battery-staple"\n'}


def test_pack_to_stdout_and_file(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    out = run_cli("pack", str(root), "--budget", "none")
    assert out.returncode == 0, out.stderr
    assert '<file path="src/app.py">' in out.stdout
    assert "correct-horse" not in out.stdout
    target = tmp_path / "pack.xml"
    written = run_cli("pack", ".", "-o", str(target), "--format", "markdown", cwd=root)
    assert written.returncode == 0, written.stderr
    assert target.read_text(encoding="utf-8").startswith("# Packed repository")
    assert "tokens" in written.stderr
    assert written.stdout == ""


def test_a_pack_written_into_the_repository_is_not_packed_again(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    for fmt, name in (("xml", "pack.xml"), ("markdown", "pack.md")):
        first = run_cli("pack", ".", "-o", name, "--format", fmt, cwd=root)
        assert first.returncode == 0, first.stderr
        text = (root / name).read_text(encoding="utf-8")
        again = run_cli("pack", ".", "-o", name, "--format", fmt, "--json", cwd=root)
        assert again.returncode == 0, again.stderr
        assert (root / name).read_text(encoding="utf-8") == text  # the first pack is not in the second
        skipped = {s["path"]: s["reason"] for s in json.loads(again.stdout)["skipped"]}
        assert "v4agent pack output" in skipped[name]


def test_json_report_matches_the_text(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    out = run_cli("pack", str(root), "--json", "--tokenizer", "deepseek-v4")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["tokens"] == get_tokenizer("deepseek-v4").count(report["text"])
    modes = {f["path"]: f["mode"] for f in report["files"]}
    assert modes["settings.py"] == "redacted"
    assert modes["src/app.py"] == "full"
    assert report["estimates"]
    assert {"model", "first_call_usd", "cached_followup_usd"} <= set(report["estimates"][0])


def test_stats_tables(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {**FILES, "blob.bin": "a\0b"})
    out = run_cli("pack", str(root), "--stats", "-o", str(tmp_path / "p.xml"))
    assert out.returncode == 0, out.stderr
    for title in ("Tokens per language", "Largest files", "Skipped", "binary", "Redacted files", "first request"):
        assert title in out.stdout, title


def test_bad_input_exit_codes(tmp_path: Path) -> None:
    missing = run_cli("pack", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "no such directory" in missing.stderr
    assert "Traceback" not in missing.stderr
    empty = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    nothing = run_cli("pack", str(empty))
    assert nothing.returncode == 1
    assert "nothing to pack" in nothing.stderr
    assert "Traceback" not in nothing.stderr
    small = make_git_repo(tmp_path / "small", FILES)
    tiny = run_cli("pack", str(small), "--budget", "10")
    assert tiny.returncode == 2
    assert "budget" in tiny.stderr
    assert "Traceback" not in tiny.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("hello\n")
    walked = run_cli("pack", str(plain))
    assert walked.returncode == 0
    assert "not a git repository" in walked.stderr
    assert "hello" in walked.stdout
