"""The vLLM command lines for a plan, following vLLM's DeepSeek recipes (flags from the dated table in
``v4agent/data/vllm_recipes.toml``). Pure. This is the one builder: ``engine plan``, ``engine serve --dry-run``
and the process ``engine serve`` starts all take their argv from ``build_commands``.

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
from v4agent.engine.local.recipes import load_recipes

Executor = Literal["mp", "ray"]

@dataclass(frozen=True)
class NodeCommand:
    """The command one node runs, its role, and what that node needs first."""

    node_rank: int
    role: str  # "head" | "worker" | "ray-head" | "ray-worker"
    argv: tuple[str, ...]
    needs: str  # what this node must have
    env: tuple[tuple[str, str], ...] = ()  # variables to export first ("$IFACE_NAME": the user sets it)

    @property
    def shell(self) -> str:
        """The command as one line a POSIX shell runs as is."""
        return shlex.join(self.argv)

    @property
    def exports(self) -> str:
        """``export`` lines for ``env`` (values in double quotes, so the shell expands $IFACE_NAME)."""
        return "".join(f'export {name}="{value}"\n' for name, value in self.env)


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
    # How to run vLLM's CLI: "vllm" (the console script on PATH), a path to it, or an interpreter's
    # "python -m vllm.entrypoints.cli.main" (what the script runs) where no script sits beside it.
    launcher: tuple[str, ...] = ("vllm",)


def _base(opts: LaunchOptions) -> list[str]:
    return [*opts.launcher, "serve", opts.model_ref]


def merge_flags(*groups: Sequence[str]) -> list[str]:
    """Concatenate flag groups, a later ``--flag`` replacing an earlier one in place (the recipes' last-wins
    dedupe), so a recipe row or the user's --vllm-arg overrides the planner's value instead of repeating it."""
    items: list[tuple[str, list[str]]] = []
    for group in groups:
        tokens = list(group)
        i = 0
        while i < len(tokens):
            token = tokens[i]
            values: list[str] = []
            while i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                values.append(tokens[i + 1])
                i += 1
            i += 1
            name = token.split("=", 1)[0]
            if token.startswith("--"):
                for index, (existing, _) in enumerate(items):
                    if existing == name:
                        items[index] = (name, [token, *values])
                        break
                else:
                    items.append((name, [token, *values]))
            else:
                items.append((token, [token, *values]))
    return [token for _, tokens in items for token in tokens]


def _strategy(plan: Plan) -> str:
    par = plan.parallelism
    if par.expert and par.data > 1:
        return "dep"
    return "tep" if par.expert else "tp"


def _tuning(plan: Plan) -> list[str]:
    """The recipe rows for this family, GPU generation and strategy, minus the flags the planner sets itself
    from the request (already filled with the recipe's values where the user left them open)."""
    planned = {"--max-model-len", "--gpu-memory-utilization", "--max-num-seqs"}
    rows = load_recipes().tuning_args(plan.family, plan.generation, _strategy(plan))
    out: list[str] = []
    for args in rows:
        out = merge_flags(out, [a for i, a in enumerate(args) if a not in planned and
                                not (i and args[i - 1] in planned)])
    return out


def _common(plan: Plan, opts: LaunchOptions, *, with_api: bool = True) -> list[str]:
    argv: list[str] = []
    if with_api:
        argv += ["--host", opts.host, "--port", str(opts.port)]
        if opts.served_name:
            argv += ["--served-model-name", opts.served_name]
    stored = plan.runtime.kv_cache_dtype if plan.runtime else ("fp8" if plan.kv.kv_dtype == "fp8" else "auto")
    if stored in ("fp8", "fp8_ds_mla"):  # vLLM's alias for fp8_ds_mla on the V4 backends, as the recipes spell it
        argv += ["--kv-cache-dtype", "fp8"]
    elif stored == "bfloat16":
        argv += ["--kv-cache-dtype", "bfloat16"]
    argv += ["--block-size", str(plan.block_size)]
    argv += ["--max-model-len", str(plan.target_context)]
    if "max_num_batched_tokens" in plan.pages:  # V4: the capacity above assumes exactly this many in flight
        argv += ["--max-num-batched-tokens", str(plan.pages["max_num_batched_tokens"])]
    seqs = max(plan.request.concurrency, plan.request.max_num_seqs or 0)
    if seqs > 1:
        argv += ["--max-num-seqs", str(seqs)]
    argv += ["--gpu-memory-utilization", f"{plan.request.utilization:g}"]
    argv += ["--enable-prefix-caching", "--enable-prompt-tokens-details"]
    if plan.request.mtp:
        spec_config = load_recipes().speculative_config(plan.family, plan.draft, plan.generation)
        if spec_config is None:
            raise ValueError(f"{plan.model} has no draft head for speculative decoding")
        argv += ["--speculative-config", spec_config]
    if plan.runtime and plan.runtime.indexer_dtype == "mxfp4" and plan.attention == "hybrid":
        argv += ["--attention-config.indexer_kv_dtype", "mxfp4"]
    return argv


def _recipe(plan: Plan) -> list[str]:
    family = load_recipes().families.get(plan.family)
    if family is None:
        return ["--trust-remote-code"]
    return [str(a) for key in ("base", "tools", "reasoning") for a in family.get(key, [])]


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
    tuning = _tuning(plan)
    if hw.nodes == 1:
        dp = ["--data-parallel-size", str(par.data)] if par.data > 1 else []
        argv = merge_flags([*base, *recipe, *parallel, *dp], _common(plan, opts), tuning, extra)
        return [NodeCommand(0, "head", tuple(argv), head_needs)]
    if opts.executor == "ray":
        return _ray_commands(plan, opts, base, recipe, parallel, extra, needs)
    commands: list[NodeCommand] = []
    multinode = load_recipes().multinode
    if par.data > 1:  # DP + EP across nodes, the recipe's multi_node_dep: hybrid load balancing, one API per node
        row = multinode.get("dep", {})
        env = tuple((str(k), str(v)) for k, v in row.get("env", {}).items())
        local = hw.gpus_per_node
        for rank in range(hw.nodes):
            dp = ["--data-parallel-size", str(par.data), "--data-parallel-size-local", str(local),
                  "--data-parallel-address", opts.master_addr, "--data-parallel-rpc-port", str(opts.dp_rpc_port),
                  *[str(a) for a in row.get("args", [])]]
            if rank:
                dp += ["--data-parallel-start-rank", str(rank * local)]
            argv = merge_flags([*base, *recipe, *parallel, *dp], _common(plan, opts), tuning, extra)
            commands.append(NodeCommand(rank, "head" if rank == 0 else "worker", tuple(argv),
                                        head_needs if rank == 0 else needs, env))
        return commands
    row = multinode.get("tep", {})
    env = tuple((str(k), str(v)) for k, v in row.get("env", {}).items())
    for rank in range(hw.nodes):  # TP (+PP) + EP across nodes with vLLM's multi-node launcher
        multi = ["--nnodes", str(hw.nodes), "--node-rank", str(rank), "--master-addr", opts.master_addr,
                 "--master-port", str(opts.master_port), *[str(a) for a in row.get("args", [])]]
        if rank:
            multi.append("--headless")
        argv = merge_flags([*base, *recipe, *parallel, *multi], _common(plan, opts, with_api=rank == 0), tuning,
                           extra)
        commands.append(NodeCommand(rank, "head" if rank == 0 else "worker", tuple(argv),
                                    head_needs if rank == 0 else needs, env))
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
    argv = merge_flags([*base, *recipe, *parallel, *dp, "--distributed-executor-backend", "ray"],
                       _common(plan, opts), _tuning(plan), extra)
    commands.append(NodeCommand(0, "head", tuple(argv), "all nodes joined to the Ray cluster (run it on the Ray head)"))
    return commands


def render_commands(commands: Sequence[NodeCommand]) -> str:
    """The commands as text, one block per node (golden-file format)."""
    blocks = []
    for command in commands:
        header = f"# node {command.node_rank} ({command.role}): needs {command.needs}"
        blocks.append(header + "\n" + command.exports + command.shell)
    return "\n\n".join(blocks) + "\n"
