"""Running a run's attempts side by side: their worktrees, engines and threads, the shared stop flag, cleanup.

Checkouts run in threads of their own (beside the priming call); each attempt waits for its worktree, runs its
session, and leaves its diff beside the manifest. Ctrl-C or SIGTERM in the main thread sets the stop flag, which
every attempt checks at each streamed piece and tool call: each then ends as an interrupted session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

from v4agent.agent.engine_choice import open_remote_engine
from v4agent.agent.loop import Outcome
from v4agent.agent.sessions.records import EndRecord
from v4agent.agent.setup import RunSetup
from v4agent.core.git import run_git
from v4agent.engine.client import RemoteEngine
from v4agent.engine.limiter import ConcurrencyLimiter
from v4agent.refactor.attempts.manifest import AttemptResult, GroupRecord
from v4agent.refactor.attempts.one import Attempt, finish_attempt
from v4agent.refactor.attempts.plan import AttemptSpec
from v4agent.refactor.attempts.stream import AttemptStream
from v4agent.refactor.attempts.worktrees import add_worktree, discard_worktree, group_dir
from v4agent.ui.console import stderr


def say(line: str) -> None:
    """A progress line on stderr."""
    stderr.print(line, markup=False, highlight=False)


class FanOut:
    """The attempts of one run: worktrees, engines, threads, and the stop flag they share."""

    def __init__(self, run: RunSetup, group: str, start_tree: str, start_commit: str,
                 limiter: ConcurrencyLimiter, *, trusted: bool = False) -> None:
        self.run_setup, self.group, self.start_tree, self.start_commit = run, group, start_tree, start_commit
        self.trusted = trusted  # the repository's hooks and MCP servers load in each worktree only when trusted
        self.limiter = limiter
        self.stop = threading.Event()
        self.worktrees: list[Path] = []
        self.engines: list[RemoteEngine] = []
        self._lock = threading.Lock()
        self._made: dict[int, Future[None]] = {}

    def worktree(self, number: int) -> Path:
        """Where attempt ``number``'s worktree goes."""
        return group_dir(self.run_setup.root, self.group) / str(number)

    def engine(self, spec: AttemptSpec) -> RemoteEngine:
        """The run's engine for attempt 1; for the others, the same settings at their own temperature."""
        main = self.run_setup.engine
        if spec.temperature is None or type(main) is not RemoteEngine:
            engine = main  # a local engine is one server: every attempt shares it
        else:
            engine = open_remote_engine(self.run_setup.config, overrides={"temperature": spec.temperature})
            self.engines.append(engine)
        engine.limiter = self.limiter
        return engine

    def _checkout(self, number: int, diff_file: Path | None) -> None:
        kept = self.worktree(number)
        if (kept / ".git").is_file() and (diff_file is None or not diff_file.is_file()):
            with self._lock:  # a run killed outright left its worktree, the work in it: resume there
                self.worktrees.append(kept)
            return
        path = add_worktree(self.run_setup.root, self.group, number, self.start_commit)
        with self._lock:
            self.worktrees.append(path)
        if diff_file is not None and diff_file.is_file() and diff_file.stat().st_size:
            run_git(path, "apply", "--binary", "--whitespace=nowarn", str(diff_file))  # the work kept so far

    def start_checkouts(self, numbers: list[int], diffs: dict[int, Path] | None = None) -> None:
        """Check the worktrees out in threads (with each one's kept diff applied, on resume)."""
        pool = ThreadPoolExecutor(max_workers=min(4, max(1, len(numbers))), thread_name_prefix="checkout")
        self._made = {n: pool.submit(self._checkout, n, (diffs or {}).get(n)) for n in numbers}
        pool.shutdown(wait=False)

    def wait_checkouts(self) -> None:
        """Wait until every checkout is done (a checkout still running would leave a worktree behind)."""
        wait(list(self._made.values()))

    def drive(self, record: GroupRecord, attempts: list[Attempt], parallel: int,
              start: Callable[[Attempt], Outcome], stream: AttemptStream | None = None) -> GroupRecord:
        """Run ``start`` for every attempt, at most ``parallel`` at once; the record with their results."""
        root = self.run_setup.root
        results: dict[int, AttemptResult] = {}

        def work(attempt: Attempt) -> None:
            self._made[attempt.spec.number].result()  # its worktree, checked out meanwhile
            if self.stop.is_set():
                outcome = Outcome("interrupted", "stopped before it started; resume with `v4agent attempts resume`",
                                  "", attempt.agent.turn, attempt.agent.meter.spent_usd, None, [])
                attempt.writer.write(EndRecord(outcome.status, outcome.reason, ""))
            else:
                try:
                    attempt.open_extensions(trusted=self.trusted, say=say)
                    outcome = start(attempt)
                finally:
                    attempt.close_extensions()
            diff_file = group_dir(root, self.group) / f"{attempt.spec.number}.diff"
            result = finish_attempt(attempt, outcome, self.start_tree, diff_file, run_tests=not self.stop.is_set())
            with self._lock:
                results[attempt.spec.number] = result
            say(f"attempt {attempt.spec.number}: {result.status}, tests {result.tests}, ${result.cost_usd:.4f}")
            if stream is not None:
                stream.attempt_end(result)

        interrupted = False
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="attempt") as pool:
            pending: set[Future[None]] = {pool.submit(work, a) for a in attempts}
            while pending:
                try:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                except Exception:
                    self.stop.set()  # an attempt's machinery failed (not its model): stop the others, then say so
                    raise
                except KeyboardInterrupt:
                    interrupted = True
                    self.stop.set()
                    say("stopping every attempt…")
        for _number, result in sorted(results.items()):
            record = record.with_attempt(result)
        return replace(record, status="interrupted" if interrupted else "done")

    def cleanup(self, *, keep: bool) -> None:
        """Remove the worktrees (unless kept) and close the engines opened for the attempts."""
        self.wait_checkouts()
        for engine in self.engines:
            engine.close()
        if keep:
            say(f"worktrees kept under {group_dir(self.run_setup.root, self.group)}")
            return
        for path in self.worktrees:
            discard_worktree(self.run_setup.root, path)
