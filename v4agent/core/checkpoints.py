"""Per-file states in git's object store: what a session found and left, checkpoint refs, and putting a file back.

A file's state is its blob id and mode (``FileState``), or absence. Contents are hashed the way ``git add``
does (clean filters applied) and written to the repository's object database; a restore writes them back the
way a checkout does (smudge filters applied), so a state read and a state restored compare equal.

Each checkpoint is kept reachable by ``refs/v4agent/checkpoints/<session>/turn-<n>``, a ref that names a *tree*
(``found/`` and ``left/``, holding only the files that turn changed), not a commit: it is on no branch, ``git
log --all`` and ``git rev-list --all`` do not walk it, and ``git gc`` keeps every blob it names. Inspect one with
``git ls-tree -r refs/v4agent/checkpoints/<session>/turn-<n>``.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from v4agent.core.fsutil import atomic_write_bytes
from v4agent.core.git import GitError, run_git

__all__ = [
    "ABSENT", "CHECKPOINT_REFS", "UNKNOWN", "FileChange", "FileState", "UnsafePath", "blob_missing",
    "checkpoint_ref", "current_states", "diff_names", "durable_git_env", "restore_state", "safe_parent",
    "state_of_bytes", "tree_states", "unsafe_reason", "write_checkpoint",
]

CHECKPOINT_REFS = "refs/v4agent/checkpoints"
_MODES = frozenset({"100644", "100755", "120000"})
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_CHUNK = 400  # paths per git command line, well under any argument limit


class UnsafePath(ValueError):
    """A recorded path that undo will not touch: outside the repository, inside .git or .v4agent, or via a link."""


@dataclass(frozen=True)
class FileState:
    """A file as git stores it: blob id and mode; both empty when there is no file (``ABSENT``).

    ``mode`` is ``other`` for something no blob describes (a directory or a device where a file was),
    ``unsafe`` for a path reached through a linked directory, and ``unknown`` when the content was never
    recorded; none of them ever equals a recorded state.
    """

    sha: str = ""
    mode: str = ""

    @property
    def exists(self) -> bool:
        """Whether a file (or link) is there."""
        return bool(self.sha)

    @property
    def restorable(self) -> bool:
        """Whether this state can be written back: absence, or a blob with a file or link mode."""
        return (not self.sha and not self.mode) or (self.mode in _MODES and bool(_SHA.match(self.sha)))

    def to_json(self) -> str:
        """``"<mode> <sha>"``, or ``""`` for absence (the session file's compact form)."""
        return f"{self.mode} {self.sha}" if self.sha else ("" if not self.mode else self.mode)

    @classmethod
    def from_json(cls, raw: object) -> FileState:
        """The state from its compact form (anything unreadable becomes ``unknown``)."""
        if raw in ("", None):
            return ABSENT
        parts = str(raw).split()
        if len(parts) == 2 and parts[0] in _MODES and _SHA.match(parts[1]):
            return cls(parts[1], parts[0])
        return cls("", "other" if parts == ["other"] else "unknown")


ABSENT = FileState()
UNKNOWN = FileState("", "unknown")  # a found state nobody recorded: never restored


@dataclass(frozen=True)
class FileChange:
    """One file a session changed: the state it found (before its first change) and the state it left."""

    path: str
    found: FileState
    left: FileState

    def to_json(self) -> dict[str, str]:
        """``{"path", "found", "left"}`` as the checkpoint record stores it."""
        return {"path": self.path, "found": self.found.to_json(), "left": self.left.to_json()}

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> FileChange:
        """The change from its stored form."""
        return cls(str(raw["path"]), FileState.from_json(raw.get("found")), FileState.from_json(raw.get("left")))


def checkpoint_ref(session_id: str, turn: int) -> str:
    """The ref that keeps a turn's checkpoint (and so its blobs) alive."""
    return f"{CHECKPOINT_REFS}/{session_id}/turn-{turn}"


def unsafe_reason(rel: str) -> str:
    """Why undo must not touch ``rel`` ("" when it may): the check every recorded path goes through (pure)."""
    if not rel or rel.startswith("/") or "\\" in rel or "\0" in rel:
        return "not a relative path"
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "not a plain path inside the repository"
    if any(part.lower() == ".git" for part in parts) or parts[0] == ".v4agent":
        return "inside .git or .v4agent"
    return ""


def safe_parent(root: Path, rel: str) -> Path:
    """``root/rel`` after checking the path and that no existing directory on the way is a link."""
    why = unsafe_reason(rel)
    if why:
        raise UnsafePath(f"{rel!r}: {why}")
    here = root
    for part in rel.split("/")[:-1]:
        here = here / part
        try:
            mode = here.lstat().st_mode
        except FileNotFoundError:
            break  # created on restore, as a real directory
        if not stat.S_ISDIR(mode):
            raise UnsafePath(f"{rel!r}: {here.relative_to(root)} is a link or not a directory")
    return root / rel


def durable_git_env() -> dict[str, str]:
    """Git configuration, by environment, that fsyncs the objects and refs a command writes (git >= 2.36).

    An undo record names blobs: they must be on disk before the tool whose change they describe runs. Added
    after any ``GIT_CONFIG_COUNT`` entries the caller's environment already has.
    """
    try:
        first = max(0, int(os.environ.get("GIT_CONFIG_COUNT", "0")))
    except ValueError:
        first = 0
    pairs = (("core.fsync", "loose-object,reference"), ("core.fsyncMethod", "fsync"))
    env = {"GIT_CONFIG_COUNT": str(first + len(pairs))}
    for number, (key, value) in enumerate(pairs, first):
        env[f"GIT_CONFIG_KEY_{number}"] = key
        env[f"GIT_CONFIG_VALUE_{number}"] = value
    return env


def _hash_args(write: bool) -> tuple[str, ...]:
    return ("hash-object", "-w") if write else ("hash-object",)


def _hash_env(write: bool) -> dict[str, str] | None:
    return durable_git_env() if write else None


def _link_state(root: Path, path: Path, write: bool) -> FileState:
    """A symbolic link's state: the blob of its target text, as git stores a link."""
    with tempfile.TemporaryDirectory(prefix="v4agent-link-") as tmp:
        holder = Path(tmp) / "target"
        holder.write_bytes(os.fsencode(os.readlink(path)))
        sha = run_git(root, *_hash_args(write), "--no-filters", "--", str(holder), text=True,
                      env=_hash_env(write)).strip()
    return FileState(sha, "120000")


def current_states(root: Path, paths: Iterable[str], *, write: bool = False) -> dict[str, FileState]:
    """The states of ``paths`` in the working tree now (``write``: also store the contents as blobs)."""
    states: dict[str, FileState] = {}
    regular: list[tuple[str, str]] = []  # (path, mode)
    for rel in dict.fromkeys(paths):
        try:
            path = safe_parent(root, rel)
            info = path.lstat()
        except FileNotFoundError:
            states[rel] = ABSENT
            continue
        except UnsafePath:
            states[rel] = FileState("", "unsafe")  # never read, never written
            continue
        except OSError:
            states[rel] = FileState("", "other")
            continue
        if stat.S_ISLNK(info.st_mode):
            states[rel] = _link_state(root, path, write)
        elif stat.S_ISREG(info.st_mode):
            regular.append((rel, "100755" if info.st_mode & 0o100 else "100644"))
        else:
            states[rel] = FileState("", "other")
    for start in range(0, len(regular), _CHUNK):
        chunk = regular[start:start + _CHUNK]
        # Hashed by name from the root, so the path's attributes pick the clean filters, as `git add` does.
        shas = run_git(root, *_hash_args(write), "--", *(rel for rel, _ in chunk), text=True,
                       env=_hash_env(write)).split()
        for (rel, mode), sha in zip(chunk, shas, strict=True):
            states[rel] = FileState(sha, mode)
    return states


def tree_states(root: Path, tree: str, paths: Iterable[str]) -> dict[str, FileState]:
    """The states of ``paths`` in ``tree`` (absent where the tree has no file there)."""
    wanted = list(dict.fromkeys(paths))
    states = dict.fromkeys(wanted, ABSENT)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start:start + _CHUNK]
        out = run_git(root, "ls-tree", "-r", "-z", "--full-tree", tree, "--", *chunk, text=True)
        for entry in out.split("\0"):
            if not entry:
                continue
            meta, _, rel = entry.partition("\t")
            mode, _kind, sha = meta.split()
            if rel in states:
                states[rel] = FileState(sha, mode) if mode in _MODES else FileState("", "other")
    return states


