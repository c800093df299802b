"""Kill soak: SIGKILL `v4agent refactor` at random points of a scripted session against the stand-in, then check.

    python bench/soak_kill.py [--kills 200] [--seed 1] [--undo-every 1] [--finish-every 10]

A scripted model writes, edits and deletes a few files over a dozen turns. Each run (the first fresh, the rest
``--resume`` of the same session) is killed with SIGKILL (its whole process group: git children included) at a
random point: one kill in five in start-up, the rest after the run's first model call, spread over the rest of an
unkilled run (stretched by how much slower this run's start-up was than the calibration run's, so a loaded
machine does not push every kill into start-up). Kills land in start-up, packing, model calls, file writes, and
the session and ledger appends alike. After each kill:

- **torn**: a file the script writes holds something other than one of the versions the script gave it;
- **stray**: an untracked file that is not one of the script's (a temp file of an atomic write); counted right
  after the kill, and again after the next run that got past start-up (which sweeps stale ones);
- **ledger**: a torn ledger line, a call in the ledger twice, or a ledger call the session lacks; a session call
  not in the ledger is counted right after a kill (the two appends are not one step), and is a failure after a
  full run (a resumed run appends what a kill between them left out);
- **resume**: the next run is a ``--resume`` of the session; one that fails on its own (not killed) counts;
- **undo**: every ``--undo-every`` kills, ``v4agent undo --dry-run`` must plan to put back everything the
  session did (nothing left alone); at each session's end ``v4agent undo`` must leave the starting commit
  exactly (no change, no untracked file).

Every ``--finish-every`` kills the session is resumed to its end without a kill, checked the same way, undone in
place, and a fresh session starts. A session killed before its first messages were saved is counted apart
(``unstarted``: nothing ran, and it is not resumable). Prints the counts; exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from v4agent.accounting.ledger import Ledger  # noqa: E402
from v4agent.agent.sessions.store import read_session  # noqa: E402
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn  # noqa: E402

STEPS = 12
FILES = 3
LINES = 1_500
START_FILES = {"README.md": "soak\n", "f0.txt": "original f0\n"}


def version(step: int) -> str:
    """What the script's write at ``step`` puts in its file."""
    return f"HEAD {step}\n" + "".join(f"step {step} line {n}: some text to write\n" for n in range(LINES))


def _target(step: int) -> str:
    return f"f{step % FILES}.txt"


