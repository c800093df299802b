"""`v4agent mcp list|add|remove|test`: the MCP servers sessions start, as the user and a trusted repository set them.

The repository is the first argument, as in every other command (default: the current directory; `--path` is
kept, hidden, as its older spelling): `mcp list [PATH]`, `mcp test [PATH] [NAME]`, `mcp remove [PATH] NAME`,
`mcp add [PATH] NAME -- COMMAND ARGS...` (the words before `--` decide: two are PATH and NAME) and
`mcp add [PATH] NAME --transport http URL`.

``add`` writes the user's ``config.toml`` (``--scope user``, the default) or the repository's ``.mcp.json``
(``--scope project``; the repository must then be trusted again, as for any change to that file). ``test``
starts the servers as a session would (a repository's stdio servers in the sandbox) and lists their tools.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from v4agent.core.errors import ExitCode, UsageError
from v4agent.ui.console import stdout

mcp_app = typer.Typer(help="MCP servers: list, add, remove, test.", no_args_is_help=True)
_RAW = "v4agent.mcp.raw_args"
_OLD_PATH_HELP = "The repository (older spelling of the first argument)."


class _KeepsRawArgs(TyperCommand):
    """Keeps the command line as given: the parser drops ``--``, and `add` needs to know what stood before it."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Record ``args`` in ``ctx.meta``, then parse as usual."""
        ctx.meta[_RAW] = list(args)
        return super().parse_args(ctx, args)


def _where(positional: str | None, option: Path | None) -> Path:
    """The repository from the first argument or the hidden ``--path``; both only when they agree."""
    if positional is not None and option is not None and Path(positional).resolve() != option.resolve():
        raise UsageError(f"two repositories given ({positional} and --path {option}): give it once, first")
    if positional is not None:
        return Path(positional)
    return option if option is not None else Path(".")

def _say(text: str) -> None:
    stdout.print(text, markup=False, highlight=False, soft_wrap=True)


def _repo(path: Path) -> tuple[Path | None, bool]:
    """The repository holding ``path`` (None outside git) and whether its own configuration is trusted."""
    from v4agent.core.config import load_config
    from v4agent.core.git import repo_root

    if not path.is_dir():
        raise UsageError(f"{path} is not a directory")
    root = repo_root(path.resolve())
    return root, root is not None and load_config(root).untrusted is None


@mcp_app.command("list")
def list_servers(
    repo: str = typer.Argument(None, metavar="[PATH]", help="The repository (default: the current directory)."),
    old_path: Path | None = typer.Option(None, "--path", hidden=True, help=_OLD_PATH_HELP),
) -> None:
    """Show the servers a session here starts, and a repository's servers left out until it is trusted."""
    from v4agent.extend.mcp.load import load_servers

    root, trusted = _repo(_where(repo, old_path))
    setup = load_servers(root, project_trusted=trusted)
    for warning in setup.warnings:
        _say(f"warning: {warning}")
    if not setup.servers:
        _say("no MCP servers configured (add one with `v4agent mcp add NAME -- COMMAND ARGS...`)")
    for spec in setup.servers:
        where = "sandboxed" + ("+net" if spec.network else "") if spec.sandboxed else "unsandboxed"
        if spec.transport == "http":
            where = "remote"
        _say(f"{spec.name}  {spec.scope}  {spec.transport}  approve={spec.approve}  {where}  {spec.describe()}")
    if root is not None and not trusted:
        held = {s.name for s in load_servers(root, project_trusted=True).servers} - {s.name for s in setup.servers}
        if held:
            _say(f"left out until you trust this repository (`v4agent trust {root}`): {', '.join(sorted(held))}")


