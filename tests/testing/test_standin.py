"""The loopback DeepSeek stand-in, driven with raw httpx and with the openai SDK."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx
import pytest

from v4agent.testing import Fault, ScriptedReply, ScriptedToolCall, StandIn

AUTH = {"Authorization": "Bearer sk-test"}


def _post(server: StandIn, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, headers=AUTH, timeout=10, **kw)


def _sse_payloads(text: str) -> list[dict[str, Any]]:
    events = [line[len("data: "):] for line in text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def _body(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "deepseek-v4-flash", "messages": messages, **extra}


def test_whole_reply_has_deepseek_usage() -> None:
    with StandIn(replies=[ScriptedReply(content="Hello!", reasoning="think")]) as server:
        r = _post(server, _body([{"role": "user", "content": "hi"}], thinking={"type": "enabled"}))
    assert r.status_code == 200
    data = r.json()
    msg = data["choices"][0]["message"]
    assert (msg["content"], msg["reasoning_content"]) == ("Hello!", "think")
    assert data["choices"][0]["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["prompt_cache_hit_tokens"] + usage["prompt_cache_miss_tokens"] == usage["prompt_tokens"]
    assert usage["prompt_tokens"] == server.calls[0].prompt_tokens > 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == server.calls[0].reasoning_tokens > 0
    assert usage["completion_tokens"] > usage["completion_tokens_details"]["reasoning_tokens"]
    assert "standin_theoretical_max_hit" in usage


def test_streaming_chunks_reassemble_to_the_scripted_reply() -> None:
    calls = [ScriptedToolCall("read_file", '{"path": "src/app.py", "lines": [1, 40]}'),
             ScriptedToolCall("grep", '{"pattern": "def main", "glob": "*.py"}', id="call_x")]
    reply = ScriptedReply(content="Looking.", reasoning="I should read the file and grep.", tool_calls=calls)
    with StandIn(replies=[reply], chunk_chars=3) as server:
        r = _post(server, _body([{"role": "user", "content": "go"}], stream=True,
                                stream_options={"include_usage": True}, thinking={"type": "enabled"}))
    chunks = _sse_payloads(r.text)
    reasoning = content = ""
    tools: dict[int, dict[str, str]] = {}
    order: list[str] = []
    for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            if delta.get("reasoning_content"):
                reasoning += delta["reasoning_content"]
                order.append("r")
            if delta.get("content"):
                content += delta["content"]
                order.append("c")
            for tc in delta.get("tool_calls") or []:
                slot = tools.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
                slot["id"] += tc.get("id") or ""
                slot["name"] += tc.get("function", {}).get("name") or ""
                slot["arguments"] += tc.get("function", {}).get("arguments") or ""
    assert reasoning == reply.reasoning
    assert content == reply.content
    assert order.index("c") > max(i for i, k in enumerate(order) if k == "r")
    assert [tools[i]["name"] for i in sorted(tools)] == ["read_file", "grep"]
    assert [tools[i]["arguments"] for i in sorted(tools)] == [c.arguments for c in calls]
    assert tools[1]["id"] == "call_x"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["prompt_cache_miss_tokens"] == server.calls[0].prompt_tokens


def _sdk_conversation(server: StandIn, thinking: str, turns: int) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a careful engineer. " * 50}]
    for turn in range(turns):
        messages.append({"role": "user", "content": f"question {turn}"})
        stream = client.chat.completions.create(
            model="deepseek-v4-pro", messages=messages, stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True}, extra_body={"thinking": {"type": thinking}})
        content = reasoning = ""
        usage: Any = None
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                content += choice.delta.content or ""
                reasoning += getattr(choice.delta, "reasoning_content", None) or ""
        messages.append({"role": "assistant", "content": content, "reasoning_content": reasoning})
        assert usage.model_extra["prompt_cache_hit_tokens"] == server.calls[turn].cache_hit


def test_openai_sdk_append_only_conversation_hits_whole_previous_request() -> None:
    script = [ScriptedReply(content=f"answer {i}") for i in range(4)]
    with StandIn(replies=script, unit_interval=None) as server:
        _sdk_conversation(server, "disabled", 4)
    for previous, current in itertools.pairwise(server.calls):
        assert current.cache_hit == previous.prompt_tokens + previous.output_tokens
        assert current.cache_hit == current.theoretical_max_hit
        assert current.cache_miss == current.prompt_tokens - current.cache_hit > 0


def test_thinking_chat_without_tools_hits_only_the_previous_input() -> None:
    # Past reasoning is dropped from the prompt when no tools are sent, so the previous output no longer
    # matches: what is left is the unit at the end of the previous user input.
    script = [ScriptedReply(content=f"answer {i}", reasoning=f"reasoning {i}") for i in range(3)]
    with StandIn(replies=script, unit_interval=None) as server:
        _sdk_conversation(server, "enabled", 3)
    for previous, current in itertools.pairwise(server.calls):
        assert current.cache_hit == previous.input_end == previous.prompt_tokens - 2
        assert current.theoretical_max_hit < previous.prompt_tokens + previous.output_tokens


def test_changed_early_byte_misses_back_to_interval_unit() -> None:
    big = "".join(f"line {i}: some packed repository text\n" for i in range(400))
    with StandIn(handler=lambda body: ScriptedReply(content="ok"), unit_interval=256) as server:
        first = [{"role": "system", "content": big}, {"role": "user", "content": "task"}]
        _post(server, _body(first))
        changed = [{"role": "system", "content": big.replace("line 300:", "line 30O:")},
                   {"role": "user", "content": "task"}]
        _post(server, _body(changed))
    one, two = server.calls
    assert one.prompt_tokens > 1024
    assert 0 < two.cache_hit < two.theoretical_max_hit
    assert two.cache_hit % 256 == 0
    assert two.theoretical_max_hit - two.cache_hit < 256


def test_request_ending_at_block_stores_it_for_later_requests() -> None:
    stable = [{"role": "system", "content": "Review bot. " * 300}]
    with StandIn(handler=lambda body: ScriptedReply(content="x"), unit_interval=None) as server:
        _post(server, _body([*stable, {"role": "user", "content": "PR 1"}]))
        _post(server, _body([*stable, {"role": "user", "content": "PR 2"}]))  # detects the common prefix
        _post(server, _body([*stable, {"role": "user", "content": "PR 3"}]))
    assert server.calls[1].cache_hit == 0
    assert server.calls[2].cache_hit == server.calls[2].theoretical_max_hit > 600

    with StandIn(handler=lambda body: ScriptedReply(content="x"), unit_interval=None) as server:
        _post(server, _body(stable, max_tokens=1))  # a priming request ending exactly at the block
        _post(server, _body([*stable, {"role": "user", "content": "PR 1"}]))
    assert server.calls[1].cache_hit == server.calls[0].prompt_tokens


def test_vllm_mode_reports_cached_tokens_in_blocks() -> None:
    replies = [ScriptedReply(content="first"), ScriptedReply(content="second")]
    with StandIn(replies=replies, mode="vllm") as server:
        msgs = [{"role": "system", "content": "vLLM system prompt. " * 40}, {"role": "user", "content": "a"}]
        r1 = _post(server, _body(msgs))
        msgs[1] = {"role": "user", "content": "b"}
        r2 = _post(server, _body(msgs))
    u1, u2 = r1.json()["usage"], r2.json()["usage"]
    assert "prompt_cache_hit_tokens" not in u2
    assert u1["prompt_tokens_details"]["cached_tokens"] == 0
    cached = u2["prompt_tokens_details"]["cached_tokens"]
    assert cached % 16 == 0
    assert 0 < cached <= server.calls[1].theoretical_max_hit < cached + 16


def test_bad_key_and_thinking_validation_and_overflow() -> None:
    with StandIn(replies=[ScriptedReply(content="never")], context_window=50) as server:
        r = httpx.post(f"{server.base_url}/v1/chat/completions", json=_body([{"role": "user", "content": "x"}]),
                       headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        assert r.json()["error"]["type"] == "authentication_error"
        turn = {"role": "assistant", "content": "",
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
        msgs = [{"role": "user", "content": "x"}, turn, {"role": "tool", "tool_call_id": "c", "content": "r"}]
        r = _post(server, _body(msgs, reasoning_effort="high"))
        assert r.status_code == 400
        assert "reasoning_content" in r.json()["error"]["message"]
        r = _post(server, _body([{"role": "user", "content": "word " * 200}]))
        assert r.status_code == 400
        assert "maximum context length" in r.json()["error"]["message"]
        r = httpx.post(f"{server.base_url}/chat/completions", content=b"{not json", headers=AUTH)
        assert r.status_code == 400
        assert r.json()["error"]["message"]
        # thinking disabled: the same history is accepted
        r = _post(server, _body(msgs, thinking={"type": "disabled"}))
        assert r.status_code == 200
        models = httpx.get(f"{server.base_url}/models", headers=AUTH).json()
        assert [m["id"] for m in models["data"]] == ["deepseek-v4-flash", "deepseek-v4-pro"]


def test_script_exhausted_is_a_clear_500() -> None:
    with StandIn(replies=[]) as server:
        r = _post(server, _body([{"role": "user", "content": "x"}]))
    assert r.status_code == 500
    assert "script exhausted" in r.json()["error"]["message"]


@pytest.mark.parametrize(("kind", "status", "type_"), [
    ("429", 429, "rate_limit_error"), ("500", 500, "server_error"),
    ("402", 402, "unknown_error"), ("401", 401, "authentication_error")])
def test_error_faults(kind: str, status: int, type_: str) -> None:
    with StandIn(replies=[ScriptedReply(content="after")]) as server:
        server.faults.append(Fault(kind, retry_after=0.05))
        r = _post(server, _body([{"role": "user", "content": "x"}]))
        assert r.status_code == status
        assert r.json()["error"]["type"] == type_
        if kind == "429":
            assert r.headers["Retry-After"] == "0.05"
        again = _post(server, _body([{"role": "user", "content": "x"}]))
    assert again.status_code == 200
    assert again.json()["choices"][0]["message"]["content"] == "after"
    assert [c.fault for c in server.calls] == [kind, None]


def test_cut_stream_closes_without_done_and_stores_input() -> None:
    with StandIn(replies=[ScriptedReply(content="a long answer " * 20), ScriptedReply(content="ok")],
                 unit_interval=None) as server:
        server.faults.append(Fault("cut_stream", after=4))
        msgs = [{"role": "user", "content": "same input"}]
        received: list[bytes] = []

        def read_stream() -> None:
            with httpx.stream("POST", f"{server.base_url}/chat/completions", headers=AUTH,
                              json=_body(msgs, stream=True)) as resp:
                for part in resp.iter_bytes():
                    received.append(part)

        with pytest.raises(httpx.RemoteProtocolError):
            read_stream()
        text = b"".join(received).decode()
        assert text.count("data: ") == 4
        assert "[DONE]" not in text
        r = _post(server, _body(msgs))
    # The input unit ends before the generation marker; the cut output stored nothing more.
    assert r.json()["usage"]["prompt_cache_hit_tokens"] == server.calls[0].input_end


def test_slow_first_byte_and_keepalive_comments() -> None:
    with StandIn(replies=[ScriptedReply(content="late"), ScriptedReply(content="kept")]) as server:
        server.faults.append(Fault("slow_first_byte", delay=0.3))
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.base_url}/chat/completions", headers=AUTH,
                       json=_body([{"role": "user", "content": "x"}]), timeout=0.1)
        server.faults.append(Fault("keepalive", count=3))
        r = _post(server, _body([{"role": "user", "content": "y"}], stream=True))
        assert r.text.startswith(": keep-alive\n\n: keep-alive\n\n: keep-alive\n\ndata: ")
        assert "kept" in "".join(c["choices"][0]["delta"].get("content") or ""
                                 for c in _sse_payloads(r.text) if c["choices"])


def test_cancelled_stream_still_stores_input_unit() -> None:
    with StandIn(replies=[ScriptedReply(content="word " * 400), ScriptedReply(content="ok")],
                 unit_interval=None, chunk_chars=1, chunk_delay=0.002) as server:
        msgs = [{"role": "user", "content": "cancel me please"}]
        with httpx.stream("POST", f"{server.base_url}/chat/completions", headers=AUTH,
                          json=_body(msgs, stream=True)) as resp:
            for _ in resp.iter_lines():
                break  # client goes away mid-stream
        deadline = time.monotonic() + 5
        while not server.calls[0].cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.calls[0].cancelled
        r = _post(server, _body(msgs))
    assert r.json()["usage"]["prompt_cache_hit_tokens"] == server.calls[0].input_end
