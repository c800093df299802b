"""Ctrl-C in the middle of edits leaves every file either old or new, never torn."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import make_git_repo

_EDITOR = r"""
import json, sys
from pathlib import Path
from v4agent.tools.registry import ToolContext, run_tool

root = Path(sys.argv[1])
names = sys.argv[2:]
ctx = ToolContext(root, approve="yes")
print("ready", flush=True)
while True:
    for name in names:
        flip = (root / name).read_text().startswith("state = 0")
        a, b = ("state = 0\n", "state = 1\n") if flip else ("state = 1\n", "state = 0\n")
        result = run_tool(ctx, "edit_file", json.dumps({"path": name, "old_text": a, "new_text": b}))
        assert result.ok, result.content
"""

FILLER = "".join(f"value_{i} = {i} * 2  # padding to make writes take a while\n" for i in range(8_000))


def test_sigint_mid_edit_never_tears_a_file(tmp_path: Path) -> None:
    names = [f"f{i}.py" for i in range(4)]
    old = "state = 0\n" + FILLER
    new = "state = 1\n" + FILLER
    root = make_git_repo(tmp_path / "repo", dict.fromkeys(names, old))
    rng = random.Random(1234)
    interrupted = 0
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", _EDITOR, str(root), *names],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        interrupted += "KeyboardInterrupt" in err
        assert "AssertionError" not in err, err
        for name in names:
            text = (root / name).read_text()
            assert text in (old, new), f"{name} is torn ({len(text)} chars)"
    assert interrupted >= 9  # the signal really landed mid-run, not after the editor ended
