"""The stand-in's documented rules over real HTTP: thinking by default, reasoning passback, concurrency 429,
context overflow, finish reasons, dated model names, sampling in thinking mode, balance, cache identity."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from v4agent.testing import Fault, ScriptedReply, ScriptedToolCall, StandIn
from v4agent.testing.v4models import ROUTES_PRO_TO_FLASH
from v4agent.testing.v4rules import REASONING_PASSBACK

AUTH = {"Authorization": "Bearer sk-test"}
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def _post(server: StandIn, **body: Any) -> httpx.Response:
    body.setdefault("model", "deepseek-v4-flash")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return httpx.post(f"{server.base_url}/chat/completions", json=body, headers=AUTH, timeout=10)


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def _history(**turn: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": "go"}, {"role": "assistant", "content": "", "tool_calls": [CALL], **turn},
            {"role": "tool", "tool_call_id": "c1", "content": "done"}]


def test_thinking_is_on_by_default_and_the_passback_rule_has_the_real_wording() -> None:
    with StandIn(handler=lambda body: ScriptedReply(content="ok")) as server:
        missing = _post(server, messages=_history())
        empty = _post(server, messages=_history(reasoning_content=""))
        off = _post(server, messages=_history(), thinking={"type": "disabled"})
    assert missing.status_code == 400
    assert missing.json() == {"error": {"message": REASONING_PASSBACK, "type": "invalid_request_error",
                                        "param": None, "code": "invalid_request_error"}}
    assert (empty.status_code, off.status_code) == (200, 200)
    assert [c.thinking for c in server.calls] == [True, True, False]
    assert empty.json()["choices"][0]["message"]["reasoning_content"] == ""


def test_first_thinking_chunk_carries_empty_reasoning() -> None:
    with StandIn(replies=[ScriptedReply(content="hi", reasoning="r"), ScriptedReply(content="hi")]) as server:
        thinking = _post(server, stream=True)
        plain = _post(server, stream=True, thinking={"type": "disabled"})

    def deltas(text: str) -> list[dict[str, Any]]:
        return [json.loads(line[6:])["choices"][0]["delta"] for line in text.splitlines()
                if line.startswith("data: {")]

    assert deltas(thinking.text)[0] == {"role": "assistant", "content": None, "reasoning_content": ""}
    assert {"content": "hi", "reasoning_content": None} in deltas(thinking.text)
    assert deltas(plain.text)[0] == {"role": "assistant", "content": ""}


def test_concurrency_429_has_no_retry_after_and_the_verbatim_message() -> None:
    with StandIn(replies=[ScriptedReply(content="later")]) as server:
        server.faults.extend([Fault("429", concurrency=40, limit=39), Fault("503"), Fault("402")])
        refused, overloaded, broke = _post(server), _post(server), _post(server)
        ok = _post(server)
    assert refused.status_code == 429
    assert "retry-after" not in refused.headers
    assert refused.json()["error"]["message"] == (
        "Your current concurrency is 40, which exceeds your concurrency limit of 39 based on your remaining "
        "balance. Please top up your balance to restore your concurrency.")
    assert (overloaded.status_code, broke.status_code, ok.status_code) == (503, 402, 200)
    assert broke.json()["error"]["message"] == "Insufficient Balance"


def test_context_overflow_counts_max_tokens() -> None:
    with StandIn(handler=lambda body: ScriptedReply(content="ok"), context_window=100) as server:
        fits = _post(server, max_tokens=50)
        over = _post(server, max_tokens=96)
    assert fits.status_code == 200
    prompt = server.calls[0].prompt_tokens
    assert over.status_code == 400
    assert over.json()["error"]["message"] == (
        f"This model's maximum context length is 100 tokens. However, you requested {prompt + 96} tokens "
        f"({prompt} in the messages, 96 in the completion). Please reduce the length of the messages or completion.")


@pytest.mark.parametrize("reason", ["length", "content_filter", "insufficient_system_resource"])
def test_finish_reasons_are_scriptable_and_cut_replies_end_without_eos(reason: str) -> None:
    replies = [ScriptedReply(content="partial answer", finish_reason=reason),
               ScriptedReply(content="partial answer")]
    with StandIn(replies=replies) as server:
        cut = _post(server, thinking={"type": "disabled"})
        whole = _post(server, thinking={"type": "disabled"})
    assert cut.json()["choices"][0]["finish_reason"] == reason
    assert whole.json()["choices"][0]["finish_reason"] == "stop"
    assert server.calls[1].output_tokens == server.calls[0].output_tokens + 1  # EOS


def test_a_reply_past_max_tokens_is_cut_at_length() -> None:
    long = ScriptedReply(content="word " * 200, reasoning="think " * 50,
                         tool_calls=[ScriptedToolCall("f", '{"a": 1}')])
    with StandIn(replies=[long, long, long]) as server:
        in_reasoning = _post(server, max_tokens=10).json()
        in_answer = _post(server, max_tokens=80).json()
        whole = _post(server, max_tokens=2000).json()
    assert in_reasoning["choices"][0]["finish_reason"] == "length"
    assert in_reasoning["choices"][0]["message"]["content"] == ""
    assert in_reasoning["usage"]["completion_tokens"] == 10
    assert in_answer["choices"][0]["finish_reason"] == "length"
    assert "tool_calls" not in in_answer["choices"][0]["message"]
    assert in_answer["usage"]["completion_tokens"] <= 80
    assert whole["choices"][0]["finish_reason"] == "tool_calls"


def test_an_unknown_finish_reason_in_a_script_is_a_clear_500() -> None:
    with StandIn(replies=[ScriptedReply(content="x", finish_reason="abort")]) as server:
        r = _post(server)
    assert r.status_code == 500
    assert "not a DeepSeek finish reason" in r.json()["error"]["message"]


def test_model_names_follow_their_dates() -> None:
    with StandIn(handler=lambda body: ScriptedReply(content="ok"), clock=lambda: _at("2026-07-01")) as server:
        chat, reasoner = _post(server, model="deepseek-chat"), _post(server, model="deepseek-reasoner")
        flash = _post(server, model="deepseek-flash")
    assert (chat.status_code, reasoner.status_code, flash.status_code) == (200, 200, 400)
    assert [c.thinking for c in server.calls[:2]] == [False, True]
    assert [c.served_by for c in server.calls[:2]] == ["DeepSeek-V4-Flash", "DeepSeek-V4-Flash"]
    with StandIn(handler=lambda body: ScriptedReply(content="ok"), clock=lambda: _at("2026-10-01")) as server:
        chat, flash = _post(server, model="deepseek-chat"), _post(server, model="deepseek-flash")
        legacy, pro = _post(server, model="deepseek-v4-flash"), _post(server, model="deepseek-v4-pro")
    assert chat.status_code == 400
    assert chat.json()["error"]["message"] == "Model Not Exist"
    assert (flash.status_code, legacy.status_code, pro.status_code) == (200, 200, 200)
    assert [c.served_by for c in server.calls[1:]] == ["DeepSeek-V4.1-Flash", "DeepSeek-V4.1-Flash", "DeepSeek-V4-Pro"]
    assert legacy.json()["model"] == "deepseek-v4-flash"  # the requested name, echoed


def test_the_withdrawn_pro_routing_can_be_simulated() -> None:
    with StandIn(handler=lambda body: ScriptedReply(content="ok"), clock=lambda: _at("2026-10-01"),
                 routes=ROUTES_PRO_TO_FLASH, unit_interval=None) as server:
        _post(server, model="deepseek-flash", messages=[{"role": "user", "content": "shared " * 100}])
        _post(server, model="deepseek-v4-pro", messages=[{"role": "user", "content": "shared " * 100}])
    assert server.calls[1].served_by == "DeepSeek-V4.1-Flash"
    assert server.calls[1].cache_hit == server.calls[0].input_end  # one served model, one cache


def test_sampling_is_ignored_in_thinking_mode_and_checked_outside_it() -> None:
    with StandIn(handler=lambda body: ScriptedReply(content="ok")) as server:
        thinking = _post(server, temperature=7, top_p=0.1)
        chat = _post(server, temperature=7, thinking={"type": "disabled"})
        fine = _post(server, temperature=0.2, thinking={"type": "disabled"})
    assert thinking.status_code == 200
    assert server.calls[0].sampling_ignored == ("temperature", "top_p")
    assert chat.status_code == 400
    assert fine.status_code == 200


def test_user_id_and_cache_identity_fields_separate_caches() -> None:
    prompt = [{"role": "user", "content": "same prompt " * 50}]
    with StandIn(handler=lambda body: ScriptedReply(content="ok"), cache_identity=("max_tokens",),
                 unit_interval=None) as server:
        _post(server, messages=prompt, max_tokens=100)
        _post(server, messages=prompt, max_tokens=100, user_id="alice")
        _post(server, messages=prompt, max_tokens=1)
        _post(server, messages=prompt, max_tokens=100)
    assert [c.cache_hit for c in server.calls] == [0, 0, 0, server.calls[0].input_end]


def test_user_balance_as_documented() -> None:
    with StandIn() as server:
        r = httpx.get(f"{server.base_url}/user/balance", headers=AUTH)
        refused = httpx.get(f"{server.base_url}/user/balance")
    assert r.json() == {"is_available": True, "balance_infos": [
        {"currency": "USD", "total_balance": "10.00", "granted_balance": "0.00", "topped_up_balance": "10.00"}]}
    assert refused.status_code == 401
    with StandIn(mode="vllm") as server:
        assert httpx.get(f"{server.base_url}/user/balance").status_code == 404
