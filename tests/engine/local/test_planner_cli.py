"""`engine plan` / `engine serve --dry-run` through the real CLI, and the vLLM commands against golden files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, run_cli
from v4agent.engine.local.hardware import make_hardware
from v4agent.engine.local.modelspec import HF_REPOS, load_model_spec
from v4agent.engine.local.planner import PlanRequest, plan
from v4agent.engine.local.vllm_cmd import LaunchOptions, NodeCommand, build_commands, render_commands

GOLDEN = Path(__file__).parent / "golden"

# One golden file per vLLM recipe configuration: (model, GPU, GPUs per node, nodes, request, executor, CLI args).
CASES = {
    "vllm_flash_1x8xh200.txt": ("deepseek-v4-flash", "h200", 8, 1, PlanRequest(), "mp",
                                ["--model", "deepseek-v4-flash", "--gpu", "h200"]),
    "vllm_flash0731_1x8xh200_mtp.txt": ("deepseek-v4-flash-0731", "h200", 8, 1, PlanRequest(mtp=True), "mp",
                                        ["--model", "deepseek-v4-flash-0731", "--gpu", "h200", "--mtp"]),
    "vllm_flash_1x8xb200_mtp.txt": ("deepseek-v4-flash", "b200", 8, 1, PlanRequest(mtp=True), "mp",
                                    ["--model", "deepseek-v4-flash", "--gpu", "b200", "--mtp"]),
    "vllm_flash_1x4xgb200_dp.txt": ("deepseek-v4-flash", "gb200", 4, 1, PlanRequest(mode="dp"), "mp",
                                    ["--model", "deepseek-v4-flash", "--gpu", "gb200", "--gpus", "4", "--mode", "dp"]),
    "vllm_pro_1x8xh200.txt": ("deepseek-v4-pro", "h200", 8, 1, PlanRequest(), "mp",
                              ["--model", "deepseek-v4-pro", "--gpu", "h200"]),
    "vllm_pro_1x8xb200_mtp.txt": ("deepseek-v4-pro", "b200", 8, 1, PlanRequest(mtp=True), "mp",
                                  ["--model", "deepseek-v4-pro", "--gpu", "b200", "--mtp"]),
    "vllm_v32_1x8xh200.txt": ("deepseek-v3.2", "h200", 8, 1, PlanRequest(mode="tp"), "mp",
                              ["--model", "deepseek-v3.2", "--gpu", "h200", "--mode", "tp"]),
    "vllm_pro_2x8xh200_tp.txt": ("deepseek-v4-pro", "h200", 8, 2, PlanRequest(mode="tp"), "mp",
                                 ["--model", "deepseek-v4-pro", "--gpu", "h200", "--nodes", "2", "--mode", "tp"]),
    "vllm_pro_2x8xh200_dp.txt": ("deepseek-v4-pro", "h200", 8, 2,
                                 PlanRequest(context=131072, concurrency=32, mode="dp"), "mp",
                                 ["--model", "deepseek-v4-pro", "--gpu", "h200", "--nodes", "2", "--mode", "dp",
                                  "--context", "131072", "--concurrency", "32"]),
    "vllm_pro_2x8xb200_ray.txt": ("deepseek-v4-pro", "b200", 8, 2, PlanRequest(), "ray",
                                  ["--model", "deepseek-v4-pro", "--gpu", "b200", "--nodes", "2",
                                   "--executor", "ray"]),
}


def golden_commands(golden: str) -> list[NodeCommand]:
    """The commands the builder makes for a golden case (what the golden file holds)."""
    model, gpu, gpus, nodes, request, executor, _ = CASES[golden]
    the_plan = plan(load_model_spec(model), make_hardware(gpu, None, gpus, nodes), request)
    host = "0.0.0.0" if nodes > 1 else "127.0.0.1"
    repo = HF_REPOS[model]
    options = LaunchOptions(model_ref=repo, host=host, port=8000, served_name=repo, executor=executor)
    return build_commands(the_plan, options)


@pytest.mark.parametrize("golden", sorted(CASES))
def test_commands_match_golden(golden: str) -> None:
    assert render_commands(golden_commands(golden)) == (GOLDEN / golden).read_text()


@pytest.mark.parametrize("golden", sorted(CASES))
def test_serve_dry_run_prints_the_golden_commands(golden: str) -> None:
    args = CASES[golden][6]
    result = run_cli("engine", "serve", "--dry-run", *args)
    assert result.returncode == 0, result.stderr
    assert (GOLDEN / golden).read_text() in result.stdout
    assert "fits" in result.stdout
    assert "assumes" in result.stdout


def test_multi_node_commands_have_one_head_and_headless_workers() -> None:
    text = (GOLDEN / "vllm_pro_2x8xh200_tp.txt").read_text()
    assert text.count("--node-rank 0") == 1
    assert text.count("--node-rank 1 ") == 1
    assert text.count("--headless") == 1
    assert text.count("--port 8000") == 1
    assert text.count('export NCCL_SOCKET_IFNAME="$IFACE_NAME"') == 2
    # DP + EP across nodes as the recipe's multi_node_dep: hybrid load balancing, an API server on every node.
    dp = (GOLDEN / "vllm_pro_2x8xh200_dp.txt").read_text()
    assert dp.count("--data-parallel-hybrid-lb") == 2
    assert "--data-parallel-start-rank 8" in dp
    assert "--headless" not in dp
    assert "--data-parallel-size-local 8" in dp
    assert dp.count('export GLOO_SOCKET_IFNAME="$IFACE_NAME"') == 2


def test_plan_json_has_the_documented_keys() -> None:
    result = run_cli("engine", "plan", "--model", "deepseek-v4-pro", "--gpu", "h200", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("weights_bytes", "kv_bytes_per_token", "max_context_tokens", "max_concurrent_sequences", "fits",
                "parallelism", "launch"):
        assert key in data
    assert data["fits"] is True
    assert data["max_context_tokens"] == 1 << 20
    assert data["launch"][0]["argv"][:3] == ["vllm", "serve", "deepseek-ai/DeepSeek-V4-Pro"]
    assert abs(data["comparison"]["fp8+mxfp4"]["ratio"] - 0.1048) < 0.001
    assert data["runtime"] == {"attention_backend": "FLASHMLA_SPARSE_DSV4", "kv_cache_dtype": "fp8_ds_mla",
                               "indexer_dtype": "fp8"}
    assert any("fp8" in line for line in data["assumptions"])


def test_plan_that_does_not_fit_says_what_would() -> None:
    result = run_cli("engine", "plan", "--model", "deepseek-v4-pro", "--gpu", "h100")
    assert result.returncode == 1
    assert "does not fit" in result.stdout
    assert "it fits on 2 nodes x 8 x h100" in result.stdout
    dry = run_cli("engine", "serve", "--dry-run", "--model", "deepseek-v4-pro", "--gpu", "h100")
    assert dry.returncode == 1
    assert "vllm serve" not in dry.stdout


def test_plan_reads_a_config_path_and_rejects_bad_input(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text((REPO_ROOT / "v4agent/data/configs/DeepSeek-V4-Flash.config.json").read_text())
    ok = run_cli("engine", "plan", "--model", str(config), "--gpu-mem", "180", "--gpus", "1", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["parallelism"]["tensor_parallel_size"] == 1
    bad = run_cli("engine", "plan", "--model", "deepseek-v9")
    assert bad.returncode == 2
    assert "no such model" in bad.stderr
    assert "Traceback" not in bad.stderr
    gpu = run_cli("engine", "plan", "--gpu", "h900")
    assert gpu.returncode == 2
    assert "unknown GPU" in gpu.stderr
