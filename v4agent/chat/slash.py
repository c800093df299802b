"""Slash commands of the interactive chat: the table, and parsing a typed line into a command.

Pure: parsing never raises; a bad line becomes a ``SlashError`` with a one-line hint for the user.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

THINK_LEVELS = ("off", "low", "high", "max")


@dataclass(frozen=True)
class SlashSpec:
    """One slash command: usage line, help text, and the arguments it takes."""

    name: str
    usage: str
    help: str
    min_args: int = 0
    max_args: int | None = 0  # None: any number
    choices: tuple[str, ...] = ()  # allowed values of the first argument, when it is a fixed word


COMMANDS: tuple[SlashSpec, ...] = (
    SlashSpec("/help", "/help", "Show the commands and the input keys."),
    SlashSpec("/cost", "/cost", "Tokens, cache hits and dollars for this session, per call."),
    SlashSpec("/diff", "/diff", "The working tree against the session's starting point."),
    SlashSpec("/undo", "/undo [turn]", "Undo the last edit, or every edit of the last turn with 'turn'.",
              max_args=1, choices=("turn", "edit")),
    SlashSpec("/rewind", "/rewind [TURN]", "Go back to the end of TURN (default: the one before the last): "
              "its files and the conversation (the cache still holds it).", max_args=1),
    SlashSpec("/add", "/add PATH...", "Add files to the packed context (rebuilds the prefix: one cache miss).",
              min_args=1, max_args=None),
    SlashSpec("/drop", "/drop PATH...", "Drop files from the packed context (rebuilds the prefix: one cache miss).",
              min_args=1, max_args=None),
    SlashSpec("/model", "/model [NAME]", "Show or switch the model (a new model starts a new cache).", max_args=1),
    SlashSpec("/think", "/think off|low|high|max|show|hide", "Change the thinking effort as --think does (new "
              "cache), or show or hide the thinking text.",
              max_args=1, choices=("off", "low", "high", "max", "show", "hide", "on")),
    SlashSpec("/compact", "/compact", "Summarize older turns to free context (reuses the cached prefix)."),
    SlashSpec("/clear", "/clear", "Start a fresh conversation on the same packed repository (the prefix stays cached)."),
    SlashSpec("/sessions", "/sessions", "List saved sessions of this repository."),
    SlashSpec("/memory", "/memory", "The instruction files loaded (AGENTS.md, CLAUDE.md, yours): paths, sizes, tokens."),
    SlashSpec("/plan", "/plan [on|off|accept|discard]", "Plan mode: read-only tools and a plan first (the cache "
              "stays intact); accept carries the plan out.", max_args=1, choices=("on", "off", "accept", "discard")),
    SlashSpec("/resume", "/resume ID", "Continue a saved session.", min_args=1, max_args=1),
    SlashSpec("/exit", "/exit", "Save the session and leave (also Ctrl-D)."),
)

_BY_NAME = {spec.name: spec for spec in COMMANDS}
_ALIASES = {"/quit": "/exit", "/q": "/exit", "/?": "/help"}


@dataclass(frozen=True)
class SlashCommand:
    """A parsed command: its canonical name (aliases resolved) and its arguments."""

    name: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class SlashError:
    """A line that is not a valid command, with a one-line hint for the user."""

    hint: str


def is_slash(line: str) -> bool:
    """A line is a command when it starts with '/' followed by a letter or '?' (so '/tmp/x is odd' is not)."""
    stripped = line.lstrip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return False
    head = stripped.split(maxsplit=1)[0]
    return head in _BY_NAME or head in _ALIASES or (stripped[1].isalpha() and "/" not in head[1:])


def parse_slash(line: str) -> SlashCommand | SlashError:
    """Parse a command line (``is_slash`` true); never raises, a bad line gives a SlashError."""
    try:
        words = shlex.split(line.strip())
    except ValueError as exc:
        return SlashError(f"could not read that command ({exc}); quote paths that contain spaces")
    head, args = words[0], tuple(words[1:])
    name = _ALIASES.get(head, head)
    spec = _BY_NAME.get(name)
    if spec is None:
        close = [s.name for s in COMMANDS if s.name.startswith(head[:3])]
        suggestion = f" Did you mean {', '.join(close)}?" if close else ""
        return SlashError(f"unknown command {head}.{suggestion} Type /help for the list.")
    if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
        return SlashError(f"usage: {spec.usage}")
    if args and spec.choices and args[0] not in spec.choices:
        return SlashError(f"{spec.name} takes one of {', '.join(spec.choices)}; usage: {spec.usage}")
    return SlashCommand(name, args)


def help_lines() -> list[tuple[str, str]]:
    """(usage, help) of every command, in the table's order, for /help."""
    return [(spec.usage, spec.help) for spec in COMMANDS]
