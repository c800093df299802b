"""Custom commands: Markdown prompt files run by name (`/name args` in chat, `refactor --command name args`).

Two places, as other agents keep them: the user's ``<config>/commands/NAME.md`` (always), and the repository's
``.v4agent/commands/NAME.md`` (only in a trusted repository: a command file is a prompt someone else wrote,
run with the user's approvals, so it loads only once the user trusts the repository; the trust fingerprint
covers these files, so a changed one asks again). A project command replaces a user command of the same name.

A file may start with a front-matter block (``---`` lines) whose ``description:`` is shown in /help; the rest
is the prompt. ``$ARGUMENTS`` in it is replaced by the arguments; a prompt without it gets the arguments
appended after a blank line. Parsing and expansion are pure; ``load_commands`` is the only I/O.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from v4agent.core.errors import UsageError
from v4agent.core.trust import user_config_dir
from v4agent.extend.textfiles import read_repository_text, read_user_text
from v4agent.tools.safeopen import open_dir, opened_root

__all__ = [
    "COMMANDS_DIR",
    "PROJECT_COMMANDS_DIR",
    "CommandSet",
    "CustomCommand",
    "expand",
    "load_commands",
    "parse_command_file",
    "project_command_names",
]

COMMANDS_DIR = "commands"  # under the user's config directory
PROJECT_COMMANDS_DIR = ".v4agent/commands"
MAX_COMMANDS = 200
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_FRONT = re.compile(r"\A---[ \t]*\n(?P<head>.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
Source = Literal["user", "project"]


@dataclass(frozen=True)
class CustomCommand:
    """One command: its name, where it came from, its one-line description and its prompt."""

    name: str
    source: Source
    path: str
    description: str
    prompt: str


@dataclass(frozen=True)
class CommandSet:
    """The commands of a session by name, and lines about what was not loaded."""

    commands: tuple[CustomCommand, ...] = ()
    notes: tuple[str, ...] = ()

    def get(self, name: str) -> CustomCommand | None:
        """The command called ``name`` (without the slash), or None."""
        return next((c for c in self.commands if c.name == name), None)

    def require(self, name: str) -> CustomCommand:
        """The command called ``name``; a UsageError listing the known ones when there is none."""
        found = self.get(name.removeprefix("/"))
        if found is None:
            known = ", ".join(c.name for c in self.commands) or "none"
            raise UsageError(f"no custom command {name!r} (known: {known})",
                             hint=f"put a prompt in {PROJECT_COMMANDS_DIR}/NAME.md (trusted repositories) or in "
                                  f"{user_config_dir() / COMMANDS_DIR}/NAME.md")
        return found


def parse_command_file(name: str, source: Source, path: str, text: str) -> CustomCommand:
    """A command from its file's text: front matter's ``description``, else the prompt's first line."""
    description = ""
    prompt = text
    front = _FRONT.match(text)
    if front is not None:
        prompt = text[front.end():]
        for line in front.group("head").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == "description":
                description = value.strip().strip("'\"")
    if not description:
        description = next((line.strip().lstrip("#").strip() for line in prompt.splitlines() if line.strip()), "")
    return CustomCommand(name, source, path, description[:100], prompt.strip("\n"))


def expand(command: CustomCommand, arguments: str) -> str:
    """The prompt with ``$ARGUMENTS`` replaced by ``arguments`` (appended when the prompt has no placeholder)."""
    arguments = arguments.strip()
    if "$ARGUMENTS" in command.prompt:
        return command.prompt.replace("$ARGUMENTS", arguments)
    return command.prompt if not arguments else f"{command.prompt}\n\n{arguments}"


def _names_in(directory: Path) -> list[str]:
    try:
        entries = sorted(p.name for p in directory.iterdir())
    except OSError:
        return []
    return [e for e in entries if e.endswith(".md")]


def project_command_names(root: Path) -> list[str]:
    """The ``*.md`` names in the repository's commands directory, listed without following a link to it."""
    try:
        with opened_root(root) as root_fd:
            fd = open_dir(root_fd, PROJECT_COMMANDS_DIR)
            try:
                return sorted(n for n in os.listdir(fd) if n.endswith(".md"))
            finally:
                os.close(fd)
    except OSError:  # absent, or a link somewhere on the way: no project commands
        return []


def _load_one(name: str, source: Source, read: tuple[str, str] | OSError,
              found: dict[str, CustomCommand], notes: list[str]) -> None:
    stem = name[:-3]
    if isinstance(read, OSError):
        notes.append(f"command {name} not loaded: {read.strerror or read}")
        return
    shown, text = read
    if not _NAME.match(stem):
        notes.append(f"command file {shown} skipped: a name is a letter then letters, digits, - or _")
        return
    found[stem] = parse_command_file(stem, source, shown, text)


def load_commands(root: Path | None, *, trusted: bool, config_dir: Path | None = None) -> CommandSet:
    """The user's commands, then (trusted repositories only) the repository's, which win on a shared name."""
    found: dict[str, CustomCommand] = {}
    notes: list[str] = []
    user_dir = (config_dir if config_dir is not None else user_config_dir()) / COMMANDS_DIR
    for name in _names_in(user_dir)[:MAX_COMMANDS]:
        path = user_dir / name
        try:
            read: tuple[str, str] | OSError = (str(path), read_user_text(path).text)
        except OSError as exc:
            read = exc
        _load_one(name, "user", read, found, notes)
    names = project_command_names(root) if root is not None else []
    if names and not trusted:
        notes.append(f"ignored {len(names)} command(s) in {PROJECT_COMMANDS_DIR}/: this repository is not "
                     f"trusted; review them and run `v4agent trust {root}` to use them")
        names = []
    for name in names[:MAX_COMMANDS]:
        rel = f"{PROJECT_COMMANDS_DIR}/{name}"
        try:
            read = (rel, read_repository_text(root, rel).text) if root is not None else OSError("no repository")
        except OSError as exc:
            read = exc
        _load_one(name, "project", read, found, notes)
    return CommandSet(tuple(found[n] for n in sorted(found)), tuple(notes))
