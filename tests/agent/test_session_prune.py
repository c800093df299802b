"""`v4agent sessions prune`: old sessions go, and with them the stored packs no kept session uses."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import make_git_repo, run_cli
from v4agent.agent.sessions.blobs import blob_refs
from v4agent.agent.sessions.prune import stale_sessions
from v4agent.agent.sessions.records import StartRecord
from v4agent.agent.sessions.store import SessionWriter, list_sessions, read_session

DAY = 86_400.0


def test_stale_sessions_never_include_the_newest() -> None:
    now = 100 * DAY
    files = [(Path("a.jsonl"), now - 50 * DAY), (Path("b.jsonl"), now - 40 * DAY), (Path("c.jsonl"), now - DAY)]
    assert stale_sessions(files, now=now, older_than_s=30 * DAY) == [Path("a.jsonl"), Path("b.jsonl")]
    assert stale_sessions(files[:2], now=now, older_than_s=0) == [Path("a.jsonl")]  # b is the newest left
    assert stale_sessions([], now=now, older_than_s=0) == []


def test_blob_refs_reads_the_recorded_references() -> None:
    digest = "ab" * 32
    assert blob_refs(['{"message":{"role":"user","content":{"blob":"' + digest + '"}}}', "no refs"]) == {digest}


def _session(root: Path, pack: str, age_days: float) -> Path:
    writer = SessionWriter.create(root, StartRecord(task=f"pack of {len(pack)} chars"))
    writer.message(0, {"role": "user", "content": pack})
    stamp = time.time() - age_days * DAY
    os.utime(writer.path, (stamp, stamp))
    return writer.path


def test_prune_deletes_old_sessions_and_only_the_packs_nobody_uses(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import v4agent.agent.sessions.blobs as blobs

    monkeypatch.setattr(blobs, "BLOB_MIN_CHARS", 100)
    root = make_git_repo(tmp_path / "repo", {"app.py": "x = 1\n"})
    old_pack, shared_pack = "o" * 500, "s" * 500
    old = _session(root, old_pack, age_days=60)
    older_shared = _session(root, shared_pack, age_days=45)
    recent = _session(root, shared_pack, age_days=1)
    blob_dir = recent.parent / "blobs"
    assert len(list(blob_dir.iterdir())) == 2

    dry = run_cli("sessions", "prune", "-C", str(root), "--older-than", "30", "--dry-run")
    assert dry.returncode == 0
    assert "would delete 2 session(s) and 1 stored content(s)" in dry.stdout
    assert old.exists()
    assert len(list(blob_dir.iterdir())) == 2

    done = run_cli("sessions", "prune", "-C", str(root), "--older-than", "30")
    assert done.returncode == 0
    assert "deleted 2 session(s) and 1 stored content(s)" in done.stdout
    assert not old.exists()
    assert not older_shared.exists()
    assert [s.session_id for s in list_sessions(root)] == [recent.stem]
    assert read_session(recent).messages[0]["content"] == shared_pack
    assert not read_session(recent).damaged

    everything = run_cli("sessions", "prune", "-C", str(root), "--older-than", "0")
    assert everything.returncode == 0
    assert recent.exists()
    assert run_cli("sessions", "prune", "-C", str(root), "--older-than", "-1").returncode == 2
