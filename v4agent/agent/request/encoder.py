"""A chat request as DeepSeek V4 reads it: the prompt text, in labelled pieces, by the model's published encoder.

V4 has no Jinja chat template. Its Hugging Face repositories ship ``encoding/encoding_dsv4.py``
(https://huggingface.co/deepseek-ai/DeepSeek-V4-Flash/blob/main/encoding/encoding_dsv4.py), and vLLM's
``deepseek_v4`` tokenizer mode runs it after attaching the request's tools
(https://github.com/vllm-project/vllm/blob/main/vllm/tokenizers/deepseek_v4.py). The rules below are read from
those two files; each function names the part it follows. This module only builds text: ``template.py``
tokenizes it.

- Request-level tools go on a leading system (or developer) message, else on a new empty system message put
  first (vLLM, ``apply_chat_template``). A system message renders as its content, then ``"\\n\\n"`` and the tools
  block (``render_message`` + ``render_tools`` + ``TOOLS_TEMPLATE``): the instructions on writing DSML calls and
  the schemas, one ``json.dumps(function, ensure_ascii=False)`` per line.
- ``tool`` messages have no role of their own: each becomes a ``<tool_result>...</tool_result>`` block of a user
  message, consecutive user and tool messages merge into one (``merge_tool_messages``), blocks joined by a blank
  line; the results after an assistant turn are ordered as its calls were (``sort_tool_results_by_call_order``).
- After a user message that an assistant turn follows (or that ends the request) comes ``<｜Assistant｜>`` and
  ``<think>`` (thinking) or ``</think>`` (chat, or a past turn whose thinking is dropped); an assistant message
  is ``reasoning</think>`` (thinking) + content + ``"\\n\\n"`` + the DSML calls, then EOS.
- Thinking without tools anywhere in the request drops the reasoning of turns before the last user message
  (``_drop_thinking_messages``; tools keep it: ``encode_messages`` turns ``drop_thinking`` off).
- ``reasoning_effort`` ``max`` puts a fixed instruction before the first message in thinking mode.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK_START = "<think>"
THINK_END = "</think>"
DSML = "｜DSML｜"
SPECIAL_TOKENS = frozenset({BOS, EOS, USER, ASSISTANT, THINK_START, THINK_END})

# encoding_dsv4.py, REASONING_EFFORT_MAX: put first when thinking at effort "max".
EFFORT_MAX = (
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root "
    "cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial "
    "scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, considered "
    "alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n"
)

# encoding_dsv4.py, TOOLS_TEMPLATE, with its placeholders filled: {DSML} the DSML marker, {SCHEMAS} the schemas.
_TOOLS = (
    "## Tools\n\n"
    "You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "
    '"<{DSML}tool_calls>" block like the following:\n\n'
    "<{DSML}tool_calls>\n"
    '<{DSML}invoke name="$TOOL_NAME">\n'
    '<{DSML}parameter name="$PARAMETER_NAME" string="true|false">$PARAMETER_VALUE</{DSML}parameter>\n'
    "...\n"
    "</{DSML}invoke>\n"
    '<{DSML}invoke name="$TOOL_NAME2">\n'
    "...\n"
    "</{DSML}invoke>\n"
    "</{DSML}tool_calls>\n\n"
    'String parameters should be specified as is and set `string="true"`. For all other types (numbers, '
    'booleans, arrays, objects), pass the value in JSON format and set `string="false"`.\n\n'
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside "
    "<think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n"
    "{SCHEMAS}\n\n"
    "You MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.\n"
)


@dataclass(frozen=True)
class Piece:
    """A run of prompt text (or one special token) and the request part it belongs to."""

    label: str
    text: str

    @property
    def special(self) -> bool:
        """Whether the piece is one of the special tokens the encoder inserts (tokenized alone)."""
        return self.text in SPECIAL_TOKENS


def content_text(content: Any) -> str:
    """A message's content as text: a string, None, or OpenAI content parts (text parts joined by newlines,
    as vLLM flattens a text-only message for its template)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p if isinstance(p, str) else str(p["text"]) for p in content
                 if isinstance(p, str) or (isinstance(p, Mapping) and isinstance(p.get("text"), str))]
        return "\n".join(texts)
    return str(content)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # the encoder's to_json: default separators, key order kept


