"""A cold pack far over its budget reads and analyses every file on the workers and finds every code file's
symbols (the ranking needs them all: most Python files without a parse, see ``pysymbols``), while the main
process makes ready what the budget fit needs next.

Why on the workers by path, rather than fed file by file from the main process: the workers get their whole
share at once, in chunks that shrink as the work left does, so they never wait on the main process, which holds
the GIL for long stretches then (loading the Rust tokenizer, importing the secret scanner), during which an
executor cannot feed anyone. And no text travels through a pipe. Speed only: each result is a pure function
of the file's bytes, so where it was computed never changes the pack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from v4agent.pack.rank.symbols import language_for
from v4agent.pack.records import SkippedFile
from v4agent.pack.select.analyze import Analysis, ReadFailure, analyze, read_bytes
from v4agent.pack.select.classify import matches_globs
from v4agent.pack.select.discover import Entry, git_blob_sha
from v4agent.pack.work.buildcache import BuildCache
from v4agent.pack.work.codefacts import CodeFacts, ranking_facts
from v4agent.pack.work.counting import LazyTokenizer
from v4agent.pack.work.factcache import FactKind
from v4agent.pack.work.item import FileReader, Item
from v4agent.pack.work.pool import FilePool, Pending

__all__ = ["SurveyJob", "SurveyResult", "Surveyed", "survey", "survey_of", "survey_weight"]

SurveyJob = tuple[str, bool]  # path; whether to parse it even when soft-skipped (an --include glob names it)
# per file: its blob SHA, its analysis, its symbols and skeleton edits (when a parse gave them) and the symbols'
# JSON (None: not code, or not packed); or the reason it could not be read
Surveyed = tuple[str, Analysis, "tuple[CodeFacts, str] | None"] | str

_TEXT_ONLY_SHARE = 24  # per byte, a file only read and analysed costs about this much less than a code file


@dataclass(frozen=True)
class SurveyResult:
    """What the survey found: the analysed files in input order (kept or not: that is the caller's call), the
    surveyed code files' symbols and skeleton edits by path, and the files that could not be read."""

    items: list[Item]
    facts: dict[str, CodeFacts]
    unreadable: list[SkippedFile]


def survey_weight(path: str, size: int) -> int:
    """The relative cost of surveying one file, for splitting the work evenly."""
    return size if language_for(path) else size // _TEXT_ONLY_SHARE + 256


def survey_of(jobs: Sequence[SurveyJob], prefix: str, max_bytes: int) -> list[Surveyed]:
    """Read each file under ``prefix`` (never following a symlink, never past ``max_bytes``), analyse it, and
    find its symbols when it is code that will be packed."""
    out: list[Surveyed] = []
    for path, parse_soft in jobs:
        try:
            data = read_bytes(prefix + path, max_bytes)
        except ReadFailure as exc:
            out.append(str(exc))
            continue
        analysis, text = analyze(path, data, scan=False)  # scanned later, only where the content is emitted
        packed = analysis.skip is None or (analysis.soft and parse_soft)
        facts = ranking_facts(path, text) if text is not None and packed and language_for(path) else None
        out.append((git_blob_sha(data), analysis, None if facts is None else (facts, facts[0].dumps())))
    return out


def survey(todo: list[Entry], advance: Callable[[int], None], *, cache: BuildCache, pool: FilePool,
           reader: FileReader, include: tuple[str, ...], tokenizer: LazyTokenizer) -> SurveyResult:
    """The files of ``todo`` surveyed (their analyses and symbols cached) while this process makes ready for the
    fit. Files whose analysis and symbols are cached are not surveyed again."""
    known: dict[str, Item] = {}
    sent: list[Entry] = []
    for e in todo:
        blob = e.blob
        cached = cache.fact(FactKind.ANALYSIS, e.path, blob) if blob else None
        if cached is None or not blob:  # (a cold cache: every file, so nothing more is looked up for it here)
            sent.append(e)
        elif (lang := language_for(e.path)) is None or cache.fact(FactKind.SYMBOLS, e.path, blob):
            known[e.path] = Item(e, blob, Analysis.from_json(cached), lang)
        else:
            sent.append(e)
    pending = pool.send_guided(partial(survey_of, prefix=reader.prefix, max_bytes=reader.max_bytes),
                               [(e.path, matches_globs(e.path, include)) for e in sent],
                               [survey_weight(e.path, e.size) for e in sent])
    advance(len(todo) - len(sent))
    _make_ready_for_fit(tokenizer)
    facts: dict[str, CodeFacts] = {}
    unreadable: list[SkippedFile] = []
    for e, result in zip(sent, _as_done(pending, advance), strict=True):
        if isinstance(result, str):
            unreadable.append(SkippedFile(e.path, result))
            continue
        blob, analysis, parsed = result
        cache.put_fact(FactKind.ANALYSIS, e.path, blob, analysis.to_json())
        known[e.path] = Item(e, blob, analysis, language_for(e.path))
        if parsed is not None:
            facts[e.path], symbols_json = parsed
            cache.put_fact(FactKind.SYMBOLS, e.path, blob, symbols_json)
    items = [item for e in todo if (item := known.get(e.path)) is not None]
    return SurveyResult(items, facts, unreadable)


def _as_done(pending: Pending[Surveyed], advance: Callable[[int], None]) -> Iterator[Surveyed]:
    """The results in input order, the progress bar advanced as each chunk comes back."""
    for chunk in pending.chunks():
        advance(len(chunk))
        yield from chunk


def _make_ready_for_fit(tokenizer: LazyTokenizer) -> None:
    """While the workers survey (this process would wait idle): load what the ranking and the fit use here (the
    tokenizer, the secret scanner, which the workers forked for the fit then inherit, the ranking's imports)."""
    from v4agent.secrets.scan import prepare_scanner

    tokenizer.get()
    prepare_scanner()
    import v4agent.pack.rank.pagerank  # noqa: F401  (it imports numpy, slow to load)
