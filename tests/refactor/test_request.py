"""The refactor command's record: which flags override the configuration."""

from __future__ import annotations

from pathlib import Path

from v4agent.refactor.request import RefactorRequest


def test_config_flags_map_the_command_line_onto_config_keys() -> None:
    request = RefactorRequest(Path("."), "do it", model="m", max_turns=3, test_cmd="pytest", budget=900)
    flags = request.config_flags()
    assert flags == {"engine": None, "model": "m", "base_url": None, "think": None, "max_turns": 3,
                     "max_cost": None, "approve": None, "test_cmd": "pytest", "pack.budget": 900,
                     "sandbox.network": None}
    assert RefactorRequest(Path("."), network=True).config_flags()["sandbox.network"] is True
    assert RefactorRequest(Path("."), approve="ask", yes=True).config_flags()["approve"] == "yes"
