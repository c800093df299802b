"""Secret detection and redaction: nothing that looks like a credential leaves the machine in a prompt.

Two layers:
- ``is_secret_path``: files that are secrets by their name alone (``.env*``, private keys, credential stores).
- ``scan_secrets``: content found by detect-secrets' regex plugins and keyword plugin, plus our own patterns for
  key formats it misses (DeepSeek/OpenAI ``sk-`` keys, fine-grained GitHub tokens, npm auth lines, unquoted
  passwords in config files, whole private-key blocks).

Scanning is per line (lines are split on ``\\n`` only, so line numbers match the packer's and editors' view).
Each plugin's own patterns are first searched over the whole text to pick candidate lines: the scanners then
run only on those, which keeps a 40 MB tree to a fraction of a second. Plugins are called through
``analyze_string``, never ``analyze_line``, because the latter may *verify* a secret over the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["REDACTED_PREFIX", "SecretFinding", "is_secret_path", "redact_secrets", "scan_secrets"]

REDACTED_PREFIX = "«REDACTED:"


@dataclass(frozen=True)
class SecretFinding:
    line: int  # 1-based
    kind: str  # e.g. "aws-access-key", "secret-keyword", "private-key"
    start: int  # character offsets within the line, end exclusive
    end: int


# --- secret by name ---------------------------------------------------------------------------------------

_SECRET_NAMES = frozenset(
    {
        "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk", "identity",
        "credentials.json", "client_secret.json", "service-account.json", "service_account.json",
        ".pypirc", ".netrc", "_netrc", ".git-credentials", ".htpasswd", ".pgpass", ".dockercfg",
        "secrets.json", "secrets.yml", "secrets.yaml", "secrets.toml", "master.key", "credentials.yml.enc",
        "terraform.tfstate", "terraform.tfstate.backup", ".vault-token", "keystore.jks",
    }
)  # fmt: skip
_SECRET_SUFFIXES = (
    ".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".asc", ".gpg", ".kdbx", ".p8",
    ".der", ".crt.key", ".ovpn", ".tfstate",
)  # fmt: skip
# Directory/name pairs: the file name alone is too common to be a secret.
_SECRET_TAILS = ((".aws", "credentials"), (".aws", "config"), (".docker", "config.json"), (".kube", "config"),
                 (".ssh", "config"), ("gcloud", "credentials.db"))  # fmt: skip


def is_secret_path(rel_path: str) -> bool:
    """True when a file is a secret by its name: it is skipped without reading it."""
    parts = rel_path.replace("\\", "/").split("/")
    name = parts[-1]
    lower = name.lower()
    if lower == ".env" or lower.startswith(".env.") or lower.endswith(".env"):
        return True
    if lower in _SECRET_NAMES or lower.endswith(_SECRET_SUFFIXES):
        return True
    if re.fullmatch(r"id_(rsa|dsa|ecdsa|ed25519)(_\w+)?", lower) or re.fullmatch(r"credentials(\.\w+)?", lower):
        return True
    if re.fullmatch(r"(client_secret|service[-_]account)[-_\w.]*\.json", lower):
        return True
    return len(parts) >= 2 and (parts[-2].lower(), lower) in _SECRET_TAILS


# --- secret by content ------------------------------------------------------------------------------------

_CONFIG_EXTENSIONS = (
    ".ini", ".cfg", ".conf", ".config", ".properties", ".yaml", ".yml", ".toml", ".env", ".npmrc", ".yarnrc",
    ".pypirc", ".netrc", ".sh", ".bash", ".zsh", ".envrc", ".tfvars", ".json",
)  # fmt: skip
_KEYWORD_HINT = re.compile(
    r"api_?key|auth_?key|service_?key|account_?key|db_?key|database_?key|priv_?key|private_?key|client_?key"
    r"|db_?pass|database_?pass|key_?pass|password|passwd|pwd|secret|contrase",
    re.IGNORECASE,
)
# Unquoted assignments in config-like files (the keyword plugin wants quotes in most languages).
_CONFIG_ASSIGN = re.compile(
    r"(?:password|passwd|pwd|secret|token|api_?key|apikey|access_?key|secret_?key|private_?key|client_?secret"
    r"|auth_?token|_auth|credentials?)[\w.-]*[\"']?\s*[:=]\s*[\"']?(?P<v>[^\s\"'#;,]{4,})",
    re.IGNORECASE,
)
_OWN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("api-key", re.compile(r"(?<![\w-])(?P<v>sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,})")),
    ("github-token", re.compile(r"(?P<v>(?:gh[pousr]_[A-Za-z0-9_]{30,}|github_pat_[A-Za-z0-9_]{22,}))")),
    ("slack-token", re.compile(r"(?P<v>xox[abposr]-[A-Za-z0-9-]{10,})")),
    ("slack-webhook", re.compile(r"(?P<v>https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,})")),
    ("aws-access-key", re.compile(r"(?P<v>(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16})")),
    ("aws-secret-key", re.compile(r"(?i)aws.{0,20}?(?:secret|key).{0,20}?[:=]\s*[\"']?(?P<v>[0-9a-zA-Z/+]{40})")),
    ("jwt", re.compile(r"(?P<v>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)")),
    ("npm-token", re.compile(r"(?:_authToken|_auth|_password)\s*=\s*(?P<v>\S+)")),
    ("npm-token", re.compile(r"(?P<v>npm_[A-Za-z0-9]{30,})")),
    ("google-api-key", re.compile(r"(?P<v>AIza[0-9A-Za-z_-]{35})")),
    ("url-credentials", re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@\"']+:(?P<v>[^\s:/@\"']{3,})@", re.IGNORECASE)),
)
_KEY_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-\d")
_KEY_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_WORDS = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True)
class _Plugin:
    kind: str
    impl: Any
    hints: tuple[re.Pattern[str], ...]  # whole-text prefilter: a line can be flagged only if one of these hits it
    keyword: bool = False


def _slug(secret_type: str) -> str:
    return _WORDS.sub("-", secret_type.lower()).strip("-")


_PLUGIN_CLASSES = (
    ("artifactory", "ArtifactoryDetector"), ("aws", "AWSKeyDetector"),
    ("azure_storage_key", "AzureStorageKeyDetector"), ("basic_auth", "BasicAuthDetector"),
    ("cloudant", "CloudantDetector"), ("discord", "DiscordBotTokenDetector"), ("github_token", "GitHubTokenDetector"),
    ("gitlab_token", "GitLabTokenDetector"), ("ibm_cloud_iam", "IbmCloudIamDetector"),
    ("ibm_cos_hmac", "IbmCosHmacDetector"), ("jwt", "JwtTokenDetector"), ("mailchimp", "MailchimpDetector"),
    ("npm", "NpmDetector"), ("openai", "OpenAIDetector"), ("pypi_token", "PypiTokenDetector"),
    ("sendgrid", "SendGridDetector"), ("slack", "SlackDetector"), ("softlayer", "SoftlayerDetector"),
    ("square_oauth", "SquareOAuthDetector"), ("stripe", "StripeDetector"), ("telegram_token", "TelegramBotTokenDetector"),
    ("twilio", "TwilioKeyDetector"),
)  # fmt: skip
# Left out on purpose: public IPs are not credentials; high-entropy strings flag every hash and test fixture
# in real code (the keyword plugin and the patterns above catch assigned secrets); private keys are handled as
# whole blocks by _scan_key_blocks.


@cache
def _plugins() -> tuple[_Plugin, ...]:
    import importlib

    from detect_secrets.plugins.keyword import KeywordDetector

    found: list[_Plugin] = []
    for module_name, class_name in _PLUGIN_CLASSES:
        module = importlib.import_module(f"detect_secrets.plugins.{module_name}")
        cls = getattr(module, class_name, None)
        if cls is None:  # a plugin renamed in a later detect-secrets: our own patterns still run
            continue
        impl = cls()
        found.append(_Plugin(_slug(cls.secret_type), impl, tuple(impl.denylist)))
    found.append(_Plugin("secret-keyword", KeywordDetector(), (_KEYWORD_HINT,), keyword=True))
    return tuple(found)


def _keyword_regexes(rel_path: str) -> Any:
    from detect_secrets.plugins.keyword import QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, REGEX_BY_FILETYPE
    from detect_secrets.util.filetype import determine_file_type

    return REGEX_BY_FILETYPE.get(determine_file_type(rel_path), QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    find = text.find
    pos = find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = find("\n", pos + 1)
    return starts


def _candidate_lines(text: str, pattern: re.Pattern[str], starts: list[int]) -> Iterator[int]:
    """0-based indices of lines on which ``pattern`` starts a match (one search per hit line, so a match that
    spans lines cannot hide a later one)."""
    from bisect import bisect_right

    pos = 0
    while True:
        match = pattern.search(text, pos)
        if match is None:
            return
        index = bisect_right(starts, match.start()) - 1
        yield index
        if index + 1 >= len(starts):
            return
        pos = starts[index + 1]


def _spans(line: str, value: str) -> Iterator[tuple[int, int]]:
    start = line.find(value)
    while start != -1:
        yield start, start + len(value)
        start = line.find(value, start + len(value))


def _value_span(match: re.Match[str]) -> tuple[int, int]:
    """The secret inside a plugin's match: its longest capture group when that is long enough to be the value
    (some plugins capture only a prefix such as ``ghp``), else the whole match."""
    best = (match.start(), match.end())
    longest = 0
    for group in range(1, (match.re.groups or 0) + 1):
        start, end = match.span(group)
        if start != -1 and end - start > longest:
            longest, span = end - start, (start, end)
    if longest >= 8:
        best = span
    return best


def scan_secrets(text: str, rel_path: str) -> list[SecretFinding]:
    """Every secret value in ``text``, sorted by position; ``rel_path`` picks the file-type rules."""
    starts = _line_starts(text)
    lines = text.split("\n")
    found: set[SecretFinding] = set()

    def add(index: int, start: int, end: int, kind: str) -> None:
        if end > start:
            found.add(SecretFinding(index + 1, kind, start, end))

    for plugin in _plugins():
        candidates = sorted({i for hint in plugin.hints for i in _candidate_lines(text, hint, starts)})
        if not candidates:
            continue
        if plugin.keyword:
            regexes = _keyword_regexes(rel_path)
            for index in candidates:
                line = lines[index]
                for value in plugin.impl.analyze_string(line, regexes):
                    if isinstance(value, str) and value.strip():
                        for start, end in _spans(line, value):
                            add(index, start, end, plugin.kind)
            continue
        for index in candidates:
            for pattern in plugin.hints:
                for match in pattern.finditer(lines[index]):
                    add(index, *_value_span(match), plugin.kind)

    patterns = list(_OWN_PATTERNS)
    if rel_path.lower().endswith(_CONFIG_EXTENSIONS) or "." not in rel_path.rsplit("/", 1)[-1]:
        patterns.append(("password", _CONFIG_ASSIGN))
    for kind, pattern in patterns:
        for index in sorted(set(_candidate_lines(text, pattern, starts))):
            for match in pattern.finditer(lines[index]):
                add(index, match.start("v"), match.end("v"), kind)

    _scan_key_blocks(text, lines, starts, add)
    return sorted(found, key=lambda f: (f.line, f.start, f.end, f.kind))


def _scan_key_blocks(text: str, lines: list[str], starts: list[int], add: Any) -> None:
    """Redact the body of every private-key block; an unterminated block is redacted to the end of the text."""
    for begin in sorted(set(_candidate_lines(text, _KEY_BEGIN, starts))):
        line = lines[begin]
        marker = _KEY_BEGIN.search(line)
        tail_start = marker.end() if marker else 0
        # Body on the same line (a key pasted into a string literal or a one-line PEM).
        end_match = _KEY_END.search(line, tail_start)
        if end_match is not None:
            add(begin, tail_start, end_match.start(), "private-key")
            continue
        add(begin, tail_start, len(line), "private-key")
        index = begin + 1
        while index < len(lines):
            end_match = _KEY_END.search(lines[index])
            if end_match is not None:
                add(index, 0, end_match.start(), "private-key")
                break
            add(index, 0, len(lines[index]), "private-key")
            index += 1


def redact_secrets(text: str, findings: Sequence[SecretFinding]) -> str:
    """Replace each finding's characters with ``«REDACTED:<kind>»``; overlapping findings merge into one."""
    if not findings:
        return text
    lines = text.split("\n")
    by_line: dict[int, list[SecretFinding]] = {}
    for finding in findings:
        by_line.setdefault(finding.line, []).append(finding)
    for number, items in by_line.items():
        index = number - 1
        if not 0 <= index < len(lines):
            continue
        line = lines[index]
        merged: list[list[Any]] = []
        for item in sorted(items, key=lambda f: (f.start, -f.end)):
            start, end = max(0, item.start), min(len(line), item.end)
            if end <= start:
                continue
            if merged and start < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end, item.kind])
        pieces: list[str] = []
        cursor = 0
        for start, end, kind in merged:
            pieces.append(line[cursor:start])
            pieces.append(f"{REDACTED_PREFIX}{kind}»")
            cursor = end
        pieces.append(line[cursor:])
        lines[index] = "".join(pieces)
    return "\n".join(lines)
