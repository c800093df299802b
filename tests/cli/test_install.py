"""A regular (non-editable) install into a fresh venv imports the mapped packages and finds the prompts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_regular_install_in_fresh_venv(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir),
         str(REPO_ROOT)],
        check=True, cwd=tmp_path,
    )
    wheel = next(wheel_dir.glob("v4agent-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert not any(n.startswith(("engine/", "tools/", "prompts/")) for n in names), "claims a top-level name"
    assert any(n.startswith("v4agent/engine/") for n in names)
    assert any(n.startswith("v4agent/tools/") for n in names)
    assert any(n.startswith("v4agent/prompts/") and not n.endswith(".py") for n in names)

    venv = tmp_path / "venv"
    # Reuse this interpreter's site-packages for dependencies; install only v4agent itself, for real.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)], check=True)
    probe = (
        "import v4agent, v4agent.engine, v4agent.tools, importlib.resources as r, pathlib;"
        "assert 'site-packages' in v4agent.__file__, v4agent.__file__;"
        "files=[p.name for p in r.files('v4agent.prompts').iterdir() if not p.name.endswith('.py')];"
        "assert files, 'no prompts'; print('ok', sorted(files)[0])"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # a checkout on the path would shadow it
    out = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")
