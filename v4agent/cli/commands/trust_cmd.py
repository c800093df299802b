"""`v4agent trust` / `v4agent untrust`: decide whether a repository's own config file is applied in full."""

from __future__ import annotations

from pathlib import Path

import typer

from v4agent.core.config import (
    PROJECT_CONFIG_NAME,
    PROJECT_SAFE_KEYS,
    SETTINGS,
    display_value,
    extension_settings,
    parse_config_bytes,
)
from v4agent.core.errors import UsageError
from v4agent.core.git import repo_root
from v4agent.core.trust import (
    TRUST_FILES,
    TrustEntry,
    load_store,
    read_trust_files,
    record_decision,
    repository_key,
    store_path,
)
from v4agent.ui.console import stdout


def _root(path: Path) -> Path:
    """The repository holding ``path`` (its top directory), or the directory itself outside git."""
    if not path.is_dir():
        raise UsageError(f"{path} is not a directory")
    resolved = path.resolve()
    return Path(repository_key(repo_root(resolved) or resolved))


def _say(text: str) -> None:
    stdout.print(text, markup=False, highlight=False, soft_wrap=True)


def _show_file(root: Path, data: bytes) -> None:
    """The keys the project file sets, each marked when it needs trust to apply."""
    file = root / PROJECT_CONFIG_NAME
    values = parse_config_bytes(data, file)  # an invalid file is refused (ConfigError), never trusted
    _say(f"{file} sets:")
    for setting in SETTINGS:
        if setting.key in values:
            mark = "" if setting.key in PROJECT_SAFE_KEYS else "   (applies only when trusted)"
            _say(f"  {setting.key} = {display_value(setting.key, values[setting.key])}{mark}")
    if not values:
        _say("  (nothing)")


def _state_now(entry: TrustEntry) -> str:
    root = Path(entry.path)
    if not root.is_dir():
        return "directory gone"
    try:
        current = read_trust_files(root).fingerprint
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return "as decided" if current == entry.fingerprint else "changed since (asks again)"


def _list() -> None:
    entries = load_store()
    if not entries:
        _say(f"no repository is trusted ({store_path()} has no decisions)")
        return
    for entry in entries.values():
        decision = "trusted " if entry.trusted else "declined"
        _say(f"{decision}  {entry.path}  ({entry.at}; {_state_now(entry)})")


def trust(
    path: Path = typer.Argument(Path("."), help="The repository (default: the one holding the current directory)."),
    list_all: bool = typer.Option(False, "--list", help="List the repositories decided on, and stop."),
) -> None:
    """Trust the repository's .v4agent.toml and .mcp.json as they are now (every key, its MCP servers and hooks
    apply); a change asks again."""
    if list_all:
        _list()
        return
    root = _root(path)
    files = read_trust_files(root)
    data = files.get(PROJECT_CONFIG_NAME)
    others = [name for name, content in files.contents if content is not None and name not in TRUST_FILES]
    if not files.present and not others:
        _say(f"{root} has no {' or '.join(TRUST_FILES)}: nothing to trust")
        return
    if data is not None:
        _show_file(root, data)
    for key, what in extension_settings(files):  # MCP servers and hooks: commands that run once trusted
        _say(f"  {key}: {what}   (applies only when trusted)")
    for name in others:  # custom command prompts (.v4agent/commands/*.md): read them before trusting
        _say(f"{root / name} (a custom command prompt)")
    entry = record_decision(root, files.fingerprint, trusted=True)
    _say(f"trusted {root} (sha256 {entry.fingerprint[:12]}); once {PROJECT_CONFIG_NAME} or a command file "
         "changes it is not trusted until you run `v4agent trust` again")


def untrust(
    path: Path = typer.Argument(Path("."), help="The repository (default: the one holding the current directory)."),
) -> None:
    """Stop trusting the repository's .v4agent.toml: only its harmless keys apply, and no run asks about it."""
    root = _root(path)
    files = read_trust_files(root)
    was = load_store().get(repository_key(root))
    record_decision(root, files.fingerprint, trusted=False)
    before = "" if was is not None and was.trusted else " (it was not trusted)"
    _say(f"{root}: its config is not trusted{before}; only model, think, max_turns and pack keys apply from it")


def register(app: typer.Typer) -> None:
    """Add the ``trust`` and ``untrust`` commands to ``app``."""
    app.command("trust")(trust)
    app.command("untrust")(untrust)
