"""The request layout: byte-stable, append-only, priming prefix, compaction plan."""

from __future__ import annotations

import pytest

from v4agent.agent.request.layout import (
    Conversation,
    LayoutError,
    compacted_messages,
    describe_message,
    initial_messages,
    plan_compaction,
    prefix_hash,
    priming_messages,
    priming_pays,
    tool_message,
)

TOOLS = [{"type": "function", "function": {"name": "read_file", "description": "d", "parameters": {}}}]


def test_priming_request_is_exactly_the_prefix_ending_at_the_pack() -> None:
    primed = priming_messages("SYS", "PACK")
    first = initial_messages("SYS", "PACK", "do it")
    assert first[: len(primed)] == primed
    assert [m["role"] for m in first] == ["system", "user", "user"]
    assert "PACK" in first[1]["content"]
    assert "do it" in first[2]["content"]


def test_conversation_only_appends_and_never_exposes_its_messages_for_mutation() -> None:
    conv = Conversation.start("SYS", "PACK", "rename foo")
    before = conv.messages
    conv.messages[0]["content"] = "tampered"
    conv.append({"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": "{}"}},
        {"id": "c2", "type": "function", "function": {"name": "grep", "arguments": "{}"}},
    ]})
    conv.append(tool_message("c1", "ok"))
    after = conv.messages
    assert after[: len(before)] == before
    assert after[0]["content"] == "SYS"
    assert conv.dangling_tool_calls() == ["c2"]
    assert conv.pack_text() == "PACK"
    assert conv.task() == "rename foo"
    with pytest.raises(LayoutError):
        conv.append({"role": "system", "content": "new rules"})


def test_prefix_hash_changes_with_any_cache_key_part() -> None:
    base = prefix_hash(priming_messages("S", "P"), TOOLS, "m", "high")
    assert base == prefix_hash(priming_messages("S", "P"), TOOLS, "m", "high")
    assert base != prefix_hash(priming_messages("S", "P2"), TOOLS, "m", "high")
    assert base != prefix_hash(priming_messages("S", "P"), [], "m", "high")
    assert base != prefix_hash(priming_messages("S", "P"), TOOLS, "m", "max")


def test_describe_message_names_turns() -> None:
    msgs = [*initial_messages("S", "P", "T"), {"role": "assistant", "content": "a"}, tool_message("x", "r"),
            {"role": "assistant", "content": "b"}]
    assert [describe_message(msgs, i) for i in range(6)] == [
        "system prompt", "pack", "task", "turn 1 (assistant)", "turn 1 (tool)", "turn 2 (assistant)"]


def test_compaction_plan_keeps_room_for_a_reply_and_the_next_tool_results() -> None:
    def never() -> int:
        raise AssertionError("the base is rendered only past the limit")

    assert not plan_compaction(900_000, window=1_000_000, max_output=32_000, margin=30_000, base_tokens=never).needed
    plan = plan_compaction(950_000, window=1_000_000, max_output=32_000, margin=30_000, base_tokens=lambda: 500_000)
    assert plan.needed
    assert plan.limit_tokens == 938_000


def test_a_pack_that_nearly_fills_the_window_is_not_compacted_every_turn() -> None:
    """The default budget leaves a 128K reserve: 917,502 pack tokens on a 1M window. The old rule (85% of
    the window) compacted such a session on every turn from the fourth, summarizing almost nothing."""
    window, pack = 1_048_576, 919_000
    for turns in (2_000, 30_000, 60_000):  # a session's turns that still fit the reserve
        assert not plan_compaction(pack + turns, window=window, max_output=32_768, base_tokens=lambda: pack).needed
    full = plan_compaction(pack + 90_000, window=window, max_output=32_768, base_tokens=lambda: pack)
    assert full.needed  # the reserve is used up by turns: summarizing them frees it
    tiny = plan_compaction(pack + 90_000, window=window, max_output=32_768, base_tokens=lambda: pack + 80_000)
    assert not tiny.needed
    assert "too few" in tiny.reason


def test_compacted_messages_restart_from_the_pack_and_the_summary() -> None:
    new = compacted_messages("S", "P2", "T", "did X")
    assert new[:3] == initial_messages("S", "P2", "T")
    assert "did X" in new[3]["content"]


def test_priming_pays_only_when_the_tail_it_saves_outweighs_reading_the_pack_again() -> None:
    flash_peak = {"hit_usd_per_m": 0.014, "miss_usd_per_m": 0.44}
    assert priming_pays(1_500, interval=4096, **flash_peak)  # small pack: all of it is the tail
    assert not priming_pays(201_311, interval=4096, **flash_peak)  # 615-token tail vs 201K hit tokens
    assert priming_pays(201_311, interval=None, **flash_peak)  # no interval units: the whole pack is at stake
    assert not priming_pays(5_000, interval=4096, hit_usd_per_m=0.0, miss_usd_per_m=0.0)  # local engine
    assert not priming_pays(0, interval=4096, **flash_peak)
