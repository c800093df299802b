from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from v4agent.core.config import ConfigError, load_config


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_layers_override_in_order(tmp_path: Path) -> None:
    user = _write(tmp_path / "xdg" / "v4agent" / "config.toml", 'model = "from-user"\nthink = "low"\nmax_turns = 5\n')
    project = tmp_path / "proj"
    _write(project / ".v4agent.toml", 'model = "from-project"\n[pack]\nbudget = 1000\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "V4AGENT_MAX_TURNS": "7", "DEEPSEEK_API_KEY": "sk-abcdef123456789"}
    config = load_config(project, flags={"think": "max", "model": None}, environ=env)
    assert config["model"] == "from-project"
    assert config.source("model") == str(project / ".v4agent.toml")
    assert config["think"] == "max"
    assert config.source("think") == "flag --think"
    assert config["max_turns"] == 7
    assert config.source("max_turns") == "env V4AGENT_MAX_TURNS"
    assert config["pack.budget"] == 1000
    assert config["engine"] == "deepseek"
    assert config.source("engine") == "default"
    assert config["api_key"] == "sk-abcdef123456789"
    assert config.source("api_key") == "env DEEPSEEK_API_KEY"
    assert str(user) not in {config.source("model")}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('think = "medium"\n', "key 'think': must be one of"),
        ("max_turns = 'many'\n", "key 'max_turns': expected an integer"),
        ("nonsense = 1\n", "unknown key 'nonsense'"),
        ("model = \n", "invalid TOML"),
        ("[pack]\ninclude = 3\n", "key 'pack.include': expected a list of strings"),
    ],
)
def test_bad_file_names_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = _write(tmp_path / ".v4agent.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={"XDG_CONFIG_HOME": str(tmp_path / "none")})
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


def test_budget_none_and_env_parsing(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "V4AGENT_PACK_BUDGET": "none", "V4AGENT_PACK_EXCLUDE": "a/*, b/*"}
    config = load_config(tmp_path, environ=env)
    assert config["pack.budget"] is None
    assert config["pack.exclude"] == ["a/*", "b/*"]
    with pytest.raises(ConfigError, match="environment V4AGENT_MAX_COST: key 'max_cost'"):
        load_config(tmp_path, environ={"XDG_CONFIG_HOME": str(tmp_path), "V4AGENT_MAX_COST": "lots"})


def test_config_show_masks_secrets_and_names_sources(tmp_path: Path) -> None:
    _write(tmp_path / ".v4agent.toml", 'think = "low"\n')
    secret = "sk-live-0123456789abcdef"
    result = run_cli("config", "show", str(tmp_path), "--json", env={"DEEPSEEK_API_KEY": secret})
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["api_key"]["source"] == "env DEEPSEEK_API_KEY"
    assert rows["api_key"]["value"].endswith("(masked)")
    assert rows["think"] == {"key": "think", "value": "low", "source": str(tmp_path / ".v4agent.toml")}


def test_config_show_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    _write(tmp_path / ".v4agent.toml", 'approve = "always"\n')
    result = run_cli("config", "show", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert ".v4agent.toml" in result.stderr
    assert "approve" in result.stderr
