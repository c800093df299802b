"""The client's rendering of a request is DeepSeek V4's published encoder, to the token.

The expected text below is written out by hand from ``encoding/encoding_dsv4.py`` (DeepSeek-V4's Hugging Face
repository) and vLLM's ``deepseek_v4`` tokenizer, which attaches request-level tools to the leading system
message. The counts are checked against the stand-in's own, independent renderer (``v4agent.testing.v4render``,
which the stand-in bills with) over a matrix of requests, and against tokenizing the whole prompt at once.
"""

from __future__ import annotations

import json
from array import array
from typing import Any

import pytest

from v4agent.agent.request.encoder import prompt_pieces
from v4agent.agent.request.template import render_output, render_request
from v4agent.testing.v4render import PieceTokens, completion_text
from v4agent.tokens.tokenizer import get_tokenizer
from v4agent.tools.registry import tool_schemas

D = "｜DSML｜"
TOOLS = [{"type": "function", "function": {"name": "read_file", "description": "Read a file",
                                           "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}]
CALL = {"role": "assistant", "content": "", "reasoning_content": "look first",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "read_file",
                                                                     "arguments": '{"path": "a.py", "n": 3}'}},
                       {"id": "c2", "type": "function", "function": {"name": "grep", "arguments": "not json"}}]}
BASE = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "pack\n\nEnd"},
        {"role": "user", "content": "Fix the bug."}]

EXPECTED_TOOLS_PROMPT = (
    "<｜begin▁of▁sentence｜>You are terse.\n\n## Tools\n\n"
    "You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "
    f'"<{D}tool_calls>" block like the following:\n\n'
    f'<{D}tool_calls>\n<{D}invoke name="$TOOL_NAME">\n'
    f'<{D}parameter name="$PARAMETER_NAME" string="true|false">$PARAMETER_VALUE</{D}parameter>\n...\n'
    f'</{D}invoke>\n<{D}invoke name="$TOOL_NAME2">\n...\n</{D}invoke>\n</{D}tool_calls>\n\n'
    'String parameters should be specified as is and set `string="true"`. For all other types (numbers, booleans, '
    'arrays, objects), pass the value in JSON format and set `string="false"`.\n\n'
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside "
    "<think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n"
    '{"name": "read_file", "description": "Read a file", "parameters": {"type": "object", "properties": '
    '{"path": {"type": "string"}}}}\n\n'
    "You MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.\n"
    "<｜User｜>pack\n\nEnd\n\nFix the bug."
    "<｜Assistant｜><think>look first</think>"
    f'\n\n<{D}tool_calls>\n<{D}invoke name="read_file">\n'
    f'<{D}parameter name="path" string="true">a.py</{D}parameter>\n'
    f'<{D}parameter name="n" string="false">3</{D}parameter>\n</{D}invoke>\n'
    f'<{D}invoke name="grep">\n<{D}parameter name="arguments" string="true">not json</{D}parameter>\n'
    f"</{D}invoke>\n</{D}tool_calls><｜end▁of▁sentence｜>"
    "<｜User｜><tool_result>x = 1</tool_result>\n\n<tool_result>g</tool_result>"
)


def _text(messages: list[dict[str, Any]], tools: list[dict[str, Any]], **mode: Any) -> tuple[str, str]:
    body, suffix = prompt_pieces(messages, tools, **mode)
    return "".join(p.text for p in body), "".join(p.text for p in suffix)


def test_tools_render_with_the_encoders_instructions() -> None:
    # Results come back in call order whatever order they were sent in (sort_tool_results_by_call_order).
    messages = [*BASE, CALL, {"role": "tool", "tool_call_id": "c2", "content": "g"},
                {"role": "tool", "tool_call_id": "c1", "content": "x = 1"}]
    body, suffix = _text(messages, TOOLS, thinking=True)
    assert body == EXPECTED_TOOLS_PROMPT
    assert suffix == "<｜Assistant｜><think>"


def test_tools_without_a_system_message_get_an_empty_one_first() -> None:
    body, _ = _text(BASE[1:], TOOLS, thinking=False)
    assert body.startswith("<｜begin▁of▁sentence｜>\n\n## Tools\n\n")
    assert body.endswith("### Available Tool Schemas\n\n" + json.dumps(TOOLS[0]["function"]) + "\n\nYou MUST strictly "
                          "follow the above defined tool name and parameter schemas to invoke tool calls.\n"
                          "<｜User｜>pack\n\nEnd\n\nFix the bug.")


