"""The byte-stable request layout of an agent session (pure).

A session's requests are, in order: the system prompt, the tool schemas (sent beside the messages, rendered
right after the system message), one user message holding the packed repository, one user message holding the
task, then the turns, appended only. Under V4's cache-unit rules every request then hits the whole previous
request, and a request that ends exactly at the pack message (the priming request) stores the pack as a unit
that later sessions on the same repository state hit.

Nothing here rewrites a message once it is in the conversation: ``Conversation`` only appends.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from v4agent.core.errors import V4AgentError

Message = dict[str, Any]
ToolSchema = dict[str, Any]

PACK_INDEX = 1  # message index of the packed repository
TASK_INDEX = 2  # message index of the task
FIRST_TURN_INDEX = 3

_PACK_HEADER = "The repository, packed at the start of this session:\n\n"
# V4's encoder merges consecutive user messages (the task joins the pack's turn after a blank line), and BPE
# groups punctuation with the newlines after it: a pack ending in "</files>\n" would tokenize differently once
# the task follows, and the unit the priming request stored would never be hit. A closing word keeps the pack's
# last token the same whatever follows it.
PACK_TRAILER = "\n\nEnd of the packed repository"
_TASK_HEADER = "Task:\n"
_DELTA_HEADER = "Files changed since the repository was packed (outside your own edits):\n\n"
_SUMMARY_HEADER = "Summary of the earlier part of this session (older turns were compacted):\n\n"
_RESUME_NOTE = (
    "The session was interrupted and has been resumed. Files may have changed since; "
    "use git_diff and read_file to check the current state before editing."
)
COMPACTION_REQUEST = (
    "The conversation is nearing the context window. Write a compact summary of the work so far for your own "
    "later use: what the task needs, what you learned about the code (exact file paths, names, line numbers), "
    "every change already made, test results, and what remains to be done. Do not call tools; answer with "
    "the summary only."
)
INTERRUPTED_TOOL_RESULT = (
    "error: the session was interrupted while this tool call was pending; it may not have run. "
    "Check the current state and call it again if it is still needed."
)


def system_message(system_prompt: str) -> Message:
    """The system message holding ``system_prompt``."""
    return {"role": "system", "content": system_prompt}


def pack_message(pack_text: str) -> Message:
    """The user message that carries the packed repository."""
    return {"role": "user", "content": _PACK_HEADER + pack_text + PACK_TRAILER}


def task_message(task: str) -> Message:
    """The user message that states the task."""
    return {"role": "user", "content": _TASK_HEADER + task.strip()}


def delta_message(delta_text: str) -> Message:
    """The user message that reports files changed outside the model's own edits."""
    return {"role": "user", "content": _DELTA_HEADER + delta_text}


def summary_message(summary: str) -> Message:
    """The user message that replaces compacted turns with their summary."""
    return {"role": "user", "content": _SUMMARY_HEADER + summary.strip()}


def resume_message() -> Message:
    """The user message added on resume: the session was interrupted and files may have changed."""
    return {"role": "user", "content": _RESUME_NOTE}


def tool_message(call_id: str, content: str) -> Message:
    """The result of tool call ``call_id``, as a tool message."""
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def priming_messages(system_prompt: str, pack_text: str) -> list[Message]:
    """The priming request: exactly the session prefix that ends at the pack message."""
    return [system_message(system_prompt), pack_message(pack_text)]


def initial_messages(system_prompt: str, pack_text: str, task: str) -> list[Message]:
    """A new session's first messages: system prompt, pack, task."""
    return [*priming_messages(system_prompt, pack_text), task_message(task)]


