"""Secret detection: a dozen kinds of secrets are found and redacted; secret files are known by name."""

from __future__ import annotations

import pytest

from v4agent.secrets.redact import REDACTED_PREFIX, redact_secrets, redaction_edits
from v4agent.secrets.scan import SecretFinding, is_secret_path, scan_secrets

# Built from parts so that this test file itself does not look like it leaks credentials.
AWS_ID = "AKIA" + "IOSFODNN7EXAMPLQ"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"
GITHUB = "ghp_" + "abcdefghijklmnopqrstuvwxyz0123456789"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
DEEPSEEK = "sk-" + "0123456789abcdef0123456789abcdef"
PASSWORD = "correct-horse-battery-staple"
NPM = "npm_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
KEY_BODY = "MIIEowIBAAKCAQEAv1aRaNdOmKeYbOdYthatIsNotReal0123456789"

CASES = [
    ("settings.py", f'AWS_ACCESS_KEY_ID = "{AWS_ID}"\n', AWS_ID),
    ("settings.py", f'aws_secret_access_key = "{AWS_SECRET}"\n', AWS_SECRET),
    ("ci.yml", f"token: {GITHUB}\n", GITHUB),
    ("notify.js", f'const slack = "{SLACK}";\n', SLACK),
    ("auth.ts", f'const header = "Bearer {JWT}";\n', JWT),
    ("client.py", f'DEEPSEEK_API_KEY = "{DEEPSEEK}"\n', DEEPSEEK),
    ("config.ini", f"[db]\npassword = {PASSWORD}\n", PASSWORD),
    ("app.yaml", f"database:\n  password: {PASSWORD}\n", PASSWORD),
    ("db.py", f'connect(password="{PASSWORD}")\n', PASSWORD),
    (".npmrc", f"//registry.npmjs.org/:_authToken={NPM}\n", NPM),
    ("deploy.sh", f"curl https://admin:{PASSWORD}@example.com/\n", PASSWORD),
    ("key.txt", f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----\n", KEY_BODY),
    ("embedded.py", f'KEY = "-----BEGIN PRIVATE KEY-----{KEY_BODY}-----END PRIVATE KEY-----"\n', KEY_BODY),
]


@pytest.mark.parametrize(("path", "text", "secret"), CASES, ids=[c[0] + ":" + c[2][:6] for c in CASES])
def test_each_kind_is_found_and_redacted(path: str, text: str, secret: str) -> None:
    findings = scan_secrets(text, path)
    assert findings, f"nothing found in {path}"
    redacted = redact_secrets(text, findings)
    assert secret not in redacted
    assert REDACTED_PREFIX in redacted
    # Only the value goes: the structure of the file (line count, the key name) stays.
    assert redacted.count("\n") == text.count("\n")


def test_finding_positions_are_line_and_character_offsets() -> None:
    text = f'x = 1\ntoken = "{GITHUB}"  # ü\n'
    findings = [f for f in scan_secrets(text, "a.py") if f.kind == "github-token"]
    assert findings
    finding = findings[0]
    line = text.split("\n")[finding.line - 1]
    assert finding.line == 2
    assert line[finding.start : finding.end] == GITHUB


def test_clean_code_has_no_findings() -> None:
    text = "def add(a, b):\n    return a + b\n\nclass Password:\n    '''Just a word.'''\n"
    assert scan_secrets(text, "math.py") == []


def test_non_ascii_text_keeps_offsets() -> None:
    text = f'naïve = "é"\npassword = "{PASSWORD}"  # contraseña\n'
    redacted = redact_secrets(text, scan_secrets(text, "x.py"))
    assert PASSWORD not in redacted
    assert "naïve" in redacted
    assert "contraseña" in redacted


def test_overlapping_findings_merge() -> None:
    text = "abcdefghij"
    out = redact_secrets(text, [SecretFinding(1, "a", 2, 6), SecretFinding(1, "b", 4, 8)])
    assert out == "ab«REDACTED:a»ij"


@pytest.mark.parametrize(
    "path",
    [".env", "app/.env.local", ".env.production", "id_rsa", "home/.ssh/id_ed25519", "certs/server.pem",
     "tls.key", "credentials.json", ".aws/credentials", ".pypirc", ".netrc", "store.p12", "client_secret_123.json"],
)  # fmt: skip
def test_secret_paths(path: str) -> None:
    assert is_secret_path(path)


@pytest.mark.parametrize("path", ["id_rsa.pub", "src/env.py", "README.md", "keyboard.py", "docs/credentials.md"])
def test_ordinary_paths(path: str) -> None:
    assert not is_secret_path(path)


def _reference_scan(text: str, rel_path: str) -> set[tuple[int, str, int, int]]:
    """Every plugin on every line, no prefilter: the fast scan must find exactly the same."""
    from v4agent.secrets import scan as s

    found: set[tuple[int, str, int, int]] = set()
    name = rel_path.rsplit("/", 1)[-1].lower()
    is_config = name.endswith(s._CONFIG_EXTENSIONS) or "." not in name.lstrip(".") or name.startswith(".")
    for index, line in enumerate(text.split("\n")):
        for plugin in s._plugins():
            if plugin.config_only and not is_config:
                continue
            found.update((index + 1, plugin.kind, a, b)
                         for a, b in s._plugin_spans(plugin, line, s._keyword_regexes(rel_path)))
    return found


def test_prefilter_loses_nothing() -> None:
    # Every case above plus lines built to hit each detect-secrets plugin, with non-ASCII and odd whitespace.
    extra = "\n".join(
        [
            'cloudant_password = "' + "a" * 24 + '"',
            "ibm_cloud_iam_key: " + "A" * 44,
            'softlayer_api_key = "' + "b" * 64 + '"',
            'ibm_cos_secret_access_key = "' + "c" * 48 + '"',
            "artifactory = AKC" + "x" * 12,
            "AccountKey=" + "k" * 88,
            "MTIzNDU2Nzg5MDEyMzQ1Njc4.AbCdEf." + "g" * 27,
            "glpat-" + "z" * 20,
            "0123456789abcdef0123456789abcdef-us12",
            "sq0csp-" + "q" * 43,
            "sk_live_" + "s" * 24,
            "123456789:" + "T" * 35,
            "AC" + "a" * 32,
            "SG." + "s" * 22 + "." + "g" * 43,
            "pypi-AgEIcHlwaS5vcmc" + "p" * 70,
            "if 'hunter2hunter2' == user_password:",
            "contraseña\u00a0= 'pässwörd'",
            "db_pass: x",
            # the keyword plugin's forms, per file type (quotes required or not)
            'password = "hunter2hunter2"', "api_key: 'zz9zz9zz9'", 'PASSWORD => "x1y2z3w4"', 'secret === "abcdef12"',
            "my_secret_key != 'abc12345'", 'password_x("abcdef12");', "db_pass := \"gopher99\"", "secret]' = 'v4lu3v4lu3'",
            "passwd_conf \u00a0=\u00a0 'n0nbr34k'", 'password="nospace12"', "setPassword.assign(\"cpp12345\")",
            "contraseña = 'clave123'", "database_password = get_env('X');", "secret_token: unquoted_value_123",
            "api_key = unquoted_value_456", "def check_password(self, raw_password):", "pwd(\"call1234\")",
            'private_key_id`: `backtick99`', "PRIVATE_KEY\t=\t'tabbed999'", 'auth_keys == "compared1"', 'secret_val := "semicolon1";',
        ]
    )
    paths = ["x.yaml", "x.py", "x.js", "x.java", "x.go", "x.cpp", "x.c", "x.cs", "x.toml", "x.ini", "x.txt",
             "Dockerfile", ".env.sample", "x.properties", "x.tf", "x.swift", "x.m"]
    for path, text, _ in [*CASES, *((p, extra, "") for p in paths)]:
        fast = {(f.line, f.kind, f.start, f.end) for f in scan_secrets(text, path)}
        reference = _reference_scan(text, path)
        assert reference <= fast, (path, reference - fast)


def _lines_one_union_hits(text: str, quoted: bool) -> list[tuple[int, bytes]]:
    """The candidate lines as one RE2 pattern of every hint marks them (the prefilter before it was split)."""
    import re2

    from v4agent.secrets import scan as s

    union = re2.compile("|".join(f"(?:{hint})" for hint, _ in s._hints(quoted)).encode("latin-1"),
                        options=s._re2_options())
    lines = text.encode("utf-8", "surrogatepass").split(b"\n")
    return [(i, line) for i, line in enumerate(lines) if union.search(line) is not None]


def test_the_split_prefilter_marks_the_lines_one_union_marks() -> None:
    from pathlib import Path

    from v4agent.secrets import scan as s

    texts = [text for _, text, _ in CASES]
    texts += [path.read_text(encoding="utf-8") for path in sorted(Path(s.__file__).parents[1].rglob("*.py"))]
    texts.append("\n".join(texts[:len(CASES)]) + "\n\n password = 'x'\n")  # hits on the first and last lines
    for quoted in (False, True):
        for text in texts:
            assert list(s._candidate_lines(text, quoted)) == _lines_one_union_hits(text, quoted)


def test_config_settings_with_numeric_or_literal_values_are_not_secrets() -> None:
    # Real model configs say "token_id": 128799; tool configs say max_tokens = 8192 (found redacted in a real pack).
    text = '{\n  "dspark_noise_token_id": 128799,\n  "max_tokens": 8192,\n  "use_token": true\n}\n'
    assert scan_secrets(text, "config.json") == []
    assert scan_secrets("max_tokens = 8192\ntoken_ttl: 3.5\n", "settings.toml") == []
    flagged = scan_secrets("password: hunter2isbad\ntoken = 9f8e7d6c5b4a\n", "app.yaml")
    assert {f.line for f in flagged} == {1, 2}


def test_cache_version_follows_the_secret_rules() -> None:
    """A cached 'no secret here' must not outlive a rule change: the cache version hashes the producers' code."""
    import hashlib
    import importlib.util
    from pathlib import Path

    from v4agent.pack.work import factcache

    assert "v4agent.secrets.scan" in factcache._PRODUCERS
    digest = hashlib.sha1()
    for name in factcache._PRODUCERS:
        spec = importlib.util.find_spec(name)
        assert spec is not None
        assert spec.origin is not None
        digest.update(Path(spec.origin).read_bytes())
    assert factcache.CACHE_VERSION.endswith(digest.hexdigest()[:12])


def test_the_cache_version_covers_every_pack_module_a_producer_imports() -> None:
    """A producer's output also depends on the pack and secrets modules it imports (symbols -> pysymbols ->
    pycode): a change to any of them must start a fresh cache too."""
    import ast
    import importlib.util
    from pathlib import Path

    from v4agent.pack.work import factcache

    needed, todo = set(), list(factcache._PRODUCERS)
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        spec = importlib.util.find_spec(name)
        assert spec is not None
        assert spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("v4agent.pack.", "v4agent.secrets.")):
                todo.append(node.module)
    assert needed <= set(factcache._PRODUCERS), sorted(needed - set(factcache._PRODUCERS))


