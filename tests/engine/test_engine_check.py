"""`v4agent engine check` through the real CLI against the stand-in (and, marked ``vllm``, the real vLLM), the
stored priming method the agent's priming reads, and the balance `engine list` shows."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli

# The vllm-marked test reuses the CPU build and tiny model the vLLM tests set up (their session fixtures).
from tests.engine.local.test_vllm_cpu import tiny_llama, vllm_python  # noqa: F401
from v4agent.core.trust import trust_repository
from v4agent.engine.balance import Balance, parse_balance
from v4agent.engine.client import RemoteEngine
from v4agent.engine.presets import get_preset
from v4agent.engine.prime import prime_prefix, priming_method
from v4agent.engine.probe_state import PrimingRecord, load_priming, priming_advice, save_priming
from v4agent.engine.types import RequestSettings
from v4agent.testing import BalanceInfo, ScriptedReply, ScriptedToolCall, StandIn


def probe_replies(body: dict[str, Any]) -> ScriptedReply:
    """What a model does with the probe's conversation: call the tool when offered, then answer."""
    last = body["messages"][-1]
    if body.get("tools") and last["role"] == "user":
        return ScriptedReply(reasoning="The user wants the tool.", tool_calls=[
            ScriptedToolCall("probe_echo", '{"text": "ping"}')])
    if last["role"] == "tool":
        return ScriptedReply(content="pong received", reasoning="Done.")
    return ScriptedReply(content="OK")


def _check(server: StandIn, tmp_path: Path, *extra: str, key: str = "sk-test") -> tuple[int, Any, str]:
    env = {"DEEPSEEK_API_KEY": key, "XDG_STATE_HOME": str(tmp_path / "state")}
    done = run_cli("engine", "check", str(tmp_path), "--base-url", server.base_url, "--settle", "0", *extra,
                   env=env, timeout=300)
    parsed = json.loads(done.stdout) if "--json" in extra and done.stdout.strip() else None
    return done.returncode, parsed, done.stdout + done.stderr


def test_engine_check_passes_against_the_standin_and_stores_its_priming(tmp_path: Path) -> None:
    with StandIn(handler=probe_replies) as server:
        status, report, output = _check(server, tmp_path, "--json", "--record", str(tmp_path / "rec"))
        calls = list(server.calls)
        base_url = server.base_url
    assert status == 0, output
    checks = {c["name"]: c for c in report["checks"]}
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert not failed
    assert checks["reasoning passback required"]["detail"].startswith("required (HTTP 400: The `reasoning_content`")
    assert checks["empty reasoning accepted"]["status"] == "pass"
    assert "forced by tool_choice" in checks["tool call"]["detail"]
    assert "'reasoning_content'" in checks["tool call"]["detail"]  # the first delta of a thinking stream
    assert checks["bad model error"]["detail"] == "HTTP 400: Model Not Exist"
    # The stand-in keys caches by model, thinking and effort only: both cheaper priming methods work.
    assert report["priming"] == {"method": "cancel", "cancel_works": True, "short_works": True,
                                 "max_tokens_in_identity": False, "stream_in_identity": False,
                                 "control_hit": report["priming"]["control_hit"]}
    assert report["priming"]["control_hit"] > 256
    assert 0 < report["cost_usd"] < 0.001
    assert report["requests"] == len(calls) + 1  # and GET /models
    # Recorded with the key nowhere in them; the priming method is stored for the endpoint.
    recorded = sorted((tmp_path / "rec").iterdir())
    assert len(recorded) == report["requests"]
    assert all("sk-test" not in p.read_text() for p in recorded)
    stored = load_priming(base_url, "deepseek-v4-flash", {"XDG_STATE_HOME": str(tmp_path / "state")})
    assert stored is not None
    assert (stored.method, stored.max_tokens_in_identity) == ("cancel", False)


