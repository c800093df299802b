"""The vLLM command lines for a plan, following DeepSeek V4's serving recipe. Pure.

Single node: one ``vllm serve`` with TP or DP plus expert parallel. Several nodes: vLLM's own multi-node
runtime, as the V4 recipes use it: TP (+PP) + EP across nodes with ``--nnodes/--node-rank/--master-addr``
(``--headless`` on workers), or DP + EP across nodes with ``--data-parallel-size-local/-address/-start-rank``;
``executor="ray"`` uses vLLM's Ray backend instead, for clusters that already run Ray.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from v4agent.engine.local.planner import Plan

Executor = Literal["mp", "ray"]

# DeepSeek V4's recipe: tokenizer, tool-call and reasoning parsers, FP8 KV in 256-token blocks.
V4_RECIPE_FLAGS: tuple[str, ...] = (
    "--trust-remote-code",
    "--tokenizer-mode", "deepseek_v4",
    "--tool-call-parser", "deepseek_v4",
    "--enable-auto-tool-choice",
    "--reasoning-parser", "deepseek_v4",
)


@dataclass(frozen=True)
class NodeCommand:
    """The command one node runs, its role, and what that node needs first."""

    node_rank: int
    role: str  # "head" | "worker" | "ray-head" | "ray-worker"
    argv: tuple[str, ...]
    needs: str  # what this node must have

    @property
    def shell(self) -> str:
        """The command as one line a POSIX shell runs as is."""
        return shlex.join(self.argv)


@dataclass(frozen=True)
class LaunchOptions:
    """Where vLLM loads the model from, how it listens, and the extra flags to pass through."""

    model_ref: str  # what vLLM loads: a Hugging Face repo id or a local directory
    host: str = "127.0.0.1"
    port: int = 8000
    served_name: str | None = None
    master_addr: str = "HEAD_NODE_IP"  # placeholder the user replaces for multi-node plans
    master_port: int = 29500
    dp_rpc_port: int = 13345
    executor: Executor = "mp"
    extra: tuple[str, ...] = ()
    python: str | None = None  # run "python -m vllm.entrypoints.openai.api_server" with this interpreter


def _base(opts: LaunchOptions) -> list[str]:
    if opts.python:
        return [opts.python, "-m", "vllm.entrypoints.openai.api_server", "--model", opts.model_ref]
    return ["vllm", "serve", opts.model_ref]


def _common(plan: Plan, opts: LaunchOptions, *, with_api: bool = True) -> list[str]:
    argv: list[str] = []
    if with_api:
        argv += ["--host", opts.host, "--port", str(opts.port)]
        if opts.served_name:
            argv += ["--served-model-name", opts.served_name]
    if plan.kv.kv_dtype == "fp8":
        argv += ["--kv-cache-dtype", "fp8"]
    argv += ["--block-size", str(plan.block_size)]
    argv += ["--max-model-len", str(plan.target_context)]
    if "max_num_batched_tokens" in plan.pages:  # V4: the capacity above assumes exactly this many in flight
        argv += ["--max-num-batched-tokens", str(plan.pages["max_num_batched_tokens"])]
    if plan.request.concurrency > 1:
        argv += ["--max-num-seqs", str(plan.request.concurrency)]
    argv += ["--gpu-memory-utilization", f"{plan.request.gpu_memory_utilization:g}"]
    argv += ["--enable-prefix-caching", "--enable-prompt-tokens-details"]
    if plan.request.mtp:
        argv += ["--speculative-config", '{"method": "mtp", "num_speculative_tokens": 1}']
    return argv


def _recipe(plan: Plan) -> list[str]:
    return list(V4_RECIPE_FLAGS) if plan.attention == "hybrid" else ["--trust-remote-code"]


def build_commands(plan: Plan, opts: LaunchOptions) -> list[NodeCommand]:
    """One command per node (the head first). Raises ValueError for a plan that does not fit."""
    if not plan.fits:
        raise ValueError("the plan does not fit: " + "; ".join(plan.problems))
    par = plan.parallelism
    hw = plan.hardware
    parallel: list[str] = []
    if par.tensor > 1:
        parallel += ["--tensor-parallel-size", str(par.tensor)]
    if par.pipeline > 1:
        parallel += ["--pipeline-parallel-size", str(par.pipeline)]
    if par.expert:
        parallel += ["--enable-expert-parallel"]
    needs = (f"{hw.gpus_per_node} x {hw.gpu.name} ({hw.gpu.memory_gib:g} GiB each), vLLM with DeepSeek V4 support, "
             f"the weights of {opts.model_ref} at the same path, and a fast interconnect to the other nodes")
    head_needs = needs if hw.nodes > 1 else f"{hw.gpus_per_node} x {hw.gpu.name}, vLLM with DeepSeek V4 support"
    base = _base(opts)
    recipe = _recipe(plan)
    extra = list(opts.extra)
    if hw.nodes == 1:
        dp = ["--data-parallel-size", str(par.data)] if par.data > 1 else []
        argv = [*base, *recipe, *parallel, *dp, *_common(plan, opts), *extra]
        return [NodeCommand(0, "head", tuple(argv), head_needs)]
    if opts.executor == "ray":
        return _ray_commands(plan, opts, base, recipe, parallel, extra, needs)
    commands: list[NodeCommand] = []
    if par.data > 1:  # DP + EP across nodes: every node runs its local DP ranks
        local = hw.gpus_per_node
        for rank in range(hw.nodes):
            dp = ["--data-parallel-size", str(par.data), "--data-parallel-size-local", str(local),
                  "--data-parallel-address", opts.master_addr, "--data-parallel-rpc-port", str(opts.dp_rpc_port)]
            if rank:
                dp += ["--data-parallel-start-rank", str(rank * local), "--headless"]
            argv = [*base, *recipe, *parallel, *dp, *_common(plan, opts, with_api=rank == 0), *extra]
            commands.append(NodeCommand(rank, "head" if rank == 0 else "worker", tuple(argv),
                                        head_needs if rank == 0 else needs))
        return commands
    for rank in range(hw.nodes):  # TP (+PP) + EP across nodes with vLLM's multi-node launcher
        multi = ["--nnodes", str(hw.nodes), "--node-rank", str(rank), "--master-addr", opts.master_addr,
                 "--master-port", str(opts.master_port)]
        if rank:
            multi.append("--headless")
        argv = [*base, *recipe, *parallel, *multi, *_common(plan, opts, with_api=rank == 0), *extra]
        commands.append(NodeCommand(rank, "head" if rank == 0 else "worker", tuple(argv),
                                    head_needs if rank == 0 else needs))
    return commands


def _ray_commands(plan: Plan, opts: LaunchOptions, base: Sequence[str], recipe: Sequence[str],
                  parallel: Sequence[str], extra: Sequence[str], needs: str) -> list[NodeCommand]:
    par = plan.parallelism
    commands = [NodeCommand(0, "ray-head", ("ray", "start", "--head", f"--port={opts.master_port}"),
                            "Ray installed in the same environment as vLLM; " + needs)]
    for rank in range(1, plan.hardware.nodes):
        commands.append(NodeCommand(rank, "ray-worker",
                                    ("ray", "start", f"--address={opts.master_addr}:{opts.master_port}"), needs))
    dp = ["--data-parallel-size", str(par.data), "--data-parallel-backend", "ray"] if par.data > 1 else []
    argv = [*base, *recipe, *parallel, *dp, "--distributed-executor-backend", "ray", *_common(plan, opts), *extra]
    commands.append(NodeCommand(0, "head", tuple(argv), "all nodes joined to the Ray cluster (run it on the Ray head)"))
    return commands


def render_commands(commands: Sequence[NodeCommand]) -> str:
    """The commands as text, one block per node (golden-file format)."""
    blocks = []
    for command in commands:
        header = f"# node {command.node_rank} ({command.role}): needs {command.needs}"
        blocks.append(header + "\n" + command.shell)
    return "\n\n".join(blocks) + "\n"
