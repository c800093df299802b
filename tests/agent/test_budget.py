"""The request budget (pure): the tool-result cap, head-and-tail clipping, and fitting a request by stubs."""

from __future__ import annotations

import json

from v4agent.agent.request.budget import (
    RESULT_CEILING,
    RESULT_FLOOR,
    clip_middle,
    fit_request,
    request_tokens,
    result_cap,
)
from v4agent.agent.request.layout import initial_messages, tool_message
from v4agent.tokens.tokenizer import get_tokenizer

TOK = get_tokenizer("deepseek-v4")


def test_the_cap_is_a_quarter_of_the_room_left_within_floor_and_ceiling() -> None:
    limit = 1_000_000
    assert result_cap(limit, 0) == RESULT_CEILING
    assert result_cap(limit, limit - 40_000) == 10_000
    assert result_cap(limit, limit - 100) == RESULT_FLOOR
    assert result_cap(limit, limit + 50_000) == RESULT_FLOOR  # past the limit: still a little, then compaction
    caps = [result_cap(limit, used) for used in range(800_000, 1_000_001, 20_000)]
    assert caps == sorted(caps, reverse=True)  # it shrinks as the context fills


def test_a_short_result_is_left_alone() -> None:
    text = "line 1\nline 2\n"
    assert clip_middle(text, 100, TOK) is text


def test_a_long_result_keeps_head_and_tail_and_says_what_was_left_out() -> None:
    text = "".join(f"{n:5}\tvalue_{n} = compute({n}, {n * 7})\n" for n in range(1, 3001))
    clipped = clip_middle(text, 2_000, TOK)
    assert TOK.count(clipped) <= 2_000
    assert clipped.startswith("    1\tvalue_1 = ")
    assert clipped.endswith(" 3000\tvalue_3000 = compute(3000, 21000)\n")
    (note,) = [line for line in clipped.splitlines() if "omitted" in line]
    assert "use read_file with a range" in note
    omitted_lines = int(note.split(" lines / ")[0].rsplit(" ", 1)[1])
    omitted_tokens = int(note.split(" lines / ")[1].split(" tokens")[0])
    kept = clipped.count("\n") - 1
    assert omitted_lines + kept == 3000
    assert omitted_tokens > TOK.count(text) - 2_000


def test_one_enormous_line_is_cut_inside_itself() -> None:
    text = "x" * 50 + "".join(f"{n:06d}," for n in range(80_000)) + "END"
    clipped = clip_middle(text, 1_500, TOK, hint="run it again with narrower output")
    assert TOK.count(clipped) <= 1_500
    assert clipped.startswith("x" * 50)
    assert clipped.endswith("END")
    assert "narrower output" in clipped


def _write_call(call_id: str, content: str) -> dict[str, object]:
    arguments = json.dumps({"path": f"{call_id}.txt", "content": content})
    return {"role": "assistant", "content": "",
            "tool_calls": [{"id": call_id, "type": "function",
                            "function": {"name": "write_file", "arguments": arguments}}]}


def _session(turns: int, size: int) -> list[dict[str, object]]:
    messages = [*initial_messages("SYSTEM", "PACK", "TASK")]
    for n in range(turns):
        body = " ".join(f"w{n}_{i}" for i in range(size))
        messages += [_write_call(f"c{n}", body), tool_message(f"c{n}", f"created c{n}.txt\n{body[:200]}")]
    return [*messages, {"role": "user", "content": "Summarize."}]


def test_a_request_that_fits_is_sent_as_it_is() -> None:
    messages = _session(3, 200)
    fitted = fit_request(messages, [], TOK, 1_000_000)
    assert fitted.fits
    assert fitted.stubbed == 0
    assert fitted.messages == messages


def test_an_over_full_request_stubs_the_oldest_tool_payloads_first() -> None:
    messages = _session(4, 3_000)
    total = request_tokens(messages, [], TOK)
    limit = total - 5_000  # one write's arguments must go
    fitted = fit_request(messages, [], TOK, limit)
    assert fitted.fits
    assert fitted.tokens <= limit
    assert fitted.tokens == request_tokens(fitted.messages, [], TOK)
    first_args = fitted.messages[3]["tool_calls"][0]["function"]["arguments"]  # type: ignore[index]
    assert "omitted" in json.loads(first_args)  # still JSON: some servers parse what they are sent back
    assert fitted.stubbed == 1  # no more than needed: the oldest write's arguments
    assert fitted.messages[4:] == messages[4:]  # the newest exchange and the question are kept
    assert fitted.messages[:3] == messages[:3]  # system prompt, pack and task are never touched
    assert len(fitted.messages) == len(messages)
    assert messages[3]["tool_calls"][0]["function"]["arguments"] != first_args  # type: ignore[index]


def test_other_turn_content_goes_once_the_tool_payloads_are_not_enough() -> None:
    messages = [*initial_messages("SYSTEM", "PACK", "TASK"),
                {"role": "assistant", "content": " ".join(f"thought{i}" for i in range(4_000))},
                {"role": "user", "content": "go on"},
                {"role": "user", "content": "Summarize."}]
    fitted = fit_request(messages, [], TOK, 200)
    assert fitted.fits
    assert "left out of this request" in str(fitted.messages[3]["content"])


def test_a_base_too_big_to_fit_is_reported_not_hidden() -> None:
    messages = [*initial_messages("SYSTEM", " ".join(f"p{i}" for i in range(5_000)), "TASK"),
                {"role": "user", "content": "Summarize."}]
    fitted = fit_request(messages, [], TOK, 1_000)
    assert not fitted.fits
    assert fitted.messages[1] == messages[1]
