"""The capacity planner against hand-computed figures, the published KV numbers and the seeds' ratios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from v4agent.engine.local.hardware import GIB, HardwareError, make_hardware
from v4agent.engine.local.kvcompare import compare_kv, compare_rows
from v4agent.engine.local.kvmodel import kv_footprint, weight_bytes
from v4agent.engine.local.modelspec import (
    ModelSpecError,
    builtin_config_path,
    load_model_spec,
    parse_config,
    to_layer_types,
)
from v4agent.engine.local.planner import PlanError, PlanRequest, minimum_gpus, plan
from v4agent.engine.local.vllm_cmd import LaunchOptions, build_commands

ONE_M = 1 << 20


def _raw(name: str) -> dict:
    return json.loads(builtin_config_path(name).read_text(encoding="utf-8"))


def test_layouts_read_from_config() -> None:
    flash = load_model_spec("deepseek-v4-flash")
    assert flash.kind_counts() == {"sliding": 2, "csa": 21, "hca": 20}
    assert flash.mtp_kinds == ("sliding",)
    pro = load_model_spec("deepseek-v4-pro")
    assert pro.kind_counts() == {"csa": 30, "hca": 31}
    assert pro.layer_kinds[:2] == ("hca", "hca")
    assert load_model_spec("deepseek-v4-flash-0731").mtp_kinds == ("sliding",) * 3
    v32 = load_model_spec("deepseek-v3.2")
    assert v32.is_mla
    assert v32.kind_counts() == {"mla": 61}
    assert v32.index_head_dim == 128


def test_kv_bytes_per_token_hand_computed() -> None:
    # bf16: a V4 latent row is 512 x 2 = 1024 B; vLLM's indexer keys stay fp8 (128 + 4 = 132 B): no bf16 indexer.
    # Pro: 30 CSA x (1024 + 132) / 4 + 31 HCA x 1024 / 128 = 8670 + 248.
    assert kv_footprint(load_model_spec("deepseek-v4-pro"), "bf16").per_token == 8918
    # The announcement's arithmetic (bf16 indexer keys, 256 B): 30 x (1024 + 256) / 4 + 248.
    assert kv_footprint(load_model_spec("deepseek-v4-pro"), "bf16", indexer_dtype="bf16").per_token == 9848
    # MXFP4 indexer keys (Blackwell): 64 B of e2m1 + 4 ue8m0 scales = 68 B. Flash: 21 x (584 + 68) / 4 + 20 x 4.5625.
    assert kv_footprint(load_model_spec("deepseek-v4-flash"), "fp8", indexer_dtype="mxfp4").per_token == \
        21 * 163 + 20 * 4.5625
    # fp8 (vLLM's format): 584 B rows, 132 B indexer keys. Flash: 21 x (584 + 132) / 4 + 20 x 584 / 128.
    assert kv_footprint(load_model_spec("deepseek-v4-flash"), "fp8").per_token == 21 * 179 + 20 * 4.5625
    # V3.2 (MLA): 61 x ((512 + 64) x 2 + 128 x 2) in bf16; 61 x (656 + 132) in fp8.
    v32 = load_model_spec("deepseek-v3.2")
    assert kv_footprint(v32, "bf16", indexer_dtype="bf16").per_token == 61 * 1408
    assert kv_footprint(v32, "bf16").per_token == 61 * (1152 + 132)
    assert kv_footprint(v32, "fp8").per_token == 61 * 788


def test_fixed_per_sequence_terms_hand_computed() -> None:
    pro = kv_footprint(load_model_spec("deepseek-v4-pro"), "bf16", indexer_dtype="bf16")
    window = 61 * 128 * 1024  # the last 128 raw rows in every layer
    csa_state = 30 * (8 * 2 * 2 * 512 * 4 + 8 * 2 * 2 * 128 * 4)  # 2x4 tokens of 2x(kv+score) fp32 state + indexer's
    hca_state = 31 * (128 * 2 * 512 * 4)
    assert pro.per_sequence == window + csa_state + hca_state


def test_published_kv_figures_at_1m_tokens() -> None:
    # vLLM's V4 announcement: 9.62 GiB per 1M-token sequence for V4-Pro in bf16, 83.9 GiB for V3.2's stack
    # (its arithmetic counts bf16 indexer keys, which no vLLM cache stores).
    pro = kv_footprint(load_model_spec("deepseek-v4-pro"), "bf16", indexer_dtype="bf16").bytes_for(ONE_M) / GIB
    v32 = kv_footprint(load_model_spec("deepseek-v3.2"), "bf16", indexer_dtype="bf16").bytes_for(ONE_M) / GIB
    assert pro == pytest.approx(9.62, rel=0.005)
    assert v32 == pytest.approx(83.9, rel=0.001)


def test_deepseeks_published_ratios_reproduce_within_a_tenth_of_a_point() -> None:
    # DeepSeek: at 1M tokens V4-Pro needs 10% of V3.2's KV cache, V4-Flash 7% ("9.5x-13.7x smaller"): V4 in FP8
    # with MXFP4 indexer keys against V3.2 in FP8 with fp8 keys, cache entries without the compressor state.
    v32 = load_model_spec("deepseek-v3.2")
    pro = compare_kv(load_model_spec("deepseek-v4-pro"), v32, ONE_M, "fp8", indexer_a="mxfp4").ratio
    flash = compare_kv(load_model_spec("deepseek-v4-flash"), v32, ONE_M, "fp8", indexer_a="mxfp4").ratio
    assert abs(pro * 100 - 10.48) < 0.1, pro
    assert abs(flash * 100 - 7.32) < 0.1, flash
    assert 1 / pro == pytest.approx(9.5, abs=0.1)
    assert 1 / flash == pytest.approx(13.7, abs=0.1)


@pytest.mark.parametrize(("label", "pro_pct", "flash_pct"), [("fp8+mxfp4", 10.48, 7.32), ("fp8", 11.47, 8.02),
                                                             ("bf16", 11.40, 7.96)])
def test_every_comparison_row_pinned(label: str, pro_pct: float, flash_pct: float) -> None:
    v32 = load_model_spec("deepseek-v3.2")
    pro = compare_rows(load_model_spec("deepseek-v4-pro"), v32)[label].ratio * 100
    flash = compare_rows(load_model_spec("deepseek-v4-flash"), v32)[label].ratio * 100
    assert abs(pro - pro_pct) < 0.1, pro
    assert abs(flash - flash_pct) < 0.1, flash


@pytest.mark.parametrize(("name", "disk_gb"), [("deepseek-v4-flash", 159.6), ("deepseek-v4-flash-0731", 166.9),
                                               ("deepseek-v4-pro", 864.7), ("deepseek-v3.2", 689.5)])
def test_weights_estimate_matches_published_checkpoint_sizes(name: str, disk_gb: float) -> None:
    # FP4 experts (instruct V4) or FP8 (V3.2) with their scales, from parameter counts in config.json.
    total = weight_bytes(load_model_spec(name)).total(include_mtp=True) / 1e9
    assert total == pytest.approx(disk_gb, rel=0.02)


@pytest.mark.parametrize("name", ["deepseek-v4-flash", "deepseek-v4-pro", "deepseek-v4-flash-0731"])
def test_both_schemas_plan_the_same(name: str) -> None:
    raw = _raw(name)
    flat = parse_config(raw, name=name)
    typed = parse_config(to_layer_types(raw), name=name)
    assert "compress_ratios" not in to_layer_types(raw)
    hw = make_hardware("h200", None, 8)
    assert plan(flat, hw).to_json() == plan(typed, hw).to_json()
    assert typed.layer_kinds == flat.layer_kinds
    assert typed.mtp_kinds == ("sliding",)


def test_flash_on_one_b200_hand_computed() -> None:
    spec = load_model_spec("deepseek-v4-flash")
    p = plan(spec, make_hardware(None, 179.0, 1), PlanRequest(context=ONE_M, max_num_batched_tokens=16384))
    weights = weight_bytes(spec)
    pool = int(179.0 * GIB * 0.9 - 4 * GIB - (weights.experts + weights.dense))
    assert p.weights_bytes_per_gpu == int(weights.experts + weights.dense)
    assert p.kv_pool_bytes_per_gpu == pool
    kv = kv_footprint(spec, "fp8", block_size=256)
    # vLLM pads each 256-token page to 576 bytes: CSA rows 64 x 584 -> 37440, HCA 2 x 584 -> 1728, keys 8448 -> 8640.
    assert kv.per_token == 21 * (37440 + 8640) / 256 + 20 * 1728 / 256
    # vLLM's pool: the compressed rows and keys of all 41 compressing layers form the widest group, so every block
    # is 21 x (37440 + 8640) + 20 x 1728 bytes; 5 groups: those rows, the 43 sliding windows split in two
    # (22 + 21 pages of 64 x 584 -> 37440), CSA's states (4-token pages, window 8) and HCA's (8-token, window 128).
    block = 21 * (37440 + 8640) + 20 * 1728
    assert p.pages["block_bytes"] == block
    assert p.pages["groups"] == 5
    assert p.kv_bytes_per_token_per_gpu == block / 256 == kv.per_token
    # A 179 GiB GPU: vLLM's default of 16384 batched tokens, 2 batches in flight (async scheduling) = 32768 tokens
    # whose window and state pages each sequence reserves: 4096 + 2 x 515 + 8195 + 4113 blocks = 17.5 GB > pool.
    assert p.pages["in_flight_tokens"] == 32768
    assert p.pages["bytes_per_sequence"] == block * (4096 + 2 * 515 + 8195 + 4113)
    assert not p.fits
    assert p.max_concurrent_sequences == 0
    assert "max-num-batched-tokens" in p.problems[0]
    # With --max-num-batched-tokens 2048 (4096 in flight): 4096 + 2 x 67 + 1027 + 529 blocks per sequence.
    small = plan(spec, make_hardware(None, 179.0, 1), PlanRequest(context=ONE_M, max_num_batched_tokens=2048))
    assert small.pages["bytes_per_sequence"] == block * (4096 + 2 * 67 + 1027 + 529)
    assert small.max_concurrent_sequences == int((pool // block) / (4096 + 2 * 67 + 1027 + 529)) == 2
    assert small.pool_tokens == int((pool // block) / (4096 + 2 * 67 + 1027 + 529) * ONE_M)
    assert small.fits
    assert small.max_context_tokens == ONE_M
    assert small.parallelism.tensor == 1
    assert small.parallelism.data == 1
    assert any(a.startswith("vLLM page granularity") for a in small.assumptions)
    # Left to the planner, the default (16384) does not fit, so it lowers the batch to the largest that does
    # and says so; the vLLM command carries it.
    auto = plan(spec, make_hardware(None, 179.0, 1), PlanRequest(context=ONE_M))
    assert auto.fits
    assert auto.request.max_num_batched_tokens in (8192, 4096, 2048)
    note = [a for a in auto.assumptions if a.startswith("max-num-batched-tokens lowered")]
    assert len(note) == 1
    assert "16,384" in note[0]
    assert f"{auto.request.max_num_batched_tokens:,}" in note[0]
    bigger = [b for b in (8192, 4096) if b > (auto.request.max_num_batched_tokens or 0)]
    for b in bigger:  # each larger batch would not have fitted
        assert not plan(spec, make_hardware(None, 179.0, 1), PlanRequest(context=ONE_M, max_num_batched_tokens=b)).fits
    argv = build_commands(auto, LaunchOptions(model_ref="deepseek-ai/DeepSeek-V4-Flash"))[0].argv
    assert argv[argv.index("--max-num-batched-tokens") + 1] == str(auto.request.max_num_batched_tokens)


def test_pro_needs_more_than_one_h100_node() -> None:
    spec = load_model_spec("deepseek-v4-pro")
    one = plan(spec, make_hardware("h100", None, 8))
    assert not one.fits
    assert "weights need" in one.problems[0]
    two = minimum_gpus(spec, make_hardware("h100", None, 8))
    assert two is not None
    assert two.hardware.nodes == 2
    assert two.fits
    assert two.parallelism.mode == "tp"
    assert two.parallelism.tensor == 16


def test_pro_on_h200_prefers_long_context_over_sequences() -> None:
    p = plan(load_model_spec("deepseek-v4-pro"), make_hardware("h200", None, 8))
    assert p.fits
    assert p.max_context_tokens == ONE_M
    assert p.parallelism.mode == "tp"
    dp = plan(load_model_spec("deepseek-v4-pro"), make_hardware("h200", None, 8), PlanRequest(mode="dp"))
    assert dp.max_context_tokens < ONE_M  # DP replicates attention weights on every GPU


def test_flash_dp_holds_more_sequences_than_tp() -> None:
    spec = load_model_spec("deepseek-v4-flash")
    hw = make_hardware("h200", None, 8)
    req = PlanRequest(context=131_072, concurrency=64)
    best = plan(spec, hw, req)
    tp = plan(spec, hw, PlanRequest(context=131_072, concurrency=64, mode="tp"))
    assert best.parallelism.mode == "dp"
    assert best.parallelism.data == 8
    assert best.max_concurrent_sequences > tp.max_concurrent_sequences >= 1
    assert best.fits


def test_standard_attention_splits_kv_over_tensor_parallel() -> None:
    raw = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
           "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
           "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072}
    spec = parse_config(raw, name="llama-8b")
    assert kv_footprint(spec, "bf16").per_token == 32 * 2 * 8 * 128 * 2
    p = plan(spec, make_hardware("h100", None, 2), PlanRequest(kv_dtype="bf16", mode="tp"))
    assert p.kv_bytes_per_token_per_gpu == 32 * 2 * 8 * 128 * 2 / 2


def test_bad_inputs_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelSpecError, match="no such model"):
        load_model_spec("deepseek-v9")
    bad = tmp_path / "config.json"
    bad.write_text('{"num_hidden_layers": 2}')
    with pytest.raises(ModelSpecError, match="hidden_size"):
        load_model_spec(str(tmp_path))
    raw = _raw("deepseek-v4-flash")
    raw["compress_ratios"] = raw["compress_ratios"][:10]
    with pytest.raises(ModelSpecError, match="10 entries for 43 layers"):
        parse_config(raw)
    with pytest.raises(HardwareError, match="unknown GPU"):
        make_hardware("h900", None, 8)
    with pytest.raises(PlanError, match="exceeds the model's maximum"):
        plan(load_model_spec("deepseek-v4-flash"), make_hardware("h200", None, 8), PlanRequest(context=2 * ONE_M))
