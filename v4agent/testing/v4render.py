"""The stand-in's own rendering of a chat request to DeepSeek V4 tokens, from the model's published encoder.

V4 ships no Jinja chat template: its Hugging Face repository carries ``encoding/encoding_dsv4.py``, and vLLM's
``deepseek_v4`` tokenizer mode calls it (https://github.com/vllm-project/vllm/blob/main/vllm/tokenizers/deepseek_v4.py).
This module follows that encoder as published, written here independently of the client's
``v4agent.agent.request.template`` (which is a belief of the client, and the thing the stand-in must check):

- BOS, then each message; a system message is its bare content; request-level ``tools`` are attached to a
  leading system (or developer) message, else a fresh system message is put first, and render as
  ``{content}\\n\\n## Tools ...`` (vLLM's ``deepseek_v4.py``, above).
- ``tool`` messages have no role of their own: they become ``<tool_result>...</tool_result>`` blocks of a user
  message, and consecutive user/tool messages merge into one, blocks joined by a blank line.
- A user message followed by an assistant turn (or ending the request) gets ``<｜Assistant｜>`` and ``<think>``
  (thinking) or ``</think>`` (chat, or thinking dropped for a past turn); an assistant message renders as
  ``reasoning</think>`` (thinking) + content + DSML tool calls + EOS.
- In thinking mode without tools, reasoning before the last user message is dropped ("in later turns it is
  ignored": https://api-docs.deepseek.com/guides/thinking_mode); any tools keep it all.
- ``reasoning_effort: max`` puts a fixed instruction before the first message.

Tokens come from the real V4 tokenizer (``v4agent.tokens``). A prompt is tokenized in runs split at the
special tokens this module inserts: the tokenizer always splits added tokens out before BPE, so the runs'
tokens concatenate to the whole prompt's tokens, and each run is memoized (a long session re-tokenizes only
its new turns).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from v4agent.tokens.tokenizer import Tokenizer

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK_START = "<think>"
THINK_END = "</think>"
DSML = "｜DSML｜"
SPECIAL = frozenset({BOS, EOS, USER, ASSISTANT, THINK_START, THINK_END})

# The published encoder's text for reasoning_effort "max", put before the first message in thinking mode.
EFFORT_MAX_TEXT = (
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root "
    "cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial "
    "scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, considered "
    "alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n"
)

_TOOLS_TEMPLATE = """## Tools

You have access to a set of tools to help answer the user's question. You can invoke tools by writing a \
"<{d}tool_calls>" block like the following:

<{d}tool_calls>
<{d}invoke name="$TOOL_NAME">
<{d}parameter name="$PARAMETER_NAME" string="true|false">$PARAMETER_VALUE</{d}parameter>
...
</{d}invoke>
<{d}invoke name="$TOOL_NAME2">
...
</{d}invoke>
</{d}tool_calls>

String parameters should be specified as is and set `string="true"`. For all other types (numbers, booleans, \
arrays, objects), pass the value in JSON format and set `string="false"`.

If thinking_mode is enabled (triggered by {start}), you MUST output your complete reasoning inside \
{start}...{end} BEFORE any tool calls or final response.

Otherwise, output directly after {end} with tool calls or final response.

### Available Tool Schemas

{schemas}

You MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.
"""


@dataclass(frozen=True)
class Prompt:
    """A rendered request: its tokens (int32 bytes) and where the input proper ends.

    ``input_end`` is the token count before the trailing generation marker (``<｜Assistant｜><think>``): the
    docs store a cache unit at "the end position of the user input" (https://api-docs.deepseek.com/guides/kv_cache),
    and the marker is the template's, not the user's. ``text`` is the prompt as one string, for tests.
    """

    packed: bytes
    input_end: int
    text: str

    @property
    def count(self) -> int:
        """Tokens in the whole prompt (what ``prompt_tokens`` bills)."""
        return len(self.packed) // 4


def content_text(content: Any) -> str:
    """A message's content as text: a string, None, or OpenAI content parts (text parts joined by newlines,
    as vLLM flattens them for a text-only template)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [str(p["text"]) for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
        return "\n".join(texts)
    return str(content)


def _to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _tools_text(tools: Sequence[Any]) -> str:
    schemas = "\n".join(_to_json(t.get("function", t) if isinstance(t, Mapping) else t) for t in tools)
    return _TOOLS_TEMPLATE.format(d=DSML, start=THINK_START, end=THINK_END, schemas=schemas)


def _parameters(arguments: Any) -> str:
    """A call's arguments as DSML parameters: parsed JSON object keys in order, strings as is."""
    parsed: Any
    if isinstance(arguments, Mapping):
        parsed = arguments
    else:
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else None
        except (ValueError, RecursionError):  # not JSON, or nested past the decoder's depth: one string
            parsed = None
    if not isinstance(parsed, Mapping):
        parsed = {"arguments": arguments if isinstance(arguments, str) else _to_json(arguments)}
    lines = []
    for key, value in parsed.items():
        is_str = isinstance(value, str)
        shown = value if is_str else _to_json(value)
        lines.append(f'<{DSML}parameter name="{key}" string="{"true" if is_str else "false"}">{shown}</{DSML}parameter>')
    return "\n".join(lines)


def tool_calls_text(tool_calls: Any) -> str:
    """An assistant's tool calls as the DSML block the model writes (empty without calls)."""
    if not isinstance(tool_calls, list) or not tool_calls:
        return ""
    invokes = []
    for call in tool_calls:
        fn = call.get("function", {}) if isinstance(call, Mapping) else {}
        name = fn.get("name", "") if isinstance(fn, Mapping) else ""
        arguments = fn.get("arguments", "") if isinstance(fn, Mapping) else ""
        invokes.append(f'<{DSML}invoke name="{name}">\n{_parameters(arguments)}\n</{DSML}invoke>')
    return f"\n\n<{DSML}tool_calls>\n" + "\n".join(invokes) + f"\n</{DSML}tool_calls>"


def _tool_result(message: Mapping[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, list):  # the encoder joins a result's parts by a blank line
        text = "\n\n".join(str(p.get("text", "")) if isinstance(p, Mapping) and p.get("type") == "text"
                            else f"[Unsupported {p.get('type') if isinstance(p, Mapping) else 'part'}]"
                            for p in content)
    else:
        text = content_text(content)
    return {"type": "tool_result", "id": str(message.get("tool_call_id", "")), "text": text}


def merge_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Tool results folded into user messages, consecutive user messages merged (the encoder's first step),
    and the results of one assistant turn ordered as its calls were."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        last = merged[-1] if merged else None
        if role in ("tool", "user"):
            block = _tool_result(message) if role == "tool" else {
                "type": "text", "text": content_text(message.get("content"))}
            if last is not None and last["role"] == "user":
                last["blocks"].append(block)
            else:
                merged.append({"role": "user", "blocks": [block]})
        else:
            merged.append(dict(message))
    order: dict[str, int] = {}
    for message in merged:
        if message["role"] == "assistant" and message.get("tool_calls"):
            order = {str(c.get("id")): i for i, c in enumerate(message["tool_calls"])
                     if isinstance(c, Mapping) and c.get("id")}
        elif message["role"] == "user" and order:
            results = sorted((b for b in message["blocks"] if b["type"] == "tool_result"),
                             key=lambda b: order.get(b["id"], 0))
            it = iter(results)
            message["blocks"] = [next(it) if b["type"] == "tool_result" else b for b in message["blocks"]]
    return merged


def _user_text(message: Mapping[str, Any]) -> str:
    parts = [b["text"] if b["type"] == "text" else f"<tool_result>{b['text']}</tool_result>"
             for b in message["blocks"]]
    return "\n\n".join(parts)


def _last_user(messages: Sequence[Mapping[str, Any]]) -> int:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") in ("user", "developer"):
            return index
    return -1


def _drop_past_reasoning(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Thinking mode without tools: reasoning before the last user message is dropped, and so are developer
    messages there (the encoder keeps only user, system and tool turns in full)."""
    last = _last_user(messages)
    kept: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if message["role"] in ("user", "system") or index >= last:
            kept.append(message)
        elif message["role"] == "assistant":
            kept.append({k: v for k, v in message.items() if k != "reasoning_content"})
    return kept


@dataclass(frozen=True)
class _Pieces:
    body: list[str]
    suffix: list[str]


def _render(messages: list[dict[str, Any]], thinking: bool, drop: bool, effort: str | None) -> _Pieces:
    last_user = _last_user(messages)
    body: list[str] = [BOS]
    if thinking and effort == "max":
        body.append(EFFORT_MAX_TEXT)
    suffix: list[str] = []
    for index, message in enumerate(messages):
        role = message["role"]
        if role == "system":
            body.append(content_text(message.get("content")))
            if message.get("tools"):
                body.append("\n\n" + _tools_text(message["tools"]))
        elif role == "developer":
            body += [USER, content_text(message.get("content"))]
            if message.get("tools"):
                body.append("\n\n" + _tools_text(message["tools"]))
        elif role == "user":
            body += [USER, _user_text(message)]
        elif role == "assistant":
            if thinking and (not drop or index > last_user):
                body += [content_text(message.get("reasoning_content")), THINK_END]
            body += [content_text(message.get("content")), tool_calls_text(message.get("tool_calls")), EOS]
        following = messages[index + 1]["role"] if index + 1 < len(messages) else None
        if role in ("user", "developer") and following in ("assistant", None):
            opened = thinking and (not drop or index >= last_user)
            marker = [ASSISTANT, THINK_START if opened else THINK_END]
            if following is None:
                suffix = marker
            else:
                body += marker
    return _Pieces(body, suffix)


def attach_tools(messages: Sequence[Mapping[str, Any]], tools: Sequence[Any]) -> list[dict[str, Any]]:
    """The messages with request-level tools on the leading system/developer message (or a new one)."""
    out = [dict(m) for m in messages]
    if tools:
        if out and out[0].get("role") in ("system", "developer"):
            out[0]["tools"] = list(tools)
        else:
            out.insert(0, {"role": "system", "content": "", "tools": list(tools)})
    return out


def prompt_pieces(messages: Sequence[Mapping[str, Any]], tools: Sequence[Any], *, thinking: bool,
                  effort: str | None) -> tuple[list[str], list[str]]:
    """The prompt as pieces (special tokens alone, text runs between them): the body, then the generation
    marker (empty when the request does not end on a user turn)."""
    merged = merge_messages(attach_tools(messages, tools))
    drop = not tools  # the encoder keeps every reasoning when any message carries tools
    if thinking and drop:
        merged = _drop_past_reasoning(merged)
    pieces = _render(merged, thinking, drop, effort)
    return pieces.body, pieces.suffix


def completion_text(message: Mapping[str, Any], *, thinking: bool, finished: bool) -> list[str]:
    """What the model generated for ``message`` (its pieces): reasoning and ``</think>`` in thinking mode, the
    content, the tool calls, and EOS when it finished on its own."""
    pieces: list[str] = []
    if thinking:
        pieces += [content_text(message.get("reasoning_content")), THINK_END]
    pieces += [content_text(message.get("content")), tool_calls_text(message.get("tool_calls"))]
    if finished:
        pieces.append(EOS)
    return pieces


class PieceTokens:
    """Tokens of rendered pieces through the real tokenizer, text runs memoized by content hash."""

    def __init__(self, tokenizer: Tokenizer, limit: int = 8192) -> None:
        self.tokenizer = tokenizer
        self._limit = limit
        self._memo: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def _run(self, text: str) -> bytes:
        from array import array

        key = hashlib.blake2b(text.encode("utf-8"), digest_size=20).digest()
        with self._lock:
            found = self._memo.get(key)
            if found is not None:
                self._memo.move_to_end(key)
                return found
        packed = array("i", self.tokenizer.encode(text)).tobytes()
        with self._lock:
            self._memo[key] = packed
            while len(self._memo) > self._limit:
                self._memo.popitem(last=False)
        return packed

    def pack(self, pieces: Sequence[str]) -> bytes:
        """The pieces' tokens as int32 bytes: adjacent text pieces joined into one run before tokenizing."""
        out: list[bytes] = []
        run: list[str] = []
        for piece in pieces:
            if piece in SPECIAL:
                if run:
                    out.append(self._run("".join(run)))
                    run = []
                out.append(self._run(piece))
            elif piece:
                run.append(piece)
        if run:
            out.append(self._run("".join(run)))
        return b"".join(out)

    def prompt(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Any], *, thinking: bool,
               effort: str | None) -> Prompt:
        """The request's prompt: tokens, and where the input ends before the generation marker."""
        body, suffix = prompt_pieces(messages, tools, thinking=thinking, effort=effort)
        head = self.pack(body)
        return Prompt(head + self.pack(suffix), len(head) // 4, "".join(body + suffix))

    def count(self, text: str) -> int:
        """Tokens in plain text (reasoning tokens of a reply)."""
        return len(self._run(text)) // 4 if text else 0
