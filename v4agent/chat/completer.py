"""Tab completion for the chat prompt: slash commands, their fixed arguments, and repository paths."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from v4agent.chat.slash import COMMANDS

_PATH_COMMANDS = {"/add", "/drop"}


class ChatCompleter(Completer):
    """Completes ``/com`` to commands, ``/think h`` to choices, and path words to repository files.

    ``list_paths`` is called lazily and its result cached; the chat passes the packer's file list.
    """

    def __init__(self, list_paths: Callable[[], Sequence[str]],
                 custom: Sequence[tuple[str, str]] = ()) -> None:
        self._list_paths = list_paths
        self._paths: Sequence[str] | None = None
        self._custom = custom  # (``/name``, description) of the custom commands

    def _all_paths(self) -> Sequence[str]:
        if self._paths is None:
            self._paths = sorted(self._list_paths())
        return self._paths

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        """Completions for the text before the cursor: a command name, a fixed argument, or a path."""
        text = document.text_before_cursor
        words = text.split(" ")
        if len(words) == 1 and text.startswith("/"):
            for command in COMMANDS:
                if command.name.startswith(text):
                    yield Completion(command.name, start_position=-len(text), display_meta=command.help)
            builtin = {command.name for command in COMMANDS}
            for name, description in self._custom:
                if name.startswith(text) and name not in builtin:
                    yield Completion(name, start_position=-len(text), display_meta=description)
            return
        word = words[-1]
        head = words[0] if text.startswith("/") else ""
        spec = next((s for s in COMMANDS if s.name == head), None)
        if spec is not None and spec.choices and len(words) == 2:
            for choice in spec.choices:
                if choice.startswith(word):
                    yield Completion(choice, start_position=-len(word))
            return
        if head in _PATH_COMMANDS or ((word.startswith("@") or "/" in word or "." in word) and word):
            prefix = word[1:] if word.startswith("@") else word
            shown = 0
            for path in self._all_paths():
                if path.startswith(prefix):
                    yield Completion(path, start_position=-len(prefix))
                    shown += 1
                    if shown >= 200:
                        return
