"""Starting an agent run (refactor or chat): the repository, its settings and prices, the engine, the agent's parts.

Both front ends start the same way, so they share these steps; each keeps its own order of checks and its own
messages around them. Errors are raised, not printed: the front end decides how each one ends the command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from v4agent.accounting import PriceTable, price_table_for
from v4agent.agent.engine_choice import open_model_engine
from v4agent.agent.loop import AgentConfig
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.sessions.lock import hold_session_lock
from v4agent.agent.sessions.store import SessionData
from v4agent.core.config import Config, load_config
from v4agent.core.errors import UsageError
from v4agent.core.git import repo_root
from v4agent.core.tempfiles import sweep_repository
from v4agent.core.trust import UntrustedProject, record_decision
from v4agent.engine.client import RemoteEngine
from v4agent.engine.presets import all_presets, model_info
from v4agent.engine.thinking import thinks
from v4agent.engine.types import Engine
from v4agent.sandbox import SandboxPolicy, containment, make_policy
from v4agent.tokens.tokenizer import get_tokenizer
from v4agent.tools.approval import Asker
from v4agent.tools.registry import ToolContext
from v4agent.ui.console import warn

if TYPE_CHECKING:
    from v4agent.pack import Snapshot

__all__ = [
    "RunSetup", "SetupError", "TrustAsker", "Workspace", "agent_config", "cache_tracker", "configured_test_command",
    "open_workspace", "pack_repository", "sandbox_policy", "start_run", "tool_context",
]

# Shown the project file's untrusted settings, says whether to trust this repository's config (True) or not.
TrustAsker = Callable[[UntrustedProject], bool]

_warned: set[str] = set()  # reasons already told on stderr: once per process is enough


class SetupError(UsageError):
    """A run cannot start: no such directory, or not inside a git repository (exit 2)."""


@dataclass(frozen=True)
class Workspace:
    """The repository a run works on, with its configuration (command-line flags merged in) and price table."""

    root: Path
    config: Config
    table: PriceTable


@dataclass(frozen=True)
class RunSetup:
    """What a run needs before its first model call: the workspace, the engine, and the session it resumes."""

    workspace: Workspace
    engine: RemoteEngine
    session: SessionData | None = None

    @property
    def root(self) -> Path:
        """The repository's top directory."""
        return self.workspace.root

    @property
    def config(self) -> Config:
        """The merged configuration."""
        return self.workspace.config

    @property
    def table(self) -> PriceTable:
        """The price table calls are billed with."""
        return self.workspace.table


def open_workspace(path: Path, flags: Mapping[str, Any], *, why: str, ask_trust: TrustAsker | None = None,
                   warn: Callable[[str], None] | None = None) -> Workspace:
    """The git repository holding ``path``, its configuration and prices.

    ``why`` finishes the sentence that refuses a directory outside git ("... not inside a git repository; WHY").
    A project file with settings that need trust, not decided on yet, goes to ``ask_trust`` (None: no one to
    ask, so it stays untrusted); ``warn`` gets the one line naming what stays ignored.
    Raises SetupError, ConfigError or PriceTableError.
    """
    if not path.is_dir():
        raise SetupError(f"{path} is not a directory")
    root = repo_root(path.resolve())
    if root is None:
        raise SetupError(f"{path} is not inside a git repository; {why} (run `git init` and commit first)")
    config = _trusted_config(root, flags, ask_trust)
    if config.untrusted is not None and warn is not None:
        warn(config.untrusted.warning())
    return Workspace(root, config, price_table_for(config, root))


def _trusted_config(root: Path, flags: Mapping[str, Any], ask_trust: TrustAsker | None) -> Config:
    """The configuration, after asking about an undecided project file; the answer is remembered."""
    config = load_config(root, flags=dict(flags))
    pending = config.untrusted
    if pending is None or not pending.askable or ask_trust is None:
        return config
    trusted = ask_trust(pending)
    # The fingerprint is of the content shown: if the file changed meanwhile, the reload finds no match.
    record_decision(root, pending.fingerprint, trusted=trusted)
    return load_config(root, flags=dict(flags)) if trusted else config


