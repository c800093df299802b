"""Review rules: AGENTS.md/CLAUDE.md and `[review]` of .v4agent.toml, read at the merge base, in the stable block."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_git_repo, run_cli
from tests.review.ghrun import TOKEN, actions_env, commit, event_file, finding, git, reporting, review
from v4agent.core.config import load_config
from v4agent.review.rules import (
    PathInstruction,
    ReviewRules,
    ReviewRulesError,
    filter_diff,
    parse_review_section,
    read_rules,
    split_diff,
)
from v4agent.review.run import range_diff
from v4agent.testing.fake_github import FakeGitHub
from v4agent.testing.standin import StandIn

RULES_TOML = """\
model = "deepseek-v4-flash"

[review]
instructions = "Flag every use of eval as critical."
exclude = ["generated/", "*.lock"]

[[review.path_instructions]]
path = "app/db/**"
instructions = "Every query must be parameterised."
"""
AGENTS = "# Agents\n\nThis project never logs personal data. NEEDLE-AGENTS-7\n"


# ---- pure ---------------------------------------------------------------------------------------------

def test_the_review_section_is_read_and_checked() -> None:
    got = parse_review_section(RULES_TOML.encode(), "cfg")
    assert got == {"instructions": "Flag every use of eval as critical.", "exclude": ("generated/", "*.lock"),
                   "path_instructions": (PathInstruction("app/db/**", "Every query must be parameterised."),)}
    assert parse_review_section(b'model = "x"\n', "cfg") == {}


@pytest.mark.parametrize(("text", "says"), [
    ('[review]\nexclude = "x"\nbogus = 1\n', "unknown key(s) in [review]: bogus"),
    ("[review]\nexclude = [1]\n", "exclude must be a list of patterns"),
    ("[review]\ninstructions = 3\n", "instructions must be a string"),
    ('[[review.path_instructions]]\npath = "a"\n', "needs exactly `path` and `instructions`"),
    ("review = 1\n", "`review` must be a table"),
    ("[review\n", "not valid TOML"),
])
def test_a_bad_review_section_is_a_clear_usage_error(text: str, says: str) -> None:
    with pytest.raises(ReviewRulesError) as caught:
        parse_review_section(text.encode(), ".v4agent.toml at abc")
    assert says in str(caught.value)
    assert ".v4agent.toml at abc" in str(caught.value)
    assert caught.value.exit_code == 2


def test_include_and_exclude_follow_gitignore_rules() -> None:
    rules = ReviewRules(include=("src/", "*.py"), exclude=("src/vendor/", "!src/vendor/ours.py"))
    assert rules.reviewed("src/app.js")
    assert rules.reviewed("tools/x.py")
    assert not rules.reviewed("docs/readme.md")  # matches no include
    assert not rules.reviewed("src/vendor/lib.js")
    assert rules.reviewed("src/vendor/ours.py")  # re-included by the negated pattern
    assert ReviewRules().reviewed("anything/at/all")


DIFF = """\
diff --git a/app/x.py b/app/x.py
index 1..2 100644
--- a/app/x.py
+++ b/app/x.py
@@ -1 +1 @@
-a
+b
diff --git a/generated/old.py b/generated/old.py
deleted file mode 100644
--- a/generated/old.py
+++ /dev/null
@@ -1 +0,0 @@
-x
diff --git a/app/moved.py b/generated/moved.py
similarity index 100%
rename from app/moved.py
rename to generated/moved.py
diff --git a/poetry.lock b/poetry.lock
Binary files a/poetry.lock and b/poetry.lock differ
"""


def test_the_diff_loses_exactly_the_excluded_files() -> None:
    assert [path for path, _ in split_diff(DIFF)] == ["app/x.py", "generated/old.py", "generated/moved.py",
                                                       "poetry.lock"]
    kept, dropped = filter_diff(DIFF, ReviewRules(exclude=("generated/", "*.lock")))
    assert dropped == ("generated/old.py", "generated/moved.py", "poetry.lock")
    assert kept == DIFF.split("diff --git a/generated/old.py")[0]
    assert filter_diff(DIFF, ReviewRules(instructions="x")) == (DIFF, ())


def test_the_rules_text_is_stable_and_empty_without_rules() -> None:
    assert ReviewRules().text() == ""
    rules = ReviewRules(instruction_file="AGENTS.md", file_instructions=AGENTS, **parse_review_section(
        RULES_TOML.encode(), "cfg"))
    text = rules.text()
    assert text == rules.text()
    assert text.index("NEEDLE-AGENTS-7") < text.index("Flag every use of eval") < text.index("app/db/**")
    assert "- exclude: generated/, *.lock" in text


def test_rules_are_read_from_the_commit_not_the_working_tree(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "r", {"CLAUDE.md": "claude rules\n", "a.py": "x = 1\n"})
    first = git(root, "rev-parse", "HEAD")
    second = commit(root, {"AGENTS.md": AGENTS, ".v4agent.toml": RULES_TOML}, "rules")
    (root / "AGENTS.md").write_text("edited in the tree, never committed\n", encoding="utf-8")
    (root / ".v4agent.toml").write_text('[review]\nexclude = ["**"]\n', encoding="utf-8")
    old, new = read_rules(root, first), read_rules(root, second)
    assert (old.instruction_file, old.file_instructions, old.exclude) == ("CLAUDE.md", "claude rules\n", ())
    assert (new.instruction_file, new.file_instructions) == ("AGENTS.md", AGENTS)  # AGENTS.md wins over CLAUDE.md
    assert new.exclude == ("generated/", "*.lock")


def test_the_project_config_accepts_a_review_section(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "r", {".v4agent.toml": RULES_TOML})
    config = load_config(root, trust=False)
    assert config.get("model") == "deepseek-v4-flash"
    assert config.untrusted is None  # the review table asks for no trust: the bot reads it at the base only


# ---- end to end ---------------------------------------------------------------------------------------

BASE_FILES = {"AGENTS.md": AGENTS, ".v4agent.toml": RULES_TOML, "app/db/q.py": "def q(c, x):\n    return c\n",
              "generated/api.py": "A = 1\n"}


def _pr(root: Path, name: str, files: dict[str, str | None]) -> str:
    git(root, "checkout", "-q", "-b", name)
    sha = commit(root, files, name)
    git(root, "checkout", "-q", "main")
    return sha


def _choose(text: str) -> list[dict[str, Any]]:
    return [finding("app/db/q.py", 2, title="Query is concatenated"),
            finding("generated/api.py", 1, title="Generated constant")]


def _system_and_review(server: StandIn) -> tuple[list[str], str]:
    """(every priming request's messages, the last review request's): a priming request ends at the pack."""
    review_calls = [c.request for c in server.calls if len(c.request["messages"]) > 2]
    priming = [json.dumps(c.request["messages"]) for c in server.calls if len(c.request["messages"]) == 2]
    return priming, json.dumps(review_calls[-1]["messages"])


def test_local_review_follows_the_bases_rules_and_its_stable_block_does_not_change(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "shop", BASE_FILES)
    one = _pr(root, "one", {"app/db/q.py": "def q(c, x):\n    return c.run('select ' + x)\n",
                            "generated/api.py": "A = 2\n"})
    two = _pr(root, "two", {"app/db/q.py": "def q(c, x):\n    return c.run('delete ' + x)\n"})
    out = tmp_path / "r.json"
    with StandIn(handler=reporting(_choose)) as server:
        first = run_cli("review", str(root), "--base", "main", "--head", one, "--base-url", server.base_url,
                        "--format", "json", "-o", str(out), env={"DEEPSEEK_API_KEY": "sk-test"}, timeout=300)
        priming_one, sent_one = _system_and_review(server)
        second = run_cli("review", str(root), "--base", "main", "--head", two, "--base-url", server.base_url,
                         env={"DEEPSEEK_API_KEY": "sk-test"}, timeout=300)
        priming_two, _ = _system_and_review(server)
        bills = [(len(c.request["messages"]), c.prompt_tokens, c.cache_hit) for c in server.calls]
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    system = json.loads(sent_one)[0]["content"]
    assert "NEEDLE-AGENTS-7" in system
    assert "Every query must be parameterised." in system
    assert "Flag every use of eval as critical." in system
    assert "A = 2" not in sent_one  # the excluded file's change is not shown
    assert "not reviewing 1 excluded file(s): generated/api.py" in first.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [f["path"] for f in report["findings"]] == ["app/db/q.py"]  # the finding on generated/ is dropped
    assert any("files the rules exclude were dropped" in w for w in report["warnings"])
    # The stable block (system prompt with the rules, tools, pack) is byte-identical for both pull requests.
    assert len(priming_two) == 2
    assert priming_two[0] == priming_two[1] == priming_one[0]
    # The stand-in bills by DeepSeek's unit rules: the second pull request's calls hit the whole stable block the
    # first one stored (all but the few tokens the chat template adds after the last message).
    (_, block, _), _, (_, _, prime_hit), (_, _, review_hit) = bills
    assert prime_hit >= block - 8
    assert review_hit >= block - 8


def test_a_change_touching_only_excluded_files_is_nothing_to_review(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "shop", BASE_FILES)
    head = _pr(root, "gen", {"generated/api.py": "A = 3\n"})
    with StandIn(handler=reporting(_choose)) as server:
        result = run_cli("review", str(root), "--base", "main", "--head", head, "--base-url", server.base_url,
                         env={"DEEPSEEK_API_KEY": "sk-test"}, timeout=300)
        calls = len(server.calls)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "in the files the review rules let through" in result.stderr
    assert calls == 0


def test_a_github_review_reads_the_rules_at_the_merge_base(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "shop", BASE_FILES)
    base = git(root, "rev-parse", "HEAD")
    head = _pr(root, "pr", {"app/db/q.py": "def q(c, x):\n    return c.run('select ' + x)\n",
                            "generated/api.py": "A = 2\n"})
    git(root, "checkout", "-q", head)  # the runner checks out the pull request
    with StandIn(handler=reporting(_choose)) as server, FakeGitHub(token=TOKEN) as gh:
        pull = gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head), head_sha=head, base_sha=base)
        result = review(root, server, actions_env(event_file(tmp_path / "e.json", 1, head, base), gh.api_url))
        assert result.returncode == 0, result.stderr[-3000:]
        _, sent = _system_and_review(server)
        comments = [(c["path"], c["line"]) for c in pull.comments]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NEEDLE-AGENTS-7" in json.loads(sent)[0]["content"]
    assert comments == [("app/db/q.py", 2)]


def test_a_bad_review_section_at_the_base_stops_the_review_with_its_name(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "shop", {".v4agent.toml": '[review]\nexclude = "x"\nsurprise = 1\n',
                                             "a.py": "x = 1\n"})
    head = _pr(root, "pr", {"a.py": "x = 2\n"})
    with StandIn(handler=reporting(lambda text: [])) as server:
        result = run_cli("review", str(root), "--base", "main", "--head", head, "--base-url", server.base_url,
                         env={"DEEPSEEK_API_KEY": "sk-test"}, timeout=300)
    assert result.returncode == 2
    assert "unknown key(s) in [review]: surprise" in result.stderr
    assert "Traceback" not in result.stderr
