"""What the local engine's processes get: the interpreter probe runs sandboxed, the server a filtered environment.

``local.python`` names an interpreter that v4agent runs before anything is started, to see whether vLLM imports
there. Whatever that path is (a wrapper script, a venv someone else prepared), the probe runs in the same
bubblewrap sandbox as every other command (``v4agent.sandbox``): no network, writes only in the repository and a
private temp dir, credential stores hidden, the environment by allow-list. Where no sandbox works here it still
gets the allow-listed environment (and the caller is told it ran unconfined).

The vLLM server itself cannot run in that sandbox (it needs the GPUs' device files, shared memory, its own
caches and downloads), so it runs on the host, but with an environment built by allow-list too: what vLLM,
PyTorch, CUDA/NCCL and the Hugging Face hub read, never the engine's API keys or GitHub's tokens, nor any other
variable of the user's shell (a ``STRIPE_KEY`` has no business in an inference server).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from v4agent.sandbox import SandboxPolicy, launch
from v4agent.sandbox.environment import ALLOWED_ENV, ALLOWED_PREFIXES
from v4agent.sandbox.policy import ALWAYS_NEVER_ENV

__all__ = ["ENGINE_ENV", "ENGINE_ENV_PREFIXES", "ProbeResult", "engine_environment", "probe_interpreter"]

# Read by the server and its libraries: where things are, which devices, how many threads. HF_TOKEN is the one
# credential here: vLLM needs it to download gated weights, and it is the hub's own key, not someone else's.
ENGINE_ENV = (*ALLOWED_ENV, "TMPDIR", "LD_LIBRARY_PATH", "PYTHONPATH", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR",
              "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "MASTER_ADDR", "MASTER_PORT", "TP_SOCKET_IFNAME",
              # downloads of weights go through the user's proxy and trust store
              "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy",
              "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
ENGINE_ENV_PREFIXES = (*ALLOWED_PREFIXES, "VLLM_", "CUDA_", "NCCL_", "NVIDIA_", "HF_HUB_", "HF_HOME",
                       "HF_DATASETS_", "TRANSFORMERS_", "TORCH", "TRITON_", "OMP_", "MKL_", "KMP_", "GLOO_",
                       "UCX_", "RAY_")


def engine_environment(environ: Mapping[str, str], *, extra: Iterable[str] = (),
                       never: Iterable[str] = ()) -> dict[str, str]:
    """The allow-listed part of ``environ`` for the vLLM server, plus the names the user added (``extra``);
    the engine keys and GitHub tokens (and ``never``) are dropped even when listed."""
    added = set(extra)
    dropped = {*ALWAYS_NEVER_ENV, *never}
    return {name: value for name, value in environ.items()
            if (name in ENGINE_ENV or name.startswith(ENGINE_ENV_PREFIXES) or name in added) and name not in dropped}


@dataclass(frozen=True)
class ProbeResult:
    """The probe's exit status (None: it could not run or timed out) and whether it ran confined."""

    returncode: int | None
    contained: bool
    note: str = ""


def _probe_policy(policy: SandboxPolicy, python: str) -> SandboxPolicy:
    """``policy`` for the probe: never any network, and the interpreter's directory visible (read-only) even
    where it sits under a scratch directory such as /tmp."""
    path = Path(python)
    seen = [path.parent, Path(os.path.realpath(path)).parent] if path.is_absolute() else []
    return dataclasses.replace(policy, network=False, readable=tuple(dict.fromkeys((*policy.readable, *seen))))


def probe_interpreter(python: str, code: str, *, policy: SandboxPolicy, cwd: Path,
                      timeout: float = 60.0) -> ProbeResult:
    """Run ``python -c code`` under ``policy`` (its sandbox, or at least its environment); the exit status."""
    argv = [python, "-c", code]
    with launch(_probe_policy(policy, python), argv, cwd=cwd) as started:
        try:
            done = subprocess.run(list(started.argv), env=dict(started.env), cwd=str(cwd), pass_fds=started.pass_fds,
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                                  start_new_session=True)
        except (OSError, subprocess.TimeoutExpired):
            return ProbeResult(None, started.contained, started.note)
    return ProbeResult(done.returncode, started.contained, started.note)
