"""Planner figures side by side with the published anchors (issue 8, shared/configs/SOURCES.md).

Run: python bench/bench_planner.py
"""

from __future__ import annotations

import time

from v4agent.engine.local.hardware import GIB, make_hardware
from v4agent.engine.local.kvcompare import compare_rows
from v4agent.engine.local.kvmodel import kv_footprint, weight_bytes
from v4agent.engine.local.modelspec import load_model_spec
from v4agent.engine.local.planner import plan

ONE_M = 1 << 20


def main() -> None:
    pro, flash, v32 = (load_model_spec(n) for n in ("deepseek-v4-pro", "deepseek-v4-flash", "deepseek-v3.2"))
    # The announcement's arithmetic counts bf16 indexer keys (no vLLM cache stores them).
    ann_pro = kv_footprint(pro, "bf16", indexer_dtype="bf16").bytes_for(ONE_M) / GIB
    ann_v32 = kv_footprint(v32, "bf16", indexer_dtype="bf16").bytes_for(ONE_M) / GIB
    pro_rows, flash_rows = compare_rows(pro, v32, ONE_M), compare_rows(flash, v32, ONE_M)
    anchors = {"fp8+mxfp4": ("10.48 (DeepSeek: 10%)", "7.32 (DeepSeek: 7%)"), "fp8": ("-", "-"), "bf16": ("-", "-")}
    rows = [
        ("V4-Pro bf16 KV, 1M-token sequence (GiB)", ann_pro, "9.62 (vLLM)"),
        ("V3.2 bf16 KV, 1M-token sequence (GiB)", ann_v32, "83.9 (vLLM)"),
    ]
    for label, (pro_anchor, flash_anchor) in anchors.items():
        rows.append((f"V4-Pro KV / V3.2 KV at 1M, {label} (%)", pro_rows[label].ratio * 100, pro_anchor))
        rows.append((f"V4-Flash KV / V3.2 KV at 1M, {label} (%)", flash_rows[label].ratio * 100, flash_anchor))
    rows += [
        ("V3.2 KV / V4-Pro KV at 1M, fp8+mxfp4 (x)", 1 / pro_rows["fp8+mxfp4"].ratio, "9.5 (DeepSeek: 9.5x-13.7x)"),
        ("V3.2 KV / V4-Flash KV at 1M, fp8+mxfp4 (x)", 1 / flash_rows["fp8+mxfp4"].ratio, "13.7 (DeepSeek: 9.5x-13.7x)"),
        ("V4-Flash weights incl. MTP (GB)", weight_bytes(flash).total(include_mtp=True) / 1e9, "159.6 on disk"),
        ("V4-Pro weights incl. MTP (GB)", weight_bytes(pro).total(include_mtp=True) / 1e9, "864.7 on disk"),
        ("V3.2 weights incl. MTP (GB)", weight_bytes(v32).total(include_mtp=True) / 1e9, "689.5 on disk"),
    ]
    for gpu in ("h100", "h200", "b200"):
        for name, spec, anchor in (("Flash", flash, "170 GB"), ("Pro", pro, "960 GB")):
            # The fewest GPUs of one node whose plan fits (TP must divide the head count, so some counts skip).
            smallest_gpus = min((n for n in range(1, 65) if plan(spec, make_hardware(gpu, None, n)).fits), default=0)
            rows.append((f"V4-{name}: GPU memory of the fewest {gpu} that fit ({smallest_gpus} GPUs, GiB)",
                         smallest_gpus * make_hardware(gpu, None, 1).gpu.memory_gib, f"{anchor} (vLLM recipe)"))
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'planner':>12}  anchor")
    for label, value, anchor in rows:
        print(f"{label:<{width}}  {value:>12.3f}  {anchor}")
    start = time.perf_counter()
    for _ in range(200):
        plan(pro, make_hardware("h200", None, 8))
    print(f"\nplan() for V4-Pro on 8 x H200: {(time.perf_counter() - start) / 200 * 1e3:.2f} ms per call")


if __name__ == "__main__":
    main()
