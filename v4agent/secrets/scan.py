"""Secret detection: which files and line spans hold something that looks like a credential.

Two layers:
- ``is_secret_path``: files that are secrets by their name alone (``.env*``, private keys, credential stores).
- ``scan_secrets``: content found by detect-secrets' regex plugins and keyword plugin, plus our own patterns for
  key formats it misses (DeepSeek/OpenAI ``sk-`` keys, fine-grained GitHub tokens, npm auth lines, unquoted
  passwords in config files, whole private-key blocks).

Values found by a secret-sounding name (the keyword plugin, unquoted config assignments, credentials in a
URL) are left out when they are placeholders (``values.is_placeholder``: ``password="secret"`` in a test);
only the value is redacted, never the name or a URL's scheme and host around it.

Scanning is per line (lines are split on ``\\n`` only, so line numbers match the packer's and editors' view).
Each plugin's own patterns are first searched over the whole text to pick candidate lines: the scanners then
run only on those, so a large tree costs little more than that one search. Plugins are called through
``analyze_string``, never ``analyze_line``, because the latter may *verify* a secret over the network.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from v4agent.secrets.paths import is_secret_path
from v4agent.secrets.values import is_placeholder

__all__ = ["SecretFinding", "is_secret_path", "prepare_scanner", "scan_secrets"]


@dataclass(frozen=True)
class SecretFinding:
    """One flagged value: its line, what kind of secret it looks like, and its span on that line."""

    line: int  # 1-based
    kind: str  # e.g. "aws-access-key", "secret-keyword", "private-key"
    start: int  # character offsets within the line, end exclusive
    end: int


# --- secret by name ---------------------------------------------------------------------------------------

# --- secret by content ------------------------------------------------------------------------------------

_CONFIG_EXTENSIONS = (
    ".ini", ".cfg", ".conf", ".config", ".properties", ".yaml", ".yml", ".toml", ".env", ".npmrc", ".yarnrc",
    ".pypirc", ".netrc", ".sh", ".bash", ".zsh", ".envrc", ".tfvars", ".json",
)  # fmt: skip
# Unquoted assignments in config-like files (the keyword plugin wants quotes in most languages).
_CONFIG_ASSIGN = re.compile(
    r"(?:password|passwd|pwd|secret|token|api_?key|apikey|access_?key|secret_?key|private_?key|client_?secret"
    r"|auth_?token|_auth|credentials?)[\w.-]*[\"']?\s*[:=]\s*[\"']?"
    # A plain number or a literal is a setting (max_tokens = 8192, token_id: 128799, use_token: true), not a secret.
    r"(?P<v>(?!(?:\d+(?:\.\d+)?|true|false|null|none)(?:[\s\"'#;,]|$))[^\s\"'#;,]{4,})",
    re.IGNORECASE,
)
_CONFIG_LITERALS = ("pass", "pwd", "secret", "token", "key", "_auth", "credential")
# Our own patterns, for formats detect-secrets misses or matches only in part: (kind, pattern, literals).
# (The literals only document the hint in _HINTS that covers the pattern.)
_OWN_PATTERNS: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("api-key", re.compile(r"(?<![\w-])(?P<v>sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,})"), ("sk-",)),
    ("github-token", re.compile(r"(?P<v>(?:gh[pousr]_[A-Za-z0-9_]{30,}|github_pat_[A-Za-z0-9_]{22,}))"),
     ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    ("slack-token", re.compile(r"(?P<v>xox[abposr]-[A-Za-z0-9-]{10,})"), ("xox",)),
    ("slack-webhook", re.compile(r"(?P<v>https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,})"),
     ("hooks.slack.com",)),
    ("aws-secret-key", re.compile(r"(?i)aws.{0,20}?(?:secret|key).{0,20}?[:=]\s*[\"']?(?P<v>[0-9a-zA-Z/+]{40})"),
     ("aws",)),
    ("json-web-token", re.compile(r"(?P<v>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)"), ("eyj",)),
    # .npmrc auth lines (``_auth=``, ``//registry/:_authToken=``): at a line's start or after the scope's ":",
    # never an attribute (``self._password = None`` in Python is no npm token).
    ("npm-token", re.compile(r"(?:^\s*|:)(?:_authToken|_auth|_password)\s*=\s*(?P<v>\S+)"), ("_auth", "_password")),
    ("npm-token", re.compile(r"(?P<v>npm_[A-Za-z0-9]{30,})"), ("npm_",)),
    ("google-api-key", re.compile(r"(?P<v>AIza[0-9A-Za-z_-]{35})"), ("aiza",)),
    ("url-credentials", re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@\"']+:(?P<v>[^\s:/@\"']{3,})@", re.IGNORECASE),
     ("://",)),
)  # fmt: skip
_KEY_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-\d")
_KEY_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_WORDS = re.compile(r"[^A-Za-z0-9]+")

# detect-secrets' regex plugins. Left out on purpose: public IPs are not credentials; high-entropy strings flag
# every hash and test fixture in real code (the keyword plugin and our patterns catch assigned secrets); private
# keys are handled as whole blocks by _scan_key_blocks.
_PLUGIN_CLASSES: tuple[tuple[str, str], ...] = (
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

# Python's ``re`` crawls (over a minute on a 40 MB tree) through patterns that open with lookbehinds or
# case-insensitive alternations, so one RE2 pass per file (UTF-8 bytes, a DFA) first picks the candidate lines
# and only those see the real patterns. Each hint below is a SUPERSET of what the patterns it stands for can
# match on one line (RE2 has no lookarounds, so those are dropped; bounded repeats are shortened; Python's
# Unicode \s, \w and \d are widened to non-ASCII bytes). None of them can match a newline, so a match marks
# exactly one line. Keep them in step when a pattern is added above.
_DENY = (
    r"api_?key|auth_?key|service_?key|account_?key|db_?key|database_?key|priv_?key|private_?key|client_?key"
    r"|db_?pass|database_?pass|key_?pass|password|passwd|pwd|secret|contrase"
)
_WS = r"(?:[\t\x0b\x0c\r \x1c-\x1f]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]|\xe2\x81\x9f|\xe3\x80\x80)*"
_AFFIX = r"[0-9A-Za-z_\x80-\xff]*"
_TOKEN = r"[a-zA-Z0-9_\-\x80-\xff]"
_HINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (hint, the plugins it stands for: detect-secrets module names, our pattern kinds, "keyword", "config",
    # "key-block"; our kinds must not equal a module name)
    # (These first three, after the keyword form ``_hints`` puts before them, are led by a name: ``_NAME_LED``.)
    # keyword plugin, preceded by == / != (its quotes-required form; case-sensitive, so a superset as well)
    (rf"[!=][!=][^\n]*(?i:{_DENY})", ("keyword",)),
    # our unquoted config assignments
    (r"(?i:(?:password|passwd|pwd|secret|token|api_?key|apikey|access_?key|secret_?key|private_?key"
     rf"|client_?secret|auth_?token|_auth|credentials?)[0-9A-Za-z_.\-\x80-\xff]*['\"]?{_WS}[:=])", ("config",)),
    # cloudant / IBM IAM / softlayer key assignments; their URL forms
    (rf"(?i:(?:key|pwd|pw|password|pass|token)[\]'\"]*{_WS}[=:>]*{_WS}['\"]?[a-z0-9_\-]{{24}})",
     ("cloudant", "ibm_cloud_iam", "softlayer")),
    (r"(?i:\.cloudant\.com|api\.softlayer\.com)", ("cloudant", "softlayer")),
    (r"(?i:secret[-_]?(?:access)?[-_]?key[^\n]*[a-f0-9]{48})", ("ibm_cos_hmac",)),
    (r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}", ("aws",)),
    (r"(?i:aws[^\n]{0,20}(?:key|pwd|pw|pass|token|secret))", ("aws", "aws-secret-key")),
    (r"AKC[a-zA-Z0-9]{10}|AP[0-9A-F\x80-\xff][a-zA-Z0-9]{8}", ("artifactory",)),
    (r"AccountKey=", ("azure_storage_key",)),
    (r"://[^/@\n]*:[^/@\n]*@", ("basic_auth", "url-credentials")),
    (rf"\.{_TOKEN}{{6,}}\.{_TOKEN}{{27}}", ("discord",)),
    (r"gh[pousr]_[A-Za-z0-9_]{30}|github_pat_", ("github_token", "github-token")),
    (r"(?:glpat|gldt|glft|glsoat|glrt|glcbt|glimt|glptt|glagent|gloas)-|GR1348941", ("gitlab_token",)),
    (r"eyJ", ("jwt", "json-web-token")),
    (r"[0-9a-z]{32}-us[0-9]", ("mailchimp",)),
    (r"(?:_authToken|_auth|_password)[^\n]*=|npm_[A-Za-z0-9]{30}", ("npm", "npm-token")),
    (r"T3BlbkFJ", ("openai",)),
    (r"pypi-AgE", ("pypi_token",)),
    (r"SG\.[a-zA-Z0-9_\-]{22}\.", ("sendgrid",)),
    (r"sq0csp-", ("square_oauth",)),
    (r"[rs]k_live_", ("stripe",)),
    (r"(?i:xox[abposr]-|hooks\.slack\.com)", ("slack", "slack-token", "slack-webhook")),
    (r"[0-9\x80-\xff]{8}:[0-9A-Za-z_\-]{35}", ("telegram_token",)),
    (r"(?:AC|SK)[a-z0-9]{32}", ("twilio",)),
    (r"sk-[A-Za-z0-9_\-]{20}", ("api-key",)),
    (r"AIza[0-9A-Za-z_\-]{35}", ("google-api-key",)),
    (r"PRIVATE KEY|PuTTY-User-Key-File", ("key-block",)),
)


# The keyword plugin's forms after the deny word. Most file types (Python, JavaScript, Java, unknown ones) get its
# quotes-required regexes: an assignment, colon or arrow then a quote, or a quoted value and a semicolon later on.
# The others (config files, Go, C, C++, C#) get looser ones: a deny word then any assignment, call or quote.
_KEYWORD_QUOTED = (
    rf"(?i:(?:{_DENY}){_AFFIX}[\]'\"]{{0,2}}{_WS}(?::|={{1,3}}|!==?|=>){_WS}['\"`])"
    rf"|(?i:(?:{_DENY})[^\n]*['\"`][^\n]*;)"
)
_KEYWORD_LOOSE = rf"(?i:(?:{_DENY})[^\n]*[=:('\"`])"


_NAME_LED = 4  # the first hints of ``_hints``: the keyword plugin's two, our config assignments, cloudant's


def _hints(quoted: bool) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return ((_KEYWORD_QUOTED if quoted else _KEYWORD_LOOSE, ("keyword",)), *_HINTS)


@dataclass(frozen=True)
class _Plugin:
    name: str  # as named in _HINTS
    kind: str
    patterns: tuple[re.Pattern[str], ...]
    keyword: Any = None  # the KeywordDetector: its regexes are run for the value's position
    config_only: bool = False  # only in config-like files
    value_group: str | int | None = None  # the capture group that is the value, when the plugin has one
    named_value: bool = False  # found by a secret-sounding name, not by its format: placeholders are left out


def _slug(secret_type: str) -> str:
    return _WORDS.sub("-", secret_type.lower()).strip("-")


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
        basic_auth = module_name == "basic_auth"  # its group 1 is the password (never the scheme or host)
        found.append(_Plugin(module_name, _slug(cls.secret_type), tuple(cls().denylist),
                             value_group=1 if basic_auth else None, named_value=basic_auth))
    found.append(_Plugin("keyword", "secret-keyword", (), keyword=KeywordDetector(), named_value=True))
    own: dict[str, tuple[re.Pattern[str], ...]] = {}
    for kind, pattern, _lits in _OWN_PATTERNS:
        own[kind] = (*own.get(kind, ()), pattern)
    found.extend(_Plugin(kind, kind, patterns, value_group="v", named_value=kind == "url-credentials")
                 for kind, patterns in own.items())
    found.append(_Plugin("config", "password", (_CONFIG_ASSIGN,), config_only=True, value_group="v",
                         named_value=True))
    return tuple(found)


@cache
def _plugins_by_name(config_file: bool) -> dict[str, _Plugin]:
    """The plugins that apply to a file, by name: the config-only ones only to a config file."""
    return {p.name: p for p in _plugins() if config_file or not p.config_only}


def _re2_options() -> Any:
    import re2

    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1  # match bytes; the hints spell UTF-8 sequences themselves
    # The union's DFA outgrows RE2's default 8 MiB and falls back to a much slower engine.
    options.max_mem = 64 << 20
    return options


@cache
def _prefilter(quoted: bool) -> tuple[Any, ...]:
    """RE2 patterns (over UTF-8 bytes) whose matches mark every line that some plugin could flag: the hints led by
    a secret-sounding name (which run on to the value) apart from those of a token's own format. Each is one DFA;
    their union's DFA has so many more states that RE2 runs it slower than the two in turn."""
    import re2

    hints = [hint for hint, _ in _hints(quoted)]
    return tuple(re2.compile("|".join(f"(?:{hint})" for hint in part).encode("latin-1"), options=_re2_options())
                 for part in (hints[:_NAME_LED], hints[_NAME_LED:]))