def canonical_json(value: object) -> str:
    """The one JSON form used for hashing and storing: sorted keys, no whitespace variance."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def prefix_hash(messages: Sequence[Message], tools: Sequence[ToolSchema], model: str, think: str) -> str:
    """Identity of a cacheable prefix: what it holds and the settings that are part of the cache key."""
    digest = hashlib.sha256()
    digest.update(canonical_json({"model": model, "think": think}).encode())
    digest.update(canonical_json(list(tools)).encode())
    for message in messages:
        digest.update(canonical_json(message).encode())
    return digest.hexdigest()[:32]


class LayoutError(V4AgentError, ValueError):
    """An attempt to break the append-only layout."""


class Conversation:
    """The messages of one session, append-only. ``messages`` returns a copy; no method edits a sent message."""

    def __init__(self, messages: Iterable[Message]) -> None:
        self._messages: list[Message] = [dict(m) for m in messages]
        if len(self._messages) < FIRST_TURN_INDEX:
            raise LayoutError("a conversation starts with the system prompt, the pack and the task")
        if self._messages[0].get("role") != "system":
            raise LayoutError("the first message must be the system prompt")

    @classmethod
    def start(cls, system_prompt: str, pack_text: str, task: str) -> Conversation:
        """A new conversation of the system prompt, the pack and the task."""
        return cls(initial_messages(system_prompt, pack_text, task))

    @property
    def messages(self) -> list[Message]:
        """A copy of the messages so far."""
        return [dict(m) for m in self._messages]

    def __len__(self) -> int:
        return len(self._messages)

    def append(self, message: Message) -> int:
        """Append one message; returns its index."""
        if message.get("role") not in {"user", "assistant", "tool"}:
            raise LayoutError(f"cannot append a {message.get('role')!r} message after the start")
        self._messages.append(dict(message))
        return len(self._messages) - 1

    def pack_text(self) -> str:
        """The packed repository text, without its message header."""
        content = str(self._messages[PACK_INDEX].get("content", ""))
        content = content.removesuffix(PACK_TRAILER)
        return content[len(_PACK_HEADER):] if content.startswith(_PACK_HEADER) else content

    def task(self) -> str:
        """The task text, without its message header."""
        content = str(self._messages[TASK_INDEX].get("content", ""))
        return content[len(_TASK_HEADER):] if content.startswith(_TASK_HEADER) else content

    def dangling_tool_calls(self) -> list[str]:
        """Ids of tool calls in the last assistant message that have no tool result yet (after a Ctrl-C)."""
        last_assistant = None
        for index in range(len(self._messages) - 1, FIRST_TURN_INDEX - 2, -1):
            if self._messages[index].get("role") == "assistant":
                last_assistant = index
                break
        if last_assistant is None:
            return []
        answered = {
            str(m.get("tool_call_id"))
            for m in self._messages[last_assistant + 1:]
            if m.get("role") == "tool"
        }
        calls = self._messages[last_assistant].get("tool_calls") or []
        return [str(c.get("id")) for c in calls if str(c.get("id")) not in answered]

    def assistant_turns(self) -> int:
        """How many assistant messages (turns) the conversation holds."""
        return sum(1 for m in self._messages if m.get("role") == "assistant")


def turn_of_message(messages: Sequence[Message], index: int) -> int:
    """The 1-based turn a message belongs to: turn N starts with the N-th assistant message."""
    turn = 0
    for message in messages[FIRST_TURN_INDEX:index + 1]:
        if message.get("role") == "assistant":
            turn += 1
    return max(turn, 1)


def describe_message(messages: Sequence[Message], index: int) -> str:
    """A human name for a message position: system prompt, pack, task or turn N."""
    if index == 0:
        return "system prompt"
    if index == PACK_INDEX:
        return "pack"
    if index == TASK_INDEX:
        return "task"
    if index >= len(messages):
        return f"message {index}"
    role = messages[index].get("role", "?")
    return f"turn {turn_of_message(messages, index)} ({role})"


@dataclass(frozen=True)
class CompactionPlan:
    """Whether to compact now, and why. Compaction happens once the next request might not fit."""

    needed: bool
    context_tokens: int
    limit_tokens: int
    reason: str


def plan_compaction(
    context_tokens: int,
    *,
    window: int,
    max_output: int,
    base_tokens: Callable[[], int],
    margin: int = 32_768,
    min_gain: int = 16_384,
) -> CompactionPlan:
    """Decide whether to compact before the next call.

    ``context_tokens`` is the size of the conversation as the provider counted it (prompt + last output). The
    limit keeps room for one more reply of ``max_output`` tokens and ``margin`` for this turn's tool results
    and the summary request. Compaction keeps the system prompt, the pack and the task (``base_tokens``,
    asked for only past the limit: it costs a render) and replaces the turns after them with a summary, so it
    is pointless when those turns are fewer than ``min_gain`` tokens: a pack that nearly fills the window
    (the default budget leaves only a reserve) must not be compacted on every turn.
    """
    limit = max(0, window - max_output - margin)
    if context_tokens <= limit:
        return CompactionPlan(False, context_tokens, limit, "fits")
    turns = context_tokens - base_tokens()
    if turns < min_gain:
        return CompactionPlan(False, context_tokens, limit,
                              f"the turns hold only {max(turns, 0)} tokens: too few to free by summarizing")
    return CompactionPlan(True, context_tokens, limit, f"{context_tokens} tokens exceed {limit}")


def compacted_messages(system_prompt: str, pack_text: str, task: str, summary: str) -> list[Message]:
    """The new session prefix after a compaction: a fresh pack, the task, and the summary of old turns."""
    return [*initial_messages(system_prompt, pack_text, task), summary_message(summary)]


# DeepSeek does not publish the interval of its in-request units; the stand-in and ``cacheunits`` assume this.
ASSUMED_UNIT_INTERVAL = 4096


def priming_pays(prefix_tokens: int, *, interval: int | None, hit_usd_per_m: float, miss_usd_per_m: float) -> bool:
    """Whether a priming call (a request ending exactly at the pack) is worth its price.

    Without it, the next session on the same repository state still hits every interval unit inside the pack
    and misses only the tail after the last one (``prefix % interval`` tokens); it then stores the common
    prefix for the sessions after it. So priming saves at most that tail once, at the miss-hit difference, and
    costs one more read of the whole prefix at the hit price (the call itself is the miss the first turn would
    have paid). Without interval units the whole prefix is at stake.
    """
    if prefix_tokens <= 0:
        return False
    tail = prefix_tokens if interval is None else prefix_tokens % interval
    saved = tail * (miss_usd_per_m - hit_usd_per_m)
    cost = prefix_tokens * hit_usd_per_m
    return saved > cost
