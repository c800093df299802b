"""The MCP hub against real SDK-built servers: stdio (the user's, and a repository's in the real sandbox) and
streamable HTTP on loopback. Tools are frozen at start; failures are notices and error results, never a crash;
no server process outlives the hub."""

from __future__ import annotations

import json
import secrets
import socket
import sys
import time
from pathlib import Path

import pytest

from tests.extend.conftest import SERVER, alive_with, server_in
from v4agent.extend.mcp.config import McpServerSpec
from v4agent.extend.mcp.hub import McpHub
from v4agent.sandbox import containment, make_policy
from v4agent.tools.registry import MAX_RESULT_CHARS

needs_sandbox = pytest.mark.skipif(not containment(make_policy(Path.cwd())).available,
                                   reason="bubblewrap cannot start a sandbox here")


def _stdio(name: str, scope: str = "user", server: Path = SERVER, **extra: object) -> McpServerSpec:
    return McpServerSpec(name, "stdio", scope, "test", command=sys.executable, args=(str(server),),  # type: ignore[arg-type]
                         **extra)  # type: ignore[arg-type]


def _hub(root: Path, *specs: McpServerSpec, notices: list[str] | None = None, **kw: float) -> McpHub:
    sink = notices if notices is not None else []
    return McpHub(specs, root=root, sandbox=make_policy(root), notice=sink.append, **kw)


def test_stdio_and_http_tools_namespaced_sorted_and_called(tmp_path: Path, mcp_http: str) -> None:
    web = McpServerSpec("web", "http", "user", "test", url=mcp_http)
    with _hub(tmp_path, _stdio("local"), web) as hub:
        names = [t.qualified for t in hub.tools]
        assert names == sorted(names)
        assert "mcp__local__add" in names
        assert "mcp__web__echo" in names
        schema = next(s for s in hub.schemas() if s["function"]["name"] == "mcp__web__add")
        assert schema["function"]["parameters"]["required"] == ["a", "b"]
        assert schema["function"]["description"].startswith("[MCP server web] Add two integers")
        first = json.dumps(hub.schemas())
        assert hub.call("mcp__local__add", '{"a": 2, "b": 40}').content == "42"
        assert hub.call("mcp__web__echo", '{"text": "héllo"}').content == "héllo"
        assert json.dumps(hub.schemas()) == first  # the same bytes all session
        bad = hub.call("mcp__web__add", '{"a": "x"')
        assert not bad.ok
        assert "not valid JSON" in bad.content
        wrong = hub.call("mcp__local__add", '{"a": "two", "b": 1}')  # the server's own validation error
        assert not wrong.ok


def test_results_are_redacted_and_capped(tmp_path: Path) -> None:
    with _hub(tmp_path, _stdio("s")) as hub:
        leaked = hub.call("mcp__s__leak", "{}")
        assert "ghp_" not in leaked.content
        assert "MIIEpAIBAAKCAQEA7V1bXoQ2mE3aKZ1yq8xT0r9b" not in leaked.content
        assert "secret value(s) redacted" in leaked.content
        big = hub.call("mcp__s__big", json.dumps({"chars": MAX_RESULT_CHARS * 3}))
        assert len(big.content) < MAX_RESULT_CHARS + 100
        assert "more characters not shown" in big.content


def test_failures_are_notices_and_error_results(tmp_path: Path) -> None:
    notices: list[str] = []
    missing = McpServerSpec("gone", "stdio", "user", "test", command=str(tmp_path / "no-such-server"))
    mute_marker = f"--v4agent-mute-{secrets.token_hex(6)}"
    silent = McpServerSpec("mute", "stdio", "user", "test", command="/bin/sh",
                           args=("-c", "sleep 60; true", mute_marker))
    nohttp = McpServerSpec("down", "http", "user", "test", url="http://127.0.0.1:9/mcp")
    with _hub(tmp_path, missing, silent, nohttp, _stdio("live"), notices=notices, start_timeout_s=5) as hub:
        status = {s.spec.name: s for s in hub.statuses}
        assert not status["gone"].ok
        assert "did not start within 5s" in status["mute"].error
        assert not status["down"].ok
        assert status["live"].ok
        assert len([n for n in notices if "is not available" in n]) == 3
        # the live server's tools are there; the dead ones offer none
        assert {t.server for t in hub.tools} == {"live"}
        crashed = hub.call("mcp__live__crash", "{}")
        assert not crashed.ok
        after = hub.call("mcp__live__echo", '{"text": "x"}')
        assert not after.ok
        assert "not available" in after.content
        assert not hub.call("mcp__nope__x", "{}").ok
        assert alive_with(mute_marker) == []  # a server that never answered was stopped at the start's end


