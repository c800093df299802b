"""Commands inherit an allow-list of names, never a key or a token, whatever the user lists."""

from __future__ import annotations

from pathlib import Path

from v4agent.sandbox import make_policy
from v4agent.sandbox.environment import sandbox_env

PARENT = {
    "PATH": "/usr/bin", "HOME": "/home/u", "LANG": "C.UTF-8", "LC_ALL": "C", "TERM": "xterm", "USER": "u",
    "STRIPE_KEY": "sk_1", "SENTRY_DSN": "https://x@y/1", "MY_SERVICE_CRED": "c", "CANARY_API_KEY": "k",
    "DEEPSEEK_API_KEY": "sk-d", "GITHUB_TOKEN": "ghp", "VLLM_API_KEY": "v", "PYTHONPATH": "/x", "TMPDIR": "/old",
    "V4AGENT_API_KEY": "sk-v", "AWS_SECRET_ACCESS_KEY": "a", "NPM_CONFIG_REGISTRY": "https://r",
}


def test_only_allowed_names_pass() -> None:
    env = sandbox_env(make_policy(Path("."), environ=PARENT), PARENT, "/tmp")
    for name in ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "USER"):
        assert env[name] == PARENT[name]
    for name in ("STRIPE_KEY", "SENTRY_DSN", "MY_SERVICE_CRED", "CANARY_API_KEY", "DEEPSEEK_API_KEY", "GITHUB_TOKEN",
                 "VLLM_API_KEY", "PYTHONPATH", "V4AGENT_API_KEY", "AWS_SECRET_ACCESS_KEY", "NPM_CONFIG_REGISTRY"):
        assert name not in env
    assert env["TMPDIR"] == "/tmp"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_user_names_pass_but_never_the_engine_key_or_github_token() -> None:
    policy = make_policy(Path("."), environ=PARENT, env=("NPM_CONFIG_REGISTRY", "DEEPSEEK_API_KEY", "GITHUB_TOKEN",
                                                          "VLLM_API_KEY"), never_env=("VLLM_API_KEY",))
    env = sandbox_env(policy, PARENT, "/tmp")
    assert env["NPM_CONFIG_REGISTRY"] == "https://r"
    assert "DEEPSEEK_API_KEY" not in env
    assert "GITHUB_TOKEN" not in env
    assert "VLLM_API_KEY" not in env


def test_a_missing_path_gets_a_plain_default() -> None:
    env = sandbox_env(make_policy(Path("."), environ={}), {}, "/t")
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
