"""DeepSeek V4's KV cache against another model's at one length: the published comparison rows. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from v4agent.engine.local.kvmodel import kv_footprint
from v4agent.engine.local.modelspec import ModelSpec

__all__ = ["COMPARISON_ROWS", "KvComparison", "compare_kv", "compare_rows"]


@dataclass(frozen=True)
class KvComparison:
    """One sequence's cache entries for two models at the same length, each at its own KV and indexer dtypes."""

    tokens: int
    kv_dtype: str
    bytes_a: float
    bytes_b: float
    indexer_a: str = "fp8"
    indexer_b: str = "fp8"

    @property
    def ratio(self) -> float:
        """KV of model a as a fraction of model b's, for one sequence of ``tokens``."""
        return self.bytes_a / self.bytes_b


def compare_kv(a: ModelSpec, b: ModelSpec, tokens: int = 1 << 20, kv_dtype: str = "bf16", *,
               indexer_a: str = "fp8", indexer_b: str = "fp8") -> KvComparison:
    """One sequence's cache entries for two models at the same length (the seeds compare at 1M tokens):
    compressed rows, indexer keys and sliding-window rows, without the transient fp32 compressor state, as
    DeepSeek's figure counts them."""
    return KvComparison(tokens, kv_dtype,
                        kv_footprint(a, kv_dtype, indexer_dtype=indexer_a).entries_for(tokens),
                        kv_footprint(b, kv_dtype, indexer_dtype=indexer_b).entries_for(tokens), indexer_a, indexer_b)


# The comparison rows `engine plan --compare` prints: (label, KV dtype, this model's indexer, the other's).
# DeepSeek's "10% / 7% of V3.2" (and "9.5x-13.7x smaller") is V4 in FP8 with MXFP4 indexer keys against V3.2
# in FP8 with its fp8 indexer.
COMPARISON_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("fp8+mxfp4", "fp8", "mxfp4", "fp8"),
    ("fp8", "fp8", "fp8", "fp8"),
    ("bf16", "bf16", "fp8", "fp8"),
)


def compare_rows(a: ModelSpec, b: ModelSpec, tokens: int = 1 << 20) -> dict[str, KvComparison]:
    """Every comparison row, by label."""
    return {label: compare_kv(a, b, tokens, kv, indexer_a=ia, indexer_b=ib) for label, kv, ia, ib in COMPARISON_ROWS}
