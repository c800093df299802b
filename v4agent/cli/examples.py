"""The examples every `--help` page ends with, one place for all commands (so they stay alike)."""

from __future__ import annotations

import typer
from rich.markup import escape

__all__ = ["EXAMPLES", "attach"]

# command path (words after `v4agent`) -> example command lines
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": ("v4agent                        # chat about this repository",
         'v4agent "add type hints"       # = v4agent refactor . "..."',
         "v4agent demo                   # the whole flow offline, no key"),
    "refactor": ('v4agent refactor . "add a docstring to every public function in app.py"',
                 'v4agent refactor . "split the parser module" --plan   # read-only: print a plan',
                 'v4agent refactor ~/src/shop "fix the failing test" --max-cost 0.50 --yes',
                 "v4agent refactor . --resume            # continue the latest session",
                 'v4agent refactor . "rename Foo to Bar" --format json > report.json',
                 'v4agent refactor . "fix the flaky test" --attempts 4 --strategies "smallest fix;rewrite the helper"'),
    "chat": ("v4agent chat", "v4agent chat ~/src/shop --think off",
             "v4agent chat --resume                  # continue the latest session, earlier turns reprinted"),
    "review": ("v4agent review . --base main", "v4agent review --base origin/main --format sarif -o review.sarif",
               "v4agent review --github --fail-on high  # inside a GitHub Actions run"),
    "pack": ("v4agent pack . -o pack.xml --stats", "v4agent pack . --budget 200k --focus src/auth | less",
             "v4agent pack . -o pack.xml --format json > report.json"),
    "cost": ("v4agent cost", "v4agent cost --by day", "v4agent cost --prices"),
    "undo": ("v4agent undo              # the latest session", "v4agent undo . --session ID --dry-run"),
    "sessions": ("v4agent sessions", "v4agent sessions ~/src/shop --json"),
    "sessions show": ("v4agent sessions show ID", "v4agent sessions show ID --transcript"),
    "sessions prune": ("v4agent sessions prune --older-than 7 --dry-run",),
    "engine": ("v4agent engine list", "v4agent engine check", "v4agent engine plan --gpu h100"),
    "engine list": ("v4agent engine list", "v4agent engine list --no-probe --json"),
    "engine plan": ("v4agent engine plan --gpu h100 --gpus 8",),
    "engine serve": ("v4agent engine serve",),
    "engine check": ("v4agent engine check",),
    "config": ("v4agent config show", "v4agent config show ~/src/shop --json"),
    "config show": ("v4agent config show", "v4agent config show ~/src/shop --json"),
    "trust": ("v4agent trust", "v4agent trust --list"),
    "untrust": ("v4agent untrust ~/src/shop",),
    "sandbox": ("v4agent sandbox check",),
    "sandbox check": ("v4agent sandbox check",),
    "mcp": ("v4agent mcp list", "v4agent mcp add files -- npx -y @modelcontextprotocol/server-filesystem .",
            "v4agent mcp test"),
    "mcp list": ("v4agent mcp list", "v4agent mcp list ~/src/shop"),
    "mcp add": ("v4agent mcp add files -- npx -y @modelcontextprotocol/server-filesystem .",
                "v4agent mcp add docs --transport http https://example.com/mcp"),
    "mcp remove": ("v4agent mcp remove files",),
    "mcp test": ("v4agent mcp test", "v4agent mcp test . files"),
    "init": ("v4agent init", "v4agent init ~/src/shop"),
    "attempts": ("v4agent attempts list", "v4agent attempts show RUN --diff 2", "v4agent attempts apply RUN 2"),
    "attempts list": ("v4agent attempts list", "v4agent attempts list --path ~/src/shop"),
    "attempts show": ("v4agent attempts show RUN", "v4agent attempts show RUN --diff 3 --json"),
    "attempts apply": ("v4agent attempts apply RUN 3",),
    "attempts resume": ("v4agent attempts resume RUN --yes",),
    "attempts prune": ("v4agent attempts prune RUN",),
    "demo": ("v4agent demo", "v4agent demo --keep   # keep the sample repository to look at"),
}


def epilog(path: str) -> str | None:
    """The `Examples:` block for a command path; paragraphs, since typer joins single lines into one."""
    lines = EXAMPLES.get(path)
    if not lines:
        return None
    return "Examples:\n\n" + "\n\n".join(f"  {escape(line)}" for line in lines)


def _unset(value: object) -> bool:
    """typer marks a group setting nobody gave with a ``DefaultPlaceholder``."""
    return value is None or type(value).__name__ == "DefaultPlaceholder"


def _attach(app: typer.Typer, prefix: str) -> None:
    for command in app.registered_commands:
        name = command.name or (command.callback.__name__ if command.callback else "")
        path = f"{prefix} {name}".strip()
        if command.epilog is None:
            command.epilog = epilog(path)
    for group in app.registered_groups:
        path = f"{prefix} {group.name}".strip()
        sub = group.typer_instance
        if sub is None:
            continue
        if _unset(group.epilog) and _unset(sub.info.epilog):  # add_typer's value wins over the others
            group.epilog = epilog(path)
        _attach(sub, path)


def attach(app: typer.Typer) -> None:
    """Give every command and group of ``app`` (and the app itself) its examples, where it has none."""
    if _unset(app.info.epilog):
        app.info.epilog = epilog("")
    _attach(app, "")
