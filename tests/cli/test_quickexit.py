"""The quick exit: same status and output as a normal exit, atexit handlers run, no heap teardown."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("exit_arg", "status", "stderr"), [("0", 0, ""), ("None", 0, ""), ("6", 6, ""),
                                                            ("'boom'", 1, "boom")])
def test_leave_keeps_the_status_runs_atexit_and_skips_the_teardown(exit_arg: str, status: int, stderr: str) -> None:
    code = f"""
import atexit, sys
from v4agent.cli import quickexit

class Held:
    def __del__(self):
        print("freed")

held = Held()
atexit.register(lambda: print("atexit ran"))
sys.stdout.write("unflushed output")  # still in the buffer: leave flushes it
quickexit.leave({exit_arg})
"""
    out = _run(code)
    assert out.returncode == status
    assert out.stdout == "unflushed outputatexit ran\n"  # no "freed": the heap was not torn down
    assert out.stderr.strip() == stderr


def test_main_leaves_quickly_only_when_the_command_asked() -> None:
    code = """
import sys
import typer
from v4agent.cli import app as cli
from v4agent.cli import quickexit

class Held:
    def __del__(self):
        print("freed")

held = Held()
probe = typer.Typer()

@probe.command()
def run(ask: bool = False) -> None:
    if ask:
        quickexit.request()
    print("ran")
    raise typer.Exit(3)

cli.app = probe
sys.argv = ["v4agent"] + sys.argv[1:]
cli.main()
"""
    asked = subprocess.run([sys.executable, "-c", code, "--ask"], capture_output=True, text=True, timeout=60)
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (asked.returncode, asked.stdout) == (3, "ran\n")
    assert (plain.returncode, plain.stdout) == (3, "ran\nfreed\n")
