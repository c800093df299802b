"""`engine plan` / `engine serve --dry-run` through the real CLI, and the vLLM commands against golden files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, run_cli
from v4agent.engine.local.hardware import make_hardware
from v4agent.engine.local.modelspec import load_model_spec
from v4agent.engine.local.planner import PlanRequest, plan
from v4agent.engine.local.vllm_cmd import LaunchOptions, build_commands, render_commands

GOLDEN = Path(__file__).parent / "golden"

CASES = {
    "vllm_flash_1x8xh200.txt": ("deepseek-v4-flash", "h200", 1, PlanRequest(), "mp",
                                ["--model", "deepseek-v4-flash", "--gpu", "h200"]),
    "vllm_pro_2x8xh100_tp.txt": ("deepseek-v4-pro", "h100", 2, PlanRequest(), "mp",
                                 ["--model", "deepseek-v4-pro", "--gpu", "h100", "--nodes", "2"]),
    "vllm_pro_2x8xh200_dp.txt": ("deepseek-v4-pro", "h200", 2,
                                 PlanRequest(context=131072, concurrency=32, mode="dp"), "mp",
                                 ["--model", "deepseek-v4-pro", "--gpu", "h200", "--nodes", "2", "--mode", "dp",
                                  "--context", "131072", "--concurrency", "32"]),
    "vllm_pro_2x8xh100_ray.txt": ("deepseek-v4-pro", "h100", 2, PlanRequest(), "ray",
                                  ["--model", "deepseek-v4-pro", "--gpu", "h100", "--nodes", "2",
                                   "--executor", "ray"]),
}


@pytest.mark.parametrize("golden", sorted(CASES))
def test_commands_match_golden(golden: str) -> None:
    model, gpu, nodes, request, executor, _ = CASES[golden]
    the_plan = plan(load_model_spec(model), make_hardware(gpu, None, 8, nodes), request)
    host = "0.0.0.0" if nodes > 1 else "127.0.0.1"
    repo = "deepseek-ai/" + ("DeepSeek-V4-Pro" if "pro" in model else "DeepSeek-V4-Flash")
    options = LaunchOptions(model_ref=repo, host=host, port=8000, served_name=repo, executor=executor)
    assert render_commands(build_commands(the_plan, options)) == (GOLDEN / golden).read_text()


@pytest.mark.parametrize("golden", sorted(CASES))
def test_serve_dry_run_prints_the_golden_commands(golden: str) -> None:
    args = CASES[golden][5]
    result = run_cli("engine", "serve", "--dry-run", *args)
    assert result.returncode == 0, result.stderr
    assert (GOLDEN / golden).read_text() in result.stdout
    assert "fits" in result.stdout
    assert "assumes" in result.stdout


def test_multi_node_commands_have_one_head_and_headless_workers() -> None:
    text = (GOLDEN / "vllm_pro_2x8xh100_tp.txt").read_text()
    assert text.count("--node-rank 0") == 1
    assert text.count("--node-rank 1 ") == 1
    assert text.count("--headless") == 1
    assert text.count("--port 8000") == 1
    dp = (GOLDEN / "vllm_pro_2x8xh200_dp.txt").read_text()
    assert "--data-parallel-start-rank 8 --headless" in dp
    assert "--data-parallel-size-local 8" in dp


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
    assert 0.08 < data["comparison"]["bf16"]["ratio"] < 0.13
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
