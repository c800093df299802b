"""Skeletons: bodies go, outline stays, output is deterministic and (for Python) still parses."""

from __future__ import annotations

import ast

import pytest

from v4agent.pack.fit.skeleton import skeletonize

PY = '''"""Module docstring."""
from __future__ import annotations

import os
from typing import Any

TIMEOUT = 30
ROUTES = [
    "a",
    "b",
]


@decorator(arg=1)
def public(a: int, *, b: str = "x") -> Any:
    """Public function docstring."""
    secret_body_marker = os.getcwd()
    return secret_body_marker


class Widget(Base):
    """Widget docstring."""

    size: int = 3

    # comment above the method
    def draw(self):
        # inner comment
        INNER_MARKER = 1
        return INNER_MARKER

    @property
    def area(self) -> int: return self.size * 2

    for _i in range(3):
        LOOP_MARKER = _i


if __name__ == "__main__":
    MAIN_MARKER = public(1)
'''


def test_python_skeleton_keeps_outline_and_drops_bodies() -> None:
    out = skeletonize("pkg/mod.py", PY)
    assert out is not None
    for kept in (
        '"""Module docstring."""', "from __future__ import annotations", "import os", "TIMEOUT = 30",
        "ROUTES = [ ...", "@decorator(arg=1)", 'def public(a: int, *, b: str = "x") -> Any:',
        '"""Public function docstring."""', "class Widget(Base):", '"""Widget docstring."""', "size: int = 3",
        "# comment above the method", "def draw(self):", "@property", "def area(self) -> int: ...",
    ):
        assert kept in out, kept
    for dropped in ("secret_body_marker", "INNER_MARKER", "inner comment", "LOOP_MARKER", "MAIN_MARKER", "__main__"):
        assert dropped not in out, dropped
    # bodies become an indented ellipsis after the docstring
    assert '    """Public function docstring."""\n    ...\n' in out
    assert "    def draw(self):\n        ...\n" in out


def test_python_skeleton_parses_when_constants_are_one_line() -> None:
    source = PY.replace('ROUTES = [\n    "a",\n    "b",\n]\n', 'ROUTES = ["a", "b"]\n')
    out = skeletonize("pkg/mod.py", source)
    assert out is not None
    tree = ast.parse(out)
    names = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert names == ["public", "Widget", "draw", "area"]
    assert len(out) < len(source)


@pytest.mark.parametrize(
    ("path", "source", "kept", "dropped"),
    [
        ("a.js", "import {x} from './x';\n// doc\nexport function f(a) {\n  return BODY(a);\n}\n"
         "class A extends B {\n  m(x) { return BODY2; }\n}\nconst g = (y) => { return BODY3; };\n",
         ["import {x} from './x';", "// doc", "export function f(a) { ... }", "m(x) { ... }", "const g = (y) => { ... };"],
         ["BODY"]),
        ("a.ts", "interface I { a: number }\nexport class C implements I { a = 1; get(): number { return BODY } }\n",
         ["interface I { a: number }", "get(): number { ... }"], ["BODY"]),
        ("a.tsx", "export function V(p: P) { return <div>{BODY}</div>; }\n", ["export function V(p: P) { ... }"], ["BODY"]),
        ("a.go", "package main\nimport \"fmt\"\n// F does\nfunc F(a int) int {\n\treturn BODY\n}\n"
         "type T struct{ A int }\nfunc (t T) M() { fmt.Println(BODY) }\n",
         ["package main", "// F does", "func F(a int) int { ... }", "type T struct{ A int }", "func (t T) M() { ... }"],
         ["BODY"]),
        ("a.rs", "use std::io;\n/// doc\npub fn f(a: i32) -> i32 {\n    BODY + 1\n}\nimpl T { fn m(&self) { BODY } }\n",
         ["use std::io;", "/// doc", "pub fn f(a: i32) -> i32 { ... }", "impl T { fn m(&self) { ... } }"], ["BODY"]),
        ("A.java", "import java.util.List;\npublic class A extends B {\n  /** d */\n  public A() { BODY(); }\n"
         "  int m(int x) { return BODY; }\n}\n",
         ["import java.util.List;", "/** d */", "public A() { ... }", "int m(int x) { ... }"], ["BODY"]),
        ("a.c", "#include <stdio.h>\n/* d */\nint add(int a, int b) {\n  return BODY;\n}\nstruct S { int a; };\n",
         ["#include <stdio.h>", "/* d */", "int add(int a, int b) { ... }", "struct S { int a; };"], ["BODY"]),
        ("a.cpp", "namespace n {\nclass C { public: int m() { return BODY; } };\nint C::f() { return BODY; }\n}\n",
         ["class C { public: int m() { ... } };", "int C::f() { ... }"], ["BODY"]),
        ("a.rb", "require 'x'\nclass A < B\n  # doc\n  def f(x)\n    BODY + 1\n  end\nend\n",
         ["require 'x'", "class A < B", "# doc", "def f(x)", "end"], ["BODY"]),
        ("a.cs", "using System;\nnamespace N { class A : B { public int M(int x) { return BODY; } } }\n",
         ["using System;", "public int M(int x) { ... }"], ["BODY"]),
        ("a.php", "<?php\nuse Foo\\Bar;\nclass A extends B { public function f($x) { return BODY; } }\n",
         ["use Foo\\Bar;", "public function f($x) { ... }"], ["BODY"]),
    ],
)
def test_brace_and_other_languages(path: str, source: str, kept: list[str], dropped: list[str]) -> None:
    out = skeletonize(path, source)
    assert out is not None
    for k in kept:
        assert k in out, (k, out)
    for d in dropped:
        assert d not in out, (d, out)


