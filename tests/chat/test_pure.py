from __future__ import annotations

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from v4agent.chat.completer import ChatCompleter
from v4agent.chat.slash import SlashCommand, SlashError, is_slash, parse_slash
from v4agent.chat.statusline import StatusFigures, format_status


def test_parse_valid_commands() -> None:
    assert parse_slash("/think low") == SlashCommand("/think", ("low",))
    assert parse_slash("/add 'a b.py' c.py") == SlashCommand("/add", ("a b.py", "c.py"))
    assert parse_slash("/quit") == SlashCommand("/exit", ())
    assert parse_slash("/undo turn") == SlashCommand("/undo", ("turn",))


def test_parse_errors_are_one_line_hints() -> None:
    for line, fragment in [
        ("/thnk", "unknown command /thnk"),
        ("/think medium", "takes one of"),
        ("/add", "usage: /add PATH..."),
        ("/resume", "usage: /resume ID"),
        ("/cost now", "usage: /cost"),
        ('/add "unclosed', "could not read"),
    ]:
        result = parse_slash(line)
        assert isinstance(result, SlashError), line
        assert fragment in result.hint
        assert "\n" not in result.hint


def test_is_slash_does_not_swallow_paths() -> None:
    assert is_slash("/help")
    assert is_slash("/nonsense")
    assert not is_slash("/etc/passwd is readable?")
    assert not is_slash("please fix /")


def test_status_line() -> None:
    line = format_status(StatusFigures("deepseek", "deepseek-v4-flash", 250_000, 1_048_576, 0.981, 0.95, 0.01234, 1.0))
    assert "ctx 250K/1.05M (24%)" in line
    assert "cache last 98% · session 95%" in line
    assert "$0.0123" in line
    assert "budget left $0.9877" in line
    assert "cache last –" in format_status(StatusFigures("vllm", "m", 0, 0, None, None, 0.0, None))


def test_completer_commands_choices_and_paths() -> None:
    completer = ChatCompleter(lambda: ["src/app.py", "src/util.py", "README.md"])

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]

    assert complete("/th") == ["/think"]
    assert complete("/think h") == ["high", "hide"]
    assert complete("/add src/") == ["src/app.py", "src/util.py"]
    assert complete("look at @READ") == ["README.md"]


# -- costs, figures, rendering, keys (added by the chat helper) ------------------------------------------------

def test_miss_cost_is_hand_computed_at_peak_and_off_peak() -> None:
    from datetime import UTC, datetime

    from v4agent.accounting import load_price_table
    from v4agent.chat.costs import miss_cost, miss_warning

    table = load_price_table()
    # The 2026-08-16 entry: flash miss $0.44/M, hit $0.014/M at peak (01:00-04:00 UTC), half off-peak.
    peak = miss_cost(table, "deepseek-v4-flash", 1_000_000, datetime(2026, 8, 18, 2, 0, tzinfo=UTC))
    assert (peak.miss_usd, peak.hit_usd) == (0.44, 0.014)
    assert abs(peak.extra_usd - 0.426) < 1e-12
    off = miss_cost(table, "deepseek-v4-flash", 1_000_000, datetime(2026, 8, 18, 12, 0, tzinfo=UTC))
    assert (off.miss_usd, off.hit_usd) == (0.22, 0.007)
    line = miss_warning("switching to deepseek-v4-pro", peak)
    assert "1,000,000 tokens as cache misses, $0.4400 instead of $0.0140 (+$0.4260" in line
    assert "(peak)" in line


def test_session_figures_accumulate_hits_over_calls() -> None:
    from v4agent.chat.statusline import SessionFigures

    figures = SessionFigures("deepseek", "deepseek-v4-flash", 1_048_576, max_cost_usd=0.5)
    assert figures.status().session_hit_ratio is None
    figures.record(1000, 0, 1020, 0.01)
    figures.record(1100, 1000, 1130, 0.02)
    status = figures.status()
    assert status.last_hit_ratio == 1000 / 1100
    assert status.session_hit_ratio == 1000 / 2100
    assert status.context_tokens == 1130
    assert status.cost_usd == 0.02
    assert "budget left $0.4800" in format_status(status)
    figures.record(50, None, 1200, 0.03)  # a server that does not report hits
    assert figures.status().last_hit_ratio is None
    assert figures.status().session_hit_ratio == 1000 / 2100


def test_plain_renderer_streams_text_tools_and_diffs() -> None:
    import io

    from rich.console import Console

    from v4agent.agent.events import Notice, Streamed, ToolDone, ToolStarted
    from v4agent.chat.render import ChatRenderer
    from v4agent.chat.statusline import SessionFigures
    from v4agent.engine.types import Delta
    from v4agent.tools.registry import ToolResult

    out = io.StringIO()
    renderer = ChatRenderer(Console(file=out, no_color=True), SessionFigures("e", "m", 10), plain=True,
                            show_thinking=False, out=out)
    renderer.begin_turn()
    for event in (Streamed(Delta("reasoning", "secret plan")), Streamed(Delta("content", "Hel")),
                  Streamed(Delta("content", "lo.")),
                  ToolStarted(1, "edit_file", '{"path": "a.py"}'),
                  ToolDone(1, "edit_file", '{"path": "a.py"}',
                           ToolResult("edited a.py\nmore", True, ("a.py",), diff="-x\n+y\n")),
                  ToolDone(1, "shell", '{"command": "ls"}', ToolResult("shell: refused: no", False)),
                  Notice("compacting: big")):
        renderer(event)
    renderer.end_turn()
    renderer.answer("summary shown only when nothing streamed")
    text = out.getvalue()
    assert text.startswith("(thought for 11 characters; /think show shows it)\nHello.\n")
    assert '> edit_file path="a.py"\n  ok: edited a.py\n-x\n+y\n' in text
    assert "  failed: shell: refused: no\n" in text
    assert "compacting: big\n" in text
    assert "secret plan" not in text
    assert "summary shown" not in text


def test_enter_sends_and_alt_enter_inserts_a_newline() -> None:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from v4agent.chat.repl import key_bindings

    with create_pipe_input() as pipe:
        session: PromptSession[str] = PromptSession(input=pipe, output=DummyOutput(), multiline=True,
                                                    key_bindings=key_bindings())
        pipe.send_text("first line\x1b\rsecond line\r")
        assert session.prompt() == "first line\nsecond line"
