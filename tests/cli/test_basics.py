from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT, run_cli
from v4agent import __version__
from v4agent.core.state import state_dir


def test_version_and_help() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"v4agent {__version__}"
    result = run_cli("--help")
    assert result.returncode == 0
    assert "config" in result.stdout


def test_cli_start_up_imports_nothing_heavy() -> None:
    """`v4agent --help` must start fast: the local engine, the SDK, tree-sitter, the chat UI, the planner, the
    accounting and rich's tables load when a command that needs them runs (every command pays for this import)."""
    heavy = ("{'torch', 'vllm', 'openai', 'tree_sitter', 'prompt_toolkit', 'tokenizers', 'detect_secrets', 'git', "
             "'numpy', 'httpx', 'rich.table', 'v4agent.engine.local.planner', 'v4agent.engine.local.modelspec', "
             "'v4agent.accounting.ledger', 'v4agent.agent.sessions.store', 'v4agent.engine.presets'}")
    code = f"import sys, v4agent.cli.app; bad = {heavy} & set(sys.modules); print(sorted(bad))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pack_command_imports_no_pydantic(tmp_path: Path) -> None:
    """A whole `v4agent pack` run leaves pydantic unimported: typer 0.29 validates every parameter through it,
    ~0.3 s of start-up that a warm pack (about a second) cannot afford."""
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "app.py").write_text("def main():\n    return 1\n")
    code = ("import atexit, sys\nfrom v4agent.cli.app import main\n"
            f"sys.argv = ['v4agent', 'pack', {str(tmp_path / 'repo')!r}, '-o', {str(tmp_path / 'out.xml')!r}]\n"
            "atexit.register(lambda: print('pydantic' in sys.modules))\nmain()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out.xml").read_text().count("def main") == 1
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_state_dir_is_ignored_by_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    directory = state_dir(tmp_path)
    (directory / "ledger.jsonl").write_text("{}\n")
    status = subprocess.run(["git", "-C", str(tmp_path), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout.strip() == ""


def test_repo_layout_has_no_top_level_engine_or_tools_package() -> None:
    import tomllib

    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = meta["tool"]["setuptools"]["packages"]
    assert "engine" not in packages
    assert "tools" not in packages
    assert {"v4agent.engine", "v4agent.tools", "v4agent.prompts"} <= set(packages)


def test_every_package_directory_is_installed() -> None:
    """A subpackage missing from pyproject's explicit list would import in dev and vanish from the wheel."""
    import tomllib

    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    listed = set(meta["tool"]["setuptools"]["packages"])
    mapped = {"engine": "v4agent.engine", "tools": "v4agent.tools", "prompts": "v4agent.prompts"}
    found = set()
    for init in REPO_ROOT.glob("**/__init__.py"):
        rel = init.parent.relative_to(REPO_ROOT)
        top = rel.parts[0]
        if top in mapped:
            found.add(".".join((mapped[top], *rel.parts[1:])))
        elif top == "v4agent" and not (len(rel.parts) > 1 and rel.parts[1] in mapped):
            found.add(".".join(rel.parts))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
