"""Which paths the file tools may use, and the refusal message when they may not.

Every tool: no lexical ``..`` escape, no absolute path outside the repository, nothing inside ``.git/`` (in
any letter case), no file the packer treats as a secret.

Tools that write (edit_file, write_file, delete_file) also never touch ``.v4agent/`` (sessions, ledger,
cache), ``.v4agent.toml`` (the project's configuration: ``approve = "yes"`` written there would carry into the
next session) or the user's own v4agent configuration directory, whatever the repository's location.

Links. A symbolic link is never followed, at any component, wherever it points (inside the repository too):
one that stays inside can be swapped for one that leaves between a check and a use. A tool given a link is
refused with the link's target, so the model can use that path instead. A hard link may share its inode with
a file outside the repository: tools never write or delete a file with more than one link, and read one only
when git tracks it at that path (a checkout never makes a hard link; someone on this machine did).

The rules on names are checked here; the ones on what is on disk are checked on the file actually opened
(``safeopen``: by fd, no link followed), so a swap between the check and the use cannot get past them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from v4agent.core.config import PROJECT_CONFIG_NAME, user_config_path
from v4agent.core.errors import V4AgentError
from v4agent.core.git import GitError, run_git
from v4agent.core.pathtext import display_path
from v4agent.core.state import STATE_DIR_NAME
from v4agent.core.trust import TRUST_FILES
from v4agent.secrets.scan import is_secret_path
from v4agent.tools.safeopen import LinkInPath, NotADir, open_dir, read_at, stat_at

__all__ = ["PathRefused", "RepoPath", "check_links", "is_refused_rel", "is_tracked", "parent_dir", "read_entry",
           "refuse_link", "resolve_repo_path"]


class PathRefused(V4AgentError, ValueError):
    """The path is outside the repository, inside ``.git/``, a secret, a link, protected, or malformed."""


@dataclass(frozen=True)
class RepoPath:
    """A path accepted inside the repository: the resolved root, the path relative to it, and both joined."""

    abs: Path  # root / rel; no link on the way (links are refused, not resolved)
    rel: str  # POSIX path relative to the resolved repository root; "." for the root itself
    root: Path

    @property
    def shown(self) -> str:
        """``rel`` as a tool result prints it: on one line, control characters escaped."""
        return display_path(self.rel)

    @property
    def parent(self) -> str:
        """The directory part of ``rel`` ("." at the top)."""
        return posixpath.dirname(self.rel) or "."

    @property
    def name(self) -> str:
        """The last component of ``rel``."""
        return posixpath.basename(self.rel)


def _lexical_rel(root: Path, raw: str) -> str:
    text = raw.strip().replace("\\", "/")
    if os.path.isabs(text):
        absolute = posixpath.normpath(text)
        root_text = root.as_posix()
        if absolute == root_text:
            return "."
        if not absolute.startswith(root_text.rstrip("/") + "/"):
            raise PathRefused(f"{raw!r} is an absolute path outside the repository; use a path relative to it")
        text = absolute[len(root_text.rstrip("/")) + 1 :]
    rel = posixpath.normpath(text) if text else "."
    if rel == ".." or rel.startswith("../"):
        raise PathRefused(f"{raw!r} leads outside the repository ('..' escapes are refused)")
    return rel


def _folded(part: str) -> str:
    # Case-insensitive file systems (macOS, Windows) open .GIT as .git, and Windows drops trailing dots and
    # spaces; git's own verify_path() treats such names as .git for the same reason.
    return part.rstrip(". ").casefold()


def is_refused_rel(rel: str) -> str | None:
    """Why a repository-relative path may not be used by any tool, or None when it may."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(_folded(p) == ".git" for p in parts):
        return f"{display_path(rel)!r} is inside .git/ (git internals are off limits)"
    if parts and is_secret_path(rel):
        return f"{display_path(rel)!r} is a secret file (keys, credentials, .env); tools do not read or write it"
    return None


def _write_refusal(root: Path, rel: str) -> str | None:
    parts = [_folded(p) for p in rel.split("/") if p not in ("", ".")]
    shown = display_path(rel)
    if parts and parts[0] == STATE_DIR_NAME:
        return f"{shown!r} is v4agent's own state (sessions, ledger, cache); tools do not change it"
    if parts == [PROJECT_CONFIG_NAME]:
        return (f"{shown!r} is the project's v4agent configuration; tools do not change it (the user edits it "
                "by hand)")
    if len(parts) == 1 and parts[0] in {_folded(name) for name in TRUST_FILES}:
        return f"{shown!r} names commands v4agent runs (MCP servers); tools do not change it (the user does)"
    config_dir = user_config_path().parent
    where = root / rel
    for protected in {config_dir, Path(os.path.realpath(config_dir))}:
        if where == protected or protected in where.parents:
            return f"{shown!r} is in the user's v4agent configuration directory; tools do not change it"
    return None


