"""Which values found next to a secret's name are placeholders, not secrets (``password="secret"`` in a test).

Only the rules that find a value by its name use this (the keyword plugin, unquoted config assignments,
credentials in a URL): a value with a known format (a key prefix, a private-key block) is a secret whatever it
says. A placeholder is a value that could not protect anything:

- shorter than 4 characters (``u:p@``, ``password="x"``);
- a template or a reference, not a value: ``{name}``, ``${VAR}``, ``$VAR``, ``%(name)s``, ``%s``, ``<password>``;
- a mask: only ``*``, ``x``, ``.``, ``-``, ``_`` or ``#``;
- a dummy word, with or without trailing digits (``secret``, ``password1``, ``test123``, ``hunter2``);
- letters only (and ``_`` or spaces) that name themselves a password or a secret (``anewpassword``,
  ``not empty password``, ``oldsecret``).

Counted on the test files of requests 2.32.3, urllib3 2.2.3 and Django 5.2, these were most of what was
redacted besides private keys; none of the seeded secrets of the tests is one.
"""

from __future__ import annotations

import re

__all__ = ["is_placeholder"]

_DUMMY_WORDS = frozenset(
    {
        "secret", "secrets", "password", "passwd", "pass", "pwd", "pw", "test", "tests", "testing", "testpw",
        "testpass", "foo", "bar", "baz", "qux", "foobar", "abc", "abcd", "xyz", "qwerty", "letmein", "changeme",
        "change_me", "example", "dummy", "fake", "sample", "placeholder", "redacted", "hidden", "none", "null",
        "nil", "false", "true", "undefined", "user", "username", "admin", "root", "guest", "hunter", "value",
        "token", "key", "apikey", "api_key", "mysecret", "mypassword", "yourpassword", "topsecret", "top_secret",
    }
)  # fmt: skip
_TEMPLATE = re.compile(r"\{[^{}]*\}|\$\{|^\$\w|%\(\w+\)s|%s|^<[^<>]+>$")
_MASK = re.compile(r"[*x.\-_#]+")
_SELF_NAMED = re.compile(r"[a-z_ ]*(?:pass|secret)[a-z_ ]*")


def is_placeholder(value: str) -> bool:
    """Whether ``value``, found as the value of a secret-sounding name, is a placeholder (see the module)."""
    text = value.strip().strip("\"'`").casefold()
    if len(text) < 4:
        return True
    if _TEMPLATE.search(text) or _MASK.fullmatch(text):
        return True
    if text.rstrip("0123456789") in _DUMMY_WORDS:
        return True
    return _SELF_NAMED.fullmatch(text) is not None
