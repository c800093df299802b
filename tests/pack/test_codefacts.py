"""One parse for both the ranking and the skeleton: ``code_facts`` must give exactly what the two separate
functions give, in every wired-up language, and the workers' skeleton jobs must agree with and without edits."""

from __future__ import annotations

import pytest

from tests.pack.test_skeleton import PY
from tests.pack.test_symbols import SAMPLES
from v4agent.pack.fit.skeleton import apply_skeleton, skeletonize
from v4agent.pack.rank.symbols import LANGUAGES, extract_symbols, language_for, source_bytes
from v4agent.pack.select.analyze import Analysis, emitted_text
from v4agent.pack.work.codefacts import code_facts
from v4agent.pack.work.pool import skeletons_of
from v4agent.secrets.scan import scan_secrets

SOURCES: dict[str, str] = {path: text for path, (text, _, _) in SAMPLES.items()}
SOURCES |= {
    "pkg/mod.py": PY,
    "empty_bodies.py": "def f():\n\nclass A:\n    def m(self):\n\ndef g(): # c\n",
    "broken.py": "def ok_one(x):\n    return x +\n\ndef (:\nclass Fine:\n    def m(self):\n        BODY\n",
    "odd.py": "def name_\udcff(): pass\n\x00\x00\ndef valid_name(): pass\n",
    "crlf.py": "import os\r\n\r\ndef f(a):\r\n    '''Doc.'''\r\n    return a\r\n",
    "empty.py": "",
    "notes.md": "def not_code(): pass\n",
}


def test_the_samples_cover_every_language() -> None:
    assert {language_for(p) for p in SOURCES} >= set(LANGUAGES)


@pytest.mark.parametrize("path", sorted(SOURCES))
def test_one_parse_gives_the_symbols_and_the_skeleton(path: str) -> None:
    text = SOURCES[path]
    symbols, edits = code_facts(path, text)
    assert symbols == extract_symbols(path, text)
    expected = skeletonize(path, text)
    if expected is None:
        assert edits is None
    else:
        assert edits is not None
        assert apply_skeleton(source_bytes(text), edits) == expected


def test_skeletons_from_edits_equal_skeletons_from_a_parse() -> None:
    secret = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
    files = dict(SOURCES)
    files["with_secret.py"] = f'"""Doc."""\nTOKEN = "{secret}"\n\ndef f(x):\n    """Uses {secret}."""\n    return x\n'
    with_edits = [(path, text, code_facts(path, text)[1]) for path, text in sorted(files.items())]
    without = [(path, text, None) for path, text, _ in with_edits]
    assert skeletons_of(with_edits) == skeletons_of(without)
    for (path, text, _), (found, skeleton) in zip(with_edits, skeletons_of(with_edits), strict=True):
        assert found == tuple(scan_secrets(text, path))
        assert skeleton == skeletonize(path, emitted_text(text, Analysis(None, found)))
    found, skeleton = skeletons_of([with_edits[[p for p, _, _ in with_edits].index("with_secret.py")]])[0]
    assert found
    assert skeleton is not None
    assert secret not in skeleton
