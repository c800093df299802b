"""`v4agent sandbox check`: the mechanism, the probes' verdicts, and the exit status (0, or 9 when not enforced)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli
from tests.sandbox.helpers import needs_bwrap
from v4agent.sandbox import make_policy
from v4agent.sandbox.probes import run_probes


@needs_bwrap
def test_check_passes_where_bubblewrap_works(tmp_path: Path) -> None:
    done = run_cli("sandbox", "check", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("mechanism: bubblewrap")
    for name in ("writes outside the repository", "credential stores are hidden", "network is off",
                 "no secrets in the environment", "own PID namespace"):
        assert f"ok   {name}" in done.stdout
    assert "FAIL" not in done.stdout
    assert done.stdout.rstrip().endswith("sandbox enforced")
    assert not list(Path(tmp_path).iterdir())  # nothing left behind where it ran


@needs_bwrap
def test_check_reports_network_on_as_configured(tmp_path: Path) -> None:
    done = run_cli("sandbox", "check", cwd=tmp_path, env={"V4AGENT_SANDBOX_NETWORK": "true"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "network is off: on, as configured" in done.stdout


def test_check_without_a_mechanism_exits_8(tmp_path: Path) -> None:
    done = run_cli("sandbox", "check", cwd=tmp_path, env={"V4AGENT_SANDBOX_BWRAP": str(tmp_path / "nope")})
    assert done.returncode == 9
    assert "mechanism: none" in done.stdout
    assert "bubblewrap is not installed" in done.stdout
    off = run_cli("sandbox", "check", cwd=tmp_path, env={"V4AGENT_SANDBOX_MODE": "off"})
    assert off.returncode == 9
    assert "sandbox.mode = off" in off.stdout


def test_the_probes_see_an_unconfined_command(tmp_path: Path) -> None:
    """Run without a sandbox, the probes report each escape; the environment's allow-list holds even then."""
    probes = {p.name.split(":")[0]: p for p in run_probes(make_policy(tmp_path, mode="off"))}
    assert not probes["writes outside the repository do not land"].enforced
    assert not probes["network is off"].enforced
    assert probes["no secrets in the environment"].enforced
    assert not probes["credential stores are hidden"].enforced
    assert not probes["own PID namespace"].enforced
