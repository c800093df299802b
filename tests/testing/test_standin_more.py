"""More stand-in behaviour: vLLM stream shape, whole-reply keep-alives, per-model caches, handlers, and the
stand-in as its own process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from v4agent.testing import Fault, ScriptedReply, ScriptedToolCall, StandIn

AUTH = {"Authorization": "Bearer sk-test"}


def _post(base_url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, headers=AUTH, timeout=10)


def _body(content: str, model: str = "deepseek-v4-flash", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "system", "content": "Stable prefix. " * 100},
                                         {"role": "user", "content": content}], **extra}


def test_vllm_stream_sends_usage_in_a_chunk_without_choices() -> None:
    with StandIn(replies=[ScriptedReply(content="hi there")], mode="vllm") as server:
        r = _post(server.base_url, _body("a", stream=True, stream_options={"include_usage": True},
                                         chat_template_kwargs={"thinking": False}))
    payloads = [json.loads(line[6:]) for line in r.text.split("\n")
                if line.startswith("data: ") and line != "data: [DONE]"]
    assert payloads[-1]["choices"] == []
    assert payloads[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    assert payloads[-2]["choices"][0]["finish_reason"] == "stop"
    assert r.text.endswith("data: [DONE]\n\n")


def test_whole_reply_keepalive_blank_lines_before_json() -> None:
    with StandIn(replies=[ScriptedReply(content="queued")]) as server:
        server.faults.append(Fault("keepalive", count=4, delay=0.01))
        r = _post(server.base_url, _body("a"))
    assert r.content.startswith(b"\n\n\n\n{")
    assert json.loads(r.content)["choices"][0]["message"]["content"] == "queued"


def test_each_model_and_thinking_setting_has_its_own_cache() -> None:
    off = {"thinking": {"type": "disabled"}}
    with StandIn(handler=lambda body: ScriptedReply(content="ok"), unit_interval=None) as server:
        _post(server.base_url, _body("a", **off))
        _post(server.base_url, _body("a", model="deepseek-v4-pro", **off))
        _post(server.base_url, _body("a", thinking={"type": "enabled"}, reasoning_effort="high"))
        _post(server.base_url, _body("a", thinking={"type": "enabled"}, reasoning_effort="max"))
        _post(server.base_url, _body("a", **off))
        _post(server.base_url, _body("a"))  # thinking is on by default, at effort high
    assert [c.cache_hit for c in server.calls[:4]] == [0, 0, 0, 0]
    assert server.calls[4].cache_hit == server.calls[0].input_end
    assert server.calls[5].thinking
    assert server.calls[5].cache_hit == server.calls[2].input_end


def test_handler_sees_the_request_and_its_failures_are_clear_500s() -> None:
    seen: list[dict[str, Any]] = []

    def handler(body: dict[str, Any]) -> ScriptedReply:
        seen.append(body)
        if body["messages"][-1]["content"] == "boom":
            raise RuntimeError("handler bug")
        return ScriptedReply(tool_calls=[ScriptedToolCall("run", "{not json", id="t1")])

    with StandIn(handler=handler) as server:
        ok = _post(server.base_url, _body("hello"))
        bad = _post(server.base_url, _body("boom"))
    assert seen[0]["messages"][-1]["content"] == "hello"
    message = ok.json()["choices"][0]["message"]
    assert message["content"] == ""
    assert message["tool_calls"] == [{"id": "t1", "type": "function",
                                      "function": {"name": "run", "arguments": "{not json"}}]
    assert ok.json()["choices"][0]["finish_reason"] == "tool_calls"
    assert bad.status_code == 500
    assert "handler bug" in bad.json()["error"]["message"]


def test_unknown_model_and_route() -> None:
    with StandIn(replies=[]) as server:
        r = _post(server.base_url, _body("a", model="gpt-4o"))
        assert r.status_code == 400
        assert r.json()["error"]["message"] == "Model Not Exist"
        r = httpx.get(f"{server.base_url}/v1/nothing", headers=AUTH)
        assert r.status_code == 404
        assert "error" in r.json()
        r = httpx.get(f"{server.base_url}/v1/models")  # no key
        assert r.status_code == 401


def test_serve_runs_as_its_own_process(tmp_path: Path) -> None:
    script = tmp_path / "replies.json"
    script.write_text(json.dumps([{"content": "scripted", "reasoning": "r",
                                   "tool_calls": [{"name": "grep", "arguments": "{}"}]}]))
    record = tmp_path / "calls.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "v4agent.testing.serve", "--script", str(script),
                             "--echo", "--record", str(record)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        first = _post(base_url, _body("a")).json()
        second = _post(base_url, _body("b")).json()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert first["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "grep"
    assert second["choices"][0]["message"]["content"] == "echo: b"
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert [c["status"] for c in calls] == [200, 200]
    assert calls[1]["cache_hit"] == 0 < calls[1]["theoretical_max_hit"]  # no unit ends at the shared prefix yet


def test_serve_rejects_a_bad_script(tmp_path: Path) -> None:
    script = tmp_path / "bad.json"
    script.write_text("{oops")
    done = subprocess.run([sys.executable, "-m", "v4agent.testing.serve", "--script", str(script)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "cannot read script" in done.stderr
    assert "Traceback" not in done.stderr
