"""A stream cut after part of the reply: chat says the shown part is superseded, then shows the retried reply."""

from __future__ import annotations

import io

from rich.console import Console

from v4agent.accounting.cost import CallCost
from v4agent.agent.events import Streamed, StreamRestarted
from v4agent.chat.render import ChatRenderer
from v4agent.chat.statusline import SessionFigures
from v4agent.engine.types import Delta
from v4agent.refactor.progress import RefactorProgress

COST = CallCost(0.0, 0.0, 0.0, 0.0012, 0.0, "entry", peak=False)


def test_chat_marks_the_cut_text_superseded_and_shows_the_retry() -> None:
    out = io.StringIO()
    renderer = ChatRenderer(Console(file=out, no_color=True), SessionFigures("e", "m", 10), plain=True,
                            show_thinking=False, out=out)
    renderer.begin_turn()
    for event in (Streamed(Delta("content", "Hel")), StreamRestarted(1, "the stream was cut", 3, COST, 0.0012),
                  Streamed(Delta("content", "Hello.")),):
        renderer(event)
    renderer.end_turn()
    text = out.getvalue()
    assert text == ("Hel\n[the stream was cut; the 3 characters above are superseded: the reply is asked again]\n"
                    "Hello.\n")


def test_refactor_progress_says_the_call_is_asked_again_and_what_the_cut_one_cost() -> None:
    out = io.StringIO()
    progress = RefactorProgress(Console(file=out, width=300, color_system=None))
    progress(StreamRestarted(2, "the stream was cut", 1234, COST, 0.5))
    line = out.getvalue()
    assert "cut after 1,234 characters" in line
    assert "asked again" in line
    assert "~$0.0012" in line
    assert progress.spent == 0.5
