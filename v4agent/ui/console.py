"""Shared rich consoles: results on stdout, progress and diagnostics on stderr."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console

# Output to a file or a pipe has no width to fit; rich would assume 80 and fold the tables. COLUMNS still wins.
PIPE_WIDTH = 120


def _width(stream: TextIO) -> int | None:
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        interactive = False
    return None if interactive or os.environ.get("COLUMNS") else PIPE_WIDTH


stdout = Console(highlight=False, width=_width(sys.stdout))
stderr = Console(stderr=True, highlight=False, width=_width(sys.stderr))


def error(message: str) -> None:
    """Print ``error: message`` in red on stderr; ``message`` is read as rich markup."""
    stderr.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)


def warn(message: str) -> None:
    """Print ``warning: message`` in yellow on stderr; ``message`` is read as rich markup."""
    stderr.print(f"[yellow]warning:[/] {message}", markup=True, highlight=False)
