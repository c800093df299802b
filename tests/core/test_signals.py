"""core.signals in-process: SIGTERM/SIGHUP become Terminated, repeats are ignored, handlers come back."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from v4agent.core import signals
from v4agent.core.errors import ExitCode, Interrupted
from v4agent.core.signals import Terminated, interrupt_name, interrupt_reason, received, stop_on_signals


def _handlers() -> dict[int, object]:
    return {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_is_handled_like_ctrl_c(sig: signal.Signals) -> None:
    before = _handlers()
    caught: list[BaseException] = []
    with stop_on_signals():
        try:
            os.kill(os.getpid(), sig)
        except KeyboardInterrupt as exc:  # what every Ctrl-C handler catches
            caught.append(exc)
        assert received() == sig.name
    assert [type(exc) for exc in caught] == [Terminated]
    assert interrupt_name(caught[0]) == sig.name
    assert received() is None
    assert _handlers() == before


def test_repeats_during_cleanup_are_ignored_then_the_handlers_come_back() -> None:
    before = _handlers()
    steps: list[str] = []
    with stop_on_signals():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except Terminated:
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # none may cut the cleanup short
                os.kill(os.getpid(), sig)
            steps.append("cleanup finished")
    assert steps == ["cleanup finished"]
    assert _handlers() == before


def test_an_unhandled_signal_leaves_as_interrupted() -> None:
    with pytest.raises(Interrupted, match="stopped by SIGHUP") as raised, stop_on_signals():
        os.kill(os.getpid(), signal.SIGHUP)
    assert raised.value.exit_code == ExitCode.INTERRUPTED


def _report_to_a_closed_terminal(*, signalled: bool) -> None:
    with stop_on_signals():
        try:
            if signalled:
                os.kill(os.getpid(), signal.SIGTERM)
        except Terminated:
            pass
        raise BrokenPipeError(32, "Broken pipe")


def test_an_os_error_after_the_signal_leaves_as_interrupted_but_not_before() -> None:
    with pytest.raises(Interrupted, match="stopped by SIGTERM"):
        _report_to_a_closed_terminal(signalled=True)
    with pytest.raises(BrokenPipeError):
        _report_to_a_closed_terminal(signalled=False)


def test_ctrl_c_is_untouched() -> None:
    with pytest.raises(KeyboardInterrupt) as raised, stop_on_signals():
        os.kill(os.getpid(), signal.SIGINT)
    assert not isinstance(raised.value, Terminated)
    assert interrupt_reason(raised.value) == "interrupted (Ctrl-C); resume with --resume"
    assert interrupt_reason(Terminated("SIGTERM")) == "interrupted (SIGTERM); resume with --resume"


def test_nested_or_off_the_main_thread_it_does_nothing() -> None:
    before = _handlers()
    seen: list[object] = []

    def worker() -> None:
        with stop_on_signals():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before[signal.SIGTERM]]
    with stop_on_signals():
        inner = signal.getsignal(signal.SIGTERM)
        with stop_on_signals():
            assert signal.getsignal(signal.SIGTERM) is inner
        assert signal.getsignal(signal.SIGTERM) is inner


def test_a_closed_stdout_is_pointed_at_devnull(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads stdout any more: a hung-up terminal, a closed pipe
    alive_read, alive_write = os.pipe()
    with os.fdopen(write_end, "w") as closed, os.fdopen(alive_write, "w") as alive:
        monkeypatch.setattr(sys, "stdout", closed)
        monkeypatch.setattr(sys, "stderr", alive)
        signals._silence_closed_stdio()
        assert os.readlink(f"/proc/self/fd/{write_end}") == os.devnull
        assert Path(os.readlink(f"/proc/self/fd/{alive_write}")).name.startswith("pipe:")  # left alone
        closed.write("the report\n")
        closed.flush()  # no BrokenPipeError
    os.close(alive_read)


@stop_on_signals()
def _command(signalled: bool) -> str:
    if signalled:
        os.kill(os.getpid(), signal.SIGTERM)
    return "done"


def test_as_a_decorator_each_call_is_guarded() -> None:
    before = _handlers()
    with pytest.raises(Interrupted, match="stopped by SIGTERM"):
        _command(True)
    assert _command(False) == "done"
    assert _handlers() == before
