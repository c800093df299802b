"""The durable ledger: append/read, a torn last line, and a process killed mid-session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from v4agent.accounting import Ledger, load_price_table
from v4agent.engine.types import Usage

_WRITER = """
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from v4agent.accounting import Ledger, load_price_table
from v4agent.engine.types import Usage
ledger, table = Ledger(Path(sys.argv[1])), load_price_table()
start = datetime(2026, 9, 11, 2, 0, tzinfo=timezone.utc)
n = 0
while True:
    n += 1
    ledger.record_call(table, session_id="s", turn=n, engine="deepseek", model="deepseek-v4-pro",
                       usage=Usage(1000 * n, 10, cache_hit=1000 * (n - 1), cache_miss=1000),
                       at=start + timedelta(seconds=n))
    print(n, flush=True)
"""


def test_append_and_read_back(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    table = load_price_table()
    t0 = datetime(2026, 9, 11, 2, 0, tzinfo=UTC)
    first = ledger.record_call(table, session_id="a", turn=1, engine="deepseek", model="deepseek-v4-pro",
                               usage=Usage(1_000_000, 0, cache_hit=0, cache_miss=1_000_000), at=t0)
    ledger.record_call(table, session_id="a", turn=2, engine="vllm", model="m",
                       usage=Usage(10, 1, cache_hit=None), at=t0 + timedelta(days=2), duration_s=1.5)
    assert ledger.path == tmp_path / ".v4agent" / "ledger.jsonl"
    assert (tmp_path / ".v4agent" / ".gitignore").exists()
    records = ledger.read()
    assert records[0] == first
    assert first.total_usd == 1.32
    assert records[1].cache_hit is None
    assert records[1].hit_unknown
    assert records[1].duration_s == 1.5
    assert [r.turn for r in ledger.read(since=t0 + timedelta(days=1))] == [2]
    for line in ledger.path.read_text().splitlines():
        assert json.loads(line)["session_id"] == "a"


def test_torn_last_line_is_skipped_and_counted(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record_call(load_price_table(), session_id="a", turn=1, engine="deepseek", model="deepseek-v4-pro",
                       usage=Usage(10, 1, 0, 10), at=datetime(2026, 9, 11, tzinfo=UTC))
    with ledger.path.open("a") as handle:
        handle.write('{"ts": "2026-09-11T00:00:01+00:00", "session_id": "a", "tu')
    result = ledger.read_all()
    assert len(result.records) == 1
    assert result.skipped == 1


def test_hand_edited_line_with_wrong_types_is_skipped(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    good = ledger.record_call(load_price_table(), session_id="a", turn=1, engine="deepseek",
                              model="deepseek-v4-pro", usage=Usage(10, 1, 0, 10), at=datetime(2026, 9, 11, tzinfo=UTC))
    bad = json.loads(good.to_json()) | {"prompt_tokens": "lots"}
    with ledger.path.open("a") as handle:
        handle.write(json.dumps(bad) + "\n" + "[1, 2]\n")
    result = ledger.read_all()
    assert result.records == [good]
    assert result.skipped == 2


def test_missing_ledger_reads_empty(tmp_path: Path) -> None:
    assert Ledger(tmp_path).read_all().records == []
    assert not (tmp_path / ".v4agent").exists()


def test_ledger_survives_sigkill_mid_session(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    completed = 0
    try:
        for line in proc.stdout:
            completed = int(line)
            if completed >= 40:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    result = Ledger(tmp_path).read_all()
    turns = [r.turn for r in result.records]
    assert turns[:completed] == list(range(1, completed + 1))  # every call reported done is there, in order
    assert result.skipped <= 1  # at most the call in flight is torn
    assert all(r.price_entry.startswith("deepseek-2026-09-10") for r in result.records)
