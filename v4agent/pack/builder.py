"""Building one pack: discover, analyse (cached by blob SHA), count pieces, fit the budget, render."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from v4agent.core.git import resolve_commit
from v4agent.pack.fit.budget import LAZY_FACTOR, estimate_tokens, fit_budget, fit_from_top, likely_requests
from v4agent.pack.options import PackOptions
from v4agent.pack.records import PackedFile, SkippedFile
from v4agent.pack.render import TreeEntry, render_file, render_footer, render_header, render_tree
from v4agent.pack.select.discover import Discovery, Entry, check_root, discover
from v4agent.pack.work.counting import load_tokenizer, progress_bar
from v4agent.pack.work.factcache import FactCache
from v4agent.pack.work.item import Item
from v4agent.pack.work.packmemo import Memo, PackMemo
from v4agent.pack.work.packrun import PIECE_OVERHEAD, SKELETON_AHEAD, PackRun
from v4agent.tokens.tokenizer import TOKENIZER_NAMES, preload_tokenizer

__all__ = ["Built", "build_pack"]

_UNKNOWN_AGE = 1 << 40  # never seen in history (shallow clone): treated as oldest


@dataclass
class Built:
    """One built pack: its text (empty when it was streamed to a sink) and what went into it (the snapshot's raw
    material)."""

    root: Path
    is_git: bool
    text: str
    token_count: int
    files: list[PackedFile]
    skipped: list[SkippedFile]
    entries: list[Entry] = field(default_factory=list)
    blobs: dict[str, str] = field(default_factory=dict)


def build_pack(root: Path, options: PackOptions, *, progress: bool = False,
               sink: Callable[[str], object] | None = None) -> Built:
    """Pack the repository at ``root`` within the options' budget (``progress``: a bar on stderr). With a
    ``sink`` the text goes to it piece by piece, in order, instead of into ``Built.text`` (which is then empty):
    memory then does not grow with the pack. Nothing is written to it when the pack holds no file (the empty pack's
    text is then in ``Built.text`` as usual)."""
    root = check_root(root)
    if options.tokenizer not in TOKENIZER_NAMES:
        load_tokenizer(options.tokenizer)  # raises the clear error; a known one loads only when something is counted
    cache = FactCache.open(root)  # before discovery: creating .v4agent/ must not look like a change later
    if options.budget is None and cache.cold:  # every file will be counted and scanned: made ready meanwhile
        from v4agent.secrets.scan import prepare_scanner

        preload_tokenizer(options.tokenizer, prepare_scanner)
    try:
        memo = PackMemo(root, options)
        keyed: list[tuple[str, Memo | None]] = []

        def history_needed(found: Discovery) -> bool:  # not when the memo has this very build
            key = memo.key(found, resolve_commit(found.root, "HEAD") or "")
            if key is not None:
                keyed.append((key[0], memo.load(*key)))
            return not keyed or keyed[0][1] is None

        found = discover(root, history_needed=history_needed)
        if keyed and (hit := keyed[0][1]) is not None:
            text = hit.text
            if sink is not None and hit.files:  # streamed as a fresh build would be (an empty pack stays in text)
                sink(text)
                text = ""
            return Built(found.root, found.is_git, text, hit.token_count, hit.files, hit.skipped,
                         found.entries, hit.blobs)
        pack = PackRun(found.root, options, cache)
        try:
            built = _build(found, pack, progress, sink)
        finally:
            pack.close()
        if keyed and (sink is None or not built.files):  # a streamed pack's text was never held here
            memo.save(keyed[0][0], Memo(built.text, built.token_count, built.files, built.skipped, built.blobs))
        return built
    finally:
        cache.close()


def _build(found: Discovery, pack: PackRun, progress: bool, sink: Callable[[str], object] | None) -> Built:
    options = pack.options
    pack.skipped += [SkippedFile(p, r) for p, r in found.skipped]
    files_in = [e for e in found.entries if e.kind == "file"]
    links = [e for e in found.entries if e.kind == "link"]

    def order_key(e: Entry) -> tuple[bool, int, str]:
        if e.uncommitted:  # changing now: last, by path (their history says nothing about the next edit)
            return True, 0, e.path
        return False, -found.age.get(e.path, _UNKNOWN_AGE if found.is_git else 0), e.path

    pack.plan_symbols_ahead(files_in)
    pack.plan_counts_ahead(files_in)
    with progress_bar(progress, len(files_in)) as advance:
        # Every file whole: analysed (and counted) in the order they are written, which then follows the counts.
        items = pack.analyse(sorted(files_in, key=order_key) if options.budget is None else files_in, advance)
    # Pieces' sizes before any counting: far over the budget, only what can appear is tokenized.
    piece_bytes = {it.path: it.entry.size + PIECE_OVERHEAD + 2 * len(it.path) for it in items}
    pieces_guess = sum(estimate_tokens(n) for n in piece_bytes.values())
    if options.budget is not None and pieces_guess > LAZY_FACTOR * options.budget:
        pack.start_ranking(items)  # far over the budget even without the tree: ranked while the tree is made

    by_path = {it.path: it for it in items}
    ordered = sorted([it.entry for it in items] + links, key=order_key)
    header = render_header(options.fmt)
    tree = render_tree([TreeEntry(e.path, e.link_target) for e in ordered], options.fmt)
    footer = render_footer(options.fmt)
    fixed_texts = [header, tree, footer]

    arriving: Iterator[dict[str, int]] = iter(())  # counts in the written order, when they follow the writing
    skeletons: dict[str, tuple[str, int] | None] = {}
    visit: list[str] = []  # the order the fit asks for skeletons in: the next few are built with the one asked
    position: dict[str, int] = {}

    def skeleton_cost(path: str) -> int | None:
        if path not in skeletons:
            at = position.get(path)
            ahead = [path] if at is None else [p for p in visit[at:at + SKELETON_AHEAD] if p not in skeletons]
            then = [] if at is None else visit[at + SKELETON_AHEAD:at + 2 * SKELETON_AHEAD]
            skeletons.update(pack.skeletons.costs([by_path[p] for p in ahead],
                                                 [by_path[p] for p in then if p not in skeletons]))
        found = skeletons[path]
        return None if found is None else found[1]

    def visiting(order: list[str]) -> list[str]:
        visit[:] = order
        position.update((p, i) for i, p in enumerate(order))
        return order

    fixed_guess = estimate_tokens(sum(len(t) for t in fixed_texts))
    estimated = fixed_guess + pieces_guess
    if options.budget is not None and estimated > LAZY_FACTOR * options.budget:
        # Counted while a worker ranks, where one does; else once the fit's likely work went to the workers.
        fixed = sum(pack.count_texts(fixed_texts)) if pack.ranking.started else None
        descending = pack.ascending(items)[::-1]
        pack.count_on_workers()

        def skeleton_batch(paths: list[str], then: list[str]) -> dict[str, int | None]:
            skeletons.update(pack.skeletons.costs([by_path[p] for p in paths if p not in skeletons],
                                                 [by_path[p] for p in then if p not in skeletons]))
            return {p: None if (found := skeletons[p]) is None else found[1] for p in paths}

        # The scans and skeletons the fit will likely need start on the workers while it counts the top in full.
        likely_full, likely_skeletons = likely_requests(fixed_guess, descending, options.budget, piece_bytes)
        pack.start_scans([by_path[p] for p in likely_full])
        pack.skeletons.start([by_path[p] for p in likely_skeletons])
        if fixed is None:
            fixed = sum(pack.count_texts(fixed_texts))
        modes, exact = fit_from_top(fixed, descending, options.budget, piece_bytes,
                                    lambda paths: pack.counts("full", [by_path[p] for p in paths], pack.full_piece),
                                    skeleton_batch)
        full = {p: exact.get(p, estimate_tokens(n)) for p, n in piece_bytes.items()}  # estimate: never counted
    elif options.budget is None:  # every file whole, no fit: each piece is written once its count is back
        fixed = sum(pack.count_texts(fixed_texts))
        modes, full = dict.fromkeys(by_path, "full"), {}
        arriving = pack.counts_in_order([it for e in ordered if (it := by_path.get(e.path)) is not None])
    else:
        fixed = sum(pack.count_texts(fixed_texts))
        full = pack.counts("full", items, pack.full_piece)
        over = fixed + sum(full.values()) > options.budget
        ascending = visiting(pack.ascending(items)) if over else []
        modes = fit_budget(fixed, full, ascending, options.budget, skeleton_cost)

    parts: list[str] = []
    emit = parts.append if sink is None or not ordered else sink  # streamed: no piece is kept here
    emit(header)
    emit(tree)
    tokens, files = _write_files(pack, ordered, by_path, _Fit(modes, full, arriving, skeletons), emit)
    emit(footer)
    blobs = {e.path: by_path[e.path].blob for e in files_in if e.path in by_path}  # in discovery order
    return Built(found.root, found.is_git, "".join(parts), fixed + tokens, files,
                 sorted(pack.skipped, key=_skip_key), found.entries, blobs)


@dataclass(frozen=True)
class _Fit:
    """The fit's outcome: each file's mode and full count (``later`` yields counts still to come, in the written
    order), and the skeletons it built (text, tokens)."""

    modes: dict[str, str]
    full: dict[str, int]
    later: Iterator[dict[str, int]]
    skeletons: dict[str, tuple[str, int] | None]


def _write_files(pack: PackRun, ordered: list[Entry], by_path: dict[str, Item], fit: _Fit,
                 emit: Callable[[str], object]) -> tuple[int, list[PackedFile]]:
    """Write each file's piece in order; returns their tokens and what went in."""
    fmt, full = pack.options.fmt, fit.full
    files: list[PackedFile] = []
    total = 0
    for e in ordered:
        item = by_path.get(e.path)
        if item is None:
            files.append(PackedFile(e.path, "path", 0, 0, 0, None, 0, e.link_target))
            continue
        mode = fit.modes[e.path]
        if e.path not in full:
            full.update(next(fit.later))
        redactions = 0 if mode == "path" else len(pack.findings(item))  # values replaced in the text
        tokens = 0
        if mode == "full":
            emit(pack.full_piece(item))
            item.raw = None  # emitted: its piece holds the text now (a whole-tree pack would hold it twice)
            tokens = full[e.path]
            mode = "redacted" if redactions else "full"
        elif mode == "skeleton":
            text, tokens = fit.skeletons[e.path] or ("", 0)
            emit(render_file(e.path, text, "skeleton", fmt, item.lang or ""))
        total += tokens
        files.append(PackedFile(e.path, mode, tokens, full[e.path], e.size, item.lang, redactions))
    return total, files


def _skip_key(s: SkippedFile) -> str:
    return s.path
