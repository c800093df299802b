"""A new chat's first session, made while the person types its first message.

Packing a large repository takes seconds, and nothing of it is needed to show the prompt: so the pack, the
session's start state (git), its MCP servers and its session file are made on one thread after the banner, and
the first message (or slash command) waits for them, saying so. The request it sends is the same bytes as if
the chat had waited before the prompt. Leaving before it is done (Ctrl-D, end of input) lets the pack finish
(its caches stay consistent) but makes no session; Ctrl-C while waiting cancels only the wait. A failure (the
packer refusing the repository) is raised where the session is first needed, or when the chat ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from v4agent.chat.core import ChatSession

__all__ = ["PendingStart"]

# Makes the session; ``cancelled()`` says the person has left (then it returns None instead of making one).
Maker = Callable[[Callable[[], bool]], "ChatSession | None"]


class PendingStart:
    """The first session, being made on a thread."""

    def __init__(self, session_id: str, make: Maker) -> None:
        self.session_id = session_id  # the id the session will have (the banner shows it at once)
        self._make = make
        self._left = threading.Event()
        self._done = threading.Event()
        self._session: ChatSession | None = None
        self._error: BaseException | None = None
        # A daemon: a second Ctrl-C while leaving must end the process even with the pack half built.
        self._thread = threading.Thread(target=self._run, name="chat-start", daemon=True)

    def start(self) -> PendingStart:
        """Begin making the session (returns self)."""
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._session = self._make(self._left.is_set)
        except BaseException as exc:
            self._error = exc
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        """Whether the session is made (or its making failed)."""
        return self._done.is_set()

    def _result(self) -> ChatSession | None:
        while not self._done.wait(0.1):  # in short waits: Ctrl-C reaches the main thread meanwhile
            pass
        if self._error is not None:
            raise self._error
        return self._session

    def wait(self, note: Callable[[str], None]) -> ChatSession:
        """The session, once made (``note`` says once that the message waits for the pack)."""
        if not self.done:
            note("waiting for the repository's pack (started with the chat)…")
        session = self._result()
        if session is None:  # only after leave(): the caller no longer asks
            raise RuntimeError("the chat's start was cancelled")
        return session

    def leave(self) -> ChatSession | None:
        """The person leaves: no session is made if it was not yet; the one made already, if any."""
        self._left.set()
        return self._result()
