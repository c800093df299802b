"""The README keeps its promises: its first block's first command, run in a fresh venv with no key, packs,
prints the pre-flight cost, says what to set and exits 6; the cost cap it states is the default; it stays
short, its links resolve, and its exit-code table is the one in v4agent.core.errors."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from v4agent.core.config import SETTINGS
from v4agent.core.errors import ExitCode

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _first_block() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.DOTALL)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_is_short_and_starts_with_the_two_set_up_commands() -> None:
    assert len(README.splitlines()) <= 150
    lines = _first_block()
    assert len(lines) == 2
    steps = [s.strip() for s in lines[0].split("&&")]
    assert steps[0].startswith("sudo apt-get install -y bubblewrap")
    assert steps[1] == "python3 -m venv .venv"
    # uv from PyPI, installed by the same command, then v4agent with it (bench/bench_first_hour.py: the plain
    # `pip install -e .` takes several times longer on a fresh machine)
    assert steps[2] == ".venv/bin/pip install -q uv"
    assert steps[3] == ".venv/bin/uv pip install -p .venv -e ."
    assert steps[4].startswith(".venv/bin/v4agent refactor . ")
    assert lines[1] == "bash tests/run.sh"


def test_the_stated_cost_cap_is_the_default() -> None:
    default = next(s.default for s in SETTINGS if s.key == "max_cost")
    assert f"**${default:.2f}**" in README
    assert "--max-cost none" in README


def test_every_docs_link_resolves() -> None:
    links = re.findall(r"\]\((docs/[^)]+)\)", README)
    assert len(links) >= 8
    for link in links:
        assert (REPO_ROOT / link).is_file(), link


def test_the_exit_code_table_is_the_enum() -> None:
    rows = re.findall(r"^\| (\d+) \| ", README, re.MULTILINE)
    assert [int(r) for r in rows] == [int(c) for c in ExitCode]


def _copy_checkout(dest: Path) -> None:
    """The files a clone has (tracked, and new ones not ignored), links kept as links."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source, target = REPO_ROOT / rel, dest / rel
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        elif source.is_file():
            shutil.copy2(source, target)


@pytest.mark.slow
def test_the_first_command_in_a_fresh_venv_without_a_key(tmp_path: Path) -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (the README's sudo step)")
    clone = tmp_path / "v4agent"
    _copy_checkout(clone)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=clone, check=True)
    subprocess.run(["git", "add", "-A"], cwd=clone, check=True)
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=T", "-c", "commit.gpgsign=false",
                    "commit", "-qm", "files"], cwd=clone, check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DEEPSEEK_API_KEY")}
    # `python3 -m venv .venv`, offline: the dependencies come from this interpreter's site-packages via a .pth
    subprocess.run([sys.executable, "-m", "venv", ".venv"], cwd=clone, check=True, env=env)
    purelib = subprocess.run([str(clone / ".venv/bin/python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "deps-of-the-test.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    steps = [s.strip() for s in _first_block()[0].split("&&")]
    # `.venv/bin/pip install -q uv`: the uv that the test extra installed beside this interpreter, linked in
    uv = Path(sys.executable).parent / "uv"
    if not uv.is_file():
        pytest.skip("uv is not installed beside the test interpreter (the test extra installs it)")
    (clone / ".venv/bin/uv").symlink_to(uv)
    # the README's uv step as written, dependencies aside (the build backend is fetched as in test_install.py)
    subprocess.run([*shlex.split(steps[3]), "-q", "--no-deps"], cwd=clone, check=True, env=env)
    command = steps[4]
    done = subprocess.run(shlex.split(command), cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert "Traceback" not in done.stderr
    assert done.returncode == 6, done.stderr[-2000:]  # as the README says
    assert re.search(r"Packed [\d,]+ files into [\d,]+ tokens\.", done.stdout)  # it still packs
    assert "pre-flight estimate for this pack" in done.stdout  # the cost of the pack for each model
    assert "hint: export DEEPSEEK_API_KEY=" in done.stderr  # what to set
    where = subprocess.run([str(clone / ".venv/bin/python"), "-I", "-c", "import v4agent; print(v4agent.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path).stdout
    assert where.startswith(str(clone))  # the clone's own editable install ran, not this checkout
