"""Report tables stay whole: no figure is cut or broken, ids stay on one line while the table fits."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from v4agent.accounting.estimate import Estimate
from v4agent.agent.sessions.costs import cost_table
from v4agent.agent.sessions.records import CallRecord, StartRecord
from v4agent.agent.sessions.store import SessionData
from v4agent.refactor.progress import estimate_table
from v4agent.ui import console as console_module
from v4agent.ui.tables import report_table

SESSION_ID = "20261123-163219-cfb382"


def _render(renderable: object, width: int) -> str:
    out = Console(file=io.StringIO(), width=width, color_system=None, highlight=False)
    out.print(renderable)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(text, str)
    return text


def _session(turns: int) -> SessionData:
    call = CallRecord(kind="turn", prompt_tokens=917_504, cache_hit=913_408, cache_miss=4_096, output_tokens=3_821,
                      reasoning_tokens=2_107, cost_usd=0.034567, saved_usd=0.345678,
                      price_entry="deepseek-2026-09-10-flash-v4.1 (peak)")
    prime = replace(call, kind="prime", cache_hit=0, cache_miss=917_504)
    return SessionData(SESSION_ID, Path("x.jsonl"), StartRecord(task="t"), calls=[prime, *[call] * turns])


@pytest.mark.parametrize("width", [80, 100, 120])
def test_the_cost_table_of_a_session_on_a_1m_pack_keeps_every_figure_whole(width: int) -> None:
    text = _render(cost_table(_session(12)), width)  # about 12 M prompt tokens: 10-digit figures
    assert "…" not in text
    for figure in (f"{913_408 * 12:,}", f"{917_504 * 13 - 913_408 * 12:,}", f"{3_821 * 13:,}", f"{2_107 * 13:,}",
                   f"{0.034567 * 13:.6f}", f"{0.345678 * 12:.6f}", "prime", "turn", "total"):
        assert figure in text, (figure, text)
    assert "deepseek-2026-09-10-flash-v4.1 (peak)" in text
    assert all(len(line) <= width for line in text.splitlines())


def test_the_pre_flight_estimate_names_every_model_whole_at_80_columns() -> None:
    estimates = [Estimate(model, peak, 1.2345, 0.0123, "deepseek-2026-09-10-flash-v4.1")
                 for model in ("deepseek-flash", "deepseek-v4-pro") for peak in (True, False)]
    text = _render(estimate_table(estimates), 80)
    assert "…" not in text
    for expected in ("deepseek-flash", "deepseek-v4-pro", "1.2345", "0.0123", "off-peak",
                     "deepseek-2026-09-10-flash-v4.1"):
        assert expected in text


def _session_table() -> object:
    numbers = ("calls", "hit", "miss", "output", "reason", "hit %", "cost", "saved")
    table = report_table("cost by session", ("session", *numbers), numeric=numbers, whole=("session",))
    table.add_row(SESSION_ID, "121", "109,608,960", "1,115,024", "4,623,531", "2,541,847", "99.0%", "$149.3826",
                  "$1,481.4814")
    return table


def test_an_id_stays_on_one_line_while_the_table_fits() -> None:
    text = _render(_session_table(), 120)
    assert SESSION_ID in text
    assert "$1,481.4814" in text
    assert "…" not in text


def test_an_id_folds_rather_than_cut_when_only_the_figures_fit() -> None:
    text = _render(_session_table(), 100)
    assert "…" not in text
    assert "109,608,960" in text
    assert "$1,481.4814" in text
    lines = text.splitlines()
    rows = lines[next(i for i, line in enumerate(lines) if line.startswith("──")) + 1:]
    first_column = "".join(line.split()[0] for line in rows if line.strip())
    assert SESSION_ID in first_column  # every character of the id is there, folded over lines
    assert all(len(line) <= 100 for line in text.splitlines())


@pytest.mark.parametrize("width", [40, 60, 80])
def test_nothing_is_cropped_however_narrow(width: int) -> None:
    """rich crops a column that may not wrap without a mark: every digit of the cells must still be there."""
    text = _render(_session_table(), width)
    cells = SESSION_ID + "121109,608,9601,115,0244,623,5312,541,84799.0%$149.3826$1,481.4814"
    assert sum(ch.isdigit() for ch in text) == sum(ch.isdigit() for ch in cells)
    assert "…" not in text
    assert all(len(line) <= width for line in text.splitlines())


def test_a_pipe_gets_a_wide_console_and_columns_still_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert console_module._width(io.StringIO()) == console_module.PIPE_WIDTH
    monkeypatch.setenv("COLUMNS", "90")
    assert console_module._width(io.StringIO()) is None  # rich reads COLUMNS itself

    class _Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("COLUMNS")
    assert console_module._width(_Terminal()) is None
