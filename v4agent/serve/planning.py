"""The work behind `v4agent engine plan` and `engine serve`: planning, printing the plan, starting vLLM.

Kept apart from the command definitions so that the planner, the model specs and rich's tables load only when
one of these commands runs (every v4agent command imports the command modules to register them)."""

from __future__ import annotations

import json
import shlex
import signal
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from v4agent.core.config import load_config
from v4agent.core.errors import ExitCode, UsageError
from v4agent.engine.local.hardware import GIB, Hardware, load_gpu_table, make_hardware
from v4agent.engine.local.kvcompare import compare_rows
from v4agent.engine.local.modelspec import HF_REPOS, ModelSpec, load_model_spec
from v4agent.engine.local.planner import MODES, Plan, PlanRequest, minimum_gpus, plan
from v4agent.engine.local.vllm_cmd import LaunchOptions, NodeCommand, build_commands, render_commands
from v4agent.engine.types import EngineError, EngineUnreachable
from v4agent.serve.options import LaunchFlags, PlanTarget, ServeOptions
from v4agent.ui.console import error, stderr, stdout, warn

__all__ = ["LaunchFlags", "PlanTarget", "ServeOptions", "run_plan", "run_serve"]


def _make_plan(target: PlanTarget, request: PlanRequest) -> tuple[ModelSpec, Plan]:
    # The command line fills the request unchecked: its values are checked here, before anything loads.
    if request.kv_dtype not in ("fp8", "bf16"):
        raise UsageError(f"--kv-dtype must be fp8 or bf16, got {request.kv_dtype!r}")
    if request.mode not in ("auto", *MODES):
        raise UsageError(f"--mode must be one of auto, {', '.join(MODES)}; got {request.mode!r}")
    batched = request.max_num_batched_tokens
    if batched is not None and batched < 1:
        raise UsageError(f"--max-num-batched-tokens must be positive, got {batched}")
    # ModelSpecError, HardwareError and PlanError are usage errors (exit 2): they propagate to the entry point.
    spec = load_model_spec(target.model)
    table = load_gpu_table(target.gpus_file)
    hw = make_hardware(target.gpu, target.gpu_mem, target.gpus or 8, target.nodes, table=table)
    return spec, plan(spec, hw, request)


def _launch_options(target: PlanTarget, launch: LaunchFlags) -> LaunchOptions:
    """The printed commands' options: on the head node's address for several nodes, port 8000 unless given."""
    if launch.executor not in ("mp", "ray"):
        raise UsageError(f"--executor must be mp or ray, got {launch.executor!r}")
    model = target.model
    ref = launch.weights or HF_REPOS.get(model.lower()) or str(
        Path(model).parent if model.endswith(".json") else model)
    return LaunchOptions(model_ref=ref, host="0.0.0.0" if target.nodes > 1 else "127.0.0.1",
                         port=launch.port or 8000, served_name=HF_REPOS.get(model.lower()),
                         master_addr=launch.master_addr, executor=launch.executor,  # type: ignore[arg-type]
                         extra=launch.vllm_args)


def _plan_json(spec: ModelSpec, the_plan: Plan, commands: list[NodeCommand], compare: str | None) -> dict[str, Any]:
    out = the_plan.to_json()
    out["launch"] = [{"node_rank": c.node_rank, "role": c.role, "argv": list(c.argv), "command": c.shell,
                      "needs": c.needs} for c in commands]
    out["alternatives"] = list(the_plan.alternatives)
    if compare:
        other = load_model_spec(compare)
        tokens = 1 << 20
        out["comparison"] = {
            "against": other.name, "tokens": tokens,
            **{label: {"kv_dtype": c.kv_dtype, "indexer_dtype": c.indexer_a, "other_indexer_dtype": c.indexer_b,
                       "kv_bytes": c.bytes_a, "other_kv_bytes": c.bytes_b, "ratio": round(c.ratio, 6)}
               for label, c in compare_rows(spec, other, tokens).items()},
        }
    return out


def _gib(value: float) -> str:
    return f"{value / GIB:,.2f} GiB"


