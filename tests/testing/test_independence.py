"""The stand-in bills by its own reading of the docs, so the client's expected-vs-billed comparison can catch a
wrong client rule: a unit interval, a template, or a cache store the client believes in."""

from __future__ import annotations

from typing import Any

import pytest

from v4agent.agent.request import cacheunits, encoder
from v4agent.agent.request.cachediag import CacheTracker, CallDiag
from v4agent.engine.client import RemoteEngine
from v4agent.engine.presets import get_preset
from v4agent.engine.types import RequestSettings, ThinkLevel
from v4agent.testing import ScriptedReply, StandIn
from v4agent.tokens.tokenizer import get_tokenizer

BIG = "".join(f"line {i}: packed repository text for the cache test\n" for i in range(300))


def _session(server: StandIn, tracker: CacheTracker, requests: list[list[dict[str, Any]]],
             think: ThinkLevel = "off") -> list[CallDiag]:
    """Send each request as the agent loop does, and diagnose it against what the stand-in billed."""
    settings = RequestSettings(model="deepseek-v4-flash", max_tokens=4096, think=think)
    engine = RemoteEngine(server.base_url, "sk-test", settings, get_preset("deepseek"))
    diags = []
    try:
        for messages in requests:
            rendered = tracker.render(messages, [])
            reply = engine.complete(messages)
            assert reply.usage is not None
            diags.append(tracker.record(rendered, messages, reply.as_message(), billed_hit=reply.usage.cache_hit,
                                        billed_prompt=reply.usage.prompt_tokens))
    finally:
        engine.close()
    return diags


def _changed_early() -> list[list[dict[str, Any]]]:
    first = [{"role": "system", "content": BIG}, {"role": "user", "content": "task"}]
    second = [{"role": "system", "content": BIG.replace("line 250:", "line 25O:")}, {"role": "user", "content": "task"}]
    return [first, second]


def test_a_right_unit_rule_agrees_with_the_bill() -> None:
    with StandIn(handler=lambda body: ScriptedReply(content="ok"), unit_interval=None) as server:
        diags = _session(server, CacheTracker(get_tokenizer("deepseek-v4"), interval=None), _changed_early())
    assert server.calls[1].cache_hit == 0
    assert diags[1].expected_billed == 0
    assert [b.kind for b in diags[1].breaks] == ["layout"]  # the change itself, named by the client


def test_a_wrong_unit_interval_in_the_client_is_caught() -> None:
    # The client believes in units every 256 tokens; the provider (here, the stand-in) stores none inside.
    with StandIn(handler=lambda body: ScriptedReply(content="ok"), unit_interval=None) as server:
        diags = _session(server, CacheTracker(get_tokenizer("deepseek-v4"), interval=256), _changed_early())
    assert server.calls[1].cache_hit == 0
    assert diags[1].expected_hit >= 256
    assert "changed" in [b.kind for b in diags[1].breaks]


def _reasoning_turns(reply: ScriptedReply) -> list[list[dict[str, Any]]]:
    first = [{"role": "system", "content": BIG}, {"role": "user", "content": "one"}]
    return [first, [*first, reply_message(reply), {"role": "user", "content": "two"}]]


def test_the_client_renders_dropped_reasoning_as_the_encoder_does() -> None:
    # Thinking without tools: V4's encoder drops the reasoning of turns before the last user message, so the
    # previous output is no longer a prefix and only the previous input hits. The client renders the same
    # prompt, so it expects exactly that hit, and counts exactly the billed prompt.
    reply = ScriptedReply(content="The answer, explained. " * 60, reasoning="I weigh one option, then another. " * 80)
    with StandIn(handler=lambda body: reply, unit_interval=None) as server:
        diags = _session(server, CacheTracker(get_tokenizer("deepseek-v4"), interval=None), _reasoning_turns(reply),
                         think="high")
    assert server.calls[1].cache_hit == server.calls[0].input_end
    assert [(d.input_tokens, d.expected_billed) for d in diags] == [(c.prompt_tokens, c.cache_hit)
                                                                   for c in server.calls]
    assert not diags[1].breaks


def test_a_client_wrong_about_the_thinking_mode_is_caught() -> None:
    # A deliberately wrong client belief: it renders the session as chat (no reasoning kept, "</think>" after
    # each user turn) while the model thinks. It then expects the whole previous request and answer to hit;
    # the stand-in bills only the previous input, and the client reports a provider drop.
    reply = ScriptedReply(content="The answer, explained. " * 60, reasoning="I weigh one option, then another. " * 80)
    with StandIn(handler=lambda body: reply, unit_interval=None) as server:
        wrong = CacheTracker(get_tokenizer("deepseek-v4"), interval=None, thinking=False)
        diags = _session(server, wrong, _reasoning_turns(reply), think="high")
    assert server.calls[1].cache_hit == server.calls[0].input_end
    assert [b.kind for b in diags[1].breaks] == ["provider"]
    assert diags[1].breaks[0].lost_tokens > 64


def reply_message(reply: ScriptedReply) -> dict[str, Any]:
    return {"role": "assistant", "content": reply.content, "reasoning_content": reply.reasoning}


def test_patching_the_client_rules_does_not_move_the_bill(monkeypatch: pytest.MonkeyPatch) -> None:
    def bill() -> list[int]:
        with StandIn(handler=lambda body: ScriptedReply(content="ok"), unit_interval=256) as server:
            _session(server, CacheTracker(get_tokenizer("deepseek-v4"), interval=256), _changed_early())
        return [c.cache_hit for c in server.calls] + [c.prompt_tokens for c in server.calls]

    before = bill()
    monkeypatch.setattr(cacheunits.UnitStore, "lookup", lambda self, tokens: 0)
    monkeypatch.setattr(encoder, "tools_block", lambda tools: "")
    monkeypatch.setattr(encoder, "BOS", "")
    assert bill() == before
    assert before[1] > 0
