"""`engine serve` starts exactly the argv `engine serve --dry-run` prints (one builder for both).

A stand-in `vllm` script (beside a stand-in interpreter, where the local extra installs the real one) records
the argv it was started with and answers GET /health, so the real CLI runs its real start-up path: plan, build,
spawn in its own process group, wait for /health, stop on SIGTERM."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, run_cli
from v4agent.engine.local.launcher import free_port

_FAKE_VLLM = '''#!{python}
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
with open(os.path.join(os.path.dirname(sys.argv[0]), "argv.json"), "w") as out:  # the server's env is filtered
    json.dump(sys.argv, out)
port = int(sys.argv[sys.argv.index("--port") + 1])
class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", port), Health).serve_forever()
'''


@pytest.fixture
def fake_python(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.symlink_to(sys.executable)
    vllm = bin_dir / "vllm"
    vllm.write_text(_FAKE_VLLM.format(python=sys.executable), encoding="utf-8")
    vllm.chmod(0o755)
    return python


def _dry_run_argv(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("# node 0 (head)"))
    return shlex.split(lines[head + 1])


@pytest.mark.parametrize("flags", [
    ["--model", "deepseek-v4-flash", "--gpu", "h200", "--gpus", "8", "--mode", "tp", "--concurrency", "4",
     "--kv-dtype", "bf16", "--mtp", "--vllm-arg=--max-num-seqs", "--vllm-arg=64"],
    ["--model", "deepseek-v4-flash-0731", "--gpu", "b200", "--gpus", "4", "--mtp", "--context", "393216"],
])
def test_serve_starts_exactly_what_the_dry_run_prints(fake_python: Path, tmp_path: Path, flags: list[str]) -> None:
    port = free_port()
    common = [*flags, "--python", str(fake_python), "--port", str(port), "--repo", str(tmp_path)]
    dry = run_cli("engine", "serve", "--dry-run", *common)
    assert dry.returncode == 0, dry.stderr
    printed = _dry_run_argv(dry.stdout)
    assert printed[:2] == [str(fake_python.parent / "vllm"), "serve"]

    record = fake_python.parent / "argv.json"
    env = dict(os.environ, COLUMNS="160")
    cli = subprocess.Popen([sys.executable, "-m", "v4agent", "engine", "serve", *common], cwd=REPO_ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not record.exists() and cli.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert record.exists(), cli.stderr.read() if cli.poll() is not None else "no start within 60 s"
        time.sleep(1.0)  # let it see /health
    finally:
        cli.send_signal(signal.SIGTERM)
        out, err = cli.communicate(timeout=60)
    started = json.loads(record.read_text())
    assert started == printed
    assert "engine ready" in out, err


def test_serve_refuses_a_multi_node_start_and_says_what_to_do(tmp_path: Path) -> None:
    result = run_cli("engine", "serve", "--model", "deepseek-v4-pro", "--gpu", "h200", "--nodes", "2",
                     "--repo", str(tmp_path))
    assert result.returncode == 2
    assert "--dry-run" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_dry_run_of_an_unsupported_gpu_exits_1_with_the_reason(tmp_path: Path) -> None:
    result = run_cli("engine", "serve", "--dry-run", "--model", "deepseek-v4-flash", "--gpu", "a100", "--gpus", "8",
                     "--repo", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "vLLM cannot run" in result.stdout
    assert "Traceback" not in result.stderr


def test_detected_gpus_are_matched_to_the_table_and_counted() -> None:
    from v4agent.engine.local.runtime import hardware_for

    eight = [("NVIDIA H200", 139.8)] * 8
    hw = hardware_for(None, None, None, 1, eight)
    assert (hw.gpu.name, hw.gpus_per_node, hw.gpu.memory_gib) == ("h200", 8, 139.8)
    assert hardware_for(None, None, 4, 1, eight).gpus_per_node == 4  # --gpus without --gpu is honoured
    assert hardware_for(None, None, None, 1, [("NVIDIA H100 NVL", 93.0)]).gpu.name == "h100-nvl"
    named = hardware_for("b200", None, None, 1, eight)  # a named GPU plans from the table, as the dry run does
    assert (named.gpu.name, named.gpus_per_node) == ("b200", 8)
    assert hardware_for(None, None, None, 1, []).gpu.name == "h100"


def test_the_launcher_is_the_vllm_script_beside_the_interpreter(fake_python: Path, tmp_path: Path) -> None:
    from v4agent.engine.local.runtime import launcher_for

    assert launcher_for(str(fake_python)) == (str(fake_python.parent / "vllm"),)
    lone = tmp_path / "lone" / "python"
    lone.parent.mkdir()
    assert launcher_for(str(lone)) == (str(lone), "-m", "vllm.entrypoints.cli.main")
