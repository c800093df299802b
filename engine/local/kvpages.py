"""vLLM's paged KV allocation for DeepSeek V4, as its allocator (vLLM 0.27 to 0.33, alike) sizes it. Pure.

vLLM stores every per-layer cache in pages drawn from one shared block pool:
- each layer registers up to five caches: the sliding-window rows (64-token pages), the compressed rows and
  the CSA indexer keys (``block_size``-token pages), and the fp32 compressor states of CSA's indexer and of
  the layer itself (4-token pages for CSA, 8 for HCA), each page padded to 576 bytes (fp8) or 512 (bf16);
- caches with the same block size and window are bucketed and split into groups that repeat the same
  layer pattern; every group draws whole blocks of the widest group's page bytes from the pool;
- a request holds ``ceil(L / block)`` blocks of a full-attention group, and ``ceil(min(window - 1 +
  in_flight, L) / block) + 1`` of a sliding-window one, where ``in_flight`` is the tokens scheduled but
  not yet freed (max-num-batched-tokens per batch in flight).
So a sequence costs ``block_bytes x sum of its groups' blocks``; the compressor states, in 4- and 8-token
pages of the widest group's size, dominate the fixed part. vLLM's "KV cache size" is
``num_blocks / blocks_per_request x max_model_len`` tokens.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from v4agent.engine.local.cpuflags import host_has_amx
from v4agent.engine.local.kvmodel import indexer_entry_bytes, latent_entry_bytes
from v4agent.engine.local.modelspec import ModelSpec

SWA_BLOCK = 64  # DeepseekV4SWACache's page: 64 raw rows
_STATE_BLOCK = {True: 4, False: 8}  # compressor-state pages: CSA (overlapping) 4 tokens, HCA 8
_FP32 = 4


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _round_up(value: int, multiple: int) -> int:
    return _cdiv(value, multiple) * multiple


@dataclass(frozen=True)
class CacheSpec:
    """One cache of one layer as vLLM registers it: ``window`` 0 is full attention (all tokens kept)."""

    role: str  # "swa", "compressed", "indexer", "state", "indexer-state"
    block_size: int  # tokens per page
    page_bytes: int  # padded page
    window: int = 0

    def blocks(self, tokens: int, in_flight: int) -> int:
        """Blocks this cache holds for one sequence of ``tokens`` with ``in_flight`` tokens scheduled."""
        if not self.window:
            return _cdiv(tokens, self.block_size)
        return _cdiv(min(self.window - 1 + in_flight, tokens), self.block_size) + 1


@dataclass(frozen=True)
class PageGroup:
    """Caches sharing one block table: ``page_bytes`` per block (their pages side by side)."""

    spec: CacheSpec  # block size and window of every cache in the group (one bucket)
    pages: tuple[int, ...]  # each cache's page

    @property
    def caches(self) -> int:
        """How many caches share the group's block table."""
        return len(self.pages)

    @property
    def page_bytes(self) -> int:
        """Bytes of one block of this group: its caches' pages side by side."""
        return sum(self.pages)


@dataclass(frozen=True)
class PagedLayout:
    """The page groups of a model's caches, as vLLM's block pool serves them."""

    groups: tuple[PageGroup, ...]

    @property
    def block_bytes(self) -> int:
        """Bytes one block takes from the pool: the widest group's pages."""
        return max((g.page_bytes for g in self.groups), default=0)

    def blocks_per_sequence(self, tokens: int, in_flight: int) -> int:
        """Blocks one sequence draws from the pool, over all groups."""
        return sum(g.spec.blocks(tokens, in_flight) for g in self.groups)

    def bytes_per_sequence(self, tokens: int, in_flight: int) -> int:
        """Bytes one sequence takes from the pool, in whole blocks."""
        return self.block_bytes * self.blocks_per_sequence(tokens, in_flight)

    def per_token(self) -> float:
        """Marginal bytes per token: each full-attention group takes a block every ``block_size`` tokens."""
        return sum(self.block_bytes / g.spec.block_size for g in self.groups if not g.spec.window)

    def fixed_bytes(self, tokens: int, in_flight: int) -> int:
        """Bytes of the sliding-window and compressor-state groups (whole blocks) for one sequence."""
        return self.block_bytes * sum(g.spec.blocks(tokens, in_flight) for g in self.groups if g.spec.window)

    def capacity(self, pool_bytes: int, tokens: int, in_flight: int) -> Capacity:
        """What vLLM reports for a pool of ``pool_bytes`` and ``--max-model-len tokens``."""
        blocks = pool_bytes // self.block_bytes if self.block_bytes else 0
        per_seq = self.blocks_per_sequence(tokens, in_flight)
        sequences = blocks / per_seq if per_seq else 0.0
        return Capacity(sequences=sequences, tokens=int(sequences * tokens),
                        bytes_per_sequence=self.block_bytes * per_seq)

    def longest_context(self, pool_bytes: int, in_flight: int, limit: int) -> int:
        """The longest ``tokens`` (up to ``limit``) one sequence may have: vLLM's check keeps one block back."""
        if not self.groups:
            return limit
        budget = pool_bytes - self.block_bytes
        if self.bytes_per_sequence(1, in_flight) > budget:
            return 0
        low, high = 1, limit
        while low < high:
            mid = (low + high + 1) // 2
            if self.bytes_per_sequence(mid, in_flight) <= budget:
                low = mid
            else:
                high = mid - 1
        return low


@dataclass(frozen=True)
class Capacity:
    """What a block pool holds, in the figures vLLM logs."""

    sequences: float  # vLLM's "Maximum concurrency"
    tokens: int  # vLLM's "KV cache size: N tokens"
    bytes_per_sequence: int


