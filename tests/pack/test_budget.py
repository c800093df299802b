"""Budget: lower-ranked files degrade full -> skeleton -> path-only; the total never exceeds the budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from v4agent.pack import PackError, PackOptions, Snapshot
from v4agent.pack.fit.budget import fit_budget
from v4agent.tokens.tokenizer import get_tokenizer


def test_fits_without_degrading() -> None:
    assert fit_budget(10, {"a": 5, "b": 5}, ["a", "b"], 20, lambda p: 1) == {"a": "full", "b": "full"}
    assert fit_budget(10, {"a": 5}, [], None, lambda p: 1) == {"a": "full"}


def test_lowest_rank_degrades_first() -> None:
    full = {"low": 50, "mid": 50, "top": 50}
    modes = fit_budget(0, full, ["low", "mid", "top"], 120, lambda p: 10)
    assert modes == {"low": "skeleton", "mid": "full", "top": "full"}
    modes = fit_budget(0, full, ["low", "mid", "top"], 120, lambda p: None)  # no skeletons: path-only
    assert modes == {"low": "path", "mid": "full", "top": "full"}


def test_tight_budget_keeps_the_top_in_full() -> None:
    full = {f"f{i}": 100 for i in range(10)}
    ascending = [f"f{i}" for i in range(10)]
    modes = fit_budget(0, full, ascending, 250, lambda p: 40)
    total = sum(full[p] if m == "full" else 40 if m == "skeleton" else 0 for p, m in modes.items())
    assert total <= 250
    assert modes["f9"] == "full"
    assert modes["f0"] == "path"


def test_budget_below_the_fixed_part_is_an_error() -> None:
    with pytest.raises(PackError, match="below the header and file tree"):
        fit_budget(100, {"a": 5}, ["a"], 50, lambda p: 1)


def _repo(tmp_path: Path) -> Path:
    files = {}
    for i in range(12):
        body = "\n".join(f"    value_{j} = helper_{i}({j})" for j in range(40))
        files[f"pkg/mod{i}.py"] = (f'"""Module {i}."""\nfrom pkg.core import core_fn\n\n\ndef helper_{i}(x):\n'
                                   f'    """Help {i}."""\n{body}\n    return core_fn(x)\n')
    files["pkg/core.py"] = "def core_fn(x):\n    '''The core.'''\n" + "    x += 1\n" * 60 + "    return x\n"
    files["notes.txt"] = "plain words\n" * 200
    return make_git_repo(tmp_path / "repo", files)


@pytest.mark.parametrize("budget", [900, 1500, 3000, 6000])
def test_emitted_total_never_exceeds_budget(tmp_path: Path, budget: int) -> None:
    root = _repo(tmp_path)
    whole = Snapshot.build(root, PackOptions(budget=None))
    assert whole.token_count > 6000
    snap = Snapshot.build(root, PackOptions(budget=budget))
    assert snap.token_count <= budget
    assert snap.token_count == get_tokenizer("deepseek-v4").count(snap.text)
    degraded = [f for f in snap.files if f.mode in ("skeleton", "path")]
    assert degraded, "something had to give"
    for f in degraded:
        assert f.full_tokens > f.tokens
        if f.mode == "path":
            assert f'path="{f.path}"' not in snap.text
        else:
            assert f'<file path="{f.path}" mode="skeleton">' in snap.text
    assert {f.path for f in snap.files} == {f.path for f in whole.files}  # every file stays in the tree


def test_focus_keeps_the_focused_file(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    snap = Snapshot.build(root, PackOptions(budget=2500, focus=("pkg/mod5.py",)))
    modes = {f.path: f.mode for f in snap.files}
    assert modes["pkg/mod5.py"] == "full"


def test_too_small_budget_is_a_clear_error(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    with pytest.raises(PackError, match="budget"):
        Snapshot.build(root, PackOptions(budget=50))


def test_options_from_config_default_budget_leaves_room_for_the_conversation(tmp_path: Path) -> None:
    from v4agent.core.config import load_config
    from v4agent.engine.presets import model_info
    from v4agent.pack.fromconfig import pack_options_from_config

    config = load_config(tmp_path, environ={"XDG_CONFIG_HOME": str(tmp_path)})
    options = pack_options_from_config(config, model="deepseek-v4-pro", include=["x/*"], focus=["core"])
    assert options.budget == model_info("deepseek-v4-pro").context_window - config.get("pack.reserve")
    assert options.include == ("x/*",)
    assert options.focus == ("core",)
    assert pack_options_from_config(config, unlimited=True).budget is None
    assert pack_options_from_config(config, budget=5000).budget == 5000
    configured = load_config(tmp_path, environ={"XDG_CONFIG_HOME": str(tmp_path), "V4AGENT_PACK_BUDGET": "7000"})
    assert pack_options_from_config(configured).budget == 7000
