"""The hardware a plan is for: GPU memory per device (data in ``v4agent/data/gpus.toml``), GPUs, nodes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from v4agent.core.errors import ExitCode, V4AgentError

GIB = 1 << 30


class HardwareError(V4AgentError, ValueError, exit_code=ExitCode.USAGE):
    """Unknown GPU name, or an impossible count."""


@dataclass(frozen=True)
class GpuModel:
    """A GPU model and the memory each device has."""

    name: str
    memory_gib: float
    note: str = ""


@dataclass(frozen=True)
class Hardware:
    """The GPUs a plan targets: one model, how many per node, how many nodes."""

    gpu: GpuModel
    gpus_per_node: int
    nodes: int = 1

    @property
    def total_gpus(self) -> int:
        """GPUs over all nodes."""
        return self.gpus_per_node * self.nodes

    @property
    def memory_bytes_per_gpu(self) -> int:
        """Memory of one GPU, in bytes."""
        return int(self.gpu.memory_gib * GIB)

    def describe(self) -> str:
        """One line for people, e.g. ``8 x h100 (80 GiB each)``."""
        nodes = f"{self.nodes} nodes x " if self.nodes > 1 else ""
        return f"{nodes}{self.gpus_per_node} x {self.gpu.name} ({self.gpu.memory_gib:g} GiB each)"


def load_gpu_table(override: Path | None = None) -> dict[str, GpuModel]:
    """The shipped table, with entries from ``override`` (same TOML shape) added or replacing."""
    text = resources.files("v4agent").joinpath("data", "gpus.toml").read_text(encoding="utf-8")
    table = _parse(text, "v4agent/data/gpus.toml")
    if override is not None:
        try:
            extra = override.read_text(encoding="utf-8")
        except OSError as exc:
            raise HardwareError(f"cannot read GPU table {override}: {exc.strerror}") from None
        table.update(_parse(extra, str(override)))
    return table


def _parse(text: str, where: str) -> dict[str, GpuModel]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HardwareError(f"{where}: not valid TOML: {exc}") from None
    out: dict[str, GpuModel] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("memory_gib"), int | float):
            raise HardwareError(f"{where}: [{name}] needs a numeric memory_gib")
        memory = float(entry["memory_gib"])
        if memory <= 0:
            raise HardwareError(f"{where}: [{name}] memory_gib must be positive")
        out[name.lower()] = GpuModel(name=name.lower(), memory_gib=memory, note=str(entry.get("note", "")))
    return out


def make_hardware(gpu: str | None, gpu_mem_gib: float | None, gpus: int, nodes: int = 1,
                  *, table: dict[str, GpuModel] | None = None) -> Hardware:
    """Resolve ``--gpu NAME`` or ``--gpu-mem GIB`` (the latter wins) with counts into a Hardware."""
    if gpus < 1 or nodes < 1:
        raise HardwareError("--gpus and --nodes must be at least 1")
    if gpu_mem_gib is not None:
        if gpu_mem_gib <= 0:
            raise HardwareError("--gpu-mem must be positive")
        model = GpuModel(name=gpu.lower() if gpu else "gpu", memory_gib=gpu_mem_gib, note="from --gpu-mem")
        return Hardware(model, gpus, nodes)
    table = table if table is not None else load_gpu_table()
    name = (gpu or "h100").lower()
    if name not in table:
        raise HardwareError(f"unknown GPU {gpu!r}; known: {', '.join(sorted(table))} (or pass --gpu-mem GIB)")
    return Hardware(table[name], gpus, nodes)
