"""The agent loop: call the engine, run the tool calls, append the results, until a stop condition.

The loop does no terminal I/O: it reports what happens as events to an observer (the refactor progress view,
the interactive chat). Every message appended and every call made is written to the session file as it
happens, so Ctrl-C leaves a resumable session.

Stop conditions: the model calls ``finish``; ``max_turns`` calls made in this run; the next call would cross
``max_cost``; the same failing tool call repeated ``loop_limit`` times in a row; a reply stopped by the content
filter, or ``finish.MAX_CUTS`` replies in a row cut at the output limit (``v4agent.agent.finish``); Ctrl-C.

No request outgrows the window (``request.window``, rules in ``request.budget``): tool results are capped by
tokens, and the request about to be sent is counted and compacted past the limit, resumed sessions included.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from v4agent.accounting import BudgetExceeded, Ledger, Meter, PriceTable
from v4agent.agent.compaction import compact_conversation
from v4agent.agent.cutcall import cut_usage, shown_chars
from v4agent.agent.events import (
    CallDone,
    CallKind,
    Event,
    Notice,
    Observer,
    Streamed,
    StreamRestarted,
    ToolDone,
    ToolOutcome,
    ToolRunner,
    ToolStarted,
)
from v4agent.agent.finish import MAX_CUTS, continue_after_cut, filtered_reason, too_many_cuts
from v4agent.agent.ledgersync import backfill_ledger
from v4agent.agent.loopconfig import AgentConfig, DeltaSource, Outcome, Status, StopGate
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.request.layout import (
    INTERRUPTED_TOOL_RESULT,
    Conversation,
    Message,
    delta_message,
    tool_message,
)
from v4agent.agent.request.window import ContextFull, Window, provider_scale
from v4agent.agent.sessions.records import CallRecord, EndRecord, EndTotals, ResetRecord, ToolRecord
from v4agent.agent.sessions.store import SessionWriter
from v4agent.core.signals import interrupt_reason
from v4agent.engine.prime import prime_prefix
from v4agent.engine.types import (
    ChatReply,
    Delta,
    Engine,
    EngineError,
    EngineUnreachable,
    Progress,
    StreamRestart,
    ToolCall,
    ToolSchema,
    Usage,
)
from v4agent.tools.registry import runs_command

__all__ = ["Agent", "AgentConfig", "DeltaSource", "Outcome", "Status", "StopGate"]

_NUDGE = "You replied without calling a tool. Continue the task with tools, or call finish with a summary."


class Agent:
    """Runs a session: engine calls, tool calls, compaction, limits, and the session record."""

    def __init__(
        self,
        *,
        engine: Engine,
        conversation: Conversation,
        tools: Sequence[ToolSchema],
        run_tool: ToolRunner,
        writer: SessionWriter,
        table: PriceTable,
        config: AgentConfig,
        tracker: CacheTracker,
        system_prompt: str,
        snapshot: DeltaSource | None = None,
        observer: Observer | None = None,
        spent_usd: float = 0.0,
        ledger: Ledger | None = None,
        gate: StopGate | None = None,
    ) -> None:
        self.engine = engine
        self.conversation = conversation
        self.tools = list(tools)
        self.run_tool = run_tool
        self.writer = writer
        self.table = table
        self.config = config
        self.tracker = tracker
        self.system_prompt = system_prompt
        self.snapshot = snapshot
        self.observer = observer or (lambda event: None)
        self.meter = Meter(table, engine=config.engine_name, max_cost=config.max_cost, spent_usd=spent_usd,
                           ledger=ledger, session_id=writer.session_id)
        self.turn = conversation.assistant_turns()
        self.context_tokens = 0
        self._last_output = 1024
        self._reported_delta: frozenset[str] = frozenset()
        self._edited: set[str] = set()
        self._tests_ok: bool | None = None
        self._fail_key: tuple[str, str] | None = None
        self._fail_streak = 0
        self._pending_tokens = 0  # appended since the last call (tool results, delta blocks): not counted yet
        self._scale = 1.0  # the provider's prompt count over ours, from the last call (its template is not ours)
        self._ledger_synced = False
        self._cuts = 0  # replies in a row cut at the output limit
        self.gate = gate
        self._stop_active = False  # the model goes on because a Stop hook said so
        self._calling: tuple[CallKind, int, int, float] = ("turn", 0, 0, 0.0)  # the call in flight: kind, prompt,
        # expected hit, start (of its latest attempt)
        # Sees each reply's tool calls, with the request that got the reply, before they run (subagents
        # start their task calls there, in parallel).
        self.before_tools: Callable[[Sequence[ToolCall], list[Message]], None] | None = None

    # -- calls ---------------------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        self.observer(event)

    def append(self, message: Message) -> None:
        """Append one message to the conversation and the session file."""
        index = self.conversation.append(message)
        self.writer.message(index, message)

    def _call(self, kind: CallKind, messages: list[Message]) -> ChatReply | None:
        rendered = self.tracker.render(messages, self.tools)
        expected = self.tracker.expected(rendered)
        model = self.engine.settings.model
        if kind != "prime":
            self.meter.check(model, prompt_tokens=rendered.prompt_tokens, expected_hit=expected,
                             expected_output=self._last_output)
        started = time.monotonic()
        self._calling = (kind, rendered.prompt_tokens, expected, started)  # a cut attempt is billed by these
        self._emit(Streamed(Progress("status", "sending")))  # the UI shows what it waits for until the reply starts
        reply: ChatReply | None
        if kind == "prime" and self.config.prime_mode == "cancel":
            reply = prime_prefix(self.engine, messages, self.tools)
        else:
            max_tokens = 1 if kind == "prime" else None
            reply = self.engine.complete(messages, self.tools, on_delta=self._on_delta, max_tokens=max_tokens)
        duration = time.monotonic() - started
        usage = reply.usage if reply is not None else None
        priced = usage or Usage(rendered.prompt_tokens, 1, cache_hit=expected,
                                cache_miss=rendered.prompt_tokens - expected)  # a cancelled stream has no usage
        # Priced by what served the call, as the response names it, at the response's own time.
        charge = self.meter.charge(model, priced, turn=self.turn, duration_s=duration,
                                   at=reply.served_at if reply is not None else None,
                                   served_model=reply.model if reply is not None else "")
        cost = charge.cost
        diag = self.tracker.record(rendered, messages, reply.as_message() if reply is not None else None,
                                   billed_hit=usage.cache_hit if usage else None,
                                   billed_prompt=usage.prompt_tokens if usage else None)
        self.context_tokens = priced.prompt_tokens + priced.output_tokens
        self._pending_tokens = 0
        self._scale = provider_scale(usage.prompt_tokens if usage else None, rendered.prompt_tokens, self._scale)
        self._last_output = max(256, priced.output_tokens)
        self.writer.write(CallRecord.of(
            kind=kind, turn=self.turn, model=model, usage=priced, usage_known=usage is not None, cost=cost,
            duration_s=duration, finish_reason=reply.finish_reason if reply is not None else "cancelled",
            diag=diag.to_json(),
        ))
        self.meter.log(charge)  # after the session record: the ledger never holds a call the session lacks
        self._emit(CallDone(kind, self.turn, usage, cost, diag, self.meter.spent_usd, self.context_tokens,
                            duration))
        return reply

    def _on_delta(self, delta: Delta) -> None:
        if isinstance(delta, StreamRestart):
            self._cut_attempt(delta)
            return
        self._emit(Streamed(delta))

    def _cut_attempt(self, restart: StreamRestart) -> None:
        """A stream cut after part of its reply arrived: in the session and the ledger as a call (an estimate)."""
        if restart.partial is None:
            return
        kind, prompt_tokens, expected, started = self._calling
        usage = cut_usage(restart.partial, prompt_tokens=prompt_tokens, expected_hit=expected,
                                     tokenizer=self.tracker.tokenizer)
        model, duration = self.engine.settings.model, time.monotonic() - started
        charge = self.meter.charge(model, usage, turn=self.turn, duration_s=duration,
                                   served_model=restart.partial.model)
        self.writer.write(CallRecord.of(kind=kind, turn=self.turn, model=model, usage=usage,
                                        usage_known=not usage.estimated, cost=charge.cost, duration_s=duration,
                                        finish_reason="cut", diag={}))
        self.meter.log(charge)  # after the session record, as every call
        self._calling = (kind, prompt_tokens, expected, time.monotonic())
        self._emit(StreamRestarted(self.turn, restart.detail, shown_chars(restart.partial), charge.cost,
                                   self.meter.spent_usd))

    # -- public ----------------------------------------------------------------------------------------------

    def prime(self) -> None:
        """Send the priming request: exactly the prefix that ends at the pack, so later sessions hit it."""
        self._call("prime", self.conversation.messages[:2])

    def close_dangling(self) -> None:
        """After an interrupted session: answer tool calls that never got a result (the API requires one)."""
        for call_id in self.conversation.dangling_tool_calls():
            self.append(tool_message(call_id, INTERRUPTED_TOOL_RESULT))

    def run(self) -> Outcome:
        """Call the engine and run tools until a stop condition; the end is saved to the session too."""
        try:
            self._backfill_ledger()
            outcome = self._loop()
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP inside core.signals.stop_on_signals
            outcome = self._outcome("interrupted", interrupt_reason(exc))
        except BudgetExceeded as exc:
            outcome = self._outcome("limit", str(exc))
        except ContextFull as exc:
            outcome = self._outcome("failed", f"{exc} ({exc.hint})" if exc.hint else str(exc))
        except EngineError as exc:
            reason = f"engine error: {exc}" + (f" ({exc.hint})" if exc.hint else "")
            outcome = self._outcome("failed", reason)
            outcome.engine_unreachable = isinstance(exc, EngineUnreachable)
        except OSError as exc:  # the session or the ledger cannot be written (a full disk): stop calling
            outcome = self._outcome("failed", f"cannot save the session or the cost ledger: "
                                              f"{_describe_os_error(exc)}; no further calls were made. Free space, "
                                              "then resume with --resume")
        try:
            totals = EndTotals(outcome.turns, outcome.spent_usd, outcome.tests_ok, tuple(outcome.changed_paths))
            self.writer.write(EndRecord(outcome.status, outcome.reason, outcome.summary, totals))
        except OSError as exc:
            outcome.reason += f" (the session's end was not saved: {_describe_os_error(exc)})"
        return outcome

    def _backfill_ledger(self) -> None:
        """Once per run of a session: calls it recorded that the ledger missed (a kill between the appends)."""
        if self._ledger_synced or self.meter.ledger is None:
            return
        self._ledger_synced = True
        backfill_ledger(self.meter.ledger, self.writer.path, session_id=self.writer.session_id,
                        engine=self.config.engine_name, table=self.table)

    def _outcome(self, status: Status, reason: str, summary: str = "") -> Outcome:
        return Outcome(status, reason, summary, self.turn, self.meter.spent_usd, self._tests_ok,
                       sorted(self._edited))

    def _loop(self) -> Outcome:
        calls_this_run = 0
        text_only = 0
        while True:
            if calls_this_run >= self.config.max_turns:
                return self._outcome("limit", f"--max-turns {self.config.max_turns} reached")
            self._maybe_compact()
            self.turn += 1
            calls_this_run += 1
            reply = self._call("turn", self.conversation.messages)
            assert reply is not None
            if reply.filtered:
                return self._outcome("failed", filtered_reason(reply))
            if reply.truncated:  # a cut tool call is never run
                ended = self._continue_after_cut(reply)
                if ended is not None:
                    return ended
                continue
            self._cuts = 0
            self.append(reply.as_message())
            if not reply.tool_calls:
                text_only, ended = self._after_text(reply.content, text_only)
            else:
                text_only, ended = 0, self._run_calls(reply)
            if ended is not None:
                return ended

    def _after_text(self, content: str, text_only: int) -> tuple[int, Outcome | None]:
        """A reply without tool calls: the chat's answer, a nudge, or (the second in a row) the end."""
        if self.config.text_ends_turn:
            return 0, None if self._go_on(content) else self._outcome("finished", "answered", content)
        text_only += 1
        if text_only < 2:
            self.append({"role": "user", "content": _NUDGE})
            return text_only, None
        if self._go_on(content):
            return 0, None
        return text_only, self._outcome("finished", "the model ended without calling finish", content)

    def _run_calls(self, reply: ChatReply) -> Outcome | None:
        """Run one reply's tool calls and append their results; the outcome when the run ends here."""
        finished: str | None = None
        stop: str | None = None
        if self.before_tools is not None:
            self.before_tools(reply.tool_calls, self.conversation.messages[:-1])  # the request just sent
        for call in reply.tool_calls:
            result = self._run_one(call.name, call.arguments)
            self.append(tool_message(call.id, self._fit_result(call.name, result.content)))
            if result.finished:
                finished = result.summary or result.content
            stop = stop or self._check_loop(call.name, call.arguments, result.ok)
        if any(runs_command(c.name) for c in reply.tool_calls):  # may change files the model did not edit
            self._append_delta()
        halted = self.gate.halted() if self.gate is not None else None
        if halted:
            return self._outcome("limit", f"a hook stopped the session: {halted}", finished or "")
        if finished is not None:
            return None if self._go_on(finished) else self._outcome("finished", "the model called finish", finished)
        return self._outcome("failed", stop) if stop is not None else None

    def _go_on(self, message: str) -> bool:
        """Ask the Stop hooks before ending; when one objects, its reason goes to the model and the run goes on."""
        reason = self.gate.stop(message, active=self._stop_active) if self.gate is not None else None
        self._stop_active = reason is not None
        if reason is None:
            return False
        self.append({"role": "user", "content": f"A Stop hook did not let you stop yet: {reason}"})
        self._emit(Notice(f"a Stop hook kept the session going: {reason}"))
        return True

    def _continue_after_cut(self, reply: ChatReply) -> Outcome | None:
        max_tokens = self.engine.settings.max_tokens
        self._cuts += 1
        cut = continue_after_cut(reply, max_tokens)
        self.append(cut.assistant)
        if self._cuts >= MAX_CUTS:
            return self._outcome("failed", too_many_cuts(self._cuts, max_tokens))
        self._emit(Notice(cut.notice))
        self.append(cut.request)
        return None

    def _run_one(self, name: str, arguments: str) -> ToolOutcome:
        self._emit(ToolStarted(self.turn, name, arguments))
        result = self.run_tool(name, arguments)
        if result.changed_paths:
            self._edited.update(result.changed_paths)
            self._tests_ok = None
        if name == "run_tests":
            self._tests_ok = result.ok
        self.writer.write(ToolRecord(self.turn, name, arguments, result.ok, tuple(result.changed_paths),
                                     result.finished, result.summary, result.diff))
        self._emit(ToolDone(self.turn, name, arguments, result))
        return result

    def _check_loop(self, name: str, arguments: str, ok: bool) -> str | None:
        key = (name, arguments)
        if ok:
            self._fail_key, self._fail_streak = None, 0
            return None
        self._fail_streak = self._fail_streak + 1 if key == self._fail_key else 1
        self._fail_key = key
        if self._fail_streak >= self.config.loop_limit:
            return f"loop detected: the same failing {name} call {self._fail_streak} times in a row"
        return None

    def _append_delta(self) -> None:
        """Tell the model about files changed behind its back (a shell command, a formatter run by tests)."""
        if self.snapshot is None:
            return
        block = self.snapshot.delta()
        paths = frozenset(block.paths) - self._edited
        if not block.text or not paths or paths <= self._reported_delta:
            return
        self._reported_delta = self._reported_delta | paths
        self.append(delta_message(block.text))
        self._pending_tokens += int(block.tokens)
        self._emit(Notice(f"appended the packer's delta block ({block.tokens} tokens, {len(block.paths)} files)"))

    # -- the window ------------------------------------------------------------------------------------------

    @property
    def window(self) -> Window:
        """The session's window as the limits stand now (``request.window``; ``request.budget`` states the rules)."""
        c = self.config
        return Window(self.tracker, self.tools, c.window, c.max_output, c.compact_margin, c.compact_min_gain,
                      self._scale)

    def _fit_result(self, name: str, content: str) -> str:
        """The tool result as it enters the conversation: capped by tokens, the cap shrinking as the context fills."""
        fitted, tokens = self.window.fit_result(content, self.context_tokens + self._pending_tokens,
                                                command=runs_command(name))
        self._pending_tokens += tokens
        return fitted

    def _maybe_compact(self) -> None:
        """Compact when the request about to be sent is past the limit (it is counted, not guessed)."""
        reason = self.window.compaction_reason(self.conversation.messages)
        if reason is not None:
            self.compact(reason)
        self.window.ensure_sendable(self.conversation.messages)

    def compact(self, reason: str) -> None:
        """Summarize the conversation so far and restart from [system, pack, task, summary] (also on demand)."""
        self._emit(Notice(f"compacting: {reason}"))
        window = self.window
        context_before = max(self.context_tokens, window.count(self.conversation.messages))
        done = compact_conversation(window, self.conversation, self.system_prompt, self.snapshot,
                                    lambda messages: self._call("compact", list(messages)))
        for notice in done.notices:
            self._emit(Notice(notice))
        self.snapshot, self.conversation = done.snapshot, done.conversation
        self.writer.write(ResetRecord("compaction", context_before))
        for index, message in enumerate(self.conversation.messages):
            self.writer.message(index, message)
        self.context_tokens = 0
        self._pending_tokens = 0


def _describe_os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"
