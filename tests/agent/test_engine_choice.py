"""Choosing the engine from configuration and overrides: presets, keys, defaults and errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from v4agent.agent.engine_choice import engine_settings, open_remote_engine
from v4agent.core.config import load_config
from v4agent.engine.types import EngineError, EngineUnreachable
from v4agent.testing import ScriptedReply, StandIn


@pytest.fixture
def server() -> Iterator[StandIn]:
    with StandIn(handler=lambda body: ScriptedReply(content="ok, done", reasoning="thinking it over")) as s:
        yield s


def test_open_engine_from_config(server: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EngineUnreachable) as info:
        open_remote_engine(load_config(None))
    assert "DEEPSEEK_API_KEY" in info.value.hint
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
    engine = open_remote_engine(load_config(None), overrides={"base_url": server.base_url, "think": "off",
                                                              "model": "deepseek-v4-pro", "max_tokens": 10**9})
    assert engine.settings.model == "deepseek-v4-pro"
    assert engine.settings.think == "off"
    assert engine.settings.max_tokens == 393_216  # clipped to the model's output limit (data)
    assert engine.complete([{"role": "user", "content": "hi"}]).content == "ok, done"
    # the DeepSeek key is never handed to another engine's server
    local = open_remote_engine(load_config(None), overrides={"engine": "vllm", "base_url": server.base_url})
    assert "sk-test" not in local._connection().headers.get("Authorization", "")  # the header every call sends
    with pytest.raises(EngineError, match="unknown engine 'nope'"):
        open_remote_engine(load_config(None), overrides={"engine": "nope"})


def test_settings_take_overrides_then_config_then_the_preset() -> None:
    config = load_config(None, flags={"model": "deepseek-v4-pro", "think": "low"})
    settings = engine_settings(config, overrides={"think": "off", "model": ""}, environ={"DEEPSEEK_API_KEY": "k"})
    assert (settings.engine, settings.model, settings.think, settings.api_key) == ("deepseek", "deepseek-v4-pro",
                                                                                     "off", "k")
    assert settings.base_url == ""
    assert settings.stream
    assert settings.temperature is None
    bare = engine_settings(None, overrides={"engine": "vllm", "stream": False, "temperature": 0.5}, environ={})
    assert (bare.engine, bare.model, bare.api_key, bare.stream, bare.temperature) == ("vllm", "", "", False, 0.5)


def test_an_explicit_key_wins_and_the_deepseek_key_stays_with_deepseek() -> None:
    env = {"DEEPSEEK_API_KEY": "sk-deepseek", "VLLM_API_KEY": "sk-vllm"}
    assert engine_settings(None, overrides={"api_key": "sk-given"}, environ=env).api_key == "sk-given"
    assert engine_settings(None, overrides={"engine": "vllm"}, environ=env).api_key == "sk-vllm"
    assert engine_settings(None, overrides={"engine": "sglang"}, environ=env).api_key != "sk-deepseek"


def test_an_unknown_engine_fails_before_any_key_lookup() -> None:
    with pytest.raises(EngineError, match="unknown engine 'nope'") as info:
        engine_settings(None, overrides={"engine": "nope"}, environ={})
    assert info.value.hint == "pick one with --engine"
