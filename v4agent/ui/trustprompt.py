"""The terminal question a front end asks before it applies a repository's untrusted configuration."""

from __future__ import annotations

from rich.prompt import Confirm

from v4agent.core.errors import Interrupted
from v4agent.core.trust import UntrustedProject
from v4agent.ui.console import stderr

__all__ = ["ask_trust_on_terminal"]


def ask_trust_on_terminal(question: UntrustedProject) -> bool:
    """Show what the project file would set and ask y/N; end of input is a no, Ctrl-C stops before the run."""
    stderr.print(question.describe(), markup=False, highlight=False)
    try:
        return Confirm.ask("trust this repository's config?", default=False, console=stderr)
    except EOFError:  # no answer is a no
        return False
    except KeyboardInterrupt:
        raise Interrupted("interrupted before the run started") from None
