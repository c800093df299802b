"""Every configuration key, declared once: its type, default, help, allowed values and who may set it.

``v4agent.core.config`` resolves these against the files, the environment and the flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PROJECT_SAFE_KEYS", "SETTINGS", "SETTINGS_BY_KEY", "Setting"]


@dataclass(frozen=True)
class Setting:
    """One configuration key: type, default, help text, allowed values, and other variables that set it."""

    key: str
    kind: type  # str, int, float, bool or list
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    secret: bool = False
    nullable: bool = False  # accepts "none" (and TOML has no null, so the string) as None
    extra_env: tuple[str, ...] = ()  # other environment variables that set it, e.g. DEEPSEEK_API_KEY

    @property
    def env_var(self) -> str:
        """The environment variable that sets this key, e.g. ``V4AGENT_PACK_BUDGET``."""
        return "V4AGENT_" + self.key.replace(".", "_").upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("engine", str, "deepseek", "Engine preset: deepseek, vllm, sglang, nim, openai-compatible, local."),
    Setting("model", str, "", "Model name; empty means the preset's default model."),
    Setting("base_url", str, "", "Base URL of an OpenAI-compatible endpoint; empty means the preset's."),
    Setting("api_key_env", str, "", "Name of the environment variable holding the key; empty means the preset's."),
    Setting("api_key", str, "", "API key (normally taken from DEEPSEEK_API_KEY).", secret=True,
            extra_env=("DEEPSEEK_API_KEY",)),
    Setting("think", str, "high", "Thinking effort.", choices=("off", "low", "high", "max")),
    # A cap by default, so a first run cannot spend much by surprise (refactor and chat; review has no cap).
    Setting("max_cost", float, 1.0, "Stop before a call would push the session past this many USD; none = no cap.",
            nullable=True),
    Setting("max_turns", int, 60, "Stop after this many model calls in one task."),
    Setting("approve", str, "ask", "Approval policy for shell commands and edits.", choices=("ask", "edits", "yes")),
    Setting("test_cmd", str, "", "Test command; empty means detect it from the project."),
    Setting("prices_file", str, "", "A TOML price table that overrides the shipped one."),
    Setting("gpu_hour_usd", float, 0.0, "Price of one GPU hour, to cost local-engine sessions."),
    Setting("pack.budget", int, None, "Token budget of the packed repository; none = the model window less a reserve.",
            nullable=True),
    Setting("pack.reserve", int, 131_072, "Tokens kept free for the conversation when the budget is the default."),
    Setting("pack.tokenizer", str, "deepseek-v4", "Tokenizer used for counting.",
            choices=("deepseek-v4", "o200k", "cl100k")),
    Setting("pack.max_file_bytes", int, 1_000_000, "Files larger than this are skipped."),
    Setting("pack.include", list, [], "Globs forced into the pack even if classed generated/vendored."),
    Setting("pack.exclude", list, [], "Globs left out of the pack."),
    Setting("pack.secrets", str, "redact", "What to do with a file that has a flagged line.",
            choices=("redact", "skip")),
    Setting("local.model", str, "deepseek-v4-flash",
            "Local engine model: deepseek-v4-flash, deepseek-v4-pro, or a model directory / config.json path."),
    Setting("local.weights", str, "", "What vLLM loads: a Hugging Face repo id or a directory; empty = the model's repo."),
    Setting("local.python", str, "", "Python interpreter that has vLLM installed; empty = the one running v4agent."),
    Setting("local.device", str, "gpu", "gpu, or cpu for vLLM's CPU build (tests, small models).",
            choices=("gpu", "cpu")),
    Setting("local.gpu", str, "", "GPU model for planning (h100, h200, b200...); empty = detect with nvidia-smi."),
    Setting("local.gpus", int, 0, "GPUs to use; 0 = all that nvidia-smi reports."),
    Setting("local.context", int, None, "Context length to serve; none = the longest the plan fits.", nullable=True),
    Setting("local.max_num_batched_tokens", int, None, "Tokens per vLLM scheduler step; none = vLLM's default "
            "for the GPU (lowered for V4 when that is what lets the context fit).", nullable=True),
    Setting("local.port", int, 0, "Port for the local engine; 0 = a free port."),
    Setting("local.attach", str, "", "URL of an engine that is already running: use it instead of starting one."),
    Setting("local.startup_timeout", int, 1800, "Seconds to wait for the engine to become healthy."),
    Setting("local.cpu_kv_gib", float, 1.0, "KV cache size in GiB for the CPU build (VLLM_CPU_KVCACHE_SPACE)."),
    Setting("local.vllm_args", list, [], "Extra vLLM flags, appended to the planned command."),
    Setting("local.max_tokens", int, 8192, "Output limit per call on the local engine (its window is what the plan fits)."),
    # Per-call deadlines in seconds (0 = none), as in v4agent.engine.deadline.Deadlines; "timeout.*" because
    # "engine" is already a key of its own.
    Setting("timeout.connect", float, 10.0, "Seconds to connect to the engine."),
    Setting("timeout.first_byte", float, 300.0, "Seconds the engine may stay silent (no byte at all) before "
            "the call is given up and retried."),
    Setting("timeout.first_token", float, 900.0, "Seconds to wait for the first token of a reply; the "
            "keep-alives of a queued request do not count."),
    Setting("timeout.total", float, 3600.0, "Seconds one call may take in all, generation included."),
    Setting("subagents.enabled", bool, True, "Offer the model the task tool: read-only subagents forked from the "
            "cached conversation (decided when a session starts; its tool list never changes)."),
    Setting("subagents.max_turns", int, 12, "Model calls one subagent may make."),
    Setting("subagents.max_cost", float, 0.5, "USD one subagent may spend (none = only the session's max_cost).",
            nullable=True),
    Setting("subagents.parallel", int, 4, "Subagents of one reply that run at once."),
    Setting("sandbox.mode", str, "auto", "Run commands in a bubblewrap sandbox: auto (when it works here), or off "
            "(then every command, tests included, needs approval).", choices=("auto", "off")),
    Setting("sandbox.network", bool, False, "Let sandboxed commands reach the network."),
    Setting("sandbox.env", list, [], "Environment variables passed to commands on top of the allow-list "
            "(never the engine's key or GITHUB_TOKEN)."),
    Setting("sandbox.hide", list, [], "Paths hidden from commands, on top of the credential stores (~/.ssh, ...); "
            "a relative path is under the home."),
    Setting("sandbox.bwrap", str, "", "Path of bubblewrap; empty = bwrap on PATH."),
)

SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}

# What a repository's own file may set without the user's trust: what is packed and how the model thinks.
# Endpoints, engines, key variables, approvals, commands, interpreters, prices, spending limits and sandbox
# settings are not here; a key added later stays untrusted until it is listed.
PROJECT_SAFE_KEYS: frozenset[str] = frozenset({
    "model", "think", "max_turns",
    "pack.budget", "pack.reserve", "pack.tokenizer", "pack.max_file_bytes", "pack.include", "pack.exclude",
    "pack.secrets",
})
