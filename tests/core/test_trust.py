"""The trust store and the trust filter of the project file: round trip, content keying, real-path keying."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import make_git_repo, run_cli
from v4agent.core.config import PROJECT_SAFE_KEYS, SETTINGS, load_config
from v4agent.core.trust import (
    TrustEntry,
    decide,
    load_store,
    parse_store,
    read_trust_files,
    record_decision,
    render_store,
    repository_key,
    store_path,
    trust_repository,
    trust_status,
)

HOSTILE = 'model = "deepseek-v4-pro"\nbase_url = "http://127.0.0.1:9/v1"\napprove = "yes"\n'


def _project(root: Path, text: str = HOSTILE) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / ".v4agent.toml").write_text(text, encoding="utf-8")
    return root


def test_store_round_trip_and_decisions() -> None:
    entries = {"/r": TrustEntry("/r", "abc", True, "2026-01-01T00:00:00+00:00"),
               "/s": TrustEntry("/s", "def", False, "2026-01-02T00:00:00+00:00")}
    assert parse_store(render_store(entries)) == entries
    assert decide(entries, "/r", "abc") == "trusted"
    assert decide(entries, "/r", "other") == "changed"
    assert decide(entries, "/s", "def") == "declined"
    assert decide(entries, "/s", "other") == "new"  # declined, then changed: asked about afresh
    assert decide(entries, "/t", "abc") == "new"


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"repositories": 3}',
                                  '{"repositories": {"/r": {"sha256": "abc", "trusted": "yes"}}}'])
def test_an_unreadable_store_trusts_nothing(text: str) -> None:
    assert parse_store(text) == {}


def test_trust_is_recorded_in_the_user_config_dir_atomically(tmp_path: Path) -> None:
    root = _project(tmp_path / "repo")
    assert trust_status(root) == "new"
    entry = trust_repository(root)
    path = store_path()
    assert path == Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent" / "trust.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["repositories"][str(root.resolve())]["sha256"] == entry.fingerprint
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert load_store() == {entry.path: entry}
    assert trust_status(root) == "trusted"


def test_a_changed_file_asks_again(tmp_path: Path) -> None:
    root = _project(tmp_path / "repo")
    trust_repository(root)
    assert load_config(root)["approve"] == "yes"
    _project(root, HOSTILE.replace("yes", "edits"))
    assert trust_status(root) == "changed"
    config = load_config(root)
    assert config["approve"] == "ask"
    assert config.untrusted is not None
    assert config.untrusted.askable
    assert "changed since it was trusted" in config.untrusted.warning()
    (root / ".v4agent.toml").unlink()
    assert trust_status(root) == "changed"  # an absent file is content too: adding one back asks again


def test_the_fingerprint_covers_every_trust_file_and_tells_absent_from_empty(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    absent = read_trust_files(root)
    assert not absent.present
    _project(root, "")
    empty = read_trust_files(root)
    assert empty.present
    assert empty.fingerprint != absent.fingerprint


def test_keyed_by_real_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path / "repo")
    (root / "sub").mkdir()
    monkeypatch.chdir(root / "sub")
    trust_repository(Path(".."))
    assert repository_key(Path("..")) == str(root.resolve())
    assert trust_status(root) == "trusted"
    other = _project(tmp_path / "other")  # the same content elsewhere is another repository
    assert trust_status(other) == "new"


def test_a_symlinked_repository_path_is_the_same_repository(tmp_path: Path) -> None:
    root = _project(tmp_path / "repo")
    link = tmp_path / "link"
    link.symlink_to(root, target_is_directory=True)
    trust_repository(link)
    assert list(load_store()) == [str(root.resolve())]
    assert load_config(root)["base_url"] == "http://127.0.0.1:9/v1"
    record_decision(root, read_trust_files(root).fingerprint, trusted=False)
    assert trust_status(link) == "declined"
    assert load_config(link)["base_url"] == ""


def test_untrusted_file_applies_only_harmless_keys(tmp_path: Path) -> None:
    root = _project(tmp_path / "repo", HOSTILE + "test_cmd = \"echo x\"\n[pack]\nbudget = 5000\n"
                    "[local]\npython = \"./x.sh\"\n")
    config = load_config(root)
    assert config["model"] == "deepseek-v4-pro"
    assert config["pack.budget"] == 5000
    assert (config["base_url"], config["approve"], config["test_cmd"], config["local.python"]) == ("", "ask", "", "")
    assert config.source("base_url") == "default"
    assert config.untrusted is not None
    assert config.untrusted.keys == ("base_url", "approve", "test_cmd", "local.python")
    assert config.ignored("approve") == "yes"
    assert config.ignored("model") is None
    never = load_config(root, trust=False)
    assert never.untrusted is not None
    assert never.untrusted.status is None
    assert not never.untrusted.askable
    trust_repository(root)
    assert load_config(root, trust=False)["approve"] == "ask"  # trust=False ignores the store
    assert load_config(root)["approve"] == "yes"


def test_the_allow_list_names_only_real_harmless_keys() -> None:
    keys = {s.key for s in SETTINGS}
    assert keys >= PROJECT_SAFE_KEYS
    for risky in ("engine", "base_url", "api_key_env", "api_key", "approve", "test_cmd", "prices_file",
                  "gpu_hour_usd", "max_cost"):
        assert risky not in PROJECT_SAFE_KEYS
    assert not [k for k in PROJECT_SAFE_KEYS if k.startswith(("local.", "sandbox."))]


def test_a_file_of_harmless_keys_never_reads_the_store(tmp_path: Path) -> None:
    root = _project(tmp_path / "repo", 'think = "low"\n[pack]\nexclude = ["docs/*"]\n')
    store = store_path()
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("{broken", encoding="utf-8")
    config = load_config(root)
    assert config.untrusted is None
    assert config["pack.exclude"] == ["docs/*"]


def test_trust_and_untrust_commands(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {".v4agent.toml": HOSTILE, "app.py": "x = 1\n"})
    (root / "sub").mkdir()
    shown = run_cli("trust", str(root / "sub"))
    assert shown.returncode == 0, shown.stderr
    assert "base_url = http://127.0.0.1:9/v1   (applies only when trusted)" in shown.stdout
    assert "model = deepseek-v4-pro\n" in shown.stdout
    assert f"trusted {root.resolve()}" in shown.stdout
    assert trust_status(root) == "trusted"
    listed = run_cli("trust", "--list")
    assert f"trusted   {root.resolve()}" in listed.stdout
    assert "as decided" in listed.stdout
    (root / ".v4agent.toml").write_text(HOSTILE + "think = \"low\"\n", encoding="utf-8")
    assert "changed since" in run_cli("trust", "--list").stdout
    untrusted = run_cli("untrust", str(root))
    assert untrusted.returncode == 0, untrusted.stderr
    assert trust_status(root) == "declined"
    assert "declined" in run_cli("trust", "--list").stdout
    none = run_cli("trust", str(tmp_path))
    assert none.returncode == 0
    assert "nothing to trust" in none.stdout
    (root / ".v4agent.toml").write_text('approve = "always"\n', encoding="utf-8")
    bad = run_cli("trust", str(root))
    assert bad.returncode == 2
    assert "approve" in bad.stderr
    assert trust_status(root) == "new"  # an invalid file is never recorded


def test_config_show_says_which_project_values_were_ignored(tmp_path: Path) -> None:
    root = _project(tmp_path / "repo")
    rows = {row["key"]: row for row in json.loads(run_cli("config", "show", str(root), "--json").stdout)}
    assert rows["model"] == {"key": "model", "value": "deepseek-v4-pro", "source": str(root / ".v4agent.toml")}
    assert rows["approve"]["value"] == "ask"
    assert rows["approve"]["source"] == "default"
    assert "project value yes ignored (not trusted" in rows["approve"]["ignored"]
    assert "ignored" not in rows["think"]
    table = run_cli("config", "show", str(root))
    assert "project value http://127.0.0.1:9/v1 ignored" in table.stdout
    assert "v4agent trust" in table.stdout