def test_unknown_language_is_none() -> None:
    assert skeletonize("README.md", "# title\n") is None
    assert skeletonize("data.bin", "x") is None


def test_deterministic_and_tidy() -> None:
    first = skeletonize("pkg/mod.py", PY)
    assert first == skeletonize("pkg/mod.py", PY)
    assert first is not None
    assert first.endswith("\n")
    assert not first.endswith("\n\n")
    assert "\n\n\n" not in first
    assert all(line == line.rstrip() for line in first.splitlines())


def test_syntax_errors_and_odd_text_do_not_raise() -> None:
    out = skeletonize("bad.py", "def ok_one(x):\n    return x +\n\ndef (:\nclass Fine:\n    def m(self):\n        BODY\n")
    assert isinstance(out, str)
    assert "def ok_one(x):" in out
    assert skeletonize("empty.py", "") == ""
    assert isinstance(skeletonize("odd.js", "function f\udcff() { x }\x00"), str)


def test_crlf_source() -> None:
    out = skeletonize("w.py", "import os\r\n\r\ndef f(a):\r\n    return a\r\n")
    assert out == "import os\n\ndef f(a):\n    ...\n"


def test_a_skeleton_from_known_edits_has_the_secrets_replaced_or_is_parsed_again() -> None:
    from v4agent.pack.fit.skeleton import apply_skeleton_redacted
    from v4agent.pack.rank.symbols import source_bytes
    from v4agent.pack.work.codefacts import code_facts
    from v4agent.pack.work.pool import skeletons_of
    from v4agent.secrets.redact import redaction_edits
    from v4agent.secrets.scan import scan_secrets

    secret = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"
    cases = {
        "outside": f'TOKEN = "{secret}"\n\n\ndef f(a=1):\n    """Doc."""\n    return a\n',
        "docstring": f'def f():\n    """Use {secret} here."""\n    return 1\n',  # copied by the body's edit
        "body": f'def f():\n    """Doc."""\n    key = "{secret}"\n    return key\n',  # dropped with the body
        "nested": f'class C:\n    def f(self):\n        def g():\n            """{secret}"""\n        return g\n',
    }
    for name, text in cases.items():
        findings = tuple(scan_secrets(text, "m.py"))
        assert findings, name
        _, edits = code_facts("m.py", text)
        assert edits is not None
        direct = apply_skeleton_redacted(source_bytes(text), edits, redaction_edits(text, findings))
        [(found, skeleton)] = skeletons_of([("m.py", text, edits)])
        assert found == findings, name
        assert skeleton is not None, name
        assert secret not in skeleton, name
        assert "def f(" in skeleton, name
        assert ("«REDACTED:" in skeleton) == (name in ("outside", "docstring")), name
        assert skeleton == direct, name
        assert skeletons_of([("m.py", text, None)]) == [(found, skeleton)], name  # edits from a parse here
    # One across an edit's edge (not made by a parse's edits: they lie on node edges): the caller parses again.
    assert apply_skeleton_redacted(b"abcdef\n", [(2, 4, b"X")], [(3, 5, b"R")]) is None
    assert apply_skeleton_redacted(b"abcdef\n", [(2, 4, b"cd")], [(2, 3, b"R")]) == "abRdef\n"
