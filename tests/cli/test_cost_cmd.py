"""`v4agent cost` and `v4agent engine list` through the real CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import run_cli
from v4agent.accounting import Ledger, load_price_table
from v4agent.accounting.estimate import estimate_pack_cost
from v4agent.core.trust import trust_repository
from v4agent.engine.types import Usage
from v4agent.testing import StandIn


def _ledger(root: Path) -> None:
    ledger, table = Ledger(root), load_price_table()
    t0 = datetime(2026, 9, 11, 2, 0, tzinfo=UTC)  # Friday, peak
    ledger.record_call(table, session_id="s1", turn=1, engine="deepseek", model="deepseek-v4-pro",
                       usage=Usage(1_000_000, 10_000, cache_hit=0, cache_miss=1_000_000), at=t0)
    ledger.record_call(table, session_id="s1", turn=2, engine="deepseek", model="deepseek-v4-pro",
                       usage=Usage(1_020_000, 10_000, cache_hit=1_000_000, cache_miss=20_000), at=t0)
    ledger.record_call(table, session_id="s2", turn=1, engine="deepseek", model="deepseek-v4-flash",
                       usage=Usage(500_000, 1_000, cache_hit=None), at=t0 + timedelta(days=1))
    with ledger.path.open("a") as handle:
        handle.write('{"ts": "2026-09-12T')  # a torn last line


def test_cost_json_by_session_day_model(tmp_path: Path) -> None:
    _ledger(tmp_path)
    out = run_cli("cost", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    s1 = data["groups"]["s1"]
    # 1.0M miss at 1.32 + 10k out at 3.96 = 1.3596 ; 1.0M hit at 0.044 + 20k miss at 1.32 + 10k out = 0.1100
    assert s1["total_usd"] == 1.4696
    assert s1["hit_ratio"] == round(1_000_000 / 2_020_000, 4)
    assert s1["saved_usd"] == round(1.0 * (1.32 - 0.044), 6)
    # Saturday: off-peak deepseek-flash via alias, hits unknown -> all misses 0.5M*0.15 + 1k*0.60
    assert data["groups"]["s2"]["total_usd"] == 0.0756
    assert data["groups"]["s2"]["hit_unknown_calls"] == 1
    assert data["total"]["calls"] == 3
    assert data["skipped_lines"] == 1
    assert "unreadable ledger line" in out.stderr
    by_model = json.loads(run_cli("cost", str(tmp_path), "--json", "--by", "model").stdout)["groups"]
    # one row per billed model: deepseek-v4-flash was billed as deepseek-flash on 2026-09-12 (the dated alias)
    assert set(by_model) == {"deepseek/deepseek-v4-pro", "deepseek/deepseek-flash"}
    by_day = json.loads(run_cli("cost", str(tmp_path), "--json", "--by", "day", "--since", "2026-09-12").stdout)
    assert list(by_day["groups"]) == ["2026-09-12"]


def test_cost_table_and_bad_input(tmp_path: Path) -> None:
    _ledger(tmp_path)
    out = run_cli("cost", str(tmp_path))
    assert out.returncode == 0
    assert "s1" in out.stdout
    assert "$1.4696" in out.stdout
    assert "total" in out.stdout
    assert "priced as misses" in out.stderr
    bad = run_cli("cost", str(tmp_path), "--by", "week")
    assert bad.returncode == 2
    assert "--by must be one of" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = run_cli("cost", str(tmp_path), "--since", "last tuesday")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    empty = run_cli("cost", str(tmp_path / "nowhere"))
    assert empty.returncode == 2
    assert "not a directory" in empty.stderr


def test_cost_prices_shows_peak_state_and_next_offpeak(tmp_path: Path) -> None:
    out = run_cli("cost", str(tmp_path), "--prices", "--now", "2026-09-11T02:30")
    assert out.returncode == 0
    assert "peak, priced by deepseek-2026-09-10-flash-v4.1" in out.stdout
    assert "Next off-peak window starts 2026-09-11 04:00 UTC" in out.stdout
    data = json.loads(run_cli("cost", str(tmp_path), "--prices", "--json", "--now", "2026-09-12T02:30").stdout)
    assert data["peak"] is False
    assert data["next_change"] == "2026-09-14T01:00:00+00:00"
    assert len(data["entries"]) == 6  # with the 2026-09-14 routing of deepseek-v4-pro


def test_cost_uses_the_configured_price_file(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('[[entry]]\nid = "flat"\nengine = "deepseek"\nstart = 2026-09-11T00:00:00Z\n'
                                     'models.deepseek-v4-pro = { hit = 0, miss = 1, output = 1 }\n')
    (tmp_path / ".v4agent.toml").write_text('prices_file = "p.toml"\n')
    trust_repository(tmp_path)  # a price file applies only from a trusted project file
    _ledger(tmp_path)  # priced by the shipped table when recorded; --prices shows the merged one
    data = json.loads(run_cli("cost", str(tmp_path), "--prices", "--json", "--now", "2026-09-11T02:30").stdout)
    assert data["entry_in_force"] == "flat"
    assert data["sources"][-1].endswith("p.toml")
    (tmp_path / "p.toml").write_text("[[entry]]\nid = 3\n")
    bad = run_cli("cost", str(tmp_path), "--prices")
    assert bad.returncode == 2
    assert "p.toml" in bad.stderr


def test_engine_list_shows_configured_and_reachable(tmp_path: Path) -> None:
    with StandIn(api_key=None) as server:
        (tmp_path / ".v4agent.toml").write_text(f'engine = "vllm"\nbase_url = "{server.base_url}/v1"\n')
        trust_repository(tmp_path)  # engine and base_url apply only from a trusted project file
        out = run_cli("engine", "list", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert set(rows) == {"deepseek", "vllm", "sglang", "nim", "openai-compatible", "local"}
    assert rows["vllm"]["selected"]
    assert rows["vllm"]["reachable"].startswith("yes (")
    assert rows["deepseek"]["configured"] is False
    assert rows["deepseek"]["missing"] == "DEEPSEEK_API_KEY not set"
    assert rows["deepseek"]["reachable"] == "not probed"  # no key: nothing is sent off the machine
    assert rows["openai-compatible"]["missing"] == "no base_url"
    table = run_cli("engine", "list", str(tmp_path), "--no-probe")
    assert table.returncode == 0
    assert "vllm *" in table.stdout


def test_cost_by_model_names_each_billed_model_with_its_aliases_as_the_preflight_table_does(tmp_path: Path) -> None:
    ledger, table = Ledger(tmp_path), load_price_table()
    before, after = datetime(2026, 9, 1, 2, 0, tzinfo=UTC), datetime(2026, 9, 12, 2, 0, tzinfo=UTC)
    for at in (before, after, after):  # the same requested name, billed under two names as the data dates them
        ledger.record_call(table, session_id="s", turn=1, engine="deepseek", model="deepseek-v4-flash",
                           usage=Usage(1_000, 10, cache_hit=0, cache_miss=1_000), at=at)
    entry = table.entry_at(after)
    assert entry is not None
    billed = entry.resolve("deepseek-v4-flash")
    assert billed != "deepseek-v4-flash"  # the data routes it (a name taken from the data, never a constant)
    preflight = next(e.label for e in estimate_pack_cost(table, 1_000, after) if e.model == billed)
    assert "(= " in preflight
    out = run_cli("cost", str(tmp_path), "--by", "model")
    assert out.returncode == 0, out.stderr
    rows = [line.split("  ")[0] for line in out.stdout.splitlines() if line.startswith("deepseek/")]
    assert rows == ["deepseek/deepseek-v4-flash", f"deepseek/{preflight}"]  # one row per model
    data = json.loads(run_cli("cost", str(tmp_path), "--by", "model", "--json").stdout)
    assert data["groups"][f"deepseek/{billed}"]["calls"] == 2
    assert f"{billed} (= {', '.join(data['aliases'][f'deepseek/{billed}'])})" == preflight
