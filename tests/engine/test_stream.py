"""Pure pieces of the client: SSE parsing, delta assembly, usage normalization, retry policy."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from v4agent.engine.retry import RetryPolicy, backoff_delay, parse_retry_after, run_with_retry
from v4agent.engine.stream import StreamAssembler, iter_sse_data, reply_from_completion
from v4agent.engine.types import EngineError
from v4agent.engine.usage import normalize_usage

CALLS = [
    ("call_a", "read_file", json.dumps({"path": "src/ü/mod.py", "start": 1, "end": 40})),
    ("call_b", "grep", json.dumps({"pattern": "def \\w+\\(", "glob": "*.py"})),
    ("call_c", "edit", json.dumps({"path": "x.py", "old": "a\n\"b\"", "new": "{}[],:"})),
]


def _chunks(rng: random.Random) -> list[dict[str, Any]]:
    """Reasoning, then content, then three tool calls whose arguments are cut at random places."""
    out: list[dict[str, Any]] = []

    def delta(d: dict[str, Any], finish: str | None = None) -> None:
        out.append({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": d, "finish_reason": finish}]})

    for piece in ("Let me ", "look."):
        delta({"reasoning_content": piece})
    delta({"content": "Reading."})
    for index, (call_id, name, args) in enumerate(CALLS):
        delta({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                               "function": {"name": name, "arguments": ""}}]})
        cuts = sorted(rng.sample(range(1, len(args)), k=min(8, len(args) - 1)))
        for a, b in zip([0, *cuts], [*cuts, len(args)], strict=True):
            delta({"tool_calls": [{"index": index, "function": {"arguments": args[a:b]}}]})
    delta({}, finish="tool_calls")
    out.append({"id": "c1", "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 50,
                                                     "prompt_cache_hit_tokens": 64,
                                                     "prompt_cache_miss_tokens": 36}})
    return out


@pytest.mark.parametrize("seed", range(20))
def test_tool_calls_split_anywhere_reassemble_exactly(seed: int) -> None:
    assembler = StreamAssembler()
    kinds = []
    for chunk in _chunks(random.Random(seed)):
        kinds += [d.kind for d in assembler.feed(chunk)]
    reply = assembler.reply()
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == CALLS
    assert reply.reasoning == "Let me look."
    assert reply.content == "Reading."
    assert reply.finish_reason == "tool_calls"
    assert reply.usage is not None
    assert reply.usage.cache_hit == 64
    assert kinds[:3] == ["reasoning", "reasoning", "content"]
    assert set(kinds[3:]) == {"tool_call"}
    message = reply.as_message()
    assert message["reasoning_content"] == "Let me look."
    assert len(message["tool_calls"]) == 3


def test_interleaved_tool_calls_by_index() -> None:
    assembler = StreamAssembler()
    for index, piece in [(0, '{"a"'), (1, '{"b"'), (0, ": 1}"), (1, ": 2}")]:
        assembler.feed({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": index, "id": f"id{index}", "function": {"name": f"t{index}", "arguments": piece}}]}}]})
    calls = assembler.reply().tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [("id0", "t0", '{"a": 1}'), ("id1", "t1", '{"b": 2}')]


def test_sse_lines_skip_keepalives_and_stop_at_done() -> None:
    lines = [": keep-alive", "", ": keep-alive", "", 'data: {"x": 1}', "", "data: {\"y\":", "data: 2}", "",
             "data: [DONE]", "", 'data: {"after": 1}', ""]
    assert list(iter_sse_data(lines)) == ['{"x": 1}', '{"y":\n2}']


def test_stream_error_chunk_and_garbage_are_clear_errors() -> None:
    with pytest.raises(EngineError, match="not JSON"):
        StreamAssembler().feed_json("<html>")
    with pytest.raises(EngineError, match="overloaded"):
        StreamAssembler().feed_json('{"error": {"message": "overloaded"}}')


def test_whole_reply_parsing() -> None:
    reply = reply_from_completion({"id": "r", "model": "m", "choices": [{"finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "reasoning_content": "hm",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{bad"}}]}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2}})
    assert reply.content == ""
    assert reply.tool_calls[0].arguments == "{bad"
    assert reply.usage is not None
    assert reply.usage.cache_hit is None
    assert reply.as_message()["content"] == ""


@pytest.mark.parametrize(("raw", "expected"), [
    ({"prompt_tokens": 100, "completion_tokens": 9, "prompt_cache_hit_tokens": 60, "prompt_cache_miss_tokens": 40,
      "completion_tokens_details": {"reasoning_tokens": 4}}, (100, 60, 40, 9, 4)),
    ({"prompt_tokens": 100, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 96}},
     (100, 96, 4, 9, 0)),
    ({"prompt_tokens": 100, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": None}},
     (100, None, None, 9, 0)),
    ({"prompt_tokens": 100, "completion_tokens": 9}, (100, None, None, 9, 0)),
    ({"prompt_tokens": 100, "completion_tokens": 9, "prompt_tokens_details": None}, (100, None, None, 9, 0)),
])
def test_usage_normalization(raw: dict[str, Any], expected: tuple[Any, ...]) -> None:
    usage = normalize_usage(raw)
    assert usage is not None
    assert (usage.prompt_tokens, usage.cache_hit, usage.cache_miss, usage.output_tokens,
            usage.reasoning_tokens) == expected
    assert normalize_usage(None) is None


def test_backoff_is_exponential_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay_s=1, max_delay_s=8, jitter=0.25)
    assert [backoff_delay(policy, n, None, 0.5) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
    assert backoff_delay(policy, 2, None, 0.0) == 1.5
    assert backoff_delay(policy, 2, None, 1.0) == 2.5
    assert backoff_delay(policy, 3, 0.05, 0.9) == 0.05
    assert backoff_delay(policy, 3, 10_000, 0.9) == policy.max_retry_after_s
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "1"}) == 0.25
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert parse_retry_after({}) is None


def test_run_with_retry_lists_what_was_tried() -> None:
    slept: list[float] = []

    def always_fails(n: int) -> None:
        raise EngineError(f"boom {n}", retryable=True)

    with pytest.raises(EngineError) as info:
        run_with_retry(always_fails, RetryPolicy(max_attempts=3, base_delay_s=0.01), sleep=slept.append,
                       rand=lambda: 0.5)
    assert "gave up" in str(info.value)
    assert "attempt 1: boom 1" in str(info.value)
    assert "attempt 3" in str(info.value)
    assert slept == [0.01, 0.02]
