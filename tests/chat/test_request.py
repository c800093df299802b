"""The chat command's record: which flags override the configuration."""

from __future__ import annotations

from v4agent.chat.request import ChatRequest


def test_config_flags_map_the_command_line_onto_config_keys() -> None:
    flags = ChatRequest(("repo",), think="off", max_cost=2.0, budget=500).config_flags()
    assert flags == {"engine": None, "model": None, "base_url": None, "think": "off", "max_cost": 2.0,
                     "approve": None, "pack.budget": 500, "sandbox.network": None}
    assert ChatRequest(network=True).config_flags()["sandbox.network"] is True
    assert ChatRequest(approve="ask", yes=True).config_flags()["approve"] == "yes"