def resolve_repo_path(repo_root: Path, raw: str, *, allow_root: bool = False, writing: bool = False) -> RepoPath:
    """``raw`` as a path inside ``repo_root``, or :class:`PathRefused` with a clear reason.

    ``writing`` adds the protected paths of the tools that change files. A link on the way is refused here
    too (by ``lstat``, for the message); the tools that open the file check again on what they open.
    """
    if not isinstance(raw, str):
        raise PathRefused("path must be a string")
    if "\x00" in raw:
        raise PathRefused("path contains a NUL byte")
    root = Path(repo_root).resolve()
    # Compare against both the given and the resolved root so absolute paths under either are accepted.
    try:
        rel = _lexical_rel(root, raw)
    except PathRefused:
        given = Path(os.path.abspath(repo_root))
        if given == root:
            raise
        rel = _lexical_rel(given, raw)
    if rel == "." and not allow_root:
        raise PathRefused("path is empty or names the repository root; give a file path")
    reason = is_refused_rel(rel) or (_write_refusal(root, rel) if writing else None)
    if reason:
        raise PathRefused(reason)
    target = RepoPath(abs=root / rel if rel != "." else root, rel=rel, root=root)
    _refuse_links_on_the_way(target, raw)
    return target


def _refuse_links_on_the_way(target: RepoPath, raw: str) -> None:
    path = target.root
    for part in [p for p in target.rel.split("/") if p not in ("", ".")]:
        path = path / part
        try:
            info = path.lstat()
        except OSError:
            return  # missing: nothing further on can be a link
        if stat.S_ISLNK(info.st_mode):
            raise refuse_link(target, path.relative_to(target.root).as_posix(), raw)


def refuse_link(target: RepoPath, link_rel: str, raw: str) -> PathRefused:
    """The refusal for a path that is, or passes through, the symbolic link ``link_rel``: it names the target."""
    try:
        pointed = os.readlink(target.root / link_rel)  # for the message only: nothing is opened through it
    except OSError:
        pointed = ""
    where = posixpath.normpath(posixpath.join(posixpath.dirname(link_rel), pointed)) if pointed else ".."
    root_text = target.root.as_posix().rstrip("/") + "/"
    if where.startswith(root_text):  # an absolute link into the repository
        where = where[len(root_text):]
    through = "" if link_rel == target.rel else f" (it passes through the link {display_path(link_rel)!r})"
    if os.path.isabs(where) or where == ".." or where.startswith("../"):
        return PathRefused(f"{raw!r} is a symlink{through} that leads outside the repository; tools do not "
                           "follow links")
    return PathRefused(f"{raw!r} is a symlink{through} to {display_path(where)!r} inside the repository; tools "
                       "do not follow links: use that path")


def is_tracked(root: Path, rel: str) -> bool:
    """Whether git's index holds ``rel`` (a literal path, no pattern)."""
    try:
        out = run_git(root, "ls-files", "--cached", "-z", "--", f":(literal){rel}", ok=(0,), timeout=60)
    except (GitError, OSError):
        return False
    return os.fsencode(rel) in out.split(b"\0")


def check_links(target: RepoPath, info: os.stat_result, *, writing: bool) -> None:
    """Refuse a hard-linked file: always for a write or delete, for a read unless git tracks it."""
    if not stat.S_ISREG(info.st_mode) or info.st_nlink <= 1:
        return
    if writing:
        raise PathRefused(f"{target.shown!r} has {info.st_nlink} hard links (one may be a file outside the "
                          "repository); tools do not change a hard-linked file")
    if not is_tracked(target.root, target.rel):
        raise PathRefused(f"{target.shown!r} has {info.st_nlink} hard links and git does not track it (it may be "
                          "a file outside the repository); tools read a hard-linked file only when it is tracked")


@contextlib.contextmanager
def parent_dir(root_fd: int, target: RepoPath, raw: str, *, create: bool = False) -> Iterator[int | None]:
    """An fd of the directory holding ``target`` (opened with no link followed); None when it does not exist.

    ``create`` makes missing directories. A link on the way is refused with its target; a file where a
    directory should be, as not a directory.
    """
    fd: int | None = None
    try:
        fd = open_dir(root_fd, target.parent, create=create)
    except FileNotFoundError:
        if create:
            raise
    except LinkInPath as exc:
        raise refuse_link(target, exc.rel, raw) from None
    except NotADir as exc:
        raise PathRefused(f"{display_path(exc.rel)!r} is not a directory") from None
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def read_entry(dir_fd: int, target: RepoPath, raw: str, *, writing: bool) -> tuple[bytes, os.stat_result] | None:
    """The bytes and fstat of the target's file in its directory, or None when there is none.

    A link is refused with its target, a hard link by :func:`check_links` (on the file opened, so it cannot
    be raced); a directory raises IsADirectoryError, a FIFO or device OSError(EINVAL).
    """
    info = stat_at(dir_fd, target.name)
    if info is None:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise refuse_link(target, target.rel, raw)
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", target.rel)
    try:
        return read_at(dir_fd, target.name, lambda opened: check_links(target, opened, writing=writing))
    except LinkInPath:
        raise refuse_link(target, target.rel, raw) from None
    except FileNotFoundError:
        return None
