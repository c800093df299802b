"""The path rules, memoised per name and directory, give exactly what the rules give path by path."""

from __future__ import annotations

import itertools
import random

import pytest

from v4agent.pack.rank import symbols
from v4agent.pack.rank.symbols import _EXTENSIONS, _FILENAMES, language_for
from v4agent.pack.select import classify
from v4agent.pack.select.classify import (
    _GENERATED_SUFFIXES,
    _LOCKFILES,
    _VENDOR_DIRS,
    matches_globs,
    path_skip_reason,
)
from v4agent.secrets.scan import is_secret_path


def _reference(path: str, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> str | None:
    """The rules applied to one path with no memo (as they read before the memos)."""
    if matches_globs(path, exclude):
        return "excluded by --exclude"
    if is_secret_path(path):
        return "secret file (by name)"
    if matches_globs(path, include):
        return None
    parts = path.split("/")
    name = parts[-1].lower()
    if name in _LOCKFILES:
        return "lockfile"
    if name.endswith(_GENERATED_SUFFIXES):
        return "generated or minified (by name)"
    if any(part in _VENDOR_DIRS for part in parts[:-1]):
        return "vendored or tool directory"
    return None


# Components where a memo keyed by the wrong part would show: secret names alone and under their directory
# (.aws/credentials), a backslash inside a name (read as a separator by the secret rule), vendored directories at
# any depth and as a file name, lockfiles and generated names in any case, empty components.
_PARTS = ["src", "a", ".aws", ".ssh", "node_modules", "Vendor", "vendor", "site-packages", "x\\.aws", "", ".kube",
          "credentials", "config", "id_rsa", "Cargo.lock", "yarn.lock", "app.min.js", "m_pb2.py", "main.py",
          ".env", "x.env", "server.PEM", "README.md", "a\\b", "gcloud", "credentials.db", "__pycache__", "x.py"]


def _paths(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return ["/".join(rng.choice(_PARTS) for _ in range(rng.randint(1, 5))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(4))
def test_path_rules_match_the_unmemoised_rules(seed: int) -> None:
    paths = _paths(seed, 3000)
    for include, exclude in [((), ()), (("*.lock", "vendor/"), ()), ((), ("src/",)), (("*.env",), ("*.py",))]:
        got = [path_skip_reason(p, include, exclude) for p in paths + paths]  # the second pass from the memos
        assert got == [_reference(p, include, exclude) for p in paths + paths]


def test_path_rules_stay_exact_when_the_memos_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classify, "_MEMO_LIMIT", 3)
    for memo in ("_SECRET_MEMO", "_NAME_MEMO", "_DIR_MEMO"):
        monkeypatch.setattr(classify, memo, {})
    paths = _paths(9, 500)
    assert [path_skip_reason(p) for p in paths] == [_reference(p) for p in paths]
    assert max(len(classify._SECRET_MEMO), len(classify._NAME_MEMO), len(classify._DIR_MEMO)) <= 3


def test_language_memo_answers_as_the_rule_does(monkeypatch: pytest.MonkeyPatch) -> None:
    def rule(path: str) -> str | None:
        name = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
        if name in _FILENAMES:
            return _FILENAMES[name]
        dot = name.rfind(".")
        return _EXTENSIONS.get(name[dot:]) if dot > 0 else None

    monkeypatch.setattr(symbols, "_LANGUAGE_MEMO_LIMIT", 5)
    monkeypatch.setattr(symbols, "_LANGUAGE_MEMO", {})
    names = [*(f"f{e}" for e in _EXTENSIONS), *(n.upper() for n in _FILENAMES), "Makefile", ".py", "a.PY", "x"]
    paths = ["/".join(p) for p in itertools.product(["", "d", "a\\b.py", "x.py"], names)]
    assert [language_for(p) for p in paths * 2] == [rule(p) for p in paths * 2]
    assert len(symbols._LANGUAGE_MEMO) <= 5