def layer_caches(spec: ModelSpec, ratio: int, kv_dtype: str, block_size: int,
                 indexer_dtype: str = "fp8") -> list[CacheSpec]:
    """The caches one V4 layer registers (in vLLM's order): every layer its sliding-window rows; a
    compressing layer its compressed rows and compressor state; CSA also the indexer keys and their state."""
    align = 576 if kv_dtype == "fp8" else 512  # fp8_ds_mla packing stride; natural pages otherwise
    entry = latent_entry_bytes(spec, kv_dtype)
    caches: list[CacheSpec] = []
    csa = ratio > 1 and ratio <= 16
    if csa:
        keys = max(block_size // ratio, 1) * indexer_entry_bytes(spec, indexer_dtype)
        caches.append(CacheSpec("indexer", block_size, _round_up(keys, align)))
        state = _STATE_BLOCK[True] * 2 * 2 * spec.index_head_dim * _FP32  # (kv + score) x overlapping
        caches.append(CacheSpec("indexer-state", _STATE_BLOCK[True], _round_up(state, align), 2 * ratio))
    caches.append(CacheSpec("swa", SWA_BLOCK, _round_up(SWA_BLOCK * entry, align), spec.sliding_window))
    if ratio > 1:
        caches.append(CacheSpec("compressed", block_size, _round_up(max(block_size // ratio, 1) * entry, align)))
        coff = 2 if csa else 1
        state_block = _STATE_BLOCK[csa]
        state = state_block * 2 * coff * spec.head_dim * _FP32
        caches.append(CacheSpec("state", state_block, _round_up(state, align), coff * ratio))
    return caches


def _approximate_gcd(values: list[int], lower_bound: int) -> int:
    """vLLM's chunk size with the least round-up padding over ``values`` (ties: the larger)."""
    best, best_pad = lower_bound, -1
    for d in range(max(lower_bound, 1), max(values) + 1):
        pad = sum((d - x % d) % d for x in values)
        if best_pad < 0 or pad <= best_pad:
            best, best_pad = d, pad
    return best


def group_caches(caches: list[CacheSpec]) -> PagedLayout:
    """vLLM's packing of mixed page sizes: bucket caches of one block size and window; balanced buckets
    (as many caches of each page size) are split into groups of the same number of pattern repeats."""
    buckets: dict[tuple[int, int], list[CacheSpec]] = {}
    for cache in caches:
        buckets.setdefault((cache.block_size, cache.window), []).append(cache)
    info = []
    for members in buckets.values():
        by_page = Counter(c.page_bytes for c in members)
        info.append((members, by_page, len(set(by_page.values())) == 1))
    floor = max((max(p.values()) for _, p, bal in info if bal and len(p) > 1), default=0)
    repeats = _approximate_gcd([max(p.values()) for _, p, bal in info if bal], floor) if floor else None

    def split(by_page: Counter[int], balanced: bool) -> int:
        return _cdiv(max(by_page.values()), repeats) if balanced and repeats else 1

    def widest(by_page: Counter[int], n: int) -> int:
        return sum(_cdiv(count, n) * page for page, count in by_page.items())

    # Without a repeat pattern, sliding-window buckets are "state" buckets: split to fit the anchor block.
    state = {id(m): repeats is None and m[0].window > 0 for m, _, _ in info}
    anchor = max((widest(p, len(m) if state[id(m)] else split(p, bal)) for m, p, bal in info), default=0)
    groups: list[PageGroup] = []
    for members, by_page, balanced in info:
        n = split(by_page, balanced)
        if state[id(members)]:
            n = max(n, _cdiv(len(members), max(anchor // members[0].page_bytes, 1)))
        if n == 1:
            groups.append(PageGroup(members[0], tuple(c.page_bytes for c in members)))
            continue
        count = min(by_page.values())  # vLLM zips the page-size lists: the shortest sets the repeats
        for i in range(n):
            repeats_here = len(range(i, count, n))
            groups.append(PageGroup(members[0], tuple(by_page) * repeats_here))  # one cache of each size a repeat
    return PagedLayout(tuple(groups))


def paged_layout(spec: ModelSpec, kv_dtype: str, block_size: int, *, include_mtp: bool = False,
                 indexer_dtype: str = "fp8") -> PagedLayout:
    """The groups vLLM forms for a V4 model's caches (MTP layers' caches too when they are loaded)."""
    ratios = list(spec.compress_ratios) + (list(spec.mtp_ratios) if include_mtp and spec.draft_kv_layers else [])
    caches = [c for ratio in ratios for c in layer_caches(spec, ratio, kv_dtype, block_size, indexer_dtype)]
    return group_caches(caches)


def default_batched_tokens(gpu_name: str, memory_gib: float) -> int:
    """vLLM's default --max-num-batched-tokens for its API server on a GPU of this size."""
    if memory_gib >= 160:
        return 16384
    if memory_gib >= 70 and "a100" not in gpu_name.lower():
        return 8192
    return 2048


CPU_CHUNK_TOKENS = 2048  # vLLM's default --max-num-batched-tokens when chunked prefill stays on


def cpu_in_flight_tokens(max_model_len: int, *, amx: bool | None = None) -> int:
    """The tokens vLLM's CPU backend keeps in flight for an MLA model such as V4.

    Without AMX its MLA backend turns chunked prefill off: one batch of ``max(max_model_len, 2048)`` tokens.
    Where the CPU has AMX (``amx_bf16``) vLLM picks its AMX MLA backend, which keeps chunked prefill on: batches
    of the default 2048 tokens. ``amx`` None asks this host, as vLLM does when it starts here.
    """
    if amx is None:
        amx = host_has_amx()
    return CPU_CHUNK_TOKENS if amx else max(max_model_len, CPU_CHUNK_TOKENS)