def tools_block(tools: Sequence[Any]) -> str:
    """The tools block of a system message (``render_tools``): instructions, then one schema per line."""
    schemas = "\n".join(_json(t.get("function", t) if isinstance(t, Mapping) else t) for t in tools)
    return _TOOLS.replace("{DSML}", DSML).replace("{SCHEMAS}", schemas)


def _parameters(arguments: Any) -> str:
    """``encode_arguments_to_dsml``: the arguments' JSON object as parameters, strings as is, anything else as
    JSON; arguments that are not a JSON object are one string parameter named ``arguments``."""
    parsed: Any = arguments
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except (ValueError, RecursionError):
            parsed = None
    if not isinstance(parsed, Mapping):
        parsed = {"arguments": arguments if isinstance(arguments, str) else _json(arguments)}
    return "\n".join(
        f'<{DSML}parameter name="{key}" string="{"true" if isinstance(value, str) else "false"}">'
        f"{value if isinstance(value, str) else _json(value)}</{DSML}parameter>"
        for key, value in parsed.items())


def calls_text(tool_calls: Any) -> str:
    """An assistant's tool calls as the DSML block it wrote (``tool_calls_template``); empty without calls."""
    if not isinstance(tool_calls, list) or not tool_calls:
        return ""
    invokes = []
    for call in tool_calls:
        fn = call.get("function", {}) if isinstance(call, Mapping) else {}
        fn = fn if isinstance(fn, Mapping) else {}
        invokes.append(f'<{DSML}invoke name="{fn.get("name", "")}">\n{_parameters(fn.get("arguments", ""))}\n'
                       f"</{DSML}invoke>")
    return f"\n\n<{DSML}tool_calls>\n" + "\n".join(invokes) + f"\n</{DSML}tool_calls>"


def _result_text(content: Any) -> str:
    """A tool result's text: content parts joined by a blank line, non-text parts named (``render_message``)."""
    if not isinstance(content, list):
        return content_text(content)
    return "\n\n".join(str(p.get("text", "")) if isinstance(p, Mapping) and p.get("type") == "text"
                       else f"[Unsupported {p.get('type') if isinstance(p, Mapping) else type(p).__name__}]"
                       for p in content)


@dataclass
class _Turn:
    """One message after merging: its role, the original message (or the user blocks), and their labels."""

    role: str
    message: Mapping[str, Any]
    label: str
    blocks: list[tuple[str, str, str]]  # user turns: (label, kind "text"/"result", text); kind result: + id
    ids: list[str]
    tools: Sequence[Any] = ()