def test_engine_check_measures_a_stricter_cache_identity(tmp_path: Path) -> None:
    # max_tokens joins the cache key and a dropped stream stores nothing: only a whole request primes.
    with StandIn(handler=probe_replies, cache_identity=("max_tokens",), store_cancelled_input=False,
                 chunk_chars=1, chunk_delay=0.02) as server:
        status, report, output = _check(server, tmp_path, "--json")
    assert status == 0, output
    assert report["priming"]["method"] == "full"
    assert report["priming"]["max_tokens_in_identity"] is True
    assert report["priming"]["cancel_works"] is False
    assert report["priming"]["stream_in_identity"] is False


def test_engine_check_table_and_a_failing_endpoint(tmp_path: Path) -> None:
    with StandIn(handler=probe_replies) as server:
        status, _, output = _check(server, tmp_path, "--no-save")
        assert status == 0, output
        assert "priming method: cancel" in output
        assert "probe cost: $" in output
        refused, _, refused_output = _check(server, tmp_path, "--no-save", key="sk-wrong")
    assert "engine check: deepseek deepseek-v4-flash" in output
    assert refused == 1
    assert "FAIL" in refused_output
    assert "Traceback" not in refused_output
    assert not (tmp_path / "state").exists()


def test_engine_check_on_a_vllm_style_endpoint(tmp_path: Path) -> None:
    model = "deepseek-ai/DeepSeek-V4-Flash"
    with StandIn(handler=probe_replies, mode="vllm", models=(model,), api_key=None) as server:
        done = run_cli("engine", "check", str(tmp_path), "--engine", "vllm", "--base-url", server.base_url,
                       "--model", model, "--settle", "0", "--json", env={"XDG_STATE_HOME": str(tmp_path / "s")})
        body = server.calls[1].request
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["reasoning passback required"]["detail"].startswith("not required")
    assert report["priming"]["method"] == "cancel"
    assert body["chat_template_kwargs"] == {"thinking": True, "reasoning_effort": "low"}
    assert report["cost_usd"] == 0  # a local engine is priced at its GPU hours, none set here


def _engine(server: StandIn) -> RemoteEngine:
    settings = RequestSettings(model="deepseek-v4-flash", max_tokens=2048, think="off")
    return RemoteEngine(server.base_url, "sk-test", settings, get_preset("deepseek"))


@pytest.mark.parametrize(("method", "max_tokens", "answered"), [
    (None, 2048, False), ("cancel", 2048, False), ("short", 1, True), ("full", 2048, True), ("none", 2048, False)])
def test_priming_uses_the_measured_method(tmp_path: Path, method: str | None, max_tokens: int,
                                          answered: bool) -> None:
    environ = {"XDG_STATE_HOME": str(tmp_path)}
    messages = [{"role": "system", "content": "stable " * 300}, {"role": "user", "content": "pack"}]
    with StandIn(handler=lambda body: ScriptedReply(content="ready to work " * 20)) as server:
        if method is not None:
            save_priming(PrimingRecord(server.base_url, "deepseek-v4-flash", method,
                                       datetime.now(UTC).isoformat()), environ)
        engine = _engine(server)
        try:
            assert priming_method(engine, environ)[0] == (method if method in ("short", "full") else "cancel")
            reply = prime_prefix(engine, messages, [], environ=environ)
        finally:
            engine.close()
        sent = server.calls[0].request
    assert sent["max_tokens"] == max_tokens
    assert (reply is not None) == answered


def test_priming_advice_ages() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    fresh = PrimingRecord("http://x", "m", "cancel", (now - timedelta(days=3)).isoformat())
    stale = PrimingRecord("http://x", "m", "cancel", (now - timedelta(days=45)).isoformat())
    assert priming_advice(fresh, now) is None
    assert "45 days ago" in (priming_advice(stale, now) or "")
    assert "engine check" in (priming_advice(None, now) or "")


