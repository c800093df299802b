"""The records `engine plan` and `engine serve` are called with, beside the planner's ``PlanRequest``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PlanTarget:
    """The model and the GPUs to plan it for, as the command line names them."""

    model: str = "deepseek-v4-flash"  # a known name or a config.json path
    gpu: str | None = "h100"  # a GPU model of the GPU table; None (serve): the GPUs detected, else h100
    gpu_mem: float | None = None  # GiB per GPU, instead of the table's figure
    gpus: int | None = 8  # per node; None (serve): as many as detected, else 8
    nodes: int = 1
    gpus_file: Path | None = None  # more GPU models (same shape as gpus.toml)


@dataclass(frozen=True)
class LaunchFlags:
    """How the vLLM command runs: executor, head node address, port, weights and extra vLLM flags."""

    executor: str = "mp"  # mp or ray
    master_addr: str = "HEAD_NODE_IP"
    port: int = 0  # 0: vLLM's 8000 (plan and serve alike)
    weights: str | None = None  # what vLLM loads; None = the model's Hugging Face repo
    vllm_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServeOptions:
    """What `engine serve` needs beyond the plan: interpreter, device, attaching, waiting, dry run, log place."""

    python: str | None = None
    device: str | None = None  # gpu, or cpu for vLLM's CPU build
    attach: str | None = None  # use the engine already running at this URL
    timeout: int | None = None  # seconds to wait for /health
    dry_run: bool = False  # print the plan and the commands; start nothing
    repo: Path = Path(".")  # whose .v4agent/ holds the engine log