def test_a_server_that_is_down_offers_its_last_tools_so_the_prefix_stays(tmp_path: Path) -> None:
    from tests.extend.conftest import http_server

    proc, url = http_server("web")
    spec = McpServerSpec("web", "http", "user", "test", url=url)
    try:
        with _hub(tmp_path, spec) as hub:
            before = json.dumps(hub.schemas())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    notices: list[str] = []
    with _hub(tmp_path, spec, notices=notices) as hub:
        assert json.dumps(hub.schemas()) == before  # the same bytes: the next session's cache still hits
        (status,) = hub.statuses
        assert not status.ok
        assert "from an earlier session" in status.error
        down = hub.call("mcp__web__echo", '{"text": "x"}')
        assert not down.ok
        assert "not available" in down.content
    assert any("from an earlier session" in n for n in notices)


def test_a_slow_call_times_out_without_hanging_the_session(tmp_path: Path) -> None:
    with _hub(tmp_path, _stdio("s"), call_timeout_s=1) as hub:
        started = time.monotonic()
        slow = hub.call("mcp__s__slow", '{"seconds": 30}')
        assert not slow.ok
        assert time.monotonic() - started < 10
        assert hub.call("mcp__s__echo", '{"text": "still here"}').content == "still here"


def test_a_changed_tool_list_is_reported_not_rerendered(tmp_path: Path) -> None:
    notices: list[str] = []
    with _hub(tmp_path, _stdio("s"), notices=notices) as hub:
        before = json.dumps(hub.schemas())
        assert hub.call("mcp__s__grow", "{}").content == "grown"
        hub.call("mcp__s__echo", '{"text": "x"}')
        assert json.dumps(hub.schemas()) == before
        assert not hub.owns("mcp__s__late_tool")
        deadline = time.monotonic() + 5
        while not any("tool list changed" in n for n in notices) and time.monotonic() < deadline:
            time.sleep(0.05)
            hub.call("mcp__s__echo", '{"text": "x"}')  # the change is reported at the next call
        assert len([n for n in notices if "tool list changed" in n]) == 1
        assert json.dumps(hub.schemas()) == before


def test_no_server_process_outlives_the_hub(tmp_path: Path, mcp_http: str) -> None:
    marker = f"--v4agent-orphan-{secrets.token_hex(6)}"
    spec = McpServerSpec("s", "stdio", "user", "test", command="/bin/sh",
                         args=("-c", f'exec "$0" "$1" "{marker}"', sys.executable, str(SERVER)))
    hub = _hub(tmp_path, spec)
    hub.start()
    assert hub.call("mcp__s__echo", '{"text": "x"}').ok
    assert alive_with(marker)
    hub.close()
    deadline = time.monotonic() + 10
    while alive_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive_with(marker) == []


@needs_sandbox
def test_a_repositorys_server_runs_in_the_sandbox(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    outside = Path.home() / f"mcp-escape-{secrets.token_hex(4)}"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    marker = f"--v4agent-sbx-{secrets.token_hex(6)}"
    spec = McpServerSpec("p", "stdio", "project", "test", command="/bin/sh",
                         args=("-c", f'exec "$0" "$1" "{marker}"', sys.executable, str(server_in(root))),
                         env=(("SERVER_SETTING", "on"), ("DEEPSEEK_API_KEY", "sk-leak")))
    try:
        with _hub(root, spec) as hub:
            assert hub.call("mcp__p__write", json.dumps({"path": str(root / "in.txt"), "text": "ok"})).content \
                == "written"
            assert "failed" in hub.call("mcp__p__write", json.dumps({"path": str(outside), "text": "x"})).content
            assert hub.call("mcp__p__connect", json.dumps({"port": port})).content.startswith("refused")
            assert hub.call("mcp__p__getenv", '{"name": "SERVER_SETTING"}').content == "on"
            assert hub.call("mcp__p__getenv", '{"name": "DEEPSEEK_API_KEY"}').content == "(unset)"
            assert hub.call("mcp__p__pid", "{}").content.split()[1] == "1"  # its own PID namespace
        assert not outside.exists()
        assert (root / "in.txt").read_text() == "ok"
        deadline = time.monotonic() + 10
        while alive_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive_with(marker) == []
    finally:
        listener.close()
        outside.unlink(missing_ok=True)


@needs_sandbox
def test_network_is_an_opt_in_per_server(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        with _hub(tmp_path, _stdio("p", "project", server=server_in(tmp_path), network=True)) as hub:
            port = listener.getsockname()[1]
            assert hub.call("mcp__p__connect", json.dumps({"port": port})).content == "connected"
    finally:
        listener.close()