def _pairs(items: list[str], sep: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, found, value = item.partition(sep)
        if not found or not key.strip():
            raise UsageError(f"{what} must look like KEY{sep}VALUE, not {item!r}")
        out[key.strip()] = value.strip() if sep == ":" else value
    return out


def _user_file() -> Path:
    from v4agent.core.config import user_config_path

    return user_config_path()


def _add_words(words: list[str], raw: list[str], transport: str) -> tuple[str | None, str, list[str]]:
    """[PATH] NAME, then the target (COMMAND ARGS after ``--``, or the URL), from the positional words."""
    if "--" in raw:
        after = len(raw) - raw.index("--") - 1  # every word after -- is positional
        before = words[: len(words) - after]
    else:  # no --: an http server's URL is the last word; a stdio command needs -- to tell it from PATH
        before = words[:-1] if transport == "http" and len(words) >= 2 else words[:1]
    if len(before) > 2:
        raise UsageError(f"too many words before the command: {' '.join(before)!r}; give [PATH] NAME -- COMMAND "
                         "ARGS...")
    if not before:
        raise UsageError("give the server's name: v4agent mcp add [PATH] NAME -- COMMAND ARGS...")
    path = before[0] if len(before) == 2 else None
    return path, before[-1], words[len(before):]


@mcp_app.command("add", cls=_KeepsRawArgs)
def add(
    ctx: typer.Context,
    words: list[str] = typer.Argument(..., metavar="[PATH] NAME [COMMAND ARGS... | URL]",
                                      help="The repository (default: .), the server's name (tools are named "
                                           "mcp__NAME__TOOL), then COMMAND ARGS... after -- for stdio, or the "
                                           "URL for http."),
    transport: str = typer.Option("stdio", "--transport", "-t", help="stdio or http."),
    env: list[str] = typer.Option([], "--env", "-e", help="KEY=VALUE for a stdio server (repeatable)."),
    header: list[str] = typer.Option([], "--header", "-H", help="'Name: value' for an http server (repeatable)."),
    approve: str = typer.Option("ask", "--approve", help="ask (each call, by the approval policy) or allow."),
    scope: str = typer.Option("user", "--scope", "-s", help="user (your config.toml) or project (.mcp.json)."),
    old_path: Path | None = typer.Option(None, "--path", hidden=True, help=_OLD_PATH_HELP),
) -> None:
    """Add a server to the user's config.toml or the repository's .mcp.json."""
    from v4agent.extend.mcp.config import parse_servers, valid_name
    from v4agent.extend.mcp.edit import entry_table

    repo, name, target = _add_words(list(words), list(ctx.meta.get(_RAW, [])), transport)
    path = _where(repo, old_path)
    if not valid_name(name):
        raise UsageError(f"{name!r} is not a valid server name: letters, digits, '_' and '-' only, no '__'")
    if approve not in ("ask", "allow") or scope not in ("user", "project") or transport not in ("stdio", "http"):
        raise UsageError("--approve is ask or allow, --scope user or project, --transport stdio or http")
    if not target:
        raise UsageError("give the command (after --) or, with --transport http, the URL")
    if transport == "http":
        entry = entry_table(url=target[0], headers=_pairs(header, ":", "--header"), approve=approve)
    else:
        entry = entry_table(command=target[0], args=target[1:], env=_pairs(env, "=", "--env"), approve=approve)
    _specs, problems = parse_servers({name: entry}, scope, "the new entry", {})  # type: ignore[arg-type]
    if problems:
        raise UsageError(problems[0])
    written = _edit(scope, path, name, entry)
    _say(f"added MCP server {name} to {written}")
    if scope == "project":
        _say(f"the repository's .mcp.json changed: sessions start its servers once you trust it again "
             f"(`v4agent trust {written.parent}`)")


def _edit(scope: str, path: Path, name: str, entry: dict[str, object] | None) -> Path:
    """Add (``entry``) or remove (None) ``name`` in the file of ``scope``; returns the file."""
    from v4agent.core.fsutil import atomic_write_text
    from v4agent.extend.mcp.config import MCP_JSON
    from v4agent.extend.mcp.edit import (
        EditError,
        add_json_entry,
        add_toml_entry,
        remove_json_entry,
        remove_toml_entry,
    )

    if scope == "project":
        root, _trusted = _repo(path)
        if root is None:
            raise UsageError(f"{path} is not inside a git repository: --scope project writes its .mcp.json")
        file = root / MCP_JSON
    else:
        file = _user_file()
    try:
        text = file.read_text(encoding="utf-8") if file.is_file() else ""
        if scope == "project":
            new = add_json_entry(text, name, entry) if entry is not None else remove_json_entry(text, name)
        else:
            new = add_toml_entry(text, name, entry) if entry is not None else remove_toml_entry(text, name)
    except EditError as exc:
        raise UsageError(f"{file}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{file}: cannot read: {exc}") from None
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, new, mode=0o600 if scope == "user" else None)
    return file


