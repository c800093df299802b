"""The fast V4 counter gives exactly the real tokenizer's counts, on real files and on adversarial text."""

from __future__ import annotations

import random
from itertools import pairwise
from pathlib import Path

import pytest
from tokenizers import Tokenizer, pre_tokenizers

from v4agent.tokens.fastcount import _LINE_START, PieceCounter, _regions
from v4agent.tokens.tokenizer import deepseek_v4_tokenizer_path, get_tokenizer

REPO = Path(__file__).resolve().parents[2]

# Characters where the reduction or the cut into regions could go wrong: digit runs next to letters and spaces,
# every whitespace kind (including ones only some regex engines call whitespace), CJK (split 2), marks, letters
# outside ASCII, symbols, control characters, and the text of added tokens.
_ALPHABET = [
    *"aZq_09 \t\r\n!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~",
    "1234567", "  ", "\n\n", "\r\n", " \n ", "\t\t", "x1", "1x", " 12 ", "def ", "    return",
    "\x0b", "\x0c", "\x00", "\x1c", "\x1f", "\x7f", "\x85", "\u00a0", "\u2028", "\u3000", "\u200b",
    "é", "ß", "ｶ", "中文", "ひらがな", "カタ", "\u0301", "٣", "½", "€", "😀", "\U0001d400",
    "<think>", "</think>", "<|EOT|>", "<dsml:", "<|place_holder_mm_span_0021|>", "<｜begin▁of▁sentence｜>",
]


@pytest.fixture(scope="module")
def real() -> Tokenizer:
    return Tokenizer.from_file(deepseek_v4_tokenizer_path())


def _expected(real: Tokenizer, texts: list[str]) -> list[int]:
    return [len(real.encode(t, add_special_tokens=False).ids) for t in texts]


def test_the_shipped_v4_tokenizer_takes_the_fast_path(real: Tokenizer) -> None:
    assert PieceCounter(real).fast


def test_counts_equal_the_real_tokenizer_on_this_repository(real: Tokenizer) -> None:
    texts = [p.read_text(encoding="utf-8") for p in sorted(REPO.glob("**/*"))
             if p.suffix in {".py", ".md", ".toml", ".txt", ".json", ".sh"} and p.is_file()
             and ".venv" not in p.parts and "build" not in p.parts and p.stat().st_size < 400_000]
    assert len(texts) > 100
    assert PieceCounter(real).count_many(texts) == _expected(real, texts)


@pytest.mark.parametrize("seed", range(6))
def test_counts_equal_the_real_tokenizer_on_random_text(real: Tokenizer, seed: int) -> None:
    rng = random.Random(seed)
    texts = ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 400))) for _ in range(300)]
    # Mostly-ASCII texts with the odd character in one line: the cut into regions does the work there.
    ascii_only = [c for c in _ALPHABET if c.isascii() and c not in "\x0b\x0c\x00\x1c\x1f\x7f"]
    for _ in range(200):
        lines = ["".join(rng.choice(ascii_only) for _ in range(rng.randint(0, 30))) for _ in range(20)]
        lines[rng.randrange(20)] += rng.choice(_ALPHABET)
        texts.append("\n".join(lines))
    counter = PieceCounter(real)
    assert counter.count_many(texts) == _expected(real, texts)
    assert [counter.count_many([t])[0] for t in texts[:50]] == _expected(real, texts[:50])  # memo filled


def test_regions_cover_the_text_and_isolate_other_characters() -> None:
    text = "import os\nname = 'café'\n    x = 1\nprint(x)\n  ü\n\n  \nend\n"
    regions = _regions(text)
    # A region starts only where a line starts with spaces or tabs then a printable ASCII character ("  ü" and
    # the blank lines do not: the line break before them may not end a piece); two regions that meet are one.
    assert [text[a:b] for a, b, _ in regions] == ["import os\n", "name = 'café'\n", "    x = 1\n",
                                                  "print(x)\n  ü\n\n  \n", "end\n"]
    assert [plain for _, _, plain in regions] == [True, False, True, False, True]
    assert _regions("x = 1\n") == [(0, 6, True)]
    assert "".join(text[a:b] for a, b, _ in regions) == text


def test_another_pre_tokenizer_turns_the_fast_path_off_and_counts_stay_exact(real: Tokenizer) -> None:
    other = Tokenizer.from_file(deepseek_v4_tokenizer_path())
    other.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    counter = PieceCounter(other)
    assert not counter.fast
    texts = ["def f(x):\n    return x + 123456\n", "  spaced   out  ", "中文 and ascii"]
    assert counter.count_many(texts) == [len(other.encode(t, add_special_tokens=False).ids) for t in texts]


def test_the_packers_tokenizer_counts_with_it(real: Tokenizer) -> None:
    tok = get_tokenizer("deepseek-v4")
    text = (REPO / "v4agent" / "tokens" / "fastcount.py").read_text(encoding="utf-8")
    assert tok.count(text) == len(real.encode(text, add_special_tokens=False).ids) == len(tok.encode(text))