def start_run(workspace: Workspace, *, session: SessionData | None = None,
              overrides: Mapping[str, Any] | None = None, sweep: bool = True) -> RunSetup:
    """Take the repository's session lock, sweep stale temp files, and open the engine the configuration (and
    ``overrides``) name; raises EngineError with a hint. ``sweep=False``: the caller sweeps (``sweep_repository``)
    before anything of it looks at the tree (a chat: on the thread that packs)."""
    hold_session_lock(workspace.root, session_id=session.session_id if session is not None else "")
    if sweep:
        sweep_repository(workspace.root)  # temp files a killed run left, before anything looks at the tree
    engine = open_model_engine(workspace.config, workspace.root, overrides=overrides)
    return RunSetup(workspace, engine, session)


def render_mode(engine: Engine) -> tuple[bool, str | None]:
    """Whether ``engine``'s requests run in thinking mode, and the effort V4's encoder renders (only DeepSeek's
    ``reasoning_effort: max`` shows in the prompt; vLLM's V4 tokenizer is sent no effort and renders "high")."""
    preset = getattr(engine, "preset", None)
    style = preset.think_style if preset is not None else "deepseek"
    thinking = thinks(style, engine.settings.think)
    return thinking, "max" if thinking and style == "deepseek" and engine.settings.think == "max" else None


def cache_tracker(engine: RemoteEngine) -> CacheTracker:
    """A fresh mirror of the provider's prefix cache for ``engine``'s cache granularity and thinking mode."""
    thinking, effort = render_mode(engine)
    # DeepSeek stores prefixes in 64-token units; vLLM's prefix cache works in 16-token blocks.
    return CacheTracker(get_tokenizer("deepseek-v4"), block=16 if engine.preset.think_style != "deepseek" else 64,
                        thinking=thinking, effort=effort)


def agent_config(config: Config, engine: RemoteEngine, *, text_ends_turn: bool = False) -> AgentConfig:
    """The loop's limits: turns and cost from the configuration, window and output from the engine's model."""
    return AgentConfig(engine_name=engine.name, max_turns=int(config.get("max_turns")),
                       max_cost=config.get("max_cost"), window=model_info(engine.settings.model).context_window,
                       max_output=engine.settings.max_tokens, text_ends_turn=text_ends_turn)


def configured_test_command(config: Config) -> str | None:
    """The configured test command; None lets the tools detect one."""
    return str(config.get("test_cmd") or "") or None


def _engine_keys(config: Config) -> tuple[str, ...]:
    """Every variable an engine reads its key from: never passed to a command."""
    names = [preset.key_env for preset in all_presets() if preset.key_env]
    if config.get("api_key_env"):
        names.append(str(config.get("api_key_env")))
    return tuple(names)


def sandbox_policy(root: Path, config: Config, *, warn_missing: bool = True) -> SandboxPolicy:
    """The sandbox every command of a run goes through, from the ``sandbox.*`` keys.

    When nothing can contain the commands here, says so on stderr (once per process): every command then needs
    approval, and --yes runs them unsandboxed.
    """
    policy = make_policy(root, mode="off" if config.get("sandbox.mode") == "off" else "auto",
                         network=bool(config.get("sandbox.network")), bwrap=str(config.get("sandbox.bwrap") or ""),
                         env=config.get("sandbox.env"), hide=config.get("sandbox.hide"),
                         never_env=_engine_keys(config))
    found = containment(policy)
    if warn_missing and not found.available and found.reason not in _warned:
        _warned.add(found.reason)
        warn(f"no sandbox for commands: {escape(found.reason)}. Every command, the tests included, needs approval; "
             "with --yes they run unsandboxed")
    return policy


def tool_context(workspace: Workspace, *, ask: Asker | None, start_commit: str | None = None) -> ToolContext:
    """What the tools run with: the repository, the approval policy and asker, the test command, the sandbox."""
    return ToolContext(workspace.root, approve=workspace.config.get("approve"), ask=ask,
                       test_cmd=configured_test_command(workspace.config), start_commit=start_commit,
                       sandbox=sandbox_policy(workspace.root, workspace.config))


def pack_repository(workspace: Workspace, *, model: str, budget: int | None, include: tuple[str, ...] = (),
                    exclude: tuple[str, ...] = (), focus: tuple[str, ...] = ()) -> Snapshot:
    """Pack the repository for ``model`` with the configured options; raises ``PackError``."""
    from v4agent.pack import Snapshot  # heavy (tree-sitter, detect-secrets): loaded when a run packs
    from v4agent.pack.fromconfig import pack_options_from_config

    options = pack_options_from_config(workspace.config, model=model, budget=budget, include=include,
                                       exclude=exclude, focus=focus)
    return Snapshot.build(workspace.root, options)