def _merge(messages: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> list[_Turn]:
    """``merge_tool_messages`` then ``sort_tool_results_by_call_order``."""
    turns: list[_Turn] = []
    for message, label in zip(messages, labels, strict=True):
        role = str(message.get("role"))
        if role in ("user", "tool"):
            if role == "tool":
                block = (label, "result", f"<tool_result>{_result_text(message.get('content'))}</tool_result>")
                ident = str(message.get("tool_call_id", ""))
            else:
                block, ident = (label, "text", content_text(message.get("content"))), ""
            if turns and turns[-1].role == "user":
                turns[-1].blocks.append(block)
                turns[-1].ids.append(ident)
            else:
                turns.append(_Turn("user", message, label, [block], [ident]))
        else:
            turns.append(_Turn(role, message, label, [], []))
    order: dict[str, int] = {}
    for turn in turns:
        if turn.role == "assistant" and turn.message.get("tool_calls"):
            calls = turn.message["tool_calls"]
            order = {str(c["id"]): i for i, c in enumerate(calls) if isinstance(c, Mapping) and c.get("id")}
        elif turn.role == "user" and order:
            slots = [i for i, b in enumerate(turn.blocks) if b[1] == "result"]
            ranked = sorted(slots, key=lambda i: order.get(turn.ids[i], 0))
            moved = [turn.blocks[i] for i in ranked]
            for slot, block in zip(slots, moved, strict=True):
                turn.blocks[slot] = block
    return turns


def _last_user(turns: Sequence[_Turn]) -> int:
    return max((i for i, t in enumerate(turns) if t.role in ("user", "developer")), default=-1)


def _drop_thinking(turns: list[_Turn]) -> list[_Turn]:
    """``_drop_thinking_messages``: before the last user message, developer turns go and assistant turns lose
    their reasoning."""
    last = _last_user(turns)
    kept = []
    for index, turn in enumerate(turns):
        if turn.role == "assistant" and index < last:
            kept.append(_Turn(turn.role, {k: v for k, v in turn.message.items() if k != "reasoning_content"},
                              turn.label, turn.blocks, turn.ids, turn.tools))
        elif turn.role in ("user", "system", "assistant") or index >= last:
            kept.append(turn)
    return kept


def assistant_pieces(message: Mapping[str, Any], label: str, *, thinking: bool, keep_reasoning: bool,
                     finished: bool = True) -> list[Piece]:
    """An assistant message (``assistant_msg_template``): reasoning and ``</think>`` when thinking and kept, the
    content, the calls, EOS (``finished`` False: a reply cut short, which ends without it)."""
    pieces = []
    if thinking and keep_reasoning:
        pieces += [Piece(label, content_text(message.get("reasoning_content"))), Piece(label, THINK_END)]
    pieces.append(Piece(label, content_text(message.get("content")) + calls_text(message.get("tool_calls"))))
    if finished:
        pieces.append(Piece(label, EOS))
    return pieces


def _turn_pieces(turn: _Turn, *, thinking: bool, keep: bool) -> list[Piece]:
    if turn.role == "system":
        tools = [Piece("tools", "\n\n" + tools_block(turn.tools))] if turn.tools else []
        return [Piece(turn.label, content_text(turn.message.get("content"))), *tools]
    if turn.role == "assistant":
        return assistant_pieces(turn.message, turn.label, thinking=thinking, keep_reasoning=keep)
    if turn.role == "user":
        texts = [Piece(label, ("\n\n" if i else "") + text) for i, (label, _kind, text) in enumerate(turn.blocks)]
        return [Piece(turn.label, USER), *texts]
    # developer, and any role the encoder has no rule for: a user turn (tools attach to a leading developer)
    tools = [Piece("tools", "\n\n" + tools_block(turn.tools))] if turn.tools else []
    return [Piece(turn.label, USER), Piece(turn.label, content_text(turn.message.get("content"))), *tools]


def prompt_pieces(messages: Sequence[Mapping[str, Any]], tools: Sequence[Any], *, thinking: bool,
                  effort: str | None = None) -> tuple[list[Piece], list[Piece]]:
    """The request's prompt: the input pieces, then the generation marker that ends it (empty when the request
    does not end on a user turn). ``effort`` is the effort the model runs at (only ``max`` shows)."""
    labels = [f"message {i} ({m.get('role')})" for i, m in enumerate(messages)]
    items, names = list(messages), labels
    if tools and not (items and items[0].get("role") in ("system", "developer")):
        items, names = [{"role": "system", "content": ""}, *items], ["tools", *labels]
    if items and items[0].get("role") == "system":
        names = ["system" if names[0] != "tools" else "tools", *names[1:]]
    turns = _merge(items, names)
    if tools and turns:
        turns[0].tools = tools
    drop = thinking and not tools
    if drop:
        turns = _drop_thinking(turns)
    last_user = _last_user(turns)
    body: list[Piece] = [Piece(turns[0].label if turns else "bos", BOS)]
    if thinking and effort == "max" and turns:
        body.append(Piece(turns[0].label, EFFORT_MAX))
    suffix: list[Piece] = []
    for index, turn in enumerate(turns):
        body += _turn_pieces(turn, thinking=thinking, keep=not drop or index > last_user)
        following = turns[index + 1] if index + 1 < len(turns) else None
        if turn.role in ("user", "developer") and (following is None or following.role == "assistant"):
            opened = thinking and (not drop or index >= last_user)
            label = following.label if following is not None else "generation"
            marker = [Piece(label, ASSISTANT), Piece(label, THINK_START if opened else THINK_END)]
            if following is None:
                suffix = marker
            else:
                body += marker
    return body, suffix
