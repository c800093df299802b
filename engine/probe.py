"""``v4agent engine check``: a short live conformance probe of any OpenAI-compatible endpoint.

A scripted conversation, kept tiny: streaming; a tool call in thinking mode and its reasoning sent back (also
once empty, and once left out); the usage fields; a cache hit on the second request; whether ``max_tokens``
and ``stream`` are part of the cache identity and whether a stream dropped at its first chunk still stores its
input (each measured on a fresh prefix: prime one way, send the real request, read the billed hit); the error
shape for a bad model name. The priming method the measurements support is the cheapest that worked: a
dropped stream ("cancel"), a one-token request ("short"), or a whole request with the session's settings
("full"). Rules it checks: https://api-docs.deepseek.com/guides/thinking_mode (reasoning passback),
https://api-docs.deepseek.com/guides/kv_cache (units at request boundaries).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from v4agent.engine.presets import ThinkStyle
from v4agent.engine.probe_wire import Exchange, Wire
from v4agent.engine.thinking import think_params
from v4agent.engine.types import ThinkLevel
from v4agent.engine.usage import normalize_usage

Status = Literal["pass", "fail", "info", "skip"]
PrimeMethod = Literal["cancel", "short", "full", "none"]
BAD_MODEL = "v4agent-probe-no-such-model"
_REAL_MAX_TOKENS = 16
# One cap for every request of the conversation: it may be part of the cache identity (that is measured
# below), and the second request must be able to hit the first.
_TURN_MAX_TOKENS = 512

# Above one cache unit where a hit is probed: vLLM's V4 recipes cache in 256-token blocks, so the stable block
# runs past that (the rest of the probe's prompts stay a few tokens long).
_STABLE = "".join(f"Rule {i}: keep every prefix byte-identical; append new turns, never rewrite old ones.\n"
                  for i in range(1, 17))
_TOOL = {"type": "function", "function": {
    "name": "probe_echo", "description": "Echo a short text back.",
    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}}


@dataclass(frozen=True)
class ProbeTarget:
    """The endpoint under test: where, which key and model, and how it selects thinking."""

    base_url: str
    api_key: str
    model: str
    think_style: ThinkStyle
    engine: str = ""


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, how it went, and the figures behind it."""

    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Priming:
    """What the cache-identity measurements found, and the priming method they support."""

    method: PrimeMethod
    cancel_works: bool | None = None
    short_works: bool | None = None
    max_tokens_in_identity: bool | None = None
    stream_in_identity: bool | None = None
    control_hit: int | None = None


