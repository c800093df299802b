"""The stand-in's own rendering of requests by V4's published encoder, and its documented cache units."""

from __future__ import annotations

from array import array

from v4agent.testing.v4cache import Blocks, DocUnits
from v4agent.testing.v4render import PieceTokens, prompt_pieces
from v4agent.tokens.tokenizer import get_tokenizer

TOOLS = [{"type": "function", "function": {"name": "read_file", "description": "Read a file.",
                                           "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}]


def _text(messages: list[dict[str, object]], tools: list[dict[str, object]] | None = None, *, thinking: bool = True,
          effort: str | None = "high") -> str:
    body, suffix = prompt_pieces(messages, tools or [], thinking=thinking, effort=effort)
    return "".join(body + suffix)


def test_thinking_chat_drops_past_reasoning() -> None:
    messages = [{"role": "user", "content": "hello"},
                {"role": "assistant", "content": "Hello! I am DeepSeek.", "reasoning_content": "thinking..."},
                {"role": "user", "content": "1+1=?"}]
    assert _text(messages) == ("<｜begin▁of▁sentence｜><｜User｜>hello<｜Assistant｜></think>Hello! I am DeepSeek."
                               "<｜end▁of▁sentence｜><｜User｜>1+1=?<｜Assistant｜><think>")
    assert _text(messages, thinking=False).endswith("<｜User｜>1+1=?<｜Assistant｜></think>")


def test_tools_follow_the_system_prompt_and_keep_every_reasoning() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "read a.py"},
                {"role": "assistant", "content": "", "reasoning_content": "Read it.",
                 "tool_calls": [{"id": "c1", "type": "function",
                                 "function": {"name": "read_file", "arguments": '{"path": "a.py", "n": 2}'}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "print(1)"}]
    text = _text(messages, TOOLS)
    assert text.startswith("<｜begin▁of▁sentence｜>Be brief.\n\n## Tools\n")
    assert '{"name": "read_file", "description": "Read a file."' in text
    assert text.endswith(
        "<｜User｜>read a.py<｜Assistant｜><think>Read it.</think>\n\n<｜DSML｜tool_calls>\n"
        '<｜DSML｜invoke name="read_file">\n<｜DSML｜parameter name="path" string="true">a.py</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="n" string="false">2</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>'
        "<｜end▁of▁sentence｜><｜User｜><tool_result>print(1)</tool_result><｜Assistant｜><think>")


def test_consecutive_user_turns_and_tool_results_merge() -> None:
    messages = [{"role": "user", "content": "pack"}, {"role": "user", "content": "task"}]
    assert _text(messages, thinking=False) == "<｜begin▁of▁sentence｜><｜User｜>pack\n\ntask<｜Assistant｜></think>"
    calls = [{"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ("a", "b")]
    messages = [{"role": "user", "content": "go"}, {"role": "assistant", "content": "", "tool_calls": calls},
                {"role": "tool", "tool_call_id": "b", "content": "B"}, {"role": "tool", "tool_call_id": "a", "content": "A"}]
    assert "<｜User｜><tool_result>A</tool_result>\n\n<tool_result>B</tool_result>" in _text(messages, TOOLS)


def test_effort_max_adds_the_encoders_instruction() -> None:
    messages = [{"role": "user", "content": "hi"}]
    assert "Reasoning Effort: Absolute maximum" in _text(messages, effort="max")
    assert "Reasoning Effort" not in _text(messages, effort="high")
    assert "Reasoning Effort" not in _text(messages, thinking=False, effort="max")


def test_piecewise_tokens_equal_the_whole_prompts_tokens() -> None:
    tokenizer = get_tokenizer("deepseek-v4")
    pieces = PieceTokens(tokenizer)
    messages = [{"role": "system", "content": "S </file>\n"}, {"role": "user", "content": "x <think> y\n\n"},
                {"role": "assistant", "content": "ok", "reasoning_content": "r",
                 "tool_calls": [{"id": "c", "function": {"name": "read_file", "arguments": '{"path": "p"}'}}]},
                {"role": "tool", "tool_call_id": "c", "content": "z"}]
    for thinking in (True, False):
        prompt = pieces.prompt(messages, TOOLS, thinking=thinking, effort="max")
        assert prompt.packed == array("i", tokenizer.encode(prompt.text)).tobytes()
        assert prompt.count - prompt.input_end == 2  # <｜Assistant｜> and <think> or </think>


def _seq(start: int, n: int) -> bytes:
    return array("i", range(start, start + n)).tobytes()


def test_units_at_input_end_output_end_intervals_and_common_prefixes() -> None:
    units = DocUnits(interval=100)
    a, b, c = _seq(0, 250), _seq(1000, 30), _seq(5000, 40)
    units.persist(a + b, 250, c)
    assert units.unit_lengths() == [100, 200, 250, 300, 320]
    assert units.hit(a + b + _seq(9000, 5)) == 250
    assert units.hit(a + c) == 250
    assert units.hit(a[:-4] + c) == 200  # back to the interval unit
    assert units.hit(a + b + c + _seq(7, 3)) == 320
    units.persist(a[: 120 * 4] + c, 120, c)  # shares 120 tokens with the first: a unit for later requests
    assert 120 in units.unit_lengths()
    assert units.longest_shared(a[: 130 * 4]) == 130


def test_a_cancelled_request_stores_only_its_input_and_blocks_never_hit_the_last_token() -> None:
    units = DocUnits(interval=None)
    units.persist(_seq(0, 50), 48, None)
    assert units.unit_lengths() == [48]
    blocks = Blocks(16)
    blocks.persist(_seq(0, 64), 64, None)
    assert blocks.hit(_seq(0, 64)) == 48
    assert blocks.hit(_seq(0, 70)) == 64
