"""V4 cache-unit rules and request rendering (pure)."""

from __future__ import annotations

import pytest

from v4agent.agent.request.cacheunits import BlockStore, UnitStore, common_prefix_len, theoretical_max_hit
from v4agent.agent.request.template import first_divergence, memo_misses, render_output, render_request
from v4agent.tokens.tokenizer import Tokenizer, get_tokenizer


def _seq(start: int, n: int) -> list[int]:
    return list(range(start, start + n))


def test_common_prefix_len_across_scan_blocks() -> None:
    a = _seq(0, 10_000)
    b = [*a]
    b[7_777] = -1
    assert common_prefix_len(a, b) == 7_777
    assert common_prefix_len(a, a[:5_000]) == 5_000
    assert common_prefix_len([], a) == 0
    assert common_prefix_len(a, [1]) == 0


def test_append_only_hits_whole_previous_request_including_output() -> None:
    store = UnitStore(interval=None)
    a, out_a = _seq(0, 100), _seq(1000, 20)
    assert store.lookup(a) == 0
    store.store(a, out_a)
    b = [*a, *out_a, *_seq(2000, 30)]
    assert store.lookup(b) == 120
    store.store(b, _seq(3000, 5))
    c = [*b, *_seq(3000, 5), *_seq(4000, 7)]
    assert store.lookup(c) == len(b) + 5


def test_changed_early_token_misses_back_to_last_interval_unit() -> None:
    store = UnitStore(interval=64)
    a = _seq(0, 300)
    store.store(a, _seq(1000, 10))
    changed = [*a]
    changed[150] = -5  # inside A: only the interval units below 150 still match fully
    assert store.lookup(changed) == 128
    assert theoretical_max_hit([[*a, *_seq(1000, 10)]], changed) == 150


def test_partial_match_of_a_unit_is_a_miss() -> None:
    store = UnitStore(interval=None)
    store.store(_seq(0, 100), ())
    # 99 of the 100 tokens match: a unit must be matched in full, so nothing hits.
    assert store.lookup([*_seq(0, 99), -1, 7]) == 0


def test_common_prefix_unit_serves_only_later_requests() -> None:
    store = UnitStore(interval=None)
    shared = _seq(0, 50)
    store.store([*shared, *_seq(100, 10)], _seq(500, 3))
    second = [*shared, *_seq(200, 10)]
    assert store.lookup(second) == 0  # no unit ends at 50 yet
    store.store(second, _seq(600, 3))
    assert 50 in store.units()
    assert store.lookup([*shared, *_seq(300, 10)]) == 50


def test_request_ending_at_a_block_stores_that_block() -> None:
    store = UnitStore(interval=None)
    block = _seq(0, 77)
    store.store(block, ())  # a priming request that ends exactly at the stable block
    assert store.lookup([*block, *_seq(900, 12)]) == 77
    assert store.lookup([*block[:76], -1]) == 0


def test_vllm_blocks_match_in_whole_blocks_and_never_the_last_token() -> None:
    store = BlockStore(block_size=16)
    a = _seq(0, 100)
    store.store(a, _seq(1000, 20))
    assert store.lookup([*a, *_seq(1000, 20), 5]) == 112
    assert store.lookup([*a[:40], -1]) == 32
    assert store.lookup(a[:32]) == 16  # the last prompt token is always computed


def test_render_appending_messages_extends_tokens_exactly() -> None:
    tok = get_tokenizer("deepseek-v4")
    tools = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Fix the bug."}]
    first = render_request(msgs, tools, tok)
    assert [s.label for s in first.segments] == ["system", "tools", "message 1 (user)"]
    reply = {"role": "assistant", "content": "", "reasoning_content": "look first",
             "tool_calls": [{"id": "c1", "type": "function",
                             "function": {"name": "read_file", "arguments": "{\"path\": \"a.py\"}"}}]}
    output = [*first.suffix, *render_output(reply, tok)]  # the generation marker, then what the model wrote
    second = render_request([*msgs, reply, {"role": "tool", "tool_call_id": "c1", "content": "x = 1"}], tools, tok)
    assert second.tokens[: len(first.tokens) + len(output)] == first.tokens + output
    assert len(first.suffix) == 2  # <｜Assistant｜><think>
    assert first_divergence(first, second) is None
    assert second.segments[-1].label == "message 3 (tool)"
    assert second.segments[-1].end == len(second.tokens)


def test_first_divergence_names_the_changed_segment() -> None:
    tok = get_tokenizer("deepseek-v4")
    tools = [{"type": "function", "function": {"name": "grep", "parameters": {}}}]
    base = [{"role": "system", "content": "S"}, {"role": "user", "content": "one"}]
    prev = render_request(base, tools, tok)
    moved = render_request(base, [{"type": "function", "function": {"parameters": {}, "name": "grep"}}], tok)
    found = first_divergence(prev, moved)
    assert found is not None
    assert found[0] == "tools"
    assert found[1] >= prev.segments[1].start


def test_render_memoizes_segments_by_content() -> None:
    tok = get_tokenizer("deepseek-v4")
    big = "def f():\n    return 1\n" * 2000
    msgs: list[dict[str, object]] = [{"role": "system", "content": big}, {"role": "user", "content": "q0"}]
    render_request(msgs, [], tok)
    before = memo_misses()
    msgs.append({"role": "assistant", "content": "a0"})
    msgs.append({"role": "user", "content": "q1 unique 91823"})
    render_request(msgs, [], tok)
    assert memo_misses() - before == 2  # only the two new messages were tokenized


def test_common_prefix_len_matches_a_plain_loop() -> None:
    import random

    rng = random.Random(7)
    for _ in range(200):
        n = rng.randrange(0, 3000)
        a = [rng.randrange(3) for _ in range(n)]
        b = a[: rng.randrange(0, n + 1)] + [rng.randrange(3) for _ in range(rng.randrange(0, 50))]
        expected = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        assert common_prefix_len(a, b) == expected
        assert common_prefix_len(tuple(a), b) == expected


def test_a_long_unchanged_message_is_not_hashed_again_and_renders_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pack's text, the same object call after call, is found by identity; an equal text that is another
    object (or a changed one) goes through the content memo and renders exactly the same tokens."""
    from v4agent.agent.request import template

    tok = get_tokenizer("deepseek-v4")
    pack = "def g(x):\n    return x + 1\n" * 4000  # > 64K characters
    msgs: list[dict[str, object]] = [{"role": "system", "content": "s"}, {"role": "user", "content": pack},
                                      {"role": "user", "content": "task"}]
    first = render_request(msgs, [], tok)
    hashed: list[int] = []
    real = template._MEMO.tokens

    def spy(tokenizer: Tokenizer, text: str) -> tuple[tuple[int, ...], bytes]:
        hashed.append(len(text))
        return real(tokenizer, text)

    monkeypatch.setattr(template._MEMO, "tokens", spy)
    msgs[2] = {"role": "user", "content": "".join(["ta", "sk"])}  # a new object for the small part, as each call
    again = render_request(msgs, [], tok)
    assert again.tokens == first.tokens
    assert again.segments == first.segments
    assert max(hashed, default=0) < len(pack)  # the pack's run came from the identity entry
    copy = "".join(["def g(x):\n    return x + 1\n"] * 4000)  # equal text, another object
    assert copy is not pack
    msgs[1] = {"role": "user", "content": copy}
    assert render_request(msgs, [], tok).tokens == first.tokens
    assert max(hashed) >= len(pack)  # looked up by content this time
    msgs[1] = {"role": "user", "content": copy[:-1] + "2"}
    assert render_request(msgs, [], tok).tokens != first.tokens