def test_counts_stay_exact_with_memo_restarts_across_threads(real: Tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import v4agent.tokens.fastcount as fastcount

    monkeypatch.setattr(fastcount, "_MEMO_LIMIT", 40)  # restarts the memo all the time
    rng = random.Random(7)
    parts = [*"abcXYZ_019 \t\n(){}.,:=+-*/#'\"", "def ", "    return", "123456", "\r\n"]
    texts = ["".join(rng.choice(parts) for _ in range(200)) for _ in range(120)]
    expected = _expected(real, texts)
    counter = PieceCounter(real)
    results: list[list[int]] = []

    def work() -> None:
        results.append([counter.count_many([t])[0] for t in texts])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


# --- ids ----------------------------------------------------------------------------------------------------


def _ids(real: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [list(real.encode(t, add_special_tokens=False).ids) for t in texts]


def test_ids_equal_the_real_tokenizer_on_this_repository(real: Tokenizer) -> None:
    texts = [p.read_text(encoding="utf-8") for p in sorted(REPO.glob("**/*"))
             if p.suffix in {".py", ".md", ".toml", ".json"} and p.is_file()
             and ".venv" not in p.parts and "build" not in p.parts and p.stat().st_size < 400_000]
    counter = PieceCounter(real)
    assert [counter.encode(t) for t in texts] == _ids(real, texts)
    whole = "\n".join(texts)  # one long text, as the agent's pack message is
    assert counter.encode(whole) == _ids(real, [whole])[0]


@pytest.mark.parametrize("seed", range(4))
def test_ids_equal_the_real_tokenizer_on_random_text(real: Tokenizer, seed: int) -> None:
    rng = random.Random(100 + seed)
    texts = ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 400))) for _ in range(200)]
    ascii_only = [c for c in _ALPHABET if c.isascii() and c not in "\x0b\x0c\x00\x1c\x1f\x7f"]
    for _ in range(150):  # mostly ASCII, the odd other character: plain and slow regions interleave
        lines = ["".join(rng.choice(ascii_only) for _ in range(rng.randint(0, 30))) for _ in range(20)]
        for _ in range(rng.randint(1, 3)):
            lines[rng.randrange(20)] += rng.choice(_ALPHABET)
        texts.append("\n".join(lines))
    counter = PieceCounter(real)
    expected = _ids(real, texts)
    assert [counter.encode(t) for t in texts] == expected
    assert [counter.encode(t) for t in texts] == expected  # again, from the memo


def test_ids_stay_exact_off_the_fast_path() -> None:
    other = Tokenizer.from_file(deepseek_v4_tokenizer_path())
    other.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    counter = PieceCounter(other)
    texts = ["def f(x):\n    return x + 123456\n", "  spaced   out  ", "中文 and ascii", ""]
    assert [counter.encode(t) for t in texts] == _ids(other, texts)


def test_the_agents_tokenizer_encodes_with_it(real: Tokenizer) -> None:
    tok = get_tokenizer("deepseek-v4")
    text = "<｜begin▁of▁sentence｜>" + (REPO / "README.md").read_text(encoding="utf-8") + "<think>x</think>"
    assert tok.encode(text) == _ids(real, [text])[0]


@pytest.mark.parametrize("span", [1, 37, 4096])
def test_long_texts_counted_in_spans_stay_exact(real: Tokenizer, monkeypatch: pytest.MonkeyPatch, span: int) -> None:
    """A long text is split into pieces a span at a time (bounded memory): the cuts never change a count."""
    import v4agent.tokens.fastcount as fastcount

    monkeypatch.setattr(fastcount, "_SPAN", span)
    rng = random.Random(span)
    ascii_only = [c for c in _ALPHABET if c.isascii() and c not in "\x0b\x0c\x00\x1c\x1f\x7f"]
    texts = ["\n".join("".join(rng.choice(ascii_only) for _ in range(rng.randint(0, 40))) for _ in range(300))
             for _ in range(20)]
    texts.append((REPO / "v4agent" / "tokens" / "fastcount.py").read_text(encoding="utf-8") * 3)
    counter = PieceCounter(real)
    assert counter.count_many(texts) == _expected(real, texts)
    assert [counter.encode(t) for t in texts] == [real.encode(t, add_special_tokens=False).ids for t in texts]


# Indented lines (a directory tree, nested code) around what could join a piece across a line start: whitespace
# runs holding line breaks, Unicode spaces, punctuation runs ending in line breaks, digits, tabs, CR.
_INDENT_ALPHABET = ["\n", "\n  ", "\n    ", "\n\t", "\n \t ", "\r\n  ", "\n\n  ", "\n  \n", " \n  ", "\t\n ",
                    "\u3000\n ", "\x85\n ", "\u00a0\n  ", "\u2028 ", "\x0b\n ", "\n \x0c", ".\n  ", ":\n\n ", "(\n ",
                    "/", "x", "ab", "é", "中", "1", "12345", " ", "  ", "-", "_", "<think>", "😀", "\u0301", "->"]


@pytest.mark.parametrize("seed", range(6))
def test_indented_line_starts_are_exact_cut_points(real: Tokenizer, seed: int) -> None:
    rng = random.Random(seed)
    texts = ["".join(rng.choice(_INDENT_ALPHABET) for _ in range(rng.randint(0, 200))) for _ in range(300)]
    # A tree: indented names, one with a character the reduction does not cover (its own region then).
    for _ in range(40):
        lines = ["  " * rng.randint(0, 6) + "".join(rng.choice("abz_.-/0 ") for _ in range(rng.randint(1, 12)))
                 for _ in range(60)]
        lines[rng.randrange(60)] += rng.choice(["é", "中文", "\u00a0", "😀", "\x85"])
        texts.append("\n".join(lines) + "\n")
    counter = PieceCounter(real)
    assert counter.count_many(texts) == _expected(real, texts)
    assert [counter.encode(t) for t in texts[:80]] == [real.encode(t, add_special_tokens=False).ids
                                                       for t in texts[:80]]
    # The rule itself, against the real tokenizer alone: cut at every line start, the parts' counts add up.
    for text in texts:
        cuts = [0, *(m.end() for m in _LINE_START.finditer(text)), len(text)]
        parts = [text[a:b] for a, b in pairwise(cuts)]
        assert sum(_expected(real, parts)) == _expected(real, [text])[0], text
