"""The remote client against the loopback DeepSeek stand-in: replies, thinking, usage, retries, faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from v4agent.engine.client import EngineSettings, RemoteEngine, open_engine
from v4agent.engine.presets import get_preset, model_info
from v4agent.engine.retry import RetryPolicy
from v4agent.engine.thinking import think_params
from v4agent.engine.types import (
    Delta,
    EngineBudgetError,
    EngineError,
    EngineUnreachable,
    RequestSettings,
    StreamRestart,
    ThinkLevel,
)
from v4agent.testing import Fault, ScriptedReply, ScriptedToolCall, StandIn

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)
SYSTEM = {"role": "system", "content": "You are a careful coding agent. " * 40}


def engine_for(server: StandIn, *, preset: str = "deepseek", stream: bool = True, think: ThinkLevel = "high",
               key: str = "sk-test") -> RemoteEngine:
    settings = RequestSettings(model="deepseek-v4-flash", max_tokens=4096, think=think, stream=stream)
    return RemoteEngine(server.base_url, key, settings, get_preset(preset), retry=FAST)


@pytest.fixture
def server() -> Iterator[StandIn]:
    with StandIn(handler=lambda body: ScriptedReply(content="ok, done", reasoning="thinking it over")) as s:
        yield s


@pytest.mark.parametrize("stream", [True, False])
def test_reply_usage_and_append_only_cache_hits(server: StandIn, stream: bool) -> None:
    engine = engine_for(server, stream=stream)
    seen: list[Delta] = []
    messages: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "first task"}]
    first = engine.complete(messages, on_delta=seen.append)
    assert first.content == "ok, done"
    assert first.reasoning == "thinking it over"
    assert first.finish_reason == "stop"
    assert "".join(d.text for d in seen if d.kind == "content") == "ok, done"
    assert first.usage is not None
    assert first.usage.cache_hit == 0
    assert first.usage.prompt_tokens == server.calls[0].prompt_tokens
    messages += [first.as_message(), {"role": "user", "content": "next"}]
    second = engine.complete(messages)
    assert second.usage is not None
    assert second.usage.reasoning_tokens == server.calls[1].reasoning_tokens
    # Thinking without tools: the API drops past reasoning from the prompt, so the previous output no longer
    # matches and the hit ends where the previous user input did.
    assert second.usage.cache_hit == server.calls[1].cache_hit == server.calls[0].input_end > 0
    body = server.calls[0].request
    assert body["thinking"] == {"type": "enabled"}
    assert body["reasoning_effort"] == "high"
    assert body["max_tokens"] == 4096
    assert body["stream"] is stream
    assert (body.get("stream_options") == {"include_usage": True}) is stream


def test_tool_calls_over_many_chunks_with_reasoning_sent_back() -> None:
    calls = [ScriptedToolCall("read_file", json.dumps({"path": "a/b.py", "lines": [1, 200]}), id="c1"),
             ScriptedToolCall("grep", '{"pattern": "TODO\\\\(", "glob": "**/*.py"}', id="c2")]
    replies = [ScriptedReply(reasoning="I need to read two files.", tool_calls=calls), ScriptedReply(content="fine")]
    with StandIn(replies=replies, chunk_chars=2) as server:
        engine = engine_for(server)
        reply = engine.complete([SYSTEM, {"role": "user", "content": "go"}])
        assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [(c.id, c.name, c.arguments) for c in calls]
        assert reply.finish_reason == "tool_calls"
        messages = [SYSTEM, {"role": "user", "content": "go"}, reply.as_message(),
                    *({"role": "tool", "tool_call_id": c.id, "content": "..."} for c in reply.tool_calls)]
        assert engine.complete(messages).content == "fine"  # the stand-in answers 400 if reasoning is dropped
        assert server.calls[1].request["messages"][2]["content"] == ""


@pytest.mark.parametrize(("preset", "think", "expected"), [
    ("deepseek", "off", {"thinking": {"type": "disabled"}}),
    ("deepseek", "max", {"thinking": {"type": "enabled"}, "reasoning_effort": "max"}),
    ("vllm", "low", {"chat_template_kwargs": {"thinking": True, "reasoning_effort": "low"}}),
    ("vllm", "max", {"chat_template_kwargs": {"thinking": True, "reasoning_effort": "max"}}),  # Think Max
    ("vllm", "off", {"chat_template_kwargs": {"thinking": False}}),
])
def test_think_mapping_reaches_the_wire(preset: str, think: ThinkLevel, expected: dict[str, Any]) -> None:
    assert think_params(get_preset(preset).think_style, think) == expected
    with StandIn(handler=lambda body: ScriptedReply(content="x"), mode="vllm" if preset == "vllm" else "deepseek") \
            as server:
        engine_for(server, preset=preset, think=think).complete([{"role": "user", "content": "hi"}])
        body = server.calls[0].request
        assert {k: body[k] for k in expected} == expected


def test_vllm_usage_shape_reports_cached_tokens() -> None:
    with StandIn(handler=lambda body: ScriptedReply(content="x" * 40), mode="vllm") as server:
        engine = engine_for(server, preset="vllm")
        messages: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "one"}]
        first = engine.complete(messages)
        messages += [first.as_message(), {"role": "user", "content": "two"}]
        second = engine.complete(messages)
        assert second.usage is not None
        assert second.usage.cache_hit == server.calls[1].cache_hit > 0
        assert second.usage.cache_miss == second.usage.prompt_tokens - second.usage.cache_hit




@pytest.mark.parametrize("fault", [
    pytest.param(Fault("429")),
    Fault("500"), Fault("cut_stream", after=2),
    Fault("slow_first_byte", delay=0.2), Fault("keepalive", count=3, delay=0.05),
])
@pytest.mark.parametrize("stream", [True, False])
def test_retries_recover_from_each_fault(server: StandIn, fault: Fault, stream: bool) -> None:
    server.faults.append(fault)
    retries: list[str] = []
    engine = engine_for(server, stream=stream)
    engine.on_retry = lambda failure, delay: retries.append(failure.kind)
    reply = engine.complete([{"role": "user", "content": "hi"}])
    assert reply.content == "ok, done"
    recovering = fault.kind in ("429", "500", "cut_stream")
    assert len(server.calls) == (2 if recovering else 1)
    assert reply.timings["attempts"] == (2 if recovering else 1)
    assert len(retries) == (1 if recovering else 0)


def test_persistent_fault_gives_up_with_what_was_tried(server: StandIn) -> None:
    server.faults.extend(Fault("500") for _ in range(10))
    with pytest.raises(EngineError) as info:
        engine_for(server).complete([{"role": "user", "content": "hi"}])
    message = str(info.value)
    assert "gave up" in message
    assert message.count("HTTP 500") == FAST.max_attempts
    assert len(server.calls) == FAST.max_attempts


@pytest.mark.parametrize(("fault", "error", "hint"), [
    ("401", EngineUnreachable, "API key"), ("402", EngineBudgetError, "balance"),
])
def test_auth_and_balance_are_not_retried(server: StandIn, fault: str, error: type[EngineError], hint: str) -> None:
    server.faults.append(Fault(fault))
    with pytest.raises(error) as info:
        engine_for(server).complete([{"role": "user", "content": "hi"}])
    assert "not retried" in str(info.value)
    assert hint in info.value.hint
    assert len(server.calls) == 1


def test_wrong_key_is_refused_with_a_hint(server: StandIn) -> None:
    with pytest.raises(EngineUnreachable) as info:
        engine_for(server, key="sk-wrong").complete([{"role": "user", "content": "hi"}])
    assert "HTTP 401" in str(info.value)
    assert "key" in info.value.hint


def test_stream_cut_after_answer_was_shown_is_retried_and_the_shown_part_superseded() -> None:
    answer = "a long answer " * 20
    with StandIn(handler=lambda body: ScriptedReply(content=answer), chunk_chars=3) as server:
        server.faults.append(Fault("cut_stream", after=5))
        seen: list[Delta] = []
        reply = engine_for(server).complete([{"role": "user", "content": "hi"}], on_delta=seen.append)
        assert len(server.calls) == 2  # asked again
    assert reply.content == answer  # the whole answer, from the second attempt alone
    assert reply.timings["attempts"] == 2
    restarts = [d for d in seen if isinstance(d, StreamRestart)]
    assert len(restarts) == 1
    restart = restarts[0]
    assert restart.text == "restarted"
    assert "stream" in restart.detail
    assert restart.partial is not None
    shown_before = "".join(d.text for d in seen[:seen.index(restart)] if d.kind == "content")
    assert shown_before
    assert restart.partial.content == shown_before  # what arrived is what was shown: the estimate counts it
    assert answer.startswith(shown_before)
    shown_after = "".join(d.text for d in seen[seen.index(restart):] if d.kind == "content")
    assert shown_after == answer  # the retry streams the whole answer again: nothing is joined to the cut part


def test_stream_cut_every_time_gives_up_within_the_policy() -> None:
    with StandIn(handler=lambda body: ScriptedReply(content="a long answer " * 20), chunk_chars=3) as server:
        server.faults.extend(Fault("cut_stream", after=5) for _ in range(FAST.max_attempts))
        seen: list[Delta] = []
        with pytest.raises(EngineError, match="gave up") as info:
            engine_for(server).complete([{"role": "user", "content": "hi"}], on_delta=seen.append)
        assert len(server.calls) == FAST.max_attempts
    assert "stream was cut" in str(info.value)
    assert sum(isinstance(d, StreamRestart) for d in seen) == FAST.max_attempts  # every billed attempt reported


def test_stream_cut_before_any_chunk_reports_no_partial() -> None:
    with StandIn(handler=lambda body: ScriptedReply(content="answer"), chunk_chars=3) as server:
        server.faults.append(Fault("cut_stream", after=0))
        seen: list[Delta] = []
        reply = engine_for(server).complete([{"role": "user", "content": "hi"}], on_delta=seen.append)
    assert reply.content == "answer"
    assert not any(isinstance(d, StreamRestart) for d in seen)


def test_connection_refused_gives_up_as_unreachable() -> None:
    with StandIn() as server:
        url = server.base_url
    settings = RequestSettings(model="deepseek-v4-flash")
    engine = RemoteEngine(url, "sk-test", settings, get_preset("deepseek"), retry=RetryPolicy(2, 0.01))
    with pytest.raises(EngineUnreachable, match="cannot connect"):
        engine.complete([{"role": "user", "content": "hi"}])


def test_ctrl_c_cancels_cleanly_and_the_engine_stays_usable(server: StandIn) -> None:
    engine = engine_for(server)

    def interrupt(delta: Delta) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.complete([{"role": "user", "content": "hi"}], on_delta=interrupt)
    assert len(server.calls) == 1  # not retried
    assert engine.complete([{"role": "user", "content": "again"}]).content == "ok, done"


def test_max_cost_stops_before_the_call_that_would_cross_it(server: StandIn) -> None:
    from datetime import UTC, datetime

    from v4agent.accounting import BudgetExceeded, BudgetGuard, load_price_table, price_call

    table, at = load_price_table(), datetime(2026, 9, 11, 2, 0, tzinfo=UTC)
    engine = engine_for(server)
    guard = BudgetGuard(table, max_cost=0.0015)
    messages: list[dict[str, Any]] = [SYSTEM]
    previous_input = sent = 0

    def converse() -> None:
        nonlocal previous_input, sent
        for turn in range(20):
            messages.append({"role": "user", "content": f"step {turn}: " + "more context " * 200})
            # estimate: the previous request is a cached prefix; ~4 chars a token for the rest
            estimate_in = previous_input + sum(len(str(m["content"])) for m in messages[-2:]) // 4
            guard.check("deepseek-v4-flash", prompt_tokens=estimate_in, expected_hit=previous_input,
                        expected_output=50, at=at)
            reply = engine.complete(messages)
            sent = len(server.calls)
            assert reply.usage is not None
            guard.add(price_call(table, "deepseek-v4-flash", reply.usage, at).total_usd)
            previous_input = reply.usage.prompt_tokens + reply.usage.output_tokens
            messages.append(reply.as_message())

    with pytest.raises(BudgetExceeded, match="would cross --max-cost"):
        converse()
    assert len(server.calls) == sent > 1  # the refused call was never sent
    assert 0 < guard.spent_usd <= 0.0015


def test_open_engine_fills_settings_from_the_preset(server: StandIn) -> None:
    engine = open_engine(EngineSettings(base_url=server.base_url, api_key="sk-test", think="off",
                                        max_tokens=10**9))
    assert engine.name == "deepseek"
    assert engine.settings.model == get_preset("deepseek").default_model
    assert engine.settings.max_tokens == model_info(engine.settings.model).max_output  # clipped to the limit
    assert engine.complete([{"role": "user", "content": "hi"}]).content == "ok, done"
    assert open_engine(EngineSettings(engine="vllm", base_url=server.base_url)).base_url == server.base_url
    with pytest.raises(EngineUnreachable) as info:
        open_engine(EngineSettings())  # DeepSeek needs a key
    assert "DEEPSEEK_API_KEY" in info.value.hint
    with pytest.raises(EngineUnreachable, match="needs a base URL"):
        open_engine(EngineSettings(engine="openai-compatible"))
    with pytest.raises(EngineError, match="unknown engine 'nope'") as unknown:
        open_engine(EngineSettings(engine="nope"))
    assert unknown.value.hint == "pick one with --engine"
