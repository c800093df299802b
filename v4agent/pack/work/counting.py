"""Counting and progress for the packer: tokenizer loading, bounded batch counts, the stderr progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from v4agent.pack.options import PackError
from v4agent.tokens.tokenizer import Tokenizer, get_tokenizer

CHUNK_CHARS = 1 << 21  # texts per count_many call: few calls, bounded memory (never the whole repository)


def load_tokenizer(name: str) -> Tokenizer:
    """The named tokenizer; a name or load failure is the user's input problem (PackError)."""
    try:
        return get_tokenizer(name)
    except ValueError as exc:
        raise PackError(str(exc)) from None
    except Exception as exc:  # a tokenizer that cannot load (missing rank file offline) is an input problem
        raise PackError(f"cannot load the {name} tokenizer: {exc}") from None


class LazyTokenizer:
    """The build's tokenizer, loaded on first use: a warm pack finds every count in the cache and never needs it,
    and loading it is one of the slowest steps of a pack."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tok: Tokenizer | None = None

    def get(self) -> Tokenizer:
        """The tokenizer, loaded now if it was not yet."""
        if self._tok is None:
            self._tok = load_tokenizer(self.name)
        return self._tok


def _chunks(texts: list[str]) -> Iterator[tuple[int, int]]:
    start, size = 0, 0
    for i, text in enumerate(texts):
        size += len(text)
        if size >= CHUNK_CHARS:
            yield start, i + 1
            start, size = i + 1, 0
    if start < len(texts):
        yield start, len(texts)


def count_texts(tok: Tokenizer, texts: list[str]) -> list[int]:
    """Token counts of many texts, in bounded chunks."""
    out: list[int] = []
    for a, b in _chunks(texts):
        out += tok.count_many(texts[a:b])
    return out


@contextmanager
def progress_bar(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    """A callback that advances a progress bar on stderr by n files (a no-op when it would not be seen)."""
    if not enabled or not sys.stderr.isatty() or total < 200:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("packing", total=total)
        yield lambda n: bar.advance(task, n)