def test_chat_mode_and_dropped_reasoning_and_max_effort() -> None:
    answered = [*BASE, {"role": "assistant", "content": "done", "reasoning_content": "why"},
                {"role": "user", "content": "more"}]
    chat, chat_suffix = _text(answered, [], thinking=False)
    assert chat.endswith("Fix the bug.<｜Assistant｜></think>done<｜end▁of▁sentence｜><｜User｜>more")
    assert chat_suffix == "<｜Assistant｜></think>"
    # Thinking without tools: the earlier turn's reasoning is dropped and its marker closed.
    dropped, suffix = _text(answered, [], thinking=True)
    assert dropped == chat
    assert suffix == "<｜Assistant｜><think>"
    # With tools the reasoning stays.
    kept, _ = _text(answered, TOOLS, thinking=True)
    assert kept.endswith("Fix the bug.<｜Assistant｜><think>why</think>done<｜end▁of▁sentence｜><｜User｜>more")
    maxed, _ = _text(answered, [], thinking=True, effort="max")
    assert maxed.startswith("<｜begin▁of▁sentence｜>Reasoning Effort: Absolute maximum with no shortcuts permitted.\n")
    assert _text(answered, [], thinking=False, effort="max")[0] == chat  # the effort shows only when thinking


def _cases() -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    results = [{"role": "tool", "tool_call_id": "c2", "content": "g"},
               {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "x"},
                                                                   {"type": "image_url", "image_url": {}}]}]
    answered = [{"role": "assistant", "content": "done", "reasoning_content": "r"}, {"role": "user", "content": "more"}]
    agent_tools = tool_schemas()
    return [(BASE, TOOLS), (BASE[1:], TOOLS), (BASE, []), (BASE[1:], []), ([*BASE, CALL, *results], TOOLS),
            ([*BASE, CALL, *results, *answered], []), ([*BASE, CALL, *results, *answered], agent_tools),
            ([*BASE, {"role": "assistant", "content": "prefill"}], TOOLS), ([BASE[0]], TOOLS)]


@pytest.mark.parametrize("thinking", [True, False])
@pytest.mark.parametrize("effort", [None, "max"])
def test_counts_equal_the_standins_independent_renderer(thinking: bool, effort: str | None) -> None:
    tok = get_tokenizer("deepseek-v4")
    theirs = PieceTokens(tok)
    for messages, tools in _cases():
        mine = render_request(messages, tools, tok, thinking=thinking, effort=effort)
        billed = theirs.prompt(messages, tools, thinking=thinking, effort=effort)
        assert [*mine.tokens, *mine.suffix] == list(array("i", billed.packed))
        assert (mine.prompt_tokens, len(mine.tokens)) == (billed.count, billed.input_end)
        # The runs concatenate to the whole prompt's tokens: the tokenizer splits special tokens out first.
        assert [*mine.tokens, *mine.suffix] == tok.encode(billed.text)


def test_output_is_what_the_reply_adds_when_sent_back() -> None:
    tok = get_tokenizer("deepseek-v4")
    first = render_request(BASE, TOOLS, tok)
    second = render_request([*BASE, CALL], TOOLS, tok)
    generated = [*first.suffix, *render_output(CALL, tok)]
    assert second.tokens == first.tokens + generated
    theirs = PieceTokens(tok)
    for finished in (True, False):
        assert render_output(CALL, tok, finished=finished) == list(
            array("i", theirs.pack(completion_text(CALL, thinking=True, finished=finished))))
    assert render_output(CALL, tok, thinking=False) == list(
        array("i", theirs.pack(completion_text(CALL, thinking=False, finished=True))))


def test_segments_name_the_parts_of_the_request() -> None:
    tok = get_tokenizer("deepseek-v4")
    rendered = render_request([*BASE, CALL, {"role": "tool", "tool_call_id": "c1", "content": "x"}], TOOLS, tok)
    labels = [s.label for s in rendered.segments]
    assert labels == ["system", "tools", "message 1 (user)", "message 2 (user)", "message 3 (assistant)",
                      "message 4 (tool)"]
    assert rendered.segments[-1].end == len(rendered.tokens)
    assert all(a.end == b.start for a, b in zip(rendered.segments, rendered.segments[1:], strict=False))
    tools_share = rendered.segments[1].end - rendered.segments[1].start
    assert tools_share > 200  # the encoder's instructions, which a schemas-only rendering left out


@pytest.mark.parametrize(("engine", "think", "mode"), [
    ("deepseek", "off", (False, None)), ("deepseek", "high", (True, None)), ("deepseek", "max", (True, "max")),
    ("vllm", "max", (True, None)),  # vLLM's V4 tokenizer is sent no effort: it renders "high"
])
def test_the_session_renders_in_the_engines_mode(engine: str, think: str, mode: tuple[bool, str | None]) -> None:
    from v4agent.agent.setup import cache_tracker, render_mode
    from v4agent.engine.client import EngineSettings, open_engine

    opened = open_engine(EngineSettings(engine=engine, base_url="http://127.0.0.1:9/v1", api_key="sk-test",
                                        model="deepseek-v4-flash", think=think))  # type: ignore[arg-type]
    try:
        assert render_mode(opened) == mode
        tracker = cache_tracker(opened)
        assert (tracker.thinking, tracker.effort) == mode
    finally:
        opened.close()