def allowed_contents() -> dict[str, set[str | None]]:
    """Every content each scripted file may have at any moment (None: absent)."""
    allowed: dict[str, set[str | None]] = {_target(s): {None} for s in range(STEPS)}
    allowed["f0.txt"].add(START_FILES["f0.txt"])
    for step in range(STEPS):
        allowed[_target(step)].add(version(step))
        allowed[_target(step)].add(version(step).replace(f"HEAD {step}\n", f"HEAD {step} edited\n", 1))
    return allowed


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def script(body: dict[str, Any]) -> ScriptedReply:
    """The scripted model: step N is decided by how many assistant turns the conversation already holds."""
    step = sum(1 for m in body["messages"] if m["role"] == "assistant")
    if step >= STEPS:
        return ScriptedReply(tool_calls=[_call("finish", summary="soak session done")])
    kind = step % 4
    if kind == 2:  # edit what the step before wrote (a tool error if that write never landed)
        return ScriptedReply(tool_calls=[_call("edit_file", path=_target(step - 1), old_text=f"HEAD {step - 1}\n",
                                               new_text=f"HEAD {step - 1} edited\n")])
    if kind == 3 and step % 8 == 7:
        return ScriptedReply(tool_calls=[_call("delete_file", path=_target(step - 2))])
    return ScriptedReply(tool_calls=[_call("write_file", path=_target(step), content=version(step))])


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def make_repo(root: Path) -> str:
    """A git repository holding ``START_FILES`` in one commit; returns the commit."""
    root.mkdir(parents=True)
    for rel, text in START_FILES.items():
        (root / rel).write_text(text)
    git = ["-c", "user.email=s@example.com", "-c", "user.name=Soak", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    _git(root, "add", "-A")
    _git(root, *git, "commit", "-q", "-m", "start")
    return _git(root, "rev-parse", "HEAD").strip()


@dataclass
class Counts:
    """What the soak saw."""

    kills: int = 0
    kills_in_session: int = 0  # the killed run was resuming, or had made its session: past start-up
    unstarted: int = 0  # sessions killed before their first three messages were saved (not resumable)
    ran_to_end: int = 0
    sessions: int = 0
    torn: int = 0
    stray_after_kill: int = 0
    stray_after_start: int = 0
    ledger_torn: int = 0
    ledger_twice: int = 0
    ledger_not_in_session: int = 0
    session_not_in_ledger: int = 0  # right after a kill: killed between the session's and the ledger's append
    ledger_missing_after_run: int = 0
    session_damaged: int = 0
    resume_failed: int = 0
    undo_checked: int = 0
    undo_unclean: int = 0  # sessions
    problems: list[str] = field(default_factory=list)
    missing: set[tuple[str, int, int, int]] = field(default_factory=set)

    @property
    def failures(self) -> int:
        """Checks that must never fail (``session_not_in_ledger`` and ``stray_after_kill`` are figures)."""
        return (self.torn + self.stray_after_start + self.ledger_torn + self.ledger_twice
                + self.ledger_not_in_session + self.ledger_missing_after_run + self.session_damaged
                + self.resume_failed + self.undo_unclean)


class Soak:
    """One repository, one stand-in, and the runs killed in it."""

    def __init__(self, workdir: Path, *, seed: int, env: dict[str, str] | None = None,
                 say: Callable[[str], None] = print) -> None:
        self.workdir = workdir
        self.root = workdir / "repo"
        self.start_commit = make_repo(self.root)
        self.rng = random.Random(seed)
        self.counts = Counts()
        self.say = say
        self.allowed = allowed_contents()
        self.env = {**os.environ, **(env or {}), "DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off",
                    "PYTHONPATH": str(REPO), "COLUMNS": "160"}
        self.session_id: str | None = None
        self.done: set[str] = set()  # sessions run to their end and undone
        self.unclean: set[str] = set()  # sessions whose undo would leave something (counted once each)
        self.server = StandIn(handler=script)
        self.run_seconds = 10.0
        self.first_call_s = 0.0  # start-up (imports, git, packing) before the first model call
        self.log = workdir / "run.log"

    # -- runs --------------------------------------------------------------------------------------------------

    def _command(self) -> list[str]:
        base = [sys.executable, "-m", "v4agent", "refactor", str(self.root)]
        tail = ["--base-url", self.server.base_url, "--yes", "--prime", "never", "--json"]
        if self.session_id is None:
            return [*base, "write, edit and delete the soak files", *tail]
        return [*base, "--resume", self.session_id, *tail]

    def _start(self) -> subprocess.Popen[bytes]:
        # stderr to a file: a pipe nobody reads until the end would fill up and stall the run.
        with self.log.open("wb") as log:
            return subprocess.Popen(self._command(), cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-800:]

    def run_to_end(self, *, calibrate: bool = False) -> int:
        """One run without a kill; returns its exit status (the session id is picked up). ``calibrate``: take
        its timings as those the kills are spread over."""
        started, calls = time.monotonic(), len(self.server.calls)
        proc = self._start()
        while len(self.server.calls) == calls and proc.poll() is None:
            time.sleep(0.01)
        first_call = time.monotonic() - started
        proc.wait(timeout=600)
        if calibrate:
            self.first_call_s, self.run_seconds = first_call, max(2.0, time.monotonic() - started)
        self._pick_session()
        if proc.returncode != 0:
            self.counts.problems.append(f"run to the end: rc {proc.returncode}: {self._log_tail()}")
        return proc.returncode

    def kill_once(self) -> None:
        """One run killed after a random delay, then the checks."""
        resuming = self.session_id is not None
        calls = len(self.server.calls)
        proc = self._start()
        started = time.monotonic()
        if self.rng.random() < 0.2:  # a kill in start-up (discovery, packing, session creation)
            deadline = started + self.rng.uniform(0.0, self.first_call_s * 1.05)
        else:
            # Most kills land after start-up, where files, the session and the ledger are written. Start-up is
            # slower on a loaded machine than in the calibration run, so wait for this run's first model call
            # and spread the kill over the rest of the run, stretched by the same slowdown.
            while len(self.server.calls) == calls and proc.poll() is None and time.monotonic() - started < 600:
                time.sleep(0.01)
            slowdown = max(1.0, (time.monotonic() - started) / max(self.first_call_s, 0.05))
            rest = max(self.run_seconds - self.first_call_s, 0.5) * slowdown
            deadline = time.monotonic() + self.rng.uniform(0.0, rest * 1.05)
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            finished = True
        except subprocess.TimeoutExpired:
            finished = False
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.counts.kills += not finished
        self._pick_session()
        self.counts.kills_in_session += not finished and self.session_id is not None
        self.check(after_kill=not finished)
        if finished:  # the session's end came before the kill: check it like a finished one, start afresh
            self.counts.ran_to_end += 1
            if proc.returncode != 0:
                self.counts.resume_failed += resuming
                self.counts.problems.append(f"a run ended by itself with rc {proc.returncode}: {self._log_tail()}")
            self.undo_in_place()
            self._close_session()

    def _pick_session(self) -> None:
        directory = self.root / ".v4agent" / "sessions"
        sessions = sorted(p.stem for p in directory.glob("*.jsonl"))
        fresh = [sid for sid in sessions if sid not in self.done]
        self.session_id = fresh[-1] if fresh else None
        if self.session_id is not None and len(read_session(directory / f"{self.session_id}.jsonl").messages) < 3:
            # Killed before its first messages were saved: nothing ran, and refactor refuses to resume it
            # ("no start state"); the next run starts a new session.
            self.counts.unstarted += 1
            self.done.add(self.session_id)
            self.session_id = None

    def _close_session(self) -> None:
        if self.session_id is not None:
            self.done.add(self.session_id)
            self.counts.sessions += 1
        self.session_id = None

    # -- checks ------------------------------------------------------------------------------------------------

    def _untracked(self) -> list[str]:
        return [p for p in _git(self.root, "ls-files", "--others", "--exclude-standard", "-z").split("\0") if p]

    def check(self, *, after_kill: bool) -> None:
        """Files whole, no stray file, ledger and session consistent."""
        for rel, allowed in self.allowed.items():
            path = self.root / rel
            content = path.read_text() if path.exists() else None
            if content not in allowed:
                self.counts.torn += 1
                self.counts.problems.append(f"{rel} torn: {len(content or '')} chars")
        strays = [p for p in self._untracked() if p not in self.allowed]
        if strays:
            if after_kill:
                self.counts.stray_after_kill += len(strays)
            else:
                self.counts.stray_after_start += len(strays)
                self.counts.problems.append(f"stray files after a full run: {strays}")
        self._check_ledger(after_kill)

    def _check_ledger(self, after_kill: bool) -> None:
        result = Ledger(self.root).read_all()
        self.counts.ledger_torn += result.skipped
        if self.session_id is None:
            return
        session = read_session(self.root / ".v4agent" / "sessions" / f"{self.session_id}.jsonl")
        if session.damaged:
            self.counts.session_damaged += 1
            self.counts.problems.append(f"session damaged: {session.damaged}")
        in_session = Counter((c.turn, c.prompt_tokens, c.output_tokens) for c in session.calls)
        in_ledger = Counter((r.turn, r.prompt_tokens, r.output_tokens) for r in result.records
                            if r.session_id == self.session_id)
        twice = sum(n - 1 for n in in_ledger.values() if n > 1)
        strange = sum(1 for key in in_ledger if key not in in_session)
        self.counts.ledger_twice += twice
        self.counts.ledger_not_in_session += strange
        if twice or strange:
            self.counts.problems.append(f"ledger of {self.session_id}: {twice} twice, {strange} not in the session")
        missing = {(self.session_id, *key) for key in in_session if key not in in_ledger}
        if after_kill:
            self.counts.missing.update(missing)
            self.counts.session_not_in_ledger = len(self.counts.missing)
        elif missing:
            self.counts.ledger_missing_after_run += len(missing)
            self.counts.problems.append(f"after a full run the ledger lacks {sorted(missing)}")

    def _undo(self, *flags: str) -> subprocess.CompletedProcess[str]:
        assert self.session_id is not None
        return subprocess.run([sys.executable, "-m", "v4agent", "undo", str(self.root), "--session", self.session_id,
                               "--yes", *flags], env=self.env, capture_output=True, text=True, timeout=300)

    def check_undo_plan(self) -> None:
        """``v4agent undo --dry-run`` of the session (killed or not) would put back everything it did."""
        if self.session_id is None:
            return
        done = self._undo("--dry-run")
        self.counts.undo_checked += 1
        out = done.stdout + done.stderr
        if done.returncode != 0 or "left alone" in out or "  cannot " in out:
            self._unclean(f"undo --dry-run: rc {done.returncode}: {out[-600:]}")

    def _unclean(self, problem: str) -> None:
        assert self.session_id is not None
        if self.session_id not in self.unclean:
            self.unclean.add(self.session_id)
            self.counts.undo_unclean += 1
            self.counts.problems.append(problem)

    def undo_in_place(self) -> None:
        """``v4agent undo`` of a finished session restores the starting commit exactly."""
        if self.session_id is None:
            return
        self.check_undo_plan()
        done = self._undo()
        status = _git(self.root, "status", "--porcelain", "--untracked-files=all")
        head = _git(self.root, "rev-parse", "HEAD").strip()
        if done.returncode != 0 or status.strip() or head != self.start_commit:
            self._unclean(f"undo: rc {done.returncode}, status {status!r}, head {head[:12]}: "
                          f"{(done.stdout + done.stderr)[-400:]}")
            # Back to the start by hand, so the next session is not refused for a dirty tree.
            _git(self.root, "reset", "-q", "--hard", self.start_commit)
            _git(self.root, "clean", "-q", "-fd", "-e", ".v4agent")

    def finish_session(self) -> None:
        """Resume the session to its end without a kill, check it, undo it in place; the next session is fresh."""
        if self.session_id is not None:
            rc = self.run_to_end()
            self.counts.resume_failed += rc != 0
            self.check(after_kill=False)
            self.undo_in_place()
        self._close_session()


def soak(workdir: Path, *, kills: int, seed: int, undo_every: int, finish_every: int,
         say: Callable[[str], None] = print) -> Counts:
    """Run the soak in ``workdir``; returns the counts."""
    runner = Soak(workdir, seed=seed, say=say)
    with runner.server:
        httpd = runner.server._httpd  # a client killed mid-reply is the point here, not an error to print
        if httpd is not None:
            httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        runner.run_to_end(calibrate=True)  # calibration: how long an unkilled run takes, so the kills spread over it
        runner.check(after_kill=False)
        runner.undo_in_place()
        runner._close_session()
        say(f"an unkilled run takes {runner.run_seconds:.1f}s ({runner.first_call_s:.1f}s before its first call); "
            "killing at random points of it")
        checked = finished = 0  # the kill counts the last undo check and the last finished session were at
        while runner.counts.kills < kills:
            runner.kill_once()
            count = runner.counts.kills
            if count and count % undo_every == 0 and count != checked:
                checked = count
                runner.check_undo_plan()
            if count and (count % finish_every == 0 or count >= kills) and count != finished:
                finished = count
                runner.finish_session()
                c = runner.counts  # the running figures, so a soak stopped early still reports them
                say(f"{count} kills, {c.kills_in_session} in a session, {c.sessions} sessions, "
                    f"{c.undo_checked} undo checks, {c.undo_unclean} undo unclean, {c.failures} failed checks")
    return runner.counts


def main() -> int:
    """Parse arguments, run the soak, print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--undo-every", type=int, default=1)
    parser.add_argument("--finish-every", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="v4agent-soak-") as tmp:
        os.environ["HOME"] = tmp  # no user configuration, keys or trust store
        started = time.monotonic()
        counts = soak(Path(tmp), kills=args.kills, seed=args.seed, undo_every=args.undo_every,
                      finish_every=args.finish_every)
    shown = {k: v for k, v in vars(counts).items() if k not in ("problems", "missing")}
    print(json.dumps({**shown, "failures": counts.failures, "seconds": round(time.monotonic() - started)}, indent=2))
    for problem in counts.problems[:20]:
        print("problem:", problem)
    return 1 if counts.failures else 0


if __name__ == "__main__":
    sys.exit(main())
