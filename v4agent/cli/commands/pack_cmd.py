"""`v4agent pack PATH`: the whole repository as one cache-friendly, token-exact prompt text."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from v4agent.core.errors import UsageError, V4AgentError

if TYPE_CHECKING:
    from rich.console import Console

    from v4agent.core.config import Config
    from v4agent.pack.options import PackOptions
    from v4agent.pack.snapshot import Snapshot

_ROWS = 25  # rows per --stats table before "... and N more"


def _parse_budget(text: str | None) -> tuple[bool, int | None]:
    """(given, value): "none" means unlimited; digits (with _ or ,, or a k/m suffix) a token count."""
    from v4agent.cli.options import parse_budget

    budget = parse_budget(text)
    return budget.given, budget.tokens


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def pack_command(
    path: Path = typer.Argument(Path("."), help="The repository (or directory) to pack."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the pack here instead of stdout."),
    fmt: str | None = typer.Option(None, "--format", help="xml (default) or markdown: the pack's text; json: a "
                                   "JSON report (with the xml text unless -o is given)."),
    stats: bool = typer.Option(False, "--stats", help="Show what was packed, skipped and degraded, and the cost."),
    as_json: bool = typer.Option(False, "--json", help="Short for --format json."),
    budget: str | None = typer.Option(None, "--budget", help="Token budget, or 'none' for everything. "
                                      "Default: the model's window less pack.reserve."),
    tokenizer: str | None = typer.Option(None, "--tokenizer", help="deepseek-v4 (default), o200k or cl100k."),
    include: list[str] = typer.Option([], "--include", help="Glob forced in even if generated/vendored."),
    exclude: list[str] = typer.Option([], "--exclude", help="Glob left out of the pack."),
    focus: list[str] = typer.Option([], "--focus", help="Path, glob or term ranked first over budget."),
) -> None:
    """Pack a repository into one prompt text: files in stable order, secrets removed, exact token count."""
    from v4agent.cli import quickexit

    quickexit.request()  # nothing here needs a finaliser: the exit skips freeing the build's objects
    from v4agent.cli import stdio
    from v4agent.core.config import load_config
    from v4agent.pack import Snapshot
    from v4agent.pack.fromconfig import pack_options_from_config
    from v4agent.ui.console import stderr, warn

    chosen, as_json = _formats(fmt, as_json)
    given, budget_value = _parse_budget(budget)
    if output is None and stdio.closed("stdout"):
        raise UsageError("standard output is closed: nowhere to write the pack", hint="write it to a file: -o FILE")
    # On a terminal a pack is a megabyte of text nobody reads there: show what it holds and where to write it.
    show_only = output is None and not as_json and _stdout_is_terminal()
    _check_directory(path)
    config = load_config(path, flags={"pack.tokenizer": tokenizer})  # ConfigError, PackError: exit 2 (main)
    options = pack_options_from_config(
        config, budget=budget_value, unlimited=given and budget_value is None, fmt=chosen,
        include=include, exclude=exclude, focus=focus,
    )
    streamed = not as_json and not show_only  # the text goes out file by file as it is built: flat memory
    snapshot = (_build_streamed(path, options, output) if streamed
                else Snapshot.build(path, options, progress=True, track_changes=False))  # one shot: no delta
    if not snapshot.files:
        reason = "no files" if not snapshot.skipped else f"every file was skipped ({len(snapshot.skipped)})"
        raise V4AgentError(f"nothing to pack in {path}: {reason}")
    if not snapshot.is_git and not as_json:
        warn(f"{path} is not a git repository: walked it with its .gitignore rules, in path order")
    if output is not None and not streamed:
        from v4agent.core.fsutil import write_output

        try:
            write_output(output, snapshot.text)
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    if as_json:
        report = _report(snapshot, config, path)
        if output is None:
            report["text"] = snapshot.text
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    if show_only:
        from v4agent.ui.console import stdout

        _print_stats(stdout, snapshot, config, path)
        stdout.print(f"packed {_files(len(snapshot.files))} into {snapshot.token_count:,} tokens; not printed on a "
                     f"terminal: write it with -o pack.xml, or pipe it (v4agent pack {path} | less)",
                     markup=False, highlight=False, soft_wrap=True)
        return
    if stats:
        from v4agent.ui.console import stdout

        _print_stats(stdout if output is not None else stderr, snapshot, config, path)
    elif output is not None:
        stderr.print(f"packed {_files(len(snapshot.files))} into {snapshot.token_count:,} tokens -> {output}",
                     markup=False, highlight=False)


class _OutputFailed(Exception):
    """Writing the streamed pack to its file failed (the build stops; the file keeps its old content)."""


def _build_streamed(path: Path, options: PackOptions, output: Path | None) -> Snapshot:
    """Build the pack, writing it to ``output`` (atomically, once complete) or stdout piece by piece."""
    from v4agent.core.fsutil import OutputStream
    from v4agent.pack import Snapshot

    if output is None:
        snapshot = Snapshot.build(path, options, progress=True, track_changes=False, sink=sys.stdout.write)
        sys.stdout.flush()
        return snapshot
    stream = OutputStream(output)

    def write(text: str) -> None:
        try:
            stream.write(text)
        except OSError as exc:
            raise _OutputFailed(exc) from exc

    try:
        snapshot = Snapshot.build(path, options, progress=True, track_changes=False, sink=write)
    except BaseException as exc:
        stream.discard()  # the file, if any, keeps its old content
        if isinstance(exc, _OutputFailed) and isinstance(exc.__cause__, OSError):
            raise UsageError(f"cannot write {output}: {exc.__cause__.strerror or exc.__cause__}") from None
        raise
    try:
        if snapshot.files:
            stream.commit()
        else:
            stream.discard()  # nothing to pack (the caller says so): an existing file stays as it was
    except OSError as exc:
        stream.discard()
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    return snapshot


def _formats(fmt: str | None, as_json: bool) -> tuple[str, bool]:
    """(the pack's text format, whether to print the JSON report)."""
    if fmt == "json":  # `--format json` is `--json`; `--json --format markdown` still picks the pack's text format
        return "xml", True
    if fmt is not None and fmt not in ("xml", "markdown"):
        raise UsageError(f"--format: unknown format {fmt!r}; choose xml, markdown or json")
    return fmt or "xml", as_json


def _check_directory(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"no such directory: {path}")
    if not path.is_dir():
        raise UsageError(f"not a directory: {path} (pack a repository or a folder, not a single file)")


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _estimates(config: Config, root: Path, tokens: int) -> list[Any]:
    from v4agent.accounting.estimate import estimate_pack_cost
    from v4agent.cli.commands.cost_cmd import table_for

    try:
        return estimate_pack_cost(table_for(config, root), tokens, datetime.now(UTC))
    except Exception as exc:  # a bad prices_file must not hide the pack itself
        from v4agent.ui.console import warn

        warn(f"no cost estimate: {exc}")
        return []


def _language(path: str, language: str | None) -> str:
    if language:
        return language
    name = path.rsplit("/", 1)[-1]
    return name[name.rfind("."):] if "." in name[1:] else "(other)"


def _report(snap: Snapshot, config: Config, root: Path) -> dict[str, Any]:
    modes = Counter(f.mode for f in snap.files)
    return {
        "tokens": snap.token_count, "tokenizer": snap.options.tokenizer, "budget": snap.options.budget,
        "format": snap.options.fmt, "git": snap.is_git,
        "counts": {"files": len(snap.files), **{m: modes.get(m, 0) for m in ("full", "redacted", "skeleton", "path")},
                   "skipped": len(snap.skipped)},
        "files": [{"path": f.path, "mode": f.mode, "tokens": f.tokens, "full_tokens": f.full_tokens, "bytes": f.size,
                   "language": f.language, "redactions": f.redactions, "link_target": f.link_target}
                  for f in snap.files],
        "skipped": [{"path": s.path, "reason": s.reason} for s in snap.skipped],
        **_with_balance(config, _estimates(config, root, snap.token_count)),
    }


def _with_balance(config: Config, estimates: list[Any]) -> dict[str, Any]:
    """The estimates, and the balance line where the configured engine has a balance endpoint and a key."""
    from v4agent.cli.commands.balance_fit import balance_fit

    out: dict[str, Any] = {"estimates": [e.__dict__ for e in estimates]}
    line = balance_fit(config, estimates)
    if line is not None:
        out["balance"] = line
    return out


def _more(table: Any, shown: int, total: int) -> None:
    if total > shown:
        table.add_row(f"... and {total - shown} more", *[""] * (len(table.columns) - 1))


def _print_stats(console: Console, snap: Snapshot, config: Config, root: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    modes = Counter(f.mode for f in snap.files)
    budget = "none" if snap.options.budget is None else f"{snap.options.budget:,}"
    summary = Table(title="Pack", show_header=False)
    summary.add_row("tokens", f"{snap.token_count:,} ({snap.options.tokenizer}; budget {budget})")
    summary.add_row("files", f"{len(snap.files)}: " + ", ".join(f"{modes[m]} {m}" for m in
                                                              ("full", "redacted", "skeleton", "path") if modes[m]))
    summary.add_row("skipped", str(len(snap.skipped)))
    console.print(summary)

    langs: dict[str, list[int]] = {}
    for f in snap.files:
        row = langs.setdefault(_language(f.path, f.language), [0, 0])
        row[0] += 1
        row[1] += f.tokens
    by_lang = Table(title="Tokens per language")
    for col in ("language", "files", "tokens"):
        by_lang.add_column(col, justify="right" if col != "language" else "left")
    ranked = sorted(langs.items(), key=lambda kv: (-kv[1][1], kv[0]))
    for lang, (n, tokens) in ranked[:_ROWS]:
        by_lang.add_row(escape(lang), str(n), f"{tokens:,}")
    _more(by_lang, min(_ROWS, len(ranked)), len(ranked))
    console.print(by_lang)

    largest = Table(title="Largest files")
    for col in ("path", "mode", "tokens", "full tokens"):
        largest.add_column(col)
    for f in sorted(snap.files, key=lambda f: (-f.full_tokens, f.path))[:10]:
        largest.add_row(escape(f.path), f.mode, f"{f.tokens:,}", f"{f.full_tokens:,}")
    console.print(largest)

    _path_table(console, "Degraded to fit the budget", [(f.path, f"{f.mode}: {f.full_tokens:,} -> {f.tokens:,} tokens")
                                                        for f in snap.files if f.mode in ("skeleton", "path")
                                                        and f.link_target is None])
    policy = "values redacted in place" if snap.options.secrets == "redact" else "files skipped"
    _path_table(console, f"Redacted files ({policy})", [(f.path, f"{f.redactions} value(s)") for f in snap.files
                                                        if f.redactions])
    _path_table(console, "Skipped", [(s.path, s.reason) for s in snap.skipped])

    estimates = _estimates(config, root, snap.token_count)
    if estimates:
        cost = Table(title=f"Estimated cost of this pack ({snap.token_count:,} tokens), USD")
        for col in ("model", "period", "first request (miss)", "each cached follow-up"):
            cost.add_column(col)
        for e in estimates:
            period = "all day" if e.all_day else "peak" if e.peak else "off-peak"
            cost.add_row(e.label, period, _usd(e.first_call_usd), _usd(e.cached_followup_usd))
        console.print(cost)
        balance = _with_balance(config, estimates).get("balance")
        if balance:
            console.print(balance, markup=False, highlight=False)


def _usd(value: float) -> str:
    return f"${value:,.4f}" if value >= 0.01 or value == 0 else f"${value:.6f}"


def _path_table(console: Console, title: str, rows: list[tuple[str, str]]) -> None:
    if not rows:
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{title}: {len(rows)}")
    table.add_column("path", overflow="fold")
    table.add_column("why / what")
    for path, note in rows[:_ROWS]:
        table.add_row(escape(path), escape(note))
    _more(table, min(_ROWS, len(rows)), len(rows))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``pack`` command to ``app``."""
    app.command("pack")(pack_command)
