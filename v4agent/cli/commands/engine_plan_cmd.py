"""`v4agent engine plan` and `v4agent engine serve`: size DeepSeek V4 for some GPUs, then run it with vLLM."""

from __future__ import annotations

from pathlib import Path

import typer

from v4agent.cli.commands.engine_cmd import engine_app

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
    mtp: bool = typer.Option(False, "--mtp", help="Load the MTP draft blocks (speculative decoding)."),
    utilization: float = typer.Option(0.9, "--gpu-memory-utilization", help="Fraction of GPU memory vLLM may use."),
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
    from v4agent.serve.planning import run_plan

    run_plan(model, gpu, gpu_mem, gpus, nodes, context, concurrency, kv_dtype, mode, mtp, utilization, reserve,
             compare, executor, master_addr, batched, gpus_file, as_json)


def serve_command(
    model: str = typer.Option("deepseek-v4-flash", "--model", "-m", help=_MODEL_HELP),
    gpu: str = typer.Option("h100", "--gpu", help="GPU model for --dry-run (a real start detects the GPUs)."),
    gpu_mem: float = typer.Option(None, "--gpu-mem", help="GiB per GPU."),
    gpus: int = typer.Option(8, "--gpus", help="GPUs per node."),
    nodes: int = typer.Option(1, "--nodes", help="Nodes (more than one: --dry-run prints each node's command)."),
    context: int = typer.Option(None, "--context", help="Context tokens to serve (--max-model-len)."),
    concurrency: int = typer.Option(1, "--concurrency", help="Sequences that must fit at once."),
    kv_dtype: str = typer.Option("fp8", "--kv-dtype", help="fp8 (V4 recipe) or bf16."),
    mode: str = typer.Option("auto", "--mode", help="auto, tp, dp or tp-pp."),
    mtp: bool = typer.Option(False, "--mtp", help="MTP speculative decoding."),
    batched: int = typer.Option(None, "--max-num-batched-tokens",
                                help="Tokens per scheduler step (default: vLLM's for the GPU, lowered for V4 when "
                                     "that is what lets the context fit)."),
    executor: str = typer.Option("mp", "--executor", help="mp (vLLM's multi-node runtime) or ray."),
    master_addr: str = typer.Option("HEAD_NODE_IP", "--master-addr", help="Head node address (multi-node)."),
    port: int = typer.Option(0, "--port", help="Port (0 = a free one; --dry-run shows 8000)."),
    weights: str = typer.Option(None, "--weights", help="Hugging Face repo id or directory vLLM loads."),
    python: str = typer.Option(None, "--python", help="Python interpreter with vLLM installed."),
    device: str = typer.Option(None, "--device", help="gpu, or cpu for vLLM's CPU build."),
    vllm_arg: list[str] = typer.Option([], "--vllm-arg", help="Extra vLLM flag (repeatable)."),
    attach: str = typer.Option(None, "--attach", help="Use the engine already running at this URL."),
    timeout: int = typer.Option(None, "--startup-timeout", help="Seconds to wait for /health."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and the exact commands; start nothing."),
    path: Path = typer.Option(Path("."), "--repo", help="Repository whose .v4agent/ holds the engine log."),
) -> None:
    """Start DeepSeek V4 on vLLM (planned for the GPUs here), wait for /health, stop it on Ctrl-C."""
    from v4agent.serve.planning import run_serve

    run_serve(model, gpu, gpu_mem, gpus, nodes, context, concurrency, kv_dtype, mode, mtp, batched, executor,
              master_addr, port, weights, python, device, vllm_arg, attach, timeout, dry_run, path)


def register(app: typer.Typer) -> None:
    """Adds `plan` and `serve` to the `engine` group (registered with the app by engine_cmd)."""
    del app
    registered = {c.name for c in engine_app.registered_commands}
    if "plan" not in registered:
        engine_app.command("plan")(plan_command)
    if "serve" not in registered:
        engine_app.command("serve")(serve_command)
