"""Kill -9 soak, bounded: a scripted session against the stand-in, killed at random points about 20 times.

After every kill: no file torn, no stray file once a run got past its start, the ledger parseable with no call
twice and none the session lacks, the session resumable, and undo (planned with --dry-run after kills, run at each
session's end) back to the starting commit, after a kill at any instant (between an edit and its record too).
``bench/soak_kill.py`` runs the same with 200 kills and prints the counts.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

KILLS = 20


def _soak_module() -> object:
    spec = importlib.util.spec_from_file_location("soak_kill", REPO_ROOT / "bench" / "soak_kill.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak_kill"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_kill_soak(tmp_path: Path) -> None:
    soak = _soak_module()
    counts = soak.soak(tmp_path, kills=KILLS, seed=7, undo_every=2, finish_every=10,  # type: ignore[attr-defined]
                       say=lambda line: None)
    assert counts.kills == KILLS
    assert counts.sessions >= 2
    assert counts.undo_checked >= KILLS // 2
    assert counts.torn == 0
    assert counts.stray_after_start == 0
    assert counts.ledger_torn == 0
    assert counts.ledger_twice == 0
    assert counts.ledger_not_in_session == 0
    assert counts.ledger_missing_after_run == 0
    assert counts.session_damaged == 0
    assert counts.resume_failed == 0, counts.problems
    # Every tool's undo record is written (fsynced) before it runs: a kill between a change and its record
    # never leaves a change undo takes for the user's.
    assert counts.undo_unclean == 0, counts.problems
