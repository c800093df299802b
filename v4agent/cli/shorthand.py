"""The command line a person types, turned into the one the commands parse.

- bare ``v4agent`` inside a git repository starts ``chat`` there (as ``claude`` and ``aider`` do);
- ``v4agent "fix the failing test"`` (words, not a command or a directory) is ``refactor . "..."``; a single
  unknown word is answered with the command it resembles, or the exact command to run it as a task;
- ``--resume`` with no id after it (the end of the line, another option, or a directory) resumes the latest
  session: it becomes ``--resume=:latest``, which ``options.resume_id`` reads;
- ``sessions DIR`` is ``sessions -C DIR``: the repository comes first, as in every other command.

Pure: ``expand`` returns the new argument list or raises ``UsageError``; the entry point prints it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path

from v4agent.cli.options import LATEST
from v4agent.core.errors import UsageError

__all__ = ["expand", "in_git_repository"]

_RESUMING = ("chat", "refactor")
_SESSIONS_SUBCOMMANDS = ("show", "prune")


def in_git_repository(start: Path) -> bool:
    """Whether ``start`` or a directory above it holds ``.git`` (a directory, or a worktree's file)."""
    here = start.resolve()
    return any((d / ".git").exists() for d in (here, *here.parents))


def _command_index(args: Sequence[str]) -> int | None:
    """The position of the first word that is not an option (the command), if any."""
    for i, word in enumerate(args):
        if not word.startswith("-"):
            return i
        if word == "--":
            return i + 1 if i + 1 < len(args) else None
    return None


def _resume(args: list[str], start: int, is_dir: Callable[[str], bool]) -> list[str]:
    out = args[:start]
    for i in range(start, len(args)):
        word = args[i]
        if word == "--resume":
            following = args[i + 1] if i + 1 < len(args) else None
            if following is None or following.startswith("-") or is_dir(following):
                word = f"--resume={LATEST}"
        out.append(word)
    return out


def _unknown(word: str, rest: list[str], commands: Sequence[str], is_dir: Callable[[str], bool]) -> list[str]:
    if is_dir(word):
        raise UsageError(f"{word!r} is a directory, not a command",
                         hint=f"to chat about it: v4agent chat {word}; to change it: v4agent refactor {word} \"TASK\"")
    if any(c.isspace() for c in word.strip()):
        return ["refactor", ".", word, *rest]
    close = difflib.get_close_matches(word, commands, n=1, cutoff=0.6)
    if close:
        raise UsageError(f"no command {word!r}", hint=f"did you mean `v4agent {close[0]}`? (`v4agent -h` lists them)")
    raise UsageError(f"no command {word!r}",
                     hint=f"to ask the agent to do it: v4agent refactor . {word!r}; `v4agent -h` lists the commands")


def expand(args: Sequence[str], commands: Sequence[str], *, cwd: Path | None = None,
           is_dir: Callable[[str], bool] | None = None) -> list[str]:
    """The argument list the typer app parses (see the module docstring)."""
    here = cwd or Path.cwd()
    check = is_dir or (lambda p: (here / p).is_dir())
    words = list(args)
    if not commands:  # an app without named commands (a single-command app): nothing to expand
        return words
    if not words:
        return ["chat", "."] if in_git_repository(here) else ["--help"]
    at = _command_index(words)
    if at is None or at >= len(words):
        return words
    command = words[at]
    if command not in commands:
        if at != 0:  # options before an unknown word: leave it to the parser's own error
            return words
        return _unknown(command, words[1:], commands, check)
    if command in _RESUMING:
        words = _resume(words, at + 1, check)
    if command == "sessions" and at + 1 < len(words):
        following = words[at + 1]
        if not following.startswith("-") and following not in _SESSIONS_SUBCOMMANDS:
            words[at + 1:at + 2] = ["--path", following]
    return words
