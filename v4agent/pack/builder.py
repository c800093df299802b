"""Building one pack: discover, analyse (cached by blob SHA), count pieces, fit the budget, render."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from v4agent.pack.analyze import Analysis, ReadFailure, analyze, emitted_text, read_bytes
from v4agent.pack.budget import LAZY_FACTOR, estimate_tokens, fit_budget, fit_from_top
from v4agent.pack.classify import matches_globs, path_skip_reason
from v4agent.pack.discover import Entry, check_root, discover, git_blob_sha
from v4agent.pack.options import PackError, PackOptions
from v4agent.pack.records import PackedFile, SkippedFile
from v4agent.pack.render import TreeEntry, render_file, render_footer, render_header, render_tree
from v4agent.pack.tokencache import TokenCache, count_key, fact_key
from v4agent.tokenizer import TOKENIZER_NAMES, Tokenizer, get_tokenizer

__all__ = ["Built", "build_pack"]

_CHUNK_CHARS = 1 << 21  # texts per count_many call: big enough for both cores, small enough for memory
_UNKNOWN_AGE = 1 << 40  # never seen in history (shallow clone): treated as oldest
_PIECE_OVERHEAD = 40  # bytes a file's delimiters add around its text, besides the path


@dataclass
class _Item:
    entry: Entry
    blob: str
    analysis: Analysis
    lang: str | None
    raw: str | None = None  # decoded text, when read (loaded lazily otherwise)

    @property
    def path(self) -> str:
        return self.entry.path


@dataclass
class Built:
    root: Path
    is_git: bool
    text: str
    token_count: int
    files: list[PackedFile]
    skipped: list[SkippedFile]
    entries: list[Entry] = field(default_factory=list)
    blobs: dict[str, str] = field(default_factory=dict)


def _tokenizer(name: str) -> Tokenizer:
    try:
        return get_tokenizer(name)
    except ValueError as exc:
        raise PackError(str(exc)) from None
    except Exception as exc:  # a tokenizer that cannot load (missing rank file offline) is an input problem
        raise PackError(f"cannot load the {name} tokenizer: {exc}") from None


def _chunks(texts: list[str]) -> Iterator[tuple[int, int]]:
    start, size = 0, 0
    for i, text in enumerate(texts):
        size += len(text)
        if size >= _CHUNK_CHARS:
            yield start, i + 1
            start, size = i + 1, 0
    if start < len(texts):
        yield start, len(texts)


def count_texts(tok: Tokenizer, texts: list[str]) -> list[int]:
    """Token counts of many texts, in bounded chunks (the Rust encoders use both cores per chunk)."""
    out: list[int] = []
    for a, b in _chunks(texts):
        out += tok.count_many(texts[a:b])
    return out


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    import sys

    if not enabled or not sys.stderr.isatty() or total < 200:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("packing", total=total)
        yield lambda n: bar.advance(task, n)


class _Pack:
    """State of one build; methods are the phases."""

    def __init__(self, root: Path, options: PackOptions, cache: TokenCache) -> None:
        self.root, self.options, self.cache = root, options, cache
        self._tok: Tokenizer | None = None
        self.fmt = options.fmt
        self.skipped: list[SkippedFile] = []

    @property
    def tok(self) -> Tokenizer:
        """Loaded on first use: a warm pack finds every count in the cache and never needs it (~0.7 s)."""
        if self._tok is None:
            self._tok = _tokenizer(self.options.tokenizer)
        return self._tok

    def _read(self, entry: Entry) -> bytes:
        return read_bytes(self.root / entry.path, self.options.max_file_bytes)

    def analyse(self, entries: list[Entry], advance: Callable[[int], None]) -> list[_Item]:
        from v4agent.pack.symbols import language_for

        opts = self.options
        todo: list[Entry] = []
        for e in entries:
            reason = path_skip_reason(e.path, opts.include, opts.exclude)
            if reason is None and e.size > opts.max_file_bytes:
                reason = f"larger than the size limit ({e.size:,} > {opts.max_file_bytes:,} bytes)"
            if reason is not None:
                self.skipped.append(SkippedFile(e.path, reason))
            else:
                todo.append(e)
        self.cache.prefetch(fact_key("a", e.path, e.blob) for e in todo if e.blob)
        items: list[_Item] = []
        for e in todo:
            item = self._analyse_one(e, language_for(e.path))
            advance(1)
            if item is not None and self._keep(item):
                items.append(item)
        return items

    def _analyse_one(self, e: Entry, lang: str | None) -> _Item | None:
        if e.blob:
            cached = self.cache.fact(fact_key("a", e.path, e.blob))
            if cached is not None:
                return _Item(e, e.blob, Analysis.from_json(cached), lang)
        try:
            data = self._read(e)
        except ReadFailure as exc:
            self.skipped.append(SkippedFile(e.path, str(exc)))
            return None
        blob = git_blob_sha(data)
        key = fact_key("a", e.path, blob)
        cached = self.cache.fact(key)
        if cached is not None:
            analysis = Analysis.from_json(cached)
            raw = data.decode("utf-8") if analysis.findings is not None or analysis.soft else None
        else:
            analysis, raw = analyze(e.path, data)
            self.cache.put_fact(key, analysis.to_json())
        return _Item(e, blob, analysis, lang, raw)

    def _keep(self, item: _Item) -> bool:
        a = item.analysis
        if a.skip is not None and not (a.soft and matches_globs(item.path, self.options.include)):
            self.skipped.append(SkippedFile(item.path, a.skip))
            return False
        if a.findings is None:  # a soft skip overridden by --include: scan it now
            a, item.raw = analyze(item.path, self._read(item.entry), scan_skipped=True)
            item.analysis = Analysis(None, a.findings)
        if item.analysis.findings and self.options.secrets == "skip":
            self.skipped.append(SkippedFile(item.path, "contains " + item.analysis.secret_summary()))
            return False
        return True

    def raw(self, item: _Item) -> str:
        if item.raw is None:
            data = self._read(item.entry)
            if git_blob_sha(data) != item.blob:
                raise PackError(f"{item.path} changed while it was being packed; run the pack again")
            item.raw = data.decode("utf-8")
        return item.raw

    def emitted(self, item: _Item) -> str:
        return emitted_text(self.raw(item), item.analysis)

    # --- counting ------------------------------------------------------------------------------------

    def counts(self, mode: str, items: Sequence[_Item], piece: Callable[[_Item], str]) -> dict[str, int]:
        out: dict[str, int] = {}
        missing: list[tuple[str, _Item]] = []
        for item in items:
            key = count_key(self.options.tokenizer, self.fmt, mode, item.path, item.blob)
            cached = self.cache.count(key)
            if cached is None:
                missing.append((key, item))
            else:
                out[item.path] = cached
        for a, b in _chunks_of(missing):
            part = missing[a:b]
            for (key, item), n in zip(part, self.tok.count_many([piece(it) for _, it in part]), strict=True):
                self.cache.put_count(key, n)
                out[item.path] = n
        return out

    def count_text(self, text: str) -> int:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()
        key = count_key(self.options.tokenizer, self.fmt, "text", "", digest)
        cached = self.cache.count(key)
        if cached is None:
            cached = sum(count_texts(self.tok, [text]))
            self.cache.put_count(key, cached)
        return cached

    def full_piece(self, item: _Item) -> str:
        return render_file(item.path, self.emitted(item), "full", self.fmt, item.lang or "")

    # --- ranking and skeletons -------------------------------------------------------------------------

    def ascending(self, items: list[_Item]) -> list[str]:
        """Paths from lowest to highest rank (symbol-reference PageRank with the focus boost), cached."""
        digest = hashlib.sha1(usedforsecurity=False)
        for it in sorted(items, key=lambda it: it.path):
            digest.update(f"{it.path}\0{it.blob}\0".encode("utf-8", "surrogatepass"))
        digest.update(json.dumps(self.options.focus).encode())
        key = fact_key("r", "", digest.hexdigest())  # the ranking depends only on the contents and the focus
        cached = self.cache.fact(key)
        if cached is not None:
            order: list[str] = json.loads(cached)
            return order
        order = self._rank(items)
        self.cache.put_fact(key, json.dumps(order, separators=(",", ":")))
        return order

    def _rank(self, items: list[_Item]) -> list[str]:
        from v4agent.pack.rank import rank_files
        from v4agent.pack.symbols import FileSymbols, extract_symbols

        coded = [it for it in items if it.lang]
        self.cache.prefetch(fact_key("y", it.path, it.blob) for it in coded)
        symbols = {it.path: FileSymbols() for it in items}
        for it in coded:
            key = fact_key("y", it.path, it.blob)
            cached = self.cache.fact(key)
            if cached is None:
                found = extract_symbols(it.path, self.raw(it))
                self.cache.put_fact(key, json.dumps(found.to_json(), separators=(",", ":")))
            else:
                found = FileSymbols.from_json(cached)
            symbols[it.path] = found
        scores = rank_files(symbols, self.options.focus)
        return list(reversed(list(scores)))

    def skeleton(self, item: _Item) -> str | None:
        from v4agent.pack.skeleton import skeletonize

        if not item.lang:
            return None
        key = fact_key("k", item.path, item.blob)
        cached = self.cache.fact(key)
        if cached is not None:
            value: str | None = json.loads(cached)
            return value
        text = skeletonize(item.path, self.emitted(item))
        self.cache.put_fact(key, json.dumps(text))
        return text


def _chunks_of(pairs: list[tuple[str, _Item]]) -> Iterator[tuple[int, int]]:
    start, size = 0, 0
    for i, (_, item) in enumerate(pairs):
        size += item.entry.size
        if size >= _CHUNK_CHARS:
            yield start, i + 1
            start, size = i + 1, 0
    if start < len(pairs):
        yield start, len(pairs)


def build_pack(root: Path, options: PackOptions, *, progress: bool = False) -> Built:
    root = check_root(root)
    if options.tokenizer not in TOKENIZER_NAMES:
        _tokenizer(options.tokenizer)  # raises the clear error; a known one loads only when something is counted
    cache = TokenCache.open(root)  # before discovery: creating .v4agent/ must not look like a change later
    try:
        return _build(root, options, cache, progress)
    finally:
        cache.close()


def _build(root: Path, options: PackOptions, cache: TokenCache, progress: bool) -> Built:
    found = discover(root)
    pack = _Pack(found.root, options, cache)
    pack.skipped += [SkippedFile(p, r) for p, r in found.skipped]
    files_in = [e for e in found.entries if e.kind == "file"]
    links = [e for e in found.entries if e.kind == "link"]
    with _progress(progress, len(files_in)) as advance:
        items = pack.analyse(files_in, advance)

    def order_key(e: Entry) -> tuple[bool, int, str]:
        if e.uncommitted:  # changing now: last, by path (their history says nothing about the next edit)
            return True, 0, e.path
        return False, -found.age.get(e.path, _UNKNOWN_AGE if found.is_git else 0), e.path

    by_path = {it.path: it for it in items}
    ordered = sorted([it.entry for it in items] + links, key=order_key)
    header = render_header(options.fmt)
    tree = render_tree([TreeEntry(e.path, e.link_target) for e in ordered], options.fmt)
    footer = render_footer(options.fmt)
    fixed = pack.count_text(header) + pack.count_text(tree) + pack.count_text(footer)

    skeletons: dict[str, str] = {}

    def skeleton_cost(path: str) -> int | None:
        item = by_path[path]
        text = pack.skeleton(item)
        if text is None:
            return None
        skeletons[path] = text
        return pack.counts("skeleton", [item], lambda it: render_file(it.path, text, "skeleton", options.fmt,
                                                                       it.lang or ""))[path]

    # Pieces' sizes before any counting: far over the budget, only what can appear is tokenized.
    piece_bytes = {it.path: it.entry.size + _PIECE_OVERHEAD + 2 * len(it.path) for it in items}
    estimated = fixed + sum(estimate_tokens(n) for n in piece_bytes.values())
    if options.budget is not None and estimated > LAZY_FACTOR * options.budget:
        descending = pack.ascending(items)[::-1]
        modes, exact = fit_from_top(fixed, descending, options.budget, piece_bytes,
                                    lambda paths: pack.counts("full", [by_path[p] for p in paths], pack.full_piece),
                                    skeleton_cost)
        full = {p: exact.get(p, estimate_tokens(n)) for p, n in piece_bytes.items()}  # estimate: never counted
    else:
        full = pack.counts("full", items, pack.full_piece)
        over = options.budget is not None and fixed + sum(full.values()) > options.budget
        ascending = pack.ascending(items) if over else []
        modes = fit_budget(fixed, full, ascending, options.budget, skeleton_cost)

    parts = [header, tree]
    files: list[PackedFile] = []
    total = fixed
    for e in ordered:
        item = by_path.get(e.path)
        if item is None:
            files.append(PackedFile(e.path, "path", 0, 0, 0, None, 0, e.link_target))
            continue
        mode = modes[e.path]
        redactions = len(item.analysis.findings or ())
        tokens = 0
        if mode == "full":
            parts.append(pack.full_piece(item))
            tokens = full[e.path]
            mode = "redacted" if redactions else "full"
        elif mode == "skeleton":
            parts.append(render_file(e.path, skeletons[e.path], "skeleton", options.fmt, item.lang or ""))
            tokens = skeleton_cost(e.path) or 0
        total += tokens
        files.append(PackedFile(e.path, mode, tokens, full[e.path], e.size, item.lang, redactions))
    parts.append(footer)
    blobs = {it.path: it.blob for it in items}
    return Built(found.root, found.is_git, "".join(parts), total, files, sorted(pack.skipped, key=_skip_key),
                 found.entries, blobs)


def _skip_key(s: SkippedFile) -> str:
    return s.path