@cache
def _hint_set(quoted: bool) -> tuple[Any, tuple[tuple[str, ...], ...]]:
    """An RE2 set that tells, for one candidate line, which hints (so which plugins) apply."""
    import re2

    hints = _hints(quoted)
    hint_set = re2.Set.SearchSet(_re2_options())
    for hint, _ in hints:
        hint_set.Add(hint.encode("latin-1"))
    hint_set.Compile()
    return hint_set, tuple(names for _, names in hints)


def _keyword_regexes(rel_path: str) -> Any:
    return _keyword_regexes_for(os.path.splitext(rel_path)[1])


@lru_cache(maxsize=1024)
def _keyword_regexes_for(extension: str) -> Any:
    """The keyword plugin's regexes for a file type, which detect-secrets tells by the extension alone."""
    from detect_secrets.plugins.keyword import QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, REGEX_BY_FILETYPE
    from detect_secrets.util.filetype import determine_file_type

    return REGEX_BY_FILETYPE.get(determine_file_type("file" + extension), QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP)


def _quotes_required(rel_path: str) -> bool:
    from detect_secrets.plugins.keyword import QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP

    return _keyword_regexes(rel_path) is QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP


def _candidate_lines(text: str, quoted: bool = False) -> Iterator[tuple[int, bytes]]:
    """(0-based index, UTF-8 line) for each line a prefilter hits, in order."""
    data = text.encode("utf-8", "surrogatepass")
    lines: set[tuple[int, int]] = set()  # (start, end) of each line hit
    for prefilter in _prefilter(quoted):
        pos = 0
        while (match := prefilter.search(data, pos)) is not None:
            start = match.start()
            line_end = data.find(b"\n", start)
            if line_end == -1:
                line_end = len(data)
            lines.add((data.rfind(b"\n", 0, start) + 1, line_end))
            pos = line_end + 1  # the next line: one hit is enough
            if pos > len(data):
                break
    index = counted_to = 0
    for line_start, line_end in sorted(lines):
        index += data.count(b"\n", counted_to, line_start)
        counted_to = line_start
        yield index, data[line_start:line_end]


