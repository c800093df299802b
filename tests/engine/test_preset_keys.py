"""Which environment variable each preset reads its key from: never a credential meant for something else."""

from __future__ import annotations

from pathlib import Path

from v4agent.core.config import load_config
from v4agent.engine.presets import all_presets, api_key_for


def _preset(name: str):  # type: ignore[no-untyped-def]
    return next(p for p in all_presets() if p.name == name)


def test_nim_never_sends_the_ngc_registry_key_as_a_bearer_token(tmp_path: Path) -> None:
    # NGC_API_KEY is what the NIM container downloads the model with; the local endpoint takes no key.
    config = load_config(tmp_path)
    assert api_key_for(_preset("nim"), config, {"NGC_API_KEY": "nvapi-secret"}) == ""


def test_sglang_reads_no_environment_variable_of_its_own(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert api_key_for(_preset("sglang"), config, {"SGLANG_API_KEY": "k"}) == ""


def test_a_key_variable_named_in_the_config_is_used(tmp_path: Path) -> None:
    config = load_config(tmp_path, flags={"api_key_env": "MY_SGLANG_KEY"})
    assert api_key_for(_preset("sglang"), config, {"MY_SGLANG_KEY": "k"}) == "k"
