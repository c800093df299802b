"""`v4agent engine plan` and `v4agent engine serve`: size DeepSeek V4 for some GPUs, then run it with vLLM."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import typer

from v4agent.cli.commands.engine_cmd import engine_app

if TYPE_CHECKING:
    from v4agent.engine.local.planner import Mode

    PlanMode = Mode | Literal["auto"]

def _mode(mode: str) -> PlanMode:
    """--mode as the request's type; run_plan and run_serve refuse a value outside it with a usage error."""
    return cast("PlanMode", mode)


_MODEL_HELP = "deepseek-v4-flash, deepseek-v4-pro, deepseek-v4-flash-0731, deepseek-v3.2, or a config.json path."


def plan_command(
    model: str = typer.Option("deepseek-v4-flash", "--model", "-m", help=_MODEL_HELP),
    gpu: str = typer.Option("h100", "--gpu", help="GPU model (see v4agent/data/gpus.toml)."),
    gpu_mem: float = typer.Option(None, "--gpu-mem", help="GiB per GPU (instead of --gpu's figure)."),
    gpus: int = typer.Option(8, "--gpus", help="GPUs per node."),
    nodes: int = typer.Option(1, "--nodes", help="Nodes."),
    context: int = typer.Option(None, "--context", help="Context tokens per sequence (default: as long as fits)."),
    concurrency: int = typer.Option(1, "--concurrency", help="Sequences that must fit at once."),
    kv_dtype: str = typer.Option("fp8", "--kv-dtype", help="fp8 (V4 recipe) or bf16."),
    mode: str = typer.Option("auto", "--mode", help="auto, tp, dp or tp-pp."),
    mtp: bool = typer.Option(False, "--mtp", help="Speculative decoding with the checkpoint's draft head (MTP or DSpark)."),
    utilization: float = typer.Option(None, "--gpu-memory-utilization",
                                      help="Fraction of GPU memory vLLM may use (default: the recipe's, else 0.9)."),
    reserve: float = typer.Option(4.0, "--reserve-gib", help="GiB per GPU kept for activations and buffers."),
    compare: str = typer.Option("deepseek-v3.2", "--compare", help="Model whose KV cache to compare with ('' = none)."),
    executor: str = typer.Option("mp", "--executor", help="mp (vLLM's multi-node runtime) or ray."),
    master_addr: str = typer.Option("HEAD_NODE_IP", "--master-addr", help="Head node address for multi-node plans."),
    batched: int = typer.Option(None, "--max-num-batched-tokens",
                                help="Tokens per scheduler step (default: vLLM's for the GPU, lowered for V4 when "
                                     "that is what lets the context fit)."),
    gpus_file: Path = typer.Option(None, "--gpus-file", help="TOML with more GPU models (same shape as gpus.toml)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Size a model for some GPUs: weights, KV per token, longest context, sequences, parallelism, commands.

    Exit status 1 when the plan does not fit."""
    from v4agent.engine.local.planner import PlanRequest
    from v4agent.serve.planning import LaunchFlags, PlanTarget, run_plan

    run_plan(PlanTarget(model=model, gpu=gpu, gpu_mem=gpu_mem, gpus=gpus, nodes=nodes, gpus_file=gpus_file),
             PlanRequest(context=context, concurrency=concurrency, kv_dtype=kv_dtype, mode=_mode(mode), mtp=mtp,
                         gpu_memory_utilization=utilization, reserve_gib=reserve, max_num_batched_tokens=batched),
             LaunchFlags(executor=executor, master_addr=master_addr), compare=compare, as_json=as_json)


def serve_command(
    repo: Path = typer.Argument(Path("."), help="Repository whose .v4agent/ holds the engine log (default: .)."),
    model: str = typer.Option("deepseek-v4-flash", "--model", "-m", help=_MODEL_HELP),
    gpu: str = typer.Option(None, "--gpu", help="GPU model (default: the GPUs nvidia-smi reports, else h100)."),
    gpu_mem: float = typer.Option(None, "--gpu-mem", help="GiB per GPU."),
    gpus: int = typer.Option(None, "--gpus", help="GPUs per node (default: all detected, else 8)."),
    nodes: int = typer.Option(1, "--nodes", help="Nodes (more than one: --dry-run prints each node's command)."),
    context: int = typer.Option(None, "--context", help="Context tokens to serve (--max-model-len)."),
    concurrency: int = typer.Option(1, "--concurrency", help="Sequences that must fit at once."),
    kv_dtype: str = typer.Option("fp8", "--kv-dtype", help="fp8 (V4 recipe) or bf16."),
    mode: str = typer.Option("auto", "--mode", help="auto, tp, dp or tp-pp."),
    mtp: bool = typer.Option(False, "--mtp", help="Speculative decoding with the checkpoint's draft head (MTP or DSpark)."),
    utilization: float = typer.Option(None, "--gpu-memory-utilization",
                                      help="Fraction of GPU memory vLLM may use (default: the recipe's, else 0.9)."),
    batched: int = typer.Option(None, "--max-num-batched-tokens",
                                help="Tokens per scheduler step (default: vLLM's for the GPU, lowered for V4 when "
                                     "that is what lets the context fit)."),
    executor: str = typer.Option("mp", "--executor", help="mp (vLLM's multi-node runtime) or ray."),
    master_addr: str = typer.Option("HEAD_NODE_IP", "--master-addr", help="Head node address (multi-node)."),
    port: int = typer.Option(8000, "--port", help="Port the server listens on."),
    weights: str = typer.Option(None, "--weights", help="Hugging Face repo id or directory vLLM loads."),
    python: str = typer.Option(None, "--python", help="Python interpreter with vLLM installed."),
    device: str = typer.Option(None, "--device", help="gpu, or cpu for vLLM's CPU build."),
    vllm_arg: list[str] = typer.Option([], "--vllm-arg", help="Extra vLLM flag (repeatable)."),
    attach: str = typer.Option(None, "--attach", help="Use the engine already running at this URL."),
    timeout: int = typer.Option(None, "--startup-timeout", help="Seconds to wait for /health."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and the exact commands; start nothing."),
    path: Path | None = typer.Option(None, "--repo", hidden=True, help="The repository (older spelling)."),
) -> None:
    """Start DeepSeek V4 on vLLM (planned for the GPUs here), wait for /health, stop it on Ctrl-C."""
    from v4agent.engine.local.planner import PlanRequest
    from v4agent.serve.planning import LaunchFlags, PlanTarget, ServeOptions, run_serve

    run_serve(PlanTarget(model=model, gpu=gpu, gpu_mem=gpu_mem, gpus=gpus, nodes=nodes),
              PlanRequest(context=context, concurrency=concurrency, kv_dtype=kv_dtype, mode=_mode(mode), mtp=mtp,
                          gpu_memory_utilization=utilization, max_num_batched_tokens=batched),
              LaunchFlags(executor=executor, master_addr=master_addr, port=port, weights=weights,
                          vllm_args=tuple(vllm_arg)),
              ServeOptions(python=python, device=device, attach=attach, timeout=timeout, dry_run=dry_run, repo=path or repo))


def register(app: typer.Typer) -> None:
    """Adds `plan` and `serve` to the `engine` group (registered with the app by engine_cmd)."""
    del app
    registered = {c.name for c in engine_app.registered_commands}
    if "plan" not in registered:
        engine_app.command("plan")(plan_command)
    if "serve" not in registered:
        engine_app.command("serve")(serve_command)
