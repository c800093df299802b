"""`engine plan` / `engine serve --dry-run` called with their records, without the command line."""

from __future__ import annotations

import json

import pytest

from v4agent.core.errors import ExitCode, UsageError
from v4agent.engine.local.planner import PlanRequest
from v4agent.serve.planning import LaunchFlags, PlanTarget, ServeOptions, run_plan, run_serve


def test_run_plan_prints_the_plan_and_its_launch_commands(capsys: pytest.CaptureFixture[str]) -> None:
    run_plan(PlanTarget(gpus=8), PlanRequest(context=65_536), LaunchFlags(), compare="", as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert data["fits"]
    assert data["context_tokens"] == 65_536
    assert "comparison" not in data
    assert data["launch"]
    assert "--port 8000" in data["launch"][0]["command"]


@pytest.mark.parametrize(("request_", "launch", "message"), [
    (PlanRequest(kv_dtype="fp4"), LaunchFlags(), "--kv-dtype must be fp8 or bf16"),
    (PlanRequest(max_num_batched_tokens=0), LaunchFlags(), "--max-num-batched-tokens must be positive"),
    (PlanRequest(), LaunchFlags(executor="slurm"), "--executor must be mp or ray"),
])
def test_bad_values_are_usage_errors(request_: PlanRequest, launch: LaunchFlags, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        run_plan(PlanTarget(), request_, launch)
    assert info.value.exit_code == ExitCode.USAGE


def test_serve_dry_run_on_two_nodes_says_how_to_attach(capsys: pytest.CaptureFixture[str]) -> None:
    run_serve(PlanTarget(nodes=2), PlanRequest(), LaunchFlags(master_addr="10.0.0.1", port=9000),
              ServeOptions(dry_run=True))
    out = capsys.readouterr().out
    assert "--port 9000" in out
    assert out.rstrip().endswith("local.attach = http://10.0.0.1:9000")
