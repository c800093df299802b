"""Held jobs (``--when off-peak``): one JSON file per job under the user's state directory, written atomically.

A held job is only a recorded command line, the directory it ran from, the repository, when it may start,
and the quote the user was shown. ``v4agent queue run`` (from cron or a systemd timer) starts the due ones.
A job is claimed by renaming its file (``ID.json`` to ``ID.running``): a rename is atomic, so two runners
started together never run one job twice. Its end is written as ``ID.done``; ``cancel`` deletes a held job.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from v4agent.core.errors import ExitCode, V4AgentError
from v4agent.core.fsutil import atomic_write_text

__all__ = ["Job", "JobQueue", "QueueError", "queue_dir"]

_STATES = {".json": "held", ".running": "running", ".done": "done"}


class QueueError(V4AgentError, exit_code=ExitCode.USAGE):
    """A held job cannot be found, read or changed."""


def queue_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/v4agent/queue`` (or ``~/.local/state/v4agent/queue``): the user's, not a repository's."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".local" / "state")
    return Path(base) / "v4agent" / "queue"


@dataclass(frozen=True)
class Job:
    """One held job: what to run, where, from when, and what it was quoted."""

    id: str
    command: str  # "refactor" or "review"
    argv: tuple[str, ...]  # the v4agent arguments, --when left out
    cwd: str
    repo: str
    not_before: str  # ISO 8601, UTC: the off-peak window's start
    created: str
    quote: Mapping[str, Any] = field(default_factory=dict)
    state: str = "held"  # held, running, done (read from the file's name, not stored)
    exit_code: int | None = None
    finished: str = ""

    @property
    def due_at(self) -> datetime:
        """When the job may start."""
        return datetime.fromisoformat(self.not_before)

    def to_json(self) -> str:
        """The file's text (the state is the file's name)."""
        data = asdict(self)
        data.pop("state")
        data["argv"] = list(self.argv)
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _parse(path: Path, state: str) -> Job:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Job(id=str(raw["id"]), command=str(raw["command"]), argv=tuple(str(a) for a in raw["argv"]),
                   cwd=str(raw["cwd"]), repo=str(raw["repo"]), not_before=str(raw["not_before"]),
                   created=str(raw["created"]), quote=dict(raw.get("quote") or {}), state=state,
                   exit_code=raw.get("exit_code"), finished=str(raw.get("finished") or ""))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise QueueError(f"{path}: not a readable held job ({exc})",
                         hint="delete the file if it is not needed") from None


class JobQueue:
    """The held jobs of one user."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else queue_dir()

    def add(self, *, command: str, argv: Sequence[str], cwd: Path, repo: Path, not_before: datetime,
            quote: Mapping[str, Any], now: datetime | None = None) -> Job:
        """Record a held job durably; returns it."""
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        job = Job(id=f"{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}", command=command, argv=tuple(argv),
                  cwd=str(cwd), repo=str(repo), not_before=not_before.astimezone(UTC).isoformat(),
                  created=moment.isoformat(timespec="microseconds"), quote=dict(quote))
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.directory / f"{job.id}.json", job.to_json())
        return job

    def jobs(self) -> list[Job]:
        """Every job, held, running or done, oldest first; an unreadable file is skipped."""
        if not self.directory.is_dir():
            return []
        out: list[Job] = []
        for path in sorted(self.directory.iterdir()):
            state = _STATES.get(path.suffix)
            if state is None or path.name.startswith("."):
                continue
            try:
                out.append(_parse(path, state))
            except QueueError:
                continue
        # Two jobs held within one second share the id's time part: order by when each was made.
        return sorted(out, key=lambda job: (job.created, job.id))

    def find(self, prefix: str) -> Job:
        """The one job whose id starts with ``prefix``."""
        found = [job for job in self.jobs() if job.id.startswith(prefix)] if prefix else []
        if len(found) != 1:
            what = "no held job" if not found else f"{len(found)} jobs"
            raise QueueError(f"{what} matches {prefix!r}", hint="`v4agent queue list` shows the ids")
        return found[0]

    def cancel(self, prefix: str) -> Job:
        """Delete a held job (one already running or done cannot be cancelled)."""
        job = self.find(prefix)
        if job.state != "held":
            raise QueueError(f"job {job.id} is {job.state}: only a held job can be cancelled")
        try:
            (self.directory / f"{job.id}.json").unlink()
        except FileNotFoundError:
            raise QueueError(f"job {job.id} was started meanwhile") from None
        return job

    def due(self, now: datetime) -> list[Job]:
        """The held jobs whose window has started."""
        return [job for job in self.jobs() if job.state == "held" and job.due_at <= now]

    def claim(self, job: Job) -> bool:
        """Take a held job for running; False when another runner took it first (or it was cancelled)."""
        try:
            os.rename(self.directory / f"{job.id}.json", self.directory / f"{job.id}.running")
        except FileNotFoundError:
            return False
        return True

    def finish(self, job: Job, exit_code: int, now: datetime | None = None) -> Job:
        """Record a claimed job's end."""
        done = replace(job, state="done", exit_code=exit_code,
                       finished=(now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"))
        atomic_write_text(self.directory / f"{job.id}.done", done.to_json())
        (self.directory / f"{job.id}.running").unlink(missing_ok=True)
        return done
