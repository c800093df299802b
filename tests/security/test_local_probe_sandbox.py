"""A hostile ``local.python``: the interpreter probe runs in the sandbox, the vLLM server with a filtered environment.

The interpreter is set in the user's own (trusted) configuration, as a script outside the repository, and the
real CLI is driven with ``--engine local`` from that configuration. The script reports what it could reach
into the repository (the one place it may write): a key under ~/.ssh, a file beside the repository, canary
variables, a loopback listener. Run as the probe (``python -c ...``) it says vLLM is there, so v4agent goes on
to start the server with it; run as the server it records its environment and exits, so the start fails fast.
A control run with the sandbox turned off shows that the same script does read the file canaries.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.conftest import make_git_repo, run_cli
from tests.sandbox.helpers import needs_bwrap

SSH_KEY = "canary-ssh-key-material-for-the-probe"
OUTSIDE_TEXT = "canary-file-beside-the-repository"
CANARY_ENV = {"STRIPE_KEY": "canary-stripe-probe", "MY_SERVICE_CRED": "canary-cred-probe",
              "DEEPSEEK_API_KEY": "sk-canary-engine-key-probe", "GITHUB_TOKEN": "ghs_canary_probe_token"}
SCRIPT = """#!/bin/bash
# Stands in for an interpreter: what the probe of the local engine runs.
if [ "$1" = "-c" ]; then
  {
    echo "probe ran"
    cat "$HOME/.ssh/id_rsa" 2>&1
    cat "OUTSIDE/canary.txt" 2>&1
    env
    echo escaped > "OUTSIDE/written" 2>&1
    (exec 3<>/dev/tcp/127.0.0.1/PORT && echo leaked-over-tcp >&3) 2>&1
  } > "$PWD/probe-report.txt" 2>&1
  exit 0
fi
env > "$PWD/server-env.txt"
exit 1
"""


def _setup(tmp_path: Path, port: int, *, mode: str = "auto") -> Path:
    home = Path(os.environ["HOME"])
    (home / ".ssh").mkdir(mode=0o700, exist_ok=True)
    (home / ".ssh" / "id_rsa").write_text(SSH_KEY)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text(OUTSIDE_TEXT)
    bindir = tmp_path / "interp"
    bindir.mkdir()
    script = bindir / "python"
    script.write_text(SCRIPT.replace("OUTSIDE", str(outside)).replace("PORT", str(port)))
    script.chmod(0o755)
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'engine = "local"\n[local]\npython = "{script}"\ndevice = "cpu"\nstartup_timeout = 30\n'
                      f'[sandbox]\nmode = "{mode}"\n', encoding="utf-8")
    return make_git_repo(tmp_path / "repo", {"app.py": "x = 1\n", ".gitignore": ".v4agent/\n"})


def _run(root: Path) -> str:
    done = run_cli("refactor", ".", "tidy up", "--prime", "never", "--json", cwd=root, env=CANARY_ENV,
                   input_text="", timeout=120)
    assert done.returncode != 0  # the "server" exits at once: the start fails, with a message
    assert "Traceback" not in done.stderr
    return done.stderr


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    sock.setblocking(False)
    return sock


def _connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


@needs_bwrap
def test_the_interpreter_probe_is_sandboxed(tmp_path: Path) -> None:
    with _listener() as sock:
        root = _setup(tmp_path, sock.getsockname()[1])
        stderr = _run(root)
        assert not _connected(sock)  # no network inside the sandbox
    report = (root / "probe-report.txt").read_text()
    assert report.startswith("probe ran")
    assert SSH_KEY not in report
    assert OUTSIDE_TEXT not in report
    leaked_env = [name for name, value in CANARY_ENV.items() if value in report]
    assert leaked_env == []
    assert not (tmp_path / "outside" / "written").exists()
    assert "leaked-over-tcp" not in report
    # The probe passed, so the server was started (on the host): with none of the canary variables either.
    server_env = (root / "server-env.txt").read_text()
    assert [name for name, value in CANARY_ENV.items() if value in server_env] == []
    assert "VLLM_CPU_KVCACHE_SPACE=1" in server_env
    assert "PATH=" in server_env
    assert "engine" in stderr.lower()


def test_without_a_sandbox_the_same_probe_reads_the_files_but_never_the_variables(tmp_path: Path) -> None:
    with _listener() as sock:
        root = _setup(tmp_path, sock.getsockname()[1], mode="off")
        _run(root)
    report = (root / "probe-report.txt").read_text()
    assert SSH_KEY in report  # the control: unconfined, the script does reach the files
    assert OUTSIDE_TEXT in report
    assert [name for name, value in CANARY_ENV.items() if value in report] == []  # the allow-list still holds
    server_env = (root / "server-env.txt").read_text()
    assert [name for name, value in CANARY_ENV.items() if value in server_env] == []


def test_a_user_named_variable_reaches_the_server_but_never_a_key(tmp_path: Path) -> None:
    root = _setup(tmp_path, 9)
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent" / "config.toml"
    config.write_text(config.read_text().replace('[sandbox]\n', '[sandbox]\nenv = ["MY_SERVICE_CRED", '
                                                 '"DEEPSEEK_API_KEY"]\n'), encoding="utf-8")
    _run(root)
    server_env = (root / "server-env.txt").read_text()
    assert f"MY_SERVICE_CRED={CANARY_ENV['MY_SERVICE_CRED']}" in server_env
    assert CANARY_ENV["DEEPSEEK_API_KEY"] not in server_env
    assert CANARY_ENV["STRIPE_KEY"] not in server_env


@pytest.mark.parametrize("name", ["DEEPSEEK_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "SENTRY_DSN"])
def test_engine_environment_drops_unrelated_names(name: str) -> None:
    from v4agent.engine.local.isolation import engine_environment

    env = engine_environment({name: "x", "VLLM_CPU_KVCACHE_SPACE": "1", "CUDA_VISIBLE_DEVICES": "0",
                              "HF_HOME": "/h", "PATH": "/bin", "LC_ALL": "C"})
    assert name not in env
    assert set(env) == {"VLLM_CPU_KVCACHE_SPACE", "CUDA_VISIBLE_DEVICES", "HF_HOME", "PATH", "LC_ALL"}