def test_engine_list_shows_the_deepseek_balance(tmp_path: Path) -> None:
    infos = [BalanceInfo("CNY", "110.00", "10.00", "100.00"), BalanceInfo("USD", "2.50", "0.00", "2.50")]
    with StandIn(balance=infos) as server:
        (tmp_path / ".v4agent.toml").write_text(f'engine = "deepseek"\nbase_url = "{server.base_url}"\n')
        trust_repository(tmp_path)  # base_url is a key only a trusted project file may set
        done = run_cli("engine", "list", str(tmp_path), "--json", env={"DEEPSEEK_API_KEY": "sk-test"})
        table = run_cli("engine", "list", str(tmp_path), env={"DEEPSEEK_API_KEY": "sk-test"})
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["deepseek"]["balance"] == "CNY 110.00, USD 2.50"
    assert rows["vllm"]["balance"] in ("n/a", "not probed")
    assert "CNY 110.00" in table.stdout
    assert rows["deepseek"]["priming"] == "not measured"
    assert "deepseek: priming method not measured for this endpoint: run `v4agent engine check`" in table.stdout


def test_balance_body_as_documented() -> None:
    parsed = parse_balance({"is_available": True, "balance_infos": [
        {"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00", "topped_up_balance": "100.00"}]})
    assert isinstance(parsed, Balance)
    assert parsed.summary() == "CNY 110.00"
    assert str(parsed.currencies[0].granted) == "10.00"
    assert parse_balance({"error": {"message": "no"}}) is None
    empty = parse_balance({"is_available": False, "balance_infos": []})
    assert empty is not None
    assert empty.summary() == "none (unavailable)"


@pytest.mark.vllm
@pytest.mark.timeout(900)
def test_engine_check_against_real_vllm(request: pytest.FixtureRequest, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe against vLLM's own server (the CPU build the vllm tests install, a tiny random model)."""
    from tests.engine.local.test_vllm_cpu import _config
    from v4agent.engine.local.runtime import start_local_engine

    python, model = request.getfixturevalue("vllm_python"), request.getfixturevalue("tiny_llama")

    monkeypatch.setenv("VLLM_CACHE_ROOT", str(tmp_path / "vllm-cache"))
    repo = tmp_path / "repo"
    repo.mkdir()
    config = _config(repo, python, model, "--enable-auto-tool-choice", "--tool-call-parser", "pythonic",
                     "--enable-prompt-tokens-details")
    with start_local_engine(config, repo) as handle:  # type: ignore[arg-type]
        done = run_cli("engine", "check", str(repo), "--engine", "vllm", "--base-url", handle.base_url,
                       "--model", handle.model, "--settle", "0", "--json", "--record", str(tmp_path / "rec"),
                       env={"XDG_STATE_HOME": str(tmp_path / "state")}, timeout=600)
    report = json.loads(done.stdout)
    assert len(list((tmp_path / "rec").iterdir())) == report["requests"]
    if os.environ.get("UPDATE_PROBE_FIXTURES"):  # refresh the recording tests/engine/test_probe_replay.py replays
        fixture = Path(__file__).parent / "fixtures" / "vllm_cpu_probe"
        shutil.rmtree(fixture, ignore_errors=True)
        shutil.copytree(tmp_path / "rec", fixture / "exchanges")
        kept = {k: report[k] for k in ("engine", "model", "passed", "checks", "priming", "requests")}
        (fixture / "report.json").write_text(json.dumps(kept, indent=2, ensure_ascii=False) + "\n")
    checks = {c["name"]: c for c in report["checks"]}
    # The table, for the closing note of the issue (shown with pytest -s).
    print("\n" + "\n".join(f"| {c['name']} | {c['status']} | {c['detail']} |" for c in report["checks"]))
    print(f"priming: {report['priming']}; cost_usd: {report['cost_usd']}; requests: {report['requests']}")
    # A forced call with a schema makes even random weights produce a valid call.
    assert checks["tool call"]["status"] == "pass"
    assert checks["streaming"]["status"] == "pass"
    assert checks["bad model error"]["status"] == "pass"
    assert checks["usage fields"]["status"] == "pass"
    assert report["priming"]["control_hit"] >= 256
