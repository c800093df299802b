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
        assert fragment in result.hint and "\n" not in result.hint


def test_is_slash_does_not_swallow_paths() -> None:
    assert is_slash("/help")
    assert is_slash("/nonsense")
    assert not is_slash("/etc/passwd is readable?")
    assert not is_slash("please fix /")


def test_status_line() -> None:
    line = format_status(StatusFigures("deepseek", "deepseek-v4-flash", 250_000, 1_048_576, 0.981, 0.95, 0.01234, 1.0))
    assert "ctx 250K/1.05M (24%)" in line and "cache last 98% · session 95%" in line
    assert "$0.0123" in line and "budget left $0.9877" in line
    assert "cache last –" in format_status(StatusFigures("vllm", "m", 0, 0, None, None, 0.0, None))


def test_completer_commands_choices_and_paths() -> None:
    completer = ChatCompleter(lambda: ["src/app.py", "src/util.py", "README.md"])

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]

    assert complete("/th") == ["/think"]
    assert complete("/think h") == ["high"]
    assert complete("/add src/") == ["src/app.py", "src/util.py"]
    assert complete("look at @READ") == ["README.md"]