def _value_span(match: re.Match[str], group: str | int | None = None) -> tuple[int, int]:
    """The secret inside a plugin's match: ``group`` when the plugin names the value's group, else its longest
    capture group when that is long enough to be the value (some plugins capture only a prefix such as
    ``ghp``), else the whole match."""
    if group is not None:
        with contextlib.suppress(IndexError):
            start, end = match.span(group)
            if start != -1:
                return start, end
    best = (match.start(), match.end())
    longest = 0
    for number in range(1, (match.re.groups or 0) + 1):
        start, end = match.span(number)
        if start != -1 and end - start > longest:
            longest = end - start
            if longest >= 8:
                best = (start, end)
    return best


def _plugin_spans(plugin: _Plugin, line: str, keyword_regexes: Any) -> Iterator[tuple[int, int]]:
    """The spans of the values ``plugin`` finds on one line; a placeholder is no value for a name-found rule."""
    if plugin.keyword is not None:
        # The keyword plugin's own regexes (what its analyze_string runs), for the match's position: redacting
        # each occurrence of the value string would take the name too (password="password").
        spans: Iterable[tuple[int, int]] = [
            m.span(group) for regex, group in keyword_regexes.items() if (m := regex.search(line))]
    else:
        spans = [_value_span(m, plugin.value_group) for pattern in plugin.patterns for m in pattern.finditer(line)]
    for start, end in spans:
        value = line[start:end]
        if end > start and value.strip() and not (plugin.named_value and is_placeholder(value)):
            yield start, end


