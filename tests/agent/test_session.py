"""The agent loop and durable sessions, driven against the loopback DeepSeek stand-in over real HTTP,
with the real engine client and the real tools on a real git repository."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_git_repo
from v4agent.accounting import load_price_table, price_call
from v4agent.agent.loop import Agent, AgentConfig, Outcome
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.request.layout import Conversation, prefix_hash
from v4agent.agent.sessions.records import ResetRecord, StartRecord
from v4agent.agent.sessions.store import (
    SessionError,
    SessionWriter,
    find_resumable,
    find_session,
    list_sessions,
    read_session,
    recent_prefix_seen,
)
from v4agent.engine.client import EngineSettings, open_engine
from v4agent.engine.types import Usage
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn
from v4agent.tokens.tokenizer import get_tokenizer
from v4agent.tools.registry import ToolContext, run_tool, tool_schemas

FILES = {f"pkg/mod{i}.py": "".join(f"def f{i}_{j}(x):\n    return x * {j}\n\n" for j in range(40))
         for i in range(6)}
PACK = "\n".join(f"<file path='{p}'>\n{t}</file>" for p, t in sorted(FILES.items()))


def _agent(root: Path, server: StandIn, *, task: str = "inspect the code", max_turns: int = 60,
           max_cost: float | None = None, session_id: str | None = None) -> tuple[Agent, SessionWriter]:
    engine = open_engine(EngineSettings(engine="deepseek", base_url=server.base_url, api_key="sk-test",
                                         model="deepseek-v4-flash", think="off"))
    tools = tool_schemas()
    conv = Conversation.start("SYSTEM PROMPT", PACK, task)
    phash = prefix_hash(conv.messages[:2], tools, "deepseek-v4-flash", "off")
    writer = SessionWriter.create(root, StartRecord(task=task, model="deepseek-v4-flash", think="off",
                                                    tools=tuple(tools), prefix_hash=phash), session_id)
    for i, m in enumerate(conv.messages):
        writer.message(i, m)
    ctx = ToolContext(root, approve="yes")
    agent = Agent(engine=engine, conversation=conv, tools=tools,
                  run_tool=lambda n, a: run_tool(ctx, n, a), writer=writer, table=load_price_table(),
                  config=AgentConfig(engine_name="deepseek", max_turns=max_turns, max_cost=max_cost),
                  tracker=CacheTracker(get_tokenizer("deepseek-v4"), thinking=False), system_prompt="SYSTEM PROMPT")
    return agent, writer


def _script(turns: int) -> Callable[[dict[str, Any]], ScriptedReply]:
    """Reads one file per turn, then finishes. The priming request (ends at the pack) gets a short answer."""
    def handler(body: dict[str, Any]) -> ScriptedReply:
        messages = body["messages"]
        if len(messages) == 2:
            return ScriptedReply(content="ready")
        done = sum(1 for m in messages if m["role"] == "assistant")
        if done + 1 >= turns:
            return ScriptedReply(tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": "read them all"}))])
        path = sorted(FILES)[done % len(FILES)]
        return ScriptedReply(content=f"step {done}", tool_calls=[
            ScriptedToolCall("read_file", json.dumps({"path": path, "start_line": 1 + done, "end_line": 5 + done}))])
    return handler


def test_thirty_turn_session_is_append_only_and_hits_its_theoretical_max(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    with StandIn(handler=_script(30)) as server:
        agent, writer = _agent(root, server)
        agent.prime()
        outcome = agent.run()
    assert outcome.status == "finished"
    assert outcome.summary == "read them all"
    turns = [c for c in server.calls if len(c.request["messages"]) > 2]
    assert len(turns) == 30
    for prev, cur in zip(server.calls, server.calls[1:], strict=False):
        # Byte-identical prefix: the earlier request's messages and tools, serialized, start the next one.
        assert cur.request["tools"] == prev.request["tools"]
        prev_json = json.dumps(prev.request["messages"], ensure_ascii=False)[:-1]
        assert json.dumps(cur.request["messages"], ensure_ascii=False).startswith(prev_json)
    hit = sum(c.cache_hit for c in server.calls)
    theoretical = sum(c.theoretical_max_hit for c in server.calls)
    assert theoretical > 0
    assert hit >= 0.99 * theoretical

    session = read_session(writer.path)
    assert session.status == "finished"
    assert session.turns == 30
    sent = turns[-1].request
    # Stored byte-identically (key order included), so --resume sends the very same prefix.
    assert json.dumps(session.messages[: len(sent["messages"])]) == json.dumps(sent["messages"])
    assert json.dumps(session.tools) == json.dumps(sent["tools"])
    # The client renders each request as the published encoder does (tools and their instructions included),
    # so its prompt count is the billed one to the token, and its mirror of the unit rules expects exactly the
    # billed hit, call by call: the documented tolerance is 0.
    for call, record in zip(session.calls, server.calls, strict=True):
        assert call.diag["input_tokens"] == record.prompt_tokens
        assert call.diag["expected_billed"] == record.cache_hit
        assert not call.diag["breaks"]
    assert len(session.calls) == 31  # the priming call and 30 turns, every one with tools
    # The session cost is the stand-in's usage priced (the prime call's output was cut, so turns only).
    table = load_price_table()
    for call, record in zip(session.calls[1:], server.calls[1:], strict=True):
        usage = Usage(record.prompt_tokens, record.output_tokens, record.cache_hit, record.cache_miss,
                      record.reasoning_tokens)
        priced = price_call(table, "deepseek-v4-flash", usage, __import__("datetime").datetime.fromisoformat(call.ts))
        assert call.cost_usd == pytest.approx(priced.total_usd, abs=1e-9)


def test_first_turn_hits_the_primed_pack_in_full(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    with StandIn(handler=_script(2)) as server:
        agent, writer = _agent(root, server)
        agent.prime()
        agent.run()
    assert server.calls[1].cache_hit == server.calls[0].input_end
    assert not read_session(writer.path).calls[1].diag["breaks"]


def test_second_session_hits_the_primed_pack(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    with StandIn(handler=_script(2), unit_interval=4096) as server:
        first, _ = _agent(root, server, task="first task")
        first.prime()
        first.run()
        pack_prefix = server.calls[0].input_end
        assert pack_prefix % 4096 != 0  # otherwise an interval unit would hide what priming buys
        phash = prefix_hash(first.conversation.messages[:2], first.tools, "deepseek-v4-flash", "off")
        assert recent_prefix_seen(root, phash)
        start = len(server.calls)
        second, _ = _agent(root, server, task="a different task")
        second.run()  # no priming needed
        assert server.calls[start].cache_hit == pack_prefix


def test_malformed_tool_call_json_gets_an_error_result_and_the_loop_goes_on(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    replies = [ScriptedReply(tool_calls=[ScriptedToolCall("read_file", '{"path": "pkg/mod0.py"')]),
               ScriptedReply(tool_calls=[ScriptedToolCall("finish", '{"summary": "ok"}')])]
    with StandIn(replies=replies) as server:
        agent, _ = _agent(root, server)
        outcome = agent.run()
        second = server.calls[1].request["messages"]
    assert outcome.status == "finished"
    tool_results = [m for m in second if m["role"] == "tool"]
    assert len(tool_results) == 1
    assert "json" in tool_results[0]["content"].lower()


def test_repeated_identical_failing_calls_stop_the_loop(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    bad = ScriptedReply(tool_calls=[ScriptedToolCall("read_file", '{"path": "../etc/passwd"}')])
    with StandIn(replies=[bad] * 5) as server:
        agent, writer = _agent(root, server)
        outcome = agent.run()
        calls = len(server.calls)
    assert outcome.status == "failed"
    assert "loop detected" in outcome.reason
    assert calls == 3
    assert read_session(writer.path).status == "failed"


def test_turn_and_cost_limits(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    with StandIn(handler=_script(50)) as server:
        agent, _ = _agent(root, server, max_turns=4)
        limited: Outcome = agent.run()
        assert limited.status == "limit"
        assert "--max-turns" in limited.reason
        assert len(server.calls) == 4
        poor, _ = _agent(root, server, max_cost=0.0)
        broke = poor.run()
        assert broke.status == "limit"
        assert "--max-cost" in broke.reason
        assert len(server.calls) == 4


def test_provider_dropped_unit_is_diagnosed(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    state = {"n": 0}
    with StandIn(handler=_script(4)) as server:
        base = _script(4)

        def handler(body: dict[str, Any]) -> ScriptedReply:
            state["n"] += 1
            if state["n"] == 3:
                server.reset_cache()  # the provider evicted everything before billing this call
            return base(body)

        server.handler = handler
        agent, writer = _agent(root, server)
        agent.run()
    calls = read_session(writer.path).calls
    causes = [b["cause"] for c in calls for b in c.diag["breaks"]]
    assert any("provider dropped a unit" in cause for cause in causes)
    assert find_session(root, writer.session_id).session_id == writer.session_id


def test_compaction_summarizes_on_the_cached_prefix_and_restarts_the_layout(tmp_path: Path) -> None:
    from v4agent.agent.request.layout import COMPACTION_REQUEST

    root = make_git_repo(tmp_path / "repo", FILES)
    count = [0]

    def handler(body: dict[str, Any]) -> ScriptedReply:
        if body["messages"][-1]["content"] == COMPACTION_REQUEST:
            return ScriptedReply(content="SUMMARY: read several modules.")
        count[0] += 1
        if count[0] >= 14:
            return ScriptedReply(tool_calls=[ScriptedToolCall("finish", '{"summary": "done"}')])
        path = sorted(FILES)[count[0] % len(FILES)]
        return ScriptedReply(tool_calls=[ScriptedToolCall("read_file", json.dumps(
            {"path": path, "start_line": count[0], "end_line": count[0] + 4}))])

    with StandIn(handler=handler) as server:
        agent, writer = _agent(root, server)
        first_prompt = len(agent.tracker.render(agent.conversation.messages, agent.tools).tokens)
        # The margin holds the summary request itself: with none, it was sent past the window.
        agent.config = AgentConfig(engine_name="deepseek", window=first_prompt + 1100, max_output=100,
                                   compact_margin=400, compact_min_gain=200)
        outcome = agent.run()
        calls = list(server.calls)
    assert outcome.status == "finished", outcome.reason
    session = read_session(writer.path)
    kinds = [c.kind for c in session.calls]
    assert "compact" in kinds
    assert session.resets >= 1
    i = kinds.index("compact")
    # The summary request extends the conversation it summarizes, so it hits all of the previous call.
    prev, compact = calls[i - 1], calls[i]
    assert compact.request["messages"][: len(prev.request["messages"])] == prev.request["messages"]
    assert compact.cache_hit > prev.prompt_tokens
    after = calls[i + 1].request["messages"]
    assert [m["role"] for m in after[:4]] == ["system", "user", "user", "user"]
    assert "SUMMARY: read several modules." in after[3]["content"]
    assert calls[i + 1].cache_hit > 0  # the first request ended at the task: that unit still matches
    assert session.messages[:4] == after[:4]
    layout_breaks = [b for b in session.calls[i + 1].diag["breaks"] if b["kind"] == "layout"]
    assert layout_breaks
    assert layout_breaks[0]["segment"] == "turn 1 (user)"


def test_large_contents_are_stored_once_and_resume_reads_them_back(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import v4agent.agent.sessions.blobs as blobs

    monkeypatch.setattr(blobs, "BLOB_MIN_CHARS", 2_000)  # the 8 KB test pack and the file reads go to blobs
    root = make_git_repo(tmp_path / "repo", FILES)
    with StandIn(handler=_script(3)) as server:
        agent, first = _agent(root, server)
        agent.run()
        agent, second = _agent(root, server, task="another look")
        agent.run()
        sent = server.calls[-1].request["messages"]
    session = read_session(second.path)
    # What a resume would send is byte for byte what was sent (key order included).
    assert json.dumps(session.messages[: len(sent)]) == json.dumps(sent)
    assert len(session.messages) > len(sent)  # and the reply to it, and its tool result
    blob_dir = second.path.parent / "blobs"
    stored = sorted(p.name for p in blob_dir.iterdir())
    pack_message = sent[1]["content"]
    assert PACK in pack_message
    pack_blob = f"{hashlib.sha256(pack_message.encode()).hexdigest()}.txt"
    assert pack_blob in stored
    assert (blob_dir / pack_blob).read_text(encoding="utf-8") == pack_message
    for path in (first.path, second.path):
        text = path.read_text(encoding="utf-8")
        assert PACK not in text
        assert f'"content":{{"blob":"{pack_blob[:-4]}"}}' in text
    assert max(len(line) for line in second.path.read_text(encoding="utf-8").splitlines()) < 8_000


def test_a_missing_stored_content_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import v4agent.agent.sessions.blobs as blobs

    monkeypatch.setattr(blobs, "BLOB_MIN_CHARS", 2_000)
    root = make_git_repo(tmp_path / "repo", FILES)
    writer = SessionWriter.create(root, StartRecord(task="t"))
    writer.message(0, {"role": "user", "content": PACK})
    (blob,) = (writer.path.parent / "blobs").iterdir()
    blob.write_text(PACK + "tampered", encoding="utf-8")
    blobs._cache.clear()
    assert "damaged" in read_session(writer.path).damaged
    blob.unlink()
    session = read_session(writer.path)  # still listed, shown and undoable...
    assert "cannot be read" in session.damaged
    assert "[content missing:" in session.messages[0]["content"]
    assert [s.session_id for s in list_sessions(root)] == [writer.session_id]
    with pytest.raises(SessionError, match="cannot be resumed"):  # ...but not resumed: its prefix is gone
        find_resumable(root, writer.session_id)


def test_a_missing_content_before_a_compaction_does_not_block_a_resume(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import v4agent.agent.sessions.blobs as blobs

    monkeypatch.setattr(blobs, "BLOB_MIN_CHARS", 2_000)
    root = make_git_repo(tmp_path / "repo", FILES)
    writer = SessionWriter.create(root, StartRecord(task="t"))
    writer.message(0, {"role": "user", "content": PACK})
    (blob,) = (writer.path.parent / "blobs").iterdir()
    blob.unlink()
    blobs._cache.clear()
    assert read_session(writer.path).damaged
    writer.write(ResetRecord("compaction", 1))
    writer.message(0, {"role": "user", "content": "small"})
    assert not read_session(writer.path).damaged
    assert find_resumable(root, writer.session_id)