def _print_plan(data: dict[str, Any], the_plan: Plan) -> None:
    hw = the_plan.hardware
    table = Table(title=f"{data['model']} on {hw.describe()}", show_header=False)
    table.add_column("", style="cyan")
    table.add_column("")
    par = data["parallelism"]
    table.add_row("fits", "[green]yes[/]" if data["fits"] else "[red]no[/]")
    table.add_row("weights per GPU", f"{_gib(data['weights_bytes'])} (all: {data['weights_total_bytes'] / 1e9:,.1f} GB)")
    table.add_row("KV pool per GPU", _gib(max(data["kv_pool_bytes_per_gpu"], 0)))
    table.add_row("KV bytes per token", f"{data['kv_bytes_per_token']:,.1f} ({data['kv_dtype']}), "
                                        f"+{data['kv_bytes_per_sequence_fixed'] / 2**20:,.1f} MiB per sequence")
    for kind, row in data["kv_by_layer_kind"].items():
        table.add_row(f"  {kind} layers", f"{int(row['layers'])} x {row['per_token_per_layer']:,.3f} B/token")
    table.add_row("longest context (1 sequence)", f"{data['max_context_tokens']:,} tokens")
    table.add_row("sequences", f"{data['max_concurrent_sequences']} of {data['context_tokens']:,} tokens")
    table.add_row("parallelism", f"TP {par['tensor_parallel_size']}, DP {par['data_parallel_size']}, "
                                 f"PP {par['pipeline_parallel_size']}, EP {par['expert_parallel_size']} "
                                 f"({par['mode']})")
    runtime = data.get("runtime")
    if runtime:
        table.add_row("vLLM runs", f"{runtime['attention_backend']}, KV {runtime['kv_cache_dtype']}, "
                                   f"indexer {runtime['indexer_dtype'] or '-'}")
    if "comparison" in data:
        comp = data["comparison"]
        table.add_row(f"KV vs {comp['against']} at 1M",
                      f"{comp['fp8+mxfp4']['ratio']:.2%} (fp8 + mxfp4 indexer, DeepSeek's figure), "
                      f"{comp['fp8']['ratio']:.2%} (fp8), {comp['bf16']['ratio']:.2%} (bf16)")
    stdout.print(table)
    for problem in data["problems"]:
        stdout.print(f"[red]does not fit:[/] {escape(problem)}")
    for line in data.get("warnings", []):
        stdout.print(f"[yellow]warning:[/] {escape(line)}")
    for line in data["assumptions"]:
        stdout.print(f"[dim]assumes {line}[/]")


def _maybe_needed(spec: ModelSpec, the_plan: Plan) -> None:
    if the_plan.fits:
        return
    smallest = minimum_gpus(spec, the_plan.hardware, the_plan.request)
    if smallest is not None:
        stdout.print(f"[yellow]it fits on {smallest.hardware.describe()}[/] (add --nodes {smallest.hardware.nodes})")


def run_plan(target: PlanTarget, request: PlanRequest, launch: LaunchFlags, *, compare: str = "",
             as_json: bool = False) -> None:
    """`engine plan`: see its help."""
    spec, the_plan = _make_plan(target, request)
    # The printed commands are a plan's: no weights or extra flags, the port vLLM defaults to.
    options = _launch_options(target, LaunchFlags(executor=launch.executor, master_addr=launch.master_addr))
    commands = build_commands(the_plan, options) if the_plan.fits else []
    data = _plan_json(spec, the_plan, commands, compare or None)
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        _print_plan(data, the_plan)
        _maybe_needed(spec, the_plan)
        if commands:
            print(render_commands(commands), end="")
    if not the_plan.fits:
        raise typer.Exit(ExitCode.FAILED)


def _serve_config(target: PlanTarget, launch: LaunchFlags, options: ServeOptions) -> Any:
    flags: dict[str, Any] = {"local.model": target.model, "local.port": launch.port or 8000,
                             "local.weights": launch.weights, "local.python": options.python,
                             "local.device": options.device, "local.vllm_args": list(launch.vllm_args) or None,
                             "local.attach": options.attach, "local.startup_timeout": options.timeout}
    config = load_config(options.repo.resolve(), flags={k: v for k, v in flags.items() if v is not None})
    if config.untrusted is not None:
        warn(escape(config.untrusted.warning()))
    return config


def _serve_hardware(target: PlanTarget, options: ServeOptions) -> Hardware | None:
    """The GPUs `serve` plans for, the same in a dry run and a real start: the named GPU, else those detected
    here, else 8 x h100. None for the CPU build (no GPU plan)."""
    from v4agent.engine.local.runtime import detect_gpus, hardware_for

    if options.device == "cpu":
        return None
    named = target.gpu or target.gpu_mem is not None
    table = load_gpu_table(target.gpus_file)
    if target.gpu and target.gpu.lower() not in table and target.gpu_mem is None:
        make_hardware(target.gpu, None, 1, table=table)  # raises the unknown-GPU usage error
    return hardware_for(target.gpu, target.gpu_mem, target.gpus, target.nodes, [] if named else detect_gpus())