def _apply_edits(text: str, edits: list[tuple[int, int, bytes]]) -> str:
    source = text.encode("utf-8", "surrogatepass")
    out, cursor = [], 0
    for start, end, replacement in edits:
        assert start >= cursor
        out += [source[cursor:start], replacement]
        cursor = end
    return b"".join([*out, source[cursor:]]).decode("utf-8", "surrogatepass")


@pytest.mark.parametrize("seed", range(4))
def test_redaction_edits_make_the_same_text_as_redact_secrets(seed: int) -> None:
    import random

    rng = random.Random(seed)
    words = ["naïve", "ü", "日本", "x", "password", "😀", "tab\t", "", "key = 'v'"]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randrange(6))) for _ in range(30)]
    text = "\n".join(lines) + rng.choice(["", "\n"])
    findings = []
    for _ in range(12):  # overlapping, touching, past the line's end, on lines that do not exist
        line = rng.randrange(1, 33)
        start = rng.randrange(0, 12)
        findings.append(SecretFinding(line, rng.choice(["a", "b"]), start, start + rng.randrange(0, 9)))
    assert _apply_edits(text, redaction_edits(text, findings)) == redact_secrets(text, findings)
    assert redaction_edits(text, []) == []
    assert redact_secrets(text, []) == text


def test_an_npm_auth_line_is_a_secret_and_a_private_attribute_is_not() -> None:
    npmrc = "_auth=" + "dXNlcjpwYXNzd29yZDEyMzQ=" + "\n//registry.example.com/:_password=" + "c2VjcmV0LXBhc3M=" + "\n"
    found = scan_secrets(npmrc, ".npmrc")
    assert {f.line for f in found if f.kind == "npm-token"} == {1, 2}
    for line in ("self._password = None\n", "        self._password = raw_password\n", "obj._auth = token\n"):
        assert scan_secrets(line, "base_user.py") == [], line


