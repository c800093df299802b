"""The KV capacity a given vLLM release logs for DeepSeek V4, next to what its block pool really holds. Pure.

From vLLM 0.27.0 on, "Maximum concurrency" is the pool's blocks over the blocks one request holds, summed over
its groups: ``PagedLayout.capacity``. Up to 0.26.0 vLLM
- padded every sliding-window and compressor-state page up to the smallest full-attention page that holds it,
- sized a pool block per page size (for each size, the most caches of that size in any one group), and
- charged a request its groups' bytes in pages of the full-attention group, although each block of a narrower
  group takes a whole pool block: it over-reported the concurrency (fixed in 0.27.0 by vLLM PR #48317, "Count
  per-group blocks in get_max_concurrency_for_kv_cache_config").
Checked by running each release's allocator on the cut-down V4-Flash of tests/engine/local/test_vllm_gpu.py (67.69 GiB, 8192
tokens): 0.26.0 gives 291.25x, as it logged on an H100; 0.27.0 to 0.33.0 all give 230.12x.
"""

from __future__ import annotations

from collections import Counter

from v4agent.engine.local.kvpages import Capacity, PagedLayout
from v4agent.engine.local.vllmlog import parse_available_kv_bytes, parse_kv_cache_report, parse_vllm_version

__all__ = ["FIRST_PER_GROUP_COUNT", "kv_capacity_note", "reported_capacity"]

FIRST_PER_GROUP_COUNT = (0, 27)  # the first release whose logged concurrency counts every group's blocks


def reported_capacity(layout: PagedLayout, pool_bytes: int, tokens: int, in_flight: int,
                      vllm_version: tuple[int, ...]) -> Capacity:
    """What vLLM ``vllm_version`` logs as its KV cache size for ``layout`` (the true capacity from 0.27 on)."""
    if tuple(vllm_version[:2]) >= FIRST_PER_GROUP_COUNT or not layout.groups:
        return layout.capacity(pool_bytes, tokens, in_flight)
    return _v026_capacity(layout, pool_bytes, tokens, in_flight)


def _v026_capacity(layout: PagedLayout, pool_bytes: int, tokens: int, in_flight: int) -> Capacity:
    full_pages = sorted({page for g in layout.groups if not g.spec.window for page in g.pages})

    def padded(page: int) -> int:
        return min((size for size in full_pages if size >= page), default=page)

    pages = [g.pages if not g.spec.window else tuple(padded(p) for p in g.pages) for g in layout.groups]
    slots: Counter[int] = Counter()
    for group_pages in pages:
        for size, count in Counter(group_pages).items():
            slots[size] = max(slots[size], count)
    block_bytes = sum(size * count for size, count in slots.items())
    blocks = pool_bytes // block_bytes if block_bytes else 0
    # 0.26 lists the full-attention group first and counts a request's bytes in its pages (rounded up).
    unit = next((sum(p) for g, p in zip(layout.groups, pages, strict=True) if not g.spec.window), block_bytes)
    charged = sum(g.spec.blocks(tokens, in_flight) * sum(p) for g, p in zip(layout.groups, pages, strict=True))
    per_request = -(-charged // unit)
    sequences = blocks / per_request if per_request else 0.0
    return Capacity(sequences=sequences, tokens=int(sequences * tokens), bytes_per_sequence=block_bytes * per_request)


def kv_capacity_note(log_text: str, layout: PagedLayout | None, in_flight: int) -> str | None:
    """One line for the user once vLLM is up: the KV capacity it logged, and beside it the planner's figure for
    the pool vLLM found (a GPU engine of a V4 plan). None when vLLM logged no capacity."""
    report = parse_kv_cache_report(log_text)
    if report is None:
        return None
    note = (f"vLLM's KV cache: {report.tokens:,} tokens ({report.concurrency:.2f} sequences of "
            f"{report.max_model_len:,})")
    pool, version = parse_available_kv_bytes(log_text), parse_vllm_version(log_text)
    if layout is None or pool is None or version is None:
        return note
    expected = reported_capacity(layout, pool, report.max_model_len, in_flight, version)
    note += f"; the plan for its {pool / (1 << 30):.2f} GiB pool: {expected.tokens:,} tokens"
    if version[:2] < FIRST_PER_GROUP_COUNT:
        held = layout.capacity(pool, report.max_model_len, in_flight)
        note += (f" (vLLM {'.'.join(map(str, version))} counts V4's concurrency per full-attention page, fixed in "
                 f"0.27; its blocks hold {held.tokens:,} tokens)")
    return note
