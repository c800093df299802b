"""detect(): bubblewrap when it is installed and a trial sandbox runs; otherwise none, with the reason."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.sandbox.helpers import needs_bwrap
from v4agent.sandbox import containment, detect, is_contained, make_policy, sandbox_label


@pytest.fixture(autouse=True)
def _fresh() -> None:
    detect.cache_clear()


def test_a_missing_binary_is_no_mechanism(tmp_path: Path) -> None:
    found = detect(str(tmp_path / "no-bwrap"))
    assert not found.available
    assert found.mechanism == "none"
    assert "not installed" in found.reason
    assert "no-bwrap" in found.reason
    assert found.describe().startswith("none: ")


def test_no_bwrap_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    found = detect()
    assert not found.available
    assert "bwrap is not on PATH" in found.reason


def test_a_bwrap_that_cannot_start_a_sandbox_says_why(tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    found = detect(str(fake))
    assert not found.available
    assert "No permissions to create a new namespace" in found.reason
    assert found.path == str(fake)


def test_mode_off_is_never_contained(tmp_path: Path) -> None:
    policy = make_policy(tmp_path, mode="off")
    assert not is_contained(policy)
    assert "sandbox.mode = off" in containment(policy).reason
    assert sandbox_label(policy) == "unsandboxed"
    assert not is_contained(None)


@needs_bwrap
def test_the_installed_bwrap_works_here(tmp_path: Path) -> None:
    found = detect()
    assert found.available
    assert os.path.samefile(found.path, shutil.which("bwrap") or "")
    assert "--unshare-user" in found.variant
    assert sandbox_label(make_policy(tmp_path)) == "sandboxed"
    assert sandbox_label(make_policy(tmp_path, network=True)) == "sandboxed+net"
