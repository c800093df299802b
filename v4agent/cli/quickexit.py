"""Leaving the process without tearing its heap down, for commands that ask for it.

A cold pack of a large repository ends with hundreds of thousands of objects (texts, symbols, the tokenizer's
vocabulary); freeing them one by one at interpreter exit is a noticeable part of the command's run time. A
command that owns no state needing finalisers asks for the quick exit; the entry point then flushes the
standard streams, runs the ``atexit`` handlers (so logging and anything registered still finish) and ends the
process with the same status. In-process callers (tests, library use) never reach it: only ``main`` acts on
the request.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys

__all__ = ["leave", "request", "requested"]

_requested = False


def request() -> None:
    """Mark this command's end as a quick exit (``main`` acts on it)."""
    global _requested
    _requested = True


def requested() -> bool:
    """Whether this command asked for the quick exit."""
    return _requested


def leave(code: object) -> None:
    """End the process now with the status ``sys.exit(code)`` would give, after flushing and ``atexit``."""
    status = 0
    if isinstance(code, int):
        status = code
    elif code is not None:  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`): nothing more can be written
            stream.flush()
    os._exit(status)
