"""The loop never sends a request past the window: capped tool results, counted compaction, stubbed summaries,
and a resume of a session saved over the window. Against the stand-in, with its window set to the agent's."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo
from v4agent.accounting import load_price_table
from v4agent.agent.loop import Agent, AgentConfig
from v4agent.agent.request.budget import result_cap
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.request.layout import COMPACTION_REQUEST, Conversation, Message, prefix_hash, tool_message
from v4agent.agent.sessions.records import StartRecord
from v4agent.agent.sessions.store import SessionWriter, read_session
from v4agent.engine.client import EngineSettings, open_engine
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn
from v4agent.tokens.tokenizer import get_tokenizer
from v4agent.tools.registry import ToolContext, run_tool, tool_schemas

TOK = get_tokenizer("deepseek-v4")
BIG = "".join(f"def function_{n}(value):\n    return value * {n} + {n % 7}\n\n" for n in range(900))
FILES = {"big.py": BIG, "small.py": "X = 1\n"}
MAX_OUTPUT = 200


def _agent(root: Path, server: StandIn, window: int, *, margin: int, conversation: Conversation | None = None,
           pack: str = "PACK", max_output: int = MAX_OUTPUT) -> tuple[Agent, SessionWriter]:
    engine = open_engine(EngineSettings(engine="deepseek", base_url=server.base_url, api_key="sk-test",
                                         model="deepseek-v4-flash", think="off", max_tokens=max_output))
    tools = tool_schemas()
    conv = conversation or Conversation.start("SYSTEM PROMPT", pack, "do the task")
    phash = prefix_hash(conv.messages[:2], tools, "deepseek-v4-flash", "off")
    writer = SessionWriter.create(root, StartRecord(task="t", model="deepseek-v4-flash", think="off",
                                                    tools=tuple(tools), prefix_hash=phash))
    for i, m in enumerate(conv.messages):
        writer.message(i, m)
    ctx = ToolContext(root, approve="yes")
    agent = Agent(engine=engine, conversation=conv, tools=tools, run_tool=lambda n, a: run_tool(ctx, n, a),
                  writer=writer, table=load_price_table(),
                  config=AgentConfig(engine_name="deepseek", window=window, max_output=max_output,
                                     compact_margin=margin, compact_min_gain=500),
                  tracker=CacheTracker(TOK), system_prompt="SYSTEM PROMPT")
    return agent, writer


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def _is_summary_request(body: dict[str, Any]) -> bool:
    return body["messages"][-1].get("content") == COMPACTION_REQUEST


def _summarized(body: dict[str, Any]) -> bool:
    return any("Summary of the earlier part" in str(m.get("content")) for m in body["messages"])


def _base_tokens(pack: str = "PACK") -> int:
    conv = Conversation.start("SYSTEM PROMPT", pack, "do the task")
    return len(CacheTracker(TOK).render(conv.messages, tool_schemas()).tokens)


def test_tool_results_are_capped_and_the_cap_shrinks_as_the_context_fills(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    window = _base_tokens() + 30_000
    reads = [0]

    def handler(body: dict[str, Any]) -> ScriptedReply:
        reads[0] += 1
        if reads[0] > 3:
            return ScriptedReply(tool_calls=[_call("finish", summary="read it")])
        return ScriptedReply(tool_calls=[_call("read_file", path="big.py")])

    with StandIn(handler=handler, context_window=window) as server:
        agent, _ = _agent(root, server, window, margin=2_000)
        outcome = agent.run()
        calls = list(server.calls)
    assert outcome.status == "finished", outcome.reason
    final = calls[-1].request["messages"]
    results = [str(m["content"]) for m in final if m["role"] == "tool"]
    sizes = [TOK.count(text) for text in results]
    assert all("omitted; use read_file with a range" in text for text in results)
    assert all(text.startswith("big.py (lines 1-1000 of 2700)\n     1\tdef function_0") for text in results)
    tails = {text.rstrip("\n").splitlines()[-1] for text in results}
    assert len(tails) == 1  # the tail is kept too: here the page's last line
    assert "start_line=1001" in tails.pop()
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] > sizes[-1]
    limit = window - MAX_OUTPUT - 2_000
    assert sizes[0] <= result_cap(limit, calls[0].prompt_tokens)
    for prev, cur in itertools.pairwise(calls):  # capping never rewrites what was sent
        assert cur.request["messages"][: len(prev.request["messages"])] == prev.request["messages"]
    assert all(c.prompt_tokens <= window - MAX_OUTPUT for c in calls)


def _writer_script(content: Callable[[int], str], writes: int) -> Callable[[dict[str, Any]], ScriptedReply]:
    def handler(body: dict[str, Any]) -> ScriptedReply:
        if _is_summary_request(body):
            return ScriptedReply(content="SUMMARY: wrote the files.")
        done = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if _summarized(body) or done >= writes:
            return ScriptedReply(tool_calls=[_call("finish", summary="all written")])
        return ScriptedReply(tool_calls=[_call("write_file", path=f"out{done}.txt", content=content(done))])
    return handler


def _blob(n: int) -> str:
    return "".join(f"row {n}-{i}: " + "abc def ghi " * 3 + "\n" for i in range(700))


def test_a_summary_request_that_would_not_fit_leaves_out_the_oldest_tool_payloads(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    per_write = TOK.count(json.dumps({"path": "out0.txt", "content": _blob(0)}))
    max_output = 2 * per_write  # room for one write per reply, as a model's replies fit its output limit
    window = _base_tokens() + 3 * per_write + max_output + 3_000
    with StandIn(handler=_writer_script(_blob, 6), context_window=window) as server:
        agent, writer = _agent(root, server, window, margin=1_000, max_output=max_output)
        outcome = agent.run()
        calls = list(server.calls)
    assert outcome.status == "finished", outcome.reason
    assert all(c.status == 200 for c in calls)
    assert all(c.prompt_tokens <= window - max_output for c in calls)
    summary_calls = [c for c in calls if _is_summary_request(c.request)]
    assert len(summary_calls) == 1
    sent = summary_calls[0].request["messages"]
    first_args = json.loads(sent[3]["tool_calls"][0]["function"]["arguments"])
    assert "left out of this request to fit the context window" in first_args["omitted"]
    session = read_session(writer.path)
    assert session.resets == 1
    assert [c.kind for c in session.calls].count("compact") == 1
    assert "SUMMARY: wrote the files." in str(calls[-1].request["messages"][3]["content"])
    for n in range(3):  # every write landed whole
        assert (root / f"out{n}.txt").read_text() == _blob(n)


def test_a_session_saved_over_the_window_resumes(tmp_path: Path) -> None:
    """A conversation bigger than the window (a session the old loop could neither compact nor continue) is
    compacted before its first call, with stubs in its summary request, then goes on."""
    root = make_git_repo(tmp_path / "repo", FILES)
    messages: list[Message] = Conversation.start("SYSTEM PROMPT", "PACK", "do the task").messages
    for n in range(4):
        arguments = json.dumps({"path": f"out{n}.txt", "content": _blob(n)})
        messages.append({"role": "assistant", "content": "",
                         "tool_calls": [{"id": f"c{n}", "type": "function",
                                         "function": {"name": "write_file", "arguments": arguments}}]})
        messages.append(tool_message(f"c{n}", f"created out{n}.txt (700 lines)"))
    messages.append({"role": "user", "content": "The session was interrupted and has been resumed."})
    total = len(CacheTracker(TOK).render(messages, tool_schemas()).tokens)
    window = total - 2_000  # saved past the window: the old loop sent it as it was, and got a 400 forever
    with StandIn(handler=_writer_script(_blob, 0), context_window=window) as server:
        agent, writer = _agent(root, server, window, margin=1_000, conversation=Conversation(messages))
        outcome = agent.run()
        calls = list(server.calls)
    assert outcome.status == "finished", outcome.reason
    assert all(c.status == 200 for c in calls)
    assert _is_summary_request(calls[0].request)
    assert all(c.prompt_tokens <= window - MAX_OUTPUT for c in calls)
    assert read_session(writer.path).resets == 1


def test_a_pack_that_leaves_no_room_for_a_reply_fails_clearly_without_a_call(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    pack = BIG * 2
    window = _base_tokens(pack) + MAX_OUTPUT // 2
    with StandIn(handler=_writer_script(_blob, 1), context_window=window) as server:
        agent, _ = _agent(root, server, window, margin=0, pack=pack)
        outcome = agent.run()
        calls = list(server.calls)
    assert outcome.status == "failed"
    assert "leave no room" in outcome.reason
    assert "--budget" in outcome.reason
    assert calls == []
