"""Brackets in Python code reduced by ``pycode`` (pure), for ``pysymbols``: the bracket enclosing a position
(whether a bare argument sits in a call's parentheses, a parameter in a ``def``'s), and how many a span leaves
open."""

from __future__ import annotations

import re

from v4agent.pack.rank.pycode import Unmodelled

__all__ = ["Walker", "opened"]

# Characters searched per file when finding enclosing brackets, as a multiple of the file's size; beyond: parse.
_WALK_BUDGET = 8
_BRACKET = re.compile(r"[()\[\]{}]")


class Walker:
    """Finds the bracket enclosing a position by walking left over balanced groups (in the reversed code).

    Asked in increasing order, a walk that passes the previous position at depth zero reuses its answer, and the
    search stops there, so a long flat list costs one pass, not one per item. The characters searched are
    bounded per file all the same; past that the file is parsed instead."""

    def __init__(self, code: str, backwards: str) -> None:
        self._backwards, self._size = backwards, len(code)
        self._budget = _WALK_BUDGET * len(code) + 4096
        self._last, self._last_answer = -1, -1

    def enclosing(self, position: int) -> int:
        """The position of the bracket enclosing ``position`` (-1: none); positions must increase."""
        backwards, size = self._backwards, self._size
        depth, at, answer = 0, size - position, -1
        window_end = size - 1 - self._last if 0 <= self._last < position else size
        while True:
            found = _BRACKET.search(backwards, at, window_end)
            if found is None:
                self._budget -= window_end - at
                if window_end == size:
                    break
                if depth == 0:  # passed the previous position with nothing open: the same group
                    answer = self._last_answer
                    break
                at, window_end = window_end, size
                continue
            self._budget -= found.end() - at
            if self._budget < 0:
                raise Unmodelled("too much to walk over")
            if found.group() in ")]}":
                depth += 1
            elif depth:
                depth -= 1
            else:
                answer = size - 1 - found.start()
                break
            at = found.end()
        self._last, self._last_answer = position, answer
        return answer


def opened(code: str, start: int, end: int) -> int:
    """Brackets opened less those closed in ``code[start:end]``."""
    count = code.count
    return (count("(", start, end) + count("[", start, end) + count("{", start, end)
            - count(")", start, end) - count("]", start, end) - count("}", start, end))
