"""tiktoken encodings for OpenAI-family counting.

TODO(packer): tiktoken downloads its rank files at run time, which fails offline; load them from shipped
data instead (issue 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_ENCODINGS = {"o200k": "o200k_base", "cl100k": "cl100k_base"}


@dataclass
class TiktokenTokenizer:
    name: str
    _enc: Any

    def encode(self, text: str) -> list[int]:
        return list(self._enc.encode(text, disallowed_special=()))

    def count(self, text: str) -> int:
        return len(self._enc.encode(text, disallowed_special=()))

    def count_many(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self._enc.encode_batch(texts, disallowed_special=())]


def load_tiktoken(name: str) -> TiktokenTokenizer:
    import tiktoken

    return TiktokenTokenizer(name, tiktoken.get_encoding(_ENCODINGS[name]))