def prepare_scanner() -> None:
    """Import detect-secrets and compile the patterns now: done before forking workers, every process that
    scans starts with them instead of paying for them at its first file."""
    _quotes_required("x.py")
    _plugins()
    for quoted in (False, True):
        _prefilter(quoted)
        _hint_set(quoted)


def scan_secrets(text: str, rel_path: str) -> list[SecretFinding]:
    """Every secret value in ``text``, sorted by position; ``rel_path`` picks the file-type rules."""
    found: set[SecretFinding] = set()

    def add(index: int, start: int, end: int, kind: str) -> None:
        if end > start:
            found.add(SecretFinding(index + 1, kind, start, end))

    name = rel_path.rsplit("/", 1)[-1].lower()
    is_config = name.endswith(_CONFIG_EXTENSIONS) or "." not in name.lstrip(".") or name.startswith(".")
    by_name = _plugins_by_name(is_config)
    quoted = _quotes_required(rel_path)
    hint_set, hint_names = _hint_set(quoted)
    key_block = False
    keyword_regexes = None
    for index, raw in _candidate_lines(text, quoted):
        names = {name for hint in hint_set.Match(raw) for name in hint_names[hint]}
        key_block = key_block or "key-block" in names
        line = raw.decode("utf-8", "surrogatepass")
        for plugin in (by_name[name] for name in sorted(names) if name in by_name):
            if plugin.keyword is not None:
                keyword_regexes = keyword_regexes or _keyword_regexes(rel_path)
            for start, end in _plugin_spans(plugin, line, keyword_regexes):
                add(index, start, end, plugin.kind)
    if key_block:
        _scan_key_blocks(text.split("\n"), add)
    return sorted(found, key=lambda f: (f.line, f.start, f.end, f.kind))


def _scan_key_blocks(lines: list[str], add: Callable[[int, int, int, str], None]) -> None:
    """Redact the body of every private-key block; an unterminated block is redacted to the end of the text."""
    index = 0
    while index < len(lines):
        marker = _KEY_BEGIN.search(lines[index])
        if marker is None:
            index += 1
            continue
        line = lines[index]
        # Body on the same line (a key pasted into a string literal or a one-line PEM).
        end_match = _KEY_END.search(line, marker.end())
        if end_match is not None:
            add(index, marker.end(), end_match.start(), "private-key")
            index += 1
            continue
        add(index, marker.end(), len(line), "private-key")
        index += 1
        while index < len(lines):
            end_match = _KEY_END.search(lines[index])
            if end_match is not None:
                add(index, 0, end_match.start(), "private-key")
                break
            add(index, 0, len(lines[index]), "private-key")
            index += 1
        index += 1
