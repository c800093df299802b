"""The client follows DeepSeek's documented wire rules; each test fails on a client that breaks its rule.

Rules and where DeepSeek states them:
- thinking mode: https://api-docs.deepseek.com/guides/thinking_mode (reasoning_content on tool-call turns,
  temperature without effect);
- errors and rate limits: https://api-docs.deepseek.com/quick_start/error_codes and
  https://api-docs.deepseek.com/quick_start/rate_limit (429 is per-account concurrency, 402 is balance);
- finish reasons: https://api-docs.deepseek.com/api/create-chat-completion;
- model routing: https://api-docs.deepseek.com/quick_start/your_first_api_call.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_git_repo, run_cli
from tests.engine.wirefake import CREATED, Exchange, chunk, serving, text_reply, tool_reply, usage
from v4agent.accounting import Ledger, Meter, load_price_table, price_call
from v4agent.agent.engine_choice import deadlines, validate_model
from v4agent.core.config import load_config
from v4agent.engine.client import EngineSettings, RemoteEngine
from v4agent.engine.deadline import Deadlines
from v4agent.engine.limiter import ConcurrencyLimiter, stated_limit
from v4agent.engine.models import UnknownModel
from v4agent.engine.presets import get_preset
from v4agent.engine.retry import Failure, RetryPolicy
from v4agent.engine.types import (
    Delta,
    EngineBudgetError,
    EngineError,
    EngineUnreachable,
    RequestSettings,
    ThinkLevel,
    Usage,
)

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)
USER = {"role": "user", "content": "go"}
# The 429 DeepSeek sends over the concurrency limit, verbatim: a rate limit, though it speaks of the balance.
CONCURRENCY_429 = ("Your current concurrency is 40, which exceeds your concurrency limit of 39 based on your "
                   "remaining balance. Please top up your balance to restore your concurrency.")


def engine_at(url: str, *, think: ThinkLevel = "high", stream: bool = True, model: str = "deepseek-v4-flash",
              retry: RetryPolicy = FAST, preset: str = "deepseek", temperature: float | None = None,
              limits: Deadlines | None = None, limiter: ConcurrencyLimiter | None = None) -> RemoteEngine:
    settings = RequestSettings(model=model, max_tokens=4096, think=think, stream=stream, temperature=temperature)
    return RemoteEngine(url, "sk-test", settings, get_preset(preset), retry=retry, deadlines=limits,
                        limiter=limiter)


def strict_thinking(reply_chunks: list[dict[str, Any]]) -> Any:
    """Answers like the real API: a thinking-mode tool-call turn sent back without reasoning_content is a 400."""

    def respond(ex: Exchange) -> None:
        for index, message in enumerate(ex.body["messages"]):
            if message.get("role") == "assistant" and message.get("tool_calls") and "reasoning_content" not in message:
                ex.error(400, f"Missing `reasoning_content` field in the assistant message at message index {index}")
                return
        if ex.number == 0:
            ex.sse(reply_chunks)
        else:
            ex.sse(text_reply("done"))

    return respond


# -- 1. reasoning_content on tool-call turns, and 7. no temperature in thinking mode --------------------------

def test_empty_reasoning_on_a_tool_call_turn_is_sent_back_in_thinking_mode() -> None:
    with serving(strict_thinking(tool_reply("read_file", '{"path": "a.py"}'))) as server:
        engine = engine_at(server.base_url)
        reply = engine.complete([USER])
        assert reply.tool_calls
        assert reply.reasoning == ""
        messages = [USER, reply.as_message(), {"role": "tool", "tool_call_id": "call_1", "content": "x = 1"}]
        assert engine.complete(messages).content == "done"
    sent_back = server.requests[1]["messages"][1]
    assert sent_back["reasoning_content"] == ""
    assert sent_back["content"] == ""


def test_without_thinking_no_reasoning_key_is_sent() -> None:
    with serving(lambda ex: ex.sse(tool_reply("read_file", "{}"))) as server:
        reply = engine_at(server.base_url, think="off").complete([USER])
    assert "reasoning_content" not in reply.as_message()


@pytest.mark.parametrize(("think", "preset", "sent"), [
    ("high", "deepseek", False), ("off", "deepseek", True), ("high", "vllm", True),
])
def test_temperature_is_not_sent_where_thinking_ignores_it(think: ThinkLevel, preset: str, sent: bool) -> None:
    body = engine_at("http://127.0.0.1:9", think=think, preset=preset, temperature=0.2).build_request([USER])
    assert ("temperature" in body) is sent


# -- 2. status first: the concurrency 429 is retried, 402 is not; the shared limiter --------------------------

def test_the_real_concurrency_429_is_retried_not_taken_for_a_balance_failure() -> None:
    def respond(ex: Exchange) -> None:
        if ex.number == 0:
            ex.error(429, CONCURRENCY_429, "rate_limit_reached")  # no Retry-After: DeepSeek documents none
        else:
            ex.sse(text_reply("fine"))

    retries: list[tuple[Failure, float]] = []
    with serving(respond) as server:
        engine = engine_at(server.base_url)
        engine.on_retry = lambda failure, delay: retries.append((failure, delay))
        assert engine.complete([USER]).content == "fine"
    assert len(server.requests) == 2
    failure, delay = retries[0]
    assert failure.kind == "rate_limit"
    assert failure.stated_limit == 39
    assert 0.0075 <= delay <= 0.0125  # the first backoff step, jittered


def test_a_retry_after_is_honoured_when_the_server_sends_one() -> None:
    def respond(ex: Exchange) -> None:
        if ex.number == 0:
            ex.error(429, "Rate limit reached", "rate_limit_reached", headers={"Retry-After": "0.2"})
        else:
            ex.sse(text_reply())

    delays: list[float] = []
    with serving(respond) as server:
        engine = engine_at(server.base_url)
        engine.on_retry = lambda failure, delay: delays.append(delay)
        engine.complete([USER])
    assert delays == [0.2]


def test_402_stops_at_once_and_says_to_top_up() -> None:
    with serving(lambda ex: ex.error(402, "Insufficient Balance", "invalid_request_error")) as server, \
            pytest.raises(EngineBudgetError) as info:
        engine_at(server.base_url).complete([USER])
    assert "not retried" in str(info.value)
    assert "top up" in info.value.hint
    assert len(server.requests) == 1


def test_a_burst_backs_off_through_the_shared_limiter_instead_of_failing() -> None:
    cap, lock, in_flight, peak = 3, threading.Lock(), [0], [0]

    def respond(ex: Exchange) -> None:
        with lock:
            over = in_flight[0] >= cap
            if not over:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
        if over:
            ex.error(429, CONCURRENCY_429.replace("40", str(cap + 1)).replace("39", str(cap)), "rate_limit_reached")
            return
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        ex.sse(text_reply("ok"))

    limiter = ConcurrencyLimiter(initial=8)
    patient = RetryPolicy(max_attempts=10, base_delay_s=0.01, max_delay_s=0.1)
    results: list[str] = []
    with serving(respond) as server:
        def one() -> None:
            results.append(engine_at(server.base_url, retry=patient, limiter=limiter).complete([USER]).content)

        threads = [threading.Thread(target=one) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert results == ["ok"] * 12
    assert peak[0] <= cap
    assert limiter.in_flight == 0
    assert len(server.requests) < 12 * 3  # most calls waited for a slot instead of failing


def test_the_limiter_takes_the_stated_limit_halves_without_one_and_grows_back() -> None:
    assert stated_limit(CONCURRENCY_429) == 39
    assert stated_limit("Rate limit reached") is None
    limiter = ConcurrencyLimiter(initial=50)
    limiter.on_rate_limit(39)
    assert limiter.limit == 38  # one below: other processes may share the account
    limiter = ConcurrencyLimiter(initial=8)
    with limiter.slot(), limiter.slot(), limiter.slot(), limiter.slot():
        limiter.on_rate_limit(None)
    assert limiter.limit == 2
    for _ in range(2):
        limiter.on_success()
    assert limiter.limit == 3


# -- 3. finish reasons --------------------------------------------------------------------------------------

def test_insufficient_system_resource_is_retried() -> None:
    def respond(ex: Exchange) -> None:
        ex.sse(text_reply("half", "insufficient_system_resource") if ex.number == 0 else text_reply("whole"))

    with serving(respond) as server:
        reply = engine_at(server.base_url).complete([USER])
    assert reply.content == "whole"
    assert len(server.requests) == 2


@pytest.mark.parametrize(("finish", "truncated", "filtered"), [
    ("length", True, False), ("content_filter", False, True), ("stop", False, False),
])
def test_a_cut_or_filtered_reply_is_reported_as_such(finish: str, truncated: bool, filtered: bool) -> None:
    with serving(lambda ex: ex.sse(tool_reply("write_file", '{"path": "a.py", "text": "x = ', finish))) as server:
        reply = engine_at(server.base_url).complete([USER])
    assert (reply.truncated, reply.filtered) == (truncated, filtered)
    assert bool(reply.incomplete) is (truncated or filtered)


# -- 4. deadlines and visible waiting -----------------------------------------------------------------------

def test_a_trickling_server_hits_the_first_token_deadline() -> None:
    def respond(ex: Exchange) -> None:
        ex.start_stream()
        ex.every(": keep-alive\n\n", 0.05)  # a queued request, forever

    seen: list[str] = []
    limits = Deadlines(first_token_s=0.4, total_s=30)
    with serving(respond) as server:
        started = time.monotonic()
        with pytest.raises(EngineError, match=r"no token within 0\.4 s") as info:
            engine_at(server.base_url, retry=RetryPolicy(2, 0.01), limits=limits).complete(
                [USER], on_delta=lambda d: seen.append(d.text))
    assert time.monotonic() - started < 5
    assert "gave up" in str(info.value)  # retried once: the queue may have moved on
    assert len(server.requests) == 2
    assert seen[:2] == ["waiting", "queued"]
    assert "retrying" in seen


def test_a_silent_socket_hits_the_first_byte_deadline() -> None:
    with serving(lambda ex: ex.hang()) as server:
        started = time.monotonic()
        with pytest.raises(EngineUnreachable, match="timed out"):
            engine_at(server.base_url, retry=RetryPolicy(1), limits=Deadlines(first_byte_s=0.4)).complete([USER])
    assert time.monotonic() - started < 5


def test_a_silent_stream_after_the_first_token_is_cut() -> None:
    def respond(ex: Exchange) -> None:
        ex.start_stream()
        ex.write(f"data: {json.dumps(chunk({'content': 'a'}))}\n\n")
        ex.hang()

    with serving(respond) as server, pytest.raises(EngineError, match=r"sent nothing for 0\.4 s"):
        engine_at(server.base_url, retry=RetryPolicy(1), limits=Deadlines(first_byte_s=0.4)).complete([USER])


def test_the_total_deadline_stops_an_endless_stream_and_is_not_retried() -> None:
    def respond(ex: Exchange) -> None:
        ex.start_stream()
        ex.every(f"data: {json.dumps(chunk({'content': 'more '}))}\n\n", 0.05)

    with serving(respond) as server:
        started = time.monotonic()
        with pytest.raises(EngineError, match=r"longer than 0\.5 s") as info:
            engine_at(server.base_url, limits=Deadlines(total_s=0.5)).complete([USER])
    assert time.monotonic() - started < 5
    assert "not retried" in str(info.value)
    assert len(server.requests) == 1


def test_the_phases_of_a_call_reach_the_observer() -> None:
    with serving(lambda ex: ex.sse(text_reply("answer", reasoning="hmm"))) as server:
        seen: list[Delta] = []
        engine_at(server.base_url).complete([USER], on_delta=seen.append)
    assert [d.text for d in seen if d.kind == "status"] == ["waiting", "thinking", "streaming"]


def test_deadlines_come_from_the_configuration(tmp_path: Path) -> None:
    (tmp_path / ".v4agent.toml").write_text("[timeout]\nfirst_token = 120\ntotal = 0\n")
    chosen = deadlines(load_config(tmp_path, trust=True))  # timeout.* apply from a trusted project file
    assert chosen.first_token_s == 120
    assert chosen.total_s is None  # 0 turns it off
    assert chosen.connect_s == Deadlines().connect_s
    assert deadlines(None) == Deadlines()


# -- 5. priced by what served the call ----------------------------------------------------------------------

PEAK_AFTER_ROUTING = datetime(2026, 9, 15, 2, 0, tzinfo=UTC)
ONE_M = Usage(1_000_000, 0, cache_hit=0, cache_miss=1_000_000)


@pytest.mark.parametrize(("served", "billed", "miss_usd", "fallback"), [
    ("deepseek-v4-pro-0813", "deepseek-v4-pro-0813", 1.32, False),  # the pricing page: Pro still serves
    ("DeepSeek-V4.1-Flash-1017", "deepseek-flash", 0.30, False),  # "Your First API Call": routed to Flash
    ("deepseek-v4-pro", "deepseek-flash", 0.30, False),  # the requested name echoed: the dated routing rule
    ("", "deepseek-flash", 0.30, True),  # the response named nothing: the requested name, flagged
    ("gpt-4o", "deepseek-flash", 0.30, True),  # a name the table does not price: the same
])
def test_a_call_is_priced_by_the_model_that_served_it(served: str, billed: str, miss_usd: float,
                                                      fallback: bool) -> None:
    cost = price_call(load_price_table(), "deepseek-v4-pro", ONE_M, PEAK_AFTER_ROUTING, served_model=served)
    assert (cost.billed_model, cost.miss_usd, cost.by_fallback) == (billed, miss_usd, fallback)


def test_before_the_routing_date_pro_is_priced_as_pro() -> None:
    before = datetime(2026, 9, 14, 3, 59, tzinfo=UTC)  # Monday, peak, one minute before the routing
    cost = price_call(load_price_table(), "deepseek-v4-pro", ONE_M, before, served_model="deepseek-v4-pro")
    assert (cost.billed_model, cost.miss_usd) == ("deepseek-v4-pro", 1.32)


def test_the_meter_prices_a_reply_by_its_served_model_and_date(tmp_path: Path) -> None:
    def respond(ex: Exchange) -> None:
        ex.sse([chunk({"content": "hi"}, model="deepseek-flash"),
                chunk({}, "stop", model="deepseek-flash", usage=usage(1_000_000, 0))])

    with serving(respond) as server:
        reply = engine_at(server.base_url, model="deepseek-v4-pro").complete([USER])
    assert (reply.model, reply.served_at) == ("deepseek-flash", datetime.fromtimestamp(CREATED, UTC))
    assert reply.usage is not None
    meter = Meter(load_price_table(), engine="deepseek", ledger=Ledger(tmp_path), session_id="s")
    charge = meter.charge("deepseek-v4-pro", reply.usage, turn=1, at=reply.served_at, served_model=reply.model)
    meter.log(charge)
    record = Ledger(tmp_path).read()[0]
    assert (record.model, record.served_model, record.billed_model) == ("deepseek-v4-pro", "deepseek-flash",
                                                                         "deepseek-flash")
    assert record.total_usd == 0.30  # 1M misses at Flash's peak rate, on the response's own date
    assert record.price_entry == "deepseek-2026-09-14-pro-routed-to-flash (peak)"


def test_cost_says_which_calls_were_priced_by_a_fallback_name(tmp_path: Path) -> None:
    ledger, table = Ledger(tmp_path), load_price_table()
    for served in ("deepseek-flash", ""):
        ledger.record_call(table, session_id="s", turn=1, engine="deepseek", model="deepseek-v4-pro",
                           usage=ONE_M, at=PEAK_AFTER_ROUTING, served_model=served)
    out = run_cli("cost", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "2 call(s) to deepseek-v4-pro were priced as deepseek-flash" in out.stdout
    assert "1 call(s) were priced by the requested model name" in out.stderr
    data = json.loads(run_cli("cost", str(tmp_path), "--json").stdout)
    assert data["total"]["fallback_calls"] == 1


# -- 6. an unknown model is refused before any work ---------------------------------------------------------

def test_an_unknown_model_is_checked_against_the_preset_then_the_server() -> None:
    validate_model(EngineSettings(model="deepseek-v4-pro", api_key=""))  # the preset knows it: no network
    with pytest.raises(UnknownModel, match="engine 'deepseek' knows deepseek-flash") as info:
        validate_model(EngineSettings(model="gpt-4o", api_key=""))  # no key: the preset's list decides
    assert info.value.exit_code == 2
    with serving(lambda ex: None, models=["deepseek-flash", "deepseek-v4-pro", "deepseek-v5"]) as server:
        validate_model(EngineSettings(model="deepseek-v5", base_url=server.base_url, api_key="sk-test"))
        with pytest.raises(UnknownModel, match="the server lists deepseek-flash, deepseek-v4-pro, deepseek-v5"):
            validate_model(EngineSettings(model="gpt-4o", base_url=server.base_url, api_key="sk-test"))


def test_the_cli_refuses_an_unknown_model_before_packing(tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    with serving(lambda ex: ex.sse(text_reply()), models=["deepseek-flash", "deepseek-v4-pro"]) as server:
        out = run_cli("refactor", str(repo), "rename x", "--model", "gpt-4o", "--base-url", server.base_url,
                      env={"DEEPSEEK_API_KEY": "sk-test"})
        assert server.requests == []  # no chat request either
    assert out.returncode == 2, out.stderr
    assert "unknown model 'gpt-4o'" in out.stderr
    assert "deepseek-flash, deepseek-v4-pro" in out.stderr
    assert "pack" not in (out.stdout + out.stderr).lower()
    offline = run_cli("refactor", str(repo), "rename x", "--model", "gpt-4o")  # no key: the preset decides
    assert offline.returncode == 2, offline.stderr
    assert "Packed" not in offline.stdout




def test_the_call_clock_checks_first_token_then_total() -> None:
    from v4agent.engine.deadline import CallClock, DeadlineExceeded

    now = [100.0]
    clock = CallClock(Deadlines(first_token_s=5, total_s=20), now=lambda: now[0])
    now[0] = 104.9
    clock.check()
    clock.token()  # from here on only the total counts
    now[0] = 119.0
    clock.check()
    now[0] = 120.5
    with pytest.raises(DeadlineExceeded, match="longer than 20 s") as info:
        clock.check()
    assert not info.value.retryable
    late = CallClock(Deadlines(first_token_s=5), now=lambda: now[0])
    now[0] += 6
    with pytest.raises(DeadlineExceeded, match="no token within 5 s") as info:
        late.check()
    assert info.value.retryable