def run_serve(target: PlanTarget, request: PlanRequest, launch: LaunchFlags, options: ServeOptions) -> None:
    """`engine serve`: see its help. The dry run prints the argv a real start runs (one builder for both)."""
    from v4agent.engine.local.runtime import LocalEngineError, plan_launch

    _check_request(request)
    if options.attach and not options.dry_run:
        _serve(_serve_config(target, launch, options), None, None, options)
        return
    hardware = _serve_hardware(target, options)
    if target.nodes > 1:
        if not options.dry_run:
            raise UsageError("engine serve starts one node; a multi-node plan runs a command on every node",
                             hint="run it with --dry-run and start each node's command there")
        spec, the_plan = _make_plan(target, request)
        data = _plan_json(spec, the_plan, [], None)
        _print_plan(data, the_plan)
        if not the_plan.fits:
            _maybe_needed(spec, the_plan)
            raise typer.Exit(ExitCode.FAILED)
        print(render_commands(build_commands(the_plan, _launch_options(target, launch))), end="")
        print(f"# then: v4agent ... --engine local with local.attach = http://{launch.master_addr}:"
              f"{launch.port or 8000}")
        return
    config = _serve_config(target, launch, options)
    try:
        plan_or_cpu = plan_launch(config, request=request, hardware=hardware)
    except LocalEngineError as exc:
        if options.dry_run and hardware is not None:  # show the plan that does not fit, and what would
            spec, the_plan = _make_plan(target, request)
            _print_plan(_plan_json(spec, the_plan, [], None), the_plan)
            _maybe_needed(spec, the_plan)
            raise typer.Exit(ExitCode.FAILED) from None
        raise EngineUnreachable(str(exc), hint=exc.hint) from None
    if options.dry_run:
        if plan_or_cpu.plan is not None:
            spec = load_model_spec(target.model)
            _print_plan(_plan_json(spec, plan_or_cpu.plan, [], None), plan_or_cpu.plan)
        if plan_or_cpu.command is not None:
            print(render_commands([plan_or_cpu.command]), end="")
        else:
            print("# vLLM's CPU build (fallback: its OpenAI server module; no GPU plan)\n" +
                  " ".join(f"{k}={v}" for k, v in plan_or_cpu.env.items()) + " " + shlex.join(plan_or_cpu.argv))
        return
    _serve(config, plan_or_cpu, request, options)


def _check_request(request: PlanRequest) -> None:
    if request.kv_dtype not in ("fp8", "bf16"):
        raise UsageError(f"--kv-dtype must be fp8 or bf16, got {request.kv_dtype!r}")
    if request.mode not in ("auto", *MODES):
        raise UsageError(f"--mode must be one of auto, {', '.join(MODES)}; got {request.mode!r}")


def _serve(config: Any, launch: Any, request: PlanRequest | None, options: ServeOptions) -> None:
    from v4agent.agent.engine_choice import local_sandbox
    from v4agent.engine.local.runtime import attach, launcher_available, run_launch, vllm_available

    del request
    path = options.repo
    root = path.resolve()
    try:
        if launch is None:
            handle = attach(str(config.get("local.attach")))
        else:
            policy = local_sandbox(config, root)  # the local.python probe runs sandboxed, the server filtered
            usable = (launcher_available(launch.launcher, launch.python, policy=policy, cwd=root)
                      if launch.command is not None else vllm_available(launch.python, policy=policy, cwd=root))
            if not usable:
                raise EngineUnreachable(f"vLLM is not installed ({' '.join(launch.launcher) or launch.python} "
                                        "cannot run it)",
                                        hint="pip install 'v4agent[local]', or name its interpreter with --python")
            stderr.print(f"starting the local engine (log under {path / '.v4agent' / 'engine'})…")
            handle = run_launch(launch, root, float(config.get("local.startup_timeout")), policy)
    except EngineError as exc:  # whatever stops the engine from starting, the command's answer is "unreachable"
        raise EngineUnreachable(str(exc), hint=exc.hint) from None
    stdout.print(f"engine ready at {handle.base_url} (model {handle.model}); Ctrl-C stops it", markup=False)
    for note in handle.notes:
        stdout.print(note, markup=False, highlight=False)
    if not handle.owned:
        return
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while handle.process is not None and handle.process.alive():
            time.sleep(0.5)
        error("the engine exited; see its log: " + str(handle.log_path))
        raise typer.Exit(ExitCode.FAILED)
    except KeyboardInterrupt:
        stderr.print("stopping the engine…")
    finally:
        handle.close()