@dataclass(frozen=True)
class ProbeResult:
    """The whole probe: the checks in order, the priming finding, and every exchange (for cost and records)."""

    target: ProbeTarget
    checks: tuple[Check, ...]
    priming: Priming
    exchanges: tuple[Exchange, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """No check failed."""
        return all(c.status != "fail" for c in self.checks)


class _Probe:
    def __init__(self, target: ProbeTarget, wire: Wire, settle_s: float, sleep: Callable[[float], None]) -> None:
        self.target, self.wire, self.settle_s, self.sleep = target, wire, settle_s, sleep
        self.checks: list[Check] = []

    def add(self, name: str, status: Status, detail: str) -> None:
        self.checks.append(Check(name, status, detail))

    def body(self, messages: list[dict[str, Any]], *, think: ThinkLevel = "off", stream: bool = True,
             max_tokens: int = _REAL_MAX_TOKENS, tools: bool = False, model: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"model": model or self.target.model, "messages": messages,
                                "max_tokens": max_tokens, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        if tools:
            body["tools"] = [_TOOL]
        body.update(think_params(self.target.think_style, think))
        return body

    # -- steps ------------------------------------------------------------------------------------------
    def models(self) -> None:
        got = self.wire.get_json("models", "/models")
        if not got.ok:
            self.add("model list", "fail", f"GET /models: HTTP {got.status} {got.error}".strip())
            return
        listed = got.body.count(f'"{self.target.model}"') > 0
        self.add("model list", "pass" if listed else "info",
                 f"{self.target.model} listed" if listed else f"{self.target.model} not in GET /models")

    def streaming(self) -> None:
        got = self.wire.chat("stream", self.body([{"role": "user", "content": "Reply with the word OK."}]))
        if not got.ok or got.reply is None:
            self.add("streaming", "fail", got.error or f"HTTP {got.status}")
            return
        usage = "usage in the stream" if got.usage else "no usage chunk (stream_options ignored)"
        self.add("streaming", "pass" if got.usage else "fail",
                 f"finish {got.reply.finish_reason}, {len(got.reply.content)} chars, {usage}")

    def conversation(self, nonce: str) -> None:
        """The tool call, its reasoning sent back (as given, empty, and left out), usage and the second hit."""
        messages = [{"role": "system", "content": f"Probe {nonce}.\n{_STABLE}"},
                    {"role": "user", "content": "Call probe_echo with text 'ping'. Do not answer in prose."}]
        first, forced = self.forced_call(messages)
        call = first.reply.tool_calls[0] if first.ok and first.reply and first.reply.tool_calls else None
        if call is None:
            self.add("tool call", "fail", first.error or "no tool call in the reply")
            return
        shape = "" if first.first_delta is None else f"; first delta {sorted(first.first_delta)}"
        reasoning_chars = len(first.reply.reasoning) if first.reply else 0
        self.add("tool call", "pass", f"{call.name}({call.arguments}); {forced}; reasoning {reasoning_chars} "
                                      f"chars{shape}")
        self.usage_fields(first)
        turn = {"role": "assistant", "content": first.reply.content if first.reply else "",
                "tool_calls": [{"id": call.id, "type": "function",
                                "function": {"name": call.name, "arguments": call.arguments}}]}
        result = {"role": "tool", "tool_call_id": call.id, "content": "pong"}
        reasoning = first.reply.reasoning if first.reply else ""
        second = self.wire.chat("passback", self.body(
            [*messages, {**turn, "reasoning_content": reasoning}, result], think="low", tools=True,
            max_tokens=_TURN_MAX_TOKENS))
        self.add("reasoning passback", "pass" if second.ok else "fail",
                 f"HTTP {second.status}" + (f": {second.error}" if second.error else ""))
        self.second_hit(first, second)
        empty = self.wire.chat("empty_reasoning", self.body(
            [*messages, {**turn, "reasoning_content": ""}, result], think="low", tools=True, stream=False,
            max_tokens=_TURN_MAX_TOKENS))
        self.add("empty reasoning accepted", "pass" if empty.ok else "fail",
                 f"HTTP {empty.status}" + (f": {empty.error}" if empty.error else ""))
        missing = self.wire.chat("missing_reasoning", self.body(
            [*messages, turn, result], think="low", tools=True, stream=False, max_tokens=_TURN_MAX_TOKENS))
        required = "required" if missing.status == 400 else "not required"
        self.add("reasoning passback required", "info",
                 f"{required} (HTTP {missing.status}" + (f": {missing.error})" if missing.error else ")"))

    def forced_call(self, messages: list[dict[str, Any]]) -> tuple[Exchange, str]:
        """The tool call, forced by ``tool_choice``; an endpoint that refuses forcing (in thinking mode, say)
        is asked again with the request in the prompt only."""
        body = self.body(messages, think="low", tools=True, max_tokens=_TURN_MAX_TOKENS)
        got = self.wire.chat("tool_call", {**body, "tool_choice": {"type": "function",
                                                                   "function": {"name": "probe_echo"}}})
        if got.status in (400, 422):
            return self.wire.chat("tool_call_unforced", body), f"tool_choice refused ({got.error[:60]})"
        return got, "forced by tool_choice"

    def usage_fields(self, got: Exchange) -> None:
        raw = got.usage or {}
        usage = normalize_usage(raw)
        if usage is None:
            self.add("usage fields", "fail", "no usage in the reply")
            return
        present = [k for k in ("prompt_cache_hit_tokens", "prompt_cache_miss_tokens") if k in raw]
        details = raw.get("prompt_tokens_details") or {}
        reasoning = (raw.get("completion_tokens_details") or {}).get("reasoning_tokens")
        parts = [f"prompt {usage.prompt_tokens}", f"hit {usage.cache_hit}", f"reasoning {reasoning}"]
        if len(present) == 2 and raw["prompt_cache_hit_tokens"] + raw["prompt_cache_miss_tokens"] != usage.prompt_tokens:
            self.add("usage fields", "fail", "hit + miss != prompt_tokens: " + ", ".join(parts))
            return
        known = bool(present) or "cached_tokens" in details
        self.add("usage fields", "pass" if known else "info",
                 ", ".join(parts) + ("" if known else "; no cache figures (vLLM: --enable-prompt-tokens-details)"))

    def second_hit(self, first: Exchange, second: Exchange) -> None:
        before = normalize_usage(first.usage)
        after = normalize_usage(second.usage)
        if before is None or after is None or after.cache_hit is None:
            self.add("cache hit on the second request", "info", "the server reports no cache hits")
            return
        whole = before.prompt_tokens + before.output_tokens
        status: Status = "pass" if after.cache_hit >= 0.9 * before.prompt_tokens else "fail"
        self.add("cache hit on the second request", status,
                 f"hit {after.cache_hit} of the previous {before.prompt_tokens} input + {before.output_tokens} output"
                 f" ({whole})")

    def primed_hit(self, step: str, prime: dict[str, Any], real: dict[str, Any], *, cancel: bool = False) -> int | None:
        """Prime a fresh prefix one way, send the real request, and return its billed hit (None: unknown)."""
        self.wire.chat(f"{step}_prime", prime, cancel_after_first=cancel)
        self.sleep(self.settle_s)  # units are persisted after the reply: give the provider a moment
        got = self.wire.chat(step, real)
        usage = normalize_usage(got.usage) if got.ok else None
        return usage.cache_hit if usage is not None else None

    def identity(self) -> Priming:
        def fresh(label: str) -> list[dict[str, Any]]:
            tag = secrets.token_hex(4)
            return [{"role": "system", "content": f"Probe {tag} {label}.\n{_STABLE}"},
                    {"role": "user", "content": "Reply with the word OK."}]

        control_msgs = fresh("control")
        control = self.primed_hit("identity_control", self.body(control_msgs), self.body(control_msgs))
        if not control:
            self.add("cache identity", "info", "no hit even when primed with identical settings")
            return Priming("none", control_hit=control)
        short_msgs, stream_msgs, cancel_msgs = fresh("max_tokens"), fresh("stream"), fresh("cancel")
        short = self.primed_hit("identity_max_tokens", self.body(short_msgs, max_tokens=1), self.body(short_msgs))
        whole = self.primed_hit("identity_stream", self.body(stream_msgs, stream=False), self.body(stream_msgs))
        cancel = self.primed_hit("identity_cancel", self.body(cancel_msgs), self.body(cancel_msgs), cancel=True)

        def works(hit: int | None) -> bool | None:
            return None if hit is None else hit >= 0.9 * control

        finding = Priming(_method(works(cancel), works(short)), works(cancel), works(short),
                          None if works(short) is None else not works(short),
                          None if works(whole) is None else not works(whole), control)
        self.add("max_tokens in cache identity", "info", f"{_yes(finding.max_tokens_in_identity)} "
                 f"(primed with max_tokens=1: hit {short} of {control})")
        self.add("stream in cache identity", "info", f"{_yes(finding.stream_in_identity)} "
                 f"(primed without streaming: hit {whole} of {control})")
        self.add("dropped stream stores its input", "info", f"{_yes(finding.cancel_works)} (hit {cancel} of {control})")
        self.add("priming method", "pass", finding.method)
        return finding

    def bad_model(self) -> None:
        got = self.wire.chat("bad_model", self.body([{"role": "user", "content": "x"}], stream=False, model=BAD_MODEL))
        shaped = 400 <= got.status < 500 and bool(got.error) and got.body.lstrip().startswith("{")
        self.add("bad model error", "pass" if shaped else "fail", f"HTTP {got.status}: {got.error or got.body[:80]}")


def _method(cancel: bool | None, short: bool | None) -> PrimeMethod:
    """The cheapest method shown to work: a dropped stream, else a one-token request, else a whole one."""
    if cancel:
        return "cancel"
    if short:
        return "short"
    return "full"


def _yes(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def run_probe(target: ProbeTarget, *, settle_s: float = 1.0, timeout: float = 120.0,
              sleep: Callable[[float], None] = time.sleep) -> tuple[ProbeResult, Wire]:
    """Run every step against ``target``; the wire (its exchanges, for ``--record``) is returned closed."""
    wire = Wire(target.base_url, target.api_key, timeout=timeout)
    probe = _Probe(target, wire, settle_s, sleep)
    try:
        probe.models()
        probe.streaming()
        probe.conversation(secrets.token_hex(4))
        priming = probe.identity()
        probe.bad_model()
    finally:
        wire.close()
    return ProbeResult(target, tuple(probe.checks), priming, tuple(wire.exchanges)), wire