@mcp_app.command("remove")
def remove(
    words: list[str] = typer.Argument(..., metavar="[PATH] NAME", help="The repository (default: .), then the "
                                      "server's name."),
    scope: str = typer.Option("user", "--scope", "-s", help="user (your config.toml) or project (.mcp.json)."),
    old_path: Path | None = typer.Option(None, "--path", hidden=True, help=_OLD_PATH_HELP),
) -> None:
    """Remove a server from the user's config.toml or the repository's .mcp.json."""
    if scope not in ("user", "project"):
        raise UsageError("--scope is user or project")
    if len(words) > 2:
        raise UsageError(f"expected [PATH] NAME, got {' '.join(words)!r}")
    path = _where(words[0] if len(words) == 2 else None, old_path)
    name = words[-1]
    _say(f"removed MCP server {name} from {_edit(scope, path, name, None)}")


def _test_words(words: list[str], old_path: Path | None) -> tuple[Path, str | None]:
    """[PATH] [NAME]: one word is the repository when it is a directory and no server here has that name."""
    from v4agent.extend.mcp.load import load_servers

    if len(words) > 2:
        raise UsageError(f"expected [PATH] [NAME], got {' '.join(words)!r}")
    if len(words) == 2:
        return _where(words[0], old_path), words[1]
    if not words:
        return _where(None, old_path), None
    word = words[0]
    if old_path is None and Path(word).is_dir():
        root, trusted = _repo(Path("."))
        named = {s.name for s in load_servers(root, project_trusted=trusted).servers}
        if word not in named:
            return Path(word), None
    return _where(None, old_path), word


@mcp_app.command("test")
def check_servers(
    words: list[str] = typer.Argument(None, metavar="[PATH] [NAME]", help="The repository (default: .), then "
                                      "only this server (default: all)."),
    old_path: Path | None = typer.Option(None, "--path", hidden=True, help=_OLD_PATH_HELP),
) -> None:
    """Start the servers as a session would, list their tools, stop them (exit 1 when one fails)."""
    from v4agent.agent.setup import sandbox_policy
    from v4agent.core.config import load_config
    from v4agent.extend.mcp.hub import McpHub
    from v4agent.extend.mcp.load import load_servers

    path, name = _test_words(list(words or []), old_path)
    root, trusted = _repo(path)
    setup = load_servers(root, project_trusted=trusted)
    specs = [s for s in setup.servers if name is None or s.name == name]
    if name is not None and not specs:
        raise UsageError(f"no MCP server named {name!r} is configured here (see `v4agent mcp list`)")
    base = root or path.resolve()
    hub = McpHub(specs, root=base, sandbox=sandbox_policy(base, load_config(root), warn_missing=False))
    try:
        statuses = hub.start()
    finally:
        hub.close()
    for status in statuses:
        if status.ok:
            _say(f"{status.spec.name}: ok, {len(status.tools)} tools: {', '.join(status.tools) or '(none)'}")
        else:
            _say(f"{status.spec.name}: FAILED: {status.error}")
        for why in status.left_out:
            _say(f"  left out {why}")
    if any(not s.ok for s in statuses):
        raise typer.Exit(ExitCode.FAILED)


def register(app: typer.Typer) -> None:
    """Add the ``mcp`` command group to ``app``."""
    app.add_typer(mcp_app, name="mcp")
