"""Cache diagnostics: expected hit from the unit rules vs the billed hit, and the cause of each break."""

from __future__ import annotations

from v4agent.agent.request.cachediag import CacheTracker, segment_name
from v4agent.agent.request.layout import initial_messages, priming_messages, tool_message
from v4agent.tokens.tokenizer import get_tokenizer

TOOLS = [{"type": "function", "function": {"name": "grep", "description": "search", "parameters": {}}}]
PACK = "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(400))


def _assistant(text: str) -> dict[str, object]:
    return {"role": "assistant", "content": text}


def test_append_only_session_expects_the_whole_previous_request() -> None:
    tracker = CacheTracker(get_tokenizer("deepseek-v4"), interval=256)
    prime = priming_messages("SYS", PACK)
    r0 = tracker.render(prime, TOOLS)
    d0 = tracker.record(r0, prime, None, billed_hit=0, billed_prompt=len(r0.tokens))
    assert d0.expected_hit == 0
    assert d0.breaks == ()
    msgs = initial_messages("SYS", PACK, "task")
    r1 = tracker.render(msgs, TOOLS)
    assert tracker.expected(r1) == len(r0.tokens)  # the primed pack unit
    d1 = tracker.record(r1, msgs, _assistant("one"), billed_hit=len(r0.tokens), billed_prompt=len(r1.tokens))
    assert d1.breaks == ()
    msgs2 = [*msgs, _assistant("one"), {"role": "user", "content": "more"}]
    r2 = tracker.render(msgs2, TOOLS)
    assert r2.tokens[: len(r1.tokens)] == r1.tokens
    # Input + output of the previous call is a prefix of this one.
    assert tracker.expected(r2) == tracker.theoretical_max(r2) > len(r1.tokens)


def test_provider_drop_is_named_when_the_request_was_append_only() -> None:
    tracker = CacheTracker(get_tokenizer("deepseek-v4"), interval=None)
    msgs = initial_messages("SYS", PACK, "task")
    r1 = tracker.render(msgs, TOOLS)
    tracker.record(r1, msgs, _assistant("ok"), billed_hit=0, billed_prompt=len(r1.tokens))
    msgs2 = [*msgs, _assistant("ok"), {"role": "user", "content": "next"}]
    r2 = tracker.render(msgs2, TOOLS)
    diag = tracker.record(r2, msgs2, _assistant("x"), billed_hit=0, billed_prompt=len(r2.tokens))
    assert diag.expected_hit > 1000
    (brk,) = diag.breaks
    assert brk.kind == "provider"
    assert "dropped a unit" in brk.cause


def test_a_changed_turn_is_named_with_its_offset() -> None:
    tracker = CacheTracker(get_tokenizer("deepseek-v4"), interval=None)
    msgs = [*initial_messages("SYS", PACK, "task"), _assistant("a"), tool_message("c", "result one")]
    r1 = tracker.render(msgs, TOOLS)
    tracker.record(r1, msgs, _assistant("b"), billed_hit=0, billed_prompt=len(r1.tokens))
    changed = [*msgs[:-1], tool_message("c", "result TWO"), _assistant("b")]
    r2 = tracker.render(changed, TOOLS)
    diag = tracker.record(r2, changed, None, billed_hit=0, billed_prompt=len(r2.tokens))
    kinds = {b.kind: b for b in diag.breaks}
    assert kinds["layout"].segment == "turn 1 (tool)"
    assert r1.tokens[: kinds["layout"].offset] == r2.tokens[: kinds["layout"].offset]
    assert r1.tokens[kinds["layout"].offset] != r2.tokens[kinds["layout"].offset]
    # Nothing was stored that this request fully matches beyond the units before the change.
    assert diag.expected_hit < kinds["layout"].offset


def test_changed_pack_is_named_pack() -> None:
    tracker = CacheTracker(get_tokenizer("deepseek-v4"), interval=None)
    msgs = initial_messages("SYS", PACK, "task")
    r1 = tracker.render(msgs, TOOLS)
    tracker.record(r1, msgs, _assistant("a"), billed_hit=0, billed_prompt=len(r1.tokens))
    other = initial_messages("SYS", PACK.replace("f399", "g399"), "task")
    r2 = tracker.render(other, TOOLS)
    diag = tracker.record(r2, other, None, billed_hit=0, billed_prompt=len(r2.tokens))
    assert diag.breaks[0].segment == "pack"
    assert segment_name("tools", other) == "tools"
    assert segment_name("system", other) == "system prompt"


def test_small_differences_within_a_block_are_not_breaks() -> None:
    tracker = CacheTracker(get_tokenizer("deepseek-v4"), interval=None, block=64)
    msgs = initial_messages("SYS", PACK, "task")
    r1 = tracker.render(msgs, TOOLS)
    tracker.record(r1, msgs, _assistant("a"), billed_hit=0, billed_prompt=len(r1.tokens))
    msgs2 = [*msgs, _assistant("a"), {"role": "user", "content": "go"}]
    r2 = tracker.render(msgs2, TOOLS)
    expected = tracker.expected(r2)
    diag = tracker.record(r2, msgs2, None, billed_hit=expected - 40, billed_prompt=len(r2.tokens))
    assert diag.breaks == ()