def diff_names(root: Path, before: str, after: str) -> list[str]:
    """Paths whose content or mode differs between two trees."""
    out = run_git(root, "diff-tree", "-r", "-z", "--no-renames", "--name-only", before, after, text=True)
    return [p for p in out.split("\0") if p]


def write_checkpoint(root: Path, ref: str, changes: Sequence[FileChange]) -> str:
    """Keep ``changes`` reachable under ``ref`` as a tree {found/, left/}; returns that tree's id."""
    entries = [f"{state.mode},{state.sha},{side}/{change.path}" for change in changes
               for side, state in (("found", change.found), ("left", change.left))
               if state.exists and state.restorable]
    with tempfile.TemporaryDirectory(prefix="v4agent-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **durable_git_env()}
        run_git(root, "read-tree", "--empty", env=env)
        for start in range(0, len(entries), _CHUNK):
            args = [arg for entry in entries[start:start + _CHUNK] for arg in ("--cacheinfo", entry)]
            run_git(root, "update-index", "--add", *args, env=env)
        tree = run_git(root, "write-tree", env=env, text=True).strip()
    run_git(root, "update-ref", "-m", "v4agent checkpoint", ref, tree, env=durable_git_env())
    return tree


def state_of_bytes(root: Path, rel: str, data: bytes | None, mode: int) -> FileState:
    """The state ``rel`` will have holding ``data`` (None: absent), its blob stored (durably) as ``git add`` would."""
    if data is None:
        return ABSENT
    with tempfile.TemporaryDirectory(prefix="v4agent-blob-") as tmp:
        holder = Path(tmp) / "content"
        holder.write_bytes(data)
        # --path: the clean filters of the file's own path, as when current_states hashes it by name.
        sha = run_git(root, "hash-object", "-w", f"--path={rel}", "--", str(holder), text=True,
                      env=durable_git_env()).strip()
    return FileState(sha, "100755" if mode & 0o100 else "100644")


def restore_state(root: Path, rel: str, state: FileState) -> None:
    """Make ``rel`` hold ``state`` (absent: remove it). Raises ``UnsafePath`` or ``GitError`` and touches nothing."""
    path = safe_parent(root, rel)
    if not state.restorable:
        raise UnsafePath(f"{rel!r}: no recorded content to restore")
    data = b""
    if state.exists:
        args = ("cat-file", "blob", state.sha) if state.mode == "120000" else (
            "cat-file", "--filters", f"--path={rel}", state.sha)
        data = run_git(root, *args)  # read before anything is removed: a missing blob changes nothing
    if path.is_symlink() or path.is_file():
        if not state.exists or state.mode == "120000":
            path.unlink()
    elif path.exists():
        raise UnsafePath(f"{rel!r} is now a directory or a special file")
    if not state.exists:
        return
    if state.mode == "120000":
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.fsdecode(data), path)
        return
    atomic_write_bytes(path, data, mode=0o755 if state.mode == "100755" else 0o644)


def blob_missing(root: Path, state: FileState) -> bool:
    """Whether the object store lacks the blob ``state`` names (a gc after its ref was deleted)."""
    if not state.exists:
        return False
    try:
        run_git(root, "cat-file", "-e", state.sha)
    except GitError:
        return True
    return False
