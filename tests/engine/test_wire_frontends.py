"""The agent loop, the review bot and the front ends act on the wire rules: a reply cut at the output limit or
stopped by the content filter is never acted on (finish reasons,
https://api-docs.deepseek.com/api/create-chat-completion), and what a call waits for is shown while it waits."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from v4agent.accounting import load_price_table
from v4agent.agent.loop import Agent, AgentConfig, Streamed
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.request.layout import Conversation
from v4agent.agent.sessions.records import StartRecord
from v4agent.agent.sessions.store import SessionWriter
from v4agent.chat.render import ChatRenderer
from v4agent.chat.statusline import SessionFigures
from v4agent.engine.types import ChatReply, Delta, EngineError, Progress, RequestSettings, ToolCall, Usage
from v4agent.refactor.progress import RefactorProgress
from v4agent.review.context import PullRequestContent, build_layout
from v4agent.review.run import ask_model
from v4agent.tokens.tokenizer import get_tokenizer
from v4agent.tools.registry import ToolResult

# -- the loop and the review bot never act on a reply that did not finish ----------------------------------

class ScriptedEngine:
    """An Engine that returns the given replies in order and records what it was sent."""

    name = "deepseek"

    def __init__(self, replies: list[ChatReply]) -> None:
        self.settings = RequestSettings(model="deepseek-v4-flash", max_tokens=512, think="high")
        self.replies = replies
        self.sent: list[list[dict[str, Any]]] = []

    def complete(self, messages: Any, tools: Any = (), *, on_delta: Any = None, max_tokens: Any = None) -> ChatReply:
        self.sent.append([dict(m) for m in messages])
        return self.replies.pop(0)


def _reply(finish: str, *calls: tuple[str, str], content: str = "") -> ChatReply:
    return ChatReply(content=content, reasoning="", finish_reason=finish, usage=Usage(100, 10, 0, 100),
                     tool_calls=tuple(ToolCall(f"c{i}", name, args) for i, (name, args) in enumerate(calls)),
                     thinking=True)


def _agent(tmp_path: Path, replies: list[ChatReply], ran: list[str]) -> tuple[Any, ScriptedEngine, list[Any]]:
    def run_tool(name: str, arguments: str) -> ToolResult:
        ran.append(name)
        return ToolResult("done", True, finished=name == "finish", summary="all done")

    engine = ScriptedEngine(replies)
    conversation = Conversation.start("SYSTEM", "PACK", "the task")
    writer = SessionWriter.create(tmp_path, StartRecord(task="the task", model="deepseek-v4-flash"))
    events: list[Any] = []
    agent = Agent(engine=engine, conversation=conversation, tools=[], run_tool=run_tool, writer=writer,
                  table=load_price_table(), config=AgentConfig(engine_name="deepseek"),
                  tracker=CacheTracker(get_tokenizer("deepseek-v4")), system_prompt="SYSTEM",
                  observer=events.append)
    return agent, engine, events


def test_the_agent_never_runs_a_cut_tool_call_and_asks_for_smaller_steps(tmp_path: Path) -> None:
    ran: list[str] = []
    cut = _reply("length", ("write_file", '{"path": "a.py", "text": "x = '))
    agent, engine, events = _agent(tmp_path, [cut, _reply("tool_calls", ("finish", "{}"))], ran)
    outcome = agent.run()
    assert outcome.status == "finished"
    assert ran == ["finish"]  # the cut write_file never ran
    assert "tool_calls" not in engine.sent[1][-2]  # the cut reply went back without its cut tool call
    assert engine.sent[1][-2]["reasoning_content"] == ""
    assert "were not run" in engine.sent[1][-1]["content"]
    assert any("cut at the output limit (max_tokens 512)" in getattr(e, "text", "") for e in events)


def test_replies_cut_again_and_again_stop_the_run(tmp_path: Path) -> None:
    cut = _reply("length", content="a very long answer")
    agent, _, _ = _agent(tmp_path, [cut, cut, cut], [])
    outcome = agent.run()
    assert outcome.status == "failed"
    assert "3 replies in a row were cut" in outcome.reason
    assert "raise max_tokens" in outcome.reason


def test_a_filtered_reply_stops_the_run_and_nothing_in_it_runs(tmp_path: Path) -> None:
    ran: list[str] = []
    agent, _, _ = _agent(tmp_path, [_reply("content_filter", ("shell", '{"command": "ls"}'))], ran)
    outcome = agent.run()
    assert outcome.status == "failed"
    assert "content filter" in outcome.reason
    assert ran == []


def test_the_review_bot_does_not_take_a_cut_reply_for_its_review() -> None:
    layout = build_layout("PACK", PullRequestContent("title", "body", "diff", {}))
    engine = ScriptedEngine([_reply("length", ("report_findings", '{"findings": ['))])
    with pytest.raises(EngineError, match="not final") as info:
        ask_model(engine, layout, prime=False)
    assert "max_tokens" in info.value.hint


# -- visible waiting -------------------------------------------------------------------------------------

def test_refactor_progress_shows_what_a_call_waits_for_and_how_long() -> None:
    out = io.StringIO()
    progress = RefactorProgress(Console(file=out, width=200, color_system=None))
    progress(Streamed(Progress("status", "sending")))
    assert progress.activity_text(now=progress.call_started + 75) == "waiting for the server · 1m15s"
    progress(Streamed(Progress("status", "queued", detail="the server holds the request in its queue")))
    progress(Streamed(Progress("status", "retrying", detail="HTTP 429: busy; retrying in 2.0 s")))
    printed = out.getvalue()
    assert "queued by the server" in printed  # no live line off a terminal: printed once, as it happens
    assert "retrying" in printed
    assert "HTTP 429" in printed


def test_the_chat_status_shows_the_wait_and_plain_output_only_the_retries() -> None:
    out = io.StringIO()
    figures = SessionFigures("deepseek", "deepseek-v4-flash", 1_048_576)
    renderer = ChatRenderer(Console(file=out, no_color=True), figures, plain=True, out=out)
    renderer(Streamed(Progress("status", "sending")))
    assert figures.activity(now=figures.call_started + 3).startswith("waiting for the server · 3s")
    renderer(Streamed(Progress("status", "thinking")))
    assert figures.activity().startswith("thinking")
    assert out.getvalue() == ""
    renderer(Streamed(Progress("status", "retrying", detail="HTTP 503: busy; retrying in 1.0 s")))
    assert "retrying" in out.getvalue()




def test_on_a_terminal_a_spinner_shows_the_wait_until_text_streams() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    renderer = ChatRenderer(console, SessionFigures("deepseek", "m", 1000), plain=False, show_thinking=False)
    renderer.begin_turn()
    renderer(Streamed(Progress("status", "sending")))
    time.sleep(0.3)  # the spinner is redrawn by rich's refresh thread while the engine blocks
    renderer(Streamed(Progress("status", "thinking")))
    time.sleep(0.3)
    renderer(Streamed(Delta("content", "the answer")))
    renderer.end_turn()
    text = out.getvalue()
    assert "waiting for the server · 0s" in text
    assert "thinking · 0s" in text
    assert "the answer" in text
    with RefactorProgress(Console(file=(bar := io.StringIO()), force_terminal=True, width=160)) as progress:
        progress(Streamed(Progress("status", "waiting")))
        time.sleep(0.3)
    assert "waiting for the first token · 0s" in bar.getvalue()
