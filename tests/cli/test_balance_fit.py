"""The pre-flight estimate beside the account balance (#23): whether the pack's first request fits in it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tests.conftest import make_git_repo, run_cli
from v4agent.accounting.estimate import Estimate
from v4agent.cli.commands.balance_fit import fit_line
from v4agent.core.trust import trust_repository
from v4agent.engine.balance import Balance, CurrencyBalance
from v4agent.testing import BalanceInfo, StandIn

ESTIMATES = [Estimate("deepseek-v4-flash", True, 0.25, 0.01, "e1"), Estimate("deepseek-v4-flash", False, 0.12, 0.005, "e1"),
             Estimate("deepseek-v4-pro", True, 2.0, 0.1, "e1")]


def _usd(total: str, available: bool = True) -> Balance:
    return Balance(available, (CurrencyBalance("USD", Decimal(total), Decimal(0), Decimal(total)),))


def test_the_dearest_first_request_is_compared_with_a_usd_balance() -> None:
    assert fit_line(_usd("1.00"), ESTIMATES, "deepseek-v4-flash") == (
        "account balance: USD 1.00; the first request with deepseek-v4-flash ($0.2500 at most) fits")
    assert "does NOT fit (top up before running)" in fit_line(_usd("1.00"), ESTIMATES, "deepseek-v4-pro")
    assert "cannot pay for calls now" in fit_line(_usd("5.00", available=False), ESTIMATES, "deepseek-v4-flash")
    # A model the table no longer lists: the dearest one it does, named.
    assert "with deepseek-v4-pro ($2.0000 at most) does NOT fit" in fit_line(_usd("1.00"), ESTIMATES, "gpt-4o")


def test_a_cny_balance_is_shown_but_never_converted() -> None:
    cny = Balance(True, (CurrencyBalance("CNY", Decimal("110.00"), Decimal(10), Decimal(100)),))
    line = fit_line(cny, ESTIMATES, "deepseek-v4-flash")
    assert line == "account balance: CNY 110.00; the estimate ($0.2500 for deepseek-v4-flash) is in USD: not compared"


def test_pack_stats_show_the_balance_beside_the_estimate(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "def f():\n    return 1\n" * 200})
    with StandIn(balance=[BalanceInfo("USD", "0.000001", "0.00", "0.000001")]) as server:
        (root / ".v4agent.toml").write_text(f'engine = "deepseek"\nbase_url = "{server.base_url}"\n')
        trust_repository(root)  # base_url is a key only a trusted project file may set
        env = {"DEEPSEEK_API_KEY": "sk-test"}
        stats = run_cli("pack", str(root), "--stats", "-o", str(tmp_path / "out.txt"), env=env)
        report = run_cli("pack", str(root), "--json", "-o", str(tmp_path / "out2.txt"), env=env)
        no_key = run_cli("pack", str(root), "--json", "-o", str(tmp_path / "out3.txt"))
        asked = [c for c in server.calls]
    assert stats.returncode == 0, stats.stderr
    assert "account balance: USD 0.00" in stats.stdout
    assert "does NOT fit (top up before running)" in stats.stdout
    assert "does NOT fit" in json.loads(report.stdout)["balance"]
    assert "balance" not in json.loads(no_key.stdout)  # no key: nothing is asked of the server
    assert asked == []  # the balance endpoint is not a model call