# --- placeholders and spans: what real test suites are full of --------------------------------------------------


@pytest.mark.parametrize("line", [
    '    ("hTTp://u:p@Other.Host/path", "http://http.proxy", http_proxies),',  # requests' tests/test_utils.py
    '    "http": "http://user:pass@localhost:8080",',
    '    f"http://{ENCODED_USER}:{ENCODED_PASSWORD}@request.com/url.html#test",',
    '    user = User.objects.create_user(username="super", password="secret")',
    '    self.client.login(username="testclient", password="password")',
    '    data = {"password1": "test123", "password2": "test123"}',
    '    PASSWORD = "${DB_PASSWORD}"',
    '    form = {"new_password1": "anewpassword"}',
])
def test_placeholder_values_are_not_secrets(line: str) -> None:
    assert scan_secrets(line + "\n", "tests/test_x.py") == []


def test_only_the_value_is_redacted_never_the_name_or_the_host() -> None:
    url = f"curl https://admin:{PASSWORD}@db.example.com/"
    assert redact_secrets(url, scan_secrets(url, "deploy.sh")) == "curl https://admin:«REDACTED:basic-auth-credentials»@db.example.com/"
    kwargs = 'login(username="bob", email="bob@hunter2hunter2.com", password="hunter2hunter2")'
    redacted = redact_secrets(kwargs, scan_secrets(kwargs, "x.py"))
    assert redacted == 'login(username="bob", email="bob@hunter2hunter2.com", password="«REDACTED:secret-keyword»")'


@pytest.mark.parametrize(("value", "placeholder"), [
    ("secret", True), ("Password1", True), ("hunter2", True), ("x", True), ("****", True), ("<password>", True),
    ("{pw}", True), ("$SECRET", True), ("%(password)s", True), ("not empty password", True), ("oldsecret", True),
    (PASSWORD, False), ("hunter2hunter2", False), ("s3cr3t-pass-word", False), (AWS_SECRET, False), ("qwerty7x!", False),
])
def test_is_placeholder(value: str, placeholder: bool) -> None:
    from v4agent.secrets.values import is_placeholder

    assert is_placeholder(value) is placeholder
