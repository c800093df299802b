"""The plan as vLLM really runs DeepSeek: the recipe table, backends and cache dtypes per GPU, and refusals."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from v4agent.engine.local.hardware import make_hardware
from v4agent.engine.local.kvmodel import kv_footprint
from v4agent.engine.local.modelspec import ModelSpecError, load_model_spec
from v4agent.engine.local.planner import PlanError, PlanRequest, plan
from v4agent.engine.local.recipes import RecipeError, load_recipes, parse_recipes
from v4agent.engine.local.vllm_cmd import LaunchOptions, build_commands, merge_flags


def _plan(model: str, gpu: str, gpus: int = 8, nodes: int = 1, **request: object):  # type: ignore[no-untyped-def]
    return plan(load_model_spec(model), make_hardware(gpu, None, gpus, nodes), PlanRequest(**request))  # type: ignore[arg-type]


def _argv(the_plan, **options: object) -> list[str]:  # type: ignore[no-untyped-def]
    return list(build_commands(the_plan, LaunchOptions(model_ref="m", **options))[0].argv)  # type: ignore[arg-type]


def test_table_is_dated_and_cites_sources() -> None:
    recipes = load_recipes()
    assert recipes.meta["checked"]
    assert "github.com/vllm-project/recipes" in recipes.meta["recipes_url"]
    for checkpoint in recipes.checkpoints.values():
        assert checkpoint.source, checkpoint.name
    defaults = {c.name for c in recipes.checkpoints.values() if c.recipe_default}
    assert {"deepseek-v4-flash-0731", "deepseek-v4-pro-0813"} <= defaults
    assert recipes.checkpoints["deepseek-v4-flash-0731"].draft == "dspark"
    for row in recipes.tuning:
        assert row["source"]


def test_a_malformed_table_is_a_clear_error() -> None:
    with pytest.raises(RecipeError, match="not valid TOML"):
        parse_recipes("[checkpoints\n")
    with pytest.raises(RecipeError, match="lacks 'repo'"):
        parse_recipes('[checkpoints.x]\nfamily = "v4-flash"\n')


def test_pro_0813_without_a_shipped_config_says_where_to_get_it() -> None:
    with pytest.raises(ModelSpecError) as caught:
        load_model_spec("deepseek-v4-pro-0813")
    assert "deepseek-ai/DeepSeek-V4-Pro-0813" in caught.value.hint


@pytest.mark.parametrize(("gpu", "reason"), [("a100", "compute capability 8.0"), ("l40s", "compute capability 8.9"),
                                             ("rtx4090", "compute capability 8.9"), ("mi300x", "amd-cdna3")])
def test_gpus_vllm_cannot_run_v4_on_are_refused_with_the_nearest_option(gpu: str, reason: str) -> None:
    the_plan = _plan("deepseek-v4-flash", gpu, nodes=4)
    assert not the_plan.fits
    refusal = next(p for p in the_plan.problems if p.startswith("vLLM cannot run"))
    assert reason in refusal
    assert "nearest supported option: --gpu " in refusal


def test_unsupported_gpu_refusal_through_the_cli_exits_1_without_a_traceback() -> None:
    result = run_cli("engine", "plan", "--model", "deepseek-v4-flash", "--gpu", "rtx4090", "--nodes", "2")
    assert result.returncode == 1
    assert "vLLM cannot run" in result.stdout
    assert "Traceback" not in result.stderr


def test_h100_runs_but_the_plan_says_no_v4_recipe_uses_it() -> None:
    the_plan = _plan("deepseek-v4-flash", "h100")
    assert the_plan.fits
    assert any("in no DeepSeek V4 recipe" in w for w in the_plan.warnings)
    assert not any("in no DeepSeek V4 recipe" in w for w in _plan("deepseek-v4-flash", "h200").warnings)


@pytest.mark.parametrize(("model", "nodes"), [("deepseek-v4-flash", 2), ("deepseek-v4-pro", 4)])
def test_tensor_parallel_must_divide_o_groups_too(model: str, nodes: int) -> None:
    # Flash: 64 heads but 8 o_groups (TP 16 fails); Pro: 128 heads, 16 o_groups (TP 32 fails).
    with pytest.raises(PlanError, match="o_groups") as caught:
        _plan(model, "h200", nodes=nodes, mode="tp")
    assert "--mode dp" in caught.value.hint


def test_auto_mode_never_picks_a_tp_that_splits_o_groups() -> None:
    the_plan = _plan("deepseek-v4-flash", "h200", nodes=2)
    assert load_model_spec("deepseek-v4-flash").o_groups % the_plan.parallelism.tensor == 0
    assert all(a["mode"] != "tp" for a in the_plan.alternatives)


def test_v32_gets_64_token_blocks_and_its_own_parsers() -> None:
    the_plan = _plan("deepseek-v3.2", "h200", mode="tp")
    argv = _argv(the_plan)
    assert the_plan.block_size == 64
    joined = " ".join(argv)
    for flags in ("--block-size 64", "--tokenizer-mode deepseek_v32", "--tool-call-parser deepseek_v32",
                  "--enable-auto-tool-choice", "--reasoning-parser deepseek_v3"):
        assert flags in joined
    with pytest.raises(PlanError, match="multiples of 64") as caught:
        _plan("deepseek-v3.2", "h200", mode="tp", block_size=16)
    assert "--block-size 64" in caught.value.hint


def test_flash_0731_drafts_with_dspark_and_its_trailing_blocks_are_not_mtp_layers() -> None:
    spec = load_model_spec("deepseek-v4-flash-0731")
    assert spec.draft == "dspark"
    assert kv_footprint(spec, include_mtp=True).per_token == kv_footprint(spec).per_token
    with_draft = _plan("deepseek-v4-flash-0731", "h200", mtp=True)
    joined = " ".join(_argv(with_draft))
    assert '"method":"dspark"' in joined
    assert '"method":"mtp"' not in joined
    assert with_draft.layout is not None
    assert _plan("deepseek-v4-flash-0731", "h200").layout is not None
    assert with_draft.layout.block_bytes == _plan("deepseek-v4-flash-0731", "h200").layout.block_bytes


@pytest.mark.parametrize(("model", "gpu", "tokens"), [("deepseek-v4-flash", "h200", 1), ("deepseek-v4-flash", "b200", 2),
                                                      ("deepseek-v4-pro", "h200", 2), ("deepseek-v4-pro", "b200", 2)])
def test_mtp_speculative_tokens_follow_the_recipe(model: str, gpu: str, tokens: int) -> None:
    the_plan = _plan(model, gpu, nodes=1 if "flash" in model else 2, mtp=True, mode="dp")
    config = _argv(the_plan)[_argv(the_plan).index("--speculative-config") + 1]
    assert json.loads(config) == {"method": "mtp", "num_speculative_tokens": tokens}


def test_bf16_kv_on_hopper_is_planned_as_the_fp8_ds_mla_vllm_stores() -> None:
    bf16 = _plan("deepseek-v4-flash", "h200", kv_dtype="bf16")
    fp8 = _plan("deepseek-v4-flash", "h200")
    assert bf16.runtime is not None
    assert bf16.runtime.kv_cache_dtype == "fp8_ds_mla"
    assert bf16.kv.per_token == fp8.kv.per_token
    assert any("fp8_ds_mla" in w for w in bf16.warnings)
    assert "--kv-cache-dtype fp8" in " ".join(_argv(bf16))


@pytest.mark.parametrize(("gpu", "backend", "indexer"), [("h200", "FLASHMLA_SPARSE_DSV4", "fp8"),
                                                         ("b200", "FLASHMLA_SPARSE_DSV4", "mxfp4"),
                                                         ("gb200", "FLASHMLA_SPARSE_DSV4", "mxfp4")])
def test_the_plan_states_backend_kv_and_indexer_dtype(gpu: str, backend: str, indexer: str) -> None:
    the_plan = _plan("deepseek-v4-flash", gpu)
    data = the_plan.to_json()
    assert data["runtime"] == {"attention_backend": backend, "kv_cache_dtype": "fp8_ds_mla", "indexer_dtype": indexer}
    assert any(backend in line and indexer in line for line in data["assumptions"])
    assert ("--attention-config.indexer_kv_dtype" in _argv(the_plan)) == (indexer == "mxfp4")


def test_mxfp4_indexer_on_hopper_and_a_bf16_indexer_are_refused() -> None:
    assert any("not available on h200" in p for p in _plan("deepseek-v4-flash", "h200", indexer_dtype="mxfp4").problems)
    assert any("no bf16 indexer" in p for p in _plan("deepseek-v4-flash", "b200", indexer_dtype="bf16").problems)


def test_pro_on_hopper_takes_the_recipes_settings_where_the_user_left_them_open() -> None:
    the_plan = _plan("deepseek-v4-pro", "h200")
    assert (the_plan.target_context, the_plan.request.utilization, the_plan.request.max_num_seqs) == (200000, 0.95, 16)
    joined = " ".join(_argv(the_plan))
    assert "--max-model-len 200000" in joined
    assert "--gpu-memory-utilization 0.95" in joined
    assert "--max-num-seqs 16" in joined
    assert '"cudagraph_mode": "FULL_DECODE_ONLY"' in joined
    assert joined.count("--compilation-config") == 1
    mine = _plan("deepseek-v4-pro", "h200", context=65536, gpu_memory_utilization=0.9)
    assert "--max-model-len 65536" in " ".join(_argv(mine))
    assert "--gpu-memory-utilization 0.9 " in " ".join(_argv(mine))


def test_think_max_needs_384k_and_the_plan_says_so() -> None:
    short = _plan("deepseek-v4-flash", "h200", context=131072)
    assert any("Think Max" in w and "393,216" in w for w in short.warnings)
    assert not any("Think Max" in w for w in _plan("deepseek-v4-flash", "h200", context=393216).warnings)


def test_flags_merge_last_wins_in_place() -> None:
    merged = merge_flags(["vllm", "serve", "m", "--a", "1", "--flag"], ["--a", "2", "--b", '{"x": 1}'], ["--flag"])
    assert merged == ["vllm", "serve", "m", "--a", "2", "--flag", "--b", '{"x": 1}']
    the_plan = _plan("deepseek-v4-flash", "h200")
    argv = _argv(the_plan, extra=("--max-model-len", "4096"))
    assert argv.count("--max-model-len") == 1
    assert argv[argv.index("--max-model-len") + 1] == "4096"
