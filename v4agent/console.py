"""Shared rich consoles: results on stdout, progress and diagnostics on stderr."""

from __future__ import annotations

from rich.console import Console

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


def error(message: str) -> None:
    stderr.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {message}", markup=True, highlight=False)
