"""tiktoken counting works with no network and gives the official encodings' exact token ids."""

from __future__ import annotations

import gzip
import hashlib
import json
import marshal
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from v4agent.tokens import tiktoken_offline
from v4agent.tokens.tiktoken_offline import (
    TiktokenDataError,
    build_encoding,
    load_ranks,
    parse_ranks,
    read_rank_file,
)

# Where tiktoken's own constructors fetch the files (tiktoken_ext/openai_public.py); its cache key is sha1(url).
_OFFICIAL_URLS = {
    "o200k": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}

SAMPLES = [
    "",
    "hello world",
    "def f(x):\n    return x ** 2  # squares\n\n\n",
    "Ünïcödé — 日本語のテキスト, emoji 🚀🧪 and Ελληνικά",
    "literal special tokens are text: <|endoftext|> <|endofprompt|> <|fim_prefix|>",
    "   leading, trailing and\ttabs\r\n\r\n  ",
    "1234567890 3.14159 0xDEADBEEF 1e-10",
    "they're we'll I'D You've CAN'T",
    "x" * 5000,
    "<tag attr=\"v\">&amp;</tag>\n" * 50,
]


def _dead_loopback_proxy() -> str:
    # A port that was free a moment ago: connections to it are refused.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _offline_env(cache_dir: Path) -> dict[str, str]:
    proxy = _dead_loopback_proxy()
    env = dict(os.environ)
    env.update(
        TIKTOKEN_CACHE_DIR=str(cache_dir),
        HTTP_PROXY=proxy, HTTPS_PROXY=proxy, http_proxy=proxy, https_proxy=proxy, ALL_PROXY=proxy,
    )
    for name in ("NO_PROXY", "no_proxy", "DATA_GYM_CACHE_DIR"):
        env.pop(name, None)
    return env


def test_counts_offline_in_a_fresh_process(tmp_path: Path) -> None:
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    code = (
        "import json; from v4agent.tokens.tokenizer import get_tokenizer\n"
        "o, c = get_tokenizer('o200k'), get_tokenizer('cl100k')\n"
        "print(json.dumps({'o_ids': o.encode('hello world'), 'c_ids': c.encode('hello world'),\n"
        "  'o_count': o.count('hello world'), 'many': o.count_many(['hello world', '', 'a b c'])}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_offline_env(cache), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got == {"o_ids": [24912, 2375], "c_ids": [15339, 1917], "o_count": 2, "many": [2, 0, 3]}
    assert list(cache.iterdir()) == []  # nothing was fetched or cached


def test_plain_tiktoken_really_needs_the_network(tmp_path: Path) -> None:
    # The control: the same offline environment makes tiktoken's own loader fail, so the test above means something.
    code = "import tiktoken; tiktoken.get_encoding('o200k_base')"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_offline_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0


@pytest.mark.parametrize("name", ["o200k", "cl100k"])
def test_ids_equal_official_tiktoken(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tiktoken's own constructor (official pattern and special tokens, hash-checked file) agrees with ours."""
    import tiktoken
    from tiktoken_ext import openai_public

    # Seed tiktoken's cache with the bundled file, so its official loader runs offline and checks the hash itself.
    key = hashlib.sha1(_OFFICIAL_URLS[name].encode()).hexdigest()
    (tmp_path / key).write_bytes(read_rank_file(name))
    for var, value in _offline_env(tmp_path).items():
        monkeypatch.setenv(var, value)
    constructor = openai_public.o200k_base if name == "o200k" else openai_public.cl100k_base
    official = tiktoken.Encoding(**constructor())
    ours = build_encoding(name)

    assert ours.name == official.name
    assert ours._pat_str == official._pat_str
    assert ours._special_tokens == official._special_tokens
    assert ours.n_vocab == official.n_vocab
    for text in SAMPLES:
        assert ours.encode_ordinary(text) == official.encode_ordinary(text), text[:40]
        assert ours.decode(ours.encode_ordinary(text)) == text
    assert ours.encode_ordinary_batch(SAMPLES) == official.encode_ordinary_batch(SAMPLES)


def test_bundled_files_have_the_published_hashes() -> None:
    for name, spec in tiktoken_offline.ENCODING_SPECS.items():
        assert hashlib.sha256(read_rank_file(name)).hexdigest() == spec.sha256


def test_tampered_rank_file_is_refused(tmp_path: Path) -> None:
    data = bytearray(read_rank_file("cl100k"))
    data[-3:-1] = b"99"  # change one rank
    bad = tmp_path / "cl100k_base.tiktoken.gz"
    bad.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(TiktokenDataError, match="not the official cl100k_base"):
        read_rank_file("cl100k", bad)

    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(bad.read_bytes()[:1000])
    with pytest.raises(TiktokenDataError, match="cannot read"):
        read_rank_file("cl100k", truncated)


def test_parse_ranks() -> None:
    assert parse_ranks(b"YQ== 0\nYg== 1\n\nYWI= 2\n") == {b"a": 0, b"b": 1, b"ab": 2}
    with pytest.raises(TiktokenDataError, match="odd number"):
        parse_ranks(b"YQ== 0\nYg==\n")
    with pytest.raises(TiktokenDataError, match="malformed"):
        parse_ranks(b"YQ== zero\n")


def test_ranks_are_parsed_once_then_read_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    official = parse_ranks(read_rank_file("cl100k"))
    first = load_ranks("cl100k", tmp_path)
    assert first == official
    [stored] = tmp_path.iterdir()
    assert stored.name.startswith("cl100k_base-223921b76ee99bde-py")

    def no_parse(data: bytes) -> dict[bytes, int]:
        raise AssertionError("parsed again")

    monkeypatch.setattr(tiktoken_offline, "parse_ranks", no_parse)
    assert load_ranks("cl100k", tmp_path) == official


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "not-a-dict"])
def test_a_damaged_cached_copy_is_parsed_again_and_replaced(tmp_path: Path, damage: str) -> None:
    official = load_ranks("cl100k", tmp_path)
    [stored] = tmp_path.iterdir()
    data = bytearray(stored.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 1
    elif damage == "truncate":
        del data[len(data) // 2:]
    elif damage == "empty":
        data.clear()
    else:  # a valid digest over something that is not the ranks
        payload = marshal.dumps([1, 2, 3])
        data = bytearray(hashlib.sha256(payload).digest() + payload)
    stored.write_bytes(bytes(data))
    assert load_ranks("cl100k", tmp_path) == official
    assert marshal.loads(stored.read_bytes()[32:]) == official  # replaced by a good copy


def test_ranks_load_where_the_cache_cannot_be_written(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    assert load_ranks("cl100k", blocked / "tiktoken") == parse_ranks(read_rank_file("cl100k"))


def test_unknown_encoding_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown tiktoken encoding 'p50k'"):
        build_encoding("p50k")
